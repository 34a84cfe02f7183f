//! `POST /api/shared/ws/ticket`: a single-use, 30-second ticket for the WebSocket URL,
//! so apps that cannot set a header on the upgrade keep their access token out of URLs.

use halo_shared::auth::scheme::AppUserAuth;
use halo_shared::auth::ticket::{self, TICKET_TTL_SECS};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::token_response::{NO_CACHE, NO_STORE};
use halo_shared::AppState;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::Tag;

#[derive(Default)]
pub struct RealtimeTicketApi;

/// A ticket for one WebSocket upgrade.
#[derive(Debug, Object)]
pub struct RealtimeTicket {
    /// Opaque; use it once, as `GET /api/shared/ws?ticket=…`.
    pub ticket: String,
    /// Seconds the ticket stays valid (30).
    pub expires_in: u32,
}

#[derive(ApiResponse)]
pub enum RealtimeTicketResponse {
    /// A ticket; never cached.
    #[oai(status = 200)]
    Ok(
        Json<RealtimeTicket>,
        /// Always `no-store`: the ticket is a credential.
        #[oai(header = "Cache-Control")]
        String,
        /// Always `no-cache`.
        #[oai(header = "Pragma")]
        String,
    ),
}

#[OpenApi(tag = "Tag::Realtime")]
impl RealtimeTicketApi {
    /// A single-use ticket for the realtime socket.
    ///
    /// Valid 30 seconds, for clients that cannot set the `Authorization` header on the
    /// upgrade: open `/api/shared/ws?ticket=…`. The socket it opens belongs
    /// to this session and closes when the presented access token expires. A session
    /// may buy 20 tickets a minute; beyond that, 429 `rate_limited` with `Retry-After`.
    #[oai(path = "/api/shared/ws/ticket", method = "post", operation_id = "realtimeTicket")]
    async fn ticket(
        &self,
        state: Data<&AppState>,
        auth: AppUserAuth,
    ) -> Result<RealtimeTicketResponse, ApiErrors<{ EDGE | BEARER | E429 }>> {
        let ticket = ticket::issue(&state.db, &auth.0).await?;
        let body = RealtimeTicket { ticket, expires_in: TICKET_TTL_SECS };
        Ok(RealtimeTicketResponse::Ok(Json(body), NO_STORE.into(), NO_CACHE.into()))
    }
}
