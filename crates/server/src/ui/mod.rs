//! The web UI: server-rendered HTML (maud escapes every interpolated value), readable
//! without JavaScript, reloading itself while something can change.
//!
//! Actions (trigger, pause, clear) use a session cookie set by the login form: `HttpOnly`
//! (scripts cannot read it), `SameSite=Strict` (another site cannot make the browser send
//! it, so no cross-site request forgery), holding a digest derived from the token rather than
//! the token. POSTs whose `Origin` is another site are refused as well.

mod forms;
mod graph;
mod pages;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::AppState;
use crate::auth::Credentials;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::dag_list))
        .route("/dags/{dag}", get(pages::dag_page))
        .route(
            "/dags/{dag}/trigger",
            get(forms::trigger_form).post(forms::trigger),
        )
        .route("/dags/{dag}/pause", post(forms::pause))
        .route("/dags/{dag}/unpause", post(forms::unpause))
        .route("/dags/{dag}/runs/{run}", get(pages::run_page))
        .route("/dags/{dag}/runs/{run}/clear", post(forms::clear))
        .route(
            "/dags/{dag}/runs/{run}/tasks/{step}/logs",
            get(pages::log_page),
        )
        .route("/login", get(forms::login_form).post(forms::login))
        .route("/logout", post(forms::logout))
}

/// What every page knows about the viewer.
pub struct Viewer {
    pub logged_in: bool,
    pub actions_enabled: bool,
}

impl Viewer {
    /// The viewer of a request; reads that need credentials redirect to the login form.
    pub fn of(app: &AppState, headers: &HeaderMap, path: &str) -> Result<Self, Redirect> {
        let logged_in = app.auth.credentials(headers) == Credentials::Valid;
        if !app.auth.reads_open() && !logged_in {
            return Err(Redirect::to(&format!("/login?next={}", enc(path))));
        }
        Ok(Self {
            logged_in,
            actions_enabled: app.auth.actions_enabled(),
        })
    }
}

/// An error shown as a page with the right status.
pub struct UiError(pub ApiError);

impl From<ApiError> for UiError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.0.status;
        let viewer = Viewer {
            logged_in: false,
            actions_enabled: false,
        };
        let body = html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("error")) }
            p.error { (self.0.message) }
            p { a href="/" { "Back to the DAGs" } }
        };
        if status.is_server_error() {
            tracing::error!("UI request failed: {}", self.0.message);
        }
        (status, page("Error", Refresh::Never, &viewer, body)).into_response()
    }
}

/// How a page reloads itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    Never,
    /// Every N seconds.
    Every(u64),
    /// Every N seconds when scripts are off (a script on the page keeps it current).
    WithoutScript(u64),
}

/// A page: title, self-reload, header with login state.
pub fn page(title: &str, refresh: Refresh, viewer: &Viewer, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @match refresh {
                    Refresh::Never => {}
                    Refresh::Every(seconds) => { meta http-equiv="refresh" content=(seconds); }
                    Refresh::WithoutScript(seconds) => {
                        noscript { meta http-equiv="refresh" content=(seconds); }
                    }
                }
                title { (title) " · flowctl" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a.brand href="/" { "flowctl" }
                    nav {
                        a href="/" { "DAGs" }
                        a href="/api/v1/openapi.json" { "API" }
                        a href="/metrics" { "Metrics" }
                        @if viewer.logged_in {
                            form.inline method="post" action="/logout" {
                                button type="submit" { "Log out" }
                            }
                        } @else if viewer.actions_enabled {
                            a #login href="/login" { "Log in" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A state badge.
pub fn badge(state: &str) -> Markup {
    html! { span class={ "badge s-" (state) } data-state=(state) { (state) } }
}

/// Percent-encodes a path segment or query value (run ids hold `:` and `+`).
pub fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` UTC, or `-`.
pub fn ts(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Refuses a POST sent by a page of another site (defence in depth next to SameSite).
pub fn same_origin(headers: &HeaderMap) -> Result<(), UiError> {
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST))
    else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let host = host.to_str().unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(UiError(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("refused: this form was sent from {origin}, not from this server"),
        )))
    }
}

const CSS: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{display:flex;gap:1.5em;align-items:center;padding:.6em 1.2em;background:#1f2a36;color:#fff}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:1.2em}
nav{display:flex;gap:1em;align-items:center;flex:1}nav #login,nav form{margin-left:auto}
main{padding:1em 1.5em}h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.15em;margin:1.4em 0 .5em}
table{border-collapse:collapse;background:#fff}th,td{padding:.3em .6em;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
th{font-weight:600;background:#f0f2f4}
.badge{display:inline-block;padding:.05em .5em;border-radius:.8em;font-size:.85em;border:1px solid #0002}
.s-success{background:#4caf50;fill:#4caf50;color:#fff}.s-failed{background:#e53935;fill:#e53935;color:#fff}
.s-running{background:#7cb342;fill:#7cb342;color:#fff}.s-queued{background:#b0bec5;fill:#b0bec5}
.s-up_for_retry{background:#fbc02d;fill:#fbc02d}.s-skipped{background:#f48fb1;fill:#f48fb1}
.s-upstream_failed{background:#ff9800;fill:#ff9800}.s-lost{background:#8d6e63;fill:#8d6e63;color:#fff}
.s-none{background:#fff;fill:#fff}
.grid td.cell{padding:2px}.grid td.cell a{display:block;width:18px;height:18px;border-radius:3px;border:1px solid #0003}
.grid th.run{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:400;font-size:.8em;max-height:11em;overflow:hidden}
.grid th.run a{text-decoration:none;color:#222}
svg.graph .edge{fill:none;stroke:#555;stroke-width:1.4}svg.graph rect{stroke:#333;stroke-width:1}
svg.graph text{font:12px system-ui,sans-serif;fill:#111}
.dots a{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:3px;border:1px solid #0003}
pre.log{background:#111;color:#ddd;padding:1em;overflow:auto;max-height:75vh;white-space:pre-wrap}
.error{color:#b71c1c;background:#ffebee;padding:.5em .8em;border-left:4px solid #e53935;white-space:pre-wrap}
.notice{background:#e8f5e9;padding:.5em .8em;border-left:4px solid #4caf50}
form.inline{display:inline}button,.button{padding:.3em .9em;border:1px solid #888;border-radius:4px;background:#fff;cursor:pointer;text-decoration:none;color:#222}
label{display:block;margin:.5em 0 .2em}input[type=text],input[type=password]{padding:.3em;min-width:22em}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dl.facts dt{font-weight:600}
.legend span{margin-right:.4em}div.actions{margin:.8em 0}
"#;
