//! What staff do with money: an admin's refund (full or partial, of the order's money or
//! of its unmatched money, through Xendit or recorded as made outside it) and the
//! resolution of a customer's dispute. Each writes its audit entry in the transaction
//! that moves the money; Xendit is asked after commit.

use anyhow::Context;
use sqlx::PgConnection;
use uuid::Uuid;

use super::records::{self, PaymentState};
use super::refunds::{self, NewRefund, Source};
use super::{PaymentError, Payments};
use crate::audit::{self, StaffActor, Target};
use crate::ledger;
use crate::marketplace::orders::{self, Actor, Order, OrderStatus};
use crate::marketplace::MarketError;

/// Which money an admin refund gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundFrom {
    /// What the order holds: its escrow, or after completion the commission and earnings.
    Order,
    /// Money that arrived without a live order.
    Unmatched,
}

/// An admin's refund request.
pub struct StaffRefund<'a> {
    pub reason: &'a str,
    /// Whole rupiah; all that is refundable when `None`.
    pub amount: Option<i64>,
    /// `Unmatched` by default when the order holds unmatched money, else `Order`.
    pub source: Option<RefundFrom>,
    /// Recorded as made outside Xendit (a channel that cannot refund): it succeeds at once.
    pub outside_xendit: bool,
}

fn reason(text: &str) -> Result<String, MarketError> {
    crate::marketplace::text("reason", text, 1, 1000)
}

/// What a refund decided inside a transaction: its id, and whether Xendit must be asked.
pub(crate) struct Decided {
    pub refund: Uuid,
    pub send: bool,
    pub details: serde_json::Value,
}

/// Starts a refund of the locked order from `from` (all that is refundable by default),
/// moving a live order to `refund_pending` when it empties it.
async fn decide(
    conn: &mut PgConnection,
    actor: &StaffActor,
    state: &PaymentState,
    from: RefundFrom,
    amount: Option<i64>,
    kind: &str,
    outside_xendit: bool,
) -> Result<Decided, PaymentError> {
    let balances = ledger::read::order_balances(conn, state.id).await?;
    let (source, invoice) = match from {
        RefundFrom::Unmatched => {
            let paid = ledger::read::references_of(conn, state.id, "unmatched").await?;
            let invoice = paid.last().and_then(|r| r.strip_prefix("invoice:")).and_then(|r| r.strip_suffix(":paid"));
            (Source::Unmatched, invoice.map(str::to_owned))
        }
        RefundFrom::Order if state.earnings_base.is_some() => (Source::Earnings, state.invoice_id.clone()),
        RefundFrom::Order => (Source::Escrow, state.invoice_id.clone()),
    };
    let refundable = refunds::refundable(conn, state, &balances, source).await?;
    if refundable <= 0 {
        return Err(MarketError::InvalidState("nothing of this order is refundable".into()).into());
    }
    let amount = amount.unwrap_or(refundable);
    if !(1..=refundable).contains(&amount) {
        return Err(MarketError::Invalid(format!("amount must be 1 to {refundable} (what is still refundable)")).into());
    }
    let invoice = invoice.context("refundable money without the invoice that paid it")?;
    let live = matches!(state.status, OrderStatus::Paid | OrderStatus::Accepted | OrderStatus::Completed);
    let full =
        source != Source::Unmatched && amount == refundable && (live || state.status == OrderStatus::RefundPending);
    if full && live {
        orders::transition(conn, state.id, OrderStatus::RefundPending, Actor::Staff(actor.id)).await?;
    }
    let new = NewRefund { invoice_id: &invoice, amount, source, full_refund: full, kind };
    let refund = refunds::start(conn, state, &balances, &new).await?;
    if outside_xendit {
        let row = refunds::lock(conn, refund).await?.context("the refund just made")?;
        refunds::succeed(conn, &row, None).await?;
    }
    let source_name = match from {
        RefundFrom::Order => "order",
        RefundFrom::Unmatched => "unmatched",
    };
    let details = serde_json::json!({
        "refund_id": refund, "amount": amount, "source": source_name, "outside_xendit": outside_xendit,
    });
    Ok(Decided { refund, send: !outside_xendit, details })
}

impl Payments {
    /// An admin's refund (§11, §16): `amount` (default all that is still refundable; more
    /// is 400), from the order's money or its unmatched money; 409 `invalid_state` when
    /// nothing is refundable. Concurrent refunds of one order queue on its row lock, so
    /// together they never exceed what was paid. Audited as `order.refund`.
    pub async fn refund_by_staff(
        &self,
        actor: &StaffActor,
        id: Uuid,
        req: &StaffRefund<'_>,
    ) -> Result<Order, PaymentError> {
        let why = reason(req.reason)?;
        let mut tx = self.db.begin().await?;
        let state = records::lock(&mut tx, id).await?.ok_or(MarketError::NotFound("no such order"))?;
        let balances = ledger::read::order_balances(&mut tx, id).await?;
        let from = req.source.unwrap_or(if balances.unmatched > 0 { RefundFrom::Unmatched } else { RefundFrom::Order });
        let decided = decide(&mut tx, actor, &state, from, req.amount, "refund", req.outside_xendit).await?;
        let mut details = decided.details;
        details["reason"] = why.into();
        audit::append(&mut tx, actor, "order.refund", Some(Target { kind: "order", id: id.to_string() }), details)
            .await
            .context("auditing")?;
        tx.commit().await.context("committing the refund")?;
        if decided.send {
            self.send_refund_logged(decided.refund).await;
        }
        Ok(orders::get_any(&self.db, id).await?.ok_or(MarketError::NotFound("no such order"))?)
    }

    /// Resolves an order's open dispute (admins): `release` lets the earnings go at the
    /// next release run; `refund` refunds `amount` (default all) from the commission and
    /// the mitra's earnings. Audited as `order.dispute_resolved`.
    pub async fn resolve_dispute(
        &self,
        actor: &StaffActor,
        id: Uuid,
        refund: bool,
        amount: Option<i64>,
        note: &str,
    ) -> Result<Order, PaymentError> {
        let note = crate::marketplace::text("note", note, 1, 1000)?;
        let mut tx = self.db.begin().await?;
        let state = records::lock(&mut tx, id).await?.ok_or(MarketError::NotFound("no such order"))?;
        let Some(dispute) = super::disputes::lock_open(&mut tx, id).await? else {
            return Err(MarketError::InvalidState("this order has no open dispute".into()).into());
        };
        let mut details = serde_json::json!({ "dispute_id": dispute, "outcome": if refund { "refund" } else { "release" }, "note": note });
        let mut send = None;
        if refund {
            let decided = decide(&mut tx, actor, &state, RefundFrom::Order, amount, "dispute_refund", false).await?;
            details["refund"] = decided.details;
            send = Some(decided.refund);
        }
        super::disputes::resolve(&mut tx, dispute, refund, &note, actor.id).await?;
        audit::append(
            &mut tx,
            actor,
            "order.dispute_resolved",
            Some(Target { kind: "order", id: id.to_string() }),
            details,
        )
        .await
        .context("auditing")?;
        tx.commit().await.context("committing the resolution")?;
        if let Some(refund) = send {
            self.send_refund_logged(refund).await;
        }
        Ok(orders::get_any(&self.db, id).await?.ok_or(MarketError::NotFound("no such order"))?)
    }
}
