//! Sessions as rows of `auth_sessions`, the one module that writes them: starting one
//! ([`rows::insert`]), rotating its refresh secret ([`rows::rotate`]), ending one or many
//! ([`revoke`], with a [`Scope`] and a [`RevokeReason`]), moving a merged customer's, and
//! the live list owners and staff see ([`live`]). Ending a session sets `revoked_at`,
//! whose trigger tells every instance (tokens refused within milliseconds) and removes
//! the session's push device. What a refresh token is and how a refresh is judged is
//! sign-in's business (`auth::issue`, `auth::refresh`); this module only keeps the rows.

pub mod live;
pub mod rows;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::tokens::UserType;

/// Why a session was revoked, as stored in `revoked_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RevokeReason {
    /// The user signed out, or ended the session from another device.
    Logout,
    /// A refresh token that was rotated away came back: the session may be stolen.
    #[sqlx(rename = "refresh_token_reused")]
    Reuse,
    /// An anonymous customer merged into the customer who owns the identity.
    Merged,
    /// An admin switched the staff member off.
    Disabled,
    /// An anonymous customer's session, replaced by the one its sign-in created.
    Upgraded,
    /// Ended by `revoke-sessions` after a signing key was compromised.
    KeyRotation,
    /// The user deleted their account.
    Deleted,
    /// Staff suspended the user.
    Suspended,
    /// An agent ended this one session from the control center.
    Staff,
    /// The staff member's role changed: their tokens carry the old one.
    RoleChanged,
}

/// Which sessions a revocation ends; only live (not yet revoked) ones are touched.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// One session, whoever holds it (an admin ending a session).
    Session(Uuid),
    /// One session, only if a customer or a mitra holds it (an agent ending a session:
    /// staff sessions are not theirs to end).
    AppUserSession(Uuid),
    /// One unexpired session, only if it is this user's (a sign-out, a user ending one of
    /// their own): another user's id matches nothing.
    OwnSession { user_type: UserType, user_id: Uuid, session_id: Uuid },
    /// Every session of a user.
    User(UserType, Uuid),
    /// Every session of a user but `keep` (revoke-others).
    UserExcept { user_type: UserType, user_id: Uuid, keep: Uuid },
    /// Every unexpired session created before a time (key rotation).
    IssuedBefore(DateTime<Utc>),
}

impl Scope {
    /// The scope's condition on `auth_sessions`; every value is bound ($2 … $5).
    fn condition(self) -> &'static str {
        match self {
            Scope::Session(_) => "id = $2",
            Scope::AppUserSession(_) => "id = $2 AND user_type IN ('customer', 'mitra')",
            Scope::OwnSession { .. } => "id = $2 AND user_type = $3 AND user_id = $4 AND expires_at > now()",
            Scope::User(..) => "user_type = $3 AND user_id = $4",
            Scope::UserExcept { .. } => "user_type = $3 AND user_id = $4 AND id <> $2",
            Scope::IssuedBefore(_) => "created_at < $5 AND expires_at > now()",
        }
    }

    fn binds(self) -> (Option<Uuid>, Option<UserType>, Option<Uuid>, Option<DateTime<Utc>>) {
        match self {
            Scope::Session(id) | Scope::AppUserSession(id) => (Some(id), None, None, None),
            Scope::OwnSession { user_type, user_id, session_id } => {
                (Some(session_id), Some(user_type), Some(user_id), None)
            }
            Scope::User(user_type, user_id) => (None, Some(user_type), Some(user_id), None),
            Scope::UserExcept { user_type, user_id, keep } => (Some(keep), Some(user_type), Some(user_id), None),
            Scope::IssuedBefore(before) => (None, None, None, Some(before)),
        }
    }
}

/// What a revocation ended: how many sessions, and whose the first one was (staff's
/// audit entry names the user of the one session it ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Ended {
    pub count: i64,
    pub user_type: Option<UserType>,
    pub user_id: Option<Uuid>,
}

/// Ends every live session in `scope`, for `reason`, in the caller's transaction (or on
/// its own with a pool). Ending what has ended already is not an error: it counts 0.
pub async fn revoke<'e>(db: impl PgExecutor<'e>, scope: Scope, reason: RevokeReason) -> sqlx::Result<Ended> {
    let (session_id, user_type, user_id, before) = scope.binds();
    sqlx::query_as(&format!(
        "WITH ended AS (
             UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $1
             WHERE revoked_at IS NULL AND {}
             RETURNING user_type, user_id)
         SELECT count(*) AS count, min(user_type) AS user_type, (array_agg(user_id))[1] AS user_id FROM ended",
        scope.condition()
    ))
    .bind(reason)
    .bind(session_id)
    .bind(user_type)
    .bind(user_id)
    .bind(before)
    .fetch_one(db)
    .await
}

/// Forgets where a deleted user's sessions came from (address and user agent), in the
/// caller's transaction; the rows stay, ended, until the purge.
pub async fn erase_client_details<'e>(db: impl PgExecutor<'e>, user_type: UserType, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE auth_sessions SET ip = NULL, user_agent = NULL WHERE user_type = $1 AND user_id = $2")
        .bind(user_type.as_str())
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes sessions that ended (revoked or expired) more than 30 days ago, a batch at a
/// time; their devices and tickets go with them (`ON DELETE CASCADE`).
pub async fn purge_ended(db: &sqlx::PgPool) -> anyhow::Result<u64> {
    let mut total = crate::db::delete_in_batches(
        db,
        "DELETE FROM auth_sessions WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM auth_sessions WHERE revoked_at < now() - interval '30 days' LIMIT $1))",
    )
    .await?;
    total += crate::db::delete_in_batches(
        db,
        "DELETE FROM auth_sessions WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM auth_sessions WHERE expires_at < now() - interval '30 days' LIMIT $1))",
    )
    .await?;
    Ok(total)
}
