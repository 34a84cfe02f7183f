//! Liveness and readiness answers, the same for both services.

use std::time::Duration;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object};
use sqlx::PgPool;

use crate::error::{ErrorBody, ErrorCode, ErrorDetail};

/// The process is up.
#[derive(Debug, Object)]
pub struct HealthBody {
    pub status: HealthStatus,
}

/// Always `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The process is alive (the database is not consulted).
    #[oai(status = 200)]
    Ok(Json<HealthBody>),
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// The database answered within a second; the instance can take traffic.
    #[oai(status = 200)]
    Ready(Json<HealthBody>),
    /// The database did not answer within a second, or (services that authenticate)
    /// this instance has not loaded the revoked sessions yet.
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        /// Seconds to wait before asking again (every 503 carries it).
        #[oai(header = "Retry-After")]
        u64,
    ),
}

pub fn alive() -> HealthResponse {
    HealthResponse::Ok(Json(HealthBody { status: HealthStatus::Ok }))
}

pub async fn ready(db: &PgPool) -> ReadyResponse {
    if crate::db::is_ready(db, Duration::from_secs(1)).await {
        ReadyResponse::Ready(Json(HealthBody { status: HealthStatus::Ok }))
    } else {
        ReadyResponse::Unavailable(
            Json(ErrorBody {
                error: ErrorDetail { code: ErrorCode::Unavailable, message: "the database is not answering".into() },
            }),
            crate::error::DATABASE_RETRY_AFTER_SECS,
        )
    }
}

/// Readiness of an instance that authenticates requests: it must also have loaded the
/// revoked sessions once, or it would accept a logged-out session's tokens.
pub async fn ready_to_authenticate(db: &PgPool, realtime: &crate::realtime::Realtime) -> ReadyResponse {
    if !realtime.is_loaded() {
        return ReadyResponse::Unavailable(
            Json(ErrorBody {
                error: ErrorDetail {
                    code: ErrorCode::Unavailable,
                    message: "the revoked sessions are not loaded yet".into(),
                },
            }),
            crate::error::DATABASE_RETRY_AFTER_SECS,
        );
    }
    ready(db).await
}
