//! `public-gateway ledger-check`: the invariants of docs/money.md, checked over every
//! posting. Each check is one aggregate over the postings (one pass each; about a second
//! per million postings), and each violation names what to look at.

use sqlx::PgPool;

use super::read::{Balances, BALANCES_SQL};

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub transactions: i64,
    pub postings: i64,
    pub balances: Balances,
    /// One line per violation; empty when the ledger holds.
    pub violations: Vec<String>,
}

impl Report {
    pub fn holds(&self) -> bool {
        self.violations.is_empty()
    }

    /// The one summary line printed when it holds.
    pub fn summary(&self) -> String {
        let b = &self.balances;
        format!(
            "ledger ok: {} transactions, {} postings; cash {} = escrow {} + commission {} + unmatched {} + \
             refunds_in_flight {} + mitra_pending {} + mitra_available {} + mitra_in_payout {}",
            self.transactions,
            self.postings,
            b.cash,
            b.escrow,
            b.commission,
            b.unmatched,
            b.refunds_in_flight,
            b.mitra_pending,
            b.mitra_available,
            b.mitra_in_payout
        )
    }
}

/// Checks that every transaction sums to zero, that cash equals the sum of the other
/// balances, that no order's escrow, unmatched money or refund in flight is negative, that
/// no mitra's in_payout is negative, and that every completed order's escrow is empty.
/// (There are no cached balances to compare: every balance is summed from postings.)
pub async fn run(db: &PgPool) -> sqlx::Result<Report> {
    let mut report = Report::default();
    let (transactions, postings): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM ledger_transactions), (SELECT count(*) FROM ledger_postings)")
            .fetch_one(db)
            .await?;
    report.transactions = transactions;
    report.postings = postings;
    report.balances = sqlx::query_as(BALANCES_SQL).fetch_one(db).await?;

    let unbalanced: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.reference, s.total::bigint FROM (
             SELECT transaction_id, sum(amount) AS total FROM ledger_postings GROUP BY transaction_id
             HAVING sum(amount) <> 0) s
         JOIN ledger_transactions t ON t.id = s.transaction_id ORDER BY t.id",
    )
    .fetch_all(db)
    .await?;
    for (reference, total) in unbalanced {
        report.violations.push(format!("transaction {reference} does not sum to zero (sum {total})"));
    }
    let b = report.balances;
    if b.cash != b.others() {
        report.violations.push(format!("cash {} differs from the sum of the other balances {}", b.cash, b.others()));
    }
    let negative: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT account, order_id::text, sum(amount)::bigint FROM ledger_postings
         WHERE account IN ('escrow', 'unmatched', 'refunds_in_flight')
         GROUP BY account, order_id HAVING sum(amount) < 0 ORDER BY 2, 1",
    )
    .fetch_all(db)
    .await?;
    for (account, order, total) in negative {
        report.violations.push(format!("order {order}: {account} is negative ({total})"));
    }
    let in_payout: Vec<(String, i64)> = sqlx::query_as(
        "SELECT mitra_id::text, sum(amount)::bigint FROM ledger_postings WHERE account = 'mitra_in_payout'
         GROUP BY mitra_id HAVING sum(amount) < 0 ORDER BY 1",
    )
    .fetch_all(db)
    .await?;
    for (mitra, total) in in_payout {
        report.violations.push(format!("mitra {mitra}: in_payout is negative ({total})"));
    }
    let completed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT p.order_id::text, sum(p.amount)::bigint FROM ledger_postings p
         JOIN orders o ON o.id = p.order_id
         WHERE p.account = 'escrow' AND o.status = 'completed'
         GROUP BY p.order_id HAVING sum(p.amount) <> 0 ORDER BY 1",
    )
    .fetch_all(db)
    .await?;
    for (order, total) in completed {
        report.violations.push(format!("order {order} is completed but its escrow holds {total}"));
    }
    Ok(report)
}
