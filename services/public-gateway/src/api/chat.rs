//! The conversation of an order and its reviews (contract §14), for the order's customer
//! and mitra; and the published reviews of a mitra, for customers browsing.

use halo_shared::auth::scheme::{CustomerAuth, MitraAuth};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::marketplace::chat::{self, Message, Rules, Sent};
use halo_shared::marketplace::reviews::{self, NewReview, PublicReview, Review};
use halo_shared::marketplace::{browse, MarketError, Party};
use halo_shared::pagination::Page;
use halo_shared::{ApiError, AppState, ErrorCode};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct ChatApi;

/// A message to post.
#[derive(Debug, Object)]
pub struct MessageCreate {
    /// 1–2000 characters after trimming; no control characters but newlines.
    pub body: JsonString,
    /// 1–64 characters the app picks per message (e.g. a UUID) and keeps until it has an
    /// answer: a retry with the same id returns the same message.
    pub client_message_id: JsonString,
}

/// How far the caller has read.
#[derive(Debug, Object)]
pub struct MessagesRead {
    /// The id of the newest message the caller has read.
    pub up_to: Uuid,
}

/// Why a message is reported.
#[derive(Debug, Object)]
pub struct MessageReport {
    /// 1–1000 characters.
    pub reason: JsonString,
}

/// A review of a completed order.
#[derive(Debug, Object)]
pub struct ReviewCreate {
    /// 1–5.
    pub rating: i64,
    /// Up to 1000 characters.
    pub comment: Option<JsonString>,
}

/// One page of messages, newest first.
#[derive(Debug, Object)]
pub struct MessagePage {
    pub items: Vec<Message>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// One page of a mitra's published reviews, newest first.
#[derive(Debug, Object)]
pub struct ReviewPage {
    pub items: Vec<PublicReview>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum MessagePageResponse {
    #[oai(status = 200)]
    Ok(Json<MessagePage>),
}

#[derive(ApiResponse)]
pub enum MessagePosted {
    /// The message was posted.
    #[oai(status = 201)]
    Created(Json<Message>),
    /// This sender posted this `client_message_id` before: the same message.
    #[oai(status = 200)]
    Existing(Json<Message>),
}

#[derive(ApiResponse)]
pub enum Done {
    /// Recorded.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum Reported {
    /// Staff will look at it.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
pub enum ReviewCreated {
    #[oai(status = 201)]
    Created(Json<Review>),
}

#[derive(ApiResponse)]
pub enum ReviewPageResponse {
    #[oai(status = 200)]
    Ok(Json<ReviewPage>),
}

async fn history(
    state: &AppState,
    party: Party,
    id: Uuid,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<MessagePageResponse, ApiError> {
    let page = Page::parse(limit, cursor)?;
    let (items, next_cursor) = chat::history(&state.db, party, id, page).await?;
    Ok(MessagePageResponse::Ok(Json(MessagePage { items, next_cursor })))
}

async fn post(state: &AppState, party: Party, id: Uuid, body: &MessageCreate) -> Result<MessagePosted, ApiError> {
    let settings = state.settings().chat;
    let rules =
        Rules { open_days_after_end: settings.open_days_after_end, messages_per_minute: settings.messages_per_minute };
    Ok(match chat::post(&state.db, party, id, &body.body, &body.client_message_id, rules).await? {
        Sent::New(message) => MessagePosted::Created(Json(message)),
        Sent::Existing(message) => MessagePosted::Existing(Json(message)),
    })
}

async fn review(state: &AppState, party: Party, id: Uuid, body: &ReviewCreate) -> Result<ReviewCreated, ApiError> {
    let new = NewReview { rating: body.rating, comment: body.comment.as_ref().map(|c| c.as_str()) };
    let window = state.settings().chat.review_window_days;
    Ok(ReviewCreated::Created(Json(reviews::create(&state.db, party, id, &new, window).await?)))
}

#[OpenApi(tag = "Tag::Chat")]
impl ChatApi {
    /// The order's conversation, newest first (the order's customer only).
    ///
    /// Paged with `cursor`; 1–100 per page (`limit`, default 20). A message staff hid shows
    /// `body: null, hidden: true`. Another customer's order is 404.
    #[oai(path = "/api/client/orders/:id/messages", method = "get", operation_id = "messagesListCustomer")]
    async fn client_history(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        id: Path<Uuid>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<MessagePageResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        Ok(history(&state, Party::Customer(auth.0.sub), id.0, limit.0, cursor.0.as_deref()).await?)
    }

    /// The order's conversation, newest first (the order's mitra only).
    ///
    /// As the customer's; another mitra's order is 404.
    #[oai(path = "/api/mitra/orders/:id/messages", method = "get", operation_id = "messagesListMitra")]
    async fn mitra_history(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<MessagePageResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        Ok(history(&state, Party::Mitra(auth.0.sub), id.0, limit.0, cursor.0.as_deref()).await?)
    }

    /// Posts a message to the mitra of the order.
    ///
    /// The conversation opens when the order is paid and closes `CHAT_OPEN_DAYS_AFTER_END`
    /// days after it ended (409 `invalid_state` outside). The same `client_message_id` is
    /// 200 and the same message; with a different body 422 `idempotency_key_reused`. At
    /// most `CHAT_MESSAGES_PER_MINUTE` per sender (429). Both parties' sockets get
    /// `message.created`; the mitra's devices a push if no socket of theirs took it
    /// within three seconds.
    #[oai(path = "/api/client/orders/:id/messages", method = "post", operation_id = "messagesPostCustomer")]
    async fn client_post(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        id: Path<Uuid>,
        body: JsonBody<MessageCreate>,
    ) -> Result<MessagePosted, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 | E422 | E429 }>> {
        Ok(post(&state, Party::Customer(auth.0.sub), id.0, &body).await?)
    }

    /// Posts a message to the customer of the order.
    ///
    /// As the customer's.
    #[oai(path = "/api/mitra/orders/:id/messages", method = "post", operation_id = "messagesPostMitra")]
    async fn mitra_post(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
        body: JsonBody<MessageCreate>,
    ) -> Result<MessagePosted, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 | E422 | E429 }>> {
        Ok(post(&state, Party::Mitra(auth.0.sub), id.0, &body).await?)
    }

    /// Marks the conversation read up to a message.
    ///
    /// Never moves back. The mitra's sockets get `message.read`.
    #[oai(path = "/api/client/orders/:id/messages/read", method = "post", operation_id = "messagesReadCustomer")]
    async fn client_read(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        id: Path<Uuid>,
        body: JsonBody<MessagesRead>,
    ) -> Result<Done, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        chat::mark_read(&state.db, Party::Customer(auth.0.sub), id.0, body.up_to).await?;
        Ok(Done::NoContent)
    }

    /// Marks the conversation read up to a message.
    ///
    /// Never moves back. The customer's sockets get `message.read`.
    #[oai(path = "/api/mitra/orders/:id/messages/read", method = "post", operation_id = "messagesReadMitra")]
    async fn mitra_read(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
        body: JsonBody<MessagesRead>,
    ) -> Result<Done, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        chat::mark_read(&state.db, Party::Mitra(auth.0.sub), id.0, body.up_to).await?;
        Ok(Done::NoContent)
    }

    /// Reports a message of the conversation to staff.
    ///
    /// Reporting the same message again changes nothing.
    #[oai(
        path = "/api/client/orders/:id/messages/:message_id/report",
        method = "post",
        operation_id = "messagesReportCustomer"
    )]
    async fn client_report(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        id: Path<Uuid>,
        message_id: Path<Uuid>,
        body: JsonBody<MessageReport>,
    ) -> Result<Reported, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        chat::report(&state.db, Party::Customer(auth.0.sub), id.0, message_id.0, &body.reason).await?;
        Ok(Reported::Accepted)
    }

    /// Reports a message of the conversation to staff.
    ///
    /// Reporting the same message again changes nothing.
    #[oai(
        path = "/api/mitra/orders/:id/messages/:message_id/report",
        method = "post",
        operation_id = "messagesReportMitra"
    )]
    async fn mitra_report(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
        message_id: Path<Uuid>,
        body: JsonBody<MessageReport>,
    ) -> Result<Reported, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        chat::report(&state.db, Party::Mitra(auth.0.sub), id.0, message_id.0, &body.reason).await?;
        Ok(Reported::Accepted)
    }

    /// Reviews the mitra of a completed order.
    ///
    /// Once per order, within `REVIEW_WINDOW_DAYS` of completion (also if it was refunded
    /// later); a second review is 409 `conflict`, an order that never completed or whose
    /// window passed 409 `invalid_state`. Double-blind: the mitra sees it once both have
    /// reviewed or the window has passed.
    #[oai(path = "/api/client/orders/:id/review", method = "post", operation_id = "reviewsCreateCustomer")]
    async fn client_review(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        id: Path<Uuid>,
        body: JsonBody<ReviewCreate>,
    ) -> Result<ReviewCreated, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 }>> {
        Ok(review(&state, Party::Customer(auth.0.sub), id.0, &body).await?)
    }

    /// Reviews the customer of a completed order.
    ///
    /// As the customer's review, the other way round.
    #[oai(path = "/api/mitra/orders/:id/review", method = "post", operation_id = "reviewsCreateMitra")]
    async fn mitra_review(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
        body: JsonBody<ReviewCreate>,
    ) -> Result<ReviewCreated, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 }>> {
        Ok(review(&state, Party::Mitra(auth.0.sub), id.0, &body).await?)
    }

    /// A listed mitra's published reviews by customers, newest first.
    ///
    /// Hidden reviews are left out. Paged with `cursor`; 1–100 per page (`limit`, default
    /// 20). A mitra customers cannot see is 404.
    #[oai(path = "/api/client/mitras/:id/reviews", method = "get", operation_id = "mitrasReviews")]
    async fn mitra_reviews(
        &self,
        state: Data<&AppState>,
        _auth: CustomerAuth,
        id: Path<Uuid>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<ReviewPageResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        if browse::one(&state.db, id.0).await.map_err(MarketError::from)?.is_none() {
            return Err(ApiError::new(ErrorCode::NotFound, "no such mitra").into());
        }
        let window = state.settings().chat.review_window_days;
        let (items, next_cursor) = reviews::of_mitra(&state.db, id.0, page, window).await.map_err(MarketError::from)?;
        Ok(ReviewPageResponse::Ok(Json(ReviewPage { items, next_cursor })))
    }
}
