//! The query API behind `flowctl sql` and its three output formats.

use flowctl_jobs_sql::{Format, SqlError, format_batches, query};

use crate::common::Project;
use crate::sql::amounts;

#[tokio::test]
async fn queries_every_namespace_and_formats_three_ways() {
    let project = Project::new().await;
    amounts(&project).await;
    let batches = query(
        &project.settings(),
        "SELECT id, amount, tag FROM bronze.amounts WHERE id <= 2 ORDER BY id",
    )
    .await
    .unwrap();

    let table = format_batches(&batches, Format::Table).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "{table}");
    assert!(
        lines[1].contains("id") && lines[1].contains("amount"),
        "{table}"
    );
    assert!(
        lines[3].contains("10.50") && lines[3].contains("| a "),
        "{table}"
    );
    assert!(lines[4].contains("-2.00"), "{table}");

    let csv = format_batches(&batches, Format::Csv).unwrap();
    assert_eq!(csv, "id,amount,tag\n1,10.50,a\n2,-2.00,b\n");

    let json = format_batches(&batches, Format::Json).unwrap();
    // Decimals are exact JSON numbers, scale kept.
    assert_eq!(
        json,
        "[{\"id\":1,\"amount\":10.50,\"tag\":\"a\"},{\"id\":2,\"amount\":-2.00,\"tag\":\"b\"}]\n"
    );
}

#[tokio::test]
async fn empty_results_keep_their_columns() {
    let project = Project::new().await;
    amounts(&project).await;
    let batches = query(
        &project.settings(),
        "SELECT id, tag FROM bronze.amounts WHERE id > 9",
    )
    .await
    .unwrap();
    assert_eq!(format_batches(&batches, Format::Csv).unwrap(), "id,tag\n");
    assert_eq!(format_batches(&batches, Format::Json).unwrap(), "[]\n");
    assert!(
        format_batches(&batches, Format::Table)
            .unwrap()
            .contains("| id | tag |")
    );
}

#[tokio::test]
async fn lists_tables_and_reports_bad_sql() {
    let project = Project::new().await;
    amounts(&project).await;
    let batches = query(
        &project.settings(),
        "SELECT table_schema, table_name FROM information_schema.tables \
         WHERE table_schema = 'bronze'",
    )
    .await
    .unwrap();
    let csv = format_batches(&batches, Format::Csv).unwrap();
    assert_eq!(csv, "table_schema,table_name\nbronze,amounts\n");

    let err = query(&project.settings(), "SELECT * FROM bronze.nope")
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Plan(_)), "{err:?}");
    assert!(err.to_string().contains("bronze.nope"), "{err}");
}

#[tokio::test]
async fn a_table_never_written_to_reads_as_empty() {
    let project = Project::new().await;
    project
        .lake
        .create_table_if_missing(
            &flowctl_lakehouse::TableName::parse("silver.fresh").unwrap(),
            &flowctl_lakehouse::TableSchema::Columns(vec![flowctl_lakehouse::Column::optional(
                "x",
                flowctl_lakehouse::ColumnType::Long,
            )]),
        )
        .await
        .unwrap();
    let batches = query(
        &project.settings(),
        "SELECT count(*) AS n, max(x) AS m FROM silver.fresh",
    )
    .await
    .unwrap();
    assert_eq!(format_batches(&batches, Format::Csv).unwrap(), "n,m\n0,\n");
}

#[test]
fn formats_parse_from_their_names() {
    assert_eq!("csv".parse::<Format>(), Ok(Format::Csv));
    assert_eq!("json".parse::<Format>(), Ok(Format::Json));
    assert_eq!("table".parse::<Format>(), Ok(Format::Table));
    assert!(
        "xml"
            .parse::<Format>()
            .unwrap_err()
            .contains("table, csv or json")
    );
}
