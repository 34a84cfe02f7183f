//! Payouts in `reconcile-payments` (§12): every payout `accepted` for more than ten
//! minutes is read back (`GET /v2/payouts/{id}`) and what Xendit says is applied as a
//! callback would be; every `pending` one is sent again with its own key (looked up
//! first, eligibility re-checked, §16). Keyset pages, oldest first.

use super::records;
use super::{PayoutStatus, Payouts};
use crate::providers::payments::Backend;

const ACCEPTED_FOR_SECS: f64 = 600.0;
const PAGE: i64 = 200;

impl Payouts {
    /// Returns how many payouts changed.
    pub async fn reconcile(&self) -> anyhow::Result<u64> {
        let mut changed = 0;
        let Backend::Xendit(xendit) = &self.client.backend else {
            // Stub payouts move only by their documented command.
            return Ok(0);
        };
        let mut after = None;
        loop {
            let page = records::pending_page(&self.db, PayoutStatus::Accepted, ACCEPTED_FOR_SECS, after, PAGE).await?;
            for payout in &page {
                let Some(xendit_id) = payout.xendit_payout_id.as_deref() else { continue };
                match xendit.get_payout(xendit_id).await {
                    Ok(found) => match self.apply_found(payout.id, &found).await {
                        Ok(status) => changed += u64::from(status != payout.status),
                        Err(err) => {
                            tracing::warn!(payout_id = %payout.id, error = format!("{err:#}"), "payout not reconciled")
                        }
                    },
                    Err(err) => {
                        tracing::warn!(payout_id = %payout.id, error = format!("{err:#}"), "payout not read back")
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => after = Some((last.created_at, last.id)),
                _ => break,
            }
        }
        let mut after = None;
        loop {
            let page = records::pending_page(&self.db, PayoutStatus::Pending, 60.0, after, PAGE).await?;
            for payout in &page {
                match self.send(payout.clone(), true).await {
                    Ok(status) => changed += u64::from(status != PayoutStatus::Pending),
                    Err(err) => {
                        tracing::warn!(payout_id = %payout.id, error = format!("{err:#}"), "payout not resubmitted")
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => after = Some((last.created_at, last.id)),
                _ => break,
            }
        }
        Ok(changed)
    }
}
