//! The paths moto cannot take (see `crate::testing`): a query that FAILS, and results that
//! span several pages.

use aws_sdk_athena::Client;
use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionOutput;
use aws_sdk_athena::types::{
    AthenaError, ColumnInfo, Datum, QueryExecutionStatus, ResultSet, ResultSetMetadata, Row,
};
use aws_smithy_mocks::{Rule, mock};
use serde_json::json;

use super::*;
use crate::testing::{clients, context};

fn config(value: serde_json::Value) -> AthenaQueryConfig {
    serde_json::from_value(value).unwrap()
}

fn execution(
    state: QueryExecutionState,
    reason: Option<&str>,
    error: Option<AthenaError>,
) -> GetQueryExecutionOutput {
    let status = QueryExecutionStatus::builder()
        .state(state)
        .set_state_change_reason(reason.map(str::to_owned))
        .set_athena_error(error)
        .build();
    GetQueryExecutionOutput::builder()
        .query_execution(
            QueryExecution::builder()
                .query_execution_id("q-1")
                .statement_type(StatementType::Dml)
                .status(status)
                .build(),
        )
        .build()
}

fn started() -> Rule {
    mock!(Client::start_query_execution)
        .sequence()
        .output(|| {
            StartQueryExecutionOutput::builder()
                .query_execution_id("q-1")
                .build()
        })
        .build()
}

#[tokio::test]
async fn a_failed_query_fails_with_athena_s_reason_and_bad_sql_is_not_retried() {
    for (error, retryable) in [
        // Category 2: the query itself is wrong.
        (
            AthenaError::builder()
                .error_category(2)
                .retryable(false)
                .build(),
            false,
        ),
        // Category 1: Athena's side.
        (
            AthenaError::builder()
                .error_category(1)
                .retryable(true)
                .build(),
            true,
        ),
    ] {
        let start = started();
        let poll = mock!(Client::get_query_execution)
            .sequence()
            .output(|| execution(QueryExecutionState::Running, None, None))
            .output(move || {
                execution(
                    QueryExecutionState::Failed,
                    Some("TABLE_NOT_FOUND: line 1:15: Table 'gold.nope' does not exist"),
                    Some(error.clone()),
                )
            })
            .build();
        let aws = clients(&[], &[&start, &poll], &[]);
        let (ctx, _log) = context(std::env::temp_dir());
        let step = config(json!({"sql": "SELECT * FROM nope", "poll_interval": "1ms"}));

        let err = run_step(&aws, &AwsSettings::default(), &step, &ctx)
            .await
            .unwrap_err();

        assert_eq!(
            err.message,
            "Athena query q-1 ended FAILED: TABLE_NOT_FOUND: line 1:15: Table 'gold.nope' does not exist"
        );
        assert_eq!(err.retryable, retryable);
        assert_eq!(ctx.handles.load(EXECUTION_ID_HANDLE).await.unwrap(), None);
    }
}

fn row(cells: &[&str]) -> Row {
    Row::builder()
        .set_data(Some(
            cells
                .iter()
                .map(|c| Datum::builder().var_char_value(*c).build())
                .collect(),
        ))
        .build()
}

fn page(rows: Vec<Row>, next: Option<&str>) -> GetQueryResultsOutput {
    let metadata = ResultSetMetadata::builder()
        .column_info(
            ColumnInfo::builder()
                .name("order_id")
                .label("order_id")
                .r#type("varchar")
                .build()
                .unwrap(),
        )
        .build();
    GetQueryResultsOutput::builder()
        .result_set(
            ResultSet::builder()
                .set_rows(Some(rows))
                .result_set_metadata(metadata)
                .build(),
        )
        .set_next_token(next.map(str::to_owned))
        .build()
}

#[tokio::test]
async fn rows_are_counted_over_every_page_with_the_attempt_s_token() {
    let (ctx, _log) = context(std::env::temp_dir());
    let token = client_request_token(&ctx);
    let start = mock!(Client::start_query_execution)
        .match_requests(move |r| {
            r.client_request_token() == Some(token.as_str())
                && r.query_execution_context().and_then(|c| c.catalog()) == Some("AwsDataCatalog")
                && r.query_execution_context().and_then(|c| c.database()) == Some("silver")
                && r.work_group() == Some("wg")
        })
        .sequence()
        .output(|| {
            StartQueryExecutionOutput::builder()
                .query_execution_id("q-1")
                .build()
        })
        .build();
    let poll = mock!(Client::get_query_execution)
        .sequence()
        .output(|| execution(QueryExecutionState::Succeeded, None, None))
        .build();
    // A header row, then 1,000 + 1,000 + 2 rows over three pages.
    let pages = mock!(Client::get_query_results)
        .sequence()
        .output(|| {
            let mut rows = vec![row(&["order_id"])];
            rows.extend((0..999).map(|i| row(&[&format!("o-{i}")])));
            page(rows, Some("p2"))
        })
        .output(|| {
            page(
                (0..1000).map(|i| row(&[&format!("p-{i}")])).collect(),
                Some("p3"),
            )
        })
        // A data row equal to the header on a later page is data.
        .output(|| page(vec![row(&["order_id"]), row(&["x"])], None))
        .build();
    let aws = clients(&[], &[&start, &poll, &pages], &[]);
    let mut settings = AwsSettings::default();
    settings.athena.workgroup = Some("wg".into());
    settings.athena.database = Some("silver".into());
    let step = config(
        json!({"sql": "SELECT order_id FROM orders", "expect": {"rows": 2001}, "poll_interval": "1ms"}),
    );

    let out = run_step(&aws, &settings, &step, &ctx).await.unwrap();

    assert_eq!(
        start.num_calls(),
        1,
        "the request carried the token and the defaults"
    );
    assert_eq!(pages.num_calls(), 3);
    assert_eq!(out.outputs["rows"], "2001");
}

#[tokio::test]
async fn a_throttled_submission_is_resent_with_the_same_token() {
    use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionError;
    use aws_sdk_athena::types::error::TooManyRequestsException;

    let (ctx, mut log) = context(std::env::temp_dir());
    let token = client_request_token(&ctx);
    let start = mock!(Client::start_query_execution)
        .match_requests(move |r| r.client_request_token() == Some(token.as_str()))
        .sequence()
        .error(|| {
            StartQueryExecutionError::TooManyRequestsException(
                TooManyRequestsException::builder()
                    .message("Rate exceeded")
                    .meta(
                        aws_sdk_athena::error::ErrorMetadata::builder()
                            .code("TooManyRequestsException")
                            .message("Rate exceeded")
                            .build(),
                    )
                    .build(),
            )
        })
        .output(|| {
            StartQueryExecutionOutput::builder()
                .query_execution_id("q-1")
                .build()
        })
        .build();
    let done = GetQueryExecutionOutput::builder()
        .query_execution(
            QueryExecution::builder()
                .query_execution_id("q-1")
                .statement_type(StatementType::Ddl)
                .status(
                    QueryExecutionStatus::builder()
                        .state(QueryExecutionState::Succeeded)
                        .build(),
                )
                .build(),
        )
        .build();
    let poll = mock!(Client::get_query_execution)
        .sequence()
        .output(move || done.clone())
        .build();
    let aws = clients(&[], &[&start, &poll], &[]);
    let step = config(json!({"sql": "CREATE DATABASE gold", "poll_interval": "1ms"}));

    let out = run_step(&aws, &AwsSettings::default(), &step, &ctx)
        .await
        .unwrap();

    assert_eq!(
        start.num_calls(),
        2,
        "both submissions carried the attempt's token"
    );
    assert_eq!(out.outputs["rows"], "0", "DDL has no result rows to read");
    let lines = crate::testing::drain(&mut log);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("TooManyRequestsException: Rate exceeded; trying again in")),
        "{lines:?}"
    );
}

#[test]
fn create_view_wraps_the_select_without_its_semicolon() {
    assert_eq!(
        as_view("gold.revenue_5m", "-- gold\nSELECT 1 AS x\n;\n"),
        "CREATE OR REPLACE VIEW gold.revenue_5m AS\n-- gold\nSELECT 1 AS x"
    );
}
