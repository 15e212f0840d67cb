//! What a notification says: the default Slack-compatible summary, or the DAG's `body:`
//! template, turned into the JSON payload that is POSTed.

use flowctl_model::template::{NotifyFacts, render_str};
use serde_json::Value;

/// Errors longer than this are cut in the default message (chat messages, not logs).
const MAX_ERROR_CHARS: usize = 1500;

/// The payload of a notification: the rendered `body` when it is JSON, else
/// `{"text": <rendered>}`; without a body, `{"text": <default summary>}`.
///
/// A rendered body that starts like JSON (`{` or `[`) but does not parse is still sent,
/// as text, so the receiver hears about the event; `Err` then says why, for a warning.
pub(crate) fn payload(
    body: Option<&str>,
    ctx: &Value,
    facts: &NotifyFacts,
    max_tries: Option<u32>,
) -> (Value, Option<String>) {
    let Some(template) = body else {
        return (text_payload(default_text(ctx, facts, max_tries)), None);
    };
    match render_str(template, ctx) {
        Ok(rendered) => {
            let trimmed = rendered.trim_start();
            if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
                return (text_payload(rendered), None);
            }
            match serde_json::from_str::<Value>(&rendered) {
                Ok(json) => (json, None),
                Err(err) => (
                    text_payload(rendered),
                    Some(format!(
                        "the body is not valid JSON ({err}); sent as {{\"text\": ...}}"
                    )),
                ),
            }
        }
        // Validation checks bodies, so this is rare (a param that is not a string, say):
        // the receiver still gets the default summary.
        Err(err) => (
            text_payload(default_text(ctx, facts, max_tries)),
            Some(format!(
                "the body template failed ({err}); sent the default message"
            )),
        ),
    }
}

fn text_payload(text: String) -> Value {
    serde_json::json!({ "text": text })
}

/// One line of summary (plus the error), e.g.
/// "flowctl: step `load` of DAG `orders` failed on try 3 of 3 (run `manual__...`, ds
/// 2026-03-01, target local)\nerror: exit status 1".
pub(crate) fn default_text(ctx: &Value, facts: &NotifyFacts, max_tries: Option<u32>) -> String {
    let field = |name: &str| ctx.get(name).and_then(Value::as_str).unwrap_or("?");
    let dag = field("dag_id");
    let place = format!(
        "(run `{}`, ds {}, target {})",
        field("run_id"),
        field("ds"),
        field("target")
    );
    let try_text = facts
        .try_number
        .map(|n| match max_tries {
            Some(max) => format!(" on try {n} of {max}"),
            None => format!(" on try {n}"),
        })
        .unwrap_or_default();
    let mut text = match (facts.step, facts.event) {
        (Some(step), "retry") => {
            format!(
                "flowctl: step `{step}` of DAG `{dag}` failed{try_text} and will be retried {place}"
            )
        }
        (Some(step), "failure") => {
            format!("flowctl: step `{step}` of DAG `{dag}` failed{try_text} {place}")
        }
        (Some(step), _) => {
            format!("flowctl: step `{step}` of DAG `{dag}` succeeded{try_text} {place}")
        }
        (None, "failure") => format!("flowctl: DAG `{dag}` failed {place}"),
        (None, _) => format!("flowctl: DAG `{dag}` succeeded {place}"),
    };
    if let Some(error) = facts.error.filter(|e| !e.is_empty()) {
        text.push_str("\nerror: ");
        text.push_str(&truncate(error, MAX_ERROR_CHARS));
    }
    text
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        serde_json::json!({
            "dag_id": "orders", "run_id": "manual__1", "ds": "2026-03-01", "target": "local",
            "error": "boom \"x\"", "step": "load", "params": {"n": 2},
        })
    }

    fn facts<'a>(event: &'a str, step: Option<&'a str>) -> NotifyFacts<'a> {
        NotifyFacts {
            event,
            step,
            state: "failed",
            error: Some("boom \"x\""),
            try_number: step.map(|_| 2),
        }
    }

    #[test]
    fn default_text_names_dag_run_step_try_and_error() {
        let text = default_text(&ctx(), &facts("retry", Some("load")), Some(3));
        assert_eq!(
            text,
            "flowctl: step `load` of DAG `orders` failed on try 2 of 3 and will be retried (run `manual__1`, ds 2026-03-01, target local)\nerror: boom \"x\""
        );
        let run = default_text(&ctx(), &facts("failure", None), None);
        assert!(
            run.starts_with("flowctl: DAG `orders` failed (run `manual__1`"),
            "{run}"
        );
        let long = "e".repeat(MAX_ERROR_CHARS + 10);
        let f = NotifyFacts {
            error: Some(&long),
            ..facts("failure", Some("load"))
        };
        assert!(default_text(&ctx(), &f, None).ends_with('…'));
    }

    #[test]
    fn json_bodies_are_sent_as_is_and_other_text_is_wrapped() {
        let f = facts("failure", Some("load"));
        let (json, warn) = payload(
            Some(r#"{"msg": {{ error | tojson }}, "n": {{ params.n }}}"#),
            &ctx(),
            &f,
            Some(3),
        );
        assert_eq!(json, serde_json::json!({"msg": "boom \"x\"", "n": 2}));
        assert_eq!(warn, None);
        let (text, warn) = payload(Some("{{ step }} broke"), &ctx(), &f, None);
        assert_eq!(text, serde_json::json!({"text": "load broke"}));
        assert_eq!(warn, None);
        let (bad, warn) = payload(Some(r#"{"msg": "{{ error }}"}"#), &ctx(), &f, None);
        assert_eq!(bad, serde_json::json!({"text": r#"{"msg": "boom "x""}"#}));
        assert!(warn.expect("warned").contains("not valid JSON"));
        let (default, _) = payload(None, &ctx(), &f, None);
        assert!(default["text"].as_str().expect("text").contains("`load`"));
    }
}
