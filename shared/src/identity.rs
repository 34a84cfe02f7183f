//! Signing in by a verified identity (a phone, later Google or Apple): find or create the
//! user, and for a customer arriving with an anonymous session, upgrade it in place or
//! merge it into the customer who already owns the identity.

use anyhow::Context;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::sessions::{self, Issued, NewSession};
use crate::auth::tokens::{Claims, UserType};
use crate::auth::AuthError;
use crate::http::ClientInfo;
use crate::phone::Phone;
use crate::state::AppState;
use crate::users::merge::merge_customer;
use crate::users::Account;

/// What a customer proved to be.
pub enum CustomerIdentity<'a> {
    Phone(&'a Phone),
}

/// Signs in the mitra owning `phone`, creating the account on first sign-in.
pub async fn sign_in_mitra(state: &AppState, phone: &Phone, client: &ClientInfo) -> Result<Issued, AuthError> {
    let new = sessions::prepare(state).await?;
    let mut tx = state.db.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO mitras (id, phone) VALUES ($1, $2)
         ON CONFLICT (phone) DO UPDATE SET updated_at = mitras.updated_at
         RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(phone.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let issued =
        sessions::start(&mut tx, state, &new, Account { id, user_type: UserType::Mitra, is_anonymous: false }, client)
            .await?;
    tx.commit().await?;
    Ok(issued)
}

/// Signs in the customer owning `identity`. With `anonymous` (the claims of an anonymous
/// customer's bearer token): a new identity upgrades that customer in place; an identity
/// that belongs to another customer signs that one in and merges the anonymous one into it.
pub async fn sign_in_customer(
    state: &AppState,
    identity: CustomerIdentity<'_>,
    anonymous: Option<&Claims>,
    client: &ClientInfo,
) -> Result<Issued, AuthError> {
    let new = sessions::prepare(state).await?;
    // Two first sign-ins racing for one identity: the loser hits the unique constraint,
    // and on the second try finds the winner's customer.
    match sign_in_customer_once(state, &identity, anonymous, client, &new).await {
        Err(AuthError::Unexpected(err)) if is_unique_violation(&err) => {
            sign_in_customer_once(state, &identity, anonymous, client, &new).await
        }
        other => other,
    }
}

async fn sign_in_customer_once(
    state: &AppState,
    identity: &CustomerIdentity<'_>,
    anonymous: Option<&Claims>,
    client: &ClientInfo,
    new: &NewSession,
) -> Result<Issued, AuthError> {
    let mut tx = state.db.begin().await?;
    let owner = find_owner(&mut tx, identity).await?;
    let anon = match anonymous {
        Some(claims) => live_anonymous(&mut tx, claims).await?,
        None => None,
    };
    let id = match (anon, owner) {
        (Some(anon), Some(owner)) if anon != owner => {
            merge_customer(&mut tx, anon, owner).await?;
            owner
        }
        (Some(anon), _) => {
            attach(&mut tx, anon, identity).await?;
            sqlx::query(
                "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'upgraded'
                 WHERE user_type = 'customer' AND user_id = $1 AND revoked_at IS NULL",
            )
            .bind(anon)
            .execute(&mut *tx)
            .await?;
            anon
        }
        (None, Some(owner)) => owner,
        (None, None) => {
            let id = Uuid::new_v4();
            sqlx::query("INSERT INTO customers (id, is_anonymous) VALUES ($1, false)")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            attach(&mut tx, id, identity).await?;
            id
        }
    };
    let account = Account { id, user_type: UserType::Customer, is_anonymous: false };
    let issued = sessions::start(&mut tx, state, new, account, client).await?;
    tx.commit().await?;
    Ok(issued)
}

/// The customer already holding `identity`, locked for the rest of the transaction.
async fn find_owner(conn: &mut PgConnection, identity: &CustomerIdentity<'_>) -> sqlx::Result<Option<Uuid>> {
    match identity {
        CustomerIdentity::Phone(phone) => {
            sqlx::query_scalar("SELECT id FROM customers WHERE phone = $1 AND merged_into IS NULL FOR UPDATE")
                .bind(phone.as_str())
                .fetch_optional(conn)
                .await
        }
    }
}

/// Links `identity` to customer `id`, which stops being anonymous.
async fn attach(conn: &mut PgConnection, id: Uuid, identity: &CustomerIdentity<'_>) -> anyhow::Result<()> {
    match identity {
        CustomerIdentity::Phone(phone) => {
            sqlx::query("UPDATE customers SET phone = $2, is_anonymous = false, updated_at = now() WHERE id = $1")
                .bind(id)
                .bind(phone.as_str())
                .execute(conn)
                .await
                .context("setting the customer's phone")?;
        }
    }
    Ok(())
}

/// The anonymous customer behind `claims`, if it is still anonymous and on its own. A
/// revoked session is refused rather than silently ignored, so the app learns to refresh.
async fn live_anonymous(conn: &mut PgConnection, claims: &Claims) -> Result<Option<Uuid>, AuthError> {
    let row: Option<(bool, bool)> = sqlx::query_as(
        "SELECT c.is_anonymous AND c.merged_into IS NULL, s.revoked_at IS NULL
         FROM customers c JOIN auth_sessions s ON s.id = $2 AND s.user_id = c.id
         WHERE c.id = $1 FOR UPDATE OF c",
    )
    .bind(claims.sub)
    .bind(claims.session_id)
    .fetch_optional(conn)
    .await?;
    match row {
        Some((_, false)) => Err(AuthError::SessionRevoked),
        Some((true, true)) => Ok(Some(claims.sub)),
        _ => Ok(None),
    }
}

fn is_unique_violation(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .is_some_and(|db| db.is_unique_violation())
    })
}
