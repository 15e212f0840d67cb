//! Column-projected reads: only the named columns, in the table's column order, files in the
//! order given.

use flowctl_lakehouse::arrow_array::{Array, Int64Array, StringArray};
use flowctl_lakehouse::{Column, ColumnType, LakehouseError};

use crate::common::{Lake, id_batch, props};

/// The `id` column's values in batch order (not sorted: the order is what is tested).
fn ids_in_order(batches: &[flowctl_lakehouse::arrow_array::RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let ids = b
                .column_by_name("id")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            ids.iter().map(Option::unwrap).collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn projected_reads_return_only_the_named_columns_in_file_order() {
    let fx = Lake::new().await;
    let mut table = fx.simple_table("bronze.events").await;
    let mut snapshots = Vec::new();
    // Several files, their ids out of order: a reader that interleaved files would show it.
    for ids in [&[30, 10][..], &[20], &[50, 40, 45], &[1]] {
        snapshots.push(
            fx.lake
                .append(&table, vec![id_batch(ids)], props(&[]))
                .await
                .unwrap(),
        );
        table = fx.load("bronze.events").await;
    }
    let table = fx
        .lake
        .add_columns(&table, &[Column::optional("email", ColumnType::String)])
        .await
        .unwrap();

    let only_ids = table
        .read_added_by_columns(&snapshots, &["id"])
        .await
        .unwrap();
    for batch in &only_ids {
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["id"]);
    }
    assert_eq!(ids_in_order(&only_ids), [30, 10, 20, 50, 40, 45, 1]);
    // Snapshots in the order asked, not the table's.
    let reversed: Vec<i64> = snapshots.iter().rev().copied().collect();
    assert_eq!(
        ids_in_order(
            &table
                .read_added_by_columns(&reversed, &["id"])
                .await
                .unwrap()
        ),
        [1, 50, 40, 45, 20, 30, 10]
    );

    // Columns come in the table's order whatever the order asked; a column added after the
    // files were written reads as null.
    let files = table.data_files().await.unwrap();
    let batches = table
        .read_files_columns(&files, &["email", "name", "id"])
        .await
        .unwrap();
    let names: Vec<_> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "name", "email"]);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 7);
    for batch in &batches {
        let email = batch.column_by_name("email").unwrap();
        assert_eq!(email.null_count(), batch.num_rows());
        let names = batch
            .column_by_name("name")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let ids = batch
            .column_by_name("id")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        for i in 0..batch.num_rows() {
            assert_eq!(names.value(i), format!("n{}", ids.value(i)));
        }
    }
}

#[tokio::test]
async fn an_unknown_column_is_an_error_naming_the_table_and_its_columns() {
    let fx = Lake::new().await;
    let table = fx.simple_table("bronze.events").await;
    let s = fx
        .lake
        .append(&table, vec![id_batch(&[1])], props(&[]))
        .await
        .unwrap();
    let table = fx.load("bronze.events").await;
    let err = table
        .read_added_by_columns(&[s], &["id", "nope"])
        .await
        .unwrap_err();
    let LakehouseError::Schema(message) = &err else {
        panic!("not a schema error: {err}")
    };
    assert!(message.contains("bronze.events"), "{message}");
    assert!(message.contains("`nope`"), "{message}");
    assert!(message.contains("id, name"), "{message}");
}
