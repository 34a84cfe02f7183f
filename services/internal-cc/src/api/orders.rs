//! Orders and their payments, as staff see them; refunds (admins).

use chrono::{DateTime, Utc};
use halo_shared::audit::StaffActor;
use halo_shared::auth::scheme::{AdminAuth, StaffAuth};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::marketplace::orders::{Filter, Order, OrderStatus};
use halo_shared::marketplace::MarketError;
use halo_shared::pagination::Page;
use halo_shared::payments::staff::{RefundFrom, StaffRefund};
use halo_shared::payments::{views, Payments};
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

/// What a ledger transaction recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LedgerKind {
    /// Opening balance of an order paid before the ledger existed.
    Opening,
    /// The order's payment, into its escrow.
    Paid,
    /// A payment the order could not take.
    Unmatched,
    OrderCompleted,
    CancellationFee,
    Released,
    /// A refund asked for (money into refunds in flight).
    Refund,
    DisputeRefund,
    RefundSucceeded,
    /// A refund that failed: the money went back.
    RefundFailed,
    Payout,
    PayoutReturned,
}

/// One of the ledger's accounts (docs/money.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LedgerAccount {
    Cash,
    Escrow,
    Commission,
    Unmatched,
    RefundsInFlight,
    MitraPending,
    MitraAvailable,
    MitraInPayout,
}

fn ledger_kind(kind: &str) -> LedgerKind {
    use LedgerKind::*;
    match kind {
        "opening" => Opening,
        "paid" => Paid,
        "unmatched" => Unmatched,
        "order_completed" => OrderCompleted,
        "cancellation_fee" => CancellationFee,
        "released" => Released,
        "dispute_refund" => DisputeRefund,
        "refund_succeeded" => RefundSucceeded,
        "refund_failed" => RefundFailed,
        "payout" => Payout,
        "payout_returned" => PayoutReturned,
        _ => Refund,
    }
}

fn ledger_account(account: &str) -> LedgerAccount {
    use LedgerAccount::*;
    match account {
        "escrow" => Escrow,
        "commission" => Commission,
        "unmatched" => Unmatched,
        "refunds_in_flight" => RefundsInFlight,
        "mitra_pending" => MitraPending,
        "mitra_available" => MitraAvailable,
        "mitra_in_payout" => MitraInPayout,
        _ => Cash,
    }
}

/// One posting of the order's ledger transactions.
#[derive(Debug, Object)]
pub struct LedgerLine {
    pub at: DateTime<Utc>,
    pub kind: LedgerKind,
    pub account: LedgerAccount,
    /// Whole rupiah, signed: positive means the account holds more (cash: money left).
    pub amount: i64,
}

/// An order with what staff need to help with its payment.
#[derive(Debug, Object)]
pub struct StaffOrder {
    #[oai(flatten)]
    pub order: Order,
    /// The platform's commission from this order: taken at completion (less what
    /// refunds gave back), or what completion would take now.
    pub commission: i64,
    /// Every posting of this order's ledger transactions, oldest first.
    pub ledger: Vec<LedgerLine>,
    pub payment_events: Vec<PaymentEvent>,
}

#[derive(Debug, Object)]
pub struct OrderPage {
    pub items: Vec<Order>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Which money a refund gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RefundSource {
    /// What the order holds (its escrow, or after completion the commission and earnings).
    Order,
    /// Money that arrived without a live order (see `payment_issue`).
    Unmatched,
}

/// An admin's refund (kept in the audit log). `source` defaults to `unmatched` when the
/// order holds unmatched money, else `order`.
#[derive(Debug, Object)]
pub struct RefundRequest {
    /// Why (1–1000 characters).
    pub reason: JsonString,
    /// Whole rupiah, at least 1; default: all that is still refundable.
    pub amount: Option<i64>,
    pub source: Option<RefundSource>,
    /// Record a refund made outside Xendit (a channel that cannot refund): it succeeds at
    /// once and moves no money at Xendit.
    #[oai(default)]
    pub outside_xendit: bool,
}

/// How an admin resolves a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DisputeResolution {
    /// The mitra's earnings are released as usual.
    Release,
    /// The customer is refunded `amount` (default all).
    Refund,
}

/// An admin's decision on a dispute (kept in the audit log).
#[derive(Debug, Object)]
pub struct DisputeResolve {
    pub outcome: DisputeResolution,
    /// With `refund`: whole rupiah, default all that is still refundable.
    pub amount: Option<i64>,
    /// 1–1000 characters.
    pub note: JsonString,
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
        let (items, next_cursor) = views::staff_page(&state.db, &filter, page).await.map_err(MarketError::from)?;
        Ok(OrderPageResponse::Ok(Json(OrderPage { items, next_cursor })))
    }

    /// One order, with its money and every payment callback received for it.
    ///
    /// Includes `payment_issue`, the refunds, the commission and the mitra's earnings,
    /// every ledger posting, and every provider callback as it arrived.
    #[oai(path = "/internal/orders/:id", method = "get", operation_id = "ccOrdersGet")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        id: Path<Uuid>,
    ) -> Result<StaffOrderResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let view = views::staff_one(&state.db, id.0)
            .await
            .map_err(MarketError::from)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such order"))?;
        let ledger = view
            .ledger
            .into_iter()
            .map(|p| LedgerLine {
                at: p.at,
                kind: ledger_kind(&p.kind),
                account: ledger_account(&p.account),
                amount: p.amount,
            })
            .collect();
        let payment_events = view
            .events
            .into_iter()
            .map(|e| PaymentEvent {
                id: e.id,
                kind: if e.kind == "refund" { PaymentEventKind::Refund } else { PaymentEventKind::Invoice },
                outcome: outcome(&e.outcome),
                body: e.body,
                received_at: e.received_at,
            })
            .collect();
        let order = view.order;
        Ok(StaffOrderResponse::Ok(Json(StaffOrder { order, commission: view.commission, ledger, payment_events })))
    }

    /// Refunds an order, in full or in part (admins).
    ///
    /// `amount` defaults to all that is still refundable (more is 400); 409
    /// `invalid_state` when nothing is. A refund that empties a paid, accepted or
    /// completed order moves it to `refund_pending` (then `refunded` when the provider
    /// confirms); a partial refund or one of unmatched money leaves the status alone.
    /// After completion the refund is taken from the commission and the mitra's earnings
    /// in the order's own proportion. Also retries a rejected refund (a new refund).
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
        let source = body.source.map(|s| match s {
            RefundSource::Order => RefundFrom::Order,
            RefundSource::Unmatched => RefundFrom::Unmatched,
        });
        let req =
            StaffRefund { reason: &body.reason, amount: body.amount, source, outside_xendit: body.outside_xendit };
        let order = Payments::of(&state).refund_by_staff(&actor, id.0, &req).await?;
        let order = views::after_move(&state.db, order, views::Viewer::Staff).await.map_err(MarketError::from)?;
        Ok(OrderResponse::Ok(Json(order)))
    }

    /// Resolves an order's open dispute (admins).
    ///
    /// `release` lets the mitra's earnings go at the next release run; `refund` refunds
    /// `amount` (default all) as the admin refund does. 409 `invalid_state` when no
    /// dispute is open. Audited as `order.dispute_resolved`.
    #[oai(path = "/internal/orders/:id/dispute/resolve", method = "post", operation_id = "ccOrdersDisputeResolve")]
    async fn resolve_dispute(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: AdminAuth,
        id: Path<Uuid>,
        body: JsonBody<DisputeResolve>,
    ) -> Result<OrderResponse, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 }>> {
        let actor = StaffActor::new(auth.0.sub, &client_info_of(req));
        let refund = body.outcome == DisputeResolution::Refund;
        let order = Payments::of(&state).resolve_dispute(&actor, id.0, refund, body.amount, &body.note).await?;
        let order = views::after_move(&state.db, order, views::Viewer::Staff).await.map_err(MarketError::from)?;
        Ok(OrderResponse::Ok(Json(order)))
    }
}
