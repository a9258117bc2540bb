//! AWS SDK errors → [`ProviderError`]: the one place that decides which AWS failures are
//! retryable, and how they are worded for people.
//!
//! Classification looks at the error code first (what the service said), then the HTTP status,
//! then the kind of SDK failure (timeout, dispatch, unparseable response), so an error code the
//! table does not know still lands on the right side of the retryable line by its status.
//!
//! Messages carry the operation, the SDK's full error context and a hint saying what to do. They
//! pass through [`redact`] because an SDK error can quote a request URL, and a presigned URL
//! carries a signature and possibly a session token.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::providers::{ErrorKind, ProviderError};

/// Codes AWS uses for rate limiting. Route53's `PriorRequestNotComplete` (a second change to a zone
/// too soon) behaves the same way: wait and send again.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
];

const UNAVAILABLE: &[&str] = &[
    "ServerException",
    "ServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
    // EC2: "the server is overloaded".
    "Unavailable",
];

const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "NotFoundException",
    "NotFound",
    "NoSuchHostedZone",
    "NoSuchChange",
    "NoSuchKey",
    "NoSuchBucket",
    // IAM.
    "NoSuchEntity",
];

const CONFLICT: &[&str] = &[
    "ResourceInUseException",
    "ConflictException",
    "ResourceInUse",
    "PreconditionFailed",
    "ConditionalRequestConflict",
    "HostedZoneAlreadyExists",
    "BucketAlreadyOwnedByYou",
    // IAM: made already, or changed by someone else meanwhile.
    "EntityAlreadyExists",
    "ConcurrentModification",
];

const INVALID: &[&str] = &[
    "InvalidParameterException",
    "InvalidParameterValue",
    "InvalidRequestException",
    "InvalidInput",
    "InvalidChangeBatch",
    "InvalidArgument",
    "ValidationException",
    "ValidationError",
    "UnsupportedAvailabilityZoneException",
    "ResourceLimitExceededException",
    "ServiceQuotaExceededException",
    // IAM.
    "MalformedPolicyDocument",
    "LimitExceeded",
];

const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "NotAuthorizedException",
    // EC2: credentials not valid or not accepted.
    "AuthFailure",
];

/// EC2 names its errors `Invalid<Thing>.<Reason>` (`InvalidSubnetID.NotFound`,
/// `InvalidGroup.Duplicate`, `InvalidVpcID.Malformed`), all with HTTP 400: the reason after the
/// dot says what it means.
const EC2_REASONS: &[(&str, ErrorKind)] = &[
    (".NotFound", ErrorKind::NotFound),
    (".Duplicate", ErrorKind::Conflict),
    (".InUse", ErrorKind::Conflict),
    (".Malformed", ErrorKind::Invalid),
];

/// The kind of a service error from its code and HTTP status (either may be missing).
pub fn classify(code: Option<&str>, status: Option<u16>) -> ErrorKind {
    if let Some(code) = code {
        let is = |table: &[&str]| table.iter().any(|c| c.eq_ignore_ascii_case(code));
        if is(THROTTLING) {
            return ErrorKind::Throttled;
        }
        if is(UNAVAILABLE) {
            return ErrorKind::Unavailable;
        }
        if is(NOT_FOUND) {
            return ErrorKind::NotFound;
        }
        if is(CONFLICT) {
            return ErrorKind::Conflict;
        }
        if is(INVALID) {
            return ErrorKind::Invalid;
        }
        if is(DENIED) {
            return ErrorKind::Denied;
        }
        let lower = code.to_ascii_lowercase();
        if let Some((_, kind)) = EC2_REASONS.iter().find(|(reason, _)| lower.ends_with(&reason.to_ascii_lowercase())) {
            return *kind;
        }
    }
    match status {
        Some(429) => ErrorKind::Throttled,
        Some(s) if s >= 500 => ErrorKind::Unavailable,
        Some(404) => ErrorKind::NotFound,
        Some(409 | 412) => ErrorKind::Conflict,
        Some(401 | 403) => ErrorKind::Denied,
        Some(400..=499) => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

/// Converts an SDK error from the operation described by `what` (e.g. "create cluster payments").
pub fn sdk_error<E>(what: &str, err: &SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let kind = sdk_kind(err);
    ProviderError::new(
        kind,
        redact(&format!("{what}: {}{}", detail(err), hint(kind))),
    )
}

/// What the service said, briefly: `ThrottlingException (HTTP 429): Rate exceeded (request id R)`.
/// Failures that never got an answer keep the SDK's whole error chain (it names the cause).
fn detail<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if let SdkError::DispatchFailure(d) = err {
        // One sentence, not the connector's whole debug chain: its innermost cause says what
        // happened ("Connection refused"), and where to look is always the same.
        let mut cause: &dyn StdError = err;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let how = if d.is_timeout() {
            "timed out"
        } else if d.is_io() {
            "could not connect"
        } else if d.is_user() {
            "could not send the request"
        } else {
            "failed"
        };
        return format!(
            "the request to AWS {how}: {cause}; check the network and the region (and \
             AWS_ENDPOINT_URL_* when aiming at local stand-ins)"
        );
    }
    let SdkError::ServiceError(_) = err else {
        return DisplayErrorContext(err).to_string();
    };
    let mut out = err.code().unwrap_or("unknown error").to_string();
    if let Some(status) = err.raw_response().map(|r| r.status().as_u16()) {
        out.push_str(&format!(" (HTTP {status})"));
    }
    if let Some(message) = err.message().filter(|m| !m.is_empty()) {
        out.push_str(": ");
        out.push_str(message);
    }
    if let Some(id) = err.meta().extra("aws_request_id") {
        out.push_str(&format!(" (request id {id})"));
    }
    out
}

/// The kind of an SDK error, including failures that never reached the service.
pub fn sdk_kind<E>(err: &SdkError<E, HttpResponse>) -> ErrorKind
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match err {
        SdkError::TimeoutError(_) => ErrorKind::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => ErrorKind::Timeout,
        // Connection refused or reset, DNS failure: the service could not be reached.
        SdkError::DispatchFailure(d) if d.is_io() || d.is_other() => ErrorKind::Unavailable,
        // Misconfiguration on our side (bad endpoint URL, no credentials, no region).
        SdkError::DispatchFailure(_) => ErrorKind::Invalid,
        SdkError::ConstructionFailure(_) => ErrorKind::Invalid,
        // The answer could not be read: typically a proxy or a truncated body; transient.
        SdkError::ResponseError(r) => match classify(None, Some(r.raw().status().as_u16())) {
            ErrorKind::Other => ErrorKind::Unavailable,
            kind => kind,
        },
        _ => classify(err.code(), err.raw_response().map(|r| r.status().as_u16())),
    }
}

/// The AWS error code of an SDK error, if the service sent one.
pub fn sdk_code<E>(err: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    err.code()
}

/// What to do about an error of this kind, appended to its message.
fn hint(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Throttled => {
            " (AWS is rate-limiting this account; cutover retries with backoff)"
        }
        ErrorKind::Unavailable | ErrorKind::Timeout => {
            " (AWS could not be reached or failed on its side; cutover retries with backoff, and \
             `cutover resume` continues if it gives up)"
        }
        ErrorKind::Denied => {
            " (the caller is not allowed to do this: check `aws sts get-caller-identity` and that \
             its IAM policy includes the statements in infra/iam)"
        }
        ErrorKind::Invalid => {
            " (AWS refused the request as invalid; fix the plan or the AWS configuration named \
             above, then resume)"
        }
        ErrorKind::NotFound | ErrorKind::Conflict | ErrorKind::WaitTimedOut | ErrorKind::Other => {
            ""
        }
    }
}

/// Removes values that must never be shown: SigV4 signatures, credentials and session tokens in
/// presigned URLs, and EKS bearer tokens.
pub fn redact(text: &str) -> String {
    const QUERY_SECRETS: &[&str] = &[
        "X-Amz-Signature=",
        "X-Amz-Security-Token=",
        "X-Amz-Credential=",
        "Signature=",
        "AWSAccessKeyId=",
    ];
    let mut out = text.to_string();
    for key in QUERY_SECRETS {
        out = redact_after(&out, key, |c| {
            c == '&' || c == '"' || c == '\'' || c.is_whitespace()
        });
    }
    out = redact_after(&out, "k8s-aws-v1.", |c| {
        !(c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    redact_after(&out, "Authorization: ", |c| c == '\n' || c == '"')
}

/// Replaces what follows each occurrence of `key` up to the first `end` character.
fn redact_after(text: &str, key: &str, end: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        let start = at + key.len();
        out.push_str(&rest[..start]);
        out.push_str("<redacted>");
        let tail = &rest[start..];
        let stop = tail.find(&end).unwrap_or(tail.len());
        rest = &tail[stop..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_and_busy_zones_are_retryable_throttling() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "PriorRequestNotComplete",
            "SlowDown",
        ] {
            assert_eq!(
                classify(Some(code), Some(400)),
                ErrorKind::Throttled,
                "{code}"
            );
        }
        assert_eq!(classify(None, Some(429)), ErrorKind::Throttled);
    }

    #[test]
    fn server_side_failures_are_retryable() {
        assert_eq!(
            classify(Some("ServerException"), Some(500)),
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify(Some("SomethingNew"), Some(503)),
            ErrorKind::Unavailable
        );
        assert_eq!(classify(None, Some(502)), ErrorKind::Unavailable);
        assert!(ProviderError::new(classify(None, Some(500)), "x").retryable());
    }

    #[test]
    fn client_errors_are_not_retryable_and_keep_their_meaning() {
        assert_eq!(
            classify(Some("ResourceNotFoundException"), Some(404)),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify(Some("NoSuchHostedZone"), Some(404)),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify(Some("ResourceInUseException"), Some(409)),
            ErrorKind::Conflict
        );
        assert_eq!(
            classify(Some("PreconditionFailed"), Some(412)),
            ErrorKind::Conflict
        );
        assert_eq!(
            classify(Some("InvalidParameterException"), Some(400)),
            ErrorKind::Invalid
        );
        assert_eq!(
            classify(Some("InvalidChangeBatch"), Some(400)),
            ErrorKind::Invalid
        );
        assert_eq!(
            classify(Some("AccessDeniedException"), Some(403)),
            ErrorKind::Denied
        );
        assert_eq!(classify(Some("ExpiredToken"), Some(400)), ErrorKind::Denied);
        assert_eq!(classify(None, Some(403)), ErrorKind::Denied);
        assert_eq!(classify(Some("Unheard"), Some(418)), ErrorKind::Invalid);
        assert_eq!(classify(None, None), ErrorKind::Other);
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::Invalid,
            ErrorKind::Denied,
        ] {
            assert!(!ProviderError::new(kind, "x").retryable(), "{kind:?}");
        }
    }

    #[test]
    fn ec2_dotted_codes_are_read_by_their_reason() {
        assert_eq!(classify(Some("InvalidSubnetID.NotFound"), Some(400)), ErrorKind::NotFound);
        assert_eq!(classify(Some("InvalidVpcID.NotFound"), Some(400)), ErrorKind::NotFound);
        assert_eq!(classify(Some("InvalidGroup.Duplicate"), Some(400)), ErrorKind::Conflict);
        assert_eq!(classify(Some("InvalidIPAddress.InUse"), Some(400)), ErrorKind::Conflict);
        assert_eq!(classify(Some("InvalidSubnetID.Malformed"), Some(400)), ErrorKind::Invalid);
        assert_eq!(classify(Some("AuthFailure"), Some(401)), ErrorKind::Denied);
        assert_eq!(classify(Some("Unavailable"), Some(503)), ErrorKind::Unavailable);
        assert_eq!(classify(Some("RequestLimitExceeded"), Some(503)), ErrorKind::Throttled);
    }

    #[test]
    fn codes_match_whatever_their_case() {
        assert_eq!(classify(Some("throttling"), None), ErrorKind::Throttled);
    }

    #[test]
    fn signatures_credentials_and_tokens_are_redacted() {
        let text = "GET https://sts.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Credential=AKID%2F2024&\
                    X-Amz-Security-Token=FQoGZXIvYXdzEJr&X-Amz-Signature=abc123 failed; token k8s-aws-v1.aHR0cHM6Ly9 \
                    Authorization: AWS4-HMAC-SHA256 Credential=AKID\nnext line";
        let out = redact(text);
        for secret in ["AKID", "FQoGZXIvYXdzEJr", "abc123", "aHR0cHM6Ly9"] {
            assert!(!out.contains(secret), "{secret} left in {out}");
        }
        assert!(out.contains("Action=GetCallerIdentity"), "{out}");
        assert!(out.ends_with("next line"), "{out}");
    }
}
