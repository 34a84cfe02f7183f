//! The timed moves (contract §13, §16), run by `public-gateway sweep-orders` every minute
//! (the guarantee) and by every gateway instance every `SWEEP_INTERVAL_SECONDS` (best
//! effort):
//!
//! - a `creating` order older than two minutes is deleted, after any invoice Xendit made
//!   for it (found by `external_id`) is expired;
//! - a `pending_payment` order past its invoice's expiry expires;
//! - a `paid` order not accepted within `ACCEPT_TIMEOUT_SECONDS` of payment, or by its
//!   start if sooner, is declined (`decline_reason: "timeout"`) and refunded in full;
//! - an accepted order starting within `REMINDER_MINUTES` gets its one reminder.
//!
//! Each batch claims its rows with `FOR UPDATE SKIP LOCKED` in the transaction that moves
//! them, so two instances sweeping at once never act on one order twice; every move is
//! also conditional on the status it leaves. Xendit is called only after commit (refunds)
//! or with no transaction open (a stale `creating` order's invoice lookup, which is
//! harmless to repeat).

use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use super::Payments;
use crate::marketplace::orders::{self, Actor, OrderStatus};

const BATCH: i64 = 50;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Stale `creating` orders deleted.
    pub discarded: u64,
    /// Unpaid orders expired.
    pub expired: u64,
    /// Paid orders declined for want of acceptance (and refunded).
    pub timed_out: u64,
    /// Orders whose start reminder went out.
    pub reminded: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.discarded + self.expired + self.timed_out + self.reminded
    }
}

impl Payments {
    /// One sweep over every kind of timed move.
    pub async fn sweep(&self) -> anyhow::Result<Swept> {
        Ok(Swept {
            discarded: self.discard_stale_creating().await?,
            expired: self.expire_overdue().await?,
            timed_out: self.decline_timed_out().await?,
            reminded: self.remind().await?,
        })
    }

    async fn discard_stale_creating(&self) -> anyhow::Result<u64> {
        let mut discarded = 0;
        for id in orders::stale_creating(&self.db, BATCH).await? {
            if let Some(xendit) = self.client.xendit() {
                let invoices = xendit.find_invoices(id).await.context("looking up a stale order's invoice")?;
                for invoice in invoices.iter().filter(|i| i.status == "PENDING") {
                    xendit.expire_invoice(&invoice.id).await.context("expiring a stale order's invoice")?;
                }
            }
            if orders::discard(&self.db, id).await? {
                tracing::info!(order_id = %id, "stale creating order deleted");
                discarded += 1;
            }
        }
        Ok(discarded)
    }

    async fn expire_overdue(&self) -> anyhow::Result<u64> {
        let mut expired = 0;
        loop {
            let mut tx = self.db.begin().await?;
            let n = orders::expire_overdue(&mut tx, BATCH).await?;
            tx.commit().await?;
            expired += n;
            if n < BATCH as u64 {
                return Ok(expired);
            }
        }
    }

    async fn decline_timed_out(&self) -> anyhow::Result<u64> {
        let mut declined = 0;
        loop {
            let mut tx = self.db.begin().await?;
            let due: Vec<Uuid> = sqlx::query_scalar(
                "SELECT id FROM orders
                 WHERE status = 'paid'
                   AND (paid_at <= now() - make_interval(secs => $1) OR starts_at <= now())
                 ORDER BY paid_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            )
            .bind(f64::from(self.booking.accept_timeout_secs))
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
            let mut moved = Vec::with_capacity(due.len());
            for id in &due {
                moved.push(self.move_in(&mut tx, *id, OrderStatus::Declined, Actor::System).await?);
            }
            tx.commit().await?;
            for moved in moved {
                let order = self.after_move(moved).await?;
                tracing::info!(order_id = %order.id, "paid order not accepted in time: declined and refunded");
            }
            declined += due.len() as u64;
            if (due.len() as i64) < BATCH {
                return Ok(declined);
            }
        }
    }

    async fn remind(&self) -> anyhow::Result<u64> {
        let mut reminded = 0;
        loop {
            let mut tx = self.db.begin().await?;
            let n = orders::remind_due(&mut tx, self.booking.reminder_minutes, BATCH).await?;
            tx.commit().await?;
            reminded += n;
            if n < BATCH as u64 {
                return Ok(reminded);
            }
        }
    }
}

/// The in-instance loop: a sweep every `interval`, errors logged (the scheduled
/// `sweep-orders` job is the guarantee).
pub async fn run_every(payments: Payments, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match payments.sweep().await {
            Ok(swept) if swept.total() > 0 => tracing::info!(?swept, "orders swept"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = format!("{err:#}"), "order sweep failed; the next one retries"),
        }
    }
}
