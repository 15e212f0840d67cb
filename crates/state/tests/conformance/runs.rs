use std::time::Instant;

use chrono::Utc;
use flowctl_state::testing::TestStore;
use flowctl_state::{
    AttemptState, Batch, Finish, RunState, RunTransition, RunType, Store, StoreError, TaskReset,
    TaskState,
};

use crate::{at, dag_with_run, new_run, upsert};

#[tokio::test]
async fn runs_are_created_with_their_tasks_once() {
    for t in TestStore::each_backend().await {
        check_create(&t.store).await;
    }
}

async fn check_create(store: &Store) {
    let run = dag_with_run(store, "d", &["extract", "load"]).await;
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.params["topic"], "orders");

    let read = store.get_run("d", "scheduled__1").await.unwrap().unwrap();
    assert_eq!(read, run);
    assert_eq!(store.get_run_by_pk(run.id).await.unwrap().unwrap(), run);
    assert!(store.get_run("d", "nope").await.unwrap().is_none());

    // Same run id: nothing written.
    let again = store
        .create_run(&new_run("d", "scheduled__1", at(5, 0), &["other"]))
        .await
        .unwrap();
    assert!(again.is_none());
    let tasks = store.list_tasks(run.id).await.unwrap();
    let ids: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["extract", "load"]);
    assert!(
        tasks
            .iter()
            .all(|t| t.state == TaskState::Queued && t.try_number == 0 && t.max_tries == 2)
    );
    let load = store.get_task(run.id, "load").await.unwrap().unwrap();
    assert_eq!(load, tasks[1]);
}

#[tokio::test]
async fn a_ten_thousand_step_run_is_created_in_one_go() {
    for t in TestStore::each_backend().await {
        t.store
            .apply_dags(&[upsert("big", "v1")], &[])
            .await
            .unwrap();
        let names: Vec<String> = (0..10_000).map(|i| format!("step_{i:05}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let started = Instant::now();
        let run = t
            .store
            .create_run(&new_run("big", "manual__1", at(0, 0), &refs))
            .await
            .unwrap()
            .unwrap();
        eprintln!(
            "{:?}: 10,000-task run created in {:?}",
            t.store.backend(),
            started.elapsed()
        );
        let tasks = t.store.list_tasks(run.id).await.unwrap();
        assert_eq!(tasks.len(), 10_000);
        assert_eq!(tasks[9_999].task_id, "step_09999");
    }
}

#[tokio::test]
async fn runs_are_listed_counted_and_found_by_interval() {
    for t in TestStore::each_backend().await {
        check_listing(&t.store).await;
    }
}

async fn check_listing(store: &Store) {
    store
        .apply_dags(&[upsert("d", "v1"), upsert("e", "v1")], &[])
        .await
        .unwrap();
    assert_eq!(store.last_scheduled_end("d").await.unwrap(), None);
    for h in [2, 0, 1] {
        store
            .create_run(&new_run("d", &format!("scheduled__{h}"), at(h, 0), &["a"]))
            .await
            .unwrap()
            .unwrap();
    }
    let mut manual = new_run("d", "manual__9", at(9, 0), &["a"]);
    manual.run_type = RunType::Manual;
    let manual = store.create_run(&manual).await.unwrap().unwrap();
    store
        .create_run(&new_run("e", "scheduled__0", at(0, 0), &["a"]))
        .await
        .unwrap()
        .unwrap();

    let runs = store.list_runs("d", 3).await.unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["manual__9", "scheduled__2", "scheduled__1"]);
    // Manual runs do not move the schedule.
    assert_eq!(store.last_scheduled_end("d").await.unwrap(), Some(at(3, 0)));
    assert_eq!(store.count_active_runs("d").await.unwrap(), 4);
    assert_eq!(store.active_runs().await.unwrap().len(), 5);

    let between = store.runs_between("d", at(1, 0), at(2, 0)).await.unwrap();
    let ids: Vec<&str> = between.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["scheduled__1", "scheduled__2"]);

    store
        .set_run_state(manual.id, RunState::Running, at(10, 0))
        .await
        .unwrap();
    store
        .set_run_state(manual.id, RunState::Running, at(11, 0))
        .await
        .unwrap();
    store
        .set_run_state(manual.id, RunState::Success, at(12, 0))
        .await
        .unwrap();
    let done = store.get_run_by_pk(manual.id).await.unwrap().unwrap();
    assert_eq!(done.state, RunState::Success);
    assert_eq!(done.started_at, Some(at(10, 0)), "the first start is kept");
    assert_eq!(done.ended_at, Some(at(12, 0)));
    assert_eq!(store.count_active_runs("d").await.unwrap(), 3);
}

#[tokio::test]
async fn clearing_resets_tasks_and_keeps_history() {
    for t in TestStore::each_backend().await {
        check_clear(&t.store).await;
    }
}

async fn check_clear(store: &Store) {
    let run = dag_with_run(store, "d", &["a", "b"]).await;
    let tasks = store.list_tasks(run.id).await.unwrap();
    let (a, b) = (tasks[0].id, tasks[1].id);
    let now = Utc::now();
    let claim = Batch {
        holder: "w1".into(),
        now,
        lease_until: now + chrono::Duration::seconds(30),
        claims: vec![a],
        run: Some(RunTransition {
            run_pk: run.id,
            state: RunState::Running,
        }),
        ..Batch::default()
    };
    store.apply_batch(&claim).await.unwrap();
    store.save_handle(a, "glue_run", "jr_1", 1).await.unwrap();

    let err = store
        .clear_tasks(run.id, &[TaskReset { ti_id: a, tries: 1 }])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    let finish = Batch {
        holder: "w1".into(),
        now,
        lease_until: now,
        finished: vec![Finish {
            ti_id: a,
            try_number: 1,
            attempt_state: AttemptState::Success,
            task_state: TaskState::Success,
            ended_at: now,
            exit_code: Some(0),
            error: None,
            next_try_at: None,
            extra_tries: 0,
            outputs: vec![("rows".into(), "42".into())],
            log_tail: None,
        }],
        upstream_failed: vec![b],
        run: Some(RunTransition {
            run_pk: run.id,
            state: RunState::Failed,
        }),
        ..Batch::default()
    };
    store.apply_batch(&finish).await.unwrap();
    assert_eq!(store.run_outputs(run.id).await.unwrap()["a"]["rows"], "42");

    store
        .clear_tasks(
            run.id,
            &[
                TaskReset { ti_id: a, tries: 3 },
                TaskReset { ti_id: b, tries: 1 },
            ],
        )
        .await
        .unwrap();
    let tasks = store.list_tasks(run.id).await.unwrap();
    assert!(
        tasks
            .iter()
            .all(|t| t.state == TaskState::Queued && t.ended_at.is_none())
    );
    assert_eq!(
        (tasks[0].try_number, tasks[0].max_tries),
        (1, 4),
        "next try is 2 of 4"
    );
    assert!(store.run_outputs(run.id).await.unwrap().is_empty());
    assert_eq!(
        store.load_handle(a, "glue_run").await.unwrap(),
        None,
        "a cleared task must not reconnect to an earlier remote run"
    );
    assert_eq!(
        store.list_attempts(a).await.unwrap().len(),
        1,
        "history kept"
    );
    let run = store.get_run_by_pk(run.id).await.unwrap().unwrap();
    assert_eq!((run.state, run.ended_at), (RunState::Queued, None));
}

#[tokio::test]
async fn one_process_at_a_time_executes_a_run() {
    for t in TestStore::each_backend().await {
        let store = &t.store;
        let run = dag_with_run(store, "d", &["a"]).await;
        let now = Utc::now();
        let soon = now + chrono::Duration::seconds(30);
        assert!(store.claim_run(run.id, "p1", now, soon).await.unwrap());
        assert!(
            store.claim_run(run.id, "p1", now, soon).await.unwrap(),
            "re-claim by the holder"
        );
        assert!(!store.claim_run(run.id, "p2", now, soon).await.unwrap());
        let leased = store.get_run_by_pk(run.id).await.unwrap().unwrap();
        assert_eq!(leased.holder.as_deref(), Some("p1"));

        // A live executor blocks clearing.
        let ti = store.list_tasks(run.id).await.unwrap()[0].id;
        let err = store
            .clear_tasks(
                run.id,
                &[TaskReset {
                    ti_id: ti,
                    tries: 1,
                }],
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("p1"), "{err}");

        // Renewal extends the run lease too; once expired another process may take over.
        let later = now + chrono::Duration::minutes(5);
        store.renew_leases("p1", later).await.unwrap();
        assert!(
            !store
                .claim_run(run.id, "p2", now + chrono::Duration::minutes(1), later)
                .await
                .unwrap()
        );
        assert!(
            store
                .claim_run(run.id, "p2", later + chrono::Duration::seconds(1), later)
                .await
                .unwrap()
        );

        store.release_run(run.id, "p1").await.unwrap();
        assert_eq!(
            store
                .get_run_by_pk(run.id)
                .await
                .unwrap()
                .unwrap()
                .holder
                .as_deref(),
            Some("p2"),
            "only the holder releases"
        );
        store.release_run(run.id, "p2").await.unwrap();
        assert!(store.claim_run(run.id, "p3", now, soon).await.unwrap());
    }
}

#[tokio::test]
async fn task_handles_survive_tries_and_are_replaced_and_removed() {
    for t in TestStore::each_backend().await {
        let store = &t.store;
        let run = dag_with_run(store, "d", &["a", "b"]).await;
        let tasks = store.list_tasks(run.id).await.unwrap();
        let (a, b) = (tasks[0].id, tasks[1].id);
        assert_eq!(store.load_handle(a, "glue_run").await.unwrap(), None);

        store.save_handle(a, "glue_run", "jr_1", 1).await.unwrap();
        store
            .save_handle(b, "glue_run", "jr_other", 1)
            .await
            .unwrap();
        let got = store.load_handle(a, "glue_run").await.unwrap().unwrap();
        assert_eq!((got.value.as_str(), got.try_number), ("jr_1", 1));

        store.save_handle(a, "glue_run", "jr_2", 2).await.unwrap();
        let got = store.load_handle(a, "glue_run").await.unwrap().unwrap();
        assert_eq!(
            (got.value.as_str(), got.try_number),
            ("jr_2", 2),
            "replaced"
        );

        store.remove_handle(a, "glue_run").await.unwrap();
        assert_eq!(store.load_handle(a, "glue_run").await.unwrap(), None);
        assert_eq!(
            store
                .load_handle(b, "glue_run")
                .await
                .unwrap()
                .unwrap()
                .value,
            "jr_other",
            "handles belong to one task instance"
        );
    }
}
