//! The JSON API over real runs: every endpoint, auth failures, 4xx cases.

use axum::http::{Method, StatusCode, header};
use flowctl_server::{ApiToken, ServerConfig};
use flowctl_state::RunState;

use crate::fixtures::{BROKEN, ETL};
use crate::support::{Harness, TOKEN, call, enc, get, post_json};

#[tokio::test]
async fn reads_show_dags_runs_tasks_attempts_logs_and_outputs_on_each_backend() {
    for h in Harness::each_backend().await {
        reads_show_dags_runs_tasks_attempts_logs_and_outputs(h).await;
    }
}

async fn reads_show_dags_runs_tasks_attempts_logs_and_outputs(h: Harness) {
    h.apply(ETL).await;
    h.apply(BROKEN).await;
    let run = h.run("etl", &[("region", "us")]).await;
    assert_eq!(run.state, RunState::Success);
    let app = h.server().router();

    let dags = get(&app, "/api/v1/dags").await;
    assert_eq!(dags.status, StatusCode::OK, "{}", dags.text);
    let dags = dags.json();
    let ids: Vec<&str> = dags
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dag_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["broken", "etl"]);
    let etl = &dags[1];
    assert_eq!(etl["schedule"], "0 6 * * *");
    assert_eq!(etl["paused"], false);
    assert!(
        etl["next_run"].as_str().unwrap().contains("T06:00:00"),
        "{etl}"
    );
    assert_eq!(etl["params"]["batch"], 100);
    assert_eq!(etl["latest_runs"][0]["run_id"], run.run_id.as_str());
    assert_eq!(etl["latest_runs"][0]["state"], "success");
    let transform = &etl["steps"][1];
    assert_eq!(transform["step_id"], "transform");
    assert_eq!(transform["depends_on"][0], "extract");
    assert_eq!(transform["job_types"]["*"], "probe");
    assert_eq!(
        dags[0]["next_run"],
        serde_json::Value::Null,
        "manual DAG has no next run"
    );

    let one = get(&app, "/api/v1/dags/etl").await.json();
    assert_eq!(one["description"], "Extract, transform <b>and</b> load");

    let runs = get(&app, "/api/v1/dags/etl/runs?limit=5").await.json();
    assert_eq!(runs[0]["run_id"], run.run_id.as_str());
    assert_eq!(runs[0]["trigger"], "manual");
    assert_eq!(runs[0]["params"]["region"], "us");

    let base = format!("/api/v1/dags/etl/runs/{}", enc(&run.run_id));
    let by_id = get(&app, &base).await.json();
    assert_eq!(by_id["state"], "success");
    let latest = get(&app, "/api/v1/dags/etl/runs/latest").await.json();
    assert_eq!(latest["run_id"], run.run_id.as_str());

    let tasks = get(&app, &format!("{base}/tasks")).await.json();
    let states: Vec<(&str, &str)> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["step_id"].as_str().unwrap(), t["state"].as_str().unwrap()))
        .collect();
    // The DAG's order: extract first, load (deepest) last.
    assert_eq!(states.len(), 4, "{tasks}");
    assert_eq!(states[0], ("extract", "success"));
    assert_eq!(states.iter().filter(|(s, _)| *s == "load").count(), 1);
    assert!(states.iter().all(|(_, s)| *s == "success"), "{states:?}");
    let transform = get(&app, &format!("{base}/tasks/transform")).await.json();
    let attempts = transform["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{transform}");
    assert_eq!(attempts[0]["state"], "failed");
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("flaky failure 1")
    );
    assert_eq!(attempts[1]["state"], "success");
    assert!(attempts[1]["duration_seconds"].as_f64().unwrap() >= 0.0);

    // Logs: whole, then from an offset (what a follower does), then nothing new.
    let log = get(&app, &format!("{base}/tasks/extract/logs"))
        .await
        .json();
    let text = log["text"].as_str().unwrap();
    assert!(text.contains("message: region=us batch=100"), "{text}");
    assert!(text.contains("<script>alert('x')</script>"), "{text}");
    assert_eq!(log["running"], false);
    assert_eq!(log["state"], "success");
    let end = log["next_offset"].as_u64().unwrap();
    assert_eq!(end as usize, text.len());
    let tail = get(&app, &format!("{base}/tasks/extract/logs?offset={end}"))
        .await
        .json();
    assert_eq!(tail["text"], "");
    assert_eq!(tail["next_offset"].as_u64(), Some(end));
    let first = get(&app, &format!("{base}/tasks/transform/logs?attempt=1"))
        .await
        .json();
    assert_eq!(first["try_number"], 1);

    let outputs = get(&app, &format!("{base}/outputs")).await.json();
    assert_eq!(outputs["outputs"]["extract"]["rows"], "3");

    let quality = get(&app, &format!("{base}/quality")).await.json();
    assert_eq!(quality, serde_json::json!([]), "no quality steps in etl");
}

#[tokio::test]
async fn unknown_things_and_bad_input_get_json_4xx() {
    let h = Harness::new().await;
    h.apply(ETL).await;
    let run = h.run("etl", &[]).await;
    let app = h.server().router();
    let base = format!("/api/v1/dags/etl/runs/{}", enc(&run.run_id));

    let cases = [
        (
            "/api/v1/dags/nope",
            StatusCode::NOT_FOUND,
            "DAG `nope` is not applied; applied DAGs: etl",
        ),
        (
            "/api/v1/dags/nope/runs",
            StatusCode::NOT_FOUND,
            "not applied",
        ),
        (
            "/api/v1/dags/etl/runs/manual__1999",
            StatusCode::NOT_FOUND,
            "has no run `manual__1999`",
        ),
        (
            &format!("{base}/tasks/nope"),
            StatusCode::NOT_FOUND,
            "has no step `nope`; steps: extract",
        ),
        (
            &format!("{base}/tasks/extract/logs?attempt=7"),
            StatusCode::NOT_FOUND,
            "has no attempt 7",
        ),
        (
            &format!("{base}/tasks/extract/logs?attempt=x"),
            StatusCode::BAD_REQUEST,
            "attempt",
        ),
        (
            &format!("{base}/tasks/extract/logs?bogus=1"),
            StatusCode::BAD_REQUEST,
            "bogus",
        ),
        (
            "/api/v1/dags/etl/runs?limit=0",
            StatusCode::BAD_REQUEST,
            "limit must be between 1 and 1000",
        ),
        (
            "/api/v1/dags/etl/runs?limit=-3",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "/api/v1/nothing/here",
            StatusCode::NOT_FOUND,
            "no API endpoint /api/v1/nothing/here",
        ),
    ];
    for (uri, status, needle) in cases {
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, status, "{uri}: {}", reply.text);
        let error = reply.error();
        assert!(error.contains(needle), "{uri}: {error}");
    }
    let reply = call(&app, Method::DELETE, "/api/v1/dags", &[], None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.error().contains("DELETE is not allowed"));
}

#[tokio::test]
async fn actions_need_the_right_token() {
    let h = Harness::new().await;
    h.apply(ETL).await;
    let app = h.server().router();
    let none = call(&app, Method::POST, "/api/v1/dags/etl/pause", &[], None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(none.error().contains("needs the API token"));
    assert!(none.headers.contains_key(header::WWW_AUTHENTICATE));
    let wrong = call(
        &app,
        Method::POST,
        "/api/v1/dags/etl/runs",
        &[(header::AUTHORIZATION, "Bearer test-token-0123456789abcdeX")],
        Some("{}"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.error().contains("the API token is wrong"));
    let basic = call(
        &app,
        Method::POST,
        "/api/v1/dags/etl/unpause",
        &[(header::AUTHORIZATION, &format!("Basic {TOKEN}"))],
        None,
    )
    .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    // Nothing happened.
    assert!(
        h.engine
            .store()
            .list_runs("etl", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !h.engine
            .store()
            .get_dag("etl")
            .await
            .unwrap()
            .unwrap()
            .paused
    );

    // Without a configured token, actions are refused outright.
    let open = h.server_with(ServerConfig::default()).router();
    let reply = post_json(&open, "/api/v1/dags/etl/pause", "").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.error().contains("FLOWCTL_API_TOKEN"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn trigger_validates_params_like_the_cli_and_executes_the_run() {
    let h = Harness::new().await;
    h.apply(ETL).await;
    let app = h.server().router();
    let bad = [
        (
            r#"{"params": {"regoin": "us"}}"#,
            StatusCode::BAD_REQUEST,
            "unknown param `regoin` (did you mean `region`?)",
        ),
        (
            r#"{"params": {"batch": "many"}}"#,
            StatusCode::BAD_REQUEST,
            "param `batch` expects a number",
        ),
        (
            r#"{"params": {"batch": 1}, "date": "yesterday"}"#,
            StatusCode::BAD_REQUEST,
            "invalid date `yesterday`",
        ),
        (
            r#"{"target": "mars"}"#,
            StatusCode::BAD_REQUEST,
            "unknown target `mars`",
        ),
        (
            r#"{"parms": {}}"#,
            StatusCode::BAD_REQUEST,
            "unknown field `parms`",
        ),
        (
            r#"{"params": "#,
            StatusCode::BAD_REQUEST,
            "invalid JSON body",
        ),
    ];
    for (body, status, needle) in bad {
        let reply = post_json(&app, "/api/v1/dags/etl/runs", body).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        let error = reply.error();
        assert!(error.contains(needle), "{body}: {error}");
    }
    assert!(
        h.engine
            .store()
            .list_runs("etl", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let missing = post_json(&app, "/api/v1/dags/ghost/runs", "{}").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let created = post_json(
        &app,
        "/api/v1/dags/etl/runs",
        r#"{"params": {"region": "ap", "batch": "7"}}"#,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let body = created.json();
    assert_eq!(body["executing"], true);
    assert_eq!(
        body["run"]["params"]["batch"], 7,
        "strings become the default's type"
    );
    let run_id = body["run"]["run_id"].as_str().unwrap().to_string();
    let run = h.wait_for_run("etl", &run_id).await;
    assert_eq!(run.state, RunState::Success);
    let log = get(
        &app,
        &format!("/api/v1/dags/etl/runs/{}/tasks/extract/logs", enc(&run_id)),
    )
    .await
    .json();
    assert!(
        log["text"].as_str().unwrap().contains("region=ap batch=7"),
        "{log}"
    );

    // A dated run gets the schedule's interval for that date; the same date again conflicts.
    let dated = post_json(
        &app,
        "/api/v1/dags/etl/runs",
        r#"{"date": "2026-03-01T06:00"}"#,
    )
    .await;
    assert_eq!(dated.status, StatusCode::CREATED, "{}", dated.text);
    assert_eq!(
        dated.json()["run"]["interval_start"],
        "2026-03-01T06:00:00Z"
    );
    let again = post_json(
        &app,
        "/api/v1/dags/etl/runs",
        r#"{"date": "2026-03-01T08:00"}"#,
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert!(again.error().contains("already has a run"));
}

#[tokio::test]
async fn pause_unpause_and_clear_on_each_backend() {
    for h in Harness::each_backend().await {
        pause_unpause_and_clear(h).await;
    }
}

async fn pause_unpause_and_clear(h: Harness) {
    h.apply(ETL).await;
    h.apply(BROKEN).await;
    let failed = h.run("broken", &[]).await;
    assert_eq!(failed.state, RunState::Failed);
    let app = h.server().router();

    let paused = post_json(&app, "/api/v1/dags/etl/pause", "").await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    assert_eq!(paused.json()["paused"], true);
    assert_eq!(paused.json()["next_run"], serde_json::Value::Null);
    assert!(
        h.engine
            .store()
            .get_dag("etl")
            .await
            .unwrap()
            .unwrap()
            .paused
    );
    let unpaused = post_json(&app, "/api/v1/dags/etl/unpause", "").await.json();
    assert_eq!(unpaused["paused"], false);
    assert!(unpaused["next_run"].is_string());
    assert_eq!(
        post_json(&app, "/api/v1/dags/nope/pause", "").await.status,
        StatusCode::NOT_FOUND
    );

    let uri = format!("/api/v1/dags/broken/runs/{}/clear", enc(&failed.run_id));
    let cleared = post_json(&app, &uri, r#"{"failed_only": true}"#).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    let body = cleared.json();
    assert_eq!(body["cleared"], serde_json::json!(["second", "third"]));
    assert_eq!(body["executing"], true);
    // Run again (and fails again: `second` always fails); the earlier try is kept.
    let rerun = h.wait_for_run("broken", &failed.run_id).await;
    assert_eq!(rerun.state, RunState::Failed);
    let second = get(
        &app,
        &format!(
            "/api/v1/dags/broken/runs/{}/tasks/second",
            enc(&failed.run_id)
        ),
    )
    .await
    .json();
    assert_eq!(second["attempts"].as_array().unwrap().len(), 2, "{second}");
    assert_eq!(second["state"], "failed");
    let first = get(
        &app,
        &format!(
            "/api/v1/dags/broken/runs/{}/tasks/first",
            enc(&failed.run_id)
        ),
    )
    .await
    .json();
    assert_eq!(
        first["attempts"].as_array().unwrap().len(),
        1,
        "succeeded steps are not cleared"
    );

    let bad = post_json(&app, &uri, r#"{"failed_only": "yes"}"#).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown = post_json(&app, "/api/v1/dags/broken/runs/nope/clear", "").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn beyond_loopback_reads_need_the_token_too_and_no_token_is_refused() {
    let h = Harness::new().await;
    h.apply(ETL).await;
    let refused = flowctl_server::Server::new(
        h.engine.clone(),
        ServerConfig {
            bind: "0.0.0.0:8080".parse().unwrap(),
            ..ServerConfig::default()
        },
    );
    let err = refused.err().expect("refused").to_string();
    assert!(
        err.contains("refusing to listen on 0.0.0.0:8080 without an API token"),
        "{err}"
    );

    let app = h
        .server_with(ServerConfig {
            bind: "0.0.0.0:0".parse().unwrap(),
            token: Some(ApiToken::new(TOKEN).unwrap()),
            ..ServerConfig::default()
        })
        .router();
    let anonymous = get(&app, "/api/v1/dags").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.error().contains("reads need the API token"));
    let auth = format!("Bearer {TOKEN}");
    let ok = call(
        &app,
        Method::GET,
        "/api/v1/dags",
        &[(header::AUTHORIZATION, auth.as_str())],
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(get(&app, "/metrics").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&app, "/health/live").await.status,
        StatusCode::OK,
        "health stays open"
    );
    let page = get(&app, "/dags/etl").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/login?next=%2Fdags%2Fetl");
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint() {
    let h = Harness::new().await;
    let app = h.server().router();
    let doc = get(&app, "/api/v1/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/dags",
        "/api/v1/dags/{dag}",
        "/api/v1/dags/{dag}/pause",
        "/api/v1/dags/{dag}/unpause",
        "/api/v1/dags/{dag}/runs",
        "/api/v1/dags/{dag}/runs/{run}",
        "/api/v1/dags/{dag}/runs/{run}/clear",
        "/api/v1/dags/{dag}/runs/{run}/tasks",
        "/api/v1/dags/{dag}/runs/{run}/tasks/{step}",
        "/api/v1/dags/{dag}/runs/{run}/tasks/{step}/logs",
        "/api/v1/dags/{dag}/runs/{run}/outputs",
        "/api/v1/dags/{dag}/runs/{run}/quality",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    assert!(paths["/api/v1/dags/{dag}/runs"]["post"]["security"].is_array());
    let limit = &paths["/api/v1/dags/{dag}/runs"]["get"]["parameters"][1];
    assert_eq!(
        (limit["name"].as_str(), limit["in"].as_str()),
        (Some("limit"), Some("query"))
    );
    // Every templated path declares its path parameters.
    for (path, item) in paths {
        for (_, operation) in item.as_object().unwrap() {
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            for name in ["dag", "run", "step"] {
                assert_eq!(
                    path.contains(&format!("{{{name}}}")),
                    declared.contains(&name),
                    "{path}: {declared:?}"
                );
            }
        }
    }
    assert!(doc["components"]["schemas"]["TriggerBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn an_address_in_use_is_a_clear_error() {
    let h = Harness::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let server = h.server_with(ServerConfig {
        bind: addr,
        ..ServerConfig::default()
    });
    let err = server
        .serve(tokio_util::sync::CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("cannot listen on {addr}: ")),
        "{err}"
    );
}

/// Writes log output into a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_never_reaches_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = Harness::new().await;
    h.apply(ETL).await;
    let server = h.server();
    let app = server.router();
    let created = post_json(
        &app,
        "/api/v1/dags/etl/runs",
        r#"{"params": {"region": "x"}}"#,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let run_id = created.json()["run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    h.wait_for_run("etl", &run_id).await;
    let wrong = format!("Bearer {TOKEN}-wrong");
    call(
        &app,
        Method::POST,
        "/api/v1/dags/etl/pause",
        &[(header::AUTHORIZATION, wrong.as_str())],
        None,
    )
    .await;
    let form = format!("token={TOKEN}&next=%2F");
    call(
        &app,
        Method::POST,
        "/login",
        &[(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        Some(&form),
    )
    .await;
    tracing::info!(
        "server config: {:?}",
        ServerConfig {
            token: Some(ApiToken::new(TOKEN).unwrap()),
            ..ServerConfig::default()
        }
    );

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains(&format!("triggered run {run_id} of DAG etl")),
        "{logs}"
    );
    assert!(logs.contains("ApiToken(****)"), "{logs}");
    assert!(
        !logs.contains(TOKEN),
        "the token leaked into the logs:\n{logs}"
    );
}

/// Exit status of the validation script when `openapi-spec-validator` is not installed.
const VALIDATOR_MISSING: i32 = 3;

#[tokio::test]
async fn the_openapi_document_passes_an_independent_validator() {
    let python = flowctl_testkit::python();
    let hint = "it comes with moto[server] in the venv `.ci/run` makes \
                (~/.cache/flowctl-ci-venv; or set FLOWCTL_PYTHON)";
    if !python.is_file() {
        if std::env::var_os("CI").is_some() {
            panic!("no Python at {}: {hint}", python.display());
        }
        eprintln!(
            "skipping the OpenAPI validation: no Python at {} ({hint})",
            python.display()
        );
        return;
    }
    let h = Harness::new().await;
    let doc = get(&h.server().router(), "/api/v1/openapi.json").await.text;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc).unwrap();
    let script = "import json, sys\n\
                  try:\n    from openapi_spec_validator import validate\n\
                  except ImportError:\n    sys.exit(3)\n\
                  validate(json.load(open(sys.argv[1])))\nprint('valid')\n";
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("run python");
    if out.status.code() == Some(VALIDATOR_MISSING) {
        if std::env::var_os("CI").is_some() {
            panic!(
                "openapi-spec-validator is missing from {}: {hint}",
                python.display()
            );
        }
        eprintln!(
            "skipping the OpenAPI validation: openapi-spec-validator is not installed ({hint})"
        );
        return;
    }
    assert!(
        out.status.success(),
        "the OpenAPI document is invalid:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "valid");
}
