//! An account's end: deletion by the user (App Store rule 5.1.1(v)), in one transaction
//! that asks each owner to erase its part: every session ends (`sessions`; the
//! revocation trigger tells every instance, so the tokens fail at once), the phone,
//! email, name and linked identities are erased (`users`), the push devices forgotten
//! (`notifications`), the bodies of its chat messages and the comments of its reviews
//! erased (`marketplace`; ratings stay, anonymised), and the row is marked deleted. The row itself stays, anonymised,
//! so records that must outlive the account (orders, for accounting; staff audit
//! entries) keep pointing at something. Because the phone and identities are gone, the
//! same phone or Google/Apple account signs up later as a brand-new user.
//!
//! A customer who signed in with Apple also has the Apple grant revoked: the stored
//! refresh token moves to the `apple_revocations` outbox in the same transaction (see
//! `providers::apple`).

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use crate::marketplace::{chat, orders, reviews, Party};
use crate::notifications;
use crate::providers::apple;
use crate::sessions::{self, RevokeReason, Scope};
use crate::tokens::UserType;
use crate::users::{customers, mitras};

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
    let mut tx = db.begin().await.context("starting the deletion")?;
    if !customers::lock_live(&mut tx, id).await.context("locking the customer")? {
        return Err(DeleteError::Gone);
    }
    sessions::revoke(&mut *tx, Scope::User(UserType::Customer, id), RevokeReason::Deleted)
        .await
        .context("ending sessions")?;
    let erased = customers::erase(&mut tx, id).await.context("erasing the customer")?;
    let grants: Vec<(&str, &[u8])> =
        erased.apple_grants.iter().map(|g| (g.client_id.as_str(), g.refresh_token.as_slice())).collect();
    apple::queue_revocations(&mut tx, &grants).await.context("queueing Apple revocations")?;
    notifications::erase_user(&mut tx, UserType::Customer, id).await?;
    erase_conversations(&mut tx, Party::Customer(id)).await?;
    tx.commit().await.context("committing the deletion")?;

    let (unrevocable, queued) = (erased.unrevocable_apple, grants.len());
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
    let mut tx = db.begin().await.context("starting the deletion")?;
    if !mitras::lock_live(&mut tx, id).await.context("locking the mitra")? {
        return Err(DeleteError::Gone);
    }
    if orders::mitra_has_open_orders(&mut tx, id).await.context("looking for open orders")? {
        return Err(DeleteError::OpenOrders);
    }
    sessions::revoke(&mut *tx, Scope::User(UserType::Mitra, id), RevokeReason::Deleted)
        .await
        .context("ending sessions")?;
    notifications::erase_user(&mut tx, UserType::Mitra, id).await?;
    erase_conversations(&mut tx, Party::Mitra(id)).await?;
    mitras::erase(&mut tx, id).await.context("erasing the mitra")?;
    tx.commit().await.context("committing the deletion")?;
    tracing::info!("mitra deleted their account");
    Ok(())
}

/// What a deleted party said in its orders: message bodies and review comments (ratings
/// stay, anonymised with the account), in the deletion's transaction.
async fn erase_conversations(conn: &mut sqlx::PgConnection, party: Party) -> anyhow::Result<()> {
    chat::erase_party(&mut *conn, party).await.context("erasing message bodies")?;
    reviews::erase_party(conn, party).await.context("erasing review comments")?;
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
