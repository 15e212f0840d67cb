//! Waiting that a cancel (timeout or user) interrupts at once, and backoff for retries inside
//! an attempt.

use std::time::Duration;

use flowctl_model::duration::parse_duration;
use tokio_util::sync::CancellationToken;

/// The longest wait between two tries of a throttled or refused call.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Sleeps `duration`; `false` when `cancel` fired first.
pub(crate) async fn sleep_or_cancel(duration: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => true,
        _ = cancel.cancelled() => false,
    }
}

/// The delay before retry `n` (0-based) of a call: `base * 2^n`, capped at [`MAX_BACKOFF`].
pub(crate) fn backoff(base: Duration, n: u32) -> Duration {
    let factor = 2u32.saturating_pow(n.min(16));
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

/// A step's interval field (`poll_interval: 10s`): a duration of more than zero. The
/// problem, without the field's name.
pub(crate) fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(format!("must be more than 0, found `{text}`"));
    }
    Ok(d)
}

/// A checked step's interval: the field's value, or `default` when the step does not set it.
/// (`check` refused a value that does not parse; the default stands in for one anyway.)
pub(crate) fn interval(value: Option<&str>, default: Duration) -> Duration {
    value
        .and_then(|text| parse_interval(text).ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_secs(2);
        assert_eq!(backoff(base, 0), Duration::from_secs(2));
        assert_eq!(backoff(base, 3), Duration::from_secs(16));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }

    #[test]
    fn intervals() {
        let d = Duration::from_secs(15);
        assert_eq!(interval(None, d), d);
        assert_eq!(interval(Some("200ms"), d), Duration::from_millis(200));
        assert!(
            parse_interval("soon")
                .unwrap_err()
                .starts_with("invalid duration")
        );
        assert_eq!(
            parse_interval("0s").unwrap_err(),
            "must be more than 0, found `0s`"
        );
    }

    #[tokio::test]
    async fn cancel_interrupts_a_sleep() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(!sleep_or_cancel(Duration::from_secs(3600), &cancel).await);
        assert!(sleep_or_cancel(Duration::from_millis(1), &CancellationToken::new()).await);
    }
}
