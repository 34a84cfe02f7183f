//! Bodies shared by several operations of the public gateway.

use halo_shared::auth::issue::{Issued, REFRESH_TOKEN_TTL_SECS};
use halo_shared::http::token_response::{TokenType, NO_CACHE, NO_STORE};
use halo_shared::tokens::{UserType, ACCESS_TOKEN_TTL_SECS};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use uuid::Uuid;

/// What every sign-in and refresh returns.
#[derive(Debug, Object)]
pub struct TokenPair {
    /// JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    pub token_type: TokenType,
    /// Seconds until the access token expires: always 3600.
    pub expires_in: i64,
    /// Opaque token for `POST /api/shared/auth/refresh`; store it securely. Single use.
    pub refresh_token: String,
    /// Seconds until the refresh token expires if unused (30 days).
    pub refresh_token_expires_in: i64,
    pub user: UserSummary,
}

/// Who the token pair belongs to.
#[derive(Debug, Object)]
pub struct UserSummary {
    pub id: Uuid,
    pub user_type: UserType,
    /// True for a customer who has not verified a phone or linked Google/Apple yet.
    pub is_anonymous: bool,
}

#[derive(ApiResponse)]
pub enum TokenPairResponse {
    /// Signed in: a new token pair.
    #[oai(status = 200)]
    Ok(
        Json<TokenPair>,
        /// Always `no-store`: the tokens must not be cached.
        #[oai(header = "Cache-Control")]
        String,
        /// Always `no-cache`.
        #[oai(header = "Pragma")]
        String,
    ),
}

impl From<Issued> for TokenPairResponse {
    fn from(issued: Issued) -> Self {
        TokenPairResponse::Ok(Json(issued.into()), NO_STORE.into(), NO_CACHE.into())
    }
}

impl From<Issued> for TokenPair {
    fn from(issued: Issued) -> Self {
        Self {
            access_token: issued.access_token,
            token_type: TokenType::Bearer,
            // The contract fixes the lifetime; `exp - now` would read 3599 across a second boundary.
            expires_in: ACCESS_TOKEN_TTL_SECS,
            refresh_token: issued.refresh_token,
            refresh_token_expires_in: REFRESH_TOKEN_TTL_SECS,
            user: UserSummary {
                id: issued.account.id,
                user_type: issued.account.user_type,
                is_anonymous: issued.account.is_anonymous,
            },
        }
    }
}
