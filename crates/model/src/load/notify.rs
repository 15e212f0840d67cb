//! Notification keys — `on_failure`, `on_retry`, `on_success` — at the top level, in
//! `defaults` and on steps: each a webhook or a list of them.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::templates::{locate, var_prefix};
use crate::check::Checker;
use crate::dag::{DEFAULT_NOTIFY_RETRIES, DEFAULT_NOTIFY_TIMEOUT, Notification, ValueSource};
use crate::schedule::DataInterval;
use crate::suggest;
use crate::template::{
    NOTIFY_VARIABLES, NotifyFacts, RunContext, analyze, notify_context, render_str,
};
use crate::yaml::{Node, Value as YamlValue};

/// Keys of one notification.
const NOTIFICATION_KEYS: &[&str] = &[
    "webhook",
    "webhook_env",
    "body",
    "headers",
    "retries",
    "timeout",
];

/// Reads the value of `on_failure` / `on_retry` / `on_success`: one notification (a map), a
/// list of them, or null (none: turns off what `defaults` set). `place` ends messages:
/// "at the top level", "in `defaults`", "in step `load`". `params`: the declared params
/// (`None`: the `params:` section is invalid, so params are not checked).
pub(super) fn read_list(
    ck: &mut Checker,
    key: &str,
    node: &Node,
    place: &str,
    params: Option<&Map<String, Value>>,
) -> Option<Vec<Notification>> {
    let items: Vec<&Node> = match &node.value {
        _ if node.is_null() => Vec::new(),
        YamlValue::Map(_) => vec![node],
        YamlValue::Seq(items) => items.iter().collect(),
        _ => {
            ck.wrong_type(
                node,
                &format!("`{key}` {place}"),
                "a notification (`{ webhook: URL }` or `{ webhook_env: VAR }`) or a list of them",
            );
            return None;
        }
    };
    let before = ck.diagnostics.len();
    let several = items.len() > 1;
    let list: Vec<Notification> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let what = if several {
                format!("`{key}` notification {} {place}", i + 1)
            } else {
                format!("`{key}` notification {place}")
            };
            read_one(ck, item, &what, params)
        })
        .collect();
    (ck.diagnostics.len() == before).then_some(list)
}

fn read_one(
    ck: &mut Checker,
    node: &Node,
    what: &str,
    params: Option<&Map<String, Value>>,
) -> Option<Notification> {
    let entries = ck.map(node, &format!("the {what}"))?;
    let before = ck.diagnostics.len();
    ck.unknown_keys(entries, NOTIFICATION_KEYS, &format!("in the {what}"));

    let url = match (node.get("webhook"), node.get("webhook_env")) {
        (Some(_), Some(env)) => {
            ck.on(
                env,
                format!("the {what} has both `webhook:` and `webhook_env:`: keep one"),
            );
            None
        }
        (Some(url), None) => read_url(ck, url, what).map(ValueSource::Literal),
        (None, Some(env)) => {
            read_env_name(ck, env, &format!("`webhook_env` of the {what}")).map(ValueSource::Env)
        }
        (None, None) => {
            ck.on(
                node,
                format!("the {what} has no URL: add `webhook: https://...` or `webhook_env: VAR` (an environment variable holding the URL, for secret URLs such as Slack's)"),
            );
            None
        }
    };
    let body = node.get("body").and_then(|n| {
        let text = ck.string(n, &format!("`body` of the {what}"))?;
        check_body(ck, n, &text, what, params);
        Some(text)
    });
    let headers = node
        .get("headers")
        .map(|n| read_headers(ck, n, what))
        .unwrap_or_default();
    let retries = match node.get("retries") {
        Some(n) => ck.integer(n, &format!("`retries` of the {what}"), 0),
        None => Some(DEFAULT_NOTIFY_RETRIES),
    };
    let timeout = match node.get("timeout") {
        Some(n) => {
            let timeout = ck.duration(n, &format!("`timeout` of the {what}"));
            if timeout.is_some_and(|t| t.is_zero()) {
                ck.on(
                    n,
                    format!("invalid `timeout` of the {what}: it must be longer than 0s"),
                );
            }
            timeout
        }
        None => Some(DEFAULT_NOTIFY_TIMEOUT),
    };
    if ck.diagnostics.len() != before {
        return None;
    }
    Some(Notification {
        url: url?,
        body,
        headers,
        retries: retries?,
        timeout: timeout?,
    })
}

fn read_url(ck: &mut Checker, node: &Node, what: &str) -> Option<String> {
    let url = ck.string(node, &format!("`webhook` of the {what}"))?;
    if url.contains("{{") || url.contains("{%") {
        ck.on(
            node,
            format!("invalid `webhook` of the {what}: URLs are not templated; to keep a secret URL out of the DAG file, use `webhook_env: VAR`"),
        );
        return None;
    }
    match check_url(&url) {
        Ok(()) => Some(url),
        Err(why) => {
            ck.on(node, format!("invalid `webhook` of the {what}: {why}"));
            None
        }
    }
}

/// An absolute `http://` or `https://` URL with a host (and a valid port, if any).
fn check_url(url: &str) -> Result<(), String> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(
            "expected an `http://` or `https://` URL, e.g. `https://hooks.example.com/flowctl`"
                .into(),
        );
    };
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the URL contains {}: encode it (`%20` for a space)",
            if c == ' ' {
                "a space".to_string()
            } else {
                format!("{c:?}")
            }
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return Err("unclosed `[` in the URL's IPv6 host".into()),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let host_ok = host
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !host_ok {
        return Err(format!("invalid host `{host}` in the URL"));
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!(
            "invalid port `{port}` in the URL: expected 1-65535"
        ));
    }
    Ok(())
}

/// An environment variable name; `what` names the key holding it ("`webhook_env` of the
/// `on_failure` notification at the top level").
fn read_env_name(ck: &mut Checker, node: &Node, what: &str) -> Option<String> {
    let name = ck.string(node, what)?;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Some(name)
    } else {
        ck.on(
            node,
            format!("invalid {what}: `{name}` is not an environment variable name (letters, digits and `_`, not starting with a digit), e.g. `SLACK_WEBHOOK_URL`"),
        );
        None
    }
}

fn read_headers(ck: &mut Checker, node: &Node, what: &str) -> IndexMap<String, ValueSource> {
    let mut out = IndexMap::new();
    let Some(entries) = ck.map(node, &format!("`headers` of the {what}")) else {
        return out;
    };
    for entry in entries {
        let name = entry.key_str();
        // RFC 9110 token characters.
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if !valid {
            ck.on(
                &entry.key,
                format!("invalid header name `{name}` in the {what}: use letters, digits and `-`"),
            );
            continue;
        }
        let header = format!("header `{name}` of the {what}");
        let value = match (entry.value.get("env"), entry.value.as_map()) {
            // `{ env: VAR }`: a secret header (`Authorization`) read when sending.
            (Some(env), Some(fields)) if fields.len() == 1 => {
                read_env_name(ck, env, &format!("`env` of {header}")).map(ValueSource::Env)
            }
            (_, Some(_)) => {
                ck.wrong_type(
                    &entry.value,
                    &header,
                    "a string, or `{ env: VAR }` to read it from an environment variable",
                );
                None
            }
            _ => ck.string(&entry.value, &header).map(ValueSource::Literal),
        };
        if let Some(value) = value {
            out.insert(name.to_string(), value);
        }
    }
    out
}

/// Checks a body template: syntax, variables, and — when it renders to something that
/// looks like JSON with sample values — that it is valid JSON (values quoted with `tojson`).
fn check_body(
    ck: &mut Checker,
    node: &Node,
    text: &str,
    what: &str,
    params: Option<&Map<String, Value>>,
) {
    let used = match analyze(text) {
        Ok(used) => used,
        Err(why) => {
            ck.on(
                node,
                format!("invalid template in `body` of the {what}: {why}"),
            );
            return;
        }
    };
    let mut ok = true;
    for var in &used.variables {
        let mut segments = var.split('.');
        let root = segments.next().unwrap_or(var);
        let (message, shown) = if !NOTIFY_VARIABLES.contains(&root) {
            let hint = match suggest::did_you_mean(root, NOTIFY_VARIABLES.iter().copied()) {
                Some(close) => format!(" (did you mean `{close}`?)"),
                None => format!("; available: {}", NOTIFY_VARIABLES.join(", ")),
            };
            (
                format!("unknown template variable `{root}` in `body` of the {what}{hint}"),
                root,
            )
        } else if let (true, Some(param), Some(params)) =
            (root == "params", segments.next(), params)
            && !params.contains_key(param)
        {
            let hint = suggest::hint(param, params.keys().map(String::as_str));
            (
                format!(
                    "unknown param `{param}` in `body` of the {what}{hint}: declare it under `params:`"
                ),
                var_prefix(var, 2),
            )
        } else {
            continue;
        };
        ok = false;
        let (span, width) = locate(ck.text, node, shown);
        ck.at(span, width, message);
    }
    if !ok {
        return;
    }
    let Some(params) = params else { return };
    if json_breaks(text, params) {
        ck.on(
            node,
            format!("`body` of the {what} looks like JSON but is not valid JSON once rendered (tried with an error message holding quotes and a newline): quote values with `tojson`, e.g. `{{\"text\": {{{{ error | tojson }}}}}}`"),
        );
    }
}

/// Renders `text` with sample values (an error message with quotes and a newline, as real
/// ones have): whether the result starts like JSON (`{` or `[`) but does not parse.
fn json_breaks(text: &str, params: &Map<String, Value>) -> bool {
    let at = chrono::DateTime::UNIX_EPOCH;
    let run = RunContext {
        dag_id: "dag",
        run_id: "manual__2026-01-01T00:00:00+00:00",
        logical_date: at,
        data_interval: DataInterval { start: at, end: at },
        timezone: chrono_tz::UTC,
        params,
        target: "local",
    };
    let facts = NotifyFacts {
        event: "failure",
        step: Some("step"),
        state: "failed",
        error: Some("exit status 1: \"quoted\"\nsecond line"),
        try_number: Some(1),
    };
    let Ok(rendered) = render_str(text, &notify_context(&run, &facts)) else {
        return false;
    };
    let trimmed = rendered.trim_start();
    (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<Value>(&rendered).is_err()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::check_url;
    use crate::dag::{Notification, ValueSource};
    use crate::load::{LoadOptions, parse_dag};
    use crate::testing;

    const DAG: &str = r#"
dag: d
on_failure: { webhook_env: SLACK_URL }
on_retry:
  - webhook: https://a.example.com/x
    body: "{{ step }} {{ try_number }}"
    headers: { X-Token: abc, Authorization: { env: HOOK_AUTH } }
    retries: 0
    timeout: 2s
  - webhook: http://127.0.0.1:9/y
defaults:
  on_failure: { webhook: https://d.example.com/f }
steps:
  a: { type: noop }
  b: { type: noop, on_failure: [], on_success: { webhook: https://s.example.com/ok } }
  c: { type: noop, on_failure: ~ }
"#;

    #[test]
    fn notifications_are_read_at_every_level_with_defaults() {
        let catalog = testing::catalog();
        let opts = LoadOptions {
            catalog: &catalog,
            target_kind: None,
            pools: None,
            project_dir: None,
        };
        let dag = parse_dag("d.yaml", DAG, &opts).expect("valid");
        let url = |n: &Notification| n.url.clone();
        assert_eq!(
            dag.notifications
                .on_failure
                .iter()
                .map(url)
                .collect::<Vec<_>>(),
            vec![ValueSource::Env("SLACK_URL".into())]
        );
        assert!(dag.notifications.on_success.is_empty());
        let retry = &dag.notifications.on_retry;
        assert_eq!(retry.len(), 2);
        assert_eq!(
            retry[0].body.as_deref(),
            Some("{{ step }} {{ try_number }}")
        );
        assert_eq!(
            retry[0].headers.get("X-Token"),
            Some(&ValueSource::Literal("abc".into()))
        );
        assert_eq!(
            retry[0].headers.get("Authorization"),
            Some(&ValueSource::Env("HOOK_AUTH".into()))
        );
        assert_eq!(
            (retry[0].retries, retry[0].timeout),
            (0, Duration::from_secs(2))
        );
        // Defaults: 3 retries, 10 s.
        assert_eq!(
            (retry[1].retries, retry[1].timeout),
            (3, Duration::from_secs(10))
        );
        assert_eq!(retry[1].body, None);

        // `defaults` gives every step its `on_failure`; a step's own list (even empty or
        // null) replaces it.
        let a = &dag.steps["a"].notifications;
        assert_eq!(
            a.on_failure.iter().map(url).collect::<Vec<_>>(),
            vec![ValueSource::Literal("https://d.example.com/f".into())]
        );
        assert!(a.on_success.is_empty() && a.on_retry.is_empty());
        let b = &dag.steps["b"].notifications;
        assert!(b.on_failure.is_empty());
        assert_eq!(b.on_success.len(), 1);
        assert!(dag.steps["c"].notifications.on_failure.is_empty());
    }

    #[test]
    fn urls_need_http_scheme_host_and_valid_port() {
        assert_eq!(
            check_url("https://hooks.slack.com/services/T/B/x?a=1"),
            Ok(())
        );
        assert_eq!(check_url("http://127.0.0.1:8080/hook"), Ok(()));
        assert_eq!(check_url("http://[::1]:9/x"), Ok(()));
        assert_eq!(check_url("http://user:pw@host/x"), Ok(()));
        assert!(check_url("ftp://host/x").unwrap_err().contains("http://"));
        assert!(check_url("hooks.slack.com/x").is_err());
        assert!(check_url("https:///path").unwrap_err().contains("no host"));
        assert!(
            check_url("http://host:99999/")
                .unwrap_err()
                .contains("port")
        );
        assert!(check_url("http://host:0/").is_err());
        assert!(check_url("http://ho st/").unwrap_err().contains("space"));
        assert!(check_url("http://ho$t/").unwrap_err().contains("host"));
    }
}
