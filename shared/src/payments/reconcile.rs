//! `public-gateway reconcile-payments`: for callbacks that never arrived. Asks Xendit
//! about every order still unpaid after a minute and every refund still open, and
//! applies the answers through the same code as the callbacks; requests refunds that
//! failed to be requested. Safe to run any number of times, also concurrently with
//! callbacks: every move is forward-only and conditional.

use std::time::Duration;

use super::callbacks::{apply_invoice, apply_refund, CallbackOutcome, InvoiceUpdate};
use super::{records, Payments};
use crate::marketplace::orders::OrderStatus;

/// Orders younger than this are left to their callbacks.
const UNPAID_AFTER: Duration = Duration::from_secs(60);

/// Returns how many orders changed.
pub async fn run(payments: &Payments) -> anyhow::Result<u64> {
    let db = &payments.db;
    let mut changed = 0;
    for order in records::needing_reconciliation(db, UNPAID_AFTER).await? {
        let result = match order.status {
            OrderStatus::PendingPayment => match payments.client.xendit() {
                Some(xendit) => match xendit.find_invoices(order.id).await {
                    Ok(invoices) => match invoices.first() {
                        Some(invoice) => {
                            let update = InvoiceUpdate {
                                external_id: &invoice.external_id,
                                status: &invoice.status,
                                amount: Some(invoice.amount),
                                paid_amount: invoice.paid_amount,
                            };
                            apply_invoice(db, &update).await.map(|(_, outcome)| outcome == CallbackOutcome::Changed)
                        }
                        None => Ok(false),
                    },
                    Err(err) => Err(err),
                },
                // Stub invoices are paid only by the documented callback.
                None => Ok(false),
            },
            OrderStatus::RefundPending if order.refund_id.is_none() => {
                payments.refund(order.id).await.map(|moved| moved.is_some())
            }
            OrderStatus::RefundPending => match (payments.client.xendit(), order.refund_id.as_deref()) {
                (Some(xendit), Some(refund_id)) => match xendit.get_refund(refund_id).await {
                    Ok(refund) => match refund.status.as_str() {
                        "SUCCEEDED" => apply_refund(db, &order.id.to_string(), true)
                            .await
                            .map(|(_, o)| o == CallbackOutcome::Changed),
                        "FAILED" => apply_refund(db, &order.id.to_string(), false).await.map(|_| false),
                        _ => Ok(false),
                    },
                    Err(err) => Err(err),
                },
                _ => Ok(false),
            },
            _ => payments.refund(order.id).await.map(|moved| moved.is_some()),
        };
        match result {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(order_id = %order.id, error = format!("{err:#}"), "reconciliation skipped an order")
            }
        }
    }
    Ok(changed)
}
