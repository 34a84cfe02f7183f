//! The one error shape of both services (`{"error":{"code","message"}}`), the codes the
//! contract fixes, and the mapping from every framework error into that shape.

use poem::http::{header, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Enum, Object};

/// Machine-readable error codes. Apps switch on these, never on the message.
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
    /// 415: the request body is not JSON.
    UnsupportedMediaType,
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
    /// 503: a dependency (the database) is not answering.
    Unavailable,
    /// 503: the sign-in provider is not configured on this deployment.
    ProviderNotConfigured,
    /// 503: the sign-in provider's key set cannot be fetched right now.
    ProviderUnavailable,
    /// 504: the request took longer than the service allows.
    Timeout,
    /// 409: the order or account is in a state that does not allow this move.
    InvalidState,
    /// 403: an anonymous customer tried something that needs a verified phone or a
    /// Google/Apple identity.
    UpgradeRequired,
    /// 503: the payment provider failed; nothing was charged or recorded.
    PaymentUnavailable,
    /// 403: staff suspended this account; sign-in and refresh are refused.
    AccountSuspended,
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
            Forbidden | AccountDisabled | UpgradeRequired | AccountSuspended => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict | InvalidState => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation; never contains secrets.
    pub message: String,
}

/// An error on its way to the client: a code, a message, and for 429 the seconds to wait.
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

    /// A 500 whose cause is logged here and never sent to the client.
    pub fn internal(cause: &anyhow::Error) -> Self {
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

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.code.status()
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

/// The error responses documented on every operation.
const DOCUMENTED: &[(u16, &str)] = &[
    (400, "invalid_request: the body or a parameter is malformed or fails validation"),
    (401, "invalid_token, token_expired, or an operation-specific authentication failure"),
    (403, "forbidden: the token's user type or role may not use this route"),
    (413, "payload_too_large: the body exceeds 64 KiB"),
    (429, "rate_limited: wait the seconds in Retry-After"),
    (500, "internal: details are only in the service's logs"),
    (503, "unavailable: a dependency is not answering"),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .map(|&(status, description)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: if status == 429 {
                        vec![MetaHeader {
                            name: "Retry-After".into(),
                            description: Some("Seconds to wait before trying again".into()),
                            required: true,
                            deprecated: false,
                            schema: u64::schema_ref(),
                        }]
                    } else {
                        vec![]
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
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "expected a body with content type application/json")
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
