use halo_shared::auth::scheme::AppUserAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::sessions::live::{self as sessions, SessionView};
use halo_shared::{ApiError, AppState, ErrorCode};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct SessionsApi;

/// The user's live sessions, newest first.
#[derive(Debug, Object)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// How many sessions ended.
#[derive(Debug, Object)]
pub struct Revoked {
    pub revoked: u64,
}

#[derive(ApiResponse)]
pub enum SessionListResponse {
    #[oai(status = 200)]
    Ok(Json<SessionList>),
}

#[derive(ApiResponse)]
pub enum SessionEndedResponse {
    /// The session has ended; its tokens no longer work anywhere.
    #[oai(status = 204)]
    Ended,
}

#[derive(ApiResponse)]
pub enum RevokedResponse {
    #[oai(status = 200)]
    Ok(Json<Revoked>),
}

#[OpenApi(tag = "Tag::Sessions")]
impl SessionsApi {
    /// Where the signed-in user is signed in.
    ///
    /// Live sessions only (not logged out, revoked or expired), newest first; the one
    /// making the request has `current: true`.
    #[oai(path = "/api/shared/sessions", method = "get", operation_id = "sessionsList")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: AppUserAuth,
    ) -> Result<SessionListResponse, ApiErrors<{ EDGE | BEARER }>> {
        let current = Some(auth.0.session_id);
        let sessions = sessions::list(&state.db, &auth.0).await?;
        let sessions = sessions.into_iter().map(|s| s.view(current)).collect();
        Ok(SessionListResponse::Ok(Json(SessionList { sessions })))
    }

    /// Signs one of the user's sessions out (for example a lost phone).
    ///
    /// Its tokens stop working on every instance at once and its push device is removed.
    /// 404 when the user has no such live session (unknown, already ended, or another
    /// user's).
    #[oai(path = "/api/shared/sessions/:id", method = "delete", operation_id = "sessionsEnd")]
    async fn end(
        &self,
        state: Data<&AppState>,
        auth: AppUserAuth,
        id: Path<Uuid>,
    ) -> Result<SessionEndedResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        if !sessions::end(&state.db, &auth.0, id.0).await? {
            return Err(ApiError::new(ErrorCode::NotFound, "no such session").into());
        }
        Ok(SessionEndedResponse::Ended)
    }

    /// Signs out every session of the user except the current one.
    ///
    /// Their tokens stop working on every instance at once; answers how many ended.
    #[oai(path = "/api/shared/sessions/revoke-others", method = "post", operation_id = "sessionsRevokeOthers")]
    async fn revoke_others(
        &self,
        state: Data<&AppState>,
        auth: AppUserAuth,
    ) -> Result<RevokedResponse, ApiErrors<{ EDGE | BEARER }>> {
        let revoked = sessions::end_others(&state.db, &auth.0).await?;
        Ok(RevokedResponse::Ok(Json(Revoked { revoked })))
    }
}
