//! Xendit's callbacks: invoice status (`PAID`, `SETTLED`, `EXPIRED`) and refund results.
//! Authenticated by `x-callback-token` (constant time); every authentic callback is
//! stored as it came and applied at most once. Xendit retries anything but 2xx for
//! days, so everything authentic is answered 200, including duplicates, late and
//! out-of-order deliveries and unknown invoices; moves only ever go forward (the order
//! state machine refuses the rest).

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use super::{records, Payments};
use crate::marketplace::orders::{self, Actor, OrderStatus};
use crate::marketplace::MarketError;
use crate::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("missing or wrong x-callback-token")]
    Unauthenticated,
    #[error("the callback body is not what Xendit sends: {0}")]
    Malformed(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<CallbackError> for ApiError {
    fn from(err: CallbackError) -> Self {
        match err {
            CallbackError::Unauthenticated => ApiError::new(ErrorCode::InvalidToken, err.to_string()),
            CallbackError::Malformed(_) => ApiError::invalid_request(err.to_string()),
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
}

impl CallbackOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CallbackOutcome::Changed => "changed",
            CallbackOutcome::Unchanged => "unchanged",
            CallbackOutcome::UnknownOrder => "unknown_order",
            CallbackOutcome::Flagged => "flagged",
        }
    }
}

/// A whole-rupiah amount: a JSON integer, or a float with no fraction (never rounded).
fn rupiah(value: &serde_json::Value, field: &str) -> Result<Option<i64>, CallbackError> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(f as i64)),
            _ => Err(CallbackError::Malformed(format!("{field} is not a whole number of rupiah"))),
        },
        _ => Err(CallbackError::Malformed(format!("{field} is not a number"))),
    }
}

fn field<'a>(body: &'a serde_json::Value, name: &str) -> Result<&'a str, CallbackError> {
    body[name].as_str().ok_or_else(|| CallbackError::Malformed(format!("no string {name}")))
}

/// An invoice's state, from a callback or from reconciliation.
pub struct InvoiceUpdate<'a> {
    pub external_id: &'a str,
    pub status: &'a str,
    pub amount: Option<i64>,
    pub paid_amount: Option<i64>,
}

/// Applies an invoice's state to its order, forward only.
pub async fn apply_invoice(db: &PgPool, update: &InvoiceUpdate<'_>) -> anyhow::Result<(Option<Uuid>, CallbackOutcome)> {
    let Ok(id) = Uuid::try_parse(update.external_id) else { return Ok((None, CallbackOutcome::UnknownOrder)) };
    let Some(order) = records::payment_state(db, id).await.context("reading the payment")? else {
        return Ok((None, CallbackOutcome::UnknownOrder));
    };
    let to = match update.status {
        "PAID" | "SETTLED" => {
            let paid = update.paid_amount.or(update.amount);
            if order.status == OrderStatus::PendingPayment && paid != Some(order.amount) {
                let issue = format!("amount_mismatch: paid {paid:?}, order amount {}", order.amount);
                records::flag(db, id, &issue).await.context("flagging the order")?;
                return Ok((Some(id), CallbackOutcome::Flagged));
            }
            OrderStatus::Paid
        }
        "EXPIRED" => OrderStatus::Expired,
        _ => return Ok((Some(id), CallbackOutcome::Unchanged)),
    };
    match orders::apply(db, id, to, Actor::System).await {
        Ok(_) => Ok((Some(id), CallbackOutcome::Changed)),
        // Already paid, expired or further along: a duplicate or a late delivery.
        Err(MarketError::InvalidState(_)) => Ok((Some(id), CallbackOutcome::Unchanged)),
        Err(MarketError::Unexpected(err)) => Err(err),
        Err(other) => Err(anyhow::anyhow!("{other}")),
    }
}

/// A refund's result, from a callback or from reconciliation.
pub async fn apply_refund(
    db: &PgPool,
    order_id: &str,
    succeeded: bool,
) -> anyhow::Result<(Option<Uuid>, CallbackOutcome)> {
    let Ok(id) = Uuid::try_parse(order_id) else { return Ok((None, CallbackOutcome::UnknownOrder)) };
    let Some(order) = records::payment_state(db, id).await.context("reading the payment")? else {
        return Ok((None, CallbackOutcome::UnknownOrder));
    };
    if !succeeded {
        if order.status == OrderStatus::RefundPending {
            records::flag(db, id, "refund_failed").await.context("flagging the order")?;
            return Ok((Some(id), CallbackOutcome::Flagged));
        }
        return Ok((Some(id), CallbackOutcome::Unchanged));
    }
    match orders::apply(db, id, OrderStatus::Refunded, Actor::System).await {
        Ok(_) => Ok((Some(id), CallbackOutcome::Changed)),
        Err(MarketError::InvalidState(_)) => Ok((Some(id), CallbackOutcome::Unchanged)),
        Err(MarketError::Unexpected(err)) => Err(err),
        Err(other) => Err(anyhow::anyhow!("{other}")),
    }
}

async fn store(db: &PgPool, kind: &str, body: &[u8], order_id: Option<Uuid>, outcome: &str) -> anyhow::Result<()> {
    records::store_callback(db, kind, body, order_id, outcome).await.context("storing the callback")
}

impl Payments {
    fn authenticate(&self, token: Option<&str>, kind: &str) -> Result<(), CallbackError> {
        if token.is_some_and(|t| self.client.callback_token_matches(t)) {
            return Ok(());
        }
        tracing::warn!(kind, "payment callback refused: missing or wrong x-callback-token");
        Err(CallbackError::Unauthenticated)
    }

    /// `POST /api/webhooks/xendit/invoice`.
    pub async fn invoice_callback(&self, token: Option<&str>, body: &[u8]) -> Result<CallbackOutcome, CallbackError> {
        let db = &self.db;
        self.authenticate(token, "invoice")?;
        let parsed = parse_invoice(body);
        let update = match &parsed {
            Ok(update) => update,
            Err(err) => {
                store(db, "invoice", body, None, "malformed").await?;
                return Err(CallbackError::Malformed(err.to_string()));
            }
        };
        let (order_id, outcome) = match apply_invoice(db, &update.as_update()).await {
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
        let parsed: Result<(String, bool), CallbackError> = (|| {
            let json: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| CallbackError::Malformed(e.to_string()))?;
            let event = field(&json, "event")?;
            let reference = field(&json["data"], "reference_id")?;
            let succeeded = match event {
                "refund.succeeded" => true,
                "refund.failed" => false,
                other => return Err(CallbackError::Malformed(format!("unknown event {other}"))),
            };
            Ok((reference.to_owned(), succeeded))
        })();
        let (reference, succeeded) = match parsed {
            Ok(parsed) => parsed,
            Err(err) => {
                store(db, "refund", body, None, "malformed").await?;
                return Err(err);
            }
        };
        let (order_id, outcome) = apply_refund(db, &reference, succeeded).await?;
        store(db, "refund", body, order_id, outcome.as_str()).await?;
        Ok(outcome)
    }
}

struct ParsedInvoice {
    external_id: String,
    status: String,
    amount: Option<i64>,
    paid_amount: Option<i64>,
}

impl ParsedInvoice {
    fn as_update(&self) -> InvoiceUpdate<'_> {
        InvoiceUpdate {
            external_id: &self.external_id,
            status: &self.status,
            amount: self.amount,
            paid_amount: self.paid_amount,
        }
    }
}

fn parse_invoice(body: &[u8]) -> Result<ParsedInvoice, CallbackError> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| CallbackError::Malformed(e.to_string()))?;
    field(&json, "id")?;
    Ok(ParsedInvoice {
        external_id: field(&json, "external_id")?.to_owned(),
        status: field(&json, "status")?.to_owned(),
        amount: rupiah(&json["amount"], "amount")?,
        paid_amount: rupiah(&json["paid_amount"], "paid_amount")?,
    })
}
