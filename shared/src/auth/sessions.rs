//! Sessions: one row per login on one device, and the rotation of its refresh token.
//!
//! A refresh token is `<session id>.<counter>.<secret>`, where the secret is an HMAC of
//! (session id, counter) under a server key. The row keeps the counter and a bcrypt hash
//! of the current secret. Because the secret of any counter can be recomputed, a
//! refresh is: check the HMAC (cheap, no database), hash the next secret (one bcrypt, no
//! database connection held), then one conditional UPDATE that rotates only if the
//! counter is still the presented one. Whoever loses that race finds the counter one
//! ahead within the grace window and gets the very token the winner got.

use anyhow::Context;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::hashing;
use super::tokens::UserType;
use super::AuthError;
use crate::http::ClientInfo;
use crate::state::AppState;
use crate::users::{self, Account, Standing};

/// A session lives this long after its last rotation.
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
/// After a rotation, the previous token still returns the new one for this long.
pub const GRACE_SECS: i64 = 10;

/// Why a session was revoked, as stored in `revoked_reason`.
#[derive(Debug, Clone, Copy)]
pub enum RevokeReason {
    Logout,
    Reuse,
    Merged,
    Disabled,
    /// An anonymous customer's session, replaced by the one its sign-in created.
    Upgraded,
    /// The user deleted their account.
    Deleted,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::Reuse => "refresh_token_reused",
            RevokeReason::Merged => "merged",
            RevokeReason::Disabled => "disabled",
            RevokeReason::Upgraded => "upgraded",
            RevokeReason::Deleted => "deleted",
        }
    }
}

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
    let secret_hash = hashing::hash(secret, state.settings.refresh_token_bcrypt_cost).await?;
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
    sqlx::query(
        "INSERT INTO auth_sessions (id, user_id, user_type, counter, secret_hash, expires_at, user_agent, ip)
         VALUES ($1, $2, $3, 0, $4, now() + make_interval(secs => $5), $6, $7)",
    )
    .bind(new.id)
    .bind(account.id)
    .bind(account.user_type.as_str())
    .bind(&new.secret_hash)
    .bind(REFRESH_TOKEN_TTL_SECS as f64)
    .bind(client.user_agent.as_deref().map(|ua| truncate(ua, 512)))
    .bind(client.ip.map(|ip| ip.to_string()))
    .execute(conn)
    .await
    .context("inserting session")?;
    Ok(issue(state, new.id, 0, account))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

fn issue(state: &AppState, session_id: Uuid, counter: i64, account: Account) -> Issued {
    let now = chrono::Utc::now().timestamp();
    let (access_token, access_expires_at) = state.keys.mint(account.id, account.user_type, session_id, now);
    let secret = state.keys.refresh_secret(session_id, counter);
    Issued {
        access_token,
        access_expires_at,
        refresh_token: format!("{}.{counter}.{secret}", session_id.simple()),
        session_id,
        account,
    }
}

/// A refresh token split into its parts; only well-formed tokens get this far.
struct Presented<'a> {
    session_id: Uuid,
    counter: i64,
    secret: &'a str,
}

fn parse(token: &str) -> Option<Presented<'_>> {
    let mut parts = token.split('.');
    let (id, counter, secret) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || id.len() != 32 || secret.is_empty() || secret.len() > 64 {
        return None;
    }
    let counter: i64 = counter.parse().ok().filter(|c| *c >= 0 && counter.len() <= 19)?;
    Some(Presented { session_id: Uuid::try_parse(id).ok()?, counter, secret })
}

/// Rotates a refresh token. `allowed` names the user types this transport serves (the
/// mobile endpoint refuses staff tokens and the other way round).
#[tracing::instrument(skip_all)]
pub async fn refresh(state: &AppState, token: &str, allowed: &[UserType]) -> Result<Issued, AuthError> {
    let presented = parse(token).ok_or(AuthError::InvalidRefreshToken)?;
    if !state.keys.refresh_secret_matches(presented.session_id, presented.counter, presented.secret) {
        return Err(AuthError::InvalidRefreshToken);
    }
    let (id, counter) = (presented.session_id, presented.counter);
    let next_hash =
        hashing::hash(state.keys.refresh_secret(id, counter + 1), state.settings.refresh_token_bcrypt_cost).await?;
    let allowed: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();

    let mut tx = state.db.begin().await?;
    let rotated: Option<(Uuid, String)> = sqlx::query_as(
        "UPDATE auth_sessions
         SET counter = counter + 1, secret_hash = $3, rotated_at = now(),
             expires_at = now() + make_interval(secs => $4)
         WHERE id = $1 AND counter = $2 AND revoked_at IS NULL AND expires_at > now()
           AND user_type = ANY($5)
         RETURNING user_id, user_type",
    )
    .bind(id)
    .bind(counter)
    .bind(&next_hash)
    .bind(REFRESH_TOKEN_TTL_SECS as f64)
    .bind(&allowed)
    .fetch_optional(&mut *tx)
    .await?;

    if let Some((user_id, user_type)) = rotated {
        let user_type = UserType::parse(&user_type).context("stored user_type")?;
        let account = active_account(&mut tx, id, user_type, user_id).await;
        tx.commit().await?;
        return account.map(|account| issue(state, id, counter + 1, account));
    }

    let row: Option<(Uuid, String, i64, bool, bool, bool)> = sqlx::query_as(
        "SELECT user_id, user_type, counter, revoked_at IS NOT NULL, expires_at <= now(),
                rotated_at > now() - make_interval(secs => $2)
         FROM auth_sessions WHERE id = $1",
    )
    .bind(id)
    .bind(GRACE_SECS as f64)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, user_type, current, revoked, expired, in_grace)) = row else {
        return Err(AuthError::InvalidRefreshToken);
    };
    if !allowed.contains(&user_type.as_str()) {
        return Err(AuthError::InvalidRefreshToken);
    }
    let user_type = UserType::parse(&user_type).context("stored user_type")?;
    if revoked {
        return Err(AuthError::SessionRevoked);
    }
    if expired {
        return Err(AuthError::SessionExpired);
    }
    if counter == current - 1 && in_grace {
        let account = active_account(&mut tx, id, user_type, user_id).await;
        tx.commit().await?;
        return account.map(|account| issue(state, id, current, account));
    }
    if counter < current {
        revoke_in(&mut tx, id, RevokeReason::Reuse).await?;
        tx.commit().await?;
        tracing::warn!(session_id = %id, "refresh token reused; session revoked");
        return Err(AuthError::RefreshTokenReused);
    }
    // A counter ahead of the stored one was never issued by this database.
    Err(AuthError::InvalidRefreshToken)
}

/// The session's user, if it may still hold sessions; otherwise the session is revoked
/// (inside the caller's transaction, which the caller commits) and the reason returned.
async fn active_account(
    conn: &mut PgConnection,
    session_id: Uuid,
    user_type: UserType,
    user_id: Uuid,
) -> Result<Account, AuthError> {
    match users::standing(conn, user_type, user_id).await? {
        Standing::Active(account) => Ok(account),
        Standing::Disabled => {
            revoke_in(conn, session_id, RevokeReason::Disabled).await?;
            Err(AuthError::AccountDisabled)
        }
        Standing::Gone => {
            revoke_in(conn, session_id, RevokeReason::Merged).await?;
            Err(AuthError::SessionRevoked)
        }
    }
}

async fn revoke_in(conn: &mut PgConnection, session_id: Uuid, reason: RevokeReason) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(reason.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every live session of a user, inside the caller's transaction.
pub async fn revoke_all(
    conn: &mut PgConnection,
    user_type: UserType,
    user_id: Uuid,
    reason: RevokeReason,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $3
         WHERE user_type = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(user_type.as_str())
    .bind(user_id)
    .bind(reason.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Ends the session `session_id` of `user_id`. Revoking twice is not an error.
pub async fn revoke(db: &PgPool, user_id: Uuid, session_id: Uuid, reason: RevokeReason) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $3
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(reason.as_str())
    .execute(db)
    .await
    .context("revoking session")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_refresh_tokens_parse() {
        let id = Uuid::new_v4();
        let good = format!("{}.7.abc", id.simple());
        let parsed = parse(&good).expect("parses");
        assert_eq!((parsed.session_id, parsed.counter, parsed.secret), (id, 7, "abc"));
        for bad in [
            "",
            "a.b.c",
            &format!("{}.-1.abc", id.simple()),
            &format!("{}.1.abc.d", id.simple()),
            &format!("{}.1.", id.simple()),
            &format!("{}.1.abc", id.hyphenated()),
        ] {
            assert!(parse(bad).is_none(), "{bad:?} should not parse");
        }
    }
}
