//! The query API behind `flowctl sql`: run one statement over a target's lakehouse and format
//! the result as a table, CSV or JSON.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::arrow::{csv, json};
use flowctl_lakehouse::IcebergSettings;

use crate::error::SqlError;
use crate::session::{lakehouse_session, run_sql};

/// How [`format_batches`] renders a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A boxed text table with a header row (for people).
    #[default]
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects, one per row (nulls omitted, as arrow's writer does).
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "unknown format `{other}`: expected table, csv or json"
            )),
        }
    }
}

/// Runs one SQL statement over every table of the lakehouse `settings` name (namespaces are
/// schemas: `SELECT * FROM silver.orders_current`). The result always has at least one batch
/// (empty when no rows), so its columns are known.
pub async fn query(settings: &IcebergSettings, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    let lake = settings.open().await?;
    let ctx = lakehouse_session(&lake).await?;
    run_sql(&ctx, sql).await
}

/// Renders `batches` (all of one schema) in `format`. The text ends with a newline.
pub fn format_batches(batches: &[RecordBatch], format: Format) -> Result<String, SqlError> {
    let mut out = match format {
        Format::Table => pretty_format_batches(batches)?.to_string(),
        Format::Csv => {
            let mut buf = Vec::new();
            {
                let mut writer = csv::WriterBuilder::new().with_header(true).build(&mut buf);
                for batch in batches {
                    writer.write(batch)?;
                }
            }
            utf8(buf)?
        }
        Format::Json => {
            let mut buf = Vec::new();
            {
                let mut writer = json::ArrayWriter::new(&mut buf);
                for batch in batches {
                    writer.write(batch)?;
                }
                writer.finish()?;
            }
            let text = utf8(buf)?;
            // arrow writes nothing at all for zero rows; an empty array is what readers expect.
            if text.is_empty() {
                "[]".to_owned()
            } else {
                text
            }
        }
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

fn utf8(buf: Vec<u8>) -> Result<String, SqlError> {
    String::from_utf8(buf)
        .map_err(|e| SqlError::Internal(format!("formatted output is not UTF-8: {e}")))
}
