//! The one error shape of both services (`{"error":{"code","message"}}`), the codes the
//! contract fixes, and the mapping from every framework error into that shape.
//!
//! **Declaring an operation's errors.** Every status an operation can answer is in the
//! spec, and nothing else. An operation returns `Result<ItsOkEnum, ApiErrors<MASK>>`,
//! where `MASK` is the set of error statuses it declares, built from the bits in
//! [`statuses`]; the spec then lists exactly those (with `ErrorBody`). One line per
//! operation:
//!
//! ```ignore
//! use halo_shared::error::statuses::*;
//! async fn refresh(..) -> Result<TokenPairResponse, ApiErrors<{ WITH_BODY | E401 | E429 }>>
//! ```
//!
//! Start from what the edge can add to any operation: [`statuses::EDGE`] (500, 503, 504)
//! for an operation with neither body nor parameters, [`statuses::WITH_PARAMS`] (+400)
//! with parameters, [`statuses::WITH_BODY`] (+400, +413) with a JSON body. Add
//! [`statuses::BEARER`] (401 and 403: the guards refuse a bad token and a wrong user type)
//! on a protected operation, then what its own logic returns (404, 409, 429 …). `?` turns
//! any `ApiError` (or anything that converts into one: `AuthError`, `OtpError` …) into
//! `ApiErrors`. Answering a status the operation does not declare is a bug: debug builds
//! panic on it (so tests and the schemathesis run catch it), release builds log it.

mod declared;

use poem::http::{header, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::types::ToJSON;
use poem_openapi::{Enum, Object};

pub use declared::{statuses, ApiErrors};

/// Machine-readable error code: stable, `snake_case`. Apps switch on these, never on the
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request could not be parsed or failed validation.
    InvalidRequest,
    /// 401: missing, malformed or badly signed bearer token (or a revoked session).
    InvalidToken,
    /// 401: the access token has expired; refresh it.
    TokenExpired,
    /// 403: the token is valid but its user type or role may not use this route.
    Forbidden,
    /// 404: no such route or resource.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 409: the request conflicts with existing data.
    Conflict,
    /// 413: the request body is larger than the service accepts.
    PayloadTooLarge,
    /// 401: the refresh token is malformed or was never issued.
    InvalidRefreshToken,
    /// 401: a refresh token that was already rotated away was presented again; the
    /// whole session is now revoked.
    RefreshTokenReused,
    /// 401: the session was revoked (logout, reuse, merge, staff action).
    SessionRevoked,
    /// 401: the session expired (30 days without a refresh).
    SessionExpired,
    /// 401: wrong email or password.
    InvalidCredentials,
    /// 401: the one-time code is wrong or was already used.
    InvalidOtp,
    /// 401: the one-time code has expired or ran out of attempts.
    OtpExpired,
    /// 401: the Google or Apple ID token failed verification.
    InvalidIdToken,
    /// 403: the account is disabled.
    AccountDisabled,
    /// 429: too many requests; see the `Retry-After` header.
    RateLimited,
    /// 500: something failed on our side; details are only in the logs.
    Internal,
    /// 503: a dependency (the database) is not answering; see the `Retry-After` header.
    Unavailable,
    /// 503: the sign-in provider is not configured on this deployment.
    ProviderNotConfigured,
    /// 503: the sign-in provider's key set cannot be fetched right now.
    ProviderUnavailable,
    /// 504: the request took longer than the service allows.
    Timeout,
    /// 403: the account is suspended by staff.
    AccountSuspended,
    /// 403: an anonymous customer tried something that needs a verified phone or a
    /// Google/Apple identity.
    UpgradeRequired,
    /// 409: an order or account transition its current state does not allow.
    InvalidState,
    /// 503: the payment provider failed; nothing was charged or recorded.
    PaymentUnavailable,
    /// 422: an `Idempotency-Key` seen before with a different request body.
    IdempotencyKeyReused,
    /// 409: the requested start is not a free slot of the mitra (or was just booked).
    SlotUnavailable,
    /// 409: the address lies outside the mitra's service area.
    OutsideServiceArea,
}

impl ErrorCode {
    /// The HTTP status each code is always sent with.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidRequest => StatusCode::BAD_REQUEST,
            InvalidToken | TokenExpired | InvalidRefreshToken | RefreshTokenReused | SessionRevoked
            | SessionExpired | InvalidCredentials | InvalidOtp | OtpExpired | InvalidIdToken => {
                StatusCode::UNAUTHORIZED
            }
            Forbidden | AccountDisabled | AccountSuspended | UpgradeRequired => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict | InvalidState | SlotUnavailable | OutsideServiceArea => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable | ProviderNotConfigured | ProviderUnavailable | PaymentUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Timeout => StatusCode::GATEWAY_TIMEOUT,
            IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// The body of every error response.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Object)]
pub struct ErrorDetail {
    // No doc comment here: a described field becomes `allOf [$ref, {description}]`,
    // which generators (openapi-python-client) refuse. `ErrorCode`'s own doc says it.
    pub code: ErrorCode,
    /// Human-readable explanation; never contains secrets.
    pub message: String,
}

/// An error on its way to the client: a code, a message, and for 429 and 503 the seconds
/// to wait. Operations return it wrapped in [`ApiErrors`], which declares its statuses.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
    /// A status other than the code's own, where the contract fixes one (§16: a wrong
    /// payout-account code is 403 `invalid_otp`).
    pub status_override: Option<StatusCode>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None, status_override: None }
    }

    /// The same error answered with `status` instead of its code's own.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status_override = Some(status);
        self
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            message: "too many requests; try again later".into(),
            retry_after: Some(retry_after_secs.max(1)),
            status_override: None,
        }
    }

    /// A 500 whose cause is logged here and never sent to the client; or, when the cause
    /// is the database being out of reach, a 503 `unavailable` the client may retry.
    /// Every unexpected error becomes an `ApiError` here, so this is the one place that
    /// tells an outage from a bug.
    pub fn internal(cause: &anyhow::Error) -> Self {
        if is_database_outage(cause) {
            tracing::warn!(error = format!("{cause:#}"), "database unavailable");
            return Self {
                code: ErrorCode::Unavailable,
                message: "the database is not answering; try again shortly".into(),
                retry_after: Some(DATABASE_RETRY_AFTER_SECS),
                status_override: None,
            };
        }
        tracing::error!(error = format!("{cause:#}"), "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status_override.unwrap_or_else(|| self.code.status())
    }
}

/// The one conversion for what no domain error names: a query that failed, a pool with
/// no free connection, a provider answering nonsense. [`ApiError::internal`] logs the
/// cause with its context and answers 503 `unavailable` when the database is out of
/// reach, 500 `internal` otherwise. Domain errors keep their own `Unexpected` variant
/// and convert through the same function.
impl From<anyhow::Error> for ApiError {
    fn from(cause: anyhow::Error) -> Self {
        Self::internal(&cause)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(cause: sqlx::Error) -> Self {
        Self::internal(&cause.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        let mut resp = Response::builder()
            .status(status)
            .content_type("application/json; charset=utf-8")
            .body(body.to_json_string());
        // Every 503 says when to come back (contract §4); one that named no wait of its
        // own (the revocation fallback, a provider) gets the database's.
        let retry_after = match self.code.status() {
            StatusCode::SERVICE_UNAVAILABLE => Some(self.retry_after.unwrap_or(DATABASE_RETRY_AFTER_SECS)),
            _ => self.retry_after,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

/// What a client waits before retrying when the database is out of reach.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

/// Whether an unexpected error is the database being unreachable (no free connection
/// within `DB_ACQUIRE_TIMEOUT_SECONDS`, a refused or dropped connection, the server
/// shutting down) rather than a bug.
fn is_database_outage(cause: &anyhow::Error) -> bool {
    cause.chain().any(|err| {
        if err.is::<std::io::Error>() {
            return true;
        }
        match err.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)) => {
                true
            }
            // Class 08: connection exception; 57P01–57P03: admin/crash shutdown, cannot
            // connect now; 53300: too many connections; 57014: cancelled (a statement
            // timeout: the database did not answer in time).
            Some(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300" | "57014")),
            _ => false,
        }
    })
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

/// Reshapes any error that reaches the edge of the app into the contract's JSON shape.
/// Responses our own handlers built (already JSON) pass through untouched.
pub fn render_error(err: poem::Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone().into_response();
    }
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let api = match status {
        StatusCode::NOT_FOUND => ApiError::new(ErrorCode::NotFound, "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this route")
        }
        StatusCode::UNAUTHORIZED => ApiError::new(ErrorCode::InvalidToken, "missing or malformed bearer token"),
        StatusCode::FORBIDDEN => ApiError::new(ErrorCode::Forbidden, "forbidden"),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ErrorCode::PayloadTooLarge, "request body too large"),
        // A missing body or a body that is not JSON is a malformed request like any other.
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::invalid_request("expected a JSON body with content type application/json")
        }
        s if s.is_client_error() => {
            // Parse and validation errors: poem's message names the field and the
            // problem and never echoes secret values.
            ApiError::invalid_request(err.to_string())
        }
        _ => {
            tracing::error!(error = %err, status = status.as_u16(), "unhandled error");
            ApiError::new(ErrorCode::Internal, "internal error")
        }
    };
    api.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_out_of_reach_is_503_and_anything_else_unexpected_is_500() {
        let outages = [
            anyhow::Error::from(sqlx::Error::PoolTimedOut),
            anyhow::Error::from(sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into())),
            anyhow::Error::from(sqlx::Error::PoolClosed).context("loading the session"),
        ];
        for cause in &outages {
            let err = ApiError::internal(cause);
            assert_eq!((err.code, err.retry_after), (ErrorCode::Unavailable, Some(DATABASE_RETRY_AFTER_SECS)));
        }
        let bug = ApiError::internal(&anyhow::Error::from(sqlx::Error::RowNotFound));
        assert_eq!((bug.code, bug.retry_after), (ErrorCode::Internal, None));
        // `?` on a bare query error takes the same road.
        assert_eq!(ApiError::from(sqlx::Error::PoolTimedOut).code, ErrorCode::Unavailable);
        assert_eq!(ApiError::from(sqlx::Error::RowNotFound).code, ErrorCode::Internal);
    }
}
