use flowctl_engine::EventKind;
use flowctl_state::RunState;
use flowctl_state::TaskState::{Failed, Skipped, Success, UpstreamFailed};

use crate::support::{Harness, expect};

/// `ok` succeeds, `bad` fails, `skip` is skipped (one_failed with nothing failed); each
/// rule is then applied to combinations of them.
const MATRIX: &str = r#"
dag: rules
steps:
  ok: { type: probe }
  bad: { type: probe, fatal: true }
  skip: { type: probe, depends_on: [ok], trigger_rule: one_failed }

  all_success_ok: { type: probe, depends_on: [ok] }
  all_success_fail: { type: probe, depends_on: [ok, bad] }
  all_success_skip: { type: probe, depends_on: [ok, skip] }

  all_failed_run: { type: probe, depends_on: [bad], trigger_rule: all_failed }
  all_failed_skip: { type: probe, depends_on: [ok, bad], trigger_rule: all_failed }

  all_done_run: { type: probe, depends_on: [ok, bad, skip], trigger_rule: all_done }

  one_success_run: { type: probe, depends_on: [ok, bad], trigger_rule: one_success }
  one_success_fail: { type: probe, depends_on: [bad, skip], trigger_rule: one_success }
  one_success_skip: { type: probe, depends_on: [skip], trigger_rule: one_success }

  one_failed_run: { type: probe, depends_on: [ok, bad], trigger_rule: one_failed }

  none_failed_run: { type: probe, depends_on: [ok, skip], trigger_rule: none_failed }
  none_failed_fail: { type: probe, depends_on: [ok, bad], trigger_rule: none_failed }

  downstream_of_failed: { type: probe, depends_on: [all_success_fail] }
  downstream_of_skipped: { type: probe, depends_on: [all_success_skip] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_trigger_rule_decides_like_airflow() {
    for h in Harness::each_backend().await {
        h.apply(MATRIX).await;
        let (outcome, events) = h.run("rules").await;
        let want = expect(&[
            ("ok", Success),
            ("bad", Failed),
            ("skip", Skipped),
            ("all_success_ok", Success),
            ("all_success_fail", UpstreamFailed),
            ("all_success_skip", Skipped),
            ("all_failed_run", Success),
            ("all_failed_skip", Skipped),
            ("all_done_run", Success),
            ("one_success_run", Success),
            ("one_success_fail", UpstreamFailed),
            ("one_success_skip", Skipped),
            ("one_failed_run", Success),
            ("none_failed_run", Success),
            ("none_failed_fail", UpstreamFailed),
            ("downstream_of_failed", UpstreamFailed),
            ("downstream_of_skipped", Skipped),
        ]);
        assert_eq!(h.states(&outcome.run).await, want, "{:?}", h.backend());
        // Leaves include upstream_failed ones: the run fails.
        assert_eq!(outcome.run.state, RunState::Failed);
        // Steps that did not run were never started.
        for (step, state) in &want {
            let ran = !h.probe.calls_of(step).is_empty();
            assert_eq!(ran, matches!(state, Success) || step == "bad", "{step}");
        }
        let skipped = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::StepSkipped { .. }))
            .count();
        let upstream_failed = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::StepUpstreamFailed { .. }))
            .count();
        assert_eq!((skipped, upstream_failed), (5, 4));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_succeeds_when_its_leaves_do_even_after_a_failure() {
    let h = Harness::sqlite().await;
    h.apply(
        "dag: cleanup\nsteps:\n  work: { type: probe, fatal: true }\n  \
         cleanup: { type: probe, depends_on: [work], trigger_rule: all_done }\n",
    )
    .await;
    let (outcome, _) = h.run("cleanup").await;
    assert_eq!(
        h.states(&outcome.run).await,
        expect(&[("work", Failed), ("cleanup", Success)])
    );
    assert_eq!(outcome.run.state, RunState::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_success_starts_before_the_other_upstreams_end() {
    let h = Harness::sqlite().await;
    h.apply(
        "dag: early\nsteps:\n  fast: { type: probe }\n  slow: { type: probe, sleep_ms: 3000 }\n  \
         any: { type: probe, depends_on: [fast, slow], trigger_rule: one_success }\n",
    )
    .await;
    let (outcome, _) = h.run("early").await;
    assert!(outcome.succeeded());
    let slow = h.probe.calls_of("slow")[0].started;
    let any = h.probe.calls_of("any")[0].started;
    assert!(any.duration_since(slow) < std::time::Duration::from_millis(2500));
}
