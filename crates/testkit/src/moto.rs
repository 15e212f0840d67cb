//! A moto server (the AWS mock, PyPI `moto[server]`) for tests of the AWS job plugins.
//!
//! [`MotoServer::start`] runs `$FLOWCTL_PYTHON -m moto.server -H 127.0.0.1 -p PORT` on a free
//! port and waits until it answers. Without that interpreter or without moto in it the test is
//! skipped with a hint saying how to install it — except in CI (`CI` set), where that is a
//! failure. The server is killed when the value is dropped.
//!
//! Nothing global is set here: tests pass [`MotoServer::endpoint`] to the code under test
//! through the aws target's settings ([`MotoServer::target_settings`]). The AWS SDK still needs
//! credentials (moto accepts any): tests set `AWS_ACCESS_KEY_ID=testing`,
//! `AWS_SECRET_ACCESS_KEY=testing` (see [`TEST_ENV`]) in their process before making a client,
//! or on the `flowctl` command they spawn. The region is in the target settings.
//!
//! moto's own controls are reached with [`MotoServer::api`]: `reset`, state transitions
//! (`/moto-api/state-manager/set-transition`), canned Athena results
//! (`/moto-api/static/athena/query-results`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::python;

/// How to get moto where the tests look for it.
pub const MOTO_INSTALL_HINT: &str = "install with `python3 -m venv ~/.cache/flowctl-ci-venv && \
     ~/.cache/flowctl-ci-venv/bin/pip install 'moto[server]==5.2.5'` (or point FLOWCTL_PYTHON at \
     an interpreter that has it)";

/// The environment the AWS SDK needs to talk to moto: fake credentials (moto accepts any).
pub const TEST_ENV: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

/// The region the helpers put in target settings (moto's default one, where canned Athena
/// results are stored unless told otherwise).
pub const REGION: &str = "us-east-1";

/// How long moto may take to start (its import of every service is slow on 2 cores).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server, killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts moto on a free port of 127.0.0.1 and waits until it answers. `None` (after
    /// printing why and how to enable it) when moto is unavailable outside CI; panics in CI,
    /// or when moto is installed but does not come up.
    pub fn start() -> Option<MotoServer> {
        let interpreter = python();
        let unavailable = |why: String| {
            assert!(
                std::env::var_os("CI").is_none(),
                "moto is required in CI: {why}; {MOTO_INSTALL_HINT}"
            );
            eprintln!("skipping moto test ({why}): {MOTO_INSTALL_HINT}");
            None
        };
        if !interpreter.exists() {
            return unavailable(format!("{} not found", interpreter.display()));
        }
        let probe = Command::new(&interpreter)
            .args(["-c", "import moto.server, flask"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", interpreter.display()));
        if !probe.status.success() {
            return unavailable(format!(
                "moto[server] is not installed in {}",
                interpreter.display()
            ));
        }
        let port = free_port();
        // moto itself, plus Glue job runs that can FAIL (tests/python/moto_server.py).
        let child = Command::new(&interpreter)
            .arg(crate::scripts_dir().join("moto_server.py"))
            .args(["-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdin(Stdio::null())
            // moto logs every request: keep the test output readable.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}", interpreter.display()));
        let mut server = MotoServer { child, port };
        server.wait_ready();
        Some(server)
    }

    /// `http://127.0.0.1:PORT`: the endpoint URL to give the SDK.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Settings of an aws target pointing at this server (`region`, `endpoint_url`), to which
    /// tests add their buckets and databases.
    pub fn target_settings(&self) -> serde_json::Map<String, Value> {
        let mut settings = serde_json::Map::new();
        settings.insert("region".into(), json!(REGION));
        settings.insert("endpoint_url".into(), json!(self.endpoint()));
        settings
    }

    /// Forgets every resource (moto's `/moto-api/reset`).
    pub fn reset(&self) {
        // No body: moto does not read one here, and unread bytes make the server's close a
        // TCP reset that can cut off its answer.
        let (status, text) = http_post(self.port, "/moto-api/reset", "")
            .unwrap_or_else(|e| panic!("moto-api/reset: {e}"));
        assert_eq!(status, 200, "moto-api/reset answered {status}: {text}");
    }

    /// POSTs `body` as JSON to `/moto-api/<path>` and returns the response body; panics on a
    /// non-2xx answer. E.g. `api("state-manager/set-transition", &json!({"model_name":
    /// "glue::job_run", "transition": {"progression": "manual", "times": 3}}))`.
    pub fn api(&self, path: &str, body: &Value) -> String {
        let payload = body.to_string();
        let (status, text) = http_post(self.port, &format!("/moto-api/{path}"), &payload)
            .unwrap_or_else(|e| panic!("moto-api/{path}: {e}"));
        assert!(
            (200..300).contains(&status),
            "moto-api/{path} answered {status}: {text}"
        );
        text
    }

    /// Sets how moto advances the states of `model_name` (e.g. `glue::job_run`,
    /// `athena::execution`): `{"progression": "immediate"}`, `{"progression": "manual",
    /// "times": N}` (N describes before each step) or `{"progression": "time", "seconds": N}`.
    pub fn set_transition(&self, model_name: &str, transition: Value) {
        self.api(
            "state-manager/set-transition",
            &json!({ "model_name": model_name, "transition": transition }),
        );
    }

    /// Queues a canned Athena result (returned by `GetQueryResults` of the next query that
    /// asks for results, in [`REGION`]) as Athena gives a SELECT's: described `columns`, a
    /// header row of the column names, then `rows` of cell strings.
    pub fn queue_athena_result(&self, columns: &[&str], rows: &[Vec<&str>]) {
        let row = |cells: &[&str]| json!({ "Data": cells.iter().map(|c| json!({ "VarCharValue": c })).collect::<Vec<_>>() });
        let mut all = vec![row(columns)];
        all.extend(rows.iter().map(|cells| row(cells)));
        let column_info: Vec<Value> = columns
            .iter()
            .map(|c| json!({ "Name": c, "Label": c, "Type": "varchar", "Nullable": "UNKNOWN" }))
            .collect();
        self.api(
            "static/athena/query-results",
            &json!({ "region": REGION, "results": [{ "rows": all, "column_info": column_info }] }),
        );
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "moto exited during start-up ({status}); try `{} -m moto.server -p {}`",
                    python().display(),
                    self.port
                );
            }
            if let Ok((200, _)) = http_get(self.port, "/moto-api/data.json") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "moto did not answer on port {} within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Already gone is fine: there is nothing left to stop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (the OS picks it; moto binds it right after).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a free port on 127.0.0.1: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the bound port: {e}"))
        .port()
}

fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    http_request(port, "GET", path, "")
}

fn http_post(port: u16, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    http_request(port, "POST", path, body)
}

/// A minimal HTTP/1.1 exchange (`Connection: close`), enough for moto's JSON control API
/// without an HTTP client dependency.
fn http_request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:.200}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
