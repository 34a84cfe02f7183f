//! `ApiErrors<MASK>`: an operation's error type, which declares in the spec exactly the
//! statuses of its mask (the pattern is in the parent module's doc).

use poem::http::StatusCode;
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

use super::{ApiError, ErrorBody};

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
    pub const E422: u32 = 1 << 10;

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
    (statuses::E422, 422, "idempotency_key_reused: the Idempotency-Key was used before for a different request"),
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

#[cfg(test)]
mod tests {
    use super::statuses::*;
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn an_operation_declares_exactly_the_statuses_of_its_mask() {
        let declared: Vec<u16> =
            ApiErrors::<{ WITH_BODY | E401 }>::meta().responses.iter().filter_map(|r| r.status).collect();
        assert_eq!(declared, [400, 401, 413, 500, 503, 504]);
    }

    #[test]
    #[should_panic(expected = "undeclared status 404")]
    fn answering_an_undeclared_status_is_caught_in_debug_builds() {
        let _ = poem::Error::from(ApiErrors::<{ EDGE }>(ApiError::new(ErrorCode::NotFound, "no such thing")));
    }
}
