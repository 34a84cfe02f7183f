//! Orders and their payments, as staff see them; refunds (admins).

use chrono::{DateTime, Utc};
use halo_shared::audit::StaffActor;
use halo_shared::auth::scheme::{AdminAuth, StaffAuth};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::marketplace::orders::{self, Filter, Order, OrderStatus};
use halo_shared::marketplace::MarketError;
use halo_shared::pagination::Page;
use halo_shared::payments::{self, Payments};
use halo_shared::{ApiError, AppState, ErrorCode};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct OrdersApi;

/// Which callback it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaymentEventKind {
    Invoice,
    Refund,
}

/// What applying a callback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaymentEventOutcome {
    /// The order moved.
    Changed,
    /// A duplicate or late callback: nothing to do.
    Unchanged,
    /// The order needs a person (`payment_issue`).
    Flagged,
    UnknownOrder,
    Malformed,
    /// Applying it failed; the provider retries it.
    Error,
}

fn outcome(stored: &str) -> PaymentEventOutcome {
    match stored {
        "changed" => PaymentEventOutcome::Changed,
        "unchanged" => PaymentEventOutcome::Unchanged,
        "flagged" => PaymentEventOutcome::Flagged,
        "unknown_order" => PaymentEventOutcome::UnknownOrder,
        "malformed" => PaymentEventOutcome::Malformed,
        _ => PaymentEventOutcome::Error,
    }
}

/// One callback the payment provider sent about the order, exactly as it came.
#[derive(Debug, Object)]
pub struct PaymentEvent {
    pub id: i64,
    pub kind: PaymentEventKind,
    pub outcome: PaymentEventOutcome,
    /// The raw body.
    pub body: String,
    pub received_at: DateTime<Utc>,
}

/// An order with what staff need to help with its payment.
#[derive(Debug, Object)]
pub struct StaffOrder {
    #[oai(flatten)]
    pub order: Order,
    /// Set when a payment needs a person (a wrong amount paid, a failed refund).
    #[oai(nullable)]
    pub payment_issue: Option<String>,
    pub payment_events: Vec<PaymentEvent>,
}

#[derive(Debug, Object)]
pub struct OrderPage {
    pub items: Vec<Order>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Why staff refund an order (kept in the audit log).
#[derive(Debug, Object)]
pub struct RefundRequest {
    pub reason: JsonString,
}

#[derive(ApiResponse)]
pub enum OrderPageResponse {
    #[oai(status = 200)]
    Ok(Json<OrderPage>),
}

#[derive(ApiResponse)]
pub enum StaffOrderResponse {
    #[oai(status = 200)]
    Ok(Json<StaffOrder>),
}

#[derive(ApiResponse)]
pub enum OrderResponse {
    #[oai(status = 200)]
    Ok(Json<Order>),
}

#[OpenApi(tag = "Tag::Orders")]
impl OrdersApi {
    /// Orders, newest first, by status, customer or mitra.
    ///
    /// Paged with `cursor`; every filter narrows.
    #[oai(path = "/internal/orders", method = "get", operation_id = "ccOrdersList")]
    // Each query parameter is its own extractor argument in poem-openapi.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        status: Query<Option<OrderStatus>>,
        customer_id: Query<Option<Uuid>>,
        mitra_id: Query<Option<Uuid>>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<OrderPageResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let filter = Filter { status: status.0, customer_id: customer_id.0, mitra_id: mitra_id.0 };
        let (items, next_cursor) = orders::list_all(&state.db, &filter, page).await.map_err(MarketError::from)?;
        Ok(OrderPageResponse::Ok(Json(OrderPage { items, next_cursor })))
    }

    /// One order, with every payment callback received for it.
    ///
    /// Includes `payment_issue` and every provider callback as it arrived.
    #[oai(path = "/internal/orders/:id", method = "get", operation_id = "ccOrdersGet")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        id: Path<Uuid>,
    ) -> Result<StaffOrderResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let order = orders::get_any(&state.db, id.0)
            .await
            .map_err(MarketError::from)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such order"))?;
        let (payment_issue, events) =
            payments::records::payment_record(&state.db, id.0).await.map_err(MarketError::from)?;
        let payment_events = events
            .into_iter()
            .map(|e| PaymentEvent {
                id: e.id,
                kind: if e.kind == "refund" { PaymentEventKind::Refund } else { PaymentEventKind::Invoice },
                outcome: outcome(&e.outcome),
                body: e.body,
                received_at: e.received_at,
            })
            .collect();
        Ok(StaffOrderResponse::Ok(Json(StaffOrder { order, payment_issue, payment_events })))
    }

    /// Refunds an order (admins).
    ///
    /// Paid, accepted or completed orders only (409 `invalid_state` otherwise): the order
    /// becomes `refund_pending`, then `refunded` when the payment provider confirms.
    #[oai(path = "/internal/orders/:id/refund", method = "post", operation_id = "ccOrdersRefund")]
    async fn refund(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: AdminAuth,
        id: Path<Uuid>,
        body: JsonBody<RefundRequest>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 }>> {
        let actor = StaffActor::new(auth.0.sub, &client_info_of(req));
        let order = Payments::of(&state).refund_by_staff(&actor, id.0, &body.reason).await?;
        Ok(OrderResponse::Ok(Json(order)))
    }
}
