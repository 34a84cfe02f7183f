//! Refunds have an identity (§16): each request is a row of `refunds`, whose id is the
//! Xendit `Idempotency-key` and `reference_id`. Asking for one takes its money out of
//! where it is (escrow, unmatched, or after completion the commission and the mitra's
//! earnings) into refunds in flight, in the transaction that decides it; Xendit is asked
//! after commit. Success sends it out of cash; failure returns it where it came from
//! (split as at completion if the order completed meanwhile) and flags the order. A
//! failure is final: a retry is a new row, made by an admin.
//!
//! Every step locks the refund's row first, so a callback, reconciliation and a retried
//! request apply each outcome once; the ledger references (`refund:<id>:requested`,
//! `…:succeeded`, `…:failed`) make a replay post nothing.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::records::{self, PaymentState};
use crate::ledger::read::OrderBalances;
use crate::ledger::{self, About, Account, Entry};
use crate::marketplace::orders::{self, Actor, OrderStatus, RefundStatus};

/// Where a refund's money is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A paid order not completed: its escrow.
    Escrow,
    /// Money that arrived without a live order.
    Unmatched,
    /// A completed order: the commission and the mitra's earnings, in proportion.
    Earnings,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Escrow => "escrow",
            Source::Unmatched => "unmatched",
            Source::Earnings => "earnings",
        }
    }
}

/// A refund row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Refund {
    pub id: Uuid,
    pub order_id: Uuid,
    pub invoice_id: String,
    pub amount: i64,
    pub source: String,
    pub status: RefundStatus,
    pub xendit_refund_id: Option<String>,
    pub idempotency_key: String,
    pub full_refund: bool,
    pub kind: String,
    pub created_at: DateTime<Utc>,
}

const REFUND_COLUMNS: &str = "id, order_id, invoice_id, amount, source, status, xendit_refund_id, idempotency_key, \
     full_refund, kind, created_at";

/// A refund to start.
pub struct NewRefund<'a> {
    pub invoice_id: &'a str,
    pub amount: i64,
    pub source: Source,
    /// It empties a live order: its success moves the order to `refunded`.
    pub full_refund: bool,
    /// `refund` or `dispute_refund`.
    pub kind: &'a str,
}

/// How much of refund `r` the commission gives back, after completion (§16): with `E`
/// and `C` fixed at completion and `before` refunded already, the commission has given
/// back `floor(C × (before + r) / E)` after it, exactly `C` when the refund empties the
/// order. `given` is what it actually gave back so far (C less what it still holds for the
/// order), so rounding never accumulates. Returns (from commission, from pending, from
/// available).
pub fn earnings_split(
    base: i64,
    commission: i64,
    before: i64,
    r: i64,
    commission_left: i64,
    pending_left: i64,
) -> (i64, i64, i64) {
    let after = (before + r).min(base);
    let target = if after >= base || base == 0 {
        commission
    } else {
        i64::try_from(i128::from(commission) * i128::from(after) / i128::from(base)).unwrap_or(commission)
    };
    let given = commission - commission_left;
    let from_commission = (target - given).clamp(0, commission_left.max(0)).min(r);
    let from_mitra = r - from_commission;
    let from_pending = from_mitra.min(pending_left.max(0));
    (from_commission, from_pending, from_mitra - from_pending)
}

/// What is still refundable from `source` of a locked order.
pub async fn refundable(
    conn: &mut PgConnection,
    state: &PaymentState,
    balances: &OrderBalances,
    source: Source,
) -> sqlx::Result<i64> {
    Ok(match source {
        Source::Unmatched => balances.unmatched,
        Source::Escrow => balances.escrow,
        Source::Earnings => match state.earnings_base {
            Some(base) => (base - active_earnings(conn, state.id).await?).max(0),
            None => 0,
        },
    })
}

/// What refunds from earnings succeeded or are in flight for an order.
async fn active_earnings(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(amount), 0)::bigint FROM refunds
         WHERE order_id = $1 AND source = 'earnings' AND status <> 'failed'",
    )
    .bind(order_id)
    .fetch_one(conn)
    .await
}

/// Records a refund of the locked order and moves its money into refunds in flight, in
/// the caller's transaction. The caller asks Xendit after commit.
pub async fn start(
    conn: &mut PgConnection,
    state: &PaymentState,
    balances: &OrderBalances,
    new: &NewRefund<'_>,
) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    let r = new.amount;
    let mut legs = vec![(Account::RefundsInFlight(state.id), r)];
    match new.source {
        Source::Escrow => legs.push((Account::Escrow(state.id), -r)),
        Source::Unmatched => legs.push((Account::Unmatched(state.id), -r)),
        Source::Earnings => {
            let base = state.earnings_base.context("an earnings refund of an order that never completed")?;
            let before = active_earnings(conn, state.id).await?;
            let (c, p, a) = earnings_split(
                base,
                state.commission_total.unwrap_or(0),
                before,
                r,
                balances.commission,
                balances.mitra_pending,
            );
            legs.extend([
                (Account::Commission, -c),
                (Account::MitraPending(state.mitra_id), -p),
                (Account::MitraAvailable(state.mitra_id), -a),
            ]);
        }
    }
    sqlx::query(
        "INSERT INTO refunds (id, order_id, invoice_id, amount, source, idempotency_key, full_refund, kind)
         VALUES ($1, $2, $3, $4, $5, $1::text, $6, $7)",
    )
    .bind(id)
    .bind(state.id)
    .bind(new.invoice_id)
    .bind(r)
    .bind(new.source.as_str())
    .bind(new.full_refund)
    .bind(new.kind)
    .execute(&mut *conn)
    .await
    .context("recording the refund")?;
    let about = About { order_id: Some(state.id), refund_id: Some(id), ..About::default() };
    let reference = format!("refund:{id}:requested");
    ledger::post(conn, &Entry { reference: &reference, kind: new.kind, about, legs }).await?;
    tracing::info!(order_id = %state.id, refund_id = %id, amount = r, source = new.source.as_str(), "refund recorded");
    Ok(id)
}

/// A refund's row, locked for the caller's transaction.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Refund>> {
    sqlx::query_as(&format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Xendit has the refund (its id, once we know it).
pub async fn accepted(conn: &mut PgConnection, id: Uuid, xendit_id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refunds SET status = 'pending', xendit_refund_id = $2, updated_at = now()
         WHERE id = $1 AND status = 'requested'",
    )
    .bind(id)
    .bind(xendit_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The refund went through: out of refunds in flight and out of cash. A full refund of a
/// live order moves it to `refunded`. False when it was already final.
pub async fn succeed(conn: &mut PgConnection, refund: &Refund, xendit_id: Option<&str>) -> anyhow::Result<bool> {
    if matches!(refund.status, RefundStatus::Succeeded | RefundStatus::Failed) {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE refunds SET status = 'succeeded', xendit_refund_id = coalesce(xendit_refund_id, $2), updated_at = now()
         WHERE id = $1",
    )
    .bind(refund.id)
    .bind(xendit_id)
    .execute(&mut *conn)
    .await?;
    let reference = format!("refund:{}:succeeded", refund.id);
    let about = About { order_id: Some(refund.order_id), refund_id: Some(refund.id), ..About::default() };
    let legs = vec![(Account::RefundsInFlight(refund.order_id), -refund.amount), (Account::Cash, refund.amount)];
    ledger::post(conn, &Entry { reference: &reference, kind: "refund_succeeded", about, legs }).await?;
    records::add_refunded(conn, refund.order_id, refund.amount).await?;
    if refund.full_refund {
        match orders::transition(conn, refund.order_id, OrderStatus::Refunded, Actor::System).await {
            Ok(_) | Err(crate::marketplace::MarketError::InvalidState(_)) => {}
            Err(err) => return Err(anyhow::anyhow!("{err}")),
        }
    }
    tracing::info!(refund_id = %refund.id, order_id = %refund.order_id, "refund succeeded");
    Ok(true)
}

/// Xendit refused or failed the refund: its money goes back where it came from (an
/// escrow refund of an order that completed meanwhile is split as at completion), and the
/// order is flagged `refund_rejected`. False when it was already final.
pub async fn fail(conn: &mut PgConnection, refund: &Refund, code: &str) -> anyhow::Result<bool> {
    if matches!(refund.status, RefundStatus::Succeeded | RefundStatus::Failed) {
        return Ok(false);
    }
    let state = records::lock(conn, refund.order_id).await?.context("the refund's order")?;
    sqlx::query("UPDATE refunds SET status = 'failed', failure_code = $2, updated_at = now() WHERE id = $1")
        .bind(refund.id)
        .bind(code)
        .execute(&mut *conn)
        .await?;
    let requested = ledger::read::transaction_legs(conn, &format!("refund:{}:requested", refund.id)).await?;
    let mut legs: Vec<(Account, i64)> = Vec::new();
    for (account, amount) in requested {
        match account {
            // Completed meanwhile (not a late cancellation, whose fee alone was split):
            // the returned escrow is split as at completion.
            Account::Escrow(order) if state.earnings_base.is_some() && state.status == OrderStatus::Completed => {
                let back = -amount;
                let c = back * i64::from(state.commission_bps) / 10_000;
                legs.extend([(Account::Commission, c), (Account::MitraPending(state.mitra_id), back - c)]);
                records::grow_completion(conn, order, back, c).await?;
            }
            Account::MitraPending(_) if state.earnings_base.is_some() => {
                legs.push((account, -amount));
                records::grow_completion(conn, state.id, 0, 0).await?;
            }
            other => legs.push((other, -amount)),
        }
    }
    let reference = format!("refund:{}:failed", refund.id);
    let about = About { order_id: Some(refund.order_id), refund_id: Some(refund.id), ..About::default() };
    ledger::post(conn, &Entry { reference: &reference, kind: "refund_failed", about, legs }).await?;
    records::flag(conn, refund.order_id, "refund_rejected").await?;
    tracing::warn!(refund_id = %refund.id, order_id = %refund.order_id, code, "refund failed; money returned, order flagged");
    Ok(true)
}

/// A page of refunds not yet final, oldest first, after `after`.
pub async fn open_page(db: &PgPool, after: Option<(DateTime<Utc>, Uuid)>, limit: i64) -> sqlx::Result<Vec<Refund>> {
    sqlx::query_as(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE status IN ('requested', 'pending')
           AND ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2))
         ORDER BY created_at, id LIMIT $3"
    ))
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Refund>> {
    sqlx::query_as(&format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1")).bind(id).fetch_optional(db).await
}

#[cfg(test)]
mod tests {
    use super::earnings_split;

    #[test]
    fn commission_gives_back_its_cumulative_share_and_the_last_refund_takes_what_remains() {
        // E = 150000, C = 30000 (20 %): three refunds of 33333, 33333, 83334.
        let (e, c) = (150_000, 30_000);
        let first = earnings_split(e, c, 0, 33_333, c, e - c);
        assert_eq!(first, (6_666, 26_667, 0));
        let left = c - first.0;
        let second = earnings_split(e, c, 33_333, 33_333, left, e - c - first.1);
        assert_eq!(second.0, 13_333 - 6_666, "floor(C × 66666 / E) − what it gave");
        let left = left - second.0;
        let last = earnings_split(e, c, 66_666, 83_334, left, e - c - first.1 - second.1);
        assert_eq!(last.0, left, "the refund that empties the order takes exactly what remains");
        assert_eq!(last.0 + last.1 + last.2, 83_334);
    }

    #[test]
    fn the_mitra_part_comes_from_pending_first_then_available() {
        assert_eq!(earnings_split(100_000, 20_000, 0, 50_000, 20_000, 10_000), (10_000, 10_000, 30_000));
    }
}
