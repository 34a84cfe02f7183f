//! Disputes (§11): within the hold after completion the customer may report a problem;
//! the order's earnings are not released while it is open, and an admin resolves it by
//! release or refund (`staff::resolve_dispute`). Owns `disputes`: at most one open per
//! order (a partial unique index).

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{records, PaymentError, Payments};
use crate::marketplace::orders::{self, OrderStatus};
use crate::marketplace::MarketError;

impl Payments {
    /// `POST /api/client/orders/{id}/dispute`: 409 `invalid_state` unless the order is
    /// completed and still within the hold, or when a dispute is already open.
    pub async fn open_dispute(&self, customer_id: Uuid, id: Uuid, reason: &str) -> Result<orders::Order, PaymentError> {
        let reason = crate::marketplace::text("reason", reason, 1, 1000)?;
        let mut tx = self.db.begin().await?;
        let state = records::lock(&mut tx, id).await?.filter(|s| s.customer_id == customer_id);
        let state = state.ok_or(MarketError::NotFound("no such order"))?;
        let within = state.release_at.is_some_and(|at| at > Utc::now());
        if state.status != OrderStatus::Completed || !within {
            return Err(MarketError::InvalidState(format!(
                "a dispute can be opened only for a completed order, within {} hours of completion",
                self.money.earnings_hold_hours
            ))
            .into());
        }
        let opened = sqlx::query(
            "INSERT INTO disputes (id, order_id, reason) VALUES ($1, $2, $3) ON CONFLICT (order_id) WHERE status = 'open'
             DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(id)
        .bind(&reason)
        .execute(&mut *tx)
        .await?;
        if opened.rows_affected() == 0 {
            return Err(MarketError::InvalidState("a dispute is already open for this order".into()).into());
        }
        tx.commit().await?;
        tracing::info!(order_id = %id, "dispute opened");
        Ok(orders::get_any(&self.db, id).await?.ok_or(MarketError::NotFound("no such order"))?)
    }
}

/// The order's open dispute, locked.
pub async fn lock_open(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM disputes WHERE order_id = $1 AND status = 'open' FOR UPDATE")
        .bind(order_id)
        .fetch_optional(conn)
        .await
}

pub async fn resolve(conn: &mut PgConnection, id: Uuid, refund: bool, note: &str, by: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE disputes SET status = 'resolved', outcome = $2, note = $3, resolved_at = now(), resolved_by = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(if refund { "refund" } else { "release" })
    .bind(note)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}
