//! `flowctl run` delivers a failure notification before it exits: a local HTTP receiver gets
//! the Slack-style JSON POST naming the DAG and the step's error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use crate::support::TestProject;

/// Accepts one request, answers 200, and sends its body back.
fn receiver() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let mut stream = stream;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
    });
    (port, rx)
}

#[test]
fn a_failed_run_notifies_before_the_command_exits() {
    let (port, bodies) = receiver();
    let project = TestProject::new();
    project.dag(
        "nightly",
        &format!(
            "dag: nightly\non_failure: {{ webhook: 'http://127.0.0.1:{port}/hook' }}\nsteps:\n  \
             load: {{ type: shell, command: 'echo disk full >&2; exit 3' }}\n"
        ),
    );
    project.run(&["apply"]).ok();
    project.run(&["run", "nightly"]).expect_code(1);
    let body = bodies
        .recv_timeout(Duration::from_secs(5))
        .expect("the webhook was called before flowctl exited");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    let text = json["text"].as_str().expect("Slack-style text");
    assert!(
        text.contains("nightly") && text.contains("failed"),
        "{text}"
    );
}
