//! The ledger transactions of an order's life that are not refunds: paid into escrow,
//! money without a live order into unmatched, completion into commission and the mitra's
//! pending earnings, and release into available. Each runs in the caller's transaction,
//! with the order's row locked (`records::lock`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::records::{self, PaymentState};
use crate::ledger::{self, About, Account, Entry, PostError};

fn about(state: &PaymentState) -> About {
    About { order_id: Some(state.id), mitra_id: Some(state.mitra_id), ..About::default() }
}

/// `C = floor(E × bps / 10000)`.
pub fn commission_of(escrow: i64, bps: i32) -> i64 {
    i64::try_from(i128::from(escrow) * i128::from(bps) / 10_000).unwrap_or(0)
}

/// A payment for the order, matched: cash in, held in its escrow. False if this
/// invoice's payment was posted before.
pub async fn paid(
    conn: &mut PgConnection,
    state: &PaymentState,
    invoice_id: &str,
    amount: i64,
) -> Result<bool, PostError> {
    let reference = format!("invoice:{invoice_id}:paid");
    let legs = vec![(Account::Cash, -amount), (Account::Escrow(state.id), amount)];
    ledger::post(conn, &Entry { reference: &reference, kind: "paid", about: about(state), legs }).await
}

/// A payment the order cannot take: cash in, held as unmatched money of that order.
pub async fn unmatched(
    conn: &mut PgConnection,
    state: &PaymentState,
    invoice_id: &str,
    amount: i64,
) -> Result<bool, PostError> {
    let reference = format!("invoice:{invoice_id}:paid");
    let legs = vec![(Account::Cash, -amount), (Account::Unmatched(state.id), amount)];
    ledger::post(conn, &Entry { reference: &reference, kind: "unmatched", about: about(state), legs }).await
}

/// Completion: the order's escrow `E` → commission `C` and the mitra's pending `E − C`;
/// E, C and `release_at` are fixed on the order.
pub async fn completed(
    conn: &mut PgConnection,
    state: &PaymentState,
    escrow: i64,
    release_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    split(conn, state, escrow, release_at, "order_completed").await
}

/// Splits `part` of the order's escrow as completion does (commission `floor(part × bps /
/// 10000)`, the rest to the mitra's pending earnings, released at `release_at`) and fixes
/// E, C and `release_at` on the order, under `order:<id>:<kind>`. Completion's `kind` is
/// `order_completed`; a late cancellation (§13) passes `cancellation_fee` for what the
/// customer does not get back, in the transaction that also starts the refund of the
/// rest (`refunds::start`, source escrow).
pub async fn split(
    conn: &mut PgConnection,
    state: &PaymentState,
    part: i64,
    release_at: DateTime<Utc>,
    kind: &str,
) -> anyhow::Result<()> {
    let commission = commission_of(part, state.commission_bps);
    let reference = format!("order:{}:{}", state.id, kind.trim_start_matches("order_"));
    let legs = vec![
        (Account::Escrow(state.id), -part),
        (Account::Commission, commission),
        (Account::MitraPending(state.mitra_id), part - commission),
    ];
    ledger::post(conn, &Entry { reference: &reference, kind, about: about(state), legs }).await?;
    records::set_completion(conn, state.id, part, commission, release_at).await?;
    Ok(())
}

/// Moves what an order's earnings hold in pending to the mitra's available balance. The
/// reference names the newest posting of the order, so a repeated run posts nothing and
/// money that returned to pending later (a failed refund) is released by a later run.
pub async fn release(conn: &mut PgConnection, order_id: Uuid, mitra_id: Uuid) -> anyhow::Result<bool> {
    let balances = ledger::read::order_balances(conn, order_id).await?;
    if balances.mitra_pending <= 0 {
        return Ok(false);
    }
    let reference = format!("order:{order_id}:released:{}", balances.last_posting);
    let legs = vec![
        (Account::MitraPending(mitra_id), -balances.mitra_pending),
        (Account::MitraAvailable(mitra_id), balances.mitra_pending),
    ];
    let about = About { order_id: Some(order_id), mitra_id: Some(mitra_id), ..About::default() };
    Ok(ledger::post(conn, &Entry { reference: &reference, kind: "released", about, legs }).await?)
}

/// `public-gateway release-earnings`: releases every order due, in batches; each batch
/// locks its orders with SKIP LOCKED, so two overlapping runs never take the same order,
/// and each order's flag is cleared in the transaction that released it. Returns how many
/// orders it released.
pub async fn release_due(db: &sqlx::PgPool) -> anyhow::Result<u64> {
    const BATCH: i64 = 200;
    let mut released = 0;
    loop {
        let mut tx = db.begin().await?;
        let due = records::due_for_release(&mut tx, BATCH).await?;
        for (order_id, mitra_id) in &due {
            if release(&mut tx, *order_id, *mitra_id).await? {
                released += 1;
            }
        }
        let ids: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
        records::released(&mut tx, &ids).await?;
        tx.commit().await?;
        if (due.len() as i64) < BATCH {
            return Ok(released);
        }
    }
}
