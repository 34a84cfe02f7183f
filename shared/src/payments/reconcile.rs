//! `public-gateway reconcile-payments`: for callbacks that never arrived. Pages through
//! every order still unpaid after a minute and every refund not yet final (keyset pages,
//! oldest first, so no backlog can starve newer ones: a flagged order is not pending
//! payment, and a failed refund is final, so neither is looked at again), asks Xendit, and
//! applies the answers through the same code as the callbacks; refunds that were never
//! accepted are asked for again under their own idempotency key. Safe to run any number
//! of times, also concurrently with callbacks: every step locks its row and is forward-only.

use std::time::Duration;

use super::callbacks::{apply_refund, CallbackOutcome, InvoiceUpdate};
use super::{records, refunds, Payments};
use crate::marketplace::orders::RefundStatus;

/// Orders younger than this are left to their callbacks.
const UNPAID_AFTER: Duration = Duration::from_secs(60);
const PAGE: i64 = 500;

/// Returns how many orders and refunds changed.
pub async fn run(payments: &Payments) -> anyhow::Result<u64> {
    run_paged(payments, PAGE).await
}

/// `run`, reading `page` rows at a time.
pub async fn run_paged(payments: &Payments, page_size: i64) -> anyhow::Result<u64> {
    let db = &payments.db;
    let mut changed = 0;
    let mut after = None;
    loop {
        let page = records::unpaid_page(db, UNPAID_AFTER, after, page_size).await?;
        for (id, _) in &page {
            let result = match payments.client.xendit() {
                Some(xendit) => match xendit.find_invoices(*id).await {
                    Ok(invoices) => {
                        let mut moved = false;
                        for invoice in &invoices {
                            let update = InvoiceUpdate {
                                invoice_id: &invoice.id,
                                external_id: &invoice.external_id,
                                status: &invoice.status,
                                amount: Some(invoice.amount),
                                paid_amount: invoice.paid_amount,
                                currency: None,
                            };
                            match payments.apply_invoice(&update).await {
                                Ok((_, outcome)) => moved |= outcome != CallbackOutcome::Unchanged,
                                Err(err) => {
                                    tracing::warn!(order_id = %id, error = format!("{err:#}"), "reconciliation skipped an invoice")
                                }
                            }
                        }
                        Ok(moved)
                    }
                    Err(err) => Err(err),
                },
                // Stub invoices are paid only by the documented callback.
                None => Ok(false),
            };
            count(&mut changed, result, "order", *id);
        }
        match page.last() {
            Some((id, at)) if page.len() as i64 == page_size => after = Some((*at, *id)),
            _ => break,
        }
    }
    let mut after = None;
    loop {
        let page = refunds::open_page(db, after, page_size).await?;
        for refund in &page {
            let result = match (refund.status, payments.client.xendit(), refund.xendit_refund_id.as_deref()) {
                (RefundStatus::Requested, _, _) => payments.send_refund(refund.id).await,
                (_, Some(xendit), Some(xendit_id)) => match xendit.get_refund(xendit_id).await {
                    Ok(found) if matches!(found.status.as_str(), "SUCCEEDED" | "FAILED") => {
                        // Another refund's answer (a different reference) is a mismatch: flagged.
                        let same = found.reference_id.as_deref().is_none_or(|r| r == refund.id.to_string());
                        let amount = Some(found.amount).filter(|_| same);
                        let succeeded = found.status == "SUCCEEDED";
                        let failure = found.failure_code.as_deref();
                        apply_refund(db, &refund.id.to_string(), &found.id, amount, succeeded, failure)
                            .await
                            .map(|(_, outcome)| outcome == CallbackOutcome::Changed)
                    }
                    Ok(_) => Ok(false),
                    Err(err) => Err(err),
                },
                _ => Ok(false),
            };
            count(&mut changed, result, "refund", refund.id);
        }
        match page.last() {
            Some(last) if page.len() as i64 == page_size => after = Some((last.created_at, last.id)),
            _ => break,
        }
    }
    Ok(changed)
}

fn count(changed: &mut u64, result: anyhow::Result<bool>, what: &str, id: uuid::Uuid) {
    match result {
        Ok(true) => *changed += 1,
        Ok(false) => {}
        Err(err) => tracing::warn!(what, id = %id, error = format!("{err:#}"), "reconciliation skipped one"),
    }
}
