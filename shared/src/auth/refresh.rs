//! Refreshing a session: checking a refresh token and rotating it.
//!
//! A refresh token is `<session id>.<counter>.<secret>`. The order of the checks is the
//! point of this module: nothing that costs CPU runs before the database has said the
//! token could be live.
//!
//! 1. Parse (garbage costs nothing) and count the request against the client's IP.
//! 2. Read the session row: unknown, wrong user type, revoked, expired or a counter ahead
//!    of the stored one is refused here, before any bcrypt. A replayed token of a
//!    logged-out session therefore costs one indexed read, not 70 ms of CPU.
//! 3. A counter one behind within the grace window returns the current token, recomputed
//!    (no bcrypt), so racing or retried requests converge on one token; any older,
//!    genuine token revokes the session (reuse). Both re-read the row under its lock.
//! 4. Only a current counter on a live session reaches bcrypt, and only after the
//!    per-session limit: if no configured key made the secret, the stored hash decides
//!    (see `sessions` for why); then hash the next secret (one bcrypt, no connection
//!    held) and run one conditional UPDATE that rotates only if the counter is still the
//!    presented one. Whoever loses that race falls back to step 3 and gets the winner's
//!    token.

use anyhow::Context;
use sqlx::{Postgres, Transaction};

use super::issue::{active_account, issue, Issued};
use super::AuthError;
use crate::http::ClientInfo;
use crate::ratelimit;
use crate::sessions::rows::{self, Rotated, SessionRow};
use crate::sessions::{revoke, RevokeReason, Scope};
use crate::state::AppState;
use crate::tokens::hashing;
use crate::tokens::UserType;
use crate::users::{self, Standing};
use uuid::Uuid;

/// Refresh limits are counted over this window.
const LIMIT_WINDOW_SECS: u32 = 60;

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

/// A session row, and whether the suspension that revoked it (if one did) still stands:
/// that session is answered 403 `account_suspended` rather than `session_revoked`.
struct Judged {
    row: SessionRow,
    suspended: bool,
}

async fn load(conn: &mut sqlx::PgConnection, id: Uuid, lock: bool) -> Result<Option<Judged>, AuthError> {
    let Some(row) = rows::load(&mut *conn, id, lock).await.context("reading the session")? else { return Ok(None) };
    let suspended = row.revoked_reason == Some(RevokeReason::Suspended)
        && users::standing(conn, row.user_type, row.user_id).await.context("reading the user")? == Standing::Suspended;
    Ok(Some(Judged { row, suspended }))
}

/// What a presented counter means for a session, decided from the row alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The newest token: check its secret and rotate.
    Current,
    /// Rotated away less than the grace window ago: answer with the current token.
    Grace,
    /// Rotated away earlier: someone replays an old token; the session ends.
    Reuse,
}

fn judge(judged: &Judged, counter: i64, allowed: &[UserType]) -> Result<(UserType, Verdict), AuthError> {
    let row = &judged.row;
    // The wrong transport (a staff token on the mobile endpoint) is simply invalid there.
    let user_type = Some(row.user_type).filter(|t| allowed.contains(t));
    let user_type = user_type.ok_or(AuthError::InvalidRefreshToken)?;
    if judged.suspended {
        return Err(AuthError::AccountSuspended);
    }
    if row.revoked {
        return Err(AuthError::SessionRevoked);
    }
    if row.expired {
        return Err(AuthError::SessionExpired);
    }
    let verdict = match counter {
        c if c == row.counter => Verdict::Current,
        c if c == row.counter - 1 && row.in_grace => Verdict::Grace,
        c if c < row.counter => Verdict::Reuse,
        // A counter ahead of the stored one was never issued by this database.
        _ => return Err(AuthError::InvalidRefreshToken),
    };
    Ok((user_type, verdict))
}

/// Rotates a refresh token. `allowed` names the user types this transport serves (the
/// mobile endpoint refuses staff tokens and the other way round).
#[tracing::instrument(skip_all)]
pub async fn refresh(
    state: &AppState,
    token: &str,
    allowed: &[UserType],
    client: &ClientInfo,
) -> Result<Issued, AuthError> {
    let presented = parse(token).ok_or(AuthError::InvalidRefreshToken)?;
    let ip = client.rate_limit_key();
    let per_ip = state.settings().refresh_per_ip_per_minute;
    AuthError::check(
        ratelimit::hit(&state.db, &format!("refresh:ip:{ip}"), per_ip, LIMIT_WINDOW_SECS)
            .await
            .context("counting the refresh")?,
    )?;

    let id = presented.session_id;
    let mut conn = state.db.acquire().await.context("connecting")?;
    let judged = load(&mut conn, id, false).await?.ok_or(AuthError::InvalidRefreshToken)?;
    drop(conn);
    let (_, verdict) = judge(&judged, presented.counter, allowed)?;
    let genuine = state.keys.refresh_secret_matches(id, presented.counter, presented.secret);
    match verdict {
        Verdict::Current => rotate(state, &presented, &judged.row, genuine, allowed).await,
        // An older token proves nothing unless we made it: no grace, and no revocation
        // that a forger could trigger.
        _ if !genuine => Err(AuthError::InvalidRefreshToken),
        _ => {
            let tx = state.db.begin().await.context("starting the refresh")?;
            settle(state, tx, &presented, allowed).await
        }
    }
}

/// The presented token is the newest: check its secret, hash the next one and rotate.
async fn rotate(
    state: &AppState,
    presented: &Presented<'_>,
    row: &SessionRow,
    genuine: bool,
    allowed: &[UserType],
) -> Result<Issued, AuthError> {
    let (id, counter) = (presented.session_id, presented.counter);
    let per_session = state.settings().refresh_per_session_per_minute;
    let key = format!("refresh:session:{}", id.simple());
    AuthError::check(
        ratelimit::hit(&state.db, &key, per_session, LIMIT_WINDOW_SECS).await.context("counting the refresh")?,
    )?;
    if !genuine && !hashing::verify(presented.secret.to_owned(), row.secret_hash.clone()).await? {
        return Err(AuthError::InvalidRefreshToken);
    }
    let next_hash =
        hashing::hash(state.keys.refresh_secret(id, counter + 1), state.settings().refresh_token_bcrypt_cost).await?;

    let mut tx = state.db.begin().await.context("starting the rotation")?;
    let rotated = rows::rotate(&mut tx, id, counter, &next_hash, allowed).await.context("rotating the session")?;
    let Some(Rotated { user_id, user_type }) = rotated else {
        // Another request rotated (or revoked) it first: decide again under the lock.
        return settle(state, tx, presented, allowed).await;
    };
    let account = active_account(&mut tx, id, user_type, user_id).await;
    tx.commit().await.context("committing the rotation")?;
    account.map(|account| issue(state, id, counter + 1, account))
}

/// A genuine token that is no longer the newest: grace or reuse, decided on the row
/// locked inside `tx`, which this commits.
async fn settle(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    presented: &Presented<'_>,
    allowed: &[UserType],
) -> Result<Issued, AuthError> {
    let id = presented.session_id;
    let judged = load(&mut tx, id, true).await?.ok_or(AuthError::InvalidRefreshToken)?;
    let row = &judged.row;
    match judge(&judged, presented.counter, allowed)? {
        (user_type, Verdict::Grace) => {
            let account = active_account(&mut tx, id, user_type, row.user_id).await;
            tx.commit().await.context("committing the refresh")?;
            account.map(|account| issue(state, id, row.counter, account))
        }
        (_, Verdict::Reuse) => {
            revoke(&mut *tx, Scope::Session(id), RevokeReason::Reuse).await.context("ending the session")?;
            tx.commit().await.context("committing the revocation")?;
            // `behind` tells theft (far behind) from a delayed retry that arrived after a
            // second rotation (1 or 2 behind; review I6): a log-based metric can count both.
            let behind = row.counter - presented.counter;
            tracing::warn!(session_id = %id, behind, "refresh token reused; session revoked");
            Err(AuthError::RefreshTokenReused)
        }
        // Still current, yet the conditional UPDATE refused it: not rotatable by us.
        (_, Verdict::Current) => Err(AuthError::InvalidRefreshToken),
    }
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

    fn row(counter: i64) -> SessionRow {
        SessionRow {
            user_id: Uuid::new_v4(),
            user_type: UserType::Customer,
            counter,
            secret_hash: String::new(),
            revoked_reason: None,
            revoked: false,
            expired: false,
            in_grace: true,
        }
    }

    fn judged(row: SessionRow) -> Judged {
        Judged { row, suspended: false }
    }

    #[test]
    fn the_row_alone_decides_current_grace_reuse_and_refusals() {
        let mobile = [UserType::Customer, UserType::Mitra];
        let verdict = |row: &SessionRow, counter| judge(&judged(row.clone()), counter, &mobile).map(|(_, v)| v);
        let live = row(5);
        assert_eq!(verdict(&live, 5).unwrap(), Verdict::Current);
        assert_eq!(verdict(&live, 4).unwrap(), Verdict::Grace);
        assert_eq!(verdict(&live, 3).unwrap(), Verdict::Reuse);
        assert!(matches!(verdict(&live, 6), Err(AuthError::InvalidRefreshToken)));
        assert_eq!(verdict(&SessionRow { in_grace: false, ..row(5) }, 4).unwrap(), Verdict::Reuse);
        assert!(matches!(verdict(&SessionRow { revoked: true, ..row(5) }, 5), Err(AuthError::SessionRevoked)));
        assert!(matches!(verdict(&SessionRow { expired: true, ..row(5) }, 5), Err(AuthError::SessionExpired)));
        let staff = SessionRow { user_type: UserType::Staff, ..row(5) };
        assert!(matches!(verdict(&staff, 5), Err(AuthError::InvalidRefreshToken)));
    }
}
