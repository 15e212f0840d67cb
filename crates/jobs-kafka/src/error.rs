//! The crate's error type and its mapping to job failures.

use flowctl_engine::job::JobError;
use flowctl_lakehouse::LakehouseError;

/// What can go wrong in a Kafka job.
#[derive(Debug, thiserror::Error)]
pub enum KafkaJobError {
    /// Bad step or target configuration: retrying cannot help.
    #[error("{0}")]
    Config(String),
    /// The broker or client failed (retryable).
    #[error("kafka: {0}")]
    Kafka(String),
    /// The lakehouse failed.
    #[error("{0}")]
    Lakehouse(#[from] LakehouseError),
    /// A local file could not be read.
    #[error("{0}")]
    Io(String),
    /// The attempt was cancelled (timeout or user cancel) before it committed anything.
    #[error("cancelled before commit: nothing was written")]
    Cancelled,
}

impl From<rdkafka::error::KafkaError> for KafkaJobError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        match e {
            // rdkafka's text repeats the property's value (and librdkafka's description may
            // too): never for a secret.
            rdkafka::error::KafkaError::ClientConfig(_, desc, key, value) => {
                if crate::settings::is_secret_key(&key) {
                    Self::Config(format!(
                        "invalid Kafka client property `{key}` (value not shown)"
                    ))
                } else {
                    Self::Config(format!(
                        "invalid Kafka client property `{key}` = `{value}`: {desc}"
                    ))
                }
            }
            other => Self::Kafka(other.to_string()),
        }
    }
}

impl From<KafkaJobError> for JobError {
    fn from(e: KafkaJobError) -> Self {
        match &e {
            KafkaJobError::Config(_) => JobError::fatal(e.to_string()),
            KafkaJobError::Lakehouse(l) if is_config_error(l) => JobError::fatal(e.to_string()),
            _ => JobError::failed(e.to_string()),
        }
    }
}

/// Lakehouse errors that a retry cannot fix.
fn is_config_error(e: &LakehouseError) -> bool {
    matches!(
        e,
        LakehouseError::InvalidName { .. }
            | LakehouseError::Schema(_)
            | LakehouseError::Unsupported(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaConfRes;

    #[test]
    fn client_config_errors_never_show_secret_values() {
        let secret = KafkaError::ClientConfig(
            RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"hunter2\" for configuration property".into(),
            "sasl.password".into(),
            "hunter2".into(),
        );
        let e = JobError::from(KafkaJobError::from(secret));
        assert!(!e.retryable);
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(e.message.contains("sasl.password"), "{}", e.message);
        let plain = KafkaError::ClientConfig(
            RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
            "No such configuration property".into(),
            "fetch.wait.maxx".into(),
            "5".into(),
        );
        let e = KafkaJobError::from(plain).to_string();
        assert!(
            e.contains("fetch.wait.maxx") && e.contains("No such"),
            "{e}"
        );
    }
}
