//! Orders, for the customer who made them and the mitra who serves them.

use chrono::{DateTime, Utc};
use halo_shared::auth::scheme::{CustomerAuth, MitraAuth};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::marketplace::orders::{self, Actor, NewOrder, Order, OrderAddress, OrderStatus, Party};
use halo_shared::marketplace::{MarketError, Side};
use halo_shared::pagination::Page;
use halo_shared::payments::views::{self, Viewer};
use halo_shared::payments::Payments;
use halo_shared::{ApiError, AppState, ErrorCode};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct OrdersApi;

/// A new order.
#[derive(Debug, Object)]
pub struct OrderCreate {
    /// An active service of a listed mitra.
    pub service_id: Uuid,
    /// For the mitra; up to 1000 characters.
    pub note: Option<JsonString>,
    /// One of the free slots (`GET /api/client/mitras/{id}/slots`), RFC 3339.
    pub starts_at: DateTime<Utc>,
    // Described on `OrderAddress` (a described `$ref` becomes `allOf`): required, and
    // inside the area, when the mitra has a service area.
    pub address: Option<OrderAddress>,
}

/// What cancelling an order now would do.
#[derive(Debug, Object)]
pub struct CancellationPreview {
    /// Whole rupiah the customer would get back.
    pub refund_amount: i64,
    /// Whole rupiah kept as the late-cancellation fee (the mitra's, less commission).
    pub fee: i64,
    /// Until when cancelling refunds everything; null for orders made before booking.
    #[oai(nullable)]
    pub free_until: Option<DateTime<Utc>>,
}

#[derive(ApiResponse)]
pub enum CancellationResponse {
    #[oai(status = 200)]
    Ok(Json<CancellationPreview>),
}

/// One page of orders, newest first.
#[derive(Debug, Object)]
pub struct OrderPage {
    pub items: Vec<Order>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// What went wrong with a completed order, for staff to decide.
#[derive(Debug, Object)]
pub struct DisputeCreate {
    /// 1–1000 characters.
    pub reason: JsonString,
}

#[derive(ApiResponse)]
pub enum OrderCreated {
    /// The order was made.
    #[oai(status = 201)]
    Created(Json<Order>),
    /// An earlier request with the same `Idempotency-Key` made this order.
    #[oai(status = 200)]
    Existing(Json<Order>),
}

#[derive(ApiResponse)]
pub enum OrderResponse {
    #[oai(status = 200)]
    Ok(Json<Order>),
}

#[derive(ApiResponse)]
pub enum OrderPageResponse {
    #[oai(status = 200)]
    Ok(Json<OrderPage>),
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such order")
}

async fn page(
    state: &AppState,
    party: Party,
    status: Option<OrderStatus>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<OrderPageResponse, ApiError> {
    let page = Page::parse(limit, cursor)?;
    let (mut items, next_cursor) = views::page(&state.db, party, status, page).await.map_err(MarketError::from)?;
    for_party(state, &mut items, party.side()).await?;
    Ok(OrderPageResponse::Ok(Json(OrderPage { items, next_cursor })))
}

/// What only the parties' views show: unread messages, reviews, the customer's rating.
async fn for_party(state: &AppState, orders: &mut [Order], side: Side) -> Result<(), ApiError> {
    let window = state.settings().chat.review_window_days;
    views::fill_conversation(&state.db, orders, side, window).await.map_err(MarketError::from)?;
    Ok(())
}

async fn one(state: &AppState, party: Party, id: Uuid) -> Result<OrderResponse, ApiError> {
    let order = views::one(&state.db, party, id).await.map_err(MarketError::from)?.ok_or_else(not_found)?;
    let mut one = [order];
    for_party(state, &mut one, party.side()).await?;
    let [order] = one;
    Ok(OrderResponse::Ok(Json(order)))
}

/// An order after the caller moved it, as the caller sees it.
async fn after_move(state: &AppState, order: Order, viewer: Viewer) -> Result<OrderResponse, ApiError> {
    let order = views::after_move(&state.db, order, viewer).await.map_err(MarketError::from)?;
    let side = if viewer == Viewer::Mitra { Side::Mitra } else { Side::Customer };
    let mut one = [order];
    for_party(state, &mut one, side).await?;
    let [order] = one;
    Ok(OrderResponse::Ok(Json(order)))
}

fn viewer(actor: Actor) -> Viewer {
    if matches!(actor, Actor::Mitra(_)) {
        Viewer::Mitra
    } else {
        Viewer::Customer
    }
}

/// A move with money in it (a cancel, a decline, a completion): the payments service.
async fn moved_with_money(
    state: &AppState,
    id: Uuid,
    to: OrderStatus,
    actor: Actor,
) -> Result<OrderResponse, ApiError> {
    let order = Payments::of(state).move_order(id, to, actor).await?;
    after_move(state, order, viewer(actor)).await
}

/// A move with no money in it (accept): the order module alone.
async fn moved(state: &AppState, id: Uuid, to: OrderStatus, actor: Actor) -> Result<OrderResponse, ApiError> {
    let order = orders::apply(&state.db, id, to, actor).await?;
    after_move(state, order, viewer(actor)).await
}

#[OpenApi(tag = "Tag::Orders")]
impl OrdersApi {
    /// Orders a service.
    ///
    /// The order copies the service's title, duration and price now; later edits never
    /// touch it. Needs a verified customer (403 `upgrade_required` for an anonymous one).
    /// With `Idempotency-Key`, a retry returns the order the first request made; the same
    /// key with a different body is 422 `idempotency_key_reused`. A customer holding
    /// `MAX_PENDING_ORDERS_PER_CUSTOMER` unpaid orders gets 409 `conflict`. `starts_at`
    /// must be one of the free slots, else 409 `slot_unavailable` (also when another order
    /// took the time first: of concurrent orders for overlapping times exactly one is
    /// made). A mitra with a service area needs `address` inside it, else 409
    /// `outside_service_area`. The order's `payment.invoice_url` is where the customer
    /// pays (the invoice lasts at most until 30 minutes before the start); 503
    /// `payment_unavailable` when the payment provider fails (no order is made).
    #[oai(path = "/api/client/orders", method = "post", operation_id = "ordersCreate")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        /// Any unique string per intended order (e.g. a UUID the app keeps until it has
        /// an answer); at most 255 visible ASCII characters.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: JsonBody<OrderCreate>,
    ) -> Result<OrderCreated, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 | E422 }>> {
        let money = state.settings().money;
        let new = NewOrder {
            service_id: body.service_id,
            note: body.note.as_ref().map(|s| s.as_str()),
            idempotency_key: idempotency_key.0.as_deref(),
            commission_bps: money.commission_bps,
            max_pending: money.max_pending_orders_per_customer,
            starts_at: body.starts_at,
            address: body.address.as_ref(),
            booking: state.settings().booking,
        };
        Ok(match Payments::of(&state).checkout(auth.0.sub, &new).await? {
            (order, true) => OrderCreated::Created(Json(order)),
            (order, false) => OrderCreated::Existing(Json(order)),
        })
    }

    /// The customer's orders, newest first.
    ///
    /// Paged with `cursor`; 1–100 per page (`limit`, default 20).
    #[oai(path = "/api/client/orders", method = "get", operation_id = "ordersListCustomer")]
    async fn client_list(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<OrderPageResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        Ok(page(&state, Party::Customer(auth.0.sub), None, limit.0, cursor.0.as_deref()).await?)
    }

    /// One of the customer's orders; 404 for anyone else's.
    ///
    /// An order of another customer is 404, never 403.
    #[oai(path = "/api/client/orders/:id", method = "get", operation_id = "ordersGetCustomer")]
    async fn client_get(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        id: Path<Uuid>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        Ok(one(&state, Party::Customer(auth.0.sub), id.0).await?)
    }

    /// Cancels one of the customer's orders, before its start.
    ///
    /// Allowed while the order is unpaid (its invoice is expired at the payment provider;
    /// a payment that still arrives is refunded), paid (refunded in full: `refund_pending`,
    /// then `refunded`), or accepted: refunded in full before `cancellation.free_until`,
    /// after it `cancellation.late_refund_percent` of the amount (the rest is the mitra's,
    /// commission applies). 409 `invalid_state` from `starts_at` on, and in other states.
    #[oai(path = "/api/client/orders/:id/cancel", method = "post", operation_id = "ordersCancel")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        id: Path<Uuid>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 | E409 }>> {
        Ok(moved_with_money(&state, id.0, OrderStatus::Cancelled, Actor::Customer(auth.0.sub)).await?)
    }

    /// What cancelling one of the customer's orders now would refund.
    ///
    /// `refund_amount` and `fee` as `POST …/cancel` would apply them now, and
    /// `free_until`; 409 `invalid_state` when the order cannot be cancelled now.
    #[oai(path = "/api/client/orders/:id/cancellation", method = "get", operation_id = "ordersCancellation")]
    async fn cancellation(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        id: Path<Uuid>,
    ) -> Result<CancellationResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 | E409 }>> {
        let terms = Payments::of(&state).cancellation(id.0, Actor::Customer(auth.0.sub)).await?;
        Ok(CancellationResponse::Ok(Json(CancellationPreview {
            refund_amount: terms.refund_amount,
            fee: terms.fee,
            free_until: terms.free_until,
        })))
    }

    /// Cancels an accepted order, before its start (the customer is refunded in full).
    ///
    /// Only an `accepted` order before `starts_at`; 409 `invalid_state` otherwise.
    #[oai(path = "/api/mitra/orders/:id/cancel", method = "post", operation_id = "ordersCancelMitra")]
    async fn mitra_cancel(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 | E409 }>> {
        Ok(moved_with_money(&state, id.0, OrderStatus::Cancelled, Actor::Mitra(auth.0.sub)).await?)
    }

    /// The mitra's orders, newest first, optionally of one status.
    ///
    /// Paged with `cursor`; filter with `status`.
    #[oai(path = "/api/mitra/orders", method = "get", operation_id = "ordersListMitra")]
    async fn mitra_list(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        status: Query<Option<OrderStatus>>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<OrderPageResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        Ok(page(&state, Party::Mitra(auth.0.sub), status.0, limit.0, cursor.0.as_deref()).await?)
    }

    /// One of the mitra's orders; 404 for anyone else's.
    ///
    /// An order of another mitra is 404, never 403.
    #[oai(path = "/api/mitra/orders/:id", method = "get", operation_id = "ordersGetMitra")]
    async fn mitra_get(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        Ok(one(&state, Party::Mitra(auth.0.sub), id.0).await?)
    }

    /// Accepts a paid order.
    ///
    /// Only a `paid` order; 409 `invalid_state` otherwise (also when another move won a
    /// race).
    #[oai(path = "/api/mitra/orders/:id/accept", method = "post", operation_id = "ordersAccept")]
    async fn accept(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 | E409 }>> {
        Ok(moved(&state, id.0, OrderStatus::Accepted, Actor::Mitra(auth.0.sub)).await?)
    }

    /// Declines a paid order (the customer is refunded).
    ///
    /// Only a `paid` order; the payment is refunded in full (the answer is already
    /// `refund_pending`, then `refunded` once the provider confirms).
    #[oai(path = "/api/mitra/orders/:id/decline", method = "post", operation_id = "ordersDecline")]
    async fn decline(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 | E409 }>> {
        Ok(moved_with_money(&state, id.0, OrderStatus::Declined, Actor::Mitra(auth.0.sub)).await?)
    }

    /// Completes an accepted order.
    ///
    /// Only an `accepted` order, from its `starts_at` on; 409 `invalid_state` otherwise
    /// (also before the start). The order's escrow is
    /// split: the platform's commission and the mitra's pending earnings, which become
    /// available `EARNINGS_HOLD_HOURS` later unless the customer disputes.
    #[oai(path = "/api/mitra/orders/:id/complete", method = "post", operation_id = "ordersComplete")]
    async fn complete(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 | E409 }>> {
        Ok(moved_with_money(&state, id.0, OrderStatus::Completed, Actor::Mitra(auth.0.sub)).await?)
    }

    /// Disputes a completed order (the mitra's earnings wait for staff).
    ///
    /// Within `EARNINGS_HOLD_HOURS` of completion only; 409 `invalid_state` otherwise, or
    /// when a dispute is already open. The answer shows `dispute.status: open`.
    #[oai(path = "/api/client/orders/:id/dispute", method = "post", operation_id = "ordersDispute")]
    async fn dispute(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        id: Path<Uuid>,
        body: JsonBody<DisputeCreate>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 }>> {
        let order = Payments::of(&state).open_dispute(auth.0.sub, id.0, &body.reason).await?;
        Ok(after_move(&state, order, Viewer::Customer).await?)
    }
}
