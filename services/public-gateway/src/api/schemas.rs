//! Bodies shared by several operations of the public gateway.

use halo_shared::auth::sessions::{Issued, REFRESH_TOKEN_TTL_SECS};
use halo_shared::auth::tokens::UserType;
use poem_openapi::Object;
use uuid::Uuid;

/// What every sign-in and refresh returns.
#[derive(Debug, Object)]
pub struct TokenPair {
    /// JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires (3600).
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

impl From<Issued> for TokenPair {
    fn from(issued: Issued) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            access_token: issued.access_token,
            token_type: "Bearer".into(),
            expires_in: (issued.access_expires_at - now).max(0),
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
