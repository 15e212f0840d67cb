use std::time::Duration;

use flowctl_engine::EventKind;
use flowctl_state::{AttemptState, RunState, TaskState};

use crate::support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tries_are_retried_with_exponential_backoff() {
    for h in Harness::each_backend().await {
        h.apply(
            "dag: flaky\nsteps:\n  s: { type: probe, fail_times: 3, retries: 3, retry_delay: 200ms, retry_backoff: exponential }\n  \
             after: { type: probe, depends_on: [s] }\n",
        )
        .await;
        let (outcome, events) = h.run("flaky").await;
        assert!(outcome.succeeded(), "{:?}", h.backend());
        let store = h.engine.store();
        let task = store.get_task(outcome.run.id, "s").await.unwrap().unwrap();
        assert_eq!(
            (task.state, task.try_number, task.max_tries),
            (TaskState::Success, 4, 4)
        );
        let attempts = store.list_attempts(task.id).await.unwrap();
        let states: Vec<AttemptState> = attempts.iter().map(|a| a.state).collect();
        assert_eq!(
            states,
            [
                AttemptState::Failed,
                AttemptState::Failed,
                AttemptState::Failed,
                AttemptState::Success
            ]
        );

        // next_try_at = end + retry_delay * 2^(n-1) ± 10 %; the next try starts then.
        let retry_ats: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::StepFailed {
                    will_retry: true,
                    retry_at,
                    ..
                } => *retry_at,
                _ => None,
            })
            .collect();
        assert_eq!(retry_ats.len(), 3);
        for (n, base_ms) in [(0usize, 200i64), (1, 400), (2, 800)] {
            let ended = attempts[n].ended_at.unwrap();
            let wait = (retry_ats[n] - ended).num_milliseconds();
            assert!(
                wait >= base_ms * 9 / 10 - 1 && wait <= base_ms * 11 / 10 + 1,
                "retry {n}: waited {wait} ms"
            );
            let next_start = attempts[n + 1].started_at;
            assert!(
                next_start >= retry_ats[n] - chrono::Duration::milliseconds(1),
                "retry {n} started early"
            );
            assert!(
                next_start - retry_ats[n] < chrono::Duration::milliseconds(150),
                "retry {n} started late"
            );
        }
        let failures: Vec<(String, bool)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::StepFailed {
                    error, will_retry, ..
                } => Some((error.clone(), *will_retry)),
                _ => None,
            })
            .collect();
        assert_eq!(failures[0], ("flaky failure 1".to_string(), true));
        assert_eq!(attempts[0].exit_code, Some(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_out_of_tries_fails_and_its_downstream_does_not_run() {
    let h = Harness::sqlite().await;
    h.apply(
        "dag: doomed\nsteps:\n  s: { type: probe, fail_times: 9, retries: 1, retry_delay: 50ms }\n  \
         after: { type: probe, depends_on: [s] }\n",
    )
    .await;
    let (outcome, events) = h.run("doomed").await;
    assert_eq!(outcome.run.state, RunState::Failed);
    assert_eq!(h.probe.calls_of("s").len(), 2);
    assert!(h.probe.calls_of("after").is_empty());
    let last_failure = events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::StepFailed {
                will_retry,
                retry_at,
                ..
            } => Some((*will_retry, *retry_at)),
            _ => None,
        })
        .unwrap();
    assert_eq!(last_failure, (false, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_retryable_errors_skip_the_remaining_retries() {
    for h in Harness::each_backend().await {
        h.apply(
            "dag: fatal\nsteps:\n  s: { type: probe, fatal: true, retries: 5, retry_delay: 10s }\n",
        )
        .await;
        let started = std::time::Instant::now();
        let (outcome, _) = h.run("fatal").await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(outcome.run.state, RunState::Failed);
        let task = h
            .engine
            .store()
            .get_task(outcome.run.id, "s")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((task.state, task.try_number), (TaskState::Failed, 1));
        assert_eq!(h.probe.calls_of("s").len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_backoff_keeps_the_delay() {
    let h = Harness::sqlite().await;
    h.apply("dag: steady\nsteps:\n  s: { type: probe, fail_times: 2, retries: 2, retry_delay: 150ms, retry_backoff: constant }\n").await;
    let (outcome, events) = h.run("steady").await;
    assert!(outcome.succeeded());
    let store = h.engine.store();
    let task = store.get_task(outcome.run.id, "s").await.unwrap().unwrap();
    let attempts = store.list_attempts(task.id).await.unwrap();
    let waits: Vec<i64> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepFailed {
                try_number,
                retry_at: Some(at),
                ..
            } => Some(
                (*at - attempts[*try_number as usize - 1].ended_at.unwrap()).num_milliseconds(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(waits.len(), 2);
    assert!(waits.iter().all(|w| (134..=166).contains(w)), "{waits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sees_the_handle_an_earlier_try_saved_and_a_clear_forgets_it() {
    for h in Harness::each_backend().await {
        h.apply(
            "dag: remote\nsteps:\n  s: { type: probe, remember: true, fail_times: 1, retries: 1, retry_delay: 10ms }\n",
        )
        .await;
        let (outcome, _) = h.run("remote").await;
        assert_eq!(outcome.run.state, RunState::Success);
        let seen: Vec<_> = h
            .probe
            .calls_of("s")
            .iter()
            .map(|c| c.seen_handle.clone())
            .collect();
        assert_eq!(
            seen,
            [None, Some("started-by-try-1".to_string())],
            "try 2 reconnects to the remote run try 1 started"
        );

        let cleared = h
            .engine
            .clear(
                &outcome.run.dag_id,
                &outcome.run.run_id,
                flowctl_engine::ClearScope::All,
            )
            .await
            .unwrap();
        let (outcome, _) = h.execute(&cleared.run).await;
        assert_eq!(outcome.run.state, RunState::Success);
        let calls = h.probe.calls_of("s");
        assert_eq!(calls.len(), 3, "the cleared step ran once more (try 3)");
        assert_eq!(
            calls[2].seen_handle, None,
            "after a clear the step starts new remote work"
        );
    }
}
