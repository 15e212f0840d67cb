//! Silver's schema: the columns it must have for the changes read (derived from the events'
//! value schemas, the step's declared `columns` and the values seen, plus the columns the merge
//! maintains itself), the schema change that gives it them (creating the table or adding the
//! missing columns), and where the merge finds its columns in the result.
//!
//! Deciding the change ([`Evolution::derive`]) is kept apart from committing it
//! ([`Evolution::commit`]) so that whatever must be checked before silver changes can run in
//! between.

use flowctl_cdc as cdc;
use flowctl_lakehouse::arrow_schema::SchemaRef;
use flowctl_lakehouse::{Column, ColumnType, LakeTable, Lakehouse, TableSchema};
use indexmap::IndexMap;

use crate::apply::Layout;
use crate::changes::Extracted;
use crate::error::MergeError;
use crate::plan::Plan;
use crate::values::{self, storage_of_arrow};

/// SCD2 column: when the version became current (the change's source time).
pub const EFFECTIVE_FROM: &str = "effective_from";
/// SCD2 column: when the version stopped being current (null while current).
pub const EFFECTIVE_TO: &str = "effective_to";
/// SCD2 column: whether the version is the key's current one.
pub const IS_CURRENT: &str = "is_current";
/// Silver columns holding the merge order of the change each row comes from (`source.lsn`,
/// `source.ts_ms`, Kafka offset, Kafka partition): a change that is not a later source change
/// than the stored ones (an older event, or the same one re-delivered in a later bronze batch
/// with a new offset: see `crate::order`) is ignored instead of reverting or repeating the row,
/// in both modes.
pub const ORDER_COLUMNS: [&str; 4] = [
    "_cdc_lsn",
    "_cdc_source_ts_ms",
    "_cdc_offset",
    "_cdc_partition",
];

/// The merge-order columns, typed as [`crate::apply::Layout`] reads them.
fn order_columns() -> Vec<Column> {
    vec![
        Column::optional(ORDER_COLUMNS[0], ColumnType::Long),
        Column::optional(ORDER_COLUMNS[1], ColumnType::Long),
        Column::optional(ORDER_COLUMNS[2], ColumnType::Long),
        Column::optional(ORDER_COLUMNS[3], ColumnType::Int),
    ]
}

/// How silver's schema must change for the changes read. Deriving it commits nothing.
pub(crate) enum Evolution {
    /// Silver exists: add these columns to it (none when it has them all). A column added in
    /// the source appears in silver; older rows read it as null.
    Widen {
        /// Silver as loaded (boxed: a table is large, the other variants small).
        table: Box<LakeTable>,
        /// Its missing columns.
        new: Vec<Column>,
    },
    /// Silver does not exist yet: create it with these columns.
    Create(Vec<Column>),
    /// Silver does not exist and no change has a row to learn its columns from yet: nothing to
    /// create, nothing lost (the next merge reads the same changes again).
    Nothing,
}

impl Evolution {
    /// The schema change silver needs for `extracted`'s changes.
    pub fn derive(
        plan: &Plan<'_>,
        extracted: &Extracted,
        silver: Option<LakeTable>,
    ) -> Result<Self, MergeError> {
        let wanted = wanted_columns(plan, extracted, silver.as_ref())?;
        Ok(match silver {
            Some(table) => {
                let existing = table.arrow_schema()?;
                let new = wanted
                    .iter()
                    .map(|(name, ty)| Column::optional(name.clone(), *ty))
                    .chain(order_columns())
                    .filter(|c| existing.field_with_name(&c.name).is_err())
                    .collect();
                Self::Widen {
                    table: Box::new(table),
                    new,
                }
            }
            None if wanted.is_empty() => Self::Nothing,
            None => {
                let mut columns: Vec<Column> = wanted
                    .iter()
                    .map(|(name, ty)| Column::optional(name.clone(), *ty))
                    .collect();
                if plan.is_scd2() {
                    columns.push(Column::required(EFFECTIVE_FROM, ColumnType::Timestamptz));
                    columns.push(Column::optional(EFFECTIVE_TO, ColumnType::Timestamptz));
                    columns.push(Column::required(IS_CURRENT, ColumnType::Boolean));
                }
                columns.extend(order_columns());
                Self::Create(columns)
            }
        })
    }

    /// Refuses, before anything is committed, a change after which [`Silver::of`] would fail:
    /// an `scd2` merge into a table without the SCD2 columns, a key column silver would lack.
    /// Such a merge must leave silver exactly as it was (no added columns, no new table).
    pub fn check(&self, plan: &Plan<'_>) -> Result<(), MergeError> {
        let (existing, new): (Vec<String>, Vec<&Column>) = match self {
            Self::Widen { table, new } => (
                table
                    .arrow_schema()?
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
                new.iter().collect(),
            ),
            Self::Create(columns) => (Vec::new(), columns.iter().collect()),
            Self::Nothing => return Ok(()),
        };
        let has =
            |name: &str| existing.iter().any(|c| c == name) || new.iter().any(|c| c.name == name);
        if plan.is_scd2()
            && matches!(self, Self::Widen { .. })
            && let Some(missing) = [EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT]
                .into_iter()
                .find(|c| !existing.iter().any(|e| e == c))
        {
            return Err(MergeError::Config(format!(
                "{} is not an SCD2 table (no `{missing}` column): use another target or `mode: current`",
                plan.target
            )));
        }
        if let Some(key) = plan.config.key.iter().find(|k| !has(k)) {
            return Err(MergeError::Config(format!(
                "key column `{key}` is not a column of {}",
                plan.target
            )));
        }
        Ok(())
    }

    /// Commits the change (its own commit, before the merge's data commit): silver as it now
    /// is, `None` for [`Evolution::Nothing`]. Call [`Evolution::check`] first.
    pub async fn commit(
        self,
        lake: &Lakehouse,
        plan: &Plan<'_>,
    ) -> Result<Option<LakeTable>, MergeError> {
        Ok(match self {
            Self::Widen { table, new } if new.is_empty() => Some(*table),
            Self::Widen { table, new } => Some(lake.add_columns(&table, &new).await?),
            Self::Create(columns) => Some(
                lake.create_table_if_missing(&plan.target, &TableSchema::Columns(columns))
                    .await?,
            ),
            Self::Nothing => None,
        })
    }
}

/// The data columns silver must have for these changes: the existing ones, then new ones in
/// the order the events show them. Types: silver's own, else declared, else the event schema's,
/// else guessed from the JSON values.
fn wanted_columns(
    plan: &Plan<'_>,
    extracted: &Extracted,
    silver: Option<&LakeTable>,
) -> Result<IndexMap<String, ColumnType>, MergeError> {
    let mut known: IndexMap<String, ColumnType> = IndexMap::new();
    if let Some(table) = silver {
        for field in table.arrow_schema()?.fields() {
            if let Some(ty) = storage_of_arrow(field.data_type()) {
                known.insert(field.name().clone(), ty);
            }
        }
    }
    let declared = |name: &str| plan.declared.get(name).map(values::storage_type);
    let wanted = |name: &str| {
        plan.config.keeps(name) && !plan.reserved(name) && !cdc::is_metadata_field(name)
    };
    for schema in &extracted.schemas {
        for column in schema.iter() {
            if wanted(&column.name) && !known.contains_key(&column.name) {
                let ty = declared(&column.name).unwrap_or_else(|| values::storage_type(&column.ty));
                known.insert(column.name.clone(), ty);
            }
        }
    }
    for (name, guess) in &extracted.seen {
        if known.contains_key(name) || !plan.config.keeps(name) || cdc::is_metadata_field(name) {
            continue;
        }
        if plan.reserved(name) {
            return Err(MergeError::Config(format!(
                "source column `{name}` collides with a column the merge maintains in {}",
                plan.target
            )));
        }
        // A column only ever null in schemaless events is kept as text.
        let ty = declared(name).or(*guess).unwrap_or(ColumnType::String);
        known.insert(name.clone(), ty);
    }
    // SCD2 bookkeeping columns are not data columns.
    Ok(known
        .into_iter()
        .filter(|(n, _)| !plan.reserved(n))
        .collect())
}

/// Silver as the merge reads and writes it: the table, its Arrow schema, where the merge's own
/// columns are and where the key columns are.
pub(crate) struct Silver {
    /// The table, after its schema change.
    pub table: LakeTable,
    /// Its Arrow schema: the order of the cells in a row.
    pub schema: SchemaRef,
    /// Where the SCD2 and merge-order columns are.
    pub layout: Layout,
    /// Positions of the `key` columns, in the configured order.
    pub key: Vec<usize>,
}

impl Silver {
    /// Finds the merge's columns in `table`, failing when the configuration does not fit it (an
    /// `scd2` merge into a table without the SCD2 columns, a key column silver lacks).
    pub fn of(plan: &Plan<'_>, table: LakeTable) -> Result<Self, MergeError> {
        let schema = table.arrow_schema()?;
        let layout = layout_of(plan, &schema)?;
        let key = plan
            .config
            .key
            .iter()
            .map(|k| {
                schema.index_of(k).map_err(|_| {
                    MergeError::Config(format!(
                        "key column `{k}` is not a column of {}",
                        plan.target
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            table,
            schema,
            layout,
            key,
        })
    }
}

fn layout_of(plan: &Plan<'_>, schema: &SchemaRef) -> Result<Layout, MergeError> {
    let scd2 = if plan.is_scd2() {
        let index = |name: &str| {
            schema.index_of(name).map_err(|_| {
                MergeError::Config(format!(
                    "{} is not an SCD2 table (no `{name}` column): use another target or `mode: current`",
                    plan.target
                ))
            })
        };
        Some([
            index(EFFECTIVE_FROM)?,
            index(EFFECTIVE_TO)?,
            index(IS_CURRENT)?,
        ])
    } else {
        None
    };
    let order = ORDER_COLUMNS.map(|name| schema.index_of(name).ok());
    let order = match order {
        [Some(a), Some(b), Some(c), Some(d)] => Some([a, b, c, d]),
        _ => None,
    };
    Ok(Layout {
        width: schema.fields().len(),
        scd2,
        order,
    })
}
