use std::time::{Duration, Instant};

use chrono::Utc;
use flowctl_engine::{EngineError, EngineSettings, EventKind, EventSink, TriggerRequest};
use flowctl_state::testing::TestStore;
use flowctl_state::{AttemptState, Batch, Finish, RunState, TaskState};
use tokio_util::sync::CancellationToken;

use crate::support::Harness;

/// A process that died: it held the run, finished `done` and was running `running`.
async fn dead_process(
    h: &Harness,
    run_pk: i64,
    done: &str,
    running: &str,
    lease_left: chrono::Duration,
) {
    let store = h.engine.store();
    let now = Utc::now();
    assert!(
        store
            .claim_run(run_pk, "dead", now, now + lease_left)
            .await
            .unwrap()
    );
    let done_ti = store.get_task(run_pk, done).await.unwrap().unwrap().id;
    let running_ti = store.get_task(run_pk, running).await.unwrap().unwrap().id;
    let claim = Batch {
        holder: "dead".into(),
        now,
        lease_until: now + lease_left,
        claims: vec![done_ti, running_ti],
        ..Batch::default()
    };
    assert_eq!(store.apply_batch(&claim).await.unwrap().claimed.len(), 2);
    let finish = Batch {
        holder: "dead".into(),
        now,
        lease_until: now,
        finished: vec![Finish {
            ti_id: done_ti,
            try_number: 1,
            attempt_state: AttemptState::Success,
            task_state: TaskState::Success,
            ended_at: now,
            exit_code: None,
            error: None,
            next_try_at: None,
            extra_tries: 0,
            outputs: vec![],
            log_tail: None,
        }],
        ..Batch::default()
    };
    store.apply_batch(&finish).await.unwrap();
}

const DAG: &str = "dag: crash\nsteps:\n  a: { type: probe }\n  b: { type: probe, depends_on: [a] }\n  c: { type: probe }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_by_a_dead_process_completes_without_rerunning_successes() {
    for h in Harness::each_backend().await {
        h.apply(DAG).await;
        let run = h
            .engine
            .trigger("crash", &TriggerRequest::default())
            .await
            .unwrap();
        dead_process(&h, run.id, "c", "a", chrono::Duration::seconds(-1)).await;

        let (outcome, events) = h.execute(&run).await;
        assert!(outcome.succeeded(), "{:?}", h.backend());
        assert!(
            h.probe.calls_of("c").is_empty(),
            "a step that succeeded is not run again"
        );
        assert_eq!(h.probe.calls_of("a").len(), 1);
        assert_eq!(h.probe.calls_of("b").len(), 1);
        let store = h.engine.store();
        let a = store.get_task(run.id, "a").await.unwrap().unwrap();
        assert_eq!(
            (a.try_number, a.max_tries, a.lost_count),
            (2, 2, 1),
            "the lost try is given back"
        );
        let attempts = store.list_attempts(a.id).await.unwrap();
        assert_eq!(attempts[0].state, AttemptState::Lost);
        assert_eq!(attempts[0].holder, "dead");
        assert_eq!(
            attempts[0].error.as_deref(),
            Some("worker lost (lease expired)")
        );
        assert_eq!(attempts[1].state, AttemptState::Success);
        assert!(matches!(
            &events[0].kind,
            EventKind::RunStarted { total: 3, done: 1 }
        ));
        assert_eq!(outcome.run.holder, None, "the run lease is released");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_held_by_a_dying_lease_are_recovered_when_it_expires() {
    let h = Harness::sqlite().await;
    h.apply(DAG).await;
    let run = h
        .engine
        .trigger("crash", &TriggerRequest::default())
        .await
        .unwrap();
    // The run lease has expired, the step lease has 800 ms left.
    dead_process(&h, run.id, "c", "a", chrono::Duration::milliseconds(800)).await;
    h.engine
        .store()
        .claim_run(
            run.id,
            "dead",
            Utc::now(),
            Utc::now() - chrono::Duration::seconds(1),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (outcome, events) = h.execute(&run).await;
    assert!(outcome.succeeded());
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "waited for the lease: {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::StepLost { step, try_number: 1 } if step == "a"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_leases_of_long_steps_alive() {
    let settings = EngineSettings {
        lease_duration: Duration::from_millis(400),
        heartbeat_interval: Duration::from_millis(100),
        ..EngineSettings::default()
    };
    let h = Harness::new(TestStore::sqlite().await, settings);
    h.apply("dag: long\nsteps:\n  s: { type: probe, sleep_ms: 1200 }\n")
        .await;
    let run = h
        .engine
        .trigger("long", &TriggerRequest::default())
        .await
        .unwrap();
    let store = h.engine.store().clone();
    let watcher = tokio::spawn(async move {
        let mut recovered = 0;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            recovered += store
                .recover_expired_leases(Utc::now(), None, 3)
                .await
                .unwrap()
                .len();
        }
        recovered
    });
    let (outcome, _) = h.execute(&run).await;
    assert_eq!(
        watcher.await.unwrap(),
        0,
        "no lease expired while the step ran"
    );
    assert!(outcome.succeeded());
    assert_eq!(h.probe.calls_of("s").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_executed_by_one_process_at_a_time() {
    let h = Harness::sqlite().await;
    h.apply("dag: one\nsteps:\n  s: { type: probe, hold: gate }\n")
        .await;
    h.probe.raise("gate");
    let run = h
        .engine
        .trigger("one", &TriggerRequest::default())
        .await
        .unwrap();
    let other = flowctl_engine::Engine::new(
        h.engine.store().clone(),
        h.registry.clone(),
        EngineSettings::default(),
    );
    let first = {
        let engine = h.engine.clone();
        let run = run.clone();
        tokio::spawn(async move {
            engine
                .execute_run(&run, &EventSink::none(), &CancellationToken::new())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = other
        .execute_run(&run, &EventSink::none(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Conflict(ref m) if m.contains("is being executed by")),
        "{err}"
    );
    h.probe.lower("gate");
    assert!(first.await.unwrap().unwrap().succeeded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_steps_finish_then_requeues_the_rest_without_using_a_try() {
    for h in Harness::each_backend_with(|| EngineSettings {
        shutdown_grace: Duration::from_millis(300),
        cancel_grace: Duration::from_millis(300),
        ..EngineSettings::default()
    })
    .await
    {
        h.apply(
            "dag: stop\nsteps:\n  quick: { type: probe, sleep_ms: 100 }\n  held: { type: probe, hold: gate }\n  \
             later: { type: probe, depends_on: [quick, held] }\n",
        )
        .await;
        h.probe.raise("gate");
        let run = h
            .engine
            .trigger("stop", &TriggerRequest::default())
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let stopper = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                shutdown.cancel();
            })
        };
        let outcome = h
            .engine
            .execute_run(&run, &EventSink::none(), &shutdown)
            .await
            .unwrap();
        stopper.await.unwrap();
        assert!(outcome.interrupted);
        assert_eq!(outcome.run.state, RunState::Running);
        let store = h.engine.store();
        // `quick` finished within the grace period; `held` was cancelled and re-queued.
        let quick = store.get_task(run.id, "quick").await.unwrap().unwrap();
        assert_eq!(quick.state, TaskState::Success);
        let held = store.get_task(run.id, "held").await.unwrap().unwrap();
        assert_eq!(
            (
                held.state,
                held.try_number,
                held.max_tries,
                held.holder.clone()
            ),
            (TaskState::UpForRetry, 1, 2, None)
        );
        let attempt = &store.list_attempts(held.id).await.unwrap()[0];
        assert_eq!(attempt.state, AttemptState::Failed);
        assert!(
            attempt.error.as_deref().unwrap().starts_with("interrupted"),
            "{:?}",
            attempt.error
        );
        assert_eq!(
            store
                .get_task(run.id, "later")
                .await
                .unwrap()
                .unwrap()
                .state,
            TaskState::Queued
        );

        // Executed again, the run completes; `quick` does not run twice.
        h.probe.lower("gate");
        let (outcome, _) = h.execute(&outcome.run).await;
        assert!(outcome.succeeded(), "{:?}", h.backend());
        assert_eq!(h.probe.calls_of("quick").len(), 1);
        assert_eq!(h.probe.calls_of("held").len(), 2);
    }
}
