//! Applied DAGs and their versions.

use chrono::Utc;
use sqlx::Row;

use crate::rows::{self, DAG_COLUMNS};
use crate::time::{format_ts, parse_ts};
use crate::types::{ApplyReport, DagChange, DagRecord, DagUpsert, DagVersion};
use crate::{Result, Store};

impl Store {
    /// Stores `upserts` (new DAGs, new versions of existing ones) and deletes the DAGs named in
    /// `prune` (with their runs), all in ONE transaction.
    ///
    /// Concurrent applies are safe: rows are written with `INSERT .. ON CONFLICT` in DAG-id
    /// order (so two transactions lock rows in the same order and cannot deadlock), and each
    /// DAG ends at the version of whichever apply committed last.
    pub async fn apply_dags(&self, upserts: &[DagUpsert], prune: &[String]) -> Result<ApplyReport> {
        let mut sorted: Vec<&DagUpsert> = upserts.iter().collect();
        sorted.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
        let mut pruned: Vec<&String> = prune.iter().collect();
        pruned.sort();
        let now = format_ts(Utc::now());

        let mut tx = self.begin_write().await?;
        let mut report = ApplyReport::default();
        for dag in sorted {
            let previous: Option<String> =
                sqlx::query_scalar("SELECT version_hash FROM dags WHERE dag_id = $1")
                    .bind(&dag.dag_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            sqlx::query(
                "INSERT INTO dags (dag_id, paused, version_hash, source_path, created_at, updated_at) \
                 VALUES ($1, 0, $2, $3, $4, $4) \
                 ON CONFLICT (dag_id) DO UPDATE SET \
                   updated_at = CASE WHEN dags.version_hash = excluded.version_hash \
                                     THEN dags.updated_at ELSE excluded.updated_at END, \
                   version_hash = excluded.version_hash, \
                   source_path = excluded.source_path",
            )
            .bind(&dag.dag_id)
            .bind(&dag.hash)
            .bind(&dag.source_path)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO dag_versions (dag_id, hash, source_path, source, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dag_id, hash) DO NOTHING",
            )
            .bind(&dag.dag_id)
            .bind(&dag.hash)
            .bind(&dag.source_path)
            .bind(&dag.source)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            let change = match previous {
                None => DagChange::Created,
                Some(hash) if hash == dag.hash => DagChange::Unchanged,
                Some(previous_hash) => DagChange::Updated { previous_hash },
            };
            report.applied.push((dag.dag_id.clone(), change));
        }
        for dag_id in pruned {
            let deleted = sqlx::query("DELETE FROM dags WHERE dag_id = $1")
                .bind(dag_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted > 0 {
                report.removed.push(dag_id.clone());
            }
        }
        tx.commit().await?;
        Ok(report)
    }

    /// Every applied DAG, by id.
    pub async fn list_dags(&self) -> Result<Vec<DagRecord>> {
        let sql = format!("SELECT {DAG_COLUMNS} FROM dags ORDER BY dag_id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(rows::dag).collect()
    }

    /// One applied DAG.
    pub async fn get_dag(&self, dag_id: &str) -> Result<Option<DagRecord>> {
        let sql = format!("SELECT {DAG_COLUMNS} FROM dags WHERE dag_id = $1");
        let row = sqlx::query(&sql)
            .bind(dag_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::dag).transpose()
    }

    /// One stored version of a DAG (the current one is [`DagRecord::version_hash`]).
    pub async fn get_dag_version(&self, dag_id: &str, hash: &str) -> Result<Option<DagVersion>> {
        let row = sqlx::query(
            "SELECT dag_id, hash, source_path, source, created_at FROM dag_versions \
             WHERE dag_id = $1 AND hash = $2",
        )
        .bind(dag_id)
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(DagVersion {
                dag_id: row.try_get("dag_id")?,
                hash: row.try_get("hash")?,
                source_path: row.try_get("source_path")?,
                source: row.try_get("source")?,
                created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
            })
        })
        .transpose()
    }

    /// Pauses or unpauses a DAG. Returns `false` when no such DAG is applied.
    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<bool> {
        let updated = sqlx::query("UPDATE dags SET paused = $1 WHERE dag_id = $2")
            .bind(i64::from(paused))
            .bind(dag_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated > 0)
    }
}
