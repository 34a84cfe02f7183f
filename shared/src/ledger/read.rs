//! Balances and postings, read back. Every figure is summed from the postings (there is
//! no cached balance to drift), each through an index range: one order's postings, one
//! mitra's, or, for the platform's totals, every posting once.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What one order's money is doing. `commission` and the mitra's figures count only the
/// postings that came from this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderBalances {
    /// Money received for this order and matched to it (cash in, as a positive figure).
    pub received: i64,
    pub escrow: i64,
    pub unmatched: i64,
    pub refunds_in_flight: i64,
    pub commission: i64,
    pub mitra_pending: i64,
    pub mitra_available: i64,
    /// The newest posting of this order (0 when none): names a release uniquely.
    pub last_posting: i64,
}

/// One order's balances, in the caller's transaction (after it locked the order).
pub async fn order_balances(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<OrderBalances> {
    sqlx::query_as(
        "SELECT coalesce(sum(-amount) FILTER (WHERE account = 'cash' AND kind IN ('paid', 'opening')), 0)::bigint AS received,
                coalesce(sum(amount) FILTER (WHERE account = 'escrow'), 0)::bigint AS escrow,
                coalesce(sum(amount) FILTER (WHERE account = 'unmatched'), 0)::bigint AS unmatched,
                coalesce(sum(amount) FILTER (WHERE account = 'refunds_in_flight'), 0)::bigint AS refunds_in_flight,
                coalesce(sum(amount) FILTER (WHERE account = 'commission'), 0)::bigint AS commission,
                coalesce(sum(amount) FILTER (WHERE account = 'mitra_pending'), 0)::bigint AS mitra_pending,
                coalesce(sum(amount) FILTER (WHERE account = 'mitra_available'), 0)::bigint AS mitra_available,
                coalesce(max(id), 0) AS last_posting
         FROM ledger_postings WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_one(conn)
    .await
}

/// The balances of several orders at once (for a page of order views).
pub async fn orders_balances(db: &PgPool, order_ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, OrderBalances)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        order_id: Uuid,
        #[sqlx(flatten)]
        balances: OrderBalances,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT order_id,
                coalesce(sum(-amount) FILTER (WHERE account = 'cash' AND kind IN ('paid', 'opening')), 0)::bigint AS received,
                coalesce(sum(amount) FILTER (WHERE account = 'escrow'), 0)::bigint AS escrow,
                coalesce(sum(amount) FILTER (WHERE account = 'unmatched'), 0)::bigint AS unmatched,
                coalesce(sum(amount) FILTER (WHERE account = 'refunds_in_flight'), 0)::bigint AS refunds_in_flight,
                coalesce(sum(amount) FILTER (WHERE account = 'commission'), 0)::bigint AS commission,
                coalesce(sum(amount) FILTER (WHERE account = 'mitra_pending'), 0)::bigint AS mitra_pending,
                coalesce(sum(amount) FILTER (WHERE account = 'mitra_available'), 0)::bigint AS mitra_available,
                coalesce(max(id), 0) AS last_posting
         FROM ledger_postings WHERE order_id = ANY($1) GROUP BY order_id",
    )
    .bind(order_ids)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.order_id, r.balances)).collect())
}

/// The platform's balances (§11 `GET /internal/ledger/balances`); `cash` is shown
/// negated, so it equals the sum of the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Balances {
    pub cash: i64,
    pub escrow: i64,
    pub commission: i64,
    pub unmatched: i64,
    pub refunds_in_flight: i64,
    pub mitra_pending: i64,
    pub mitra_available: i64,
    pub mitra_in_payout: i64,
}

impl Balances {
    /// The sum of every balance but cash.
    pub fn others(&self) -> i64 {
        self.escrow
            + self.commission
            + self.unmatched
            + self.refunds_in_flight
            + self.mitra_pending
            + self.mitra_available
            + self.mitra_in_payout
    }
}

pub const BALANCES_SQL: &str = "SELECT
        coalesce(-sum(amount) FILTER (WHERE account = 'cash'), 0)::bigint AS cash,
        coalesce(sum(amount) FILTER (WHERE account = 'escrow'), 0)::bigint AS escrow,
        coalesce(sum(amount) FILTER (WHERE account = 'commission'), 0)::bigint AS commission,
        coalesce(sum(amount) FILTER (WHERE account = 'unmatched'), 0)::bigint AS unmatched,
        coalesce(sum(amount) FILTER (WHERE account = 'refunds_in_flight'), 0)::bigint AS refunds_in_flight,
        coalesce(sum(amount) FILTER (WHERE account = 'mitra_pending'), 0)::bigint AS mitra_pending,
        coalesce(sum(amount) FILTER (WHERE account = 'mitra_available'), 0)::bigint AS mitra_available,
        coalesce(sum(amount) FILTER (WHERE account = 'mitra_in_payout'), 0)::bigint AS mitra_in_payout
    FROM ledger_postings";

pub async fn balances(db: &PgPool) -> sqlx::Result<Balances> {
    sqlx::query_as(BALANCES_SQL).fetch_one(db).await
}

/// A mitra's three balances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct MitraBalances {
    pub pending: i64,
    pub available: i64,
    pub in_payout: i64,
}

pub async fn mitra_balances(db: &PgPool, mitra_id: Uuid) -> sqlx::Result<MitraBalances> {
    sqlx::query_as(
        "SELECT coalesce(sum(amount) FILTER (WHERE account = 'mitra_pending'), 0)::bigint AS pending,
                coalesce(sum(amount) FILTER (WHERE account = 'mitra_available'), 0)::bigint AS available,
                coalesce(sum(amount) FILTER (WHERE account = 'mitra_in_payout'), 0)::bigint AS in_payout
         FROM ledger_postings WHERE mitra_id = $1",
    )
    .bind(mitra_id)
    .fetch_one(db)
    .await
}

/// A mitra's available balance, in the caller's transaction (payouts read it with the
/// mitra's payout account locked).
pub async fn mitra_available(conn: &mut PgConnection, mitra_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(amount), 0)::bigint FROM ledger_postings
         WHERE mitra_id = $1 AND account = 'mitra_available'",
    )
    .bind(mitra_id)
    .fetch_one(conn)
    .await
}

/// One posting to one of a mitra's balances.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MitraPosting {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub account: String,
    pub amount: i64,
    pub order_id: Option<Uuid>,
    pub payout_id: Option<Uuid>,
}

/// A mitra's postings, newest first, strictly before posting `before` (keyset).
pub async fn mitra_postings(
    db: &PgPool,
    mitra_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<MitraPosting>> {
    sqlx::query_as(
        "SELECT id, at, kind, account, amount, order_id, payout_id FROM ledger_postings
         WHERE mitra_id = $1 AND ($2::bigint IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(mitra_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One posting of an order's transactions, as staff see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderPosting {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub account: String,
    pub amount: i64,
}

pub async fn order_postings(db: &PgPool, order_id: Uuid) -> sqlx::Result<Vec<OrderPosting>> {
    sqlx::query_as("SELECT at, kind, account, amount FROM ledger_postings WHERE order_id = $1 ORDER BY id")
        .bind(order_id)
        .fetch_all(db)
        .await
}

/// The legs of the transaction posted under `reference` (empty when none was).
pub async fn transaction_legs(conn: &mut PgConnection, reference: &str) -> sqlx::Result<Vec<(super::Account, i64)>> {
    let rows: Vec<(String, Option<Uuid>, Option<Uuid>, i64)> = sqlx::query_as(
        "SELECT p.account, p.order_id, p.mitra_id, p.amount FROM ledger_postings p
         JOIN ledger_transactions t ON t.id = p.transaction_id WHERE t.reference = $1 ORDER BY p.id",
    )
    .bind(reference)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(account, order, mitra, amount)| {
            super::Account::from_parts(&account, order, mitra).map(|a| (a, amount))
        })
        .collect())
}

/// The references of an order's transactions of `kind`, oldest first.
pub async fn references_of(conn: &mut PgConnection, order_id: Uuid, kind: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT reference FROM ledger_transactions WHERE order_id = $1 AND kind = $2 ORDER BY id")
        .bind(order_id)
        .bind(kind)
        .fetch_all(conn)
        .await
}
