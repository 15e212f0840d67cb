//! The validated, typed form of a DAG file. Everything here has passed validation:
//! the engine can rely on ids being unique, dependencies existing and the graph being acyclic.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// A validated DAG.
#[derive(Debug, Clone)]
pub struct Dag {
    /// The DAG id (`dag:`), `[A-Za-z0-9_.-]+`.
    pub id: String,
    pub description: Option<String>,
    /// `None` = manual runs only.
    pub schedule: Option<Schedule>,
    /// The time zone cron expressions are evaluated in (default UTC).
    pub timezone: Tz,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub catchup: bool,
    pub max_active_runs: u32,
    /// Upper bound on steps of one run running at once; `None` = engine default.
    pub max_active_tasks: Option<u32>,
    /// Parameter defaults; `--param k=v` overrides them per run.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Run-level notifications: `on_failure` / `on_success` when the run ends, `on_retry`
    /// when a try of any step fails and will be retried.
    pub notifications: Notifications,
    /// Steps in file order.
    pub steps: IndexMap<String, Step>,
    /// Where the DAG came from, verbatim, and its content hash.
    pub source: DagSource,
}

/// The file a DAG was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagSource {
    /// Path as given on the command line (used in messages).
    pub path: String,
    /// The file's text, verbatim.
    pub text: String,
    /// Lowercase hex SHA-256 of `text`.
    pub hash: String,
}

/// One validated step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    /// Direct upstream step ids (validated to exist, no cycles).
    pub depends_on: Vec<String>,
    /// Extra tries after the first (0 = run once).
    pub retries: u32,
    pub retry_delay: Duration,
    pub retry_backoff: Backoff,
    pub max_retry_delay: Option<Duration>,
    pub timeout: Option<Duration>,
    pub trigger_rule: TriggerRule,
    /// Named concurrency pool (sizes come from the project file).
    pub pool: Option<String>,
    /// The step's own notifications (from the step, or else from `defaults`).
    pub notifications: Notifications,
    pub job: StepJob,
}

/// Webhooks called on the events of a run or of a step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Notifications {
    /// When the run (or the step, after its last try) ends failed.
    pub on_failure: Vec<Notification>,
    /// When a try fails and another try is scheduled.
    pub on_retry: Vec<Notification>,
    /// When the run (or the step) succeeds.
    pub on_success: Vec<Notification>,
}

impl Notifications {
    /// Whether no notification is configured at all.
    pub fn is_empty(&self) -> bool {
        self.on_failure.is_empty() && self.on_retry.is_empty() && self.on_success.is_empty()
    }

    /// The notifications of one event.
    pub fn for_event(&self, event: NotifyEvent) -> &[Notification] {
        match event {
            NotifyEvent::Failure => &self.on_failure,
            NotifyEvent::Retry => &self.on_retry,
            NotifyEvent::Success => &self.on_success,
        }
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyEvent {
    /// The run, or a step after its last try, ended failed.
    Failure,
    /// A try failed and another is scheduled.
    Retry,
    /// The run or the step succeeded.
    Success,
}

impl NotifyEvent {
    /// `failure`, `retry` or `success`: the `event` template variable.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Failure => "failure",
            NotifyEvent::Retry => "retry",
            NotifyEvent::Success => "success",
        }
    }
}

/// One webhook: a JSON POST to a URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Where to POST.
    pub url: ValueSource,
    /// A minijinja template of the request body; `None` = a Slack-compatible
    /// `{"text": "..."}` summary.
    pub body: Option<String>,
    /// Extra request headers (not templated).
    pub headers: IndexMap<String, ValueSource>,
    /// Extra delivery attempts after the first (exponential backoff between them).
    pub retries: u32,
    /// How long one delivery attempt may take.
    pub timeout: Duration,
}

/// A value of a notification (its URL, a header) as written in the DAG file, or read from
/// the environment when the notification is sent, so secrets (a Slack URL, an
/// `Authorization` header) stay out of DAG files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// Written in the DAG file (`webhook: URL`, `X-Team: data`).
    Literal(String),
    /// The name of an environment variable (`webhook_env: VAR`, `Authorization: { env: VAR }`).
    Env(String),
}

/// Default extra delivery attempts of a notification.
pub const DEFAULT_NOTIFY_RETRIES: u32 = 3;
/// Default timeout of one delivery attempt.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a step runs: the same job on every target, or one variant per target kind.
#[derive(Debug, Clone, PartialEq)]
pub enum StepJob {
    /// `type:` at the step level: runs the same everywhere.
    Any(JobSpec),
    /// `local:` / `aws:` variants, keyed by target kind.
    PerTarget(IndexMap<String, JobSpec>),
}

/// A job type and its own fields (templates not rendered yet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job type, e.g. `shell`.
    pub job_type: String,
    /// The type's fields, without `type`.
    pub config: serde_json::Map<String, serde_json::Value>,
}

/// How the delay between tries grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// Every retry waits `retry_delay`.
    Constant,
    /// Retry n waits `retry_delay * 2^(n-1)`, capped by `max_retry_delay`.
    Exponential,
}

/// When a step runs, given how its upstream steps ended (Airflow's trigger rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    AllSuccess,
    AllDone,
    AllFailed,
    OneSuccess,
    OneFailed,
    NoneFailed,
}

pub use crate::target::TargetKind;

impl Step {
    /// The job this step runs on a target of the given kind.
    pub fn job_for(&self, target_kind: TargetKind) -> Option<&JobSpec> {
        match &self.job {
            StepJob::Any(spec) => Some(spec),
            StepJob::PerTarget(variants) => variants.get(target_kind.as_str()),
        }
    }

    /// Delay before try `next_try` (2 = first retry), before jitter.
    pub fn retry_delay_before(&self, next_try: u32) -> Duration {
        let retry_index = next_try.saturating_sub(2);
        let delay = match self.retry_backoff {
            Backoff::Constant => self.retry_delay,
            Backoff::Exponential => {
                let factor = 2u32.saturating_pow(retry_index.min(31));
                self.retry_delay.saturating_mul(factor)
            }
        };
        match self.max_retry_delay {
            Some(cap) => delay.min(cap),
            None => delay,
        }
    }

    /// Total tries allowed (first try + retries).
    pub fn max_tries(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

impl Dag {
    /// Step ids in an order where every step comes after its upstreams (file order among peers).
    pub fn topological_order(&self) -> Vec<&str> {
        let mut placed: indexmap::IndexSet<&str> = indexmap::IndexSet::new();
        // Validation guarantees acyclicity, so this loop terminates.
        while placed.len() < self.steps.len() {
            let before = placed.len();
            for (id, step) in &self.steps {
                if !placed.contains(id.as_str())
                    && step.depends_on.iter().all(|d| placed.contains(d.as_str()))
                {
                    placed.insert(id.as_str());
                }
            }
            if placed.len() == before {
                break;
            }
        }
        placed.into_iter().collect()
    }

    /// Direct downstream step ids of every step.
    pub fn downstream(&self) -> IndexMap<&str, Vec<&str>> {
        let mut map: IndexMap<&str, Vec<&str>> = self
            .steps
            .keys()
            .map(|k| (k.as_str(), Vec::new()))
            .collect();
        for (id, step) in &self.steps {
            for up in &step.depends_on {
                if let Some(list) = map.get_mut(up.as_str()) {
                    list.push(id.as_str());
                }
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(backoff: Backoff, cap: Option<u64>) -> Step {
        Step {
            id: "s".into(),
            depends_on: vec![],
            retries: 5,
            retry_delay: Duration::from_secs(10),
            retry_backoff: backoff,
            max_retry_delay: cap.map(Duration::from_secs),
            timeout: None,
            trigger_rule: TriggerRule::AllSuccess,
            pool: None,
            notifications: Notifications::default(),
            job: StepJob::Any(JobSpec {
                job_type: "noop".into(),
                config: Default::default(),
            }),
        }
    }

    #[test]
    fn exponential_backoff_doubles_and_caps() {
        let s = step(Backoff::Exponential, Some(35));
        assert_eq!(s.retry_delay_before(2), Duration::from_secs(10));
        assert_eq!(s.retry_delay_before(3), Duration::from_secs(20));
        assert_eq!(s.retry_delay_before(4), Duration::from_secs(35));
        let c = step(Backoff::Constant, None);
        assert_eq!(c.retry_delay_before(4), Duration::from_secs(10));
    }
}
