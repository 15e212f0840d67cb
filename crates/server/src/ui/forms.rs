//! Forms: log in/out, trigger a run with params, pause/unpause, clear a run.

use std::collections::{BTreeMap, HashMap};

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::{Refresh, UiError, Viewer, enc, page, same_origin};
use crate::AppState;
use crate::auth::{Credentials, SESSION_COOKIE};
use crate::error::ApiError;

type Fields = HashMap<String, String>;

/// Form fields, or a 400 page that says what was wrong with them.
fn fields(form: Result<Form<Fields>, FormRejection>) -> Result<Fields, UiError> {
    form.map(|Form(f)| f)
        .map_err(|e| UiError(ApiError::new(e.status(), e.body_text())))
}

/// Where to go after logging in: a path on this server only (no open redirect).
fn local_path(next: Option<&String>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.clone(),
        _ => "/".to_string(),
    }
}

/// Why an action was not allowed.
enum Denied {
    /// Not logged in: to the login form, coming back afterwards.
    Login(Redirect),
    /// No token configured: actions are off.
    Disabled(UiError),
}

impl Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Login(redirect) => redirect.into_response(),
            Denied::Disabled(err) => err.into_response(),
        }
    }
}

/// The viewer of an action: logged in, or sent to the login form.
fn require_login(app: &AppState, headers: &HeaderMap, back: &str) -> Result<(), Denied> {
    if app.auth.actions_enabled() && app.auth.credentials(headers) == Credentials::Valid {
        return Ok(());
    }
    if !app.auth.actions_enabled() {
        return Err(Denied::Disabled(UiError(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "actions are disabled: this server has no API token; restart it with {} set",
                crate::config::TOKEN_ENV
            ),
        ))));
    }
    Err(Denied::Login(Redirect::to(&format!(
        "/login?next={}",
        enc(back)
    ))))
}

fn login_markup(next: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Log in" }
        p { "Actions (trigger, pause, clear) need the API token this server was started with." }
        @if let Some(e) = error { p.error #login-error { (e) } }
        form method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            label for="token" { "API token" }
            input #token type="password" name="token" autocomplete="current-password" required;
            p { button #login-submit type="submit" { "Log in" } }
        }
    }
}

/// `GET /login`.
pub async fn login_form(State(app): State<AppState>, Query(query): Query<Fields>) -> Response {
    let viewer = Viewer {
        logged_in: false,
        actions_enabled: app.auth.actions_enabled(),
    };
    let next = local_path(query.get("next"));
    page("Log in", Refresh::Never, &viewer, login_markup(&next, None)).into_response()
}

/// `POST /login`: a right token sets the session cookie and goes back where the user was.
pub async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Fields>, FormRejection>,
) -> Result<Response, UiError> {
    same_origin(&headers)?;
    let form = fields(form)?;
    let next = local_path(form.get("next"));
    let viewer = Viewer {
        logged_in: false,
        actions_enabled: app.auth.actions_enabled(),
    };
    if !app.auth.actions_enabled() {
        return Err(UiError(ApiError::new(
            StatusCode::FORBIDDEN,
            "this server has no API token, so there is nothing to log in to",
        )));
    }
    let given = form.get("token").map(String::as_str).unwrap_or_default();
    let Some(session) = app.auth.login(given) else {
        let body = login_markup(&next, Some("That is not the API token of this server."));
        return Ok((
            StatusCode::UNAUTHORIZED,
            page("Log in", Refresh::Never, &viewer, body),
        )
            .into_response());
    };
    let cookie = format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST /logout`: drops the session cookie.
pub async fn logout(headers: HeaderMap) -> Result<Response, UiError> {
    same_origin(&headers)?;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("flowctl_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(response)
}

/// The trigger form, prefilled with the DAG's param defaults (or what was just submitted).
async fn trigger_markup(
    app: &AppState,
    dag_id: &str,
    given: Option<&Fields>,
    error: Option<&str>,
) -> Result<Markup, UiError> {
    let record = app.dag_record(dag_id).await?;
    let dag = app.current_dag(&record).await?;
    let value_of = |name: &str, default: &serde_json::Value| -> String {
        if let Some(v) = given.and_then(|g| g.get(&format!("param.{name}"))) {
            return v.clone();
        }
        match default {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let date = given
        .and_then(|g| g.get("date"))
        .cloned()
        .unwrap_or_default();
    Ok(html! {
        p { a href={ "/dags/" (enc(dag_id)) } { "← DAG " (dag_id) } }
        h1 { "Trigger " (dag_id) }
        @if let Some(e) = error { p.error #trigger-error { (e) } }
        form #trigger-form method="post" action={ "/dags/" (enc(dag_id)) "/trigger" } {
            @if dag.params.is_empty() { p { "This DAG declares no params." } }
            @for (name, default) in &dag.params {
                label for={ "param-" (name) } { "Param " code { (name) }
                    " (default " code { (default) } ")" }
                input type="text" id={ "param-" (name) } name={ "param." (name) } value=(value_of(name, default));
            }
            label for="date" { "Date (optional: the run gets the data interval of this date, in "
                (dag.timezone) " unless it has an offset)" }
            input #date type="text" name="date" placeholder="2026-01-01 or 2026-01-01T06:00" value=(date);
            p { button #trigger-submit type="submit" { "Trigger" } }
        }
    })
}

/// `GET /dags/{dag}/trigger`.
pub async fn trigger_form(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(dag_id): Path<String>,
) -> Result<Response, UiError> {
    let back = format!("/dags/{}/trigger", enc(&dag_id));
    if let Err(denied) = require_login(&app, &headers, &back) {
        return Ok(denied.into_response());
    }
    let viewer = Viewer {
        logged_in: true,
        actions_enabled: true,
    };
    let body = trigger_markup(&app, &dag_id, None, None).await?;
    Ok(page(&format!("Trigger {dag_id}"), Refresh::Never, &viewer, body).into_response())
}

/// `POST /dags/{dag}/trigger`: creates the run and shows it in the DAG's grid; invalid
/// params show the form again with the engine's message.
pub async fn trigger(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(dag_id): Path<String>,
    form: Result<Form<Fields>, FormRejection>,
) -> Result<Response, UiError> {
    same_origin(&headers)?;
    let back = format!("/dags/{}/trigger", enc(&dag_id));
    if let Err(denied) = require_login(&app, &headers, &back) {
        return Ok(denied.into_response());
    }
    let form = fields(form)?;
    // Values stay strings: the engine converts them to each param's type, as for --param.
    let params: BTreeMap<String, serde_json::Value> = form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("param.")
                .map(|name| (name.to_string(), serde_json::Value::String(v.clone())))
        })
        .collect();
    let target = form.get("target").filter(|t| !t.trim().is_empty()).cloned();
    match app
        .trigger_run(
            &dag_id,
            params,
            form.get("date").map(String::as_str),
            target,
        )
        .await
    {
        Ok(run) => Ok(Redirect::to(&format!(
            "/dags/{}?triggered={}",
            enc(&dag_id),
            enc(&run.run_id)
        ))
        .into_response()),
        Err(err) if err.status.is_client_error() && err.status != StatusCode::NOT_FOUND => {
            let viewer = Viewer {
                logged_in: true,
                actions_enabled: true,
            };
            let body = trigger_markup(&app, &dag_id, Some(&form), Some(&err.message)).await?;
            Ok((
                err.status,
                page(&format!("Trigger {dag_id}"), Refresh::Never, &viewer, body),
            )
                .into_response())
        }
        Err(err) => Err(UiError(err)),
    }
}

/// `POST /dags/{dag}/pause`.
pub async fn pause(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(dag_id): Path<String>,
) -> Result<Response, UiError> {
    set_paused(app, headers, dag_id, true).await
}

/// `POST /dags/{dag}/unpause`.
pub async fn unpause(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(dag_id): Path<String>,
) -> Result<Response, UiError> {
    set_paused(app, headers, dag_id, false).await
}

async fn set_paused(
    app: AppState,
    headers: HeaderMap,
    dag_id: String,
    paused: bool,
) -> Result<Response, UiError> {
    same_origin(&headers)?;
    let back = format!("/dags/{}", enc(&dag_id));
    if let Err(denied) = require_login(&app, &headers, &back) {
        return Ok(denied.into_response());
    }
    app.set_paused(&dag_id, paused).await?;
    Ok(Redirect::to(&back).into_response())
}

/// `POST /dags/{dag}/runs/{run}/clear` (`failed_only=true` for the failed steps only).
pub async fn clear(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((dag_id, run_id)): Path<(String, String)>,
    form: Result<Form<Fields>, FormRejection>,
) -> Result<Response, UiError> {
    same_origin(&headers)?;
    let back = format!("/dags/{}/runs/{}", enc(&dag_id), enc(&run_id));
    if let Err(denied) = require_login(&app, &headers, &back) {
        return Ok(denied.into_response());
    }
    let form = fields(form)?;
    let failed_only = form.get("failed_only").is_some_and(|v| v == "true");
    app.clear_run(&dag_id, &run_id, failed_only).await?;
    Ok(Redirect::to(&back).into_response())
}
