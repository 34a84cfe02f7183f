//! Account deletion by the user (App Store rule 5.1.1(v)): in one transaction every
//! session ends (the revocation trigger tells every instance, so the tokens fail at once),
//! the phone, email, name, linked identities and push devices are erased, and the row is
//! marked deleted. The row itself stays, anonymised, so records that must outlive the
//! account (orders, for accounting; staff audit entries) keep pointing at something.
//! Because the phone and identities are gone, the same phone or Google/Apple account
//! signs up later as a brand-new user.
//!
//! A customer who signed in with Apple also has the Apple grant revoked: the stored
//! refresh token moves to the `apple_revocations` outbox in the same transaction (see
//! `providers::apple`).

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use crate::sessions::{revoke_all, RevokeReason};
use crate::tokens::UserType;

#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// Already deleted, or merged into another customer.
    #[error("this account no longer exists")]
    Gone,
    /// A mitra with an order that is paid or accepted must finish or decline it first.
    #[error("finish or decline your paid and accepted orders before deleting the account")]
    OpenOrders,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for DeleteError {
    fn from(err: sqlx::Error) -> Self {
        DeleteError::Unexpected(err.into())
    }
}

/// Deletes a customer (anonymous or not).
#[tracing::instrument(skip_all, fields(customer_id = %id))]
pub async fn delete_customer(db: &PgPool, id: Uuid, apple_configured: bool) -> Result<(), DeleteError> {
    let mut tx = db.begin().await?;
    let live: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM customers WHERE id = $1 AND merged_into IS NULL AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if live.is_none() {
        return Err(DeleteError::Gone);
    }
    revoke_all(&mut tx, UserType::Customer, id, RevokeReason::Deleted).await.context("ending sessions")?;
    let queued = sqlx::query(
        "INSERT INTO apple_revocations (client_id, refresh_token)
         SELECT provider_client_id, provider_refresh_token FROM customer_identities
         WHERE customer_id = $1 AND provider = 'apple'
           AND provider_client_id IS NOT NULL AND provider_refresh_token IS NOT NULL",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .context("queueing Apple revocations")?
    .rows_affected();
    let apple_identities: i64 =
        sqlx::query_scalar("SELECT count(*) FROM customer_identities WHERE customer_id = $1 AND provider = 'apple'")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query("DELETE FROM customer_identities WHERE customer_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("erasing identities")?;
    sqlx::query("DELETE FROM devices WHERE user_type = 'customer' AND user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("erasing devices")?;
    sqlx::query(
        "UPDATE customers SET phone = NULL, email = NULL, display_name = NULL, deleted_at = now(), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .context("anonymising the customer")?;
    tx.commit().await?;

    let unrevocable = apple_identities - i64::try_from(queued).unwrap_or(i64::MAX);
    if unrevocable > 0 {
        tracing::warn!(
            unrevocable,
            "the customer's Sign in with Apple grant could not be revoked: no Apple refresh token was stored \
             (APPLE_TEAM_ID, APPLE_KEY_ID and APPLE_PRIVATE_KEY were not configured, or the app sent no \
             authorization_code)"
        );
    }
    if queued > 0 && !apple_configured {
        tracing::warn!(queued, "Apple revocations are queued but APPLE_* is not configured to send them");
    }
    tracing::info!("customer deleted their account");
    Ok(())
}

/// Deletes a mitra, unless it has an order that is paid or accepted (its customer is
/// waiting): those must be completed or declined first.
#[tracing::instrument(skip_all, fields(mitra_id = %id))]
pub async fn delete_mitra(db: &PgPool, id: Uuid) -> Result<(), DeleteError> {
    let mut tx = db.begin().await?;
    let live: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM mitras WHERE id = $1 AND deleted_at IS NULL FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if live.is_none() {
        return Err(DeleteError::Gone);
    }
    let open_orders: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM orders WHERE mitra_id = $1 AND status IN ('paid', 'accepted'))",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if open_orders {
        return Err(DeleteError::OpenOrders);
    }
    revoke_all(&mut tx, UserType::Mitra, id, RevokeReason::Deleted).await.context("ending sessions")?;
    sqlx::query("DELETE FROM devices WHERE user_type = 'mitra' AND user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("erasing devices")?;
    sqlx::query(
        "UPDATE mitras SET phone = NULL, display_name = NULL, bio = '', is_online = false, deleted_at = now(),
                           updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .context("anonymising the mitra")?;
    tx.commit().await?;
    tracing::info!("mitra deleted their account");
    Ok(())
}

impl From<DeleteError> for crate::ApiError {
    fn from(err: DeleteError) -> Self {
        match err {
            DeleteError::Gone => crate::ApiError::new(crate::ErrorCode::NotFound, err.to_string()),
            DeleteError::OpenOrders => crate::ApiError::new(crate::ErrorCode::InvalidState, err.to_string()),
            DeleteError::Unexpected(cause) => crate::ApiError::internal(&cause),
        }
    }
}
