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

/// A step's optional duration field (`poll_interval: 10s`), or `default`.
pub(crate) fn duration_field(
    field: &str,
    value: Option<&str>,
    default: Duration,
) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(text) => {
            let d = parse_duration(text).map_err(|e| format!("`{field}`: {e}"))?;
            if d.is_zero() {
                return Err(format!("`{field}` must be more than 0"));
            }
            Ok(d)
        }
    }
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
    fn duration_fields() {
        let d = Duration::from_secs(15);
        assert_eq!(duration_field("poll_interval", None, d), Ok(d));
        assert_eq!(
            duration_field("poll_interval", Some("200ms"), d),
            Ok(Duration::from_millis(200))
        );
        let err = duration_field("poll_interval", Some("soon"), d).unwrap_err();
        assert!(
            err.starts_with("`poll_interval`: invalid duration"),
            "{err}"
        );
        assert!(duration_field("poll_interval", Some("0s"), d).is_err());
    }

    #[tokio::test]
    async fn cancel_interrupts_a_sleep() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(!sleep_or_cancel(Duration::from_secs(3600), &cancel).await);
        assert!(sleep_or_cancel(Duration::from_millis(1), &CancellationToken::new()).await);
    }
}
