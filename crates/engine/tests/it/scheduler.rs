use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Days, Utc};
use flowctl_engine::{EventSink, SchedulerOptions};
use flowctl_state::{RunState, RunType};
use tokio_util::sync::CancellationToken;

use crate::support::Harness;

fn daily(dag: &str, catchup: bool, max_active_runs: u32) -> String {
    let start = Utc::now().date_naive() - Days::new(3);
    format!(
        "dag: {dag}\nschedule: \"@daily\"\nstart_date: {start}\ncatchup: {catchup}\n\
         max_active_runs: {max_active_runs}\nsteps:\n  a: {{ type: probe }}\n  b: {{ type: probe, depends_on: [a] }}\n"
    )
}

async fn once(h: &Harness) -> flowctl_engine::SchedulerReport {
    let options = SchedulerOptions {
        once: true,
        ..SchedulerOptions::default()
    };
    h.engine
        .scheduler(&options, &EventSink::none(), &CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catchup_creates_every_missed_interval_once() {
    for h in Harness::each_backend().await {
        h.apply(&daily("caught", true, 16)).await;
        let report = once(&h).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let today = Utc::now().date_naive();
        let mut ids: Vec<String> = report.created.iter().map(|r| r.run_id.clone()).collect();
        ids.sort();
        let want: Vec<String> = (1..=3)
            .rev()
            .map(|d| format!("scheduled__{}T00:00:00+00:00", today - Days::new(d)))
            .collect();
        assert_eq!(ids, want, "{:?}", h.backend());
        for run in &report.created {
            assert_eq!(run.run_type, RunType::Scheduled);
            assert_eq!(
                run.interval_end - run.interval_start,
                chrono::Duration::days(1)
            );
            assert_eq!(run.logical_date, run.interval_start);
        }
        assert_eq!(report.outcomes.len(), 3);
        assert!(report.succeeded());
        assert_eq!(h.probe.call_count(), 6);
        // Nothing is created twice.
        let again = once(&h).await;
        assert!(again.created.is_empty());
        assert!(again.outcomes.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_catchup_only_the_latest_interval_runs() {
    let h = Harness::sqlite().await;
    h.apply(&daily("latest", false, 16)).await;
    let report = once(&h).await;
    assert_eq!(report.created.len(), 1);
    let run = &report.created[0];
    let today = Utc::now().date_naive();
    assert_eq!(
        run.run_id,
        format!("scheduled__{}T00:00:00+00:00", today - Days::new(1))
    );
    assert!(report.succeeded());
    assert!(once(&h).await.created.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_active_runs_bounds_catchup_and_paused_dags_wait() {
    let h = Harness::sqlite().await;
    h.apply(&daily("bounded", true, 2)).await;
    h.apply(&daily("paused", true, 2)).await;
    assert!(h.engine.store().set_paused("paused", true).await.unwrap());
    let first = once(&h).await;
    assert_eq!(first.created.len(), 2);
    assert!(first.created.iter().all(|r| r.dag_id == "bounded"));
    let second = once(&h).await;
    assert_eq!(
        second.created.len(),
        1,
        "the third interval once a slot is free"
    );
    assert!(
        h.engine
            .store()
            .list_runs("paused", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_scheduler_notices_new_dags_and_stops_on_shutdown() {
    let h = Harness::sqlite().await;
    let shutdown = CancellationToken::new();
    let lags: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let seen = lags.clone();
    let options = SchedulerOptions {
        once: false,
        poll_interval: Duration::from_millis(100),
        on_pass: Some(Arc::new(move |lag| seen.lock().unwrap().push(lag))),
        max_runs: None,
    };
    let scheduler = {
        let engine = h.engine.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            engine
                .scheduler(&options, &EventSink::none(), &shutdown)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    h.apply(&daily("late", false, 1)).await;
    let mut done = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let runs = h.engine.store().list_runs("late", 10).await.unwrap();
        if runs.first().is_some_and(|r| r.state == RunState::Success) {
            done = true;
            break;
        }
    }
    assert!(done, "the new DAG was scheduled and run");
    shutdown.cancel();
    let report = tokio::time::timeout(Duration::from_secs(10), scheduler)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(report.created.len(), 1);
    assert_eq!(report.outcomes.len(), 1);
    let lags = lags.lock().unwrap();
    assert!(
        lags.len() >= 3,
        "the pass hook sees every pass (timer-woken ones too): {lags:?}"
    );
    assert_eq!(lags[0], Duration::ZERO, "the first pass is not late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_runs_caps_the_runs_one_process_executes_at_once() {
    let h = Harness::sqlite().await;
    let start = Utc::now().date_naive() - Days::new(3);
    h.apply(&format!(
        "dag: capped\nschedule: \"@daily\"\nstart_date: {start}\ncatchup: true\nmax_active_runs: 5\n\
         steps:\n  a: {{ type: probe, sleep_ms: 100 }}\n"
    ))
    .await;
    let options = SchedulerOptions {
        once: true,
        max_runs: Some(1),
        ..SchedulerOptions::default()
    };
    let report = h
        .engine
        .scheduler(&options, &EventSink::none(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(report.created.len(), 3);
    assert_eq!(
        report.outcomes.len(),
        3,
        "every run was executed, one after the other"
    );
    assert!(report.succeeded());
    assert_eq!(h.probe.max_concurrency(), 1, "never two runs at once");
}
