//! Issuing sessions: the token pair a sign-in hands out, over a session row (one per login
//! on one device, kept by `crate::sessions`).
//!
//! A refresh token is `<session id>.<counter>.<secret>`. The row keeps the counter and a
//! bcrypt hash of the newest secret. How a refresh checks and rotates it, in which order
//! and at what cost, is in [`super::refresh`].
//!
//! **The secret, and why the hash is kept.** The secret is `HMAC(refresh key, session id
//! ‖ counter)`. There is one refresh key per configured JWT secret (current and previous,
//! derived in `tokens`), and new secrets are always made with the current one. That keeps
//! the common path cheap: a genuine secret is recognised by HMAC in microseconds, a retry
//! inside the grace window gets the winner's token recomputed rather than stored, and a
//! refresh costs exactly one bcrypt (hashing the next secret). The stored bcrypt hash is
//! what decides once no configured key made the presented secret, i.e. after its key was
//! removed from `AUTH_JWT_PREVIOUS_SECRETS`: the newest token of a live session is then
//! checked against the hash (a second bcrypt, once) and its successor is made with the
//! current key. So rotating `AUTH_JWT_SECRET` never signs anyone out, even once the old
//! secret is gone, and only a live session's newest counter can ever reach a bcrypt.
//! An older token (grace or reuse) must verify under a configured key; with its key gone
//! it is `invalid_refresh_token` and revokes nothing, so no forger can end a session.
//! This was preferred to a separate long-lived refresh key with its own versions: one
//! secret to manage, and the hash already in every row gives the same survival.
//!
//! **What leaks give.** A database-only leak gives, per session, its id, counter and a
//! bcrypt hash of a 256-bit HMAC output: finding a secret that matches means guessing 256
//! random bits, so the rows yield no refresh token (a test presents tokens built from
//! them). A leaked `AUTH_JWT_SECRET` lets its holder compute the secret of any session
//! whose id they know, and the hash check keeps that working after the key's removal;
//! hence the emergency runbook removes the key *and* runs `revoke-sessions
//! --issued-before` once the new key is live.

use anyhow::Context;
use sqlx::PgConnection;
use uuid::Uuid;

use super::AuthError;
use crate::http::ClientInfo;
pub use crate::sessions::rows::REFRESH_TOKEN_TTL_SECS;
use crate::sessions::rows::{self, NewRow};
use crate::sessions::{revoke, RevokeReason, Scope};
use crate::state::AppState;
use crate::tokens::hashing;
use crate::tokens::UserType;
use crate::users::{self, Account, Standing};

/// A session whose id and first secret exist but whose row is not written yet. Made
/// before the caller's transaction so bcrypt never runs while a transaction is open.
pub struct NewSession {
    id: Uuid,
    secret_hash: String,
}

/// What a successful sign-in or refresh hands to the client.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    /// `exp` of the access token, seconds since the epoch.
    pub access_expires_at: i64,
    pub refresh_token: String,
    pub session_id: Uuid,
    pub account: Account,
}

/// Hashes the first secret of a new session.
pub async fn prepare(state: &AppState) -> Result<NewSession, AuthError> {
    let id = Uuid::new_v4();
    let secret = state.keys.refresh_secret(id, 0);
    let secret_hash = hashing::hash(secret, state.settings().refresh_token_bcrypt_cost).await?;
    Ok(NewSession { id, secret_hash })
}

/// Writes the session row inside the caller's transaction and mints its tokens.
pub async fn start(
    conn: &mut PgConnection,
    state: &AppState,
    new: &NewSession,
    account: Account,
    client: &ClientInfo,
) -> Result<Issued, AuthError> {
    let row = NewRow {
        id: new.id,
        user_type: account.user_type,
        user_id: account.id,
        secret_hash: &new.secret_hash,
        user_agent: client.user_agent.as_deref(),
        ip: client.ip.map(|ip| ip.to_string()),
    };
    rows::insert(conn, &row).await.context("writing the session")?;
    Ok(issue(state, new.id, 0, account))
}

pub(super) fn issue(state: &AppState, session_id: Uuid, counter: i64, account: Account) -> Issued {
    let now = chrono::Utc::now().timestamp();
    let (access_token, access_expires_at) =
        state.keys.mint_with_role(account.id, account.user_type, session_id, account.role, now);
    let secret = state.keys.refresh_secret(session_id, counter);
    Issued {
        access_token,
        access_expires_at,
        refresh_token: format!("{}.{counter}.{secret}", session_id.simple()),
        session_id,
        account,
    }
}

/// The session's user, if it may still hold sessions; otherwise the session is revoked
/// (inside the caller's transaction, which the caller commits) and the reason returned.
pub(super) async fn active_account(
    conn: &mut PgConnection,
    session_id: Uuid,
    user_type: UserType,
    user_id: Uuid,
) -> Result<Account, AuthError> {
    let (reason, refusal) = match users::standing(conn, user_type, user_id).await.context("reading the user")? {
        Standing::Active(account) => return Ok(account),
        Standing::Disabled => (RevokeReason::Disabled, AuthError::AccountDisabled),
        Standing::Suspended => (RevokeReason::Suspended, AuthError::AccountSuspended),
        Standing::Gone => (RevokeReason::Merged, AuthError::SessionRevoked),
    };
    revoke(conn, Scope::Session(session_id), reason).await.context("ending the session")?;
    Err(refusal)
}
