//! Copy-on-write overwrites and the compare-and-swap commit.

use std::collections::HashSet;

use flowctl_lakehouse::LakehouseError;

use crate::common::{Lake, id_batch, ids, parquet_files, props};

/// A table with one data file per slice of ids (one snapshot, hence one manifest, each).
async fn three_files(fx: &Lake, name: &str) -> Vec<String> {
    let mut t = fx.simple_table(name).await;
    let mut paths = Vec::new();
    for chunk in [[1, 2], [3, 4], [5, 6]] {
        let s = fx
            .lake
            .append(&t, vec![id_batch(&chunk)], props(&[]))
            .await
            .unwrap();
        t = fx.load(name).await;
        paths.push(t.files_added_by(s).await.unwrap()[0].path.clone());
    }
    paths
}

#[tokio::test]
async fn overwrite_replaces_exactly_the_chosen_files() {
    let fx = Lake::new().await;
    let paths = three_files(&fx, "silver.cur").await;
    let t = fx.load("silver.cur").await;

    // Keys 3 and 4 live in the second file: rewrite it with 3 changed and 4 deleted, add 7.
    let s = fx
        .lake
        .overwrite(
            &t,
            std::slice::from_ref(&paths[1]),
            vec![id_batch(&[3, 7])],
            props(&[("bronze.snapshot", "42")]),
        )
        .await
        .unwrap();
    let t = fx.load("silver.cur").await;
    assert_eq!(ids(&t.scan().await.unwrap()), vec![1, 2, 3, 5, 6, 7]);
    let live: HashSet<String> = t
        .data_files()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(live.contains(&paths[0]) && live.contains(&paths[2]));
    assert!(!live.contains(&paths[1]));
    assert_eq!(live.len(), 3);
    let summary = t.current_summary();
    assert_eq!(t.snapshots().last().unwrap().operation, "overwrite");
    assert_eq!(t.snapshots().last().unwrap().snapshot_id, s);
    assert_eq!(summary["bronze.snapshot"], "42");
    assert_eq!(summary["deleted-data-files"], "1");
    assert_eq!(summary["deleted-records"], "2");
    assert_eq!(summary["added-records"], "2");
    assert_eq!(summary["total-records"], "6");
    assert_eq!(summary["total-data-files"], "3");

    // A second overwrite touching files in two different manifests (the rewritten one and an
    // original), the case that panics in another Iceberg crate.
    let new_file = t.files_added_by(s).await.unwrap()[0].path.clone();
    fx.lake
        .overwrite(
            &t,
            &[paths[0].clone(), new_file],
            vec![id_batch(&[1, 8])],
            props(&[]),
        )
        .await
        .unwrap();
    let t = fx.load("silver.cur").await;
    assert_eq!(ids(&t.scan().await.unwrap()), vec![1, 5, 6, 8]);
    assert_eq!(t.current_summary()["total-records"], "4");
    assert_eq!(t.current_summary()["total-data-files"], "2");

    // Deleting without adding is a `delete` snapshot.
    let last = t.data_files().await.unwrap();
    let victim = last
        .iter()
        .find(|f| f.path == paths[2])
        .unwrap()
        .path
        .clone();
    fx.lake
        .overwrite(&t, &[victim], vec![], props(&[]))
        .await
        .unwrap();
    let t = fx.load("silver.cur").await;
    assert_eq!(ids(&t.scan().await.unwrap()), vec![1, 8]);
    assert_eq!(t.snapshots().last().unwrap().operation, "delete");
}

#[tokio::test]
async fn overwrite_rejects_files_that_are_not_live() {
    let fx = Lake::new().await;
    let paths = three_files(&fx, "silver.gone").await;
    let t = fx.load("silver.gone").await;
    fx.lake
        .overwrite(&t, &[paths[0].clone()], vec![], props(&[]))
        .await
        .unwrap();
    let t = fx.load("silver.gone").await;
    for bogus in [paths[0].clone(), "file:///nowhere.parquet".to_owned()] {
        let err = fx
            .lake
            .overwrite(
                &t,
                std::slice::from_ref(&bogus),
                vec![id_batch(&[9])],
                props(&[]),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, LakehouseError::UnknownDataFile { ref path, .. } if *path == bogus),
            "{err}"
        );
    }
    // The rejected attempts left neither a snapshot nor files behind.
    assert_eq!(ids(&t.scan().await.unwrap()), vec![3, 4, 5, 6]);
    assert_eq!(fx.load("silver.gone").await.snapshots().len(), 4);
    assert_eq!(parquet_files(&fx.warehouse_path()).len(), 3);
}

#[tokio::test]
async fn concurrent_overwrites_exactly_one_wins() {
    let fx = Lake::new().await;
    let paths = three_files(&fx, "silver.cc").await;
    // Two writers with their own catalog connections, both starting from the same state.
    let other = fx.reopen().await;
    let a_base = fx.load("silver.cc").await;
    let b_base = other.load_table(a_base.name()).await.unwrap();
    let victim = std::slice::from_ref(&paths[0]);
    let (a, b) = tokio::join!(
        fx.lake.overwrite(
            &a_base,
            victim,
            vec![id_batch(&[1, 100])],
            props(&[("w", "a")])
        ),
        other.overwrite(
            &b_base,
            victim,
            vec![id_batch(&[1, 200])],
            props(&[("w", "b")])
        ),
    );
    let (winner, loser_err) = match (a, b) {
        (Ok(_), Err(e)) => ("a", e),
        (Err(e), Ok(_)) => ("b", e),
        (a, b) => panic!("expected exactly one winner, got {a:?} and {b:?}"),
    };
    assert!(
        matches!(loser_err, LakehouseError::CommitConflict { .. }),
        "{loser_err}"
    );
    assert!(loser_err.is_retryable());

    let t = fx.load("silver.cc").await;
    let winner_key = if winner == "a" { 100 } else { 200 };
    assert_eq!(
        ids(&t.scan().await.unwrap()),
        vec![1, 3, 4, 5, 6, winner_key]
    );
    assert_eq!(t.current_summary()["w"], winner);
    assert_eq!(t.snapshots().len(), 4);
    // The loser's files were removed: every Parquet file on disk is one some snapshot wrote.
    let mut referenced = HashSet::new();
    for s in t.snapshots() {
        for f in t.files_added_by(s.snapshot_id).await.unwrap() {
            referenced.insert(f.path);
        }
    }
    let on_disk: HashSet<String> = parquet_files(&fx.warehouse_path()).into_iter().collect();
    assert_eq!(on_disk, referenced);

    // The loser retries on the new state: its change lands on top, nothing of the winner's lost.
    let (loser, loser_key) = if winner == "a" {
        (&other, 200)
    } else {
        (&fx.lake, 100)
    };
    let fresh = loser.load_table(t.name()).await.unwrap();
    let holder = fresh
        .data_files()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.added_snapshot_id == fresh.current_snapshot_id().unwrap())
        .unwrap();
    let mut rewritten = ids(&fresh
        .read_files(std::slice::from_ref(&holder))
        .await
        .unwrap());
    rewritten.push(loser_key);
    let batch = id_batch(&rewritten);
    loser
        .overwrite(&fresh, &[holder.path], vec![batch], props(&[]))
        .await
        .unwrap();
    let t = fx.load("silver.cc").await;
    assert_eq!(ids(&t.scan().await.unwrap()), vec![1, 3, 4, 5, 6, 100, 200]);
}

#[tokio::test]
async fn concurrent_appends_from_many_writers_lose_nothing() {
    let fx = Lake::new().await;
    fx.simple_table("bronze.many").await;
    let mut writers = Vec::new();
    for w in 0..4i64 {
        let lake = fx.reopen().await;
        writers.push(tokio::spawn(async move {
            let name = flowctl_lakehouse::TableName::parse("bronze.many").unwrap();
            let mut conflicts = 0;
            for i in 0..3i64 {
                loop {
                    let base = lake.load_table(&name).await.unwrap();
                    match lake
                        .append(&base, vec![id_batch(&[w * 10 + i])], props(&[]))
                        .await
                    {
                        Ok(_) => break,
                        Err(e) if e.is_retryable() => conflicts += 1,
                        Err(e) => panic!("writer {w}: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let t = fx.load("bronze.many").await;
    let expected: Vec<i64> = (0..4)
        .flat_map(|w| (0..3).map(move |i| w * 10 + i))
        .collect();
    assert_eq!(ids(&t.scan().await.unwrap()), expected);
    assert_eq!(t.snapshots().len(), 12);
    assert_eq!(parquet_files(&fx.warehouse_path()).len(), 12);
}

#[tokio::test]
async fn replace_all_swaps_the_whole_content() {
    let fx = Lake::new().await;
    three_files(&fx, "gold.rep").await;
    let t = fx.load("gold.rep").await;
    fx.lake
        .replace_all(&t, vec![id_batch(&[42])], props(&[("mode", "replace")]))
        .await
        .unwrap();
    let t = fx.load("gold.rep").await;
    assert_eq!(ids(&t.scan().await.unwrap()), vec![42]);
    assert_eq!(t.current_summary()["total-records"], "1");
    assert_eq!(t.current_summary()["deleted-data-files"], "3");
    // The rewritten manifests hold only deletions; the next commit stops carrying them.
    assert_eq!(manifest_count(&t).await, 4);
    fx.lake
        .append(&t, vec![id_batch(&[43])], props(&[]))
        .await
        .unwrap();
    let t = fx.load("gold.rep").await;
    assert_eq!(manifest_count(&t).await, 2);
    assert_eq!(ids(&t.scan().await.unwrap()), vec![42, 43]);
    // Replacing with nothing empties the table.
    fx.lake.replace_all(&t, vec![], props(&[])).await.unwrap();
    let t = fx.load("gold.rep").await;
    assert!(t.scan().await.unwrap().is_empty());
    assert_eq!(t.current_summary()["total-records"], "0");
}

async fn manifest_count(t: &flowctl_lakehouse::LakeTable) -> usize {
    let table = t.iceberg();
    let snapshot = table.metadata().current_snapshot().unwrap();
    table
        .manifest_list_reader(snapshot)
        .load()
        .await
        .unwrap()
        .entries()
        .len()
}

#[tokio::test]
async fn overwrite_groups_writes_a_file_per_group_in_one_commit() {
    let fx = Lake::new().await;
    let paths = three_files(&fx, "silver.groups").await;
    let t = fx.load("silver.groups").await;
    let s = fx
        .lake
        .overwrite_groups(
            &t,
            &paths[..2],
            vec![
                vec![id_batch(&[1, 2]), id_batch(&[3])],
                vec![id_batch(&[8, 9])],
                vec![id_batch(&[10])],
            ],
            props(&[("bronze.snapshot", "7")]),
        )
        .await
        .unwrap();
    let t = fx.load("silver.groups").await;
    assert_eq!(ids(&t.scan().await.unwrap()), vec![1, 2, 3, 5, 6, 8, 9, 10]);
    assert_eq!(t.current_snapshot_id(), Some(s));
    assert_eq!(t.current_summary()["bronze.snapshot"], "7");
    // One file per group, each holding exactly its group's rows.
    let mut added: Vec<(u64, Vec<i64>)> = Vec::new();
    for file in t.files_added_by(s).await.unwrap() {
        let rows = ids(&t.read_files(std::slice::from_ref(&file)).await.unwrap());
        added.push((file.record_count, rows));
    }
    added.sort();
    assert_eq!(
        added,
        vec![(1, vec![10]), (2, vec![8, 9]), (3, vec![1, 2, 3])]
    );
    assert_eq!(t.data_files().await.unwrap().len(), 4);
}
