//! `flowctl serve` as a process: it answers health, API and UI requests over real HTTP, runs
//! a triggered run only with the token, refuses a public bind without a token, and stops on
//! SIGTERM.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestProject;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One HTTP/1.1 exchange; returns (status, body).
fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", "/health/live", None, "").0 == 200
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("flowctl serve did not come up on port {port}");
}

#[test]
fn serve_answers_over_http_and_actions_need_the_token() {
    let project = TestProject::new();
    project.dag(
        "hello",
        "dag: hello\nparams: { who: world }\nsteps:\n  greet: { type: shell, command: 'echo hello {{ params.who }}' }\n",
    );
    project.run(&["apply"]).ok();
    let port = free_port();
    let child = project
        .cmd(&["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("FLOWCTL_API_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flowctl serve");
    let serving = Serving(child);
    wait_ready(port);

    let (status, body) = http(port, "GET", "/health/ready", None, "");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(port, "GET", "/api/v1/dags", None, "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"hello\""), "{body}");
    let (status, body) = http(port, "GET", "/", None, "");
    assert_eq!(status, 200);
    assert!(
        body.contains("hello"),
        "the DAG list page names the DAG: {body}"
    );

    let trigger = r#"{"params": {"who": "flowctl"}}"#;
    let (status, body) = http(port, "POST", "/api/v1/dags/hello/runs", None, trigger);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/dags/hello/runs",
        Some("wrong-token-wrong-token"),
        trigger,
    );
    assert_eq!(status, 401, "{body}");
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/dags/hello/runs",
        Some(TOKEN),
        trigger,
    );
    assert!(status == 200 || status == 201, "{status} {body}");
    let run: serde_json::Value = serde_json::from_str(&body).expect("run JSON");
    assert_eq!(run["executing"], true, "{body}");
    let run_id = run["run"]["run_id"]
        .as_str()
        .expect("run.run_id")
        .to_string();

    // The serving process executes the run it triggered.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = http(
            port,
            "GET",
            &format!("/api/v1/dags/hello/runs/{run_id}"),
            None,
            "",
        );
        if body.contains("\"success\"") {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not succeed: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = http(port, "GET", "/api/v1/dags/nope", None, "");
    assert_eq!(status, 404);

    // SIGTERM stops it cleanly.
    let mut child = serving;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    if let Some(mut err) = child.0.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    assert!(
        !stderr.contains(TOKEN),
        "the token must never be printed: {stderr}"
    );
}

#[test]
fn a_public_bind_without_a_token_is_refused() {
    let project = TestProject::new();
    let run = project.run(&["serve", "--bind", "0.0.0.0:0"]);
    run.expect_code(2);
    assert!(run.stderr.contains("token"), "{}", run.all());
}
