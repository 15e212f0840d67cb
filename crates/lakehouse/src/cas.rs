//! The compare-and-swap of a table's metadata pointer in the SQL catalog's own table.
//!
//! Table and column names are those of `iceberg-catalog-sql` 0.10 (and PyIceberg's SqlCatalog):
//! `iceberg_tables(catalog_name, table_namespace, table_name, metadata_location,
//! previous_metadata_location, iceberg_type)`. The catalog crate keeps its pool private, so this
//! module holds a second pool on the same database.

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::error::Result;
use crate::location::{CatalogUrl, Dialect};
use crate::names::TableName;

/// Swaps metadata pointers atomically: the `UPDATE` only matches while the row still points at
/// the metadata file the new one was derived from.
#[derive(Debug, Clone)]
pub(crate) struct PointerSwap {
    pool: AnyPool,
    dialect: Dialect,
    catalog_name: String,
}

/// What happened to a swap attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SwapOutcome {
    /// Exactly one row changed: the new metadata is the table's current state.
    Swapped,
    /// The row no longer points at the expected metadata (or the table is gone).
    Conflict,
}

impl PointerSwap {
    pub(crate) async fn connect(url: &CatalogUrl, catalog_name: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url.url)
            .await?;
        Ok(Self {
            pool,
            dialect: url.dialect,
            catalog_name: catalog_name.to_owned(),
        })
    }

    pub(crate) async fn swap(
        &self,
        table: &TableName,
        expected: &str,
        new: &str,
    ) -> Result<SwapOutcome> {
        let sql = self.placeholders(
            "UPDATE iceberg_tables \
             SET metadata_location = ?, previous_metadata_location = ? \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
             AND metadata_location = ?",
        );
        let namespace = table.namespace_string();
        let result = sqlx::query(&sql)
            .bind(new)
            .bind(expected)
            .bind(self.catalog_name.as_str())
            .bind(namespace.as_str())
            .bind(table.name())
            .bind(expected)
            .execute(&self.pool)
            .await?;
        Ok(match result.rows_affected() {
            1 => SwapOutcome::Swapped,
            // The primary key (catalog, namespace, name) makes more than one row impossible.
            _ => SwapOutcome::Conflict,
        })
    }

    /// sqlx's `Any` driver passes placeholders through: Postgres needs `$n`.
    fn placeholders(&self, sql: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => sql.to_owned(),
            Dialect::Postgres => {
                let mut out = String::with_capacity(sql.len() + 8);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}
