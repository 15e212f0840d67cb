//! Counting a query's result rows over every page of GetQueryResults.

use aws_sdk_athena::types::ResultSet;
use flowctl_engine::job::JobError;
use tokio_util::sync::CancellationToken;

use crate::error::AwsError;

/// The largest page Athena serves.
const PAGE_SIZE: i32 = 1000;

/// What a query's results hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counted {
    /// Data rows (a SELECT's header row excluded).
    pub rows: u64,
    /// Rows written by INSERT INTO / CTAS / UPDATE, when Athena reports it.
    pub update_count: Option<i64>,
}

/// Reads every page of the query's results and counts the data rows.
pub(crate) async fn count_rows(
    athena: &aws_sdk_athena::Client,
    id: &str,
    cancel: &CancellationToken,
) -> Result<Counted, JobError> {
    let mut counted = Counted::default();
    let mut token: Option<String> = None;
    let mut first_page = true;
    loop {
        let request = athena
            .get_query_results()
            .query_execution_id(id)
            .max_results(PAGE_SIZE)
            .set_next_token(token.take());
        let page = tokio::select! {
            r = request.send() => r.map_err(|e| {
                AwsError::from_sdk(&format!("athena:GetQueryResults {id}"), &e).into_job_error()
            })?,
            _ = cancel.cancelled() => {
                return Err(JobError::failed(format!(
                    "cancelled while reading the results of Athena query {id}"
                )));
            }
        };
        if first_page {
            counted.update_count = page.update_count();
        }
        if let Some(set) = page.result_set() {
            let header = first_page && starts_with_header(set);
            counted.rows += set.rows().len() as u64 - u64::from(header);
        }
        first_page = false;
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(counted),
        }
    }
}

/// Whether the first row of a result is the header Athena puts before a SELECT's rows: its
/// cells are the column labels. Without column metadata, a first row is taken as the header
/// (Athena always describes the columns of a SELECT).
pub(crate) fn starts_with_header(set: &ResultSet) -> bool {
    let Some(first) = set.rows().first() else {
        return false;
    };
    let columns = set
        .result_set_metadata()
        .map(|m| m.column_info())
        .unwrap_or_default();
    if columns.is_empty() {
        return true;
    }
    let cells = first.data();
    cells.len() == columns.len()
        && cells.iter().zip(columns).all(|(cell, column)| {
            let label = column.label().unwrap_or(column.name());
            cell.var_char_value() == Some(label)
        })
}
