//! Notifications against a local HTTP receiver: which webhooks an ended try or run calls,
//! with what JSON; redelivery after a 500; a receiver that never answers or always fails
//! neither blocks nor fails the run, and is reported (warning, attempt log) without the
//! URL's secret path.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowctl_engine::EngineSettings;
use flowctl_state::RunRecord;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::support::Harness;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: HashMap<String, String>,
    body: Value,
}

/// How the receiver answers a request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Read the request, never answer.
    Hang,
}

/// A minimal HTTP/1.1 server (keep-alive aware) recording every request. Paths answer
/// from a script of answers (the last one repeats); unscripted paths answer 200.
struct Receiver {
    base: String,
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<HashMap<String, VecDeque<Answer>>>>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<HashMap<String, VecDeque<Answer>>>> = Arc::default();
        let (r, s) = (requests.clone(), script.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, r.clone(), s.clone()));
            }
        });
        Self {
            base,
            requests,
            script,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn script(&self, path: &str, answers: &[Answer]) {
        self.script
            .lock()
            .unwrap()
            .insert(path.to_string(), answers.iter().copied().collect());
    }

    fn to(&self, path: &str) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    fn texts(&self, path: &str) -> Vec<String> {
        self.to(path)
            .iter()
            .map(|r| r.body["text"].as_str().unwrap_or("<no text>").to_string())
            .collect()
    }
}

async fn serve(
    conn: TcpStream,
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<HashMap<String, VecDeque<Answer>>>>,
) {
    let (read, mut write) = conn.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            if read.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if read.read_exact(&mut body).await.is_err() {
            return;
        }
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answer = {
            let mut script = script.lock().unwrap();
            match script.get_mut(&path) {
                Some(answers) if answers.len() > 1 => answers.pop_front(),
                Some(answers) => answers.front().copied(),
                None => None,
            }
        }
        .unwrap_or(Answer::Status(200));
        requests.lock().unwrap().push(Request {
            path,
            headers,
            body,
        });
        match answer {
            Answer::Status(code) => {
                let response = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
                if write.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

fn fast_settings() -> EngineSettings {
    EngineSettings {
        notify_backoff: Duration::from_millis(20),
        ..EngineSettings::default()
    }
}

/// `(run `…`, ds …, target local)` of a run, as the default messages write it.
fn run_place(run: &RunRecord) -> String {
    format!(
        "(run `{}`, ds {}, target local)",
        run.run_id,
        run.logical_date.format("%Y-%m-%d")
    )
}

async fn attempt_log(h: &Harness, run: &RunRecord, step: &str, try_number: u32) -> String {
    let store = h.engine.store();
    let task = store.get_task(run.id, step).await.unwrap().unwrap();
    store.read_log(task.id, try_number, 0).await.unwrap().text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tries_notify_retry_per_try_and_failure_once_at_step_and_run_level() {
    for h in Harness::each_backend_with(fast_settings).await {
        let rx = Receiver::start().await;
        h.apply(&format!(
            "dag: notify_fail\n\
             on_failure: {{ webhook: '{}' }}\n\
             on_retry: {{ webhook: '{}' }}\n\
             on_success: {{ webhook: '{}' }}\n\
             steps:\n  \
               s:\n    type: probe\n    fail_times: 9\n    retries: 2\n    retry_delay: 10ms\n    \
                 on_retry: {{ webhook: '{}' }}\n    on_failure: {{ webhook: '{}' }}\n    \
                 on_success: {{ webhook: '{}' }}\n  \
               after: {{ type: probe, depends_on: [s] }}\n",
            rx.url("/dag-failure"),
            rx.url("/dag-retry"),
            rx.url("/dag-success"),
            rx.url("/step-retry"),
            rx.url("/step-failure"),
            rx.url("/step-success"),
        ))
        .await;
        let (outcome, _) = h.run("notify_fail").await;
        assert!(!outcome.succeeded());
        assert_eq!(
            h.engine
                .wait_for_notifications(Duration::from_secs(10))
                .await,
            0
        );
        let place = run_place(&outcome.run);

        let retry = |n: u32| {
            format!(
                "flowctl: step `s` of DAG `notify_fail` failed on try {n} of 3 and will be retried {place}\nerror: flaky failure {n}"
            )
        };
        // Deliveries run concurrently: their order at the receiver is not guaranteed.
        let sorted = |path: &str| {
            let mut texts = rx.texts(path);
            texts.sort();
            texts
        };
        assert_eq!(
            sorted("/step-retry"),
            vec![retry(1), retry(2)],
            "{:?}",
            h.backend()
        );
        assert_eq!(sorted("/dag-retry"), vec![retry(1), retry(2)]);
        assert_eq!(
            rx.texts("/step-failure"),
            vec![format!(
                "flowctl: step `s` of DAG `notify_fail` failed on try 3 of 3 {place}\nerror: flaky failure 3"
            )]
        );
        assert_eq!(
            rx.texts("/dag-failure"),
            vec![format!(
                "flowctl: DAG `notify_fail` failed {place}\nerror: step `s` failed: flaky failure 3"
            )]
        );
        assert!(rx.to("/dag-success").is_empty() && rx.to("/step-success").is_empty());
        // The default body is exactly Slack's `{"text": ...}`, posted as JSON.
        let request = &rx.to("/dag-failure")[0];
        assert_eq!(request.body.as_object().map(|o| o.len()), Some(1));
        assert_eq!(
            request.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_notifications_render_templated_bodies_and_headers() {
    let h = Harness::new(
        flowctl_state::testing::TestStore::sqlite().await,
        fast_settings(),
    );
    let rx = Receiver::start().await;
    h.apply(&format!(
        "dag: notify_ok\n\
         params: {{ team: data-eng }}\n\
         on_success:\n  \
           webhook: '{}'\n  \
           headers: {{ X-Team: ops }}\n  \
           body: '{{\"event\": \"{{{{ event }}}}\", \"dag\": \"{{{{ dag_id }}}}\", \"run\": {{{{ run_id | tojson }}}}, \"state\": \"{{{{ state }}}}\", \"step\": {{{{ step | tojson }}}}, \"error\": {{{{ error | tojson }}}}, \"team\": \"{{{{ params.team }}}}\"}}'\n\
         steps:\n  \
           a:\n    type: probe\n    \
             on_success:\n      webhook: '{}'\n      body: '{{{{ step }}}} ok on try {{{{ try_number }}}} ({{{{ ds }}}})'\n",
        rx.url("/run"),
        rx.url("/step"),
    ))
    .await;
    let (outcome, _) = h.run("notify_ok").await;
    assert!(outcome.succeeded());
    assert_eq!(
        h.engine
            .wait_for_notifications(Duration::from_secs(10))
            .await,
        0
    );
    let run = &rx.to("/run")[0];
    assert_eq!(
        run.body,
        json!({
            "event": "success", "dag": "notify_ok", "run": outcome.run.run_id, "state": "success",
            "step": null, "error": null, "team": "data-eng",
        })
    );
    assert_eq!(run.headers.get("x-team").map(String::as_str), Some("ops"));
    // Not JSON: sent as Slack's `text`.
    let ds = outcome.run.logical_date.format("%Y-%m-%d");
    assert_eq!(rx.texts("/step"), vec![format!("a ok on try 1 ({ds})")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_redelivered_until_the_receiver_accepts() {
    let h = Harness::new(
        flowctl_state::testing::TestStore::sqlite().await,
        fast_settings(),
    );
    let rx = Receiver::start().await;
    rx.script(
        "/flaky",
        &[
            Answer::Status(500),
            Answer::Status(503),
            Answer::Status(200),
        ],
    );
    h.apply(&format!(
        "dag: notify_flaky\non_success: {{ webhook: '{}', retries: 3 }}\nsteps:\n  a: {{ type: probe }}\n",
        rx.url("/flaky")
    ))
    .await;
    let (outcome, _) = h.run("notify_flaky").await;
    assert!(outcome.succeeded());
    assert_eq!(
        h.engine
            .wait_for_notifications(Duration::from_secs(10))
            .await,
        0
    );
    let texts = rx.texts("/flaky");
    assert_eq!(texts.len(), 3, "two failures, then delivered: {texts:?}");
    assert!(
        texts.iter().all(|t| *t == texts[0]),
        "the same message each time"
    );
    assert!(texts[0].starts_with("flowctl: DAG `notify_flaky` succeeded"));
}

/// Everything the engine logs while the test runs (the test's runtime is single-threaded,
/// so a thread-local subscriber sees the notifier's tasks too).
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = Buf(buf.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (buf, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn receivers_that_hang_or_fail_neither_block_nor_fail_the_run() {
    let (logs, _guard) = capture_logs();
    let h = Harness::new(
        flowctl_state::testing::TestStore::sqlite().await,
        fast_settings(),
    );
    let rx = Receiver::start().await;
    rx.script("/hang/secret-token", &[Answer::Hang]);
    rx.script("/down/secret-token", &[Answer::Status(500)]);
    // A run that waited for these would take 3 s at the very least (9 s with the retries).
    h.apply(&format!(
        "dag: notify_broken\n\
         on_success: {{ webhook: '{}', timeout: 3s, retries: 2 }}\n\
         steps:\n  \
           a:\n    type: probe\n    \
             on_success:\n      - {{ webhook: '{}', timeout: 3s, retries: 2 }}\n      \
             - {{ webhook: '{}', retries: 2 }}\n      - {{ webhook_env: FLOWCTL_TEST_UNSET_WEBHOOK }}\n  \
           b: {{ type: probe, depends_on: [a] }}\n",
        rx.url("/hang/secret-token"),
        rx.url("/hang/secret-token"),
        rx.url("/down/secret-token"),
    ))
    .await;
    let started = Instant::now();
    let (outcome, _) = h.run("notify_broken").await;
    let took = started.elapsed();
    assert!(
        outcome.succeeded(),
        "the receivers do not decide the run's outcome"
    );
    assert!(
        took < Duration::from_millis(2500),
        "the run waited for its notifications: {took:?}"
    );

    // Delivery goes on in the background: 3 tries of 3 s each against the hanging receiver.
    let started = Instant::now();
    assert_eq!(
        h.engine
            .wait_for_notifications(Duration::from_secs(30))
            .await,
        0
    );
    assert!(
        started.elapsed() >= Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        rx.to("/hang/secret-token").len(),
        6,
        "3 tries of 2 notifications"
    );
    assert_eq!(
        rx.to("/down/secret-token").len(),
        3,
        "first try + 2 retries"
    );

    let log = attempt_log(&h, &outcome.run, "a", 1).await;
    let host = rx.base.clone();
    for expected in [
        format!("could not be delivered to {host}: timed out"),
        format!(
            "could not be delivered to {host}: the receiver answered HTTP 500 Internal Server Error (after 3 attempts)"
        ),
        "environment variable `FLOWCTL_TEST_UNSET_WEBHOOK` (its `webhook_env`) is not set"
            .to_string(),
    ] {
        assert!(
            log.contains(&expected),
            "attempt log lacks {expected:?}:\n{log}"
        );
    }
    assert!(
        log.contains("[flowctl] `on_success` of step `a` notification"),
        "{log}"
    );
    let warnings = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        warnings.contains("`on_success` of the DAG notification"),
        "{warnings}"
    );
    assert_eq!(warnings.matches(" WARN ").count(), 4, "{warnings}");
    // Webhook URLs are secrets: only scheme and host are ever written.
    assert!(!warnings.contains("secret-token") && !log.contains("secret-token"));
}

#[tokio::test]
async fn webhook_env_and_env_headers_are_read_when_sending() {
    let h = Harness::new(
        flowctl_state::testing::TestStore::sqlite().await,
        fast_settings(),
    );
    let rx = Receiver::start().await;
    // SAFETY: set before any thread of this test reads the environment; the name is unique
    // to this test.
    unsafe {
        std::env::set_var("FLOWCTL_TEST_NOTIFY_URL", rx.url("/from-env"));
        std::env::set_var("FLOWCTL_TEST_NOTIFY_AUTH", "Bearer s3cr3t");
    }
    h.apply(
        "dag: notify_env\n\
         on_failure:\n  \
           webhook_env: FLOWCTL_TEST_NOTIFY_URL\n  \
           headers: { Authorization: { env: FLOWCTL_TEST_NOTIFY_AUTH }, X-Plain: yes-literal }\n\
         steps:\n  a: { type: probe, fatal: true }\n",
    )
    .await;
    let (outcome, _) = h.run("notify_env").await;
    assert!(!outcome.succeeded());
    assert_eq!(
        h.engine
            .wait_for_notifications(Duration::from_secs(10))
            .await,
        0
    );
    assert_eq!(
        rx.texts("/from-env"),
        vec![format!(
            "flowctl: DAG `notify_env` failed {}\nerror: step `a` failed: bad configuration",
            run_place(&outcome.run)
        )]
    );
    let headers = &rx.to("/from-env")[0].headers;
    assert_eq!(
        headers.get("authorization").map(String::as_str),
        Some("Bearer s3cr3t")
    );
    assert_eq!(
        headers.get("x-plain").map(String::as_str),
        Some("yes-literal")
    );
}
