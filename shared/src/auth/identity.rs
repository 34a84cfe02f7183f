//! Signing in by a verified identity (a phone, later Google or Apple): find or create the
//! user, and for a customer arriving with an anonymous session, upgrade it in place or
//! merge it into the customer who already owns the identity.

use anyhow::Context;
use sqlx::PgConnection;
use uuid::Uuid;

use super::issue::{self, Issued, NewSession};
use super::merge::merge_customer;
use super::AuthError;
use crate::http::ClientInfo;
use crate::phone::Phone;
use crate::providers::apple::ExchangeError;
use crate::providers::oidc::{IdProvider, VerifiedIdentity};
use crate::sessions::{self, RevokeReason, Scope};
use crate::state::AppState;
use crate::tokens::{Claims, UserType};
use crate::users::customers::{self, Identity};
use crate::users::{mitras, Account};

/// What a customer proved to be.
pub enum CustomerIdentity<'a> {
    Phone(&'a Phone),
    /// A verified Google or Apple account; `name` only fills an empty display name.
    Provider(&'a VerifiedIdentity),
}

/// Signs in the mitra owning `phone`, creating the account on first sign-in.
pub async fn sign_in_mitra(state: &AppState, phone: &Phone, client: &ClientInfo) -> Result<Issued, AuthError> {
    let new = issue::prepare(state).await?;
    let mut tx = state.db.begin().await.context("starting the sign-in")?;
    let (id, suspended) =
        mitras::find_or_create_by_phone(&mut tx, phone.as_str()).await.context("finding the mitra")?;
    if suspended {
        return Err(AuthError::AccountSuspended);
    }
    let issued = issue::start(
        &mut tx,
        state,
        &new,
        Account { id, user_type: UserType::Mitra, is_anonymous: false, role: None },
        client,
    )
    .await?;
    tx.commit().await.context("committing the sign-in")?;
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
    let new = issue::prepare(state).await?;
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
    let mut tx = state.db.begin().await.context("starting the sign-in")?;
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
            sessions::revoke(&mut *tx, Scope::User(UserType::Customer, anon), RevokeReason::Upgraded)
                .await
                .context("ending the anonymous sessions")?;
            anon
        }
        (None, Some(owner)) => owner,
        (None, None) => {
            let id = customers::create_identified(&mut tx).await.context("creating the customer")?;
            attach(&mut tx, id, identity).await?;
            id
        }
    };
    if customers::is_suspended(&mut tx, id).await.context("reading the customer")? {
        // Dropping the transaction undoes any upgrade or merge above.
        return Err(AuthError::AccountSuspended);
    }
    fill_profile(&mut tx, id, identity).await?;
    let account = Account { id, user_type: UserType::Customer, is_anonymous: false, role: None };
    let issued = issue::start(&mut tx, state, new, account, client).await?;
    tx.commit().await.context("committing the sign-in")?;
    Ok(issued)
}

/// The customer already holding `identity`, locked for the rest of the transaction.
async fn find_owner(conn: &mut PgConnection, identity: &CustomerIdentity<'_>) -> anyhow::Result<Option<Uuid>> {
    let owner = match identity {
        CustomerIdentity::Phone(phone) => customers::owner_of_phone(conn, phone.as_str()).await,
        CustomerIdentity::Provider(identity) => {
            customers::owner_of_identity(conn, identity.provider, &identity.subject).await
        }
    };
    owner.context("finding the identity's customer")
}

fn linkable(identity: &VerifiedIdentity) -> Identity<'_> {
    Identity { provider: identity.provider, subject: &identity.subject, email: identity.email.as_deref() }
}

/// Links `identity` to customer `id`, which stops being anonymous.
async fn attach(conn: &mut PgConnection, id: Uuid, identity: &CustomerIdentity<'_>) -> anyhow::Result<()> {
    match identity {
        CustomerIdentity::Phone(phone) => {
            customers::attach_phone(conn, id, phone.as_str()).await.context("setting the customer's phone")
        }
        CustomerIdentity::Provider(identity) => {
            customers::link_identity(conn, id, &linkable(identity)).await.context("linking the identity")
        }
    }
}

/// Fills the profile from what a provider told us (see `customers::record_provider_sign_in`).
async fn fill_profile(conn: &mut PgConnection, id: Uuid, identity: &CustomerIdentity<'_>) -> anyhow::Result<()> {
    let CustomerIdentity::Provider(identity) = identity else {
        return Ok(());
    };
    let name = identity.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    customers::record_provider_sign_in(conn, id, &linkable(identity), name).await.context("filling the profile")
}

/// The anonymous customer behind `claims`, if it is still anonymous and on its own. A
/// revoked session is refused rather than silently ignored, so the app learns to refresh.
async fn live_anonymous(conn: &mut PgConnection, claims: &Claims) -> Result<Option<Uuid>, AuthError> {
    let still_anonymous = customers::lock_if_anonymous(conn, claims.sub).await.context("reading the customer")?;
    let session_live =
        sessions::rows::live_of(conn, claims.session_id, claims.sub).await.context("reading the session")?;
    match (still_anonymous, session_live) {
        (Some(_), Some(false)) => Err(AuthError::SessionRevoked),
        (Some(true), Some(true)) => Ok(Some(claims.sub)),
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
    provider: IdProvider,
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
    provider: IdProvider,
    id_token: &str,
    raw_nonce: Option<&str>,
    full_name: Option<&str>,
    client: &ClientInfo,
) -> Result<VerifiedIdentity, AuthError> {
    let gateway = state.gateway()?;
    let verifier = match provider {
        IdProvider::Google => gateway.google.as_ref(),
        IdProvider::Apple => gateway.apple.as_ref(),
    }
    .ok_or(AuthError::ProviderNotConfigured)?;
    // Counted before the token is checked: a bad token costs a signature check too.
    let limit = gateway.settings.id_token_signins_per_ip_per_hour;
    let key = format!("id-token:ip:{}", client.rate_limit_key());
    AuthError::check(crate::ratelimit::hit(&state.db, &key, limit, 3600).await.context("counting the sign-in")?)?;
    let mut identity = verifier.verify(id_token, raw_nonce).await?;
    crate::auth::replay::first_use(&state.db, id_token, &identity).await?;
    if let Some(name) = full_name.map(str::trim).filter(|n| !n.is_empty()) {
        identity.name = Some(name.to_owned());
    }
    // A provider's name (Google's `name` claim, Apple's `full_name`) is held to the rules
    // of a name the user types (`users::profile::display_name`); one that breaks them is
    // dropped rather than refusing the sign-in, and the user can set a name later.
    identity.name = identity.name.as_deref().and_then(|name| crate::users::profile::display_name(name).ok());
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
    let identity = verified_identity(state, IdProvider::Apple, id_token, raw_nonce, full_name, client).await?;
    let grant = match (authorization_code, state.gateway()?.apple_grants.as_ref()) {
        (Some(code), Some(apple)) => match apple.exchange_code(&identity.client_id, &identity.subject, code).await {
            Ok(grant) => Some(grant.sealed),
            Err(ExchangeError::SubjectMismatch) => {
                tracing::warn!("Sign in with Apple refused: the authorization code belongs to another Apple account");
                return Err(AuthError::InvalidIdToken);
            }
            Err(ExchangeError::Failed(err)) => {
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
        customers::store_apple_grant(&state.db, issued.account.id, &identity.subject, &identity.client_id, &sealed)
            .await
            .context("storing the Apple grant")?;
    }
    Ok(issued)
}
