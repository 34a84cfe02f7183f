//! Xendit's callbacks: invoice status (`PAID`, `SETTLED`, `EXPIRED`) and refund results.
//! Authenticated by `x-callback-token` (constant time); every authentic callback is
//! stored as it came and applied at most once, and answered 200 — duplicates, late and
//! out-of-order deliveries, unknown invoices and malformed bodies included (Xendit
//! retries anything but 2xx for days; a malformed one is stored as `malformed`).
//!
//! An invoice's payment is matched only when it is for the order's own invoice, in IDR,
//! for the order's amount, while the order is `pending_payment`. Anything else that paid
//! is money without a live order: posted as unmatched and, unless it is an amount
//! mismatch (which staff refund), refunded in full at once. Each order's callbacks are
//! applied one at a time under its row lock; the ledger reference
//! `invoice:<id>:paid` makes a replay post nothing.

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use super::records::{self};
use super::refunds::{self, NewRefund, Source};
use super::{money, Payments};
use crate::marketplace::orders::{self, Actor, OrderStatus};
use crate::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("missing or wrong x-callback-token")]
    Unauthenticated,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<CallbackError> for ApiError {
    fn from(err: CallbackError) -> Self {
        match err {
            CallbackError::Unauthenticated => ApiError::new(ErrorCode::InvalidToken, err.to_string()),
            CallbackError::Unexpected(cause) => ApiError::internal(&cause),
        }
    }
}

/// What applying a callback did (stored with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackOutcome {
    Changed,
    Unchanged,
    UnknownOrder,
    Flagged,
    Malformed,
}

impl CallbackOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CallbackOutcome::Changed => "changed",
            CallbackOutcome::Unchanged => "unchanged",
            CallbackOutcome::UnknownOrder => "unknown_order",
            CallbackOutcome::Flagged => "flagged",
            CallbackOutcome::Malformed => "malformed",
        }
    }
}

/// A whole-rupiah amount: a JSON integer, or a float with no fraction (never rounded).
fn rupiah(value: &serde_json::Value, field: &str) -> Result<Option<i64>, String> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(f as i64)),
            _ => Err(format!("{field} is not a whole number of rupiah")),
        },
        _ => Err(format!("{field} is not a number")),
    }
}

fn field<'a>(body: &'a serde_json::Value, name: &str) -> Result<&'a str, String> {
    body[name].as_str().ok_or_else(|| format!("no string {name}"))
}

/// An invoice's state, from a callback or from reconciliation.
pub struct InvoiceUpdate<'a> {
    /// Xendit's invoice id.
    pub invoice_id: &'a str,
    pub external_id: &'a str,
    pub status: &'a str,
    pub amount: Option<i64>,
    pub paid_amount: Option<i64>,
    /// `None` when Xendit did not say (then IDR, the only currency we invoice in).
    pub currency: Option<&'a str>,
}

/// What an invoice update did, and the refund it started (the caller asks Xendit).
struct Applied {
    order_id: Option<Uuid>,
    outcome: CallbackOutcome,
    refund: Option<Uuid>,
}

impl Payments {
    /// Applies an invoice's state to its order, forward only, with its ledger
    /// transaction; an unmatched payment's refund is then asked of Xendit.
    pub async fn apply_invoice(&self, update: &InvoiceUpdate<'_>) -> anyhow::Result<(Option<Uuid>, CallbackOutcome)> {
        let applied = apply_invoice(&self.db, update).await?;
        if let Some(refund) = applied.refund {
            self.send_refund_logged(refund).await;
        }
        Ok((applied.order_id, applied.outcome))
    }
}

async fn apply_invoice(db: &PgPool, update: &InvoiceUpdate<'_>) -> anyhow::Result<Applied> {
    let unknown = Applied { order_id: None, outcome: CallbackOutcome::UnknownOrder, refund: None };
    let Ok(id) = Uuid::try_parse(update.external_id) else { return Ok(unknown) };
    let mut tx = db.begin().await?;
    let Some(state) = records::lock(&mut tx, id).await.context("reading the payment")? else { return Ok(unknown) };
    let done = |outcome| Applied { order_id: Some(id), outcome, refund: None };
    let ours = state.invoice_id.as_deref() == Some(update.invoice_id);
    let paid = update.paid_amount.or(update.amount);
    // A booked order takes no payment from its start on (§16): that money is unmatched.
    let late = state.starts_at.is_some_and(|s| chrono::Utc::now() >= s);
    let applied = match update.status {
        "PAID" | "SETTLED" => {
            let Some(paid) = paid.filter(|p| *p > 0) else { return Ok(done(CallbackOutcome::Unchanged)) };
            if update.currency.is_some_and(|c| c != "IDR") {
                records::flag(&mut tx, id, "currency_mismatch").await?;
                done(CallbackOutcome::Flagged)
            } else if ours && state.paid_at.is_some() {
                // The payment that paid this order, again.
                done(CallbackOutcome::Unchanged)
            } else if ours && state.status == OrderStatus::PendingPayment && paid == state.amount && !late {
                orders::transition(&mut tx, id, OrderStatus::Paid, Actor::System).await?;
                money::paid(&mut tx, &state, update.invoice_id, paid).await?;
                done(CallbackOutcome::Changed)
            } else if ours && state.status == OrderStatus::PendingPayment && !(late && paid == state.amount) {
                // The wrong amount: the order expires, the money waits for staff.
                orders::transition(&mut tx, id, OrderStatus::Expired, Actor::System).await?;
                money::unmatched(&mut tx, &state, update.invoice_id, paid).await?;
                records::flag(&mut tx, id, "amount_mismatch").await?;
                done(CallbackOutcome::Flagged)
            } else if money::unmatched(&mut tx, &state, update.invoice_id, paid).await? {
                // Paid after the order stopped taking money (or after its start: §16, the
                // order expires and its time is free again), or a second invoice paid.
                if ours && state.status == OrderStatus::PendingPayment && late {
                    orders::transition(&mut tx, id, OrderStatus::Expired, Actor::System).await?;
                }
                let issue = match (ours, state.status) {
                    (true, OrderStatus::PendingPayment) if late => "paid_after_start",
                    (true, OrderStatus::Cancelled) => "paid_after_cancel",
                    (true, OrderStatus::Expired) => "paid_after_expiry",
                    _ => "duplicate_payment",
                };
                records::flag(&mut tx, id, issue).await?;
                let balances = crate::ledger::read::order_balances(&mut tx, id).await?;
                let new = NewRefund {
                    invoice_id: update.invoice_id,
                    amount: paid,
                    source: Source::Unmatched,
                    full_refund: false,
                    kind: "refund",
                };
                let refund = refunds::start(&mut tx, &state, &balances, &new).await?;
                Applied { order_id: Some(id), outcome: CallbackOutcome::Flagged, refund: Some(refund) }
            } else {
                done(CallbackOutcome::Unchanged)
            }
        }
        "EXPIRED" if state.status == OrderStatus::PendingPayment && (ours || state.invoice_id.is_none()) => {
            orders::transition(&mut tx, id, OrderStatus::Expired, Actor::System).await?;
            done(CallbackOutcome::Changed)
        }
        _ => done(CallbackOutcome::Unchanged),
    };
    tx.commit().await?;
    Ok(applied)
}

/// A refund's result, from a callback or from reconciliation: applied only when the
/// refund id (once known) and the amount are what we asked for; otherwise the order is
/// flagged `refund_mismatch` and nothing moves.
pub async fn apply_refund(
    db: &PgPool,
    reference_id: &str,
    xendit_id: &str,
    amount: Option<i64>,
    succeeded: bool,
    failure_code: Option<&str>,
) -> anyhow::Result<(Option<Uuid>, CallbackOutcome)> {
    let Ok(id) = Uuid::try_parse(reference_id) else { return Ok((None, CallbackOutcome::UnknownOrder)) };
    let mut tx = db.begin().await?;
    let Some(refund) = refunds::lock(&mut tx, id).await? else { return Ok((None, CallbackOutcome::UnknownOrder)) };
    let order = Some(refund.order_id);
    let other_refund = refund.xendit_refund_id.as_deref().is_some_and(|known| known != xendit_id);
    if other_refund || amount != Some(refund.amount) {
        records::flag(&mut tx, refund.order_id, "refund_mismatch").await?;
        tx.commit().await?;
        return Ok((order, CallbackOutcome::Flagged));
    }
    let changed = match succeeded {
        true => refunds::succeed(&mut tx, &refund, Some(xendit_id)).await?,
        false => refunds::fail(&mut tx, &refund, failure_code.unwrap_or("FAILED")).await?,
    };
    tx.commit().await?;
    Ok((order, if changed { CallbackOutcome::Changed } else { CallbackOutcome::Unchanged }))
}

async fn store(db: &PgPool, kind: &str, body: &[u8], order_id: Option<Uuid>, outcome: &str) -> anyhow::Result<()> {
    records::store_callback(db, kind, body, order_id, outcome).await.context("storing the callback")
}

impl Payments {
    /// Anyone can post here at no cost, so the WARN for a refusal is sampled: at most one
    /// line per route per `REFUSED_LOG_EVERY`, carrying how many it left out.
    fn authenticate(&self, token: Option<&str>, kind: &'static str) -> Result<(), CallbackError> {
        if token.is_some_and(|t| self.client.callback_token_matches(t)) {
            return Ok(());
        }
        if let Some(suppressed) = self.client.refused_log.admit(kind) {
            tracing::warn!(
                kind,
                suppressed,
                "payment callback refused: missing or wrong x-callback-token (one line per route per 10 s; \
                 `suppressed` counts the refusals not logged since the last line)"
            );
        }
        Err(CallbackError::Unauthenticated)
    }

    /// `POST /api/webhooks/xendit/invoice`.
    pub async fn invoice_callback(&self, token: Option<&str>, body: &[u8]) -> Result<CallbackOutcome, CallbackError> {
        let db = &self.db;
        self.authenticate(token, "invoice")?;
        let parsed = match parse_invoice(body) {
            Ok(parsed) => parsed,
            Err(why) => {
                tracing::warn!(why, "malformed invoice callback stored");
                store(db, "invoice", body, None, "malformed").await?;
                return Ok(CallbackOutcome::Malformed);
            }
        };
        let (order_id, outcome) = match self.apply_invoice(&parsed.as_update()).await {
            Ok(applied) => applied,
            Err(err) => {
                store(db, "invoice", body, None, "error").await?;
                return Err(err.into());
            }
        };
        store(db, "invoice", body, order_id, outcome.as_str()).await?;
        Ok(outcome)
    }

    /// `POST /api/webhooks/xendit/refund`.
    pub async fn refund_callback(&self, token: Option<&str>, body: &[u8]) -> Result<CallbackOutcome, CallbackError> {
        let db = &self.db;
        self.authenticate(token, "refund")?;
        let parsed = (|| {
            let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            let succeeded = match field(&json, "event")? {
                "refund.succeeded" => true,
                "refund.failed" => false,
                other => return Err(format!("unknown event {other}")),
            };
            let data = &json["data"];
            let amount = rupiah(&data["amount"], "amount")?;
            let failure = data["failure_code"].as_str().map(str::to_owned);
            Ok((field(data, "reference_id")?.to_owned(), field(data, "id")?.to_owned(), amount, succeeded, failure))
        })();
        let (reference, xendit_id, amount, succeeded, failure) = match parsed {
            Ok(parsed) => parsed,
            Err(why) => {
                tracing::warn!(why, "malformed refund callback stored");
                store(db, "refund", body, None, "malformed").await?;
                return Ok(CallbackOutcome::Malformed);
            }
        };
        let (order_id, outcome) =
            apply_refund(db, &reference, &xendit_id, amount, succeeded, failure.as_deref()).await?;
        store(db, "refund", body, order_id, outcome.as_str()).await?;
        Ok(outcome)
    }
}

struct ParsedInvoice {
    id: String,
    external_id: String,
    status: String,
    amount: Option<i64>,
    paid_amount: Option<i64>,
    currency: Option<String>,
}

impl ParsedInvoice {
    fn as_update(&self) -> InvoiceUpdate<'_> {
        InvoiceUpdate {
            invoice_id: &self.id,
            external_id: &self.external_id,
            status: &self.status,
            amount: self.amount,
            paid_amount: self.paid_amount,
            currency: self.currency.as_deref(),
        }
    }
}

fn parse_invoice(body: &[u8]) -> Result<ParsedInvoice, String> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(ParsedInvoice {
        id: field(&json, "id")?.to_owned(),
        external_id: field(&json, "external_id")?.to_owned(),
        status: field(&json, "status")?.to_owned(),
        amount: rupiah(&json["amount"], "amount")?,
        paid_amount: rupiah(&json["paid_amount"], "paid_amount")?,
        currency: json["currency"].as_str().map(str::to_owned),
    })
}
