use chrono::{DateTime, Utc};
use halo_shared::auth::scheme::AppUserAuth;
use halo_shared::auth::sessions::{self, RevokeReason};
use halo_shared::auth::tokens::UserType;
use halo_shared::auth::{anonymous, AuthError};
use halo_shared::http::client_info_of;
use halo_shared::{ApiError, AppState};
use poem::web::Data;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::schemas::TokenPair;
use super::Tag;

#[derive(Default)]
pub struct SessionApi;

/// Body of an anonymous sign-in: an empty object.
#[derive(Debug, Object)]
pub struct AnonymousRequest {}

#[derive(Debug, Object)]
pub struct RefreshRequest {
    /// The refresh token from the last sign-in or refresh.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub refresh_token: String,
}

/// The current session, read from the access token alone.
#[derive(Debug, Object)]
pub struct SessionInfo {
    pub user_id: Uuid,
    pub user_type: UserType,
    pub session_id: Uuid,
    /// When the presented access token expires.
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum TokenPairResponse {
    /// Signed in: a new token pair.
    #[oai(status = 200)]
    Ok(Json<TokenPair>),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// The session is revoked; its refresh token no longer works.
    #[oai(status = 204)]
    LoggedOut,
}

#[derive(ApiResponse)]
pub enum SessionResponse {
    #[oai(status = 200)]
    Ok(Json<SessionInfo>),
}

#[OpenApi(tag = "Tag::Auth")]
impl SessionApi {
    /// Anonymous sign-in (public). Creates a new anonymous customer and returns its
    /// token pair. Limited per client IP (`429 rate_limited`).
    #[oai(path = "/api/shared/auth/anonymous", method = "post")]
    async fn anonymous(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _body: Json<AnonymousRequest>,
    ) -> Result<TokenPairResponse, ApiError> {
        let issued = anonymous::sign_in(&state, &client_info_of(req)).await?;
        Ok(TokenPairResponse::Ok(Json(issued.into())))
    }

    /// Refresh (public): exchanges a refresh token for a new token pair. The presented
    /// token is rotated away. Presenting it again within 10 seconds returns the same new
    /// pair (safe retries); later, it revokes the whole session (`refresh_token_reused`).
    /// Other 401 codes: `invalid_refresh_token`, `session_revoked`, `session_expired`.
    /// Too many refreshes per session or client IP get 429 `rate_limited`.
    #[oai(path = "/api/shared/auth/refresh", method = "post")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<RefreshRequest>,
    ) -> Result<TokenPairResponse, ApiError> {
        let allowed = [UserType::Customer, UserType::Mitra];
        let issued = sessions::refresh(&state, &body.refresh_token, &allowed, &client_info_of(req)).await?;
        Ok(TokenPairResponse::Ok(Json(issued.into())))
    }

    /// Logout: revokes the current session.
    #[oai(path = "/api/shared/auth/logout", method = "post")]
    async fn logout(&self, state: Data<&AppState>, auth: AppUserAuth) -> Result<LogoutResponse, ApiError> {
        sessions::revoke(&state.db, auth.0.sub, auth.0.session_id, RevokeReason::Logout)
            .await
            .map_err(AuthError::from)?;
        Ok(LogoutResponse::LoggedOut)
    }

    /// The current session, answered from the access token alone (no database).
    #[oai(path = "/api/shared/auth/session", method = "get")]
    async fn session(&self, auth: AppUserAuth) -> SessionResponse {
        let claims = auth.0;
        SessionResponse::Ok(Json(SessionInfo {
            user_id: claims.sub,
            user_type: claims.user_type,
            session_id: claims.session_id,
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
        }))
    }
}
