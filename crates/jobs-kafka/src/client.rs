//! The client context every Kafka client of an attempt is created with ([`ClientLog`]):
//! librdkafka's own log lines and error events go to the attempt's log, each distinct message
//! once, and the context remembers why the brokers could not be reached, so a request that
//! times out fails with one clear line ([`unreachable()`]) instead of librdkafka repeating its
//! connection errors on every reconnect.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use flowctl_engine::job::LogSink;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use regex::Regex;

use crate::error::KafkaJobError;

/// At most this many distinct librdkafka messages per client reach the attempt's log.
const MAX_LINES: usize = 20;

/// What makes two librdkafka messages "the same": without the parts that change on every
/// repeat (how long the connection attempt took, how many repeats librdkafka itself
/// suppressed) or between a log line and the error event it also raises (the thread name).
static REPEAT_NOISE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\[thrd:[^\]]*\]: | ?\(after \d+ms in state [A-Z_]+(?:, \d+ identical error\(s\) suppressed)?\)",
    )
    .unwrap_or_else(|e| unreachable!("a constant regex: {e}"))
});

/// A message as it is compared and shown: without the parts that change on every repeat.
fn normalize(message: &str) -> String {
    REPEAT_NOISE.replace_all(message.trim(), "").into_owned()
}

#[derive(Default)]
struct Seen {
    /// Normalized messages already shown.
    shown: HashSet<String>,
    /// Distinct messages not shown because [`MAX_LINES`] were.
    hidden: u64,
    /// Why a broker could not be reached (the first such reason; e.g. `Connect to
    /// ipv4#127.0.0.1:1 failed: Connection refused`).
    broker_failure: Option<String>,
    /// librdkafka said every broker is down.
    all_down: bool,
}

/// A librdkafka client context that writes librdkafka's log lines (warnings and worse) and
/// error events to the attempt's log, each distinct message once (at most 20 of
/// them), and remembers why the brokers could not be reached. Without an attempt log
/// ([`ClientLog::tracing`]) the same lines go to `tracing`, deduplicated the same way.
pub struct ClientLog {
    log: Option<LogSink>,
    seen: Mutex<Seen>,
}

impl ClientLog {
    /// librdkafka's messages go to the attempt's log.
    pub fn attempt(log: LogSink) -> Self {
        Self {
            log: Some(log),
            seen: Mutex::default(),
        }
    }

    /// librdkafka's messages go to `tracing` (clients outside an attempt: tests, benchmarks).
    pub fn tracing() -> Self {
        Self {
            log: None,
            seen: Mutex::default(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Shows `message` unless an equal one was shown.
    fn note(&self, message: &str) {
        let key = normalize(message);
        let mut seen = self.seen();
        if seen.shown.contains(&key) {
            return;
        }
        if seen.shown.len() >= MAX_LINES {
            seen.hidden += 1;
            return;
        }
        let line = format!("librdkafka: {key}");
        seen.shown.insert(key);
        if seen.shown.len() == MAX_LINES {
            drop(seen);
            self.emit(line);
            self.emit(format!(
                "librdkafka: (further distinct messages are not shown; at most {MAX_LINES} \
                 per client)"
            ));
            return;
        }
        drop(seen);
        self.emit(line);
    }

    fn emit(&self, line: String) {
        match &self.log {
            Some(log) => log.system(line),
            None => tracing::warn!(target: "librdkafka", "{line}"),
        }
    }

    /// Why the brokers could not be reached, if librdkafka said so.
    pub fn broker_failure(&self) -> Option<String> {
        let seen = self.seen();
        seen.broker_failure
            .clone()
            .or_else(|| seen.all_down.then(|| "every broker is down".to_owned()))
    }

    /// How many distinct messages were not shown (beyond the first 20).
    #[cfg(test)]
    pub fn hidden(&self) -> u64 {
        self.seen().hidden
    }
}

impl ClientContext for ClientLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                if fac == "FAIL" {
                    let mut seen = self.seen();
                    seen.broker_failure
                        .get_or_insert_with(|| failure_reason(log_message));
                }
                self.note(log_message);
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac} {log_message}");
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", "{fac} {log_message}");
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        {
            let mut seen = self.seen();
            match code {
                Some(RDKafkaErrorCode::AllBrokersDown) => seen.all_down = true,
                Some(
                    RDKafkaErrorCode::BrokerTransportFailure
                    | RDKafkaErrorCode::Resolve
                    | RDKafkaErrorCode::Authentication,
                ) => {
                    seen.broker_failure
                        .get_or_insert_with(|| failure_reason(reason));
                }
                _ => {}
            }
        }
        // The transport failures repeat the log line librdkafka wrote just before: shown once.
        self.note(reason);
    }
}

impl ConsumerContext for ClientLog {}

/// `127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms
/// in state CONNECT)` without the repeat noise.
fn failure_reason(message: &str) -> String {
    normalize(message)
}

/// Serves the events librdkafka queued while the caller waited on a request (its log lines
/// and errors are only delivered by polling), for at most `budget`.
pub fn drain(consumer: &BaseConsumer<ClientLog>, budget: Duration) {
    let until = Instant::now() + budget;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        // Log and error events are handled by the context; nothing is assigned, so no
        // message can come back.
        if consumer.poll(left).is_none() {
            return;
        }
    }
}

/// The error of a request that failed: one clear line naming the bootstrap list and what
/// librdkafka said when the brokers could not be reached, else the request's own error.
pub fn request_failed(
    context: &ClientLog,
    bootstrap: &str,
    timeout: Duration,
    what: &str,
    error: KafkaError,
) -> KafkaJobError {
    match context.broker_failure() {
        Some(why) => unreachable(bootstrap, timeout, &why),
        None => KafkaJobError::Kafka(format!("{what}: {error}")),
    }
}

/// `cannot reach Kafka (bootstrap <list>) within <timeout>: <why>`.
pub fn unreachable(bootstrap: &str, timeout: Duration, why: &str) -> KafkaJobError {
    KafkaJobError::Unreachable(format!(
        "cannot reach Kafka (bootstrap {bootstrap}) within {}s: {why}",
        timeout.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<flowctl_engine::job::LogLine>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = rx.try_recv() {
            out.push(line.text);
        }
        out
    }

    #[test]
    fn each_distinct_message_reaches_the_log_once() {
        let (sink, mut rx) = LogSink::channel();
        let context = ClientLog::attempt(sink);
        for ms in [0, 1, 502] {
            context.log(
                RDKafkaLogLevel::Error,
                "FAIL",
                &format!(
                    "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to \
                     ipv4#127.0.0.1:1 failed: Connection refused (after {ms}ms in state CONNECT)"
                ),
            );
            context.error(
                KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
                &format!(
                    "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection \
                     refused (after {ms}ms in state CONNECT, 3 identical error(s) suppressed)"
                ),
            );
            context.error(
                KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
                "1/1 brokers are down",
            );
        }
        context.log(RDKafkaLogLevel::Info, "INFO", "not shown");
        assert_eq!(
            lines(&mut rx),
            [
                "librdkafka: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: \
                 Connection refused",
                "librdkafka: 1/1 brokers are down",
            ]
        );
        assert_eq!(
            context.broker_failure().as_deref(),
            Some("127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused")
        );
        let err = request_failed(
            &context,
            "127.0.0.1:1",
            Duration::from_secs(15),
            "metadata",
            KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut),
        );
        assert_eq!(
            err.to_string(),
            "cannot reach Kafka (bootstrap 127.0.0.1:1) within 15s: 127.0.0.1:1/bootstrap: \
             Connect to ipv4#127.0.0.1:1 failed: Connection refused"
        );
    }

    #[test]
    fn a_flood_of_distinct_messages_is_capped() {
        let (sink, mut rx) = LogSink::channel();
        let context = ClientLog::attempt(sink);
        for i in 0..50 {
            context.log(RDKafkaLogLevel::Warning, "X", &format!("message {i}"));
        }
        let shown = lines(&mut rx);
        assert_eq!(shown.len(), MAX_LINES + 1, "{shown:?}");
        assert!(shown[MAX_LINES].contains("further distinct messages"));
        assert_eq!(context.hidden(), 50 - MAX_LINES as u64);
        // Without broker trouble, a failed request keeps its own error.
        let err = request_failed(
            &context,
            "b:9092",
            Duration::from_secs(15),
            "fetching the metadata of topic t",
            KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut),
        );
        assert!(
            err.to_string()
                .starts_with("kafka: fetching the metadata of topic t: "),
            "{err}"
        );
    }

    #[test]
    fn all_brokers_down_alone_still_explains_the_failure() {
        let context = ClientLog::tracing();
        context.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(
            context.broker_failure().as_deref(),
            Some("every broker is down")
        );
    }
}
