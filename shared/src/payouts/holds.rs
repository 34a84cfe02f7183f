//! Staff's payout holds (§12): while one stands, nothing is paid to the mitra. Putting
//! and lifting one are admin writes, each audited in the same transaction.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::PayoutError;
use crate::audit::{self, StaffActor, Target};
use crate::users;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PayoutHold {
    pub reason: String,
    pub since: DateTime<Utc>,
}

pub async fn get(db: &PgPool, mitra_id: Uuid) -> sqlx::Result<Option<PayoutHold>> {
    sqlx::query_as("SELECT reason, since FROM payout_holds WHERE mitra_id = $1").bind(mitra_id).fetch_optional(db).await
}

fn target(mitra_id: Uuid) -> Option<Target<'static>> {
    Some(Target { kind: "mitra", id: mitra_id.to_string() })
}

/// Puts (or replaces) a hold on the mitra's payouts.
pub async fn put(db: &PgPool, actor: &StaffActor, mitra_id: Uuid, reason: &str) -> Result<PayoutHold, PayoutError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(PayoutError::Invalid("reason: 1 to 1000 characters".into()));
    }
    let mut tx = db.begin().await.context("starting the hold")?;
    if !users::mitras::exists(&mut *tx, mitra_id).await? {
        return Err(PayoutError::NotFound("no such mitra"));
    }
    let hold: PayoutHold = sqlx::query_as(
        "INSERT INTO payout_holds (mitra_id, reason, created_by) VALUES ($1, $2, $3)
         ON CONFLICT (mitra_id) DO UPDATE SET reason = $2, created_by = $3
         RETURNING reason, since",
    )
    .bind(mitra_id)
    .bind(reason)
    .bind(actor.id)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(&mut tx, actor, "mitra.payout_hold.put", target(mitra_id), json!({ "reason": reason })).await?;
    tx.commit().await.context("committing the hold")?;
    Ok(hold)
}

/// Lifts the hold; `NotFound` when the mitra does not exist.
pub async fn lift(db: &PgPool, actor: &StaffActor, mitra_id: Uuid) -> Result<(), PayoutError> {
    let mut tx = db.begin().await.context("starting the release")?;
    if !users::mitras::exists(&mut *tx, mitra_id).await? {
        return Err(PayoutError::NotFound("no such mitra"));
    }
    let lifted = sqlx::query("DELETE FROM payout_holds WHERE mitra_id = $1").bind(mitra_id).execute(&mut *tx).await?;
    audit::append(
        &mut tx,
        actor,
        "mitra.payout_hold.lift",
        target(mitra_id),
        json!({ "had_hold": lifted.rows_affected() > 0 }),
    )
    .await?;
    tx.commit().await.context("committing the release")?;
    Ok(())
}
