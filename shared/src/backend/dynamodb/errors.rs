//! SDK failures as the crate's errors, classified from their typed parts only.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::Error;
use crate::error::{NoAwsCredentials, Shown, find_source};

/// DynamoDB error codes that mean "slow down" or "the service failed": the same request
/// may succeed later.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    // A conditional write that lost a race and was not handled as one by its caller.
    "ConditionalCheckFailedException",
];

/// Error codes of refused or missing credentials.
const AUTH_CODES: &[&str] = &[
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
];

/// Maps an SDK failure of a request on `table` to the crate's error, from the typed parts
/// of the failure: the service's error code, the raw HTTP status, the SDK's failure stage
/// and a credentials error in the source chain. Never from message text.
pub(crate) fn sdk_error<E>(uri: &str, table: &str, e: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use crate::backend::aws_credentials::{TRIED, none_found};
    use aws_credential_types::provider::error::CredentialsError;
    let code = e.code().map(str::to_string);
    let status = e.raw_response().map(|r| r.status().as_u16());
    let credentials = find_source::<CredentialsError>(&e);
    let no_credentials = credentials.is_some();
    let none_found = credentials.is_some_and(none_found);
    let service_answered = matches!(e, SdkError::ServiceError(_));
    if none_found {
        let shown = DisplayErrorContext(&e).to_string();
        let missing = NoAwsCredentials::new(TRIED, Some(Box::new(Shown::new(shown, e))));
        return Error::auth(uri, missing);
    }
    let shown = DisplayErrorContext(&e).to_string();
    let source: crate::error::BoxError = Box::new(Shown::new(shown, e));
    match code.as_deref() {
        Some("ResourceNotFoundException") => Error::NotFound {
            uri: format!("{uri} (no table `{table}`)"),
        },
        Some(c) if AUTH_CODES.contains(&c) => Error::auth(uri, source),
        Some(c) if RETRYABLE_CODES.contains(&c) => Error::transient(uri, source),
        _ if no_credentials => Error::auth(uri, source),
        _ if service_answered => match status {
            Some(s) if s >= 500 || s == 429 => Error::transient(uri, source),
            _ => Error::storage(uri, source),
        },
        // No service answer: a timeout, a failed connection, an unreadable response.
        _ => Error::transient(uri, source),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, ProvisionedThroughputExceededException,
        ResourceNotFoundException,
    };
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    const URI: &str = "dynamodb:///t:m";

    fn response(status: u16) -> Response {
        Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    fn service(e: PutItemError, status: u16) -> Error {
        sdk_error(URI, "t", SdkError::service_error(e, response(status)))
    }

    /// A service answer the SDK has no variant for: only its code and status are typed.
    fn unhandled(code: &str, status: u16) -> Error {
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        service(PutItemError::generic(meta), status)
    }

    fn assert_retryable(e: &Error) {
        assert!(
            matches!(
                e,
                Error::Storage {
                    retryable: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.retryable(), "{e:?}");
        assert_eq!(e.lambda_error_type(), "Retryable.Storage");
    }

    #[test]
    fn throttling_and_conflicts_are_retryable() {
        let throttled = PutItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("slow down")
                .meta(
                    ErrorMetadata::builder()
                        .code("ProvisionedThroughputExceededException")
                        .build(),
                )
                .build(),
        );
        assert_retryable(&service(throttled, 400));
        assert_retryable(&unhandled("ThrottlingException", 400));
        let conflict = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("lost a race")
                .meta(
                    ErrorMetadata::builder()
                        .code("ConditionalCheckFailedException")
                        .build(),
                )
                .build(),
        );
        assert_retryable(&service(conflict, 400));
    }

    #[test]
    fn missing_tables_are_not_found() {
        let missing = PutItemError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("no table")
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .build(),
                )
                .build(),
        );
        let e = service(missing, 400);
        assert!(
            matches!(&e, Error::NotFound { uri } if uri.contains("`t`")),
            "{e:?}"
        );
        assert!(!e.retryable());
        assert_eq!(e.lambda_error_type(), "Permanent.NotFound");
    }

    #[test]
    fn refused_credentials_are_auth_errors() {
        let e = unhandled("AccessDeniedException", 400);
        assert!(matches!(e, Error::Auth { .. }), "{e:?}");
        assert!(!e.retryable());
        assert_eq!(e.lambda_error_type(), "Permanent.Auth");
    }

    /// No provider of the chain had credentials: one line naming what was tried (the
    /// words the S3 store uses too), an authorization failure, the SDK error kept.
    #[test]
    fn no_credentials_anywhere_is_one_auth_line() {
        use aws_credential_types::provider::error::CredentialsError;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let failure = |source: CredentialsError| {
            let e: SdkError<PutItemError, Response> =
                SdkError::dispatch_failure(ConnectorError::other(Box::new(source), None));
            sdk_error(URI, "t", e)
        };
        let e = failure(CredentialsError::not_loaded(
            "no providers in chain provided credentials",
        ));
        assert!(matches!(e, Error::Auth { .. }), "{e:?}");
        assert_eq!(e.exit_code(), 77);
        assert_eq!(
            e.to_string(),
            format!(
                "not authorized to access {URI}: {} (tried env, profile, instance metadata)",
                crate::error::NO_AWS_CREDENTIALS
            )
        );
        let chain = std::error::Error::source(&e).unwrap();
        assert!(find_source::<CredentialsError>(chain).is_some(), "{e:?}");
        // A provider that failed (rather than found nothing) is still refused
        // credentials, with the SDK's words.
        let e = failure(CredentialsError::provider_error("STS said no"));
        assert!(matches!(e, Error::Auth { .. }), "{e:?}");
        assert!(
            !e.to_string().contains(crate::error::NO_AWS_CREDENTIALS),
            "{e}"
        );
    }

    #[test]
    fn statuses_decide_unknown_codes() {
        assert_retryable(&unhandled("SomethingNew", 500));
        assert_retryable(&unhandled("SomethingNew", 429));
        let e = unhandled("ValidationException", 400);
        assert!(
            matches!(
                e,
                Error::Storage {
                    retryable: false,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.retryable());
        assert_eq!(e.lambda_error_type(), "Permanent.Storage");
    }

    #[test]
    fn failures_without_an_answer_are_retryable() {
        let timeout: SdkError<PutItemError, Response> =
            SdkError::timeout_error("operation timed out");
        let e = sdk_error(URI, "t", timeout);
        assert_retryable(&e);
        // The cause is kept and shown.
        assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    }
}
