//! The `sql` job: replace and append, `file:` with templates, errors.

use std::sync::Arc;

use flowctl_jobs_sql::arrow::array::{ArrayRef, Decimal128Array, Int64Array, StringArray};
use flowctl_lakehouse::{Column, ColumnType, TableName};
use serde_json::json;

use crate::common::{Project, sql_job};

/// `bronze.amounts(id bigint, amount decimal(10,2), tag string)` with three rows.
pub async fn amounts(project: &Project) {
    project
        .table(
            "bronze.amounts",
            vec![
                Column::required("id", ColumnType::Long),
                Column::optional(
                    "amount",
                    ColumnType::Decimal {
                        precision: 10,
                        scale: 2,
                    },
                ),
                Column::optional("tag", ColumnType::String),
            ],
            vec![
                ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
                (
                    "amount",
                    Arc::new(
                        Decimal128Array::from(vec![Some(1050), Some(-200), None])
                            .with_precision_and_scale(10, 2)
                            .unwrap(),
                    ),
                ),
                (
                    "tag",
                    Arc::new(StringArray::from(vec![Some("a"), Some("b"), Some("a")])),
                ),
            ],
        )
        .await;
}

#[tokio::test]
async fn replace_creates_the_target_then_replaces_its_content() {
    let project = Project::new().await;
    amounts(&project).await;
    let config = json!({
        "sql": "SELECT tag, CAST(SUM(amount) AS DECIMAL(12,2)) AS total, COUNT(*) AS n \
                FROM bronze.amounts GROUP BY tag",
        "target": "gold.by_tag",
    });
    let (result, _) = project.run(sql_job(), config.clone()).await;
    let output = result.unwrap();
    assert_eq!(output.outputs["rows"], "2");
    assert_eq!(output.outputs["target"], "gold.by_tag");
    let rows = project
        .rows("SELECT tag, total, n FROM gold.by_tag ORDER BY tag")
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"tag": "a", "total": 10.5, "n": 2}),
            json!({"tag": "b", "total": -2.0, "n": 1}),
        ]
    );
    // The decimal type is kept in the created table.
    let table = project
        .lake
        .load_table(&TableName::parse("gold.by_tag").unwrap())
        .await
        .unwrap();
    let schema = table.arrow_schema().unwrap();
    assert_eq!(
        schema
            .field_with_name("total")
            .unwrap()
            .data_type()
            .to_string(),
        "Decimal128(12, 2)"
    );
    // Running again replaces instead of duplicating.
    let (result, _) = project.run(sql_job(), config).await;
    assert_eq!(result.unwrap().outputs["rows"], "2");
    let rows = project.rows("SELECT count(*) AS c FROM gold.by_tag").await;
    assert_eq!(rows, vec![json!({"c": 2})]);
    let snapshots = project
        .lake
        .load_table(&TableName::parse("gold.by_tag").unwrap())
        .await
        .unwrap()
        .snapshots();
    assert_eq!(snapshots.len(), 2);
    assert_eq!(
        snapshots[1].summary["flowctl.run-id"],
        "manual__2026-03-04T05:06:07Z"
    );
}

#[tokio::test]
async fn append_adds_rows_each_run() {
    let project = Project::new().await;
    amounts(&project).await;
    let config = json!({
        "sql": "SELECT id, amount FROM bronze.amounts WHERE amount IS NOT NULL",
        "target": "gold.copies",
        "mode": "append",
    });
    for _ in 0..2 {
        let (result, _) = project.run(sql_job(), config.clone()).await;
        assert_eq!(result.unwrap().outputs["rows"], "2");
    }
    let rows = project
        .rows("SELECT id, count(*) AS c FROM gold.copies GROUP BY id ORDER BY id")
        .await;
    assert_eq!(
        rows,
        vec![json!({"id": 1, "c": 2}), json!({"id": 2, "c": 2})]
    );
}

#[tokio::test]
async fn an_empty_result_replaces_with_nothing() {
    let project = Project::new().await;
    amounts(&project).await;
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT id FROM bronze.amounts", "target": "gold.ids"}),
        )
        .await;
    assert_eq!(result.unwrap().outputs["rows"], "3");
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT id FROM bronze.amounts WHERE id > 100", "target": "gold.ids"}),
        )
        .await;
    assert_eq!(result.unwrap().outputs["rows"], "0");
    assert_eq!(
        project.rows("SELECT * FROM gold.ids").await,
        Vec::<serde_json::Value>::new()
    );
}

#[tokio::test]
async fn file_is_rendered_with_the_template_context() {
    let project = Project::new().await;
    amounts(&project).await;
    std::fs::create_dir_all(project.path().join("sql")).unwrap();
    std::fs::write(
        project.path().join("sql/big.sql"),
        "-- {{ dag_id }}\nSELECT id, '{{ ds }}' AS ds FROM bronze.amounts \
         WHERE amount * 1 >= {{ params.min_total }}",
    )
    .unwrap();
    let (result, _) = project
        .run(
            sql_job(),
            json!({"file": "sql/big.sql", "target": "gold.big"}),
        )
        .await;
    assert_eq!(result.unwrap().outputs["rows"], "1");
    assert_eq!(
        project.rows("SELECT * FROM gold.big").await,
        vec![json!({"id": 1, "ds": "2026-03-04"})]
    );

    std::fs::write(project.path().join("sql/bad.sql"), "SELECT {{ nope }}").unwrap();
    let (result, _) = project
        .run(
            sql_job(),
            json!({"file": "sql/bad.sql", "target": "gold.bad"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(!err.retryable);
    assert!(err.message.contains("nope"), "{}", err.message);

    let (result, _) = project
        .run(
            sql_job(),
            json!({"file": "sql/missing.sql", "target": "gold.bad"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(err.message.contains("missing.sql"), "{}", err.message);
    assert!(
        err.message.starts_with("cannot read SQL file "),
        "a run-time failure, not a refused config: {}",
        err.message
    );
}

#[tokio::test]
async fn bad_sql_is_fatal_with_datafusion_s_message() {
    let project = Project::new().await;
    amounts(&project).await;
    for (sql, needle) in [
        ("SELEC 1", "SELEC"),
        ("SELECT nope FROM bronze.amounts", "nope"),
        ("SELECT * FROM silver.missing", "silver.missing"),
    ] {
        let (result, _) = project
            .run(sql_job(), json!({"sql": sql, "target": "gold.x"}))
            .await;
        let err = result.unwrap_err();
        assert!(!err.retryable, "{sql}: {}", err.message);
        assert!(err.message.contains(needle), "{sql}: {}", err.message);
    }
    assert!(
        !project
            .lake
            .table_exists(&TableName::parse("gold.x").unwrap())
            .await
            .unwrap()
    );
}

#[test]
fn validation_rejects_ambiguous_and_incomplete_steps() {
    let spec = sql_job().spec();
    assert!(
        spec.check(&json!({"sql": "SELECT 1", "target": "gold.t"}))
            .is_ok()
    );
    for (config, path, needle) in [
        (json!({"target": "gold.t"}), "", "`sql`"),
        (
            json!({"sql": "SELECT 1", "file": "a.sql", "target": "gold.t"}),
            "",
            "not both",
        ),
        (json!({"sql": "SELECT 1"}), "", "target"),
        (
            json!({"sql": "SELECT 1", "target": "gold.t", "mode": "upsert"}),
            "mode",
            "upsert",
        ),
        (
            json!({"sql": "SELECT 1 AS a", "target": "gold.t", "pseudonymize": ["a"]}),
            "pseudonymize",
            "salt",
        ),
        (
            json!({"sql": "SELECT 1", "target": "gold.t", "salt": "x"}),
            "salt",
            "unknown field",
        ),
        (
            json!({"sql": "SELECT 1", "target": "t"}),
            "target",
            "namespace",
        ),
        (
            json!({"sql": "SELECT id FROM bronze.t", "target": "gold.t",
                   "pseudonymize": ["email"], "salt_env": "SALT"}),
            "pseudonymize.0",
            "`email`",
        ),
        (
            json!({"sql": "SELECT 1", "target": "gold.t", "salt_env": "MY SALT"}),
            "salt_env",
            "environment variable",
        ),
    ] {
        let errors = spec.check(&config).unwrap_err();
        assert_eq!(errors.len(), 1, "{config}: {errors:?}");
        assert_eq!(errors[0].path.join("."), path, "{config}: {errors:?}");
        assert!(
            errors[0].message.contains(needle),
            "{config}: {}",
            errors[0].message
        );
    }
}

#[tokio::test]
async fn a_refused_config_never_runs_and_says_where() {
    let project = Project::new().await;
    amounts(&project).await;
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT id FROM bronze.amounts", "target": "amounts_copy",
                   "pseudonymize": ["email"], "salt_env": "FLOWCTL_TEST_SALT_NEVER_READ"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with("invalid `sql` step: `target`: "),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("`pseudonymize.0`: the query's result has no column `email`"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_refused_result_leaves_the_target_unchanged() {
    let project = Project::new().await;
    amounts(&project).await;
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT id, tag FROM bronze.amounts", "target": "gold.fit"}),
        )
        .await;
    result.unwrap();
    // `tag` becomes text that is no number, and the query gains a column: the write is
    // refused before the new column is added.
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT tag AS id, amount FROM bronze.amounts", "target": "gold.fit",
                   "mode": "append"}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(!err.retryable, "{}", err.message);
    assert!(err.message.contains("`id`"), "{}", err.message);
    let table = project
        .lake
        .load_table(&TableName::parse("gold.fit").unwrap())
        .await
        .unwrap();
    let columns: Vec<String> = table
        .arrow_schema()
        .unwrap()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(columns, ["id", "tag"]);
}

#[tokio::test]
async fn a_query_that_gains_a_column_keeps_writing() {
    let project = Project::new().await;
    amounts(&project).await;
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT id FROM bronze.amounts", "target": "gold.evolving"}),
        )
        .await;
    result.unwrap();
    let (result, _) = project
        .run(
            sql_job(),
            json!({"sql": "SELECT id, amount AS price FROM bronze.amounts WHERE id = 1",
                   "target": "gold.evolving", "mode": "append"}),
        )
        .await;
    result.unwrap();
    let rows = project
        .rows("SELECT id, price FROM gold.evolving ORDER BY id, price")
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"id": 1, "price": 10.5}),
            json!({"id": 1}),
            json!({"id": 2}),
            json!({"id": 3}),
        ]
    );
}

#[tokio::test]
async fn the_target_s_iceberg_block_says_where_tables_are() {
    let project = Project::new().await;
    let lake = json!({"iceberg": {"catalog": "lake/catalog.db", "warehouse": "lake/warehouse"}});
    let (result, _) = project
        .run_on(
            sql_job(),
            json!({"sql": "SELECT 1 AS one", "target": "gold.elsewhere"}),
            lake,
        )
        .await;
    assert_eq!(result.unwrap().outputs["rows"], "1");
    assert!(project.path().join("lake/catalog.db").exists());
    assert!(
        !project
            .lake
            .table_exists(&TableName::parse("gold.elsewhere").unwrap())
            .await
            .unwrap(),
        "written to the target's catalog, not the default one"
    );

    let (result, _) = project
        .run_on(
            sql_job(),
            json!({"sql": "SELECT 1 AS one", "target": "gold.t"}),
            json!({"iceberg": {"catalgo": "x.db"}}),
        )
        .await;
    let err = result.unwrap_err();
    assert!(!err.retryable);
    assert!(err.message.contains("catalgo"), "{}", err.message);
}
