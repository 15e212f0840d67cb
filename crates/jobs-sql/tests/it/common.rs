//! Shared fixtures: a temp project with an embedded lakehouse, attempt contexts, small tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flowctl_engine::job::{JobContext, JobError, JobOutput, JobPlugin, JobRegistry, LogLine};
use flowctl_jobs_sql::arrow::array::{ArrayRef, RecordBatch};
use flowctl_lakehouse::{Column, IcebergSettings, Lakehouse, TableName, TableSchema};
use tokio::sync::mpsc::UnboundedReceiver;

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

    /// An attempt context in this project (DAG `demo_cdc`, task `gold`, the `local` target
    /// with the embedded lakehouse); its log lines arrive on the receiver.
    pub fn context(&self) -> (JobContext, UnboundedReceiver<LogLine>) {
        let (mut ctx, rx) = JobContext::for_test(self.path());
        ctx.dag_id = "demo_cdc".into();
        ctx.task_id = "gold".into();
        ctx.template_context = serde_json::json!({
            "ds": "2026-03-04",
            "dag_id": "demo_cdc",
            "params": {"min_total": 10},
        });
        (ctx, rx)
    }

    /// Runs `plugin` with `config` and returns its result and every log line it wrote.
    pub async fn run(
        &self,
        plugin: Arc<dyn JobPlugin>,
        config: serde_json::Value,
    ) -> (Result<JobOutput, JobError>, Vec<String>) {
        self.run_on(plugin, config, serde_json::json!({})).await
    }

    /// [`Project::run`] on a `local` target with `settings` (its keys in `flowctl.yaml`).
    pub async fn run_on(
        &self,
        plugin: Arc<dyn JobPlugin>,
        config: serde_json::Value,
        settings: serde_json::Value,
    ) -> (Result<JobOutput, JobError>, Vec<String>) {
        let (ctx, mut rx) = self.context();
        let ctx = ctx.on_target(flowctl_engine::job::TargetKind::Local, settings);
        let result = plugin.run(config, ctx).await;
        let mut lines = Vec::new();
        while let Ok(line) = rx.try_recv() {
            lines.push(line.text);
        }
        (result, lines)
    }
}

/// The registered job type `name`, as the engine runs it: fields parsed and checked before
/// every attempt.
fn registered(name: &str) -> Arc<dyn JobPlugin> {
    let mut registry = JobRegistry::new();
    flowctl_jobs_sql::register(&mut registry);
    Arc::clone(registry.get(name).expect("registered"))
}

pub fn sql_job() -> Arc<dyn JobPlugin> {
    registered("sql")
}

pub fn quality_job() -> Arc<dyn JobPlugin> {
    registered("quality")
}

/// Whether external services must be present (CI) or tests needing them may skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}
