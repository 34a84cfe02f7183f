//! Moderation (contract §14): reported messages, reading a conversation (each read is
//! audited), hiding messages and reviews. Any staff member (agents too).

use halo_shared::audit::StaffActor;
use halo_shared::auth::scheme::StaffAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::marketplace::chat::{self, Message, Report, ReportAction, ReportStatus};
use halo_shared::marketplace::reviews::{self, Review};
use halo_shared::marketplace::MarketError;
use halo_shared::pagination::Page;
use halo_shared::AppState;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct TrustApi;

/// How staff resolve a report: `dismiss` leaves the message; `hide_message` hides it
/// from both parties.
#[derive(Debug, Object)]
pub struct ReportResolve {
    pub action: ReportAction,
    /// Up to 1000 characters, kept with the report and in the audit log.
    pub note: Option<JsonString>,
}

/// Why a review is hidden.
#[derive(Debug, Object)]
pub struct ReviewHide {
    /// 1–1000 characters, kept in the audit log.
    pub reason: JsonString,
}

/// One page of an order's messages, newest first (hidden ones with their body).
#[derive(Debug, Object)]
pub struct StaffMessagePage {
    pub items: Vec<Message>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// One page of reports, newest first.
#[derive(Debug, Object)]
pub struct ReportPage {
    pub items: Vec<Report>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum StaffMessagePageResponse {
    #[oai(status = 200)]
    Ok(Json<StaffMessagePage>),
}

#[derive(ApiResponse)]
pub enum ReportPageResponse {
    #[oai(status = 200)]
    Ok(Json<ReportPage>),
}

#[derive(ApiResponse)]
pub enum ReportResponse {
    #[oai(status = 200)]
    Ok(Json<Report>),
}

#[derive(ApiResponse)]
pub enum ReviewResponse {
    #[oai(status = 200)]
    Ok(Json<Review>),
}

#[OpenApi(tag = "Tag::Trust")]
impl TrustApi {
    /// An order's conversation, newest first (every read is audited).
    ///
    /// Hidden messages show their body here, with `hidden: true`. Each call appends an
    /// audit entry `order.messages_viewed`. Paged with `cursor`; 1–100 per page.
    #[oai(path = "/internal/orders/:id/messages", method = "get", operation_id = "ccOrderMessages")]
    async fn messages(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        id: Path<Uuid>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<StaffMessagePageResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let actor = StaffActor::new(auth.0.sub, &client_info_of(req));
        let (items, next_cursor) = chat::staff_history(&state.db, &actor, id.0, page).await?;
        Ok(StaffMessagePageResponse::Ok(Json(StaffMessagePage { items, next_cursor })))
    }

    /// Reported messages, newest first, optionally of one status.
    ///
    /// Paged with `cursor`; 1–100 per page.
    #[oai(path = "/internal/reports", method = "get", operation_id = "ccReportsList")]
    async fn reports(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        status: Query<Option<ReportStatus>>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<ReportPageResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let (items, next_cursor) = chat::reports(&state.db, status.0, page).await.map_err(MarketError::from)?;
        Ok(ReportPageResponse::Ok(Json(ReportPage { items, next_cursor })))
    }

    /// Resolves an open report: dismiss it, or hide the message (audited).
    ///
    /// A hidden message shows `body: null, hidden: true` to both parties, whose sockets
    /// get `message.updated`. A report resolved before is 409 `invalid_state`. Audited as
    /// `report.resolve`.
    #[oai(path = "/internal/reports/:id/resolve", method = "post", operation_id = "ccReportsResolve")]
    async fn resolve(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        id: Path<Uuid>,
        body: JsonBody<ReportResolve>,
    ) -> Result<ReportResponse, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 }>> {
        let actor = StaffActor::new(auth.0.sub, &client_info_of(req));
        let note = body.note.as_ref().map(|n| n.as_str());
        Ok(ReportResponse::Ok(Json(chat::resolve(&state.db, &actor, id.0, body.action, note).await?)))
    }

    /// Hides an abusive review (audited).
    ///
    /// It leaves the mitra's public reviews and every average at once. Audited as
    /// `review.hide` (once: hiding it again changes nothing).
    #[oai(path = "/internal/reviews/:id/hide", method = "post", operation_id = "ccReviewsHide")]
    async fn hide_review(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        id: Path<Uuid>,
        body: JsonBody<ReviewHide>,
    ) -> Result<ReviewResponse, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        let actor = StaffActor::new(auth.0.sub, &client_info_of(req));
        let window = state.settings().chat.review_window_days;
        Ok(ReviewResponse::Ok(Json(reviews::hide(&state.db, &actor, id.0, &body.reason, window).await?)))
    }
}
