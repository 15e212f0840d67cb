//! Notifications — `on_failure`, `on_retry`, `on_success` of a DAG and of its steps: webhooks
//! delivered in the background, so a slow, broken or absent receiver never delays or fails
//! a run. A notification that cannot be delivered is a warning in the process's log and, for
//! step events, a line in the attempt's log.

mod deliver;
mod message;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use flowctl_model::dag::{Notification, NotifyEvent, ValueSource};
use flowctl_model::template::{NotifyFacts, RunContext, notify_context};
use flowctl_state::Store;
use indexmap::IndexMap;
use tokio_util::task::TaskTracker;

use self::deliver::{Delivery, deliver, redact};

/// Sends the notifications of every run of an engine.
pub(crate) struct Notifier {
    /// Built on first use: an engine whose DAGs notify nobody never loads the trust store.
    client: OnceLock<Result<reqwest::Client, String>>,
    /// Deliveries in flight (see [`Notifier::wait`]).
    tracker: TaskTracker,
    /// Wait before the first redelivery (doubling after that).
    backoff: Duration,
    /// Serialises appends to attempt logs: two failed deliveries of one attempt would
    /// otherwise write at the same offset.
    log_lock: tokio::sync::Mutex<()>,
}

/// One event to notify about, with the notifications configured for it.
pub(crate) struct Notice {
    pub notifications: Vec<Notification>,
    pub event: NotifyEvent,
    /// `None` for the run's own end.
    pub step: Option<String>,
    /// `success`, `failed` or `up_for_retry`.
    pub state: &'static str,
    pub error: Option<String>,
    pub try_number: Option<u32>,
    pub max_tries: Option<u32>,
    /// The attempt (task instance id, try) whose log records a failed delivery.
    pub attempt: Option<(i64, u32)>,
    /// `on_failure` of a step, `on_retry` of the DAG...: names the notification in messages.
    pub origin: String,
}

impl Notifier {
    pub fn new(backoff: Duration) -> Self {
        Self {
            client: OnceLock::new(),
            tracker: TaskTracker::new(),
            backoff,
            log_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .user_agent(concat!("flowctl/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .clone()
    }

    /// Renders the payloads of `notice` now and delivers them in background tasks.
    pub fn dispatch(self: &Arc<Self>, run: &RunContext, notice: Notice, store: &Store) {
        if notice.notifications.is_empty() {
            return;
        }
        let facts = NotifyFacts {
            event: notice.event.as_str(),
            step: notice.step.as_deref(),
            state: notice.state,
            error: notice.error.as_deref(),
            try_number: notice.try_number,
        };
        let ctx = notify_context(run, &facts);
        let about = match &notice.step {
            Some(step) => format!("dag={} run={} step={step}", run.dag_id, run.run_id),
            None => format!("dag={} run={}", run.dag_id, run.run_id),
        };
        for notification in &notice.notifications {
            let (payload, problem) =
                message::payload(notification.body.as_deref(), &ctx, &facts, notice.max_tries);
            let job = Job {
                notifier: self.clone(),
                store: store.clone(),
                notification: notification.clone(),
                payload: payload.to_string().into_bytes(),
                attempt: notice.attempt,
                what: format!("{} notification ({about})", notice.origin),
            };
            if let Some(problem) = problem {
                job.report_soon(problem);
            }
            self.tracker.spawn(job.run());
        }
    }

    /// Waits up to `within` for deliveries in flight (a CLI run about to exit); returns how
    /// many are still pending.
    pub async fn wait(&self, within: Duration) -> usize {
        self.tracker.close();
        let _ = tokio::time::timeout(within, self.tracker.wait()).await;
        self.tracker.reopen();
        self.tracker.len()
    }

    /// Appends `line` to an attempt's log, after what is there.
    async fn log_line(&self, store: &Store, (ti_id, try_number): (i64, u32), line: &str) {
        let _guard = self.log_lock.lock().await;
        // Only after a failed delivery, so reading the whole log to find its end is cheap
        // enough; the attempt's own writes ended before its notices were dispatched.
        let end = match store.read_log(ti_id, try_number, 0).await {
            Ok(slice) => slice.next_offset,
            Err(err) => {
                tracing::warn!(
                    ti_id,
                    "cannot read the log to add a notification line: {err}"
                );
                return;
            }
        };
        if let Err(err) = store
            .append_log(ti_id, try_number, end, &format!("[flowctl] {line}\n"))
            .await
        {
            tracing::warn!(ti_id, "cannot add a notification line to the log: {err}");
        }
    }
}

/// A value as written, or read from its environment variable (`what` names it in errors).
fn resolve(source: &ValueSource, what: &str) -> Result<String, String> {
    match source {
        ValueSource::Literal(value) => Ok(value.clone()),
        ValueSource::Env(var) => std::env::var(var)
            .map_err(|_| format!("environment variable `{var}` ({what}) is not set")),
    }
}

/// One notification on its way.
struct Job {
    notifier: Arc<Notifier>,
    store: Store,
    notification: Notification,
    payload: Vec<u8>,
    attempt: Option<(i64, u32)>,
    /// "`on_failure` of step `load` notification (dag=... run=... step=...)".
    what: String,
}

impl Job {
    async fn run(self) {
        let resolved = self.url().and_then(|url| Ok((url, self.headers()?)));
        let (url, headers) = match resolved {
            Ok(found) => found,
            Err(why) => return self.report(&format!("{} not sent: {why}", self.what)).await,
        };
        let client = match self.notifier.client() {
            Ok(client) => client,
            Err(why) => return self.report(&format!("{} not sent: {why}", self.what)).await,
        };
        let delivery = Delivery {
            url: &url,
            headers: &headers,
            payload: self.payload.clone(),
            retries: self.notification.retries,
            timeout: self.notification.timeout,
            backoff: self.notifier.backoff,
        };
        match deliver(&client, &delivery).await {
            Ok(attempts) => tracing::debug!(
                "{} delivered to {} (attempt {attempts})",
                self.what,
                redact(&url)
            ),
            Err(why) => {
                let message = format!(
                    "{} could not be delivered to {}: {why}",
                    self.what,
                    redact(&url)
                );
                self.report(&message).await;
            }
        }
    }

    /// The URL to post to: as written, or from the environment (checked like a literal one).
    fn url(&self) -> Result<String, String> {
        let url = resolve(&self.notification.url, "its `webhook_env`")?;
        if let ValueSource::Env(var) = &self.notification.url {
            let valid = reqwest::Url::parse(&url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !valid {
                // Never echo the value: it is a secret.
                return Err(format!(
                    "environment variable `{var}` does not hold an http:// or https:// URL"
                ));
            }
        }
        Ok(url)
    }

    fn headers(&self) -> Result<IndexMap<String, String>, String> {
        self.notification
            .headers
            .iter()
            .map(|(name, value)| Ok((name.clone(), resolve(value, &format!("header `{name}`"))?)))
            .collect()
    }

    async fn report(&self, message: &str) {
        tracing::warn!("{message}");
        if let Some(attempt) = self.attempt {
            self.notifier.log_line(&self.store, attempt, message).await;
        }
    }

    /// A warning about the payload that does not stop the delivery.
    fn report_soon(&self, problem: String) {
        let message = format!("{}: {problem}", self.what);
        tracing::warn!("{message}");
        if let Some(attempt) = self.attempt {
            let notifier = self.notifier.clone();
            let store = self.store.clone();
            self.notifier.tracker.spawn(async move {
                notifier.log_line(&store, attempt, &message).await;
            });
        }
    }
}
