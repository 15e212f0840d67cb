use std::collections::HashSet;

use chrono::{Duration, Utc};
use flowctl_state::testing::TestStore;
use flowctl_state::{AttemptState, Batch, Finish, RunState, RunTransition, Store, TaskState};

use crate::dag_with_run;

fn claim(holder: &str, ids: Vec<i64>) -> Batch {
    let now = Utc::now();
    Batch {
        holder: holder.into(),
        now,
        lease_until: now + Duration::seconds(30),
        claims: ids,
        ..Batch::default()
    }
}

fn finish(ti_id: i64, try_number: u32, task_state: TaskState) -> Finish {
    let failed = task_state != TaskState::Success;
    Finish {
        ti_id,
        try_number,
        attempt_state: if failed {
            AttemptState::Failed
        } else {
            AttemptState::Success
        },
        task_state,
        ended_at: Utc::now(),
        exit_code: Some(if failed { 3 } else { 0 }),
        error: failed.then(|| "exit status 3".to_string()),
        next_try_at: None,
        extra_tries: 0,
        outputs: vec![],
        log_tail: None,
    }
}

#[tokio::test]
async fn claims_finishes_and_retries() {
    for t in TestStore::each_backend().await {
        check_claim_finish(&t.store).await;
    }
}

async fn check_claim_finish(store: &Store) {
    let run = dag_with_run(store, "d", &["a", "b", "c", "d"]).await;
    let ids: Vec<i64> = store
        .list_tasks(run.id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    let (a, b, c, d) = (ids[0], ids[1], ids[2], ids[3]);

    let mut batch = claim("w1", vec![a, b]);
    batch.run = Some(RunTransition {
        run_pk: run.id,
        state: RunState::Running,
    });
    let out = store.apply_batch(&batch).await.unwrap();
    let claimed: Vec<(i64, u32)> = out
        .claimed
        .iter()
        .map(|c| (c.ti_id, c.try_number))
        .collect();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.contains(&(a, 1)) && claimed.contains(&(b, 1)));
    let run_now = store.get_run_by_pk(run.id).await.unwrap().unwrap();
    assert_eq!(run_now.state, RunState::Running);
    assert!(run_now.started_at.is_some());

    // Already claimed: a second claim gets nothing.
    let out = store.apply_batch(&claim("w2", vec![a])).await.unwrap();
    assert!(out.claimed.is_empty());
    let task_a = store.get_task(run.id, "a").await.unwrap().unwrap();
    assert_eq!(task_a.state, TaskState::Running);
    assert_eq!(task_a.holder.as_deref(), Some("w1"));
    assert!(task_a.lease_expires_at.is_some());
    let attempts = store.list_attempts(a).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].state, attempts[0].holder.as_str()),
        (AttemptState::Running, "w1")
    );

    // A finish from another holder is stale and ignored.
    let stale = Batch {
        holder: "w2".into(),
        finished: vec![finish(a, 1, TaskState::Success)],
        ..claim("w2", vec![])
    };
    let out = store.apply_batch(&stale).await.unwrap();
    assert_eq!(out.stale, vec![a]);
    assert_eq!(
        store.get_task(run.id, "a").await.unwrap().unwrap().state,
        TaskState::Running
    );

    // a succeeds with outputs; b fails with a retry due in an hour.
    let mut ok = finish(a, 1, TaskState::Success);
    ok.outputs = vec![
        ("path".into(), "s3://x".into()),
        ("rows".into(), "7".into()),
    ];
    let mut retry = finish(b, 1, TaskState::UpForRetry);
    let retry_at = Utc::now() + Duration::hours(1);
    retry.next_try_at = Some(retry_at);
    let batch = Batch {
        finished: vec![ok, retry],
        ..claim("w1", vec![])
    };
    let out = store.apply_batch(&batch).await.unwrap();
    assert!(out.stale.is_empty());
    let task_a = store.get_task(run.id, "a").await.unwrap().unwrap();
    assert_eq!(
        (task_a.state, task_a.holder.clone()),
        (TaskState::Success, None)
    );
    assert!(task_a.ended_at.is_some());
    let outputs = store.run_outputs(run.id).await.unwrap();
    assert_eq!(outputs["a"]["rows"], "7");
    assert_eq!(outputs["a"]["path"], "s3://x");
    let task_b = store.get_task(run.id, "b").await.unwrap().unwrap();
    assert_eq!(task_b.state, TaskState::UpForRetry);
    assert_eq!(
        task_b.next_try_at.map(|t| t.timestamp_micros()),
        Some(retry_at.timestamp_micros())
    );
    let attempt = &store.list_attempts(b).await.unwrap()[0];
    assert_eq!(attempt.state, AttemptState::Failed);
    assert_eq!(
        (attempt.exit_code, attempt.error.as_deref()),
        (Some(3), Some("exit status 3"))
    );
    assert!(attempt.ended_at.is_some());

    // Not due yet: no claim. Due: claimed as try 2.
    assert!(
        store
            .apply_batch(&claim("w1", vec![b]))
            .await
            .unwrap()
            .claimed
            .is_empty()
    );
    let mut later = claim("w1", vec![b]);
    later.now = retry_at + Duration::seconds(1);
    let out = store.apply_batch(&later).await.unwrap();
    assert_eq!(
        out.claimed
            .iter()
            .map(|c| (c.ti_id, c.try_number))
            .collect::<Vec<_>>(),
        vec![(b, 2)]
    );
    assert_eq!(store.list_attempts(b).await.unwrap().len(), 2);

    // An interrupted try does not consume a retry.
    let mut interrupted = finish(b, 2, TaskState::UpForRetry);
    interrupted.extra_tries = 1;
    interrupted.next_try_at = Some(Utc::now());
    store
        .apply_batch(&Batch {
            finished: vec![interrupted],
            ..claim("w1", vec![])
        })
        .await
        .unwrap();
    let task_b = store.get_task(run.id, "b").await.unwrap().unwrap();
    assert_eq!((task_b.try_number, task_b.max_tries), (2, 3));

    // Only queued tasks are resolved as skipped / upstream_failed.
    let resolve = Batch {
        skipped: vec![c, a],
        upstream_failed: vec![d],
        ..claim("w1", vec![])
    };
    store.apply_batch(&resolve).await.unwrap();
    let states: Vec<TaskState> = store
        .list_tasks(run.id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.state)
        .collect();
    assert_eq!(
        states,
        [
            TaskState::Success,
            TaskState::UpForRetry,
            TaskState::Skipped,
            TaskState::UpstreamFailed
        ]
    );
    assert!(
        store
            .apply_batch(&claim("w1", vec![c, d]))
            .await
            .unwrap()
            .claimed
            .is_empty()
    );
}

#[tokio::test]
async fn two_processes_never_claim_the_same_task() {
    for t in TestStore::each_backend().await {
        let other = Store::open(&t.location).await.unwrap();
        let names: Vec<String> = (0..200).map(|i| format!("s{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let run = dag_with_run(&t.store, "race", &refs).await;
        let ids: Vec<i64> = t
            .store
            .list_tasks(run.id)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect();
        let mut seen = HashSet::new();
        for chunk in ids.chunks(20) {
            let (b1, b2) = (
                claim("p1", chunk.to_vec()),
                claim("p2", chunk.iter().rev().copied().collect()),
            );
            let (x, y) = tokio::join!(t.store.apply_batch(&b1), other.apply_batch(&b2));
            let (x, y) = (x.unwrap(), y.unwrap());
            for c in x.claimed.iter().chain(&y.claimed) {
                assert!(seen.insert(c.ti_id), "task {} claimed twice", c.ti_id);
            }
        }
        assert_eq!(seen.len(), 200);
        other.close().await;
    }
}

#[tokio::test]
async fn expired_leases_are_renewed_or_recovered() {
    for t in TestStore::each_backend().await {
        check_leases(&t.store).await;
    }
}

async fn check_leases(store: &Store) {
    let run = dag_with_run(store, "d", &["a", "b"]).await;
    let ids: Vec<i64> = store
        .list_tasks(run.id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    let (a, b) = (ids[0], ids[1]);
    let mut batch = claim("dead", vec![a]);
    batch.lease_until = Utc::now() - Duration::seconds(1);
    store.apply_batch(&batch).await.unwrap();
    store.apply_batch(&claim("alive", vec![b])).await.unwrap();

    // Renewal touches only the holder's running task instances.
    let until = Utc::now() + Duration::minutes(5);
    assert_eq!(store.renew_leases("alive", until).await.unwrap(), 1);
    let task_b = store.get_task(run.id, "b").await.unwrap().unwrap();
    assert_eq!(
        task_b.lease_expires_at.map(|t| t.timestamp_micros()),
        Some(until.timestamp_micros())
    );

    let recovered = store
        .recover_expired_leases(Utc::now(), None, 3)
        .await
        .unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!((recovered[0].ti_id, recovered[0].try_number), (a, 1));
    assert_eq!(recovered[0].holder.as_deref(), Some("dead"));
    assert_eq!(recovered[0].new_state, TaskState::Queued);
    let task_a = store.get_task(run.id, "a").await.unwrap().unwrap();
    assert_eq!(
        (task_a.state, task_a.holder.clone(), task_a.lost_count),
        (TaskState::Queued, None, 1)
    );
    assert_eq!(task_a.max_tries, 3, "a lost try is given back");
    let attempt = &store.list_attempts(a).await.unwrap()[0];
    assert_eq!(attempt.state, AttemptState::Lost);
    assert_eq!(
        attempt.error.as_deref(),
        Some("worker lost (lease expired)")
    );
    // Nothing left to recover; the dead holder's late finish is ignored.
    assert!(
        store
            .recover_expired_leases(Utc::now(), None, 3)
            .await
            .unwrap()
            .is_empty()
    );
    let late = Batch {
        finished: vec![finish(a, 1, TaskState::Success)],
        ..claim("dead", vec![])
    };
    assert_eq!(store.apply_batch(&late).await.unwrap().stale, vec![a]);

    // Losses beyond the free ones count like failures: tries left -> up_for_retry, else failed.
    let mut lost_states = Vec::new();
    for _ in 0..4 {
        let mut batch = claim("dead", vec![a]);
        batch.lease_until = Utc::now() - Duration::seconds(1);
        let out = store.apply_batch(&batch).await.unwrap();
        assert_eq!(out.claimed.len(), 1);
        let rec = store
            .recover_expired_leases(Utc::now(), Some(run.id), 1)
            .await
            .unwrap();
        lost_states.push(rec[0].new_state);
        if rec[0].new_state == TaskState::Failed {
            break;
        }
    }
    // max_tries 3 after the free loss: try 2 lost -> retry, try 3 lost -> failed.
    assert_eq!(lost_states, [TaskState::UpForRetry, TaskState::Failed]);
    let task_a = store.get_task(run.id, "a").await.unwrap().unwrap();
    assert_eq!((task_a.state, task_a.try_number), (TaskState::Failed, 3));
    assert!(task_a.ended_at.is_some());
}

#[tokio::test]
async fn large_batches_are_written_whole() {
    for t in TestStore::each_backend().await {
        let store = &t.store;
        let names: Vec<String> = (0..2_000).map(|i| format!("s{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let run = dag_with_run(store, "big", &refs).await;
        let ids: Vec<i64> = store
            .list_tasks(run.id)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect();
        let out = store.apply_batch(&claim("w", ids.clone())).await.unwrap();
        assert_eq!(out.claimed.len(), 2_000);
        assert!(out.claimed.iter().all(|c| c.try_number == 1));
        // 2,000 finishes with outputs: more parameters than one Postgres statement takes.
        let finished = ids
            .iter()
            .map(|id| {
                let mut f = finish(*id, 1, TaskState::Success);
                f.outputs = vec![("id".into(), id.to_string())];
                f.log_tail = Some((0, format!("done {id}\n")));
                f
            })
            .collect();
        let mut batch = claim("w", vec![]);
        batch.finished = finished;
        batch.run = Some(RunTransition {
            run_pk: run.id,
            state: RunState::Success,
        });
        let out = store.apply_batch(&batch).await.unwrap();
        assert!(out.stale.is_empty(), "{:?}", t.store.backend());
        let tasks = store.list_tasks(run.id).await.unwrap();
        assert!(tasks.iter().all(|t| t.state == TaskState::Success));
        assert_eq!(store.run_outputs(run.id).await.unwrap().len(), 2_000);
        let last = tasks.last().unwrap();
        assert_eq!(
            store.read_log(last.id, 1, 0).await.unwrap().text,
            format!("done {}\n", last.id)
        );
        assert_eq!(
            store.list_attempts(last.id).await.unwrap()[0].state,
            AttemptState::Success
        );
        assert_eq!(
            store.get_run_by_pk(run.id).await.unwrap().unwrap().state,
            RunState::Success
        );
    }
}
