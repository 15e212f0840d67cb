//! Unit-test support: SDK clients whose operations answer from `aws-smithy-mocks` rules, for
//! the paths moto cannot reach (a Glue run that FAILS or is STOPPED, UpdateJob,
//! BatchStopJobRun, an Athena query that FAILS). The real SDK clients serialize each request
//! and the plugins read the modeled answers, so only the service side is replaced.

use std::path::PathBuf;

use aws_config::{BehaviorVersion, Region};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client};
use flowctl_engine::job::{JobContext, LogLine, TargetKind};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::settings::AwsClients;

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

macro_rules! mocked {
    ($sdk:ident, $rules:expr) => {
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider($sdk::config::Credentials::new(
                    "test", "test", None, None, "test",
                ))
                .http_client(create_mock_http_client())
                // The plugins' own retries are under test: no hidden SDK retries.
                .retry_config($sdk::config::retry::RetryConfig::disabled())
                .interceptor(interceptor($rules))
                .build(),
        )
    };
}

/// Clients answering from `glue`, `athena` and `s3` rules.
pub(crate) fn clients(glue: &[&Rule], athena: &[&Rule], s3: &[&Rule]) -> AwsClients {
    AwsClients {
        glue: mocked!(aws_sdk_glue, glue),
        athena: mocked!(aws_sdk_athena, athena),
        s3: mocked!(aws_sdk_s3, s3),
    }
}

/// An attempt context on an `aws` target without settings; log lines arrive on the receiver.
pub(crate) fn context(project_dir: PathBuf) -> (JobContext, UnboundedReceiver<LogLine>) {
    let (mut ctx, rx) = JobContext::for_test(project_dir);
    ctx = ctx.on_target(TargetKind::Aws, serde_json::json!({}));
    ctx.dag_id = "cdc_orders".into();
    ctx.run_id = "scheduled__2026-03-04T05:00:00Z".into();
    ctx.task_id = "silver".into();
    ctx.template_context = serde_json::json!({ "ds": "2026-03-04" });
    (ctx, rx)
}

/// Every line logged so far.
pub(crate) fn drain(rx: &mut UnboundedReceiver<LogLine>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = rx.try_recv() {
        lines.push(line.text);
    }
    lines
}
