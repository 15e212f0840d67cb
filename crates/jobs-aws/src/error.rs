//! How AWS SDK errors become attempt failures: what is transient (retry inside the attempt),
//! what a later try may fix (retryable), and what no retry can fix (fatal).

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use flowctl_engine::job::JobError;

/// Error codes that mean "slow down and try again".
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];

/// Error codes of a service-side hiccup.
const SERVER_SIDE: &[&str] = &[
    "InternalServiceException",
    "InternalServerException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "OperationTimeoutException",
];

/// Error codes that no retry can fix: bad input, missing entity, no permission.
const FATAL: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "ValidationException",
    "InvalidInputException",
    "InvalidRequestException",
    "EntityNotFoundException",
    "NoSuchBucket",
    "IdempotentParameterMismatchException",
    "ResourceNumberLimitExceededException",
];

/// An SDK error, classified.
#[derive(Debug)]
pub(crate) struct AwsError {
    /// The service's error code (`ThrottlingException`), when the service answered.
    pub code: Option<String>,
    /// What happened, with the service's message (never the request: it may hold secrets).
    pub message: String,
    /// Throttling, a service hiccup or a network failure: worth retrying inside the attempt.
    pub transient: bool,
}

impl AwsError {
    /// Classifies an SDK error of the call `what` (e.g. `glue:StartJobRun`).
    pub fn from_sdk<E, R>(what: &str, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().map(str::to_owned);
                let detail = e.message().unwrap_or("no message");
                let transient = code
                    .as_deref()
                    .is_some_and(|c| THROTTLING.contains(&c) || SERVER_SIDE.contains(&c));
                Self {
                    message: format!(
                        "{what}: {}: {detail}",
                        code.as_deref().unwrap_or("service error")
                    ),
                    code,
                    transient,
                }
            }
            // Timeouts, connection failures, a response that could not be read: the service
            // may not even have seen the request.
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => Self {
                code: None,
                message: format!("{what}: {}", DisplayErrorContext(err)),
                transient: true,
            },
            _ => Self {
                code: None,
                message: format!("{what}: {}", DisplayErrorContext(err)),
                transient: false,
            },
        }
    }

    /// Whether the service answered with `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The attempt's failure: fatal for bad input, missing entities and permissions,
    /// retryable otherwise.
    pub fn into_job_error(self) -> JobError {
        if self.code.as_deref().is_some_and(|c| FATAL.contains(&c)) {
            JobError::fatal(self.message)
        } else {
            JobError::failed(self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::operation::start_job_run::StartJobRunError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str) -> SdkError<StartJobRunError, Response> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("details")
            .build();
        SdkError::service_error(
            StartJobRunError::generic(meta),
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn classifies_service_errors() {
        let throttled =
            AwsError::from_sdk("glue:StartJobRun", &service_error("ThrottlingException"));
        assert!(throttled.transient);
        assert_eq!(
            throttled.message,
            "glue:StartJobRun: ThrottlingException: details"
        );
        assert!(throttled.into_job_error().retryable);

        let denied =
            AwsError::from_sdk("glue:StartJobRun", &service_error("AccessDeniedException"));
        assert!(!denied.transient);
        assert!(!denied.into_job_error().retryable);

        let concurrent = AwsError::from_sdk(
            "glue:StartJobRun",
            &service_error("ConcurrentRunsExceededException"),
        );
        assert!(concurrent.is("ConcurrentRunsExceededException"));
        assert!(!concurrent.transient, "handled by the caller's backoff");
        assert!(concurrent.into_job_error().retryable);
    }
}
