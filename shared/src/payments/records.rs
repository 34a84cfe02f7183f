//! What the payments service keeps: an order's payment columns (its invoice, its refund,
//! what needs staff; the rest of the order is the marketplace's) and every callback
//! received (`payment_callbacks`), as it came.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::marketplace::orders::{self, Order, OrderStatus};

/// An opened invoice, as the order shows it.
pub struct InvoiceRef<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// Records the invoice opened for a new order, in the caller's transaction.
pub async fn attach_invoice(conn: &mut PgConnection, id: Uuid, invoice: &InvoiceRef<'_>) -> sqlx::Result<Order> {
    let row: orders::Row = sqlx::query_as(&format!(
        "UPDATE orders SET invoice_id = $2, invoice_url = $3, invoice_expires_at = $4, updated_at = now()
         WHERE id = $1 RETURNING {}",
        orders::COLUMNS
    ))
    .bind(id)
    .bind(invoice.id)
    .bind(invoice.url)
    .bind(invoice.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// What the payment side needs of an order: its status, amount, invoice and refund.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentState {
    pub id: Uuid,
    pub status: OrderStatus,
    pub amount: i64,
    pub invoice_id: Option<String>,
    pub refund_id: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
}

const PAYMENT_COLUMNS: &str = "id, status, amount, invoice_id, refund_id, paid_at";

pub async fn payment_state(db: &PgPool, id: Uuid) -> sqlx::Result<Option<PaymentState>> {
    sqlx::query_as(&format!("SELECT {PAYMENT_COLUMNS} FROM orders WHERE id = $1")).bind(id).fetch_optional(db).await
}

/// Orders the payment side must look at again: unpaid for longer than `unpaid_after`,
/// paid but declined or cancelled with no refund yet, and refunds still pending.
pub async fn needing_reconciliation(db: &PgPool, unpaid_after: std::time::Duration) -> sqlx::Result<Vec<PaymentState>> {
    sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM orders
         WHERE (status = 'pending_payment' AND created_at < now() - make_interval(secs => $1))
            OR (status IN ('declined', 'cancelled') AND paid_at IS NOT NULL AND refund_id IS NULL)
            OR (status = 'refund_pending')
         ORDER BY created_at LIMIT 1000"
    ))
    .bind(unpaid_after.as_secs_f64())
    .fetch_all(db)
    .await
}

/// Records the refund the provider accepted for an order.
pub async fn set_refund(conn: &mut PgConnection, id: Uuid, refund_id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET refund_id = $2 WHERE id = $1").bind(id).bind(refund_id).execute(conn).await?;
    Ok(())
}

/// Flags an order for staff (a paid amount that does not match, a failed refund).
pub async fn flag(db: &PgPool, id: Uuid, issue: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET payment_issue = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(issue)
        .execute(db)
        .await?;
    tracing::warn!(order_id = %id, issue, "order flagged for staff");
    Ok(())
}

/// Keeps a callback as it came, with the order it was about and what applying it did.
pub async fn store_callback(
    db: &PgPool,
    kind: &str,
    body: &[u8],
    order_id: Option<Uuid>,
    outcome: &str,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO payment_callbacks (kind, body, order_id, outcome) VALUES ($1, $2, $3, $4)")
        .bind(kind)
        .bind(String::from_utf8_lossy(body).as_ref())
        .bind(order_id)
        .bind(outcome)
        .execute(db)
        .await?;
    Ok(())
}

/// What staff see of an order's payment beyond the order itself: what needs a person,
/// and every callback received for it, as it came.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentEvent {
    pub id: i64,
    pub kind: String,
    pub outcome: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

pub async fn payment_record(db: &PgPool, id: Uuid) -> sqlx::Result<(Option<String>, Vec<PaymentEvent>)> {
    let issue: Option<Option<String>> =
        sqlx::query_scalar("SELECT payment_issue FROM orders WHERE id = $1").bind(id).fetch_optional(db).await?;
    let events = sqlx::query_as(
        "SELECT id, kind, outcome, body, received_at FROM payment_callbacks WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok((issue.flatten(), events))
}
