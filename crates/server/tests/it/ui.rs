//! The web UI's HTML over real runs (the browser test drives the same pages in chromium).

use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use flowctl_state::RunState;

use crate::fixtures::{ETL, cdc};
use crate::support::{Harness, TOKEN, call, enc, get};

#[tokio::test]
async fn pages_show_states_and_escape_user_text() {
    let h = Harness::new().await;
    h.apply(ETL).await;
    let run = h
        .run("etl", &[("region", "<img src=x onerror=alert(1)>")])
        .await;
    let app = h.server().router();

    let list = get(&app, "/").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.text.contains(r#"<tr data-dag="etl">"#),
        "{}",
        list.text
    );
    assert!(list.text.contains(r#"data-state="success""#));
    assert!(
        list.text
            .contains(r#"<meta http-equiv="refresh" content="5">"#)
    );
    assert!(
        list.text
            .contains("Extract, transform &lt;b&gt;and&lt;/b&gt; load")
    );

    let page = get(&app, "/dags/etl").await;
    assert_eq!(page.status, StatusCode::OK);
    let text = &page.text;
    for step in ["extract", "transform", "load", "report"] {
        let cell = format!(
            r#"data-step="{step}" data-run="{}" data-state="success""#,
            run.run_id
        );
        assert!(text.contains(&cell), "no cell {cell}");
        assert!(text.contains(&format!(
            r#"<g class="node" data-step="{step}" data-state="success">"#
        )));
    }
    assert!(text.contains(r#"<path class="edge" data-from="extract" data-to="transform""#));
    assert!(text.contains(r#"<path class="edge" data-from="transform" data-to="load""#));
    // Nothing from the params or the description comes through unescaped.
    assert!(!text.contains("<b>and</b>"));

    let run_page = get(&app, &format!("/dags/etl/runs/{}", enc(&run.run_id))).await;
    assert_eq!(run_page.status, StatusCode::OK);
    assert!(
        run_page.text.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        run_page.text
    );
    assert!(!run_page.text.contains("<img src=x"));
    assert!(
        run_page
            .text
            .contains(r#"<tr data-step="transform" data-state="success">"#)
    );

    let log = get(
        &app,
        &format!("/dags/etl/runs/{}/tasks/extract/logs", enc(&run.run_id)),
    )
    .await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(
        log.text.contains("&lt;script&gt;alert('x')&lt;/script&gt;"),
        "{}",
        log.text
    );
    assert!(!log.text.contains("<script>alert"));
    assert!(log.text.contains(r#"data-running="false""#));
    assert!(
        !log.text.contains("http-equiv=\"refresh\""),
        "a finished log does not reload"
    );

    let missing = get(&app, "/dags/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text.contains("DAG `nope` is not applied"));
    let bad_attempt = get(
        &app,
        &format!(
            "/dags/etl/runs/{}/tasks/extract/logs?attempt=z",
            enc(&run.run_id)
        ),
    )
    .await;
    assert_eq!(bad_attempt.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_running_attempt_is_followed() {
    let h = Harness::new().await;
    h.apply(
        r#"
dag: slow
steps:
  wait: { type: probe, log: ["hello-from-slow"], sleep_ms: 4000 }
"#,
    )
    .await;
    let server = h.server();
    let app = server.router();
    let auth = format!("Bearer {TOKEN}");
    let created = call(
        &app,
        Method::POST,
        "/api/v1/dags/slow/runs",
        &[(header::AUTHORIZATION, auth.as_str())],
        None,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let run_id = created.json()["run"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let uri = format!("/dags/slow/runs/{}/tasks/wait/logs", enc(&run_id));
    let mut page = String::new();
    for _ in 0..200 {
        page = get(&app, &uri).await.text;
        if page.contains("hello-from-slow") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(page.contains(r#"data-running="true""#), "{page}");
    assert!(
        page.contains(r#"<noscript><meta http-equiv="refresh" content="5"></noscript>"#),
        "{page}"
    );
    assert!(
        page.contains("fetch(pre.dataset.api"),
        "the follow script is there"
    );
    let run = h.wait_for_run("slow", &run_id).await;
    assert_eq!(run.state, RunState::Success);
    let page = get(&app, &uri).await.text;
    assert!(page.contains(r#"data-running="false""#));
}

#[tokio::test]
async fn login_then_trigger_pause_and_clear_with_forms() {
    let h = Harness::new().await;
    h.apply(ETL).await;
    let app = h.server().router();
    let form = (header::CONTENT_TYPE, "application/x-www-form-urlencoded");

    let anonymous = get(&app, "/dags/etl/trigger").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(
        anonymous.headers[header::LOCATION],
        "/login?next=%2Fdags%2Fetl%2Ftrigger"
    );
    let post = call(
        &app,
        Method::POST,
        "/dags/etl/pause",
        std::slice::from_ref(&form),
        None,
    )
    .await;
    assert_eq!(
        post.status,
        StatusCode::SEE_OTHER,
        "not logged in: to the login form"
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

    let wrong = call(
        &app,
        Method::POST,
        "/login",
        std::slice::from_ref(&form),
        Some("token=nope&next=%2F"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("not the API token"));
    let body = format!("token={TOKEN}&next=%2Fdags%2Fetl%2Ftrigger");
    let login = call(
        &app,
        Method::POST,
        "/login",
        std::slice::from_ref(&form),
        Some(&body),
    )
    .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.text);
    assert_eq!(login.headers[header::LOCATION], "/dags/etl/trigger");
    let set_cookie = login.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains(TOKEN), "the cookie is not the token");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let open_redirect = call(
        &app,
        Method::POST,
        "/login",
        std::slice::from_ref(&form),
        Some(&format!("token={TOKEN}&next=%2F%2Fevil.example")),
    )
    .await;
    assert_eq!(open_redirect.headers[header::LOCATION], "/");

    let with = |extra: &'static [(header::HeaderName, &'static str)]| {
        let mut headers = vec![form.clone(), (header::COOKIE, cookie.as_str())];
        headers.extend(extra.iter().cloned());
        headers
    };
    let page = call(&app, Method::GET, "/dags/etl/trigger", &with(&[]), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains(r#"name="param.region" value="eu""#),
        "{}",
        page.text
    );

    let bad = call(
        &app,
        Method::POST,
        "/dags/etl/trigger",
        &with(&[]),
        Some("param.batch=lots"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains("param `batch` expects a number"),
        "{}",
        bad.text
    );
    assert!(
        bad.text.contains(r#"value="lots""#),
        "the form keeps what was typed"
    );

    let foreign = call(
        &app,
        Method::POST,
        "/dags/etl/trigger",
        &with(&[
            (header::ORIGIN, "http://evil.example"),
            (header::HOST, "127.0.0.1:8080"),
        ]),
        Some("param.batch=1"),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert!(
        h.engine
            .store()
            .list_runs("etl", 5)
            .await
            .unwrap()
            .is_empty()
    );

    let ok = call(
        &app,
        Method::POST,
        "/dags/etl/trigger",
        &with(&[
            (header::ORIGIN, "http://127.0.0.1:8080"),
            (header::HOST, "127.0.0.1:8080"),
        ]),
        Some("param.region=zz&param.batch=5&date="),
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let runs = h.engine.store().list_runs("etl", 5).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].params["region"], "zz");
    assert_eq!(runs[0].params["batch"], 5);
    assert_eq!(
        ok.headers[header::LOCATION].to_str().unwrap(),
        format!("/dags/etl?triggered={}", enc(&runs[0].run_id))
    );
    let run = h.wait_for_run("etl", &runs[0].run_id).await;
    assert_eq!(run.state, RunState::Success);

    let pause = call(&app, Method::POST, "/dags/etl/pause", &with(&[]), None).await;
    assert_eq!(pause.status, StatusCode::SEE_OTHER);
    assert!(
        h.engine
            .store()
            .get_dag("etl")
            .await
            .unwrap()
            .unwrap()
            .paused
    );
    let page = call(&app, Method::GET, "/dags/etl", &with(&[]), None).await;
    assert!(page.text.contains(r#"<dd id="paused">yes</dd>"#));
    assert!(page.text.contains(r#"id="unpause""#));

    let clear_uri = format!("/dags/etl/runs/{}/clear", enc(&run.run_id));
    let clear = call(&app, Method::POST, &clear_uri, &with(&[]), None).await;
    assert_eq!(clear.status, StatusCode::SEE_OTHER, "{}", clear.text);
    let rerun = h.wait_for_run("etl", &run.run_id).await;
    assert_eq!(rerun.state, RunState::Success);
    let extract = h
        .engine
        .store()
        .get_task(run.id, "extract")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(extract.try_number, 2, "cleared and run again");

    let logout = call(&app, Method::POST, "/logout", &with(&[]), None).await;
    assert!(
        logout.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn the_run_page_shows_quality_results() {
    let h = Harness::new().await;
    h.apply(&cdc(0)).await;
    let run = h.run("cdc", &[]).await;
    let app = h.server().router();
    let page = get(&app, &format!("/dags/cdc/runs/{}", enc(&run.run_id))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Quality results"));
    assert!(
        page.text
            .contains(r#"<tr data-check="not_null(order_id)" data-status="passed">"#),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains(r#"<tr data-check="fresh &lt;orders&gt;" data-status="warn">"#)
    );
    assert!(page.text.contains("1 passed, 0 failed, 1 warned"));
}
