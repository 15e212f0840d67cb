//! Shared fixtures: a temp project with an embedded lakehouse, attempt contexts, small tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use flowctl_engine::job::{
    JobContext, JobError, JobOutput, JobPlugin, LogLine, LogSink, TargetInfo,
};
use flowctl_jobs_sql::arrow::array::{ArrayRef, RecordBatch};
use flowctl_lakehouse::{Column, IcebergSettings, Lakehouse, TableName, TableSchema};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// A temp project directory whose `local` target uses the embedded lakehouse defaults.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub lake: Lakehouse,
}

impl Project {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lake = Self::settings_for(dir.path()).open().await.unwrap();
        Self { dir, lake }
    }

    fn settings_for(path: &Path) -> IcebergSettings {
        IcebergSettings::from_target(&serde_json::Map::new(), path).unwrap()
    }

    pub fn settings(&self) -> IcebergSettings {
        Self::settings_for(self.dir.path())
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Creates `name` with `columns` and appends `columns`' data in one batch.
    pub async fn table(&self, name: &str, schema: Vec<Column>, data: Vec<(&str, ArrayRef)>) {
        let name = TableName::parse(name).unwrap();
        let table = self
            .lake
            .create_table_if_missing(&name, &TableSchema::Columns(schema))
            .await
            .unwrap();
        let batch = RecordBatch::try_from_iter(data).unwrap();
        self.lake
            .append(&table, vec![batch], BTreeMap::new())
            .await
            .unwrap();
    }

    /// Every row of `name`, via the query API, as JSON objects (sorted by the given SQL).
    pub async fn rows(&self, sql: &str) -> Vec<serde_json::Value> {
        let batches = flowctl_jobs_sql::query(&self.settings(), sql)
            .await
            .unwrap();
        let text =
            flowctl_jobs_sql::format_batches(&batches, flowctl_jobs_sql::Format::Json).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// An attempt context in this project; its log lines arrive on the receiver.
    pub fn context(&self) -> (JobContext, UnboundedReceiver<LogLine>) {
        let (log, rx) = LogSink::channel();
        let ctx = JobContext {
            dag_id: "demo_cdc".into(),
            run_id: "manual__2026-03-04T05:06:07Z".into(),
            task_id: "gold".into(),
            try_number: 1,
            logical_date: Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).single().unwrap(),
            timezone: chrono_tz::Tz::UTC,
            data_interval_start: Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).single().unwrap(),
            data_interval_end: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).single().unwrap(),
            target: TargetInfo {
                name: "local".into(),
                kind: "local".into(),
                settings: Default::default(),
            },
            project_dir: self.path(),
            log,
            cancel: CancellationToken::new(),
            template_context: serde_json::json!({
                "ds": "2026-03-04",
                "dag_id": "demo_cdc",
                "params": {"min_total": 10},
            }),
            handles: flowctl_engine::TaskHandles::in_memory(),
        };
        (ctx, rx)
    }

    /// Runs `plugin` with `config` and returns its result and every log line it wrote.
    pub async fn run(
        &self,
        plugin: Arc<dyn JobPlugin>,
        config: serde_json::Value,
    ) -> (Result<JobOutput, JobError>, Vec<String>) {
        let (ctx, mut rx) = self.context();
        let result = plugin.run(config, ctx).await;
        let mut lines = Vec::new();
        while let Ok(line) = rx.try_recv() {
            lines.push(line.text);
        }
        (result, lines)
    }
}

pub fn sql_job() -> Arc<dyn JobPlugin> {
    Arc::new(flowctl_jobs_sql::sql_job::SqlJob::new())
}

pub fn quality_job() -> Arc<dyn JobPlugin> {
    Arc::new(flowctl_jobs_sql::quality::QualityJob::new())
}

/// Whether external services must be present (CI) or tests needing them may skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}
