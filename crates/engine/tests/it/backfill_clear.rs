use chrono::{TimeZone, Utc};
use flowctl_engine::{ClearScope, EngineError, EventSink};
use flowctl_state::{RunState, RunType, TaskState};
use tokio_util::sync::CancellationToken;

use crate::support::{Harness, expect};

const DAILY: &str = "dag: bf\nschedule: \"@daily\"\nstart_date: 2026-01-01\nmax_active_runs: 2\nsteps:\n  a: { type: probe }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_runs_every_interval_once() {
    for h in Harness::each_backend().await {
        h.apply(DAILY).await;
        let from = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let report = h
            .engine
            .backfill(
                "bf",
                from,
                to,
                &EventSink::none(),
                &CancellationToken::new(),
            )
            .await
            .unwrap();
        let ids: Vec<&str> = report
            .outcomes
            .iter()
            .map(|o| o.run.run_id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "backfill__2026-01-02T00:00:00+00:00",
                "backfill__2026-01-03T00:00:00+00:00",
                "backfill__2026-01-04T00:00:00+00:00",
                "backfill__2026-01-05T00:00:00+00:00",
            ]
        );
        assert!(report.succeeded());
        assert!(
            report
                .outcomes
                .iter()
                .all(|o| o.run.run_type == RunType::Backfill)
        );
        let jan2 = &report.outcomes[0].run;
        assert_eq!(
            jan2.interval_end,
            Utc.with_ymd_and_hms(2026, 1, 3, 0, 0, 0).unwrap()
        );

        // A wider range skips the intervals that have a run.
        let wider = h
            .engine
            .backfill(
                "bf",
                from,
                to + chrono::Duration::days(1),
                &EventSink::none(),
                &CancellationToken::new(),
            )
            .await
            .unwrap();
        assert_eq!(wider.skipped.len(), 4);
        assert_eq!(wider.outcomes.len(), 1);
        assert_eq!(h.probe.call_count(), 5);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_needs_a_schedule() {
    let h = Harness::sqlite().await;
    h.apply("dag: manual\nsteps:\n  a: { type: probe }\n").await;
    let t = Utc::now();
    let err = h
        .engine
        .backfill(
            "manual",
            t,
            t,
            &EventSink::none(),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no schedule"), "{err}");
}

const CLEARABLE: &str = "dag: cl\nsteps:\n  a: { type: probe, outputs: { n: \"1\" } }\n  \
    b: { type: probe, depends_on: [a], flag: broken, retries: 1, retry_delay: 10ms }\n  \
    c: { type: probe, depends_on: [b] }\n  d: { type: probe, depends_on: [a] }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_failed_steps_reruns_them_and_their_downstream() {
    for h in Harness::each_backend().await {
        h.apply(CLEARABLE).await;
        h.probe.raise("broken");
        let (outcome, _) = h.run("cl").await;
        assert_eq!(outcome.run.state, RunState::Failed);
        assert_eq!(
            h.states(&outcome.run).await,
            expect(&[
                ("a", TaskState::Success),
                ("b", TaskState::Failed),
                ("c", TaskState::UpstreamFailed),
                ("d", TaskState::Success)
            ])
        );

        h.probe.lower("broken");
        let report = h
            .engine
            .clear("cl", &outcome.run.run_id, ClearScope::Failed)
            .await
            .unwrap();
        assert_eq!(report.cleared, ["b", "c"]);
        assert_eq!(report.run.state, RunState::Queued);
        let (again, _) = h.execute(&report.run).await;
        assert!(again.succeeded(), "{:?}", h.backend());
        assert_eq!(h.probe.calls_of("a").len(), 1, "a is not run again");
        // b's earlier tries stay in its history; the new try gets fresh retries.
        let b = h
            .engine
            .store()
            .get_task(again.run.id, "b")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((b.try_number, b.max_tries), (3, 4));
        assert_eq!(h.engine.store().list_attempts(b.id).await.unwrap().len(), 3);

        // Nothing failed any more: nothing to clear. Clearing all re-runs everything.
        let none = h
            .engine
            .clear("cl", &outcome.run.run_id, ClearScope::Failed)
            .await
            .unwrap();
        assert!(none.cleared.is_empty());
        let all = h
            .engine
            .clear("cl", &outcome.run.run_id, ClearScope::All)
            .await
            .unwrap();
        assert_eq!(all.cleared, ["a", "b", "c", "d"]);
        assert!(
            h.engine
                .store()
                .run_outputs(all.run.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(h.execute(&all.run).await.0.succeeded());
        assert_eq!(h.probe.calls_of("a").len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_an_unknown_run_is_an_error() {
    let h = Harness::sqlite().await;
    h.apply(CLEARABLE).await;
    let err = h
        .engine
        .clear("cl", "nope", ClearScope::All)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownRun { .. }), "{err}");
}
