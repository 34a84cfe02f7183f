//! Payments through Xendit invoices (contract §9), or a local stub for development.
//!
//! ```text
//! app            gateway                         Xendit
//!  │ POST orders  │ place order (tx open)          │
//!  │─────────────►│ POST /v2/invoices ────────────►│  (keyed retry: GET ?external_id= first)
//!  │              │◄──────────── invoice_url ──────│
//!  │◄── 201 order │ commit (or roll back → 503)    │
//!  │  customer pays on invoice_url ───────────────►│
//!  │              │◄── POST /api/webhooks/xendit/invoice (x-callback-token)
//!  │              │ store raw, apply once: pending_payment → paid (forward only)
//!  │◄─ order.updated (socket / push), both parties │
//!  │  mitra declines / customer cancels a paid order
//!  │              │ POST /refunds (Idempotency-key from the order) ─►│
//!  │              │ → refund_pending; refund callback or reconciliation → refunded
//! ```
//!
//! `reconcile-payments` (a scheduled job) asks Xendit about orders whose callbacks never
//! came and applies the answers through the same code as a callback. Money is whole
//! rupiah (`i64`) everywhere; every amount crossing the boundary is compared with the
//! order's.

pub mod callbacks;
pub mod reconcile;
pub mod records;

use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use uuid::Uuid;

use self::records::InvoiceRef;
use crate::audit::{self, StaffActor, Target};
use crate::marketplace::orders::{self, Actor, NewOrder, Order, OrderStatus, Placed};
use crate::marketplace::MarketError;
use crate::providers::payments::{Backend, PaymentClient};
use crate::providers::xendit::{self, XenditClient};
use crate::state::AppState;
use crate::{ApiError, ErrorCode};

/// The payments service: the database and the provider's client. It owns what money
/// does to orders (checkout, refunds, callbacks, reconciliation) and the order's payment
/// columns; order moves with no money in them (accept, complete) go to the order module
/// directly. Cheap to make (two reference counts), so handlers make one per request.
#[derive(Clone)]
pub struct Payments {
    db: PgPool,
    client: Arc<PaymentClient>,
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
    pub fn new(db: PgPool, client: Arc<PaymentClient>) -> Self {
        Self { db, client }
    }

    /// The service over a request's state.
    pub fn of(state: &AppState) -> Self {
        Self::new(state.db.clone(), state.payments.clone())
    }

    /// Places an order and opens its invoice in one step: if the provider fails, the
    /// order is rolled back (503 `payment_unavailable`, nothing left behind).
    pub async fn checkout(&self, customer_id: Uuid, new: &NewOrder<'_>) -> Result<(Order, bool), PaymentError> {
        let mut tx = self.db.begin().await.context("starting the order")?;
        let order = match orders::place(&mut tx, customer_id, new).await? {
            Placed::Existing(order) => return Ok((order, false)),
            Placed::New(order) => order,
        };
        let retry_possible = new.idempotency_key.is_some();
        let order = match &self.client.backend {
            Backend::Xendit(xendit) => {
                let invoice = self.xendit_invoice(xendit, &order, retry_possible).await?;
                let invoice =
                    InvoiceRef { id: &invoice.id, url: &invoice.invoice_url, expires_at: invoice.expiry_date };
                records::attach_invoice(&mut tx, order.id, &invoice).await.context("attaching the invoice")?
            }
            Backend::Stub => {
                let id = format!("stub-{}", order.id);
                let url = format!("http://localhost/stub-invoice/{}", order.id);
                let expires_at = Utc::now() + chrono::Duration::seconds(i64::from(self.client.invoice_duration_secs));
                let invoice = InvoiceRef { id: &id, url: &url, expires_at };
                records::attach_invoice(&mut tx, order.id, &invoice).await.context("attaching the invoice")?
            }
        };
        tx.commit().await.context("committing the order")?;
        if self.client.is_stub() {
            self.log_stub_invoice(&order);
        }
        Ok((order, true))
    }

    pub fn is_stub(&self) -> bool {
        self.client.is_stub()
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
            .create_invoice(order.id, order.amount, self.client.invoice_duration_secs)
            .await
            .map_err(PaymentError::Unavailable)
    }

    fn log_stub_invoice(&self, order: &Order) {
        tracing::info!(
            "[PAYMENT STUB] order={} amount={} pay: curl -X POST \"$GATEWAY_URL/api/webhooks/xendit/invoice\" \
             -H 'content-type: application/json' -H 'x-callback-token: {}' \
             -d '{{\"id\":\"stub-{}\",\"external_id\":\"{}\",\"status\":\"PAID\",\"amount\":{},\"paid_amount\":{}}}'",
            order.id,
            order.amount,
            self.client.callback_token.expose_secret(),
            order.id,
            order.id,
            order.amount,
            order.amount
        );
    }

    /// Moves an order for a customer or mitra; a paid order that is declined or
    /// cancelled then has its refund requested. If the provider fails, the move stands
    /// and reconciliation requests the refund later.
    pub async fn move_order(&self, id: Uuid, to: OrderStatus, actor: Actor) -> Result<Order, PaymentError> {
        let order = orders::apply(&self.db, id, to, actor).await?;
        if matches!(to, OrderStatus::Declined | OrderStatus::Cancelled) && order.payment.paid_at.is_some() {
            match self.refund(id).await {
                Ok(Some(refunded)) => return Ok(refunded),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(order_id = %id, error = format!("{err:#}"), "refund not requested yet; reconciliation retries it")
                }
            }
        }
        Ok(order)
    }

    /// Requests the refund of a paid order that was declined or cancelled (or that staff
    /// put in `refund_pending`), once: the provider's idempotency key is derived from the
    /// order. Returns the order, or `None` when there is nothing to refund.
    pub async fn refund(&self, id: Uuid) -> anyhow::Result<Option<Order>> {
        let db = &self.db;
        let Some(state) = records::payment_state(db, id).await.context("reading the payment")? else {
            return Ok(None);
        };
        let must_move = matches!(state.status, OrderStatus::Declined | OrderStatus::Cancelled);
        let unrequested = state.status == OrderStatus::RefundPending && state.refund_id.is_none();
        if state.paid_at.is_none() || !(must_move || unrequested) {
            return Ok(None);
        }
        let (refund_id, succeeded) = match &self.client.backend {
            Backend::Xendit(xendit) => {
                let invoice = state.invoice_id.as_deref().context("a paid order without an invoice id")?;
                let refund = xendit.create_refund(id, invoice, state.amount).await?;
                let succeeded = refund.status == "SUCCEEDED";
                (refund.id, succeeded)
            }
            Backend::Stub => {
                tracing::info!("[PAYMENT STUB] refund order={id} amount={} (refunded at once)", state.amount);
                (format!("stub-refund-{id}"), true)
            }
        };
        let mut tx = db.begin().await?;
        records::set_refund(&mut tx, id, &refund_id).await.context("recording the refund")?;
        if must_move {
            orders::transition(&mut tx, id, OrderStatus::RefundPending, Actor::System).await?;
        }
        if succeeded {
            orders::transition(&mut tx, id, OrderStatus::Refunded, Actor::System).await?;
        }
        tx.commit().await.context("committing the refund")?;
        Ok(orders::get_any(db, id).await?)
    }

    /// An admin's refund of a paid, accepted or completed order: `refund_pending` and the
    /// audit entry commit together, then the refund is requested (reconciliation retries
    /// it if the provider fails now).
    pub async fn refund_by_staff(&self, actor: &StaffActor, id: Uuid, reason: &str) -> Result<Order, PaymentError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(MarketError::Invalid("reason must be 1 to 500 characters".into()).into());
        }
        let mut tx = self.db.begin().await?;
        let order = orders::transition(&mut tx, id, OrderStatus::RefundPending, Actor::Staff(actor.id)).await?;
        let details = serde_json::json!({ "reason": reason, "amount": order.amount });
        audit::append(&mut tx, actor, "order.refund", Some(Target { kind: "order", id: id.to_string() }), details)
            .await
            .context("auditing")?;
        tx.commit().await.context("committing")?;
        match self.refund(id).await {
            Ok(Some(order)) => Ok(order),
            Ok(None) => Ok(order),
            Err(err) => {
                tracing::warn!(order_id = %id, error = format!("{err:#}"), "refund not requested yet; reconciliation retries it");
                Ok(order)
            }
        }
    }
}

impl From<anyhow::Error> for PaymentError {
    fn from(err: anyhow::Error) -> Self {
        PaymentError::Market(MarketError::Unexpected(err))
    }
}
