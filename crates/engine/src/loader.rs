//! Loading applied DAG versions from the store and parsing them for a target.

use flowctl_model::dag::TargetKind;
use std::sync::Arc;

use flowctl_model::dag::Dag;
use flowctl_model::load::{LoadOptions, parse_dag};
use flowctl_state::DagRecord;

use crate::job::TargetInfo;
use crate::{Engine, EngineError, Result};

impl Engine {
    /// The target named `name` (or the default target), or an error listing the known ones.
    pub fn target(&self, name: Option<&str>) -> Result<&TargetInfo> {
        let settings = &self.inner.settings;
        let name = name.unwrap_or(&settings.default_target);
        settings.targets.get(name).ok_or_else(|| {
            let known: Vec<&str> = settings.targets.keys().map(String::as_str).collect();
            EngineError::Invalid(format!(
                "unknown target `{name}` (known targets: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    /// The applied DAG `dag_id` and its current version parsed for a target of `target_kind`.
    pub(crate) async fn load_current(
        &self,
        dag_id: &str,
        target_kind: TargetKind,
    ) -> Result<(DagRecord, Arc<Dag>)> {
        let record = self
            .store()
            .get_dag(dag_id)
            .await?
            .ok_or_else(|| EngineError::UnknownDag(dag_id.to_string()))?;
        let dag = self
            .load_version(dag_id, &record.version_hash, Some(target_kind))
            .await?;
        Ok((record, dag))
    }

    /// A stored version of a DAG, parsed and validated for execution on a target of
    /// `target_kind` (every step needs a variant for it; pools must exist in the settings),
    /// or, with `None`, only for its structure (every variant checked, pools not).
    pub(crate) async fn load_version(
        &self,
        dag_id: &str,
        hash: &str,
        target_kind: Option<TargetKind>,
    ) -> Result<Arc<Dag>> {
        let key = (
            dag_id.to_string(),
            hash.to_string(),
            target_kind
                .map(TargetKind::as_str)
                .unwrap_or_default()
                .to_string(),
        );
        if let Some(dag) = self.cached(&key) {
            return Ok(dag);
        }
        let version = self
            .store()
            .get_dag_version(dag_id, hash)
            .await?
            .ok_or_else(|| EngineError::UnknownDag(dag_id.to_string()))?;
        let options = LoadOptions {
            catalog: &self.inner.catalog,
            target_kind,
            pools: target_kind.map(|_| &self.inner.settings.pools),
            project_dir: None,
        };
        let dag = parse_dag(&version.source_path, &version.source, &options).map_err(|diags| {
            EngineError::InvalidDag {
                dag_id: dag_id.to_string(),
                details: diags
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            }
        })?;
        let dag = Arc::new(dag);
        if let Ok(mut cache) = self.inner.dags.lock() {
            cache.insert(key, dag.clone());
        }
        Ok(dag)
    }

    fn cached(&self, key: &(String, String, String)) -> Option<Arc<Dag>> {
        self.inner.dags.lock().ok()?.get(key).cloned()
    }
}
