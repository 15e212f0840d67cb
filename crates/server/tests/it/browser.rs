//! The UI in a real browser: Debian's chromium, headless, driven through chromedriver.
//!
//! Needs `chromium` and `chromedriver` (`apt-get install chromium chromium-driver`); without
//! them the test is skipped with a message, unless `CI` is set: then it fails. Screenshots are
//! written to `$CARGO_TARGET_TMPDIR/flowctl-server-browser/` (the path is printed).

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use flowctl_server::{ApiToken, ServerConfig};
use flowctl_state::RunState;
use tokio_util::sync::CancellationToken;

use crate::fixtures::{BROKEN, ETL};
use crate::support::{Harness, TOKEN};

/// Longest wait for something to appear (the grid reloads itself every second).
const WAIT: Duration = Duration::from_secs(20);
/// How often waits look again.
const POLL: Duration = Duration::from_millis(200);

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Kills chromedriver when the test ends, also on panic.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_driver(program: &Path) -> (Driver, String) {
    let port = free_port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (driver, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port} within 10 s");
}

async fn browser(driver_url: &str, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("start a chromium session")
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    match client
        .wait()
        .at_most(WAIT)
        .every(POLL)
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(err) => {
            let source = client.source().await.unwrap_or_default();
            panic!("`{css}` did not appear within {WAIT:?}: {err}\npage:\n{source}");
        }
    }
}

async fn screenshot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
}

#[tokio::test]
async fn the_ui_in_chromium_shows_the_grid_and_triggers_a_run() {
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = find_program(&["chromedriver"]);
    let (Some(chromium), Some(driver_program)) = (chromium, driver) else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the browser test needs chromium and chromedriver (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!(
            "skipping the browser test: chromium/chromedriver not found \
             (apt-get install chromium chromium-driver to run it)"
        );
        return;
    };
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flowctl-server-browser");
    std::fs::create_dir_all(&shots).expect("screenshot dir");

    let h = Harness::new().await;
    h.apply(ETL).await;
    h.apply(BROKEN).await;
    h.apply(
        r#"
dag: slow
steps:
  wait: { type: probe, log: ["first line"], sleep_ms: 2500, log_after: ["second line"] }
"#,
    )
    .await;
    let ok = h.run("etl", &[]).await;
    assert_eq!(ok.state, RunState::Success);
    let failed = h.run("broken", &[]).await;
    assert_eq!(failed.state, RunState::Failed);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = h.server_with(ServerConfig {
        token: Some(ApiToken::new(TOKEN).unwrap()),
        ui_refresh: Duration::from_secs(1),
        ..ServerConfig::default()
    });
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(server.serve_on(listener, shutdown.clone()));

    let (_driver, driver_url) = start_driver(&driver_program).await;
    let client = browser(&driver_url, &chromium).await;

    // The DAG list, then the failed DAG's grid.
    client.goto(&format!("{base}/")).await.unwrap();
    wait_for(&client, r#"tr[data-dag="etl"] a[data-state="success"]"#).await;
    wait_for(&client, r#"tr[data-dag="broken"] a[data-state="failed"]"#).await;
    screenshot(&client, &shots, "1-dag-list").await;
    wait_for(
        &client,
        r#"tr[data-dag="broken"] td a[href="/dags/broken"]"#,
    )
    .await
    .click()
    .await
    .unwrap();
    let run = &failed.run_id;
    for (step, state) in [
        ("first", "success"),
        ("second", "failed"),
        ("third", "upstream_failed"),
    ] {
        let cell = wait_for(
            &client,
            &format!(r#"td.cell[data-step="{step}"][data-run="{run}"]"#),
        )
        .await;
        assert_eq!(
            cell.attr("data-state").await.unwrap().as_deref(),
            Some(state),
            "{step}"
        );
        let node = wait_for(&client, &format!(r#"svg.graph g.node[data-step="{step}"]"#)).await;
        assert_eq!(
            node.attr("data-state").await.unwrap().as_deref(),
            Some(state),
            "graph {step}"
        );
    }
    screenshot(&client, &shots, "2-broken-grid").await;

    // Log in, trigger etl with a param, and see the run appear in the grid and succeed.
    client.goto(&format!("{base}/dags/etl")).await.unwrap();
    wait_for(
        &client,
        r#"td.cell[data-step="transform"][data-state="success"]"#,
    )
    .await;
    wait_for(&client, "#trigger").await.click().await.unwrap();
    wait_for(&client, "#token")
        .await
        .send_keys(TOKEN)
        .await
        .unwrap();
    wait_for(&client, "#login-submit")
        .await
        .click()
        .await
        .unwrap();
    let region = wait_for(&client, "#param-region").await;
    assert_eq!(region.prop("value").await.unwrap().as_deref(), Some("eu"));
    region.clear().await.unwrap();
    region.send_keys("from-the-browser").await.unwrap();
    screenshot(&client, &shots, "3-trigger-form").await;
    wait_for(&client, "#trigger-submit")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&client, "#triggered").await;

    let runs = h.engine.store().list_runs("etl", 5).await.unwrap();
    assert_eq!(runs.len(), 2, "the browser created one run");
    let new = &runs[0];
    assert_eq!(new.params["region"], "from-the-browser");
    wait_for(&client, &format!(r#"th.run[data-run="{}"]"#, new.run_id)).await;
    for step in ["extract", "transform", "load", "report"] {
        wait_for(
            &client,
            &format!(
                r#"td.cell[data-step="{step}"][data-run="{}"][data-state="success"]"#,
                new.run_id
            ),
        )
        .await;
    }
    screenshot(&client, &shots, "4-etl-grid-after-trigger").await;

    // A step's log, reached from the grid.
    wait_for(
        &client,
        &format!(
            r#"td.cell[data-step="extract"][data-run="{}"] a"#,
            new.run_id
        ),
    )
    .await
    .click()
    .await
    .unwrap();
    let log = wait_for(&client, "pre#log").await.text().await.unwrap();
    assert!(log.contains("message: region=from-the-browser"), "{log}");
    screenshot(&client, &shots, "5-step-log").await;

    // A running step's log grows on the page without a reload (the follow script).
    let created = h
        .engine
        .trigger("slow", &Default::default())
        .await
        .expect("trigger slow");
    let engine = h.engine.clone();
    let executing = tokio::spawn(async move {
        engine
            .execute_run(&created, &Default::default(), &CancellationToken::new())
            .await
    });
    let slow = h
        .engine
        .store()
        .list_runs("slow", 1)
        .await
        .unwrap()
        .remove(0);
    let log_url = format!(
        "{base}/dags/slow/runs/{}/tasks/wait/logs",
        crate::support::enc(&slow.run_id)
    );
    // Reload until the page shows the attempt running with its first line flushed.
    let mut before = String::new();
    for _ in 0..100 {
        client.goto(&log_url).await.unwrap();
        let pre = wait_for(&client, "pre#log, #no-log").await;
        if pre.attr("data-running").await.unwrap().as_deref() == Some("true") {
            before = pre.text().await.unwrap();
            if before.contains("first line") {
                break;
            }
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(
        before.contains("first line"),
        "the slow step never showed running with its log: {before}"
    );
    assert!(!before.contains("second line"), "{before}");
    // Marked now: a reload would lose the mark, the follow script keeps it.
    client
        .execute("document.body.dataset.mark = 'kept';", vec![])
        .await
        .unwrap();
    let mut followed = String::new();
    for _ in 0..100 {
        followed = wait_for(&client, "pre#log").await.text().await.unwrap();
        if followed.contains("second line") {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(
        followed.contains("second line"),
        "the log was not followed: {followed}"
    );
    wait_for(&client, r#"#log-state[data-state="success"]"#).await;
    wait_for(&client, r#"pre#log[data-running="false"]"#).await;
    wait_for(&client, r#"#step-title .badge[data-state="success"]"#).await;
    let mark = client
        .execute("return document.body.dataset.mark || null;", vec![])
        .await
        .unwrap();
    assert_eq!(
        mark,
        serde_json::json!("kept"),
        "the text came without a reload"
    );
    screenshot(&client, &shots, "6-followed-log").await;
    executing.await.unwrap().unwrap();

    client.close().await.unwrap();
    shutdown.cancel();
    serving.await.unwrap().unwrap();
}
