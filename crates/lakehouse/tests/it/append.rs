//! Appends, scans, snapshot summaries and incremental reads.

use std::fs::File;

use flowctl_lakehouse::LakehouseError;
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::common::{Lake, id_batch, ids, parquet_files, props};

#[tokio::test]
async fn append_twice_scan_all_rows_and_summary_round_trips() {
    let fx = Lake::new().await;
    let t0 = fx.simple_table("bronze.events").await;
    assert_eq!(t0.current_snapshot_id(), None);
    assert!(t0.current_summary().is_empty());
    assert!(t0.scan().await.unwrap().is_empty());

    let s1 = fx
        .lake
        .append(
            &t0,
            vec![id_batch(&[1, 2]), id_batch(&[3])],
            props(&[("kafka.offsets", "p0=3")]),
        )
        .await
        .unwrap();
    let t1 = fx.load("bronze.events").await;
    let s2 = fx
        .lake
        .append(
            &t1,
            vec![id_batch(&[4, 5])],
            props(&[("kafka.offsets", "p0=5")]),
        )
        .await
        .unwrap();
    let t2 = fx.load("bronze.events").await;

    assert_eq!(ids(&t2.scan().await.unwrap()), vec![1, 2, 3, 4, 5]);
    assert_eq!(t2.current_snapshot_id(), Some(s2));
    let summary = t2.current_summary();
    assert_eq!(summary["kafka.offsets"], "p0=5");
    assert_eq!(summary["added-records"], "2");
    assert_eq!(summary["total-records"], "5");
    assert_eq!(summary["total-data-files"], "2");

    let history = t2.snapshots();
    assert_eq!(history.len(), 2);
    assert_eq!((history[0].snapshot_id, history[0].parent_id), (s1, None));
    assert_eq!(
        (history[1].snapshot_id, history[1].parent_id),
        (s2, Some(s1))
    );
    assert_eq!(history[0].summary["kafka.offsets"], "p0=3");
    assert_eq!(history[1].operation, "append");
    assert!(history[1].timestamp().is_some());

    // Incremental: what came after s1 is s2, and s2 added exactly rows 4 and 5.
    let pending = t2.snapshots_after(Some(s1)).unwrap();
    assert_eq!(
        pending.iter().map(|s| s.snapshot_id).collect::<Vec<_>>(),
        vec![s2]
    );
    assert_eq!(t2.snapshots_after(None).unwrap().len(), 2);
    assert!(t2.snapshots_after(Some(s2)).unwrap().is_empty());
    assert!(matches!(
        t2.snapshots_after(Some(12345)),
        Err(LakehouseError::SnapshotNotFound {
            snapshot_id: 12345,
            ..
        })
    ));
    assert_eq!(ids(&t2.read_added_by(&[s2]).await.unwrap()), vec![4, 5]);
    assert_eq!(
        ids(&t2.read_added_by(&[s1, s2]).await.unwrap()),
        vec![1, 2, 3, 4, 5]
    );
    let added = t2.files_added_by(s1).await.unwrap();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].record_count, 3);
    assert_eq!(added[0].added_snapshot_id, s1);
}

#[tokio::test]
async fn data_files_are_zstd_parquet_with_unique_names() {
    let fx = Lake::new().await;
    let mut table = fx.simple_table("bronze.z").await;
    for i in 0..3 {
        fx.lake
            .append(&table, vec![id_batch(&[i])], props(&[]))
            .await
            .unwrap();
        table = fx.load("bronze.z").await;
    }
    let files = table.data_files().await.unwrap();
    assert_eq!(files.len(), 3);
    let mut paths: Vec<_> = files.iter().map(|f| f.path.clone()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 3, "file names must not repeat across writes");
    assert_eq!(paths, parquet_files(&fx.warehouse_path()));
    for path in &paths {
        let reader =
            SerializedFileReader::new(File::open(path.trim_start_matches("file://")).unwrap())
                .unwrap();
        let row_group = reader.metadata().row_group(0);
        for column in row_group.columns() {
            assert!(
                matches!(column.compression(), Compression::ZSTD(_)),
                "{path}: column {} is {:?}",
                column.column_path(),
                column.compression()
            );
        }
    }
}

#[tokio::test]
async fn offsets_only_commit_and_nothing_to_commit() {
    let fx = Lake::new().await;
    let t0 = fx.simple_table("bronze.quiet").await;
    fx.lake
        .append(&t0, vec![id_batch(&[1])], props(&[("offsets", "a")]))
        .await
        .unwrap();
    let t1 = fx.load("bronze.quiet").await;

    // No rows (an empty batch and no batch at all), new offsets: still a snapshot.
    let empty = id_batch(&[]);
    let s = fx
        .lake
        .append(&t1, vec![empty], props(&[("offsets", "b")]))
        .await
        .unwrap();
    let t2 = fx.load("bronze.quiet").await;
    assert_eq!(t2.current_snapshot_id(), Some(s));
    assert_eq!(t2.current_summary()["offsets"], "b");
    assert_eq!(t2.current_summary()["total-records"], "1");
    assert_eq!(ids(&t2.scan().await.unwrap()), vec![1]);
    assert!(t2.files_added_by(s).await.unwrap().is_empty());

    let err = fx.lake.append(&t2, vec![], props(&[])).await.unwrap_err();
    assert!(matches!(err, LakehouseError::NothingToCommit(_)), "{err}");
    let err = fx
        .lake
        .append(&t2, vec![], props(&[("operation", "x")]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LakehouseError::ReservedSummaryKey(_)),
        "{err}"
    );
    assert_eq!(fx.load("bronze.quiet").await.current_snapshot_id(), Some(s));
}

#[tokio::test]
async fn latest_summary_value_walks_back_the_history() {
    let fx = Lake::new().await;
    let t = fx.simple_table("silver.h").await;
    fx.lake
        .append(&t, vec![id_batch(&[1])], props(&[("last", "7")]))
        .await
        .unwrap();
    let t = fx.load("silver.h").await;
    fx.lake
        .append(&t, vec![id_batch(&[2])], props(&[]))
        .await
        .unwrap();
    let t = fx.load("silver.h").await;
    assert!(!t.current_summary().contains_key("last"));
    assert_eq!(t.latest_summary_value("last").as_deref(), Some("7"));
    assert_eq!(t.latest_summary_value("nope"), None);
}

#[tokio::test]
async fn stale_append_conflicts_and_leaves_no_files_behind() {
    let fx = Lake::new().await;
    let base = fx.simple_table("bronze.race").await;
    fx.lake
        .append(&base, vec![id_batch(&[1])], props(&[("o", "1")]))
        .await
        .unwrap();
    let files_before = parquet_files(&fx.warehouse_path());

    // Same base again: the table moved on, so this must not commit (no silent re-base).
    let err = fx
        .lake
        .append(&base, vec![id_batch(&[1])], props(&[("o", "1")]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LakehouseError::CommitConflict { .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    let now = fx.load("bronze.race").await;
    assert_eq!(ids(&now.scan().await.unwrap()), vec![1]);
    assert_eq!(now.snapshots().len(), 1);
    assert_eq!(parquet_files(&fx.warehouse_path()), files_before);
}

#[tokio::test]
async fn batches_are_matched_by_name_and_checked() {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    let fx = Lake::new().await;
    let t = fx.simple_table("bronze.shape").await;
    // Columns in another order, id as Int32: cast to long; a missing optional column is null.
    let swapped = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("id", DataType::Int32, false),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
            Arc::new(Int32Array::from(vec![9])) as ArrayRef,
        ],
    )
    .unwrap();
    let only_id = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, false)])),
        vec![Arc::new(Int32Array::from(vec![10])) as ArrayRef],
    )
    .unwrap();
    fx.lake
        .append(&t, vec![swapped, only_id], props(&[]))
        .await
        .unwrap();
    let t = fx.load("bronze.shape").await;
    let rows = crate::common::rows(&t.scan().await.unwrap());
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["id"].as_str(), rows[0]["name"].as_str()),
        ("9", "x")
    );
    assert_eq!(
        (rows[1]["id"].as_str(), rows[1]["name"].as_str()),
        ("10", "")
    );

    let extra = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("surprise", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int32Array::from(vec![1])) as ArrayRef,
            Arc::new(StringArray::from(vec!["?"])) as ArrayRef,
        ],
    )
    .unwrap();
    let err = fx
        .lake
        .append(&t, vec![extra], props(&[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LakehouseError::Schema(ref m) if m.contains("surprise")),
        "{err}"
    );
    let no_id = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("name", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec!["a"])) as ArrayRef],
    )
    .unwrap();
    let err = fx
        .lake
        .append(&t, vec![no_id], props(&[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LakehouseError::Schema(ref m) if m.contains("id")),
        "{err}"
    );
    assert_eq!(fx.load("bronze.shape").await.snapshots().len(), 1);
}
