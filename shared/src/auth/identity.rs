//! Signing in by a verified identity (a phone, later Google or Apple): find or create the
//! user, and for a customer arriving with an anonymous session, upgrade it in place or
//! merge it into the customer who already owns the identity.

use anyhow::Context;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::sessions::{self, Issued, NewSession};
use crate::auth::AuthError;
use crate::http::ClientInfo;
use crate::phone::Phone;
use crate::providers::oidc::{Provider, VerifiedIdentity};
use crate::sessions::{revoke_all, RevokeReason};
use crate::state::AppState;
use crate::tokens::{Claims, UserType};
use crate::users::merge::merge_customer;
use crate::users::Account;

/// What a customer proved to be.
pub enum CustomerIdentity<'a> {
    Phone(&'a Phone),
    /// A verified Google or Apple account; `name` only fills an empty display name.
    Provider(&'a VerifiedIdentity),
}

/// Signs in the mitra owning `phone`, creating the account on first sign-in.
pub async fn sign_in_mitra(state: &AppState, phone: &Phone, client: &ClientInfo) -> Result<Issued, AuthError> {
    let new = sessions::prepare(state).await?;
    let mut tx = state.db.begin().await?;
    let (id, suspended): (Uuid, bool) = sqlx::query_as(
        "INSERT INTO mitras (id, phone) VALUES ($1, $2)
         ON CONFLICT (phone) DO UPDATE SET updated_at = mitras.updated_at
         RETURNING id, suspended_at IS NOT NULL",
    )
    .bind(Uuid::new_v4())
    .bind(phone.as_str())
    .fetch_one(&mut *tx)
    .await?;
    if suspended {
        return Err(AuthError::AccountSuspended);
    }
    let issued = sessions::start(
        &mut tx,
        state,
        &new,
        Account { id, user_type: UserType::Mitra, is_anonymous: false, role: None },
        client,
    )
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
            revoke_all(&mut tx, UserType::Customer, anon, RevokeReason::Upgraded).await?;
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
    let suspended: bool = sqlx::query_scalar("SELECT suspended_at IS NOT NULL FROM customers WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if suspended {
        // Dropping the transaction undoes any upgrade or merge above.
        return Err(AuthError::AccountSuspended);
    }
    fill_profile(&mut tx, id, identity).await?;
    let account = Account { id, user_type: UserType::Customer, is_anonymous: false, role: None };
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
        CustomerIdentity::Provider(identity) => {
            sqlx::query_scalar(
                "SELECT c.id FROM customer_identities i JOIN customers c ON c.id = i.customer_id
                 WHERE i.provider = $1 AND i.subject = $2 AND c.merged_into IS NULL FOR UPDATE OF c",
            )
            .bind(identity.provider.as_str())
            .bind(&identity.subject)
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
        CustomerIdentity::Provider(identity) => {
            sqlx::query(
                "INSERT INTO customer_identities (provider, subject, customer_id, email) VALUES ($1, $2, $3, $4)",
            )
            .bind(identity.provider.as_str())
            .bind(&identity.subject)
            .bind(id)
            .bind(&identity.email)
            .execute(&mut *conn)
            .await
            .context("linking the identity")?;
            sqlx::query("UPDATE customers SET is_anonymous = false, updated_at = now() WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await
                .context("marking the customer identified")?;
        }
    }
    Ok(())
}

/// Fills the profile from what a provider told us: a verified email when the customer
/// has none, a name when the stored one is empty (Apple sends it only once; an empty
/// name never overwrites a stored one).
async fn fill_profile(conn: &mut PgConnection, id: Uuid, identity: &CustomerIdentity<'_>) -> anyhow::Result<()> {
    let CustomerIdentity::Provider(identity) = identity else {
        return Ok(());
    };
    let name = identity.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    sqlx::query(
        "UPDATE customers SET
           email = COALESCE(email, $2),
           display_name = CASE WHEN COALESCE(display_name, '') = '' THEN COALESCE($3, display_name) ELSE display_name END,
           updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&identity.email)
    .bind(name)
    .execute(&mut *conn)
    .await
    .context("filling the profile")?;
    sqlx::query("UPDATE customer_identities SET last_sign_in_at = now() WHERE provider = $1 AND subject = $2")
        .bind(identity.provider.as_str())
        .bind(&identity.subject)
        .execute(conn)
        .await
        .context("recording the sign-in")?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AnonymousSession {
    still_anonymous: bool,
    session_live: bool,
}

/// The anonymous customer behind `claims`, if it is still anonymous and on its own. A
/// revoked session is refused rather than silently ignored, so the app learns to refresh.
async fn live_anonymous(conn: &mut PgConnection, claims: &Claims) -> Result<Option<Uuid>, AuthError> {
    let row: Option<AnonymousSession> = sqlx::query_as(
        "SELECT c.is_anonymous AND c.merged_into IS NULL AS still_anonymous, s.revoked_at IS NULL AS session_live
         FROM customers c JOIN auth_sessions s ON s.id = $2 AND s.user_id = c.id
         WHERE c.id = $1 FOR UPDATE OF c",
    )
    .bind(claims.sub)
    .bind(claims.session_id)
    .fetch_optional(conn)
    .await?;
    match row {
        Some(AnonymousSession { session_live: false, .. }) => Err(AuthError::SessionRevoked),
        Some(AnonymousSession { still_anonymous: true, session_live: true }) => Ok(Some(claims.sub)),
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

/// Signs a customer in with a Google or Apple ID token, within the per-IP hourly limit;
/// each token signs in once (see `auth::replay`). Apple's `full_name` (sent by the app
/// on the first authorization only) fills an empty display name.
pub async fn sign_in_with_id_token(
    state: &AppState,
    provider: Provider,
    id_token: &str,
    raw_nonce: Option<&str>,
    full_name: Option<&str>,
    anonymous: Option<&Claims>,
    client: &ClientInfo,
) -> Result<Issued, AuthError> {
    let identity = verified_identity(state, provider, id_token, raw_nonce, full_name, client).await?;
    sign_in_customer(state, CustomerIdentity::Provider(&identity), anonymous, client).await
}

/// The identity an ID token proves: limited per client address, verified, used once.
async fn verified_identity(
    state: &AppState,
    provider: Provider,
    id_token: &str,
    raw_nonce: Option<&str>,
    full_name: Option<&str>,
    client: &ClientInfo,
) -> Result<VerifiedIdentity, AuthError> {
    let verifier = match provider {
        Provider::Google => state.google.as_ref(),
        Provider::Apple => state.apple.as_ref(),
    }
    .ok_or(AuthError::ProviderNotConfigured)?;
    // Counted before the token is checked: a bad token costs a signature check too.
    let limit = state.settings.id_token_signins_per_ip_per_hour;
    let key = format!("id-token:ip:{}", client.rate_limit_key());
    AuthError::check(crate::ratelimit::hit(&state.db, &key, limit, 3600).await?)?;
    let mut identity = verifier.verify(id_token, raw_nonce).await?;
    crate::auth::replay::first_use(&state.db, id_token, &identity).await?;
    if let Some(name) = full_name.map(str::trim).filter(|n| !n.is_empty()) {
        identity.name = Some(name.to_owned());
    }
    Ok(identity)
}

/// Signs a customer in with Sign in with Apple. With an `authorization_code` and Apple
/// credentials configured, the code is exchanged for Apple's refresh token, kept sealed
/// so that deleting the account can revoke the grant. The exchange happens before any
/// transaction; if Apple cannot be reached, the sign-in still succeeds and the grant is
/// simply not revocable later (logged).
#[allow(clippy::too_many_arguments)]
pub async fn sign_in_with_apple(
    state: &AppState,
    id_token: &str,
    raw_nonce: Option<&str>,
    full_name: Option<&str>,
    authorization_code: Option<&str>,
    anonymous: Option<&Claims>,
    client: &ClientInfo,
) -> Result<Issued, AuthError> {
    let identity = verified_identity(state, Provider::Apple, id_token, raw_nonce, full_name, client).await?;
    let grant = match (authorization_code, state.apple_grants.as_ref()) {
        (Some(code), Some(apple)) => match apple.exchange_code(&identity.client_id, code).await {
            Ok(sealed) => Some(sealed),
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "Apple authorization code not exchanged; the grant cannot be revoked on deletion"
                );
                None
            }
        },
        (Some(_), None) => {
            tracing::warn!(
                "authorization_code ignored: APPLE_TEAM_ID, APPLE_KEY_ID and APPLE_PRIVATE_KEY are not configured"
            );
            None
        }
        (None, _) => None,
    };
    let issued = sign_in_customer(state, CustomerIdentity::Provider(&identity), anonymous, client).await?;
    if let Some(sealed) = grant {
        sqlx::query(
            "UPDATE customer_identities SET provider_client_id = $3, provider_refresh_token = $4
             WHERE provider = 'apple' AND subject = $1 AND customer_id = $2",
        )
        .bind(&identity.subject)
        .bind(issued.account.id)
        .bind(&identity.client_id)
        .bind(sealed)
        .execute(&state.db)
        .await
        .context("storing the Apple grant")?;
    }
    Ok(issued)
}
