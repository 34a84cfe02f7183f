//! Sessions as rows of `auth_sessions`: why one ends ([`RevokeReason`]), ending one, all
//! of a user's or all issued before a time, and the live list owners and staff see
//! ([`live`]). Ending a session sets `revoked_at`, whose trigger tells every instance
//! (tokens refused within milliseconds) and removes the session's push device. Issuing
//! and refreshing sessions is sign-in's business (`auth::sessions`, `auth::refresh`).

pub mod live;

use anyhow::Context;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::tokens::UserType;

/// Why a session was revoked, as stored in `revoked_reason`.
#[derive(Debug, Clone, Copy)]
pub enum RevokeReason {
    Logout,
    Reuse,
    Merged,
    Disabled,
    /// An anonymous customer's session, replaced by the one its sign-in created.
    Upgraded,
    /// Ended by `revoke-sessions` after a signing key was compromised.
    KeyRotation,
    /// The user deleted their account.
    Deleted,
    /// Staff suspended the user.
    Suspended,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::Reuse => "refresh_token_reused",
            RevokeReason::Merged => "merged",
            RevokeReason::Disabled => "disabled",
            RevokeReason::Upgraded => "upgraded",
            RevokeReason::KeyRotation => "key_rotation",
            RevokeReason::Deleted => "deleted",
            RevokeReason::Suspended => "suspended",
        }
    }
}

/// Ends one session inside the caller's transaction; false if it had ended already.
pub(crate) async fn revoke_in(conn: &mut PgConnection, session_id: Uuid, reason: RevokeReason) -> sqlx::Result<bool> {
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

/// Ends every live session created before `before`; returns how many.
pub async fn revoke_issued_before(
    db: &PgPool,
    before: chrono::DateTime<chrono::Utc>,
    reason: RevokeReason,
) -> anyhow::Result<u64> {
    let done = sqlx::query(
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2
         WHERE created_at < $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(before)
    .bind(reason.as_str())
    .execute(db)
    .await
    .context("revoking sessions")?;
    Ok(done.rows_affected())
}
