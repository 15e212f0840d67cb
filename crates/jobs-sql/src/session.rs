//! A DataFusion session whose schemas are the lakehouse's namespaces: `silver.orders_current`
//! names the Iceberg table `orders_current` of namespace `silver`.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::execution::context::{SessionConfig, SessionContext};
use flowctl_lakehouse::Lakehouse;
use iceberg_datafusion::IcebergStaticTableProvider;

use crate::error::{SqlError, classify};

/// DataFusion's default catalog, where the namespaces are registered as schemas.
const DEFAULT_CATALOG: &str = "datafusion";

/// A session over every table of `lake` (plus the `pseudonymize` function, unsalted), each pinned to the snapshot current when the session
/// was built: a query sees one consistent state even while writers commit.
pub async fn lakehouse_session(lake: &Lakehouse) -> Result<SessionContext, SqlError> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(DEFAULT_CATALOG, "public");
    let ctx = SessionContext::new_with_config(config);
    // Known everywhere so a query using it without a salt gets a message saying how to set
    // one; the `sql` step replaces it with a salted instance.
    ctx.register_udf(crate::privacy::pseudonymize_udf(None));
    let catalog = ctx
        .catalog(DEFAULT_CATALOG)
        .ok_or_else(|| SqlError::Internal("DataFusion has no default catalog".into()))?;
    for namespace in lake.list_namespaces().await? {
        let schema = Arc::new(MemorySchemaProvider::new());
        for name in lake.list_tables(&namespace).await? {
            let table = lake.load_table(&name).await?;
            // The static provider reads the snapshot of the loaded table (no catalog round-trip
            // per scan, no writes through DataFusion: writes go through flowctl-lakehouse).
            let provider = IcebergStaticTableProvider::try_new_from_table(table.iceberg().clone())
                .await
                .map_err(flowctl_lakehouse::LakehouseError::from)?;
            schema
                .register_table(name.name().to_owned(), Arc::new(provider))
                .map_err(classify)?;
        }
        catalog
            .register_schema(&namespace, schema)
            .map_err(classify)?;
    }
    Ok(ctx)
}

/// Plans and runs `sql` in `ctx`. An empty result still yields one (empty) batch carrying the
/// result's schema, so callers can print headers and create tables from it.
pub async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    let frame = ctx.sql(sql).await.map_err(classify)?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let mut batches = frame.collect().await.map_err(classify)?;
    batches.retain(|b| b.num_rows() > 0);
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
}
