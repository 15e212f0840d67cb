//! The crate's error type and its mapping to job failures.

use flowctl_engine::job::JobError;
use flowctl_lakehouse::LakehouseError;

/// What can go wrong in a Kafka job while it runs. A step's fields and the target's `kafka:`
/// block are checked before the job starts (see the config structs' checks and
/// [`crate::settings::KafkaSettings`]): these are the failures only an attempt meets.
#[derive(Debug, thiserror::Error)]
pub enum KafkaJobError {
    /// Something the attempt found that no retry fixes: a message file that does not parse,
    /// unreadable offsets stored in a bronze table, a client property librdkafka refuses.
    #[error("{0}")]
    Config(String),
    /// The broker or client failed (retryable).
    #[error("kafka: {0}")]
    Kafka(String),
    /// No broker could be reached within the request timeout (retryable): one line naming the
    /// bootstrap list and what librdkafka said.
    #[error("{0}")]
    Unreachable(String),
    /// The broker no longer has offsets the bronze table has not read (retention, the embedded
    /// broker's size limit), or a stored offset is beyond a partition's end, and the step does
    /// not skip gaps: nothing was committed. Not retryable: the data does not come back.
    #[error("{0}")]
    DataLoss(String),
    /// The lakehouse failed: retryable exactly when [`LakehouseError::is_retryable`] says so.
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

impl KafkaJobError {
    /// Whether running the step again may succeed: broker, client and local I/O failures,
    /// unreachable brokers and cancellations may pass (lost offsets never do); a lakehouse or catalog error is as
    /// [`LakehouseError::is_retryable`] decides (this crate adds no rules of its own).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Config(_) | Self::DataLoss(_) => false,
            Self::Lakehouse(e) => e.is_retryable(),
            Self::Kafka(_) | Self::Unreachable(_) | Self::Io(_) | Self::Cancelled => true,
        }
    }
}

impl From<KafkaJobError> for JobError {
    fn from(e: KafkaJobError) -> Self {
        JobError::classified(e.to_string(), e.is_retryable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaConfRes;

    #[test]
    fn lakehouse_errors_are_retryable_exactly_as_the_lakehouse_says() {
        let cases: [fn() -> LakehouseError; 7] = [
            || LakehouseError::Io(std::io::Error::other("disk full")),
            || LakehouseError::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
            || LakehouseError::CommitConflict {
                table: "bronze.t".into(),
                detail: "moved".into(),
            },
            || LakehouseError::Schema("no such column".into()),
            || LakehouseError::TableNotFound("bronze.x".into()),
            || LakehouseError::Unsupported("s3 warehouse".into()),
            || LakehouseError::InvalidSettings("`iceberg.catalgo`".into()),
        ];
        for make in cases {
            let job = JobError::from(KafkaJobError::from(make()));
            assert_eq!(job.retryable, make().is_retryable(), "{job}");
            assert_eq!(job.message, make().to_string());
        }
        assert!(JobError::from(KafkaJobError::Kafka("broker down".into())).retryable);
        assert!(JobError::from(KafkaJobError::Unreachable("no broker".into())).retryable);
        assert!(!JobError::from(KafkaJobError::DataLoss("offsets 0–9 are gone".into())).retryable);
        assert!(!JobError::from(KafkaJobError::Config("m.jsonl:2: oops".into())).retryable);
    }

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
