//! A failed commit leaves silver as it was; the next run catches up; conflicts are redone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use flowctl_jobs_merge::{MergeHooks, MergeMode, merge};
use flowctl_lakehouse::LakehouseError;
use serde_json::{Value, json};

use crate::common::{Lake, config, event};

#[tokio::test]
async fn failed_commit_changes_nothing_and_the_next_run_catches_up() {
    let mut fx = Lake::new().await;
    let cfg = config("silver.t", "t", &["id"], MergeMode::Current);
    fx.bronze(&[event("t", "c", Value::Null, json!({"id": 1, "v": 1}), 1, 1)])
        .await;
    fx.merge(&cfg).await;
    let before = fx.table("silver.t").await.current_snapshot_id();
    fx.bronze(&[event("t", "u", Value::Null, json!({"id": 1, "v": 2}), 2, 2)])
        .await;
    let last = fx
        .bronze(&[event("t", "c", Value::Null, json!({"id": 2, "v": 3}), 3, 3)])
        .await;

    let hooks = MergeHooks {
        before_commit: Some(Arc::new(|_| {
            Err(LakehouseError::Io(std::io::Error::other("disk full")))
        })),
    };
    let err = merge(&fx.lake, &cfg, &hooks).await.unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(fx.table("silver.t").await.current_snapshot_id(), before);
    let rows = fx.rows("silver.t").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["v"], json!(1));

    let out = fx.merge(&cfg).await;
    assert_eq!(out.source_snapshot, Some(last));
    assert_eq!((out.inserted, out.updated, out.rows), (1, 1, 2));
    let rows = fx.rows("silver.t").await;
    assert_eq!(
        rows.iter().map(|r| r["v"].clone()).collect::<Vec<_>>(),
        vec![json!(2), json!(3)]
    );
}

#[tokio::test]
async fn commit_conflict_is_redone_from_a_fresh_read() {
    let mut fx = Lake::new().await;
    let cfg = config("silver.t", "t", &["id"], MergeMode::Current);
    fx.bronze(&[event("t", "c", Value::Null, json!({"id": 1, "v": 1}), 1, 1)])
        .await;
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let hooks = MergeHooks {
        before_commit: Some(Arc::new(move |attempt| {
            seen.fetch_add(1, Ordering::SeqCst);
            if attempt == 0 {
                Err(LakehouseError::CommitConflict {
                    table: "silver.t".into(),
                    detail: "injected".into(),
                })
            } else {
                Ok(())
            }
        })),
    };
    let out = merge(&fx.lake, &cfg, &hooks).await.unwrap();
    assert_eq!(out.attempts, 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(out.rows, 1);
    assert_eq!(fx.table("silver.t").await.snapshots().len(), 1);
}
