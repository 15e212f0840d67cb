//! Namespaces, table creation, listing and schema evolution.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use flowctl_lakehouse::{Column, ColumnType, LakehouseError, TableName, TableSchema};

use crate::common::{Lake, id_batch, props, rows};

#[tokio::test]
async fn create_is_idempotent_and_tables_are_listed() {
    let fx = Lake::new().await;
    let a = fx.simple_table("bronze.a").await;
    fx.lake
        .append(&a, vec![id_batch(&[1])], props(&[]))
        .await
        .unwrap();
    // Creating again returns the existing table with its data.
    let again = fx.simple_table("bronze.a").await;
    assert_eq!(
        again.current_snapshot_id(),
        fx.load("bronze.a").await.current_snapshot_id()
    );
    fx.simple_table("bronze.b").await;
    fx.simple_table("silver.c").await;
    fx.lake.create_namespace_if_missing("gold").await.unwrap();
    fx.lake.create_namespace_if_missing("gold").await.unwrap();

    let names = |v: Vec<TableName>| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        names(fx.lake.list_tables("bronze").await.unwrap()),
        ["bronze.a", "bronze.b"]
    );
    assert_eq!(
        names(fx.lake.list_tables("silver").await.unwrap()),
        ["silver.c"]
    );
    assert!(fx.lake.list_tables("gold").await.unwrap().is_empty());
    assert!(fx.lake.list_tables("nope").await.unwrap().is_empty());
    assert_eq!(
        fx.lake.list_namespaces().await.unwrap(),
        ["bronze", "gold", "silver"]
    );
    assert!(
        fx.lake
            .table_exists(&TableName::parse("bronze.a").unwrap())
            .await
            .unwrap()
    );

    let missing = TableName::parse("bronze.zzz").unwrap();
    assert!(!fx.lake.table_exists(&missing).await.unwrap());
    let err = fx.lake.load_table(&missing).await.unwrap_err();
    assert!(
        matches!(err, LakehouseError::TableNotFound(ref t) if t == "bronze.zzz"),
        "{err}"
    );

    // A second connection sees the same catalog.
    let other = fx.reopen().await;
    assert_eq!(
        names(other.list_tables("bronze").await.unwrap()),
        ["bronze.a", "bronze.b"]
    );
}

#[tokio::test]
async fn tables_can_be_created_from_an_arrow_schema() {
    let fx = Lake::new().await;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, true),
    ]));
    let name = TableName::parse("bronze.arrow").unwrap();
    let t = fx
        .lake
        .create_table_if_missing(&name, &TableSchema::Arrow(schema.clone()))
        .await
        .unwrap();
    let got = t.arrow_schema().unwrap();
    assert_eq!(got.fields().len(), 2);
    assert_eq!(got.field(0).name(), "id");
    assert!(!got.field(0).is_nullable());
    assert_eq!(got.field(1).data_type(), &DataType::Utf8);
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![7])) as ArrayRef,
            Arc::new(StringArray::from(vec!["{}"])) as ArrayRef,
        ],
    )
    .unwrap();
    fx.lake.append(&t, vec![batch], props(&[])).await.unwrap();
    let rows = rows(
        &fx.lake
            .load_table(&name)
            .await
            .unwrap()
            .scan()
            .await
            .unwrap(),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["payload"], "{}");
}

#[tokio::test]
async fn added_columns_read_as_null_in_older_files() {
    let fx = Lake::new().await;
    let t = fx.simple_table("silver.evolve").await;
    fx.lake
        .append(&t, vec![id_batch(&[1])], props(&[]))
        .await
        .unwrap();
    let t = fx.load("silver.evolve").await;
    let t = fx
        .lake
        .add_columns(
            &t,
            &[
                Column::optional("email", ColumnType::String),
                Column::optional("name", ColumnType::String), // exists: left alone
            ],
        )
        .await
        .unwrap();
    assert_eq!(t.arrow_schema().unwrap().fields().len(), 3);
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("email", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![2])) as ArrayRef,
            Arc::new(StringArray::from(vec!["a@b.c"])) as ArrayRef,
        ],
    )
    .unwrap();
    fx.lake.append(&t, vec![batch], props(&[])).await.unwrap();
    let t = fx.load("silver.evolve").await;
    let rows = rows(&t.scan().await.unwrap());
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["name"].as_str(), rows[0]["email"].as_str()),
        ("n1", "")
    );
    assert_eq!(
        (rows[1]["name"].as_str(), rows[1]["email"].as_str()),
        ("", "a@b.c")
    );
    // Nothing new to add: the same table comes back without a commit.
    let same = fx
        .lake
        .add_columns(&t, &[Column::optional("email", ColumnType::String)])
        .await
        .unwrap();
    assert_eq!(same.metadata_location(), t.metadata_location());
}

#[tokio::test]
async fn concurrent_creators_of_one_table_all_succeed() {
    let fx = Lake::new().await;
    let name = TableName::parse("racing.t").unwrap();
    let schema = TableSchema::Columns(vec![Column::required("id", ColumnType::Long)]);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let lake = fx.reopen().await;
        let (name, schema) = (name.clone(), schema.clone());
        tasks.push(tokio::spawn(async move {
            lake.create_table_if_missing(&name, &schema).await
        }));
    }
    for task in tasks {
        let table = task.await.unwrap().expect("every creator gets the table");
        assert_eq!(table.name().to_string(), "racing.t");
    }
}
