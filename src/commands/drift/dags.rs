//! Drift between the DAG files and the DAG versions applied to the state store.

use std::collections::BTreeSet;

use flowctl_engine::job::JobRegistry;
use flowctl_model::dag::Dag;
use flowctl_state::Store;

use super::Difference;
use crate::commands::apply::{Planned, plan_one};
use crate::commands::store_error;
use crate::error::CliResult;

/// One difference per DAG that is not applied, applied in another version, or applied but
/// gone from the files.
pub async fn dag_drift(
    store: &Store,
    registry: &JobRegistry,
    dags: &[Dag],
) -> CliResult<Vec<Difference>> {
    let stored = store.list_dags().await.map_err(store_error)?;
    let mut found = Vec::new();
    let mut sorted: Vec<&Dag> = dags.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for dag in sorted {
        let stored_hash = stored
            .iter()
            .find(|s| s.dag_id == dag.id)
            .map(|s| s.version_hash.as_str());
        match plan_one(store, registry, dag, stored_hash).await? {
            Planned::Same => {}
            Planned::Create => found.push(Difference::new(
                "dag",
                &dag.id,
                format!("not applied: {} is not in the state store", dag.source.path),
            )),
            Planned::Change(changes) => found.push(Difference::new(
                "dag",
                &dag.id,
                format!("changed since it was applied: {}", changes.join("; ")),
            )),
        }
    }
    let in_files: BTreeSet<&str> = dags.iter().map(|d| d.id.as_str()).collect();
    for record in stored
        .iter()
        .filter(|d| !in_files.contains(d.dag_id.as_str()))
    {
        found.push(Difference::new(
            "dag",
            &record.dag_id,
            "removed: applied, but no longer in the DAG files".to_string(),
        ));
    }
    Ok(found)
}
