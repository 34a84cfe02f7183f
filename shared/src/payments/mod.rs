//! Payments through Xendit invoices (contract §9, §11), or a local stub for development,
//! and every movement of money they cause, posted to the ledger in the same transaction.
//!
//! ```text
//! app            gateway                         Xendit
//!  │ POST orders  │ commit `creating` order        │  (no transaction open from here…)
//!  │─────────────►│ POST /v2/invoices ────────────►│  (keyed retry: GET ?external_id= first)
//!  │              │◄──────────── invoice_url ──────│  (…to here)
//!  │◄── 201 order │ attach invoice → pending_payment (Xendit failed: delete it → 503)
//!  │  customer pays on invoice_url ───────────────►│
//!  │              │◄── POST /api/webhooks/xendit/invoice (x-callback-token)
//!  │              │ store raw; lock order; paid + cash → escrow (or → unmatched + refund)
//!  │  mitra completes: escrow → commission + mitra pending; release-earnings → available
//!  │  decline / cancel / admin refund: refund row + escrow → refunds in flight, commit,
//!  │              │ POST /refunds (Idempotency-key = refund id) ─►│
//!  │              │◄── refund callback / reconciliation: succeeded → out of cash,
//!  │              │    failed → back where it came from, order flagged refund_rejected
//! ```
//!
//! No database transaction is ever open while Xendit is called: each decision commits
//! first (with its ledger transaction), then Xendit is asked, then its answer is applied
//! in a new transaction that locks the row again. Money is whole rupiah (`i64`)
//! everywhere; every amount crossing the boundary is compared with ours.

pub mod callbacks;
pub mod disputes;
pub mod earnings;
pub mod money;
pub mod reconcile;
pub mod records;
pub mod refunds;
pub mod staff;
pub mod sweep;
pub mod views;

use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use uuid::Uuid;

use self::refunds::{NewRefund, Source};
use crate::ledger;
use crate::marketplace::orders::{self, Actor, NewOrder, Order, OrderStatus, Placed, RefundStatus};
use crate::marketplace::MarketError;
use crate::providers::payments::{Backend, PaymentClient};
use crate::providers::xendit::{self, RefundAnswer, RefundRequest, XenditClient};
use crate::state::{AppState, BookingSettings, MoneySettings};
use crate::{ApiError, ErrorCode};

/// A move decided and committed, with what is left to ask of Xendit.
pub(crate) struct Moved {
    order: Order,
    refund: Option<Uuid>,
    expire: Option<String>,
}

/// The payments service: the database, the provider's client and the money rules. It
/// owns what money does to orders (checkout, completion, refunds, callbacks,
/// reconciliation, release, disputes) and the order's payment columns; order moves with
/// no money in them (accept) go to the order module directly. Cheap to make (reference
/// counts), so handlers make one per request.
#[derive(Clone)]
pub struct Payments {
    db: PgPool,
    client: Arc<PaymentClient>,
    money: MoneySettings,
    booking: BookingSettings,
}

/// What cancelling an order now would do (contract §13, §16): refunded, kept as the
/// late fee (the mitra's, commission applies), and when cancelling stops being free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelTerms {
    pub refund_amount: i64,
    pub fee: i64,
    pub free_until: Option<chrono::DateTime<Utc>>,
}

/// The terms of cancelling the locked order `state` by `actor` at `now`, with `escrow`
/// held: `None` when it may not be cancelled by them now. Unpaid: nothing to refund.
/// Paid, not accepted: always free. Accepted: free before `free_until` (and for a mitra,
/// and for orders made before §13); after it the customer gets `ceil(escrow × late
/// percent / 100)` back. Nobody cancels from the start on.
pub fn cancel_terms(
    state: &records::PaymentState,
    actor: Actor,
    escrow: i64,
    now: chrono::DateTime<Utc>,
) -> Option<CancelTerms> {
    let free_until =
        state.cancel_free_until.map(|base| orders::free_until(base, state.accepted_at, state.cancel_grace_minutes));
    if state.starts_at.is_some_and(|s| now >= s) {
        return None;
    }
    let allowed = orders::allowed(OrderStatus::Cancelled, actor);
    if !allowed.contains(&state.status) {
        return None;
    }
    let (refund_amount, fee) = match state.status {
        OrderStatus::PendingPayment => (0, 0),
        OrderStatus::Accepted if matches!(actor, Actor::Customer(_)) => match (free_until, state.late_refund_percent) {
            (Some(free_until), Some(percent)) if now >= free_until => {
                let back = i64::try_from((i128::from(escrow) * i128::from(percent) + 99) / 100).unwrap_or(escrow);
                let back = back.min(escrow);
                (back, escrow - back)
            }
            _ => (escrow, 0),
        },
        _ => (escrow, 0),
    };
    Some(CancelTerms { refund_amount, fee, free_until })
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider failed or timed out; nothing was charged or recorded.
    #[error("the payment provider is not answering; nothing was charged, try again shortly")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Market(#[from] MarketError),
}

impl From<sqlx::Error> for PaymentError {
    fn from(err: sqlx::Error) -> Self {
        PaymentError::Market(err.into())
    }
}

impl From<anyhow::Error> for PaymentError {
    fn from(err: anyhow::Error) -> Self {
        PaymentError::Market(MarketError::Unexpected(err))
    }
}

impl From<ledger::PostError> for PaymentError {
    fn from(err: ledger::PostError) -> Self {
        PaymentError::Market(MarketError::Unexpected(err.into()))
    }
}

impl From<PaymentError> for ApiError {
    fn from(err: PaymentError) -> Self {
        match err {
            PaymentError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "payment provider failed");
                ApiError::new(ErrorCode::PaymentUnavailable, "the payment provider is not answering; try again shortly")
            }
            PaymentError::Market(err) => err.into(),
        }
    }
}

impl Payments {
    pub fn new(db: PgPool, client: Arc<PaymentClient>, money: MoneySettings, booking: BookingSettings) -> Self {
        Self { db, client, money, booking }
    }

    /// The service over a request's state.
    pub fn of(state: &AppState) -> Self {
        let settings = state.settings();
        Self::new(state.db.clone(), state.payments.clone(), settings.money, settings.booking)
    }

    /// How long an order's invoice lasts: `INVOICE_DURATION_SECONDS`, and for a booked
    /// order at most until 30 minutes before its start (never under a minute).
    fn invoice_duration(&self, order: &Order) -> u32 {
        let configured = self.client.invoice_duration_secs;
        match order.starts_at {
            Some(starts_at) => {
                let until = (starts_at - chrono::Duration::minutes(30) - Utc::now()).num_seconds().max(60);
                configured.min(u32::try_from(until).unwrap_or(u32::MAX))
            }
            None => configured,
        }
    }

    /// What cancelling order `id` now would refund (`GET …/cancellation`); `InvalidState`
    /// when `actor` may not cancel it now.
    pub async fn cancellation(&self, id: Uuid, actor: Actor) -> Result<CancelTerms, PaymentError> {
        let party = match actor {
            Actor::Customer(id) => orders::Party::Customer(id),
            Actor::Mitra(id) => orders::Party::Mitra(id),
            Actor::Staff(_) | Actor::System => return Err(MarketError::NotFound("no such order").into()),
        };
        let order = orders::get(&self.db, party, id).await?.ok_or(MarketError::NotFound("no such order"))?;
        let state = records::payment_state(&self.db, id).await?.ok_or(MarketError::NotFound("no such order"))?;
        let mut conn = self.db.acquire().await.context("reading the order's escrow")?;
        let escrow = ledger::read::order_balances(&mut conn, id).await?.escrow;
        cancel_terms(&state, actor, escrow, Utc::now()).ok_or_else(|| {
            MarketError::InvalidState(format!("an order that is {} cannot be cancelled now", order.status.as_str()))
                .into()
        })
    }

    pub fn is_stub(&self) -> bool {
        self.client.is_stub()
    }

    /// Places an order and opens its invoice. The order is committed first in the
    /// hidden `creating` status (counting toward the customer's unpaid cap), Xendit is
    /// called with no transaction open, then the invoice is attached and the order becomes
    /// `pending_payment`. If Xendit fails the order is deleted (503 `payment_unavailable`).
    /// A keyed retry that finds its order still `creating` looks its invoice up first.
    pub async fn checkout(&self, customer_id: Uuid, new: &NewOrder<'_>) -> Result<(Order, bool), PaymentError> {
        let mut tx = self.db.begin().await.context("starting the order")?;
        // The `creating` row needs no flush of its own: the commit that opens it flushes
        // the WAL up to it, and one lost in a crash is only an order never shown to anyone.
        sqlx::query("SET LOCAL synchronous_commit TO off").execute(&mut *tx).await.context("starting the order")?;
        let placed = orders::place(&mut tx, customer_id, new).await?;
        tx.commit().await.context("committing the order")?;
        let order = match placed {
            Placed::Existing(order) if order.status != OrderStatus::Creating => return Ok((order, false)),
            Placed::Existing(order) | Placed::New(order) => order,
        };
        let invoice = match &self.client.backend {
            Backend::Xendit(xendit) => match self.xendit_invoice(xendit, &order, new.idempotency_key.is_some()).await {
                Ok(invoice) => (invoice.id, invoice.invoice_url, invoice.expiry_date),
                Err(err) => {
                    orders::discard(&self.db, order.id).await.context("deleting the order Xendit refused")?;
                    return Err(err);
                }
            },
            Backend::Stub => (
                format!("stub-{}", order.id),
                format!("http://localhost/stub-invoice/{}", order.id),
                Utc::now() + chrono::Duration::seconds(i64::from(self.invoice_duration(&order))),
            ),
        };
        let mut tx = self.db.begin().await.context("starting the invoice")?;
        let invoice = orders::Invoice { id: &invoice.0, url: &invoice.1, expires_at: invoice.2 };
        let opened = orders::open(&mut tx, order.id, customer_id, &invoice).await.context("opening the order")?;
        tx.commit().await.context("committing the invoice")?;
        let Some(order) = opened else {
            // A racing retry with the same key attached its invoice first.
            let order = orders::get_any(&self.db, order.id).await?.ok_or(MarketError::NotFound("no such order"))?;
            return Ok((order, false));
        };
        if self.client.is_stub() {
            self.log_stub_invoice(&order);
        }
        Ok((order, true))
    }

    /// Xendit has no idempotency header for invoices: a create that may be a retry first
    /// looks for the invoice an earlier attempt made for this order id.
    async fn xendit_invoice(
        &self,
        xendit: &XenditClient,
        order: &Order,
        retry_possible: bool,
    ) -> Result<xendit::Invoice, PaymentError> {
        if retry_possible {
            let found = xendit.find_invoices(order.id).await.map_err(PaymentError::Unavailable)?;
            if let Some(invoice) = found.into_iter().find(|i| i.status == "PENDING") {
                xendit::check_invoice(&invoice, order.id, order.amount).map_err(PaymentError::Unavailable)?;
                tracing::info!(order_id = %order.id, "reusing the invoice an earlier attempt made");
                return Ok(invoice);
            }
        }
        xendit
            .create_invoice(order.id, order.amount, self.invoice_duration(order))
            .await
            .map_err(PaymentError::Unavailable)
    }

    fn log_stub_invoice(&self, order: &Order) {
        // The stub's own random token (never the configured XENDIT_CALLBACK_TOKEN).
        tracing::info!(
            "[PAYMENT STUB] order={} amount={} pay: curl -X POST \"$GATEWAY_URL/api/webhooks/xendit/invoice\" \
             -H 'content-type: application/json' -H 'x-callback-token: {}' \
             -d '{{\"id\":\"stub-{}\",\"external_id\":\"{}\",\"status\":\"PAID\",\"amount\":{},\"paid_amount\":{},\"currency\":\"IDR\"}}'",
            order.id,
            order.amount,
            self.client.callback_token.expose_secret(),
            order.id,
            order.id,
            order.amount,
            order.amount
        );
    }

    /// Moves an order for a customer or mitra, with the money the move carries: a paid
    /// order that is declined or cancelled is refunded in full (`refund_pending` in the
    /// same transaction, Xendit asked after commit); completion splits its escrow;
    /// cancelling an unpaid order expires its invoice at Xendit (a failure there leaves the
    /// cancel standing: a late payment is refunded as unmatched money).
    pub async fn move_order(&self, id: Uuid, to: OrderStatus, actor: Actor) -> Result<Order, PaymentError> {
        let mut tx = self.db.begin().await.context("starting the move")?;
        let moved = self.move_in(&mut tx, id, to, actor).await?;
        tx.commit().await.context("committing the move")?;
        self.after_move(moved).await
    }

    /// [`Self::move_order`]'s decision, in the caller's transaction; the caller commits,
    /// then hands the result to [`Self::after_move`] (which talks to Xendit).
    pub(crate) async fn move_in(
        &self,
        tx: &mut sqlx::PgConnection,
        id: Uuid,
        to: OrderStatus,
        actor: Actor,
    ) -> Result<Moved, PaymentError> {
        // A cancellation's terms depend on the state it leaves: read it under the lock.
        let before = match to {
            OrderStatus::Cancelled => records::lock(&mut *tx, id).await?,
            _ => None,
        };
        let mut order = orders::transition(&mut *tx, id, to, actor).await?;
        let mut refund = None;
        let mut expire = None;
        match to {
            OrderStatus::Completed => {
                let state = records::lock(&mut *tx, id).await?.context("the order just moved")?;
                let balances = ledger::read::order_balances(&mut *tx, id).await?;
                let release_at = Utc::now() + chrono::Duration::hours(i64::from(self.money.earnings_hold_hours));
                money::completed(&mut *tx, &state, balances.escrow, release_at).await?;
            }
            OrderStatus::Declined | OrderStatus::Cancelled if order.payment.paid_at.is_some() => {
                let state = records::lock(&mut *tx, id).await?.context("the order just moved")?;
                let balances = ledger::read::order_balances(&mut *tx, id).await?;
                // A late cancellation: the fee is split as a completion would split it.
                let terms = before.as_ref().and_then(|b| cancel_terms(b, actor, balances.escrow, Utc::now()));
                let (back, fee) = match terms {
                    Some(terms) if to == OrderStatus::Cancelled => (terms.refund_amount, terms.fee),
                    _ => (balances.escrow, 0),
                };
                if fee > 0 {
                    let release_at = Utc::now() + chrono::Duration::hours(i64::from(self.money.earnings_hold_hours));
                    money::split(&mut *tx, &state, fee, release_at, "cancellation_fee").await?;
                }
                if back > 0 {
                    order = orders::transition(&mut *tx, id, OrderStatus::RefundPending, Actor::System).await?;
                    let invoice = state.invoice_id.clone().context("a paid order without an invoice")?;
                    let new = NewRefund {
                        invoice_id: &invoice,
                        amount: back,
                        source: Source::Escrow,
                        full_refund: true,
                        kind: "refund",
                    };
                    refund = Some(refunds::start(&mut *tx, &state, &balances, &new).await?);
                }
            }
            OrderStatus::Cancelled => {
                expire = before.and_then(|s| s.invoice_id);
            }
            _ => {}
        }
        Ok(Moved { order, refund, expire })
    }

    /// After a move committed: the invoice expired at Xendit (a failure leaves the cancel
    /// standing) and the refund asked for; the order as it stands then.
    pub(crate) async fn after_move(&self, moved: Moved) -> Result<Order, PaymentError> {
        let Moved { mut order, refund, expire } = moved;
        let id = order.id;
        if let (Some(invoice), Some(xendit)) = (expire, self.client.xendit()) {
            if let Err(err) = xendit.expire_invoice(&invoice).await {
                tracing::warn!(order_id = %id, error = format!("{err:#}"), "invoice not expired; a late payment is refunded");
            }
        }
        if let Some(refund) = refund {
            self.send_refund_logged(refund).await;
            order = orders::get_any(&self.db, id).await?.unwrap_or(order);
        }
        Ok(order)
    }

    /// Asks the provider for a recorded refund and applies its answer; errors are logged
    /// (reconciliation asks again with the same key).
    async fn send_refund_logged(&self, refund: Uuid) {
        if let Err(err) = self.send_refund(refund).await {
            tracing::warn!(refund_id = %refund, error = format!("{err:#}"), "refund not requested yet; reconciliation retries it");
        }
    }

    /// Asks the provider for a `requested` refund (its own id as the idempotency key, so
    /// asking twice refunds once) and applies what it answers: accepted (pending), already
    /// succeeded or failed, or rejected for good (failed: the money returns, the order is
    /// flagged). Returns whether the refund changed.
    pub async fn send_refund(&self, id: Uuid) -> anyhow::Result<bool> {
        let Some(refund) = refunds::get(&self.db, id).await? else { return Ok(false) };
        if refund.status != RefundStatus::Requested {
            return Ok(false);
        }
        let answer = match &self.client.backend {
            Backend::Xendit(xendit) => {
                let reason = if refund.source == "unmatched" { "DUPLICATE" } else { "CANCELLATION" };
                let request = RefundRequest {
                    reference_id: &refund.id.to_string(),
                    idempotency_key: &refund.idempotency_key,
                    invoice_id: &refund.invoice_id,
                    amount: refund.amount,
                    reason,
                };
                xendit.create_refund(&request).await?
            }
            Backend::Stub => {
                tracing::info!(
                    "[PAYMENT STUB] refund={id} order={} amount={} (refunded at once)",
                    refund.order_id,
                    refund.amount
                );
                RefundAnswer::Accepted(xendit::Refund {
                    id: format!("stub-refund-{id}"),
                    status: "SUCCEEDED".into(),
                    amount: refund.amount,
                    reference_id: Some(id.to_string()),
                    failure_code: None,
                })
            }
        };
        let mut tx = self.db.begin().await?;
        let Some(refund) = refunds::lock(&mut tx, id).await? else { return Ok(false) };
        let changed = match answer {
            RefundAnswer::Rejected(code) => refunds::fail(&mut tx, &refund, &code).await?,
            RefundAnswer::Accepted(answer) => match answer.status.as_str() {
                "SUCCEEDED" => refunds::succeed(&mut tx, &refund, Some(&answer.id)).await?,
                "FAILED" => refunds::fail(&mut tx, &refund, answer.failure_code.as_deref().unwrap_or("FAILED")).await?,
                _ => {
                    refunds::accepted(&mut tx, id, &answer.id).await?;
                    true
                }
            },
        };
        tx.commit().await?;
        Ok(changed)
    }
}
