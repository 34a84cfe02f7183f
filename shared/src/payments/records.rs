//! What the payments service keeps: an order's payment columns (what needs staff, what
//! completion fixed, when earnings release, what was refunded; the rest of the order,
//! its invoice included, is the marketplace's) and every callback received (`payment_callbacks`), as it came.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::marketplace::orders::OrderStatus;

/// What the payment side needs of an order, read with the row locked so every money
/// move of one order happens one at a time.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentState {
    pub id: Uuid,
    pub status: OrderStatus,
    pub customer_id: Uuid,
    pub mitra_id: Uuid,
    pub amount: i64,
    pub invoice_id: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub commission_bps: i32,
    /// E and C, fixed at completion (and grown by a failed pre-completion refund).
    pub earnings_base: Option<i64>,
    pub commission_total: Option<i64>,
    pub release_at: Option<DateTime<Utc>>,
    /// The booking and its cancellation policy (null for orders made before §13).
    pub starts_at: Option<DateTime<Utc>>,
    pub cancel_free_until: Option<DateTime<Utc>>,
    pub cancel_grace_minutes: Option<i32>,
    pub late_refund_percent: Option<i32>,
    pub accepted_at: Option<DateTime<Utc>>,
}

const PAYMENT_COLUMNS: &str = "id, status, customer_id, mitra_id, amount, invoice_id, paid_at, commission_bps, \
     earnings_base, commission_total, release_at, starts_at, cancel_free_until, cancel_grace_minutes, \
     late_refund_percent, accepted_at";

/// The order's payment state, its row locked until the caller's transaction ends.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<PaymentState>> {
    sqlx::query_as(&format!("SELECT {PAYMENT_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn payment_state(db: &PgPool, id: Uuid) -> sqlx::Result<Option<PaymentState>> {
    sqlx::query_as(&format!("SELECT {PAYMENT_COLUMNS} FROM orders WHERE id = $1")).bind(id).fetch_optional(db).await
}

/// A page of orders still unpaid after `unpaid_after`, oldest first, after `after`.
pub async fn unpaid_page(
    db: &PgPool,
    unpaid_after: std::time::Duration,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, DateTime<Utc>)>> {
    sqlx::query_as(
        "SELECT id, created_at FROM orders
         WHERE status = 'pending_payment' AND created_at < now() - make_interval(secs => $1)
           AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4",
    )
    .bind(unpaid_after.as_secs_f64())
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Flags an order for staff, in the caller's transaction (`payment_issue` keeps the latest).
pub async fn flag(conn: &mut PgConnection, id: Uuid, issue: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET payment_issue = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(issue)
        .execute(conn)
        .await?;
    tracing::warn!(order_id = %id, issue, "order flagged for staff");
    Ok(())
}

/// What completion fixed: E, C and when the earnings release.
pub async fn set_completion(
    conn: &mut PgConnection,
    id: Uuid,
    base: i64,
    commission: i64,
    release_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE orders SET earnings_base = $2, commission_total = $3, release_at = $4, release_due = true
         WHERE id = $1",
    )
    .bind(id)
    .bind(base)
    .bind(commission)
    .bind(release_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A failed pre-completion refund returned after completion: its money joins E and C and
/// waits for release like the rest.
pub async fn grow_completion(conn: &mut PgConnection, id: Uuid, base: i64, commission: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE orders SET earnings_base = earnings_base + $2, commission_total = commission_total + $3,
                release_due = true
         WHERE id = $1",
    )
    .bind(id)
    .bind(base)
    .bind(commission)
    .execute(conn)
    .await?;
    Ok(())
}

/// A refund of this order succeeded.
pub async fn add_refunded(conn: &mut PgConnection, id: Uuid, amount: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET refunded_amount = refunded_amount + $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(amount)
        .execute(conn)
        .await?;
    Ok(())
}

/// Orders whose earnings are due for release (past `release_at`, no open dispute), locked
/// for the caller's transaction; rows another run holds are skipped.
pub async fn due_for_release(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    sqlx::query_as(
        "SELECT o.id, o.mitra_id FROM orders o
         WHERE o.release_due AND o.release_at <= now()
           AND NOT EXISTS (SELECT 1 FROM disputes d WHERE d.order_id = o.id AND d.status = 'open')
         ORDER BY o.release_at LIMIT $1 FOR UPDATE OF o SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn released(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET release_due = false WHERE id = ANY($1)").bind(ids).execute(conn).await?;
    Ok(())
}

/// When a mitra's next pending earnings release.
pub async fn next_release(db: &PgPool, mitra_id: Uuid) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT min(release_at) FROM orders WHERE mitra_id = $1 AND release_due")
        .bind(mitra_id)
        .fetch_one(db)
        .await
}

/// What views need beyond the order itself, in one query for a page of orders: its
/// commission rate, E (if completed), its refunds oldest first and its latest dispute.
#[derive(Debug, sqlx::FromRow)]
pub struct ViewColumns {
    pub id: Uuid,
    pub commission_bps: i32,
    pub earnings_base: Option<i64>,
    pub refunds: sqlx::types::Json<Vec<crate::marketplace::orders::OrderRefund>>,
    pub dispute: Option<sqlx::types::Json<crate::marketplace::orders::OrderDispute>>,
}

pub async fn view_columns(db: &PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<ViewColumns>> {
    sqlx::query_as(
        "SELECT o.id, o.commission_bps, o.earnings_base,
                coalesce((SELECT json_agg(json_build_object('id', r.id, 'amount', r.amount, 'status', r.status,
                                                            'created_at', r.created_at) ORDER BY r.created_at, r.id)
                          FROM refunds r WHERE r.order_id = o.id), '[]') AS refunds,
                (SELECT json_build_object('status', d.status, 'reason', d.reason, 'opened_at', d.opened_at,
                                          'outcome', d.outcome, 'resolved_at', d.resolved_at)
                 FROM disputes d WHERE d.order_id = o.id ORDER BY d.opened_at DESC LIMIT 1) AS dispute
         FROM orders o WHERE o.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await
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

/// The fields of a stored callback that are about the money, not the payer: what a
/// deleted customer's callbacks keep (the payer's email, account or phone number,
/// description and the rest go). Nested objects (a refund callback's `data`) are
/// filtered the same way.
const CALLBACK_MONEY_FIELDS: &[&str] = &[
    "id",
    "external_id",
    "status",
    "amount",
    "paid_amount",
    "paid_at",
    "currency",
    "payment_method",
    "payment_channel",
    "payment_method_type",
    "channel_code",
    "payment_id",
    "invoice_id",
    "reference_id",
    "failure_code",
    "refund_fee_amount",
    "fees_paid_amount",
    "adjusted_received_amount",
    "event",
    "business_id",
    "created",
    "updated",
    "data",
];

fn money_fields_only(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(key, _)| CALLBACK_MONEY_FIELDS.contains(&key.as_str()))
                .map(|(key, value)| (key, money_fields_only(value)))
                .collect(),
        ),
        other => other,
    }
}

/// A stored callback body with the payer's details taken out (marked `"redacted": true`;
/// a body that is not JSON keeps only that mark).
pub fn redacted_callback(body: &str) -> String {
    let mut kept = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(value @ serde_json::Value::Object(_)) => money_fields_only(value),
        _ => serde_json::json!({}),
    };
    kept["redacted"] = serde_json::Value::Bool(true);
    kept.to_string()
}

/// Takes the payer's details out of the stored callbacks of these orders (a deleted
/// customer's), in the caller's transaction; the amounts, ids and outcomes stay.
pub async fn redact_callbacks(conn: &mut sqlx::PgConnection, order_ids: &[Uuid]) -> sqlx::Result<()> {
    let stored: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, body FROM payment_callbacks WHERE order_id = ANY($1) FOR UPDATE")
            .bind(order_ids)
            .fetch_all(&mut *conn)
            .await?;
    for (id, body) in stored {
        sqlx::query("UPDATE payment_callbacks SET body = $2 WHERE id = $1")
            .bind(id)
            .bind(redacted_callback(&body))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Every callback received for an order, as it came.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentEvent {
    pub id: i64,
    pub kind: String,
    pub outcome: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

pub async fn payment_events(db: &PgPool, id: Uuid) -> sqlx::Result<Vec<PaymentEvent>> {
    sqlx::query_as("SELECT id, kind, outcome, body, received_at FROM payment_callbacks WHERE order_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(db)
        .await
}
