//! A mitra's earnings (§11): the three balances summed from the ledger, when the next
//! pending earnings release, and every posting to one of them, newest first.

use chrono::{DateTime, Utc};
use poem_openapi::Enum;
use sqlx::PgPool;
use uuid::Uuid;

use super::records;
use crate::ledger::read as ledger;
use crate::pagination::{Cursor, Page};

/// A mitra's balances.
#[derive(Debug, Clone, Copy)]
pub struct Earnings {
    pub pending: i64,
    pub available: i64,
    pub in_payout: i64,
    /// Null when nothing is pending.
    pub next_release_at: Option<DateTime<Utc>>,
}

pub async fn summary(db: &PgPool, mitra_id: Uuid) -> sqlx::Result<Earnings> {
    let b = ledger::mitra_balances(db, mitra_id).await?;
    let next_release_at = if b.pending > 0 { records::next_release(db, mitra_id).await? } else { None };
    Ok(Earnings { pending: b.pending, available: b.available, in_payout: b.in_payout, next_release_at })
}

/// Why a mitra's balance moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum EntryKind {
    /// An order completed: the mitra's share, pending.
    OrderCompleted,
    /// A late cancellation: the mitra's share of the fee.
    CancellationFee,
    /// Pending earnings became available.
    Released,
    /// A refund took (or, when it failed, gave back) the mitra's share.
    Refund,
    /// Paid out.
    Payout,
    /// A payout came back.
    PayoutReturned,
    /// A dispute was resolved as a refund.
    DisputeRefund,
}

/// Which of the mitra's balances an entry moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum EntryBalance {
    Pending,
    Available,
    InPayout,
}

/// One posting to one of the mitra's balances.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: EntryKind,
    pub amount: i64,
    pub balance: EntryBalance,
    pub order_id: Option<Uuid>,
    pub payout_id: Option<Uuid>,
}

fn kind(stored: &str) -> EntryKind {
    match stored {
        "order_completed" => EntryKind::OrderCompleted,
        "cancellation_fee" => EntryKind::CancellationFee,
        "released" => EntryKind::Released,
        "payout" => EntryKind::Payout,
        "payout_returned" => EntryKind::PayoutReturned,
        "dispute_refund" => EntryKind::DisputeRefund,
        _ => EntryKind::Refund,
    }
}

fn balance(account: &str) -> EntryBalance {
    match account {
        "mitra_pending" => EntryBalance::Pending,
        "mitra_in_payout" => EntryBalance::InPayout,
        _ => EntryBalance::Available,
    }
}

/// Postings are keyed by their id; the cursor carries it in its id part.
fn cursor_of(id: i64) -> Cursor {
    Cursor { at: DateTime::<Utc>::UNIX_EPOCH, id: Uuid::from_u64_pair(0, u64::try_from(id).unwrap_or(0)) }
}

/// A page of the mitra's entries, newest first.
pub async fn entries(db: &PgPool, mitra_id: Uuid, page: Page) -> sqlx::Result<(Vec<Entry>, Option<String>)> {
    let before = page.after.map(|c| i64::try_from(c.id.as_u64_pair().1).unwrap_or(i64::MAX));
    let mut rows = ledger::mitra_postings(db, mitra_id, before, page.fetch()).await?;
    let next = page.finish(&mut rows, |r| cursor_of(r.id));
    let items = rows
        .into_iter()
        .map(|r| Entry {
            id: r.id,
            at: r.at,
            kind: kind(&r.kind),
            amount: r.amount,
            balance: balance(&r.account),
            order_id: r.order_id,
            payout_id: r.payout_id,
        })
        .collect();
    Ok((items, next))
}
