use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use flowctl_engine::{EngineSettings, EventKind};
use flowctl_state::testing::TestStore;
use flowctl_state::{AttemptState, RunState, TaskState};

use crate::support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_steps_run_in_parallel() {
    let h = Harness::sqlite().await;
    h.apply(
        "dag: wide\nsteps:\n  a: { type: probe, sleep_ms: 300 }\n  b: { type: probe, sleep_ms: 300 }\n  \
         c: { type: probe, sleep_ms: 300 }\n  d: { type: probe, sleep_ms: 300 }\n",
    )
    .await;
    let started = Instant::now();
    let (outcome, _) = h.run("wide").await;
    assert!(outcome.succeeded());
    assert_eq!(h.probe.max_concurrency(), 4);
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_active_tasks_bounds_a_run() {
    let h = Harness::sqlite().await;
    let steps: String = (0..10)
        .map(|i| format!("  s{i}: {{ type: probe, sleep_ms: 40 }}\n"))
        .collect();
    h.apply(&format!(
        "dag: bounded\nmax_active_tasks: 3\nsteps:\n{steps}"
    ))
    .await;
    let (outcome, _) = h.run("bounded").await;
    assert!(outcome.succeeded());
    assert_eq!(h.probe.max_concurrency(), 3);
    assert_eq!(h.probe.call_count(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_default_bounds_runs_without_max_active_tasks() {
    let settings = EngineSettings {
        default_max_active_tasks: 2,
        ..EngineSettings::default()
    };
    let h = Harness::new(TestStore::sqlite().await, settings);
    let steps: String = (0..6)
        .map(|i| format!("  s{i}: {{ type: probe, sleep_ms: 40 }}\n"))
        .collect();
    h.apply(&format!("dag: dflt\nsteps:\n{steps}")).await;
    assert!(h.run("dflt").await.0.succeeded());
    assert_eq!(h.probe.max_concurrency(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_bound_steps_across_runs() {
    let settings = EngineSettings {
        pools: BTreeMap::from([("db".to_string(), 2)]),
        ..EngineSettings::default()
    };
    let h = Harness::new(TestStore::sqlite().await, settings);
    let steps: String = (0..5)
        .map(|i| format!("  s{i}: {{ type: probe, sleep_ms: 60, pool: db }}\n"))
        .collect();
    h.apply(&format!(
        "dag: pooled\nsteps:\n{steps}  free: {{ type: probe, sleep_ms: 60 }}\n"
    ))
    .await;
    // Two runs at once share the pool's two slots.
    let r1 = h
        .engine
        .trigger("pooled", &Default::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    let r2 = h
        .engine
        .trigger("pooled", &Default::default())
        .await
        .unwrap();
    let (o1, o2) = tokio::join!(h.execute(&r1), h.execute(&r2));
    assert!(o1.0.succeeded() && o2.0.succeeded());
    // At most 2 pooled steps plus the two unpooled ones.
    assert!(
        h.probe.max_concurrency() <= 4,
        "max {}",
        h.probe.max_concurrency()
    );
    assert_eq!(h.probe.call_count(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_slots_are_never_exceeded() {
    let settings = EngineSettings {
        pools: BTreeMap::from([("db".to_string(), 2)]),
        ..EngineSettings::default()
    };
    let h = Harness::new(TestStore::sqlite().await, settings);
    let steps: String = (0..6)
        .map(|i| format!("  s{i}: {{ type: probe, sleep_ms: 50, pool: db }}\n"))
        .collect();
    h.apply(&format!("dag: pooled\nsteps:\n{steps}")).await;
    assert!(h.run("pooled").await.0.succeeded());
    assert_eq!(h.probe.max_concurrency(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_see_params_dates_and_upstream_outputs() {
    let h = Harness::sqlite().await;
    h.apply(
        r#"dag: tpl
params: { topic: orders }
steps:
  extract:
    type: probe
    outputs: { rows: "42" }
  load:
    depends_on: [extract]
    type: probe
    message: "{{ outputs.extract.rows }} {{ params.topic }} {{ task_id }} {{ try_number }} {{ run_id }}"
"#,
    )
    .await;
    let (outcome, _) = h.run("tpl").await;
    assert!(outcome.succeeded());
    let call = &h.probe.calls_of("load")[0];
    assert_eq!(
        call.message.as_deref(),
        Some(format!("42 orders load 1 {}", outcome.run.run_id).as_str())
    );
    let outputs = h.engine.store().run_outputs(outcome.run.id).await.unwrap();
    assert_eq!(outputs["extract"]["rows"], "42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_error_fails_the_attempt_without_retry() {
    let h = Harness::sqlite().await;
    h.apply(
        r#"dag: tplerr
steps:
  extract: { type: probe }
  load:
    depends_on: [extract]
    retries: 3
    retry_delay: 1s
    type: probe
    message: "{{ outputs.extract.rows }}"
"#,
    )
    .await;
    let (outcome, events) = h.run("tplerr").await;
    assert_eq!(outcome.run.state, RunState::Failed);
    assert!(h.probe.calls_of("load").is_empty());
    let task = h
        .engine
        .store()
        .get_task(outcome.run.id, "load")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((task.state, task.try_number), (TaskState::Failed, 1));
    let attempt = &h.engine.store().list_attempts(task.id).await.unwrap()[0];
    let error = attempt.error.clone().unwrap();
    assert!(error.starts_with("template error"), "{error}");
    assert!(error.contains("rows"), "{error}");
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::StepFailed {
            will_retry: false,
            ..
        }
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_stored_per_attempt_and_quiet_steps_write_none() {
    let h = Harness::sqlite().await;
    h.apply(
        "dag: logs\nsteps:\n  talk: { type: probe, log: [hello, world] }\n  quiet: { type: probe }\n  \
         bad: { type: probe, fatal: true, log: [trying] }\n",
    )
    .await;
    let (outcome, _) = h.run("logs").await;
    let store = h.engine.store();
    let talk = store
        .get_task(outcome.run.id, "talk")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.read_log(talk.id, 1, 0).await.unwrap().text,
        "hello\nworld\n"
    );
    let quiet = store
        .get_task(outcome.run.id, "quiet")
        .await
        .unwrap()
        .unwrap();
    let slice = store.read_log(quiet.id, 1, 0).await.unwrap();
    assert_eq!((slice.text.as_str(), slice.next_offset), ("", 0));
    let bad = store
        .get_task(outcome.run.id, "bad")
        .await
        .unwrap()
        .unwrap();
    let text = store.read_log(bad.id, 1, 0).await.unwrap().text;
    assert_eq!(
        text,
        "trying\n[flowctl] attempt 1 failed: bad configuration\n"
    );
    let attempt = &store.list_attempts(bad.id).await.unwrap()[0];
    assert_eq!(
        (attempt.state, attempt.exit_code),
        (AttemptState::Failed, Some(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_cancel_the_job_and_fail_the_attempt() {
    let settings = EngineSettings {
        cancel_grace: Duration::from_millis(200),
        ..EngineSettings::default()
    };
    let h = Harness::new(TestStore::sqlite().await, settings);
    h.apply(
        "dag: slow\nsteps:\n  polite: { type: probe, sleep_ms: 10000, timeout: 300ms }\n  \
         stubborn: { type: probe, sleep_ms: 10000, honor_cancel: false, timeout: 300ms }\n",
    )
    .await;
    let started = Instant::now();
    let (outcome, _) = h.run("slow").await;
    // The stubborn job is dropped after the grace period.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(outcome.run.state, RunState::Failed);
    for step in ["polite", "stubborn"] {
        let task = h
            .engine
            .store()
            .get_task(outcome.run.id, step)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(task.state, TaskState::Failed, "{step}");
        let attempt = &h.engine.store().list_attempts(task.id).await.unwrap()[0];
        assert_eq!(
            attempt.error.as_deref(),
            Some("timed out after 300ms"),
            "{step}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_describe_the_run() {
    let h = Harness::sqlite().await;
    h.apply("dag: ev\nsteps:\n  a: { type: probe }\n  b: { type: probe, depends_on: [a] }\n")
        .await;
    let (outcome, events) = h.run("ev").await;
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::RunStarted { total, done } => format!("run-started {total} {done}"),
            EventKind::StepStarted {
                step,
                try_number,
                max_tries,
            } => format!("start {step} {try_number}/{max_tries}"),
            EventKind::StepSucceeded { step, .. } => format!("ok {step}"),
            EventKind::RunFinished { state, .. } => format!("finished {state}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "run-started 2 0",
            "start a 1/1",
            "ok a",
            "start b 1/1",
            "ok b",
            "finished success"
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| *e.run_id == *outcome.run.run_id && &*e.dag_id == "ev")
    );
    // Hand-off order is visible in the store too.
    let store = h.engine.store();
    let a = store.get_task(outcome.run.id, "a").await.unwrap().unwrap();
    let b = store.get_task(outcome.run.id, "b").await.unwrap().unwrap();
    assert!(a.ended_at.unwrap() <= b.started_at.unwrap());
    assert!(outcome.run.started_at.is_some() && outcome.run.ended_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_is_not_executed_again() {
    let h = Harness::sqlite().await;
    h.apply("dag: once\nsteps:\n  a: { type: probe }\n").await;
    let (outcome, _) = h.run("once").await;
    let (again, events) = h.execute(&outcome.run).await;
    assert_eq!(again.run.state, RunState::Success);
    assert!(events.is_empty());
    assert_eq!(h.probe.call_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_chain_and_a_wide_join_complete() {
    for h in Harness::each_backend().await {
        let chain: String = (0..50)
            .map(|i| {
                if i == 0 {
                    "  s0: { type: probe }\n".to_string()
                } else {
                    format!("  s{i}: {{ type: probe, depends_on: [s{}] }}\n", i - 1)
                }
            })
            .collect();
        h.apply(&format!("dag: chain\nsteps:\n{chain}")).await;
        let (outcome, _) = h.run("chain").await;
        assert!(outcome.succeeded(), "{:?}", h.backend());
        let mids: String = (0..100)
            .map(|i| format!("  m{i}: {{ type: probe, depends_on: [root] }}\n"))
            .collect();
        let deps: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
        h.apply(&format!(
            "dag: diamond\nmax_active_tasks: 64\nsteps:\n  root: {{ type: probe }}\n{mids}  join: {{ type: probe, depends_on: [{}] }}\n",
            deps.join(", ")
        ))
        .await;
        let (outcome, _) = h.run("diamond").await;
        assert!(outcome.succeeded());
        let states = h.states(&outcome.run).await;
        assert!(states.values().all(|s| *s == TaskState::Success));
        assert_eq!(states.len(), 102);
    }
}
