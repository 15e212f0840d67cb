//! One webhook delivery: a JSON POST, retried with exponential backoff.
//!
//! Webhook URLs are secrets (a Slack URL is its own credential): only the scheme and host
//! ever appear in messages, and reqwest's errors are stripped of the URL.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

/// The longest wait between two delivery attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What to send where, and how hard to try.
pub(crate) struct Delivery<'a> {
    pub url: &'a str,
    pub headers: &'a indexmap::IndexMap<String, String>,
    pub payload: Vec<u8>,
    /// Extra attempts after the first.
    pub retries: u32,
    /// Per attempt (connect + request + response).
    pub timeout: Duration,
    /// Wait before the first redelivery; doubles each time, up to [`MAX_BACKOFF`].
    pub backoff: Duration,
}

/// Sends `delivery`; `Ok(attempts)` once the receiver answers 2xx, `Err` with the last
/// problem (no URL in it) when every attempt failed or the receiver refused it for good.
pub(crate) async fn deliver(
    client: &reqwest::Client,
    delivery: &Delivery<'_>,
) -> Result<u32, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in delivery.headers {
        // Validation checked names; a value with a control character is the rare case left.
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => return Err(format!("invalid header `{name}`")),
        }
    }
    let mut wait = delivery.backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = client
            .post(delivery.url)
            .headers(headers.clone())
            .timeout(delivery.timeout)
            .body(delivery.payload.clone())
            .send()
            .await;
        let (problem, retryable) = match sent {
            Ok(response) if response.status().is_success() => return Ok(attempt),
            Ok(response) => {
                let status = response.status();
                // 408 and 429 are "try again later"; other 4xx will not change by retrying.
                let retryable = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                (format!("the receiver answered HTTP {status}"), retryable)
            }
            Err(err) => (describe(err), true),
        };
        if !retryable || attempt > delivery.retries {
            let tries = if attempt == 1 {
                "1 attempt".to_string()
            } else {
                format!("{attempt} attempts")
            };
            return Err(format!("{problem} (after {tries})"));
        }
        tracing::debug!(
            "notification to {} failed ({problem}); retrying in {wait:?}",
            redact(delivery.url)
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_BACKOFF);
    }
}

/// A reqwest error in words, without its URL.
fn describe(err: reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let err = err.without_url();
    // The source chain says why (connection refused, DNS, TLS); the top level only repeats it.
    let mut cause = String::new();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {cause}")
    }
}

/// `scheme://host[:port]` of `url`: what may be logged of a webhook URL.
pub(crate) fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or("?");
            match parsed.port() {
                Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
                None => format!("{}://{host}", parsed.scheme()),
            }
        }
        Err(_) => "<invalid URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_keeps_only_scheme_host_and_port() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T000/B000/XXXXSECRET?token=abc"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            redact("http://user:pw@127.0.0.1:8080/x"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(redact("not a url"), "<invalid URL>");
    }
}
