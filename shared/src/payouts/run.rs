//! `public-gateway run-payouts` (§12, §16): pays every eligible mitra's available balance.
//!
//! The mitra with a payout account are streamed in keyset pages (memory stays flat
//! whatever their number). For each one that may be paid, one transaction locks its
//! account, re-checks it, reads its available balance, records the payout and moves the
//! amount from available to in_payout; only after that commits is Xendit asked, under
//! `Idempotency-key: <payout id>`. Two overlapping runs queue on the account lock and the
//! second finds the payout in flight (the database allows one per mitra), so nothing is
//! ever paid twice; a repeated run finds the money gone from available.

use futures_util::stream::{self, StreamExt};
use uuid::Uuid;

use super::records::{self, Applied, NewPayout, Reported};
use super::{accounts, Payout, PayoutStatus, Payouts};
use crate::ledger;
use crate::providers::payments::Backend;
use crate::providers::xendit::{self, AmountLimits, PayoutAnswer, PayoutChannel, PayoutRequest};

/// Mitra read per page of the stream.
const BATCH: i64 = 200;
/// Payouts made at once within a page.
const PARALLEL: usize = 4;
/// A pending payout older than this that was never sent (its run stopped) is sent by the
/// next run or reconciliation.
const UNSENT_AFTER_SECS: f64 = 60.0;

/// What a run did: `payouts: created=N failed=M skipped=K`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Payouts recorded (whatever Xendit then said).
    pub created: u64,
    /// Payouts Xendit refused for good (their money is back in available).
    pub failed: u64,
    /// Mitra with a payout account who were not paid: not payable, in flight, below the
    /// minimum, or taken by an overlapping run.
    pub skipped: u64,
    /// Earlier payouts left pending and sent again (same key).
    pub resubmitted: u64,
}

impl RunReport {
    pub fn line(&self) -> String {
        format!("payouts: created={} failed={} skipped={}", self.created, self.failed, self.skipped)
    }
}

/// What a payout of `available` pays on a channel with `limits`: nothing below
/// max(`minimum`, the channel's minimum); at most the channel's maximum; rounded down to
/// its increment (§16).
pub fn payable_amount(available: i64, minimum: i64, limits: &AmountLimits) -> Option<i64> {
    let floor = minimum.max(limits.minimum);
    if available < floor {
        return None;
    }
    let step = limits.minimum_increment.max(1);
    let amount = available.min(limits.maximum) / step * step;
    (amount >= floor && amount > 0).then_some(amount)
}

impl Payouts {
    /// Runs the weekly payouts: first sends again what earlier runs left pending, then
    /// streams every mitra with a payout account and pays those eligible.
    pub async fn run(&self) -> anyhow::Result<RunReport> {
        let mut report = RunReport { resubmitted: self.resubmit_pending(true).await?, ..RunReport::default() };
        let channels = self.client.payout_channels().await?;
        let mut after = None;
        loop {
            let page = accounts::candidates(&self.db, after, BATCH).await?;
            let eligible: Vec<Uuid> = page.iter().filter(|c| c.eligible).map(|c| c.mitra_id).collect();
            report.skipped += (page.len() - eligible.len()) as u64;
            let results: Vec<anyhow::Result<Option<PayoutStatus>>> = stream::iter(eligible)
                .map(|mitra_id| {
                    let channels = &channels;
                    async move {
                        let Some(payout) = self.create_for(mitra_id, channels).await? else { return Ok(None) };
                        Ok(Some(self.send(payout, false).await?))
                    }
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
            for result in results {
                match result {
                    Ok(Some(status)) => {
                        report.created += 1;
                        report.failed += u64::from(status == PayoutStatus::Failed);
                    }
                    Ok(None) => report.skipped += 1,
                    Err(err) => {
                        report.skipped += 1;
                        tracing::warn!(error = format!("{err:#}"), "a mitra's payout was not made");
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == BATCH => after = Some(last.mitra_id),
                _ => break,
            }
        }
        tracing::info!(
            created = report.created,
            failed = report.failed,
            skipped = report.skipped,
            resubmitted = report.resubmitted,
            "payouts run"
        );
        Ok(report)
    }

    /// Records a payout for `mitra_id` if it is still payable and its available balance
    /// reaches the minimum, moving the amount to in_payout, and commits.
    async fn create_for(&self, mitra_id: Uuid, channels: &[PayoutChannel]) -> anyhow::Result<Option<Payout>> {
        let mut tx = self.db.begin().await?;
        let Some(account) = accounts::lock_payable(&mut tx, mitra_id).await? else { return Ok(None) };
        let Some(channel) = channels.iter().find(|c| c.channel_code == account.channel_code) else {
            tracing::warn!(mitra_id = %mitra_id, channel = %account.channel_code, "payout channel no longer offered");
            return Ok(None);
        };
        let available = ledger::read::mitra_available(&mut tx, mitra_id).await?;
        let Some(amount) = payable_amount(available, self.money.payout_minimum, &channel.amount_limits) else {
            return Ok(None);
        };
        let new = NewPayout {
            mitra_id,
            amount,
            channel_code: &account.channel_code,
            account_number: &account.account_number,
            account_holder_name: &account.account_holder_name,
        };
        let Some(payout) = records::create(&mut tx, &new).await? else { return Ok(None) };
        tx.commit().await?;
        Ok(Some(payout))
    }

    /// Sends every `pending` payout again (same key, same body; looked up first). With
    /// `sent_only`, only those already sent once or older than a minute (a fresh unsent
    /// one belongs to a run still going).
    pub async fn resubmit_pending(&self, sent_only: bool) -> anyhow::Result<u64> {
        let mut count = 0;
        let mut after = None;
        loop {
            let page = records::pending_page(&self.db, PayoutStatus::Pending, 0.0, after, BATCH).await?;
            for payout in &page {
                let fresh =
                    (chrono::Utc::now() - payout.created_at).num_milliseconds() < (UNSENT_AFTER_SECS * 1000.0) as i64;
                if sent_only && payout.attempts == 0 && fresh {
                    continue;
                }
                match self.send(payout.clone(), true).await {
                    Ok(_) => count += 1,
                    Err(err) => {
                        tracing::warn!(payout_id = %payout.id, error = format!("{err:#}"), "payout not resubmitted")
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == BATCH => after = Some((last.created_at, last.id)),
                _ => break,
            }
        }
        Ok(count)
    }

    /// Asks Xendit for a `pending` payout and applies what it answers; returns where the
    /// payout stands. A resubmission looks the payout up first (Xendit may have it already)
    /// and re-checks that the mitra may still be paid (§16): one that may not is cancelled
    /// (at Xendit too, if Xendit holds it `ACCEPTED`), its money back in available.
    pub async fn send(&self, payout: Payout, resubmission: bool) -> anyhow::Result<PayoutStatus> {
        if payout.status != PayoutStatus::Pending {
            return Ok(payout.status);
        }
        let xendit = match &self.client.backend {
            Backend::Stub => return self.stub_accept(&payout).await,
            Backend::Xendit(xendit) => xendit,
        };
        let id = payout.id.to_string();
        if resubmission || payout.attempts > 0 {
            let found = match xendit.find_payouts(&id).await {
                Ok(found) => found,
                Err(err) => return self.still_pending(&payout, &format!("{err:#}")).await,
            };
            let payable = !resubmission || accounts::payable(&self.db, payout.mitra_id).await?;
            if let Some(found) = found.first() {
                if !payable && found.status == "ACCEPTED" {
                    tracing::info!(payout_id = %payout.id, "mitra no longer payable: cancelling the payout at Xendit");
                    match xendit.cancel_payout(&found.id).await {
                        Ok(cancelled) => return self.apply_found(payout.id, &cancelled).await,
                        Err(err) => {
                            tracing::warn!(payout_id = %payout.id, error = format!("{err:#}"), "cancel refused")
                        }
                    }
                }
                return self.apply_found(payout.id, found).await;
            }
            if !payable {
                tracing::info!(payout_id = %payout.id, "mitra no longer payable and Xendit never had it: cancelled");
                let report = Reported {
                    status: PayoutStatus::Cancelled,
                    xendit_id: None,
                    amount: None,
                    failure_code: Some("NOT_ELIGIBLE"),
                    estimated_arrival_at: None,
                };
                return self.apply_report(payout.id, &report).await;
            }
        }
        records::count_attempt(&self.db, payout.id).await?;
        let request = PayoutRequest {
            reference_id: &id,
            channel_code: &payout.channel_code,
            account_number: payout.account_number.expose(),
            account_holder_name: &payout.account_holder_name,
            amount: payout.amount,
            description: &payout.description,
        };
        match xendit.create_payout(&request).await {
            PayoutAnswer::Accepted(answer) => self.apply_found(payout.id, &answer).await,
            PayoutAnswer::Rejected(code) => match xendit.find_payouts(&id).await {
                Ok(found) if !found.is_empty() => self.apply_found(payout.id, &found[0]).await,
                Ok(_) => {
                    tracing::warn!(payout_id = %payout.id, code, "Xendit refused the payout; its money is back");
                    let report = Reported {
                        status: PayoutStatus::Failed,
                        xendit_id: None,
                        amount: None,
                        failure_code: Some(&code),
                        estimated_arrival_at: None,
                    };
                    self.apply_report(payout.id, &report).await
                }
                Err(err) => self.still_pending(&payout, &format!("{code}; lookup failed: {err:#}")).await,
            },
            PayoutAnswer::Retry(why) => self.still_pending(&payout, &why).await,
        }
    }

    async fn still_pending(&self, payout: &Payout, why: &str) -> anyhow::Result<PayoutStatus> {
        tracing::warn!(payout_id = %payout.id, error = why, "payout left pending; it is sent again with the same key");
        records::left_pending(&self.db, payout.id, why).await?;
        Ok(PayoutStatus::Pending)
    }

    /// Applies a payout as Xendit reports it (create answer or lookup).
    pub(crate) async fn apply_found(&self, id: Uuid, found: &xendit::Payout) -> anyhow::Result<PayoutStatus> {
        if found.reference_id.as_deref().is_some_and(|r| r != id.to_string()) {
            anyhow::bail!("Xendit answered with another payout's reference");
        }
        let Some(status) = xendit_status(&found.status) else {
            return Ok(records::get(&self.db, id).await?.map_or(PayoutStatus::Pending, |p| p.status));
        };
        let report = |status| Reported {
            status,
            xendit_id: Some(&found.id),
            amount: Some(found.amount),
            failure_code: found.failure_code.as_deref(),
            estimated_arrival_at: found.estimated_arrival_time,
        };
        if status == PayoutStatus::Reversed {
            // Paid, then bounced: both moves, in order.
            self.apply_report(id, &report(PayoutStatus::Succeeded)).await?;
        }
        self.apply_report(id, &report(status)).await
    }

    /// Applies `report` to payout `id` under its row lock; returns where it stands.
    pub(crate) async fn apply_report(&self, id: Uuid, report: &Reported<'_>) -> anyhow::Result<PayoutStatus> {
        let mut tx = self.db.begin().await?;
        let Some(payout) = records::lock(&mut tx, id).await? else { anyhow::bail!("no payout {id}") };
        let applied = records::apply(&mut tx, &payout, report).await?;
        tx.commit().await?;
        Ok(if applied == Applied::Changed { report.status } else { payout.status })
    }

    /// The stub makes the payout locally: accepted at once, and the command that succeeds
    /// it through the callback path is logged.
    async fn stub_accept(&self, payout: &Payout) -> anyhow::Result<PayoutStatus> {
        let stub_id = format!("stub-{}", payout.id);
        let report = Reported {
            status: PayoutStatus::Accepted,
            xendit_id: Some(&stub_id),
            amount: Some(payout.amount),
            failure_code: None,
            estimated_arrival_at: None,
        };
        let status = self.apply_report(payout.id, &report).await?;
        tracing::info!(
            "[PAYOUT STUB] payout={} amount={} succeed: public-gateway stub-payout-succeed {}",
            payout.id,
            payout.amount,
            payout.id
        );
        Ok(status)
    }
}

/// Our status for one of Xendit's.
pub(crate) fn xendit_status(status: &str) -> Option<PayoutStatus> {
    Some(match status {
        "ACCEPTED" | "REQUESTED" | "PENDING" => PayoutStatus::Accepted,
        "SUCCEEDED" | "COMPLETED" => PayoutStatus::Succeeded,
        "FAILED" => PayoutStatus::Failed,
        "CANCELLED" => PayoutStatus::Cancelled,
        "REVERSED" => PayoutStatus::Reversed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: AmountLimits = AmountLimits { minimum: 10_000, maximum: 1_000_000, minimum_increment: 1 };

    #[test]
    fn exactly_the_minimum_is_paid_and_one_rupiah_below_is_not() {
        assert_eq!(payable_amount(50_000, 50_000, &LIMITS), Some(50_000));
        assert_eq!(payable_amount(49_999, 50_000, &LIMITS), None);
        assert_eq!(payable_amount(-5_000, 50_000, &LIMITS), None);
    }

    #[test]
    fn the_channel_minimum_counts_when_it_is_higher() {
        let limits = AmountLimits { minimum: 60_000, ..LIMITS };
        assert_eq!(payable_amount(55_000, 50_000, &limits), None);
        assert_eq!(payable_amount(60_000, 50_000, &limits), Some(60_000));
    }

    #[test]
    fn the_amount_is_capped_at_the_maximum_and_rounded_down_to_the_increment() {
        assert_eq!(payable_amount(1_500_000, 50_000, &LIMITS), Some(1_000_000));
        let limits = AmountLimits { minimum_increment: 1_000, ..LIMITS };
        assert_eq!(payable_amount(123_456, 50_000, &limits), Some(123_000));
        assert_eq!(payable_amount(50_500, 50_500, &limits), None);
    }
}
