use chrono::{DateTime, Utc};
use halo_shared::auth::public::Public;
use halo_shared::auth::scheme::AppUserAuth;
use halo_shared::auth::{anonymous, refresh};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::sessions::{self, RevokeReason, Scope};
use halo_shared::tokens::UserType;
use halo_shared::AppState;
use poem::web::Data;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::schemas::TokenPairResponse;
use super::Tag;

#[derive(Default)]
pub struct SessionApi;

#[derive(Debug, Object)]
pub struct RefreshRequest {
    /// The refresh token from the last sign-in or refresh.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub refresh_token: JsonString,
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
pub enum LogoutResponse {
    /// The session is revoked; its refresh token no longer works.
    #[oai(status = 204)]
    LoggedOut,
}

#[derive(ApiResponse)]
pub enum SessionResponse {
    /// The session the access token belongs to.
    #[oai(status = 200)]
    Ok(Json<SessionInfo>),
}

#[OpenApi(tag = "Tag::Auth")]
impl SessionApi {
    /// Anonymous sign-in (public).
    ///
    /// Creates a new anonymous customer and returns its token pair. It takes no body; one
    /// that is sent (`{}`, as older app builds do) is ignored. Limited per client IP
    /// (`429 rate_limited`).
    #[oai(path = "/api/shared/auth/anonymous", method = "post", operation_id = "authAnonymous")]
    async fn anonymous(
        &self,
        state: Data<&AppState>,
        _public: Public,
        req: &Request,
    ) -> Result<TokenPairResponse, ApiErrors<{ EDGE | E413 | E429 }>> {
        let issued = anonymous::sign_in(&state, &client_info_of(req)).await?;
        Ok(issued.into())
    }

    /// Refresh (public): exchanges a refresh token for a new token pair.
    ///
    /// The presented token is rotated away. Presenting it again within 10 seconds returns
    /// the same new pair (safe retries); later, it revokes the whole session
    /// (`refresh_token_reused`). Other 401 codes: `invalid_refresh_token`,
    /// `session_revoked`, `session_expired`. Too many refreshes per session or client IP
    /// get 429 `rate_limited`.
    #[oai(path = "/api/shared/auth/refresh", method = "post", operation_id = "authRefresh")]
    async fn refresh(
        &self,
        _public: Public,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<RefreshRequest>,
    ) -> Result<TokenPairResponse, ApiErrors<{ WITH_BODY | E401 | E403 | E429 }>> {
        let allowed = [UserType::Customer, UserType::Mitra];
        let issued = refresh::refresh(&state, &body.refresh_token, &allowed, &client_info_of(req)).await?;
        Ok(issued.into())
    }

    /// Logout: revokes the current session.
    ///
    /// Its refresh token stops working, its device stops receiving pushes and its open
    /// sockets close; access tokens of other sessions are unaffected.
    #[oai(path = "/api/shared/auth/logout", method = "post", operation_id = "authLogout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        auth: AppUserAuth,
    ) -> Result<LogoutResponse, ApiErrors<{ EDGE | BEARER }>> {
        let claims = &auth.0;
        let scope =
            Scope::OwnSession { user_type: claims.user_type, user_id: claims.sub, session_id: claims.session_id };
        sessions::revoke(&state.db, scope, RevokeReason::Logout).await?;
        Ok(LogoutResponse::LoggedOut)
    }

    /// The current session, read from the access token.
    ///
    /// Answered from the access token alone, without touching the database: the user,
    /// its type, the session id and when the presented token expires.
    #[oai(path = "/api/shared/auth/session", method = "get", operation_id = "authSession")]
    async fn session(&self, auth: AppUserAuth) -> Result<SessionResponse, ApiErrors<{ EDGE | BEARER }>> {
        let claims = auth.0;
        Ok(SessionResponse::Ok(Json(SessionInfo {
            user_id: claims.sub,
            user_type: claims.user_type,
            session_id: claims.session_id,
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
        })))
    }
}
