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
//! `providers::apple`), and is dropped from there once Apple confirms.
//!
//! No personal data stays behind (security review L-4). Besides the account row, each
//! owner erases its copies: the sessions' addresses and user agents (`sessions`), the
//! phone's codes, send log and limiter counters (`auth::otp`), the user's events
//! (`realtime`) and notifications (`notifications`); for a customer also the notes on
//! its orders (`marketplace`), the note inside the mitra's copies of those orders
//! (`realtime`), and the payer's details in the stored payment callbacks (`payments`).
//! Per-address limiter counters are not the account's and expire within their hour.
//!
//! A customer with an order paid but not yet accepted cannot delete the account (409
//! `invalid_state`): only the customer may cancel that order for its full refund, and
//! would lose the way to. Refusing is simpler than cancelling and refunding inside the
//! deletion, and leaves the choice (cancel, or wait for the mitra) with the customer.

use anyhow::Context;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::auth::otp;
use crate::marketplace::{areas, chat, orders, reviews, Party};
use crate::notifications;
use crate::payments::records;
use crate::providers::apple;
use crate::realtime;
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
    /// A customer with an order paid but not yet accepted must cancel it (a full refund)
    /// or wait for the mitra first.
    #[error("an order of yours is paid and waiting for the mitra: cancel it (you are refunded in full) or wait for the mitra to accept it before deleting the account")]
    PaidOrders,
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
    if orders::customer_has_unaccepted_paid_orders(&mut tx, id).await.context("looking for paid orders")? {
        return Err(DeleteError::PaidOrders);
    }
    sessions::revoke(&mut *tx, Scope::User(UserType::Customer, id), RevokeReason::Deleted)
        .await
        .context("ending sessions")?;
    let erased = customers::erase(&mut tx, id).await.context("erasing the customer")?;
    let grants: Vec<apple::GrantToRevoke> = erased
        .apple_grants
        .iter()
        .map(|g| apple::GrantToRevoke { client_id: &g.client_id, subject: &g.subject, refresh_token: &g.refresh_token })
        .collect();
    apple::queue_revocations(&mut tx, &grants).await.context("queueing Apple revocations")?;
    erase_traces(&mut tx, UserType::Customer, id, erased.phone.as_deref()).await?;
    let order_ids = orders::redact_customer_notes(&mut tx, id).await.context("erasing order notes")?;
    realtime::redact_order_notes(&mut tx, &order_ids).await.context("erasing notes in events")?;
    records::redact_callbacks(&mut tx, &order_ids).await.context("erasing payer details")?;
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
    let phone = mitras::erase(&mut tx, id).await.context("erasing the mitra")?;
    crate::payouts::accounts::erase(&mut tx, id).await.context("erasing the payout account")?;
    areas::delete(&mut *tx, id).await.context("erasing the service area")?;
    erase_traces(&mut tx, UserType::Mitra, id, phone.as_deref()).await?;
    erase_conversations(&mut tx, Party::Mitra(id)).await?;
    tx.commit().await.context("committing the deletion")?;
    tracing::info!("mitra deleted their account");
    Ok(())
}

/// What both kinds of account leave outside their own row: sessions' client details,
/// the phone's codes and counters, devices, notifications and events.
async fn erase_traces(
    tx: &mut PgConnection,
    user_type: UserType,
    id: Uuid,
    phone: Option<&str>,
) -> Result<(), DeleteError> {
    sessions::erase_client_details(&mut *tx, user_type, id).await.context("erasing session details")?;
    if let Some(phone) = phone {
        otp::erase_phone(&mut *tx, user_type, phone).await?;
    }
    notifications::erase_user(&mut *tx, user_type, id).await?;
    realtime::erase_user_events(&mut *tx, user_type, id).await.context("erasing events")?;
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
            DeleteError::OpenOrders | DeleteError::PaidOrders => {
                crate::ApiError::new(crate::ErrorCode::InvalidState, err.to_string())
            }
            DeleteError::Unexpected(cause) => crate::ApiError::internal(&cause),
        }
    }
}
