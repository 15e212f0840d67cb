//! Helpers shared by the moto-backed tests.

use std::path::PathBuf;
use std::sync::Once;

use flowctl_engine::job::{Job, JobContext, JobError, JobOutput, JobRegistry, LogLine, TargetKind};
use flowctl_jobs_aws::{AwsClients, AwsSettings};
use flowctl_model::target::read_section;
use flowctl_testkit::moto::{MotoServer, TEST_ENV};
use serde_json::{Map, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// Starts moto (or skips, see `MotoServer::start`) after giving this process the fake
/// credentials the SDK needs to sign requests to it.
pub fn moto() -> Option<MotoServer> {
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        for (key, value) in TEST_ENV {
            // SAFETY: the first thing every moto test does, under a `Once` (the other test
            // threads wait here before any of them reads the environment through the SDK).
            unsafe { std::env::set_var(key, value) };
        }
    });
    MotoServer::start()
}

/// An attempt context on an `aws` target with `settings`; log lines arrive on the receiver.
pub fn context(
    settings: Map<String, Value>,
    project_dir: PathBuf,
) -> (JobContext, UnboundedReceiver<LogLine>) {
    let (ctx, rx) = JobContext::for_test(project_dir);
    let mut ctx = ctx.on_target(TargetKind::Aws, Value::Object(settings));
    ctx.dag_id = "cdc_orders".into();
    ctx.run_id = "scheduled__2026-03-04T05:00:00Z".into();
    ctx.task_id = "bronze".into();
    ctx.template_context = serde_json::json!({
        "ds": "2026-03-04", "params": { "topic": "cdc.public.orders" }
    });
    (ctx, rx)
}

/// One attempt of a `J` step with `config` (rendered fields), as the engine makes it: through
/// the registry, so the fields are parsed and checked first.
pub async fn run<J: Job>(config: Value, ctx: JobContext) -> Result<JobOutput, JobError> {
    let mut registry = JobRegistry::new();
    flowctl_jobs_aws::register(&mut registry);
    let plugin = registry.get(J::TYPE).expect("registered").clone();
    plugin.run(config, ctx).await
}

/// The same attempt as `ctx`, as try `try_number` would see it (same handles, fresh cancel).
pub fn retry(ctx: &JobContext, try_number: u32) -> JobContext {
    let mut next = ctx.clone();
    next.try_number = try_number;
    next.handles = ctx.handles.for_try(try_number);
    next.cancel = CancellationToken::new();
    next
}

/// SDK clients on the same moto server, to arrange and inspect what the jobs did.
pub async fn clients(moto: &MotoServer) -> AwsClients {
    read_section::<AwsSettings>(&moto.target_settings())
        .unwrap()
        .clients()
        .await
        .unwrap()
}

/// Every line logged so far.
pub fn drain(rx: &mut UnboundedReceiver<LogLine>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = rx.try_recv() {
        lines.push(line.text);
    }
    lines
}

/// The handle `name` once an attempt running elsewhere has stored it.
pub async fn wait_for_handle(ctx: &JobContext, name: &str) -> String {
    for _ in 0..600 {
        if let Some(value) = ctx.handles.load(name).await.unwrap() {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the attempt never stored its `{name}` handle");
}

/// Collects log lines until one contains `needle` (30 s at most); returns them all.
pub async fn wait_for_line(rx: &mut UnboundedReceiver<LogLine>, needle: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = std::time::Duration::from_secs(30);
    let found = tokio::time::timeout(deadline, async {
        while let Some(line) = rx.recv().await {
            let hit = line.text.contains(needle);
            lines.push(line.text);
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no log line with `{needle}`: {lines:?}");
    lines
}
