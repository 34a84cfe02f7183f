//! The row of one session as sign-in starts, reads and rotates it. The order of the
//! checks and the cost of each is `auth::refresh`'s concern; here each step is one
//! statement, so the caller decides what runs inside which transaction.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::RevokeReason;
use crate::tokens::UserType;

/// A session lives this long after its last rotation.
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
/// After a rotation, the previous token still returns the new one for this long.
pub const GRACE_SECS: i64 = 10;
/// The longest user agent kept.
const MAX_USER_AGENT_CHARS: usize = 512;

/// A session about to be written: its id, the user, the bcrypt hash of its first secret,
/// and where the sign-in came from.
pub struct NewRow<'a> {
    pub id: Uuid,
    pub user_type: UserType,
    pub user_id: Uuid,
    pub secret_hash: &'a str,
    pub user_agent: Option<&'a str>,
    pub ip: Option<String>,
}

/// Writes a new session (counter 0) inside the caller's transaction.
pub async fn insert(conn: &mut PgConnection, row: &NewRow<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO auth_sessions (id, user_id, user_type, counter, secret_hash, expires_at, user_agent, ip)
         VALUES ($1, $2, $3, 0, $4, now() + make_interval(secs => $5), $6, $7)",
    )
    .bind(row.id)
    .bind(row.user_id)
    .bind(row.user_type)
    .bind(row.secret_hash)
    .bind(REFRESH_TOKEN_TTL_SECS as f64)
    .bind(row.user_agent.map(|ua| truncate(ua, MAX_USER_AGENT_CHARS)))
    .bind(&row.ip)
    .execute(conn)
    .await?;
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// What the database holds about a session, with the time checks done by its clock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub user_id: Uuid,
    pub user_type: UserType,
    pub counter: i64,
    pub secret_hash: String,
    /// Why it was revoked; `None` while it is live.
    pub revoked_reason: Option<RevokeReason>,
    pub revoked: bool,
    pub expired: bool,
    /// Rotated less than [`GRACE_SECS`] ago.
    pub in_grace: bool,
}

const SELECT_ROW: &str = "SELECT user_id, user_type, counter, secret_hash, revoked_reason,
        revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired,
        rotated_at > now() - make_interval(secs => $2) AS in_grace
 FROM auth_sessions WHERE id = $1";

/// The session `id`; with `lock`, locked for the rest of the caller's transaction.
pub async fn load<'e>(db: impl PgExecutor<'e>, id: Uuid, lock: bool) -> sqlx::Result<Option<SessionRow>> {
    static LOCKED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("{SELECT_ROW} FOR UPDATE"));
    let sql = if lock { LOCKED.as_str() } else { SELECT_ROW };
    sqlx::query_as(sql).bind(id).bind(GRACE_SECS as f64).fetch_optional(db).await
}

/// Whose session a rotation advanced.
#[derive(Debug, sqlx::FromRow)]
pub struct Rotated {
    pub user_id: Uuid,
    pub user_type: UserType,
}

/// Advances session `id` from `counter` to the next, with the next secret's hash and a
/// new expiry, only if it is still live, still at `counter` and of an `allowed` type: one
/// conditional UPDATE, so of racing rotations exactly one wins (`None` for the others).
pub async fn rotate(
    conn: &mut PgConnection,
    id: Uuid,
    counter: i64,
    next_hash: &str,
    allowed: &[UserType],
) -> sqlx::Result<Option<Rotated>> {
    sqlx::query_as(
        "UPDATE auth_sessions
         SET counter = counter + 1, secret_hash = $3, rotated_at = now(),
             expires_at = now() + make_interval(secs => $4)
         WHERE id = $1 AND counter = $2 AND revoked_at IS NULL AND expires_at > now()
           AND user_type = ANY($5)
         RETURNING user_id, user_type",
    )
    .bind(id)
    .bind(counter)
    .bind(next_hash)
    .bind(REFRESH_TOKEN_TTL_SECS as f64)
    .bind(allowed.iter().map(|t| t.as_str()).collect::<Vec<_>>())
    .fetch_optional(conn)
    .await
}

/// Whether session `id` is revoked; `None` when there is no such session. For the
/// request guard's fallback while the in-memory revoked set cannot be trusted.
pub async fn is_revoked<'e>(db: impl PgExecutor<'e>, id: Uuid) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM auth_sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Whether session `id` belongs to `user_id`: `None` if not (or unknown), else whether it
/// is still live (not revoked).
pub async fn live_of(conn: &mut PgConnection, id: Uuid, user_id: Uuid) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar("SELECT revoked_at IS NULL FROM auth_sessions WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// Gives customer `from`'s sessions (all revoked by then) to customer `into`, so the
/// merged account's history stays with the one that remains.
pub async fn move_customer(conn: &mut PgConnection, from: Uuid, into: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE auth_sessions SET user_id = $2 WHERE user_type = 'customer' AND user_id = $1")
        .bind(from)
        .bind(into)
        .execute(conn)
        .await?;
    Ok(())
}
