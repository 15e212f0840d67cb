use flowctl_state::testing::TestStore;
use flowctl_state::{DagChange, Store};

use crate::{dag_with_run, upsert};

#[tokio::test]
async fn apply_reports_created_updated_unchanged_and_pruned() {
    for t in TestStore::each_backend().await {
        check_apply(&t.store).await;
    }
}

async fn check_apply(store: &Store) {
    let report = store
        .apply_dags(&[upsert("b", "v1"), upsert("a", "v1")], &[])
        .await
        .unwrap();
    assert_eq!(
        report.applied,
        vec![
            ("a".to_string(), DagChange::Created),
            ("b".to_string(), DagChange::Created)
        ]
    );
    let first = store.get_dag("a").await.unwrap().unwrap();
    assert!(!first.paused);
    assert_eq!(first.version_hash, "hash-a-v1");
    assert_eq!(first.source_path, "dags/a.yaml");

    let report = store
        .apply_dags(&[upsert("a", "v1"), upsert("b", "v2")], &[])
        .await
        .unwrap();
    assert_eq!(
        report.applied,
        vec![
            ("a".to_string(), DagChange::Unchanged),
            (
                "b".to_string(),
                DagChange::Updated {
                    previous_hash: "hash-b-v1".into()
                }
            ),
        ]
    );
    // Unchanged keeps its update time; the old version stays readable for old runs.
    assert_eq!(
        store.get_dag("a").await.unwrap().unwrap().updated_at,
        first.updated_at
    );
    let old = store
        .get_dag_version("b", "hash-b-v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.source, "dag: b\n# v1\n");
    let new = store
        .get_dag_version("b", "hash-b-v2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.source, "dag: b\n# v2\n");
    assert!(store.get_dag_version("b", "nope").await.unwrap().is_none());

    assert!(store.set_paused("a", true).await.unwrap());
    assert!(store.get_dag("a").await.unwrap().unwrap().paused);
    assert!(!store.set_paused("missing", true).await.unwrap());
    // Re-applying does not unpause.
    store.apply_dags(&[upsert("a", "v3")], &[]).await.unwrap();
    assert!(store.get_dag("a").await.unwrap().unwrap().paused);

    let report = store
        .apply_dags(&[], &["b".to_string(), "ghost".to_string()])
        .await
        .unwrap();
    assert_eq!(report.removed, vec!["b".to_string()]);
    let ids: Vec<String> = store
        .list_dags()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.dag_id)
        .collect();
    assert_eq!(ids, vec!["a".to_string()]);
    assert!(
        store
            .get_dag_version("b", "hash-b-v2")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn pruning_a_dag_deletes_its_runs() {
    for t in TestStore::each_backend().await {
        let run = dag_with_run(&t.store, "gone", &["x", "y"]).await;
        t.store.apply_dags(&[], &["gone".into()]).await.unwrap();
        assert!(t.store.get_run_by_pk(run.id).await.unwrap().is_none());
        assert!(t.store.list_tasks(run.id).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn concurrent_applies_leave_a_consistent_state() {
    for t in TestStore::each_backend().await {
        let other = Store::open(&t.location).await.unwrap();
        for round in 0..5 {
            let a: Vec<_> = (0..20)
                .map(|i| upsert(&format!("d{i}"), &format!("a{round}")))
                .collect();
            let b: Vec<_> = (0..20)
                .map(|i| upsert(&format!("d{i}"), &format!("b{round}")))
                .collect();
            let (ra, rb) = tokio::join!(t.store.apply_dags(&a, &[]), other.apply_dags(&b, &[]));
            ra.unwrap();
            rb.unwrap();
            let dags = t.store.list_dags().await.unwrap();
            assert_eq!(dags.len(), 20);
            for dag in dags {
                // Every DAG points at a stored version, and all of them come from one apply
                // or the other, never a mix of a row from one and a version from the other.
                let version = t
                    .store
                    .get_dag_version(&dag.dag_id, &dag.version_hash)
                    .await
                    .unwrap();
                assert!(
                    version.is_some(),
                    "{} has no version {}",
                    dag.dag_id,
                    dag.version_hash
                );
                assert!(
                    dag.version_hash.ends_with(&format!("a{round}"))
                        || dag.version_hash.ends_with(&format!("b{round}"))
                );
            }
        }
        other.close().await;
    }
}

#[tokio::test]
async fn reopening_an_existing_store_keeps_its_data() {
    for t in TestStore::each_backend().await {
        t.store
            .apply_dags(&[upsert("kept", "v1")], &[])
            .await
            .unwrap();
        let again = Store::open(&t.location).await.unwrap();
        assert_eq!(
            again.get_dag("kept").await.unwrap().unwrap().version_hash,
            "hash-kept-v1"
        );
        again.close().await;
    }
}

#[tokio::test]
async fn check_schema_reports_missing_and_unknown_migrations() {
    for t in TestStore::each_backend().await {
        let store = &t.store;
        store.check_schema().await.unwrap();
        let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(t.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET version = 99990101000000 WHERE version = $1")
            .bind(newest)
            .execute(t.pool())
            .await
            .unwrap();
        let err = store.check_schema().await.unwrap_err().to_string();
        assert!(err.contains(&format!("lacks migrations {newest}")), "{err}");
        sqlx::query("UPDATE _sqlx_migrations SET version = $1 WHERE version = 99990101000000")
            .bind(newest)
            .execute(t.pool())
            .await
            .unwrap();
        store.check_schema().await.unwrap();
    }
}
