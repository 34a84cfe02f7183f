//! The ledger (contract §11): every movement of money is one transaction of postings
//! that sum to zero, in whole rupiah, under a unique reference, written by [`post`] in
//! the caller's database transaction, the same one as the change that moved the money.
//! Owns `ledger_transactions` and `ledger_postings`; docs/money.md has the chart of
//! accounts and what each event posts.
//!
//! The database keeps it honest whatever the Rust does: postings and transactions are
//! insert-only (UPDATE, DELETE and TRUNCATE raise), and a deferred constraint trigger
//! refuses to commit a transaction whose postings do not sum to zero. The reference is
//! unique, so a replay (a duplicate callback, a retried job, a second racing request)
//! posts nothing: the second `INSERT … ON CONFLICT DO NOTHING` waits for the first to
//! commit and then finds the reference taken.
//!
//! **Signs.** Positive = the account holds more. `cash` (money at Xendit) is the other
//! side of everything: its postings are negative when money arrives and positive when it
//! leaves, and its balance is shown negated. So every transaction sums to zero and
//! `cash` equals the sum of all the other balances.

pub mod check;
pub mod read;

use sqlx::PgConnection;
use uuid::Uuid;

/// An account of the chart. Order-scoped accounts carry the order; a mitra's carry the
/// mitra (and, for pending earnings, the order they came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// Money at Xendit (shown negated: the contra of every other account).
    Cash,
    /// A paid order's money, held until it completes or is refunded.
    Escrow(Uuid),
    /// The platform's commission (the order it came from is kept on the posting).
    Commission,
    /// Money that arrived without a live order to take it (`payment_issue` says why).
    Unmatched(Uuid),
    /// A refund asked of Xendit and not yet confirmed.
    RefundsInFlight(Uuid),
    /// A mitra's earnings still in the hold.
    MitraPending(Uuid),
    /// A mitra's earnings that payouts may pay (negative: the mitra owes).
    MitraAvailable(Uuid),
    /// A mitra's money on its way in a payout.
    MitraInPayout(Uuid),
}

impl Account {
    pub fn name(self) -> &'static str {
        match self {
            Account::Cash => "cash",
            Account::Escrow(_) => "escrow",
            Account::Commission => "commission",
            Account::Unmatched(_) => "unmatched",
            Account::RefundsInFlight(_) => "refunds_in_flight",
            Account::MitraPending(_) => "mitra_pending",
            Account::MitraAvailable(_) => "mitra_available",
            Account::MitraInPayout(_) => "mitra_in_payout",
        }
    }

    /// The account a stored posting names.
    pub fn from_parts(name: &str, order: Option<Uuid>, mitra: Option<Uuid>) -> Option<Self> {
        Some(match name {
            "cash" => Account::Cash,
            "escrow" => Account::Escrow(order?),
            "commission" => Account::Commission,
            "unmatched" => Account::Unmatched(order?),
            "refunds_in_flight" => Account::RefundsInFlight(order?),
            "mitra_pending" => Account::MitraPending(mitra?),
            "mitra_available" => Account::MitraAvailable(mitra?),
            "mitra_in_payout" => Account::MitraInPayout(mitra?),
            _ => return None,
        })
    }

    fn mitra(self) -> Option<Uuid> {
        match self {
            Account::MitraPending(m) | Account::MitraAvailable(m) | Account::MitraInPayout(m) => Some(m),
            _ => None,
        }
    }
}

/// What a transaction is about; postings to order-scoped accounts need `order_id`.
#[derive(Debug, Clone, Default)]
pub struct About {
    pub order_id: Option<Uuid>,
    pub mitra_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub payout_id: Option<Uuid>,
}

/// One ledger transaction to post.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Unique forever: `invoice:<xendit id>:paid`, `order:<id>:completed`,
    /// `refund:<id>:requested`, … (docs/money.md lists them).
    pub reference: &'a str,
    /// What happened: `paid`, `unmatched`, `order_completed`, `cancellation_fee`,
    /// `released`, `refund`, `dispute_refund`, `refund_succeeded`, `refund_failed`,
    /// `payout`, `payout_returned`.
    pub kind: &'a str,
    pub about: About,
    /// The postings; zero amounts are dropped, the rest must sum to zero.
    pub legs: Vec<(Account, i64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("ledger transaction {0} does not balance ({1})")]
    Unbalanced(String, i64),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Posts `entry` in the caller's transaction. Returns false (and posts nothing) when its
/// reference was posted before. Unbalanced legs are refused here, and again by the
/// database at commit.
#[tracing::instrument(skip_all, fields(reference = entry.reference))]
pub async fn post(conn: &mut PgConnection, entry: &Entry<'_>) -> Result<bool, PostError> {
    let legs: Vec<&(Account, i64)> = entry.legs.iter().filter(|(_, amount)| *amount != 0).collect();
    let total: i64 = legs.iter().map(|(_, amount)| amount).sum();
    if total != 0 {
        return Err(PostError::Unbalanced(entry.reference.to_owned(), total));
    }
    let about = &entry.about;
    // One round trip: the header (or nothing, when the reference is taken) and its postings.
    let accounts: Vec<&str> = legs.iter().map(|(a, _)| a.name()).collect();
    // Only a mitra's own accounts carry the mitra, so its postings are one index range.
    let mitras: Vec<Option<Uuid>> = legs.iter().map(|(a, _)| a.mitra()).collect();
    let orders: Vec<Option<Uuid>> = legs
        .iter()
        .map(|(a, _)| match a {
            Account::Escrow(o) | Account::Unmatched(o) | Account::RefundsInFlight(o) => Some(*o),
            _ => about.order_id,
        })
        .collect();
    let amounts: Vec<i64> = legs.iter().map(|(_, amount)| *amount).collect();
    let posted: Option<i64> = sqlx::query_scalar(
        "WITH header AS (
             INSERT INTO ledger_transactions (reference, kind, order_id, mitra_id, refund_id, payout_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (reference) DO NOTHING
             RETURNING id, at
         ), legs AS (
             INSERT INTO ledger_postings (transaction_id, account, order_id, mitra_id, payout_id, amount, kind, at)
             SELECT header.id, l.account, l.order_id, l.mitra_id, $6, l.amount, $2, header.at
             FROM header, unnest($7::text[], $8::uuid[], $9::uuid[], $10::bigint[])
                  AS l (account, order_id, mitra_id, amount)
             RETURNING 1
         )
         SELECT id FROM header WHERE (SELECT count(*) FROM legs) >= 0",
    )
    .bind(entry.reference)
    .bind(entry.kind)
    .bind(about.order_id)
    .bind(about.mitra_id)
    .bind(about.refund_id)
    .bind(about.payout_id)
    .bind(&accounts)
    .bind(&orders)
    .bind(&mitras)
    .bind(&amounts)
    .fetch_optional(conn)
    .await?;
    if posted.is_some() {
        tracing::debug!(kind = entry.kind, "ledger transaction posted");
    }
    Ok(posted.is_some())
}
