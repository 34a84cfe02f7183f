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

use poem::http::{header, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Enum, Object};

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
            Conflict | InvalidState => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable | ProviderNotConfigured | ProviderUnavailable | PaymentUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Timeout => StatusCode::GATEWAY_TIMEOUT,
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
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            message: "too many requests; try again later".into(),
            retry_after: Some(retry_after_secs.max(1)),
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
            };
        }
        tracing::error!(error = format!("{cause:#}"), "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        let mut resp = Response::builder()
            .status(self.code.status())
            .content_type("application/json; charset=utf-8")
            .body(body.to_json_string());
        if let Some(secs) = self.retry_after {
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
            // Class 08: connection exception; 57P01–57P03: admin/crash shutdown, cannot connect now.
            Some(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03"))
            }
            _ => false,
        }
    })
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.code.status()
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

/// The error statuses an operation can declare, as bits of `ApiErrors`' mask.
pub mod statuses {
    pub const E400: u32 = 1 << 0;
    pub const E401: u32 = 1 << 1;
    pub const E403: u32 = 1 << 2;
    pub const E404: u32 = 1 << 3;
    pub const E409: u32 = 1 << 4;
    pub const E413: u32 = 1 << 5;
    pub const E429: u32 = 1 << 6;
    pub const E500: u32 = 1 << 7;
    pub const E503: u32 = 1 << 8;
    pub const E504: u32 = 1 << 9;

    /// What the edge can answer on any operation: internal error, database out of reach,
    /// timeout.
    pub const EDGE: u32 = E500 | E503 | E504;
    /// An operation with path, query, header or cookie parameters (they can fail to parse).
    pub const WITH_PARAMS: u32 = EDGE | E400;
    /// An operation with a JSON body (it can fail to parse or be too large).
    pub const WITH_BODY: u32 = EDGE | E400 | E413;
    /// A protected operation: the guards answer 401 for a bad token and 403 for a user
    /// type the operation does not serve.
    pub const BEARER: u32 = E401 | E403;
}

/// Each declarable status: its bit, code, and what the spec says about it.
const DECLARABLE: &[(u32, u16, &str)] = &[
    (statuses::E400, 400, "invalid_request: the body or a parameter is malformed or fails validation"),
    (statuses::E401, 401, "invalid_token, token_expired, or an operation-specific authentication failure"),
    (
        statuses::E403,
        403,
        "forbidden: the token's user type or role may not use this route (or the operation's own 403 codes)",
    ),
    (statuses::E404, 404, "not_found: no such resource"),
    (statuses::E409, 409, "conflict or invalid_state: the request clashes with the current state"),
    (statuses::E413, 413, "payload_too_large: the body exceeds 64 KiB"),
    (statuses::E429, 429, "rate_limited: wait the seconds in Retry-After"),
    (statuses::E500, 500, "internal: details are only in the service's logs"),
    (statuses::E503, 503, "unavailable (wait the seconds in Retry-After) or the operation's own 503 codes"),
    (statuses::E504, 504, "timeout: the request took longer than the service allows"),
];

fn bit_of(status: StatusCode) -> u32 {
    DECLARABLE.iter().find(|(_, s, _)| *s == status.as_u16()).map_or(0, |(bit, _, _)| *bit)
}

/// An operation's error: an [`ApiError`] whose possible statuses are the bits of `MASK`
/// (see the module doc). Its spec lists exactly those statuses.
#[derive(Debug, Clone)]
pub struct ApiErrors<const MASK: u32>(pub ApiError);

impl<const MASK: u32, E: Into<ApiError>> From<E> for ApiErrors<MASK> {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

impl<const MASK: u32> From<ApiErrors<MASK>> for poem::Error {
    fn from(err: ApiErrors<MASK>) -> Self {
        let status = err.0.status();
        if bit_of(status) & MASK == 0 {
            tracing::error!(status = status.as_u16(), code = ?err.0.code, "an operation answered a status it does not declare");
            debug_assert!(false, "undeclared status {status} ({:?}) for an operation declaring {MASK:#b}", err.0.code);
        }
        poem::Error::from(err.0)
    }
}

impl<const MASK: u32> ApiResponse for ApiErrors<MASK> {
    fn meta() -> MetaResponses {
        let retry_after = |required| MetaHeader {
            name: "Retry-After".into(),
            description: Some("Seconds to wait before trying again".into()),
            required,
            deprecated: false,
            schema: u64::schema_ref(),
        };
        MetaResponses {
            responses: DECLARABLE
                .iter()
                .filter(|(bit, _, _)| bit & MASK != 0)
                .map(|&(_, status, description)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        // The body is sent with `; charset=utf-8`; a parameter here makes
                        // generators (Dart, Kotlin) fall back to untyped bodies.
                        content_type: "application/json",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: match status {
                        429 => vec![retry_after(true)],
                        503 => vec![retry_after(false)],
                        _ => vec![],
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// Reshapes any error that reaches the edge of the app into the contract's JSON shape.
/// Responses our own handlers built (already JSON) pass through untouched.
pub async fn render_error(err: poem::Error) -> Response {
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
