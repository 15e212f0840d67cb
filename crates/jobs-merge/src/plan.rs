//! The merge's plan: the validated step configuration, what a merge attempt reads from bronze
//! (the snapshots after the one silver last recorded) and which of the changes read win (every
//! change grouped by key, or only each key's latest).
//!
//! Everything here only reads: a configuration that cannot work is refused by [`Plan::new`]
//! before any table is loaded, let alone changed.

use std::collections::HashMap;

use flowctl_cdc as cdc;
use flowctl_lakehouse::bronze::SILVER_SOURCE_SNAPSHOT_KEY;
use flowctl_lakehouse::{LakeTable, Lakehouse, TableName};

use crate::changes::{Change, Extracted};
use crate::commit::{LIVE_ROWS_SUMMARY_KEY, SOURCE_UUID_SUMMARY_KEY};
use crate::config::{MergeConfig, MergeMode};
use crate::error::MergeError;
use crate::group::Groups;
use crate::schema::{EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, ORDER_COLUMNS};
use crate::source::{Keep, Kept};

/// The validated configuration.
pub(crate) struct Plan<'a> {
    /// The step's configuration, as given.
    pub config: &'a MergeConfig,
    /// The bronze table read.
    pub source: TableName,
    /// The silver table written.
    pub target: TableName,
    /// The step's declared column types.
    pub declared: HashMap<String, cdc::ColumnType>,
}

impl<'a> Plan<'a> {
    /// Checks what can be checked of the configuration without reading a table: a key, column
    /// types that parse, no source column named like one the merge maintains, table names.
    pub fn new(config: &'a MergeConfig) -> Result<Self, MergeError> {
        let name = |n: &str, what: &str| {
            TableName::parse(n).map_err(|e| MergeError::Config(format!("`{what}`: {e}")))
        };
        if config.key.is_empty() {
            return Err(MergeError::Config("`key` names no column".into()));
        }
        let mut declared = HashMap::new();
        for (column, ty) in &config.columns {
            let ty: cdc::ColumnType = ty
                .parse()
                .map_err(|e| MergeError::Config(format!("columns.{column}: {e}")))?;
            declared.insert(column.clone(), ty);
        }
        if config.mode == MergeMode::Scd2 {
            for reserved in [EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT] {
                if config.key.iter().any(|k| k == reserved) || declared.contains_key(reserved) {
                    return Err(MergeError::Config(format!(
                        "`{reserved}` is an SCD2 column of silver and cannot be a source column"
                    )));
                }
            }
        }
        for reserved in ORDER_COLUMNS {
            if config.key.iter().any(|k| k == reserved) || declared.contains_key(reserved) {
                return Err(MergeError::Config(format!(
                    "`{reserved}` is a bookkeeping column of silver and cannot be a source column"
                )));
            }
        }
        Ok(Self {
            config,
            source: name(&config.source, "source")?,
            target: name(&config.target, "target")?,
            declared,
        })
    }

    /// Whether silver keeps every version of a key (`mode: scd2`).
    pub fn is_scd2(&self) -> bool {
        self.config.mode == MergeMode::Scd2
    }

    /// Silver columns that the merge maintains itself (never taken from the source).
    pub fn reserved(&self, name: &str) -> bool {
        ORDER_COLUMNS.contains(&name)
            || (self.is_scd2() && [EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT].contains(&name))
    }

    /// Which changes a first read keeps: SCD2 makes a version of every change; `current` needs
    /// only each key's latest one (a TOAST gap may ask for the others later, see
    /// [`crate::winners`]).
    pub fn first_keep(&self) -> Keep {
        if self.is_scd2() {
            Keep::Every
        } else {
            Keep::Latest
        }
    }

    /// Loads bronze, and silver if it exists yet (it is created on the first run with rows).
    pub async fn load(
        &self,
        lake: &Lakehouse,
    ) -> Result<(LakeTable, Option<LakeTable>), MergeError> {
        let bronze = lake.load_table(&self.source).await?;
        let silver = if lake.table_exists(&self.target).await? {
            Some(lake.load_table(&self.target).await?)
        } else {
            None
        };
        Ok((bronze, silver))
    }

    /// Where silver stands, from its current snapshot's summary (nothing merged yet without
    /// silver or without a summary). Silver merged from another table than `bronze` (another
    /// DAG writing it from another source, a bronze table dropped and created again) is
    /// refused: its recorded position means nothing in `bronze`.
    pub fn progress(
        &self,
        silver: Option<&LakeTable>,
        bronze: &LakeTable,
    ) -> Result<Progress, MergeError> {
        let summary = silver.map(LakeTable::current_summary).unwrap_or_default();
        let source_uuid = table_uuid(bronze);
        if let Some(recorded) = summary.get(SOURCE_UUID_SUMMARY_KEY)
            && *recorded != source_uuid
        {
            return Err(MergeError::Config(format!(
                "{} was merged from another table than {} (its recorded source is table {recorded},                  {} is table {source_uuid}): another step or DAG writes it from another source, or                  {} was dropped and created again. Give this step a silver table of its own, or                  drop {} to rebuild it from {}",
                self.target, self.source, self.source, self.source, self.target, self.source
            )));
        }
        let processed = match summary.get(SILVER_SOURCE_SNAPSHOT_KEY) {
            None => None,
            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                MergeError::Config(format!(
                    "silver table {} has a corrupt `{SILVER_SOURCE_SNAPSHOT_KEY}`: {v}",
                    self.target
                ))
            })?),
        };
        // A missing or unreadable count counts as 0: it only feeds the reported row count.
        let live_rows = summary
            .get(LIVE_ROWS_SUMMARY_KEY)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(Progress {
            processed,
            live_rows,
            source_uuid,
        })
    }
}

/// Where silver stands before a merge attempt.
pub(crate) struct Progress {
    /// The last bronze snapshot merged, `None` before the first merge.
    pub processed: Option<i64>,
    /// Silver's live rows (current mode) or current versions (scd2).
    pub live_rows: u64,
    /// The bronze table's UUID, recorded with the next commit.
    pub source_uuid: String,
}

/// A table's UUID (its metadata's `table-uuid`), as text.
fn table_uuid(table: &LakeTable) -> String {
    table.iceberg().metadata().uuid().to_string()
}

impl Progress {
    /// The bronze snapshots to read, oldest first: every one after the last merged.
    pub fn pending(&self, bronze: &LakeTable) -> Result<Vec<i64>, MergeError> {
        Ok(bronze
            .snapshots_after(self.processed)?
            .iter()
            .map(|s| s.snapshot_id)
            .collect())
    }
}

/// The winning changes grouped by key, each group in merge order, and whether each key (group)
/// had other changes than the ones kept (only when keeping each key's latest change).
///
/// With only the latest changes kept, the groups point into `latest`, which takes them: the
/// caller owns it so it outlives the groups.
pub(crate) fn group<'c>(
    kept: Kept,
    extracted: &'c Extracted,
    latest: &'c mut Vec<Change>,
) -> (Groups<'c>, Vec<bool>) {
    match kept {
        Kept::Every(grouping) => (grouping.finish(extracted.changes()), Vec::new()),
        Kept::Latest(winners) => {
            let (keys, changes, superseded) = winners.into_parts();
            *latest = changes;
            let latest: &'c Vec<Change> = latest;
            (Groups::of_latest(keys, latest), superseded)
        }
    }
}
