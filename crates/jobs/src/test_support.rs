//! Helpers shared by the plugins' tests.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use flowctl_engine::job::{JobContext, LogLine, LogSink, TargetInfo};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// An attempt context (fixed dates, `ci` target) whose log lines arrive on the receiver.
pub(crate) fn context(project_dir: PathBuf) -> (JobContext, UnboundedReceiver<LogLine>) {
    let (log, rx) = LogSink::channel();
    let ctx = JobContext {
        dag_id: "orders".into(),
        run_id: "manual__2026-03-04T05:06:07Z".into(),
        task_id: "extract".into(),
        try_number: 2,
        logical_date: Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).single().unwrap(),
        timezone: chrono_tz::Tz::UTC,
        data_interval_start: Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).single().unwrap(),
        data_interval_end: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).single().unwrap(),
        target: TargetInfo {
            name: "ci".into(),
            kind: "local".into(),
            settings: Default::default(),
        },
        project_dir,
        log,
        cancel: CancellationToken::new(),
        template_context: serde_json::Value::Null,
        handles: flowctl_engine::TaskHandles::in_memory(),
    };
    (ctx, rx)
}
