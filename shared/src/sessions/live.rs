//! A user's own view of their sessions: where they are signed in, and ending one or all
//! but the current one (through [`super::revoke`]).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{revoke, RevokeReason, Scope};
use crate::tokens::{Claims, UserType};

/// One live session as its owner sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveSession {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// When its refresh token was last rotated; `None` if it never was.
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// The most sessions a list shows. Nothing caps how many sessions a user may open (each
/// sign-in is one), so the lists are bounded instead: the newest ones, and the caller's
/// own list always includes the current one. Either list stays newest first.
pub const MAX_LISTED_SESSIONS: i64 = 100;

/// The caller's live sessions (not revoked, not expired), newest first: at most
/// [`MAX_LISTED_SESSIONS`], the current one always among them.
pub async fn list(db: &PgPool, claims: &Claims) -> sqlx::Result<Vec<LiveSession>> {
    query(db, claims.user_type, claims.sub, Some(claims.session_id)).await
}

/// A user's live sessions, newest first, at most [`MAX_LISTED_SESSIONS`] (staff see them
/// on the user's detail page).
pub async fn live(db: &PgPool, user_type: UserType, user_id: Uuid) -> sqlx::Result<Vec<LiveSession>> {
    query(db, user_type, user_id, None).await
}

async fn query(db: &PgPool, user_type: UserType, user_id: Uuid, first: Option<Uuid>) -> sqlx::Result<Vec<LiveSession>> {
    sqlx::query_as(
        "SELECT * FROM (
             SELECT id, created_at, CASE WHEN counter > 0 THEN rotated_at END AS last_refreshed_at, user_agent, ip
             FROM auth_sessions
             WHERE user_type = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()
             ORDER BY id IS NOT DISTINCT FROM $3 DESC, created_at DESC, id
             LIMIT $4) AS listed
         ORDER BY created_at DESC, id",
    )
    .bind(user_type)
    .bind(user_id)
    .bind(first)
    .bind(MAX_LISTED_SESSIONS)
    .fetch_all(db)
    .await
}

/// One live session as the API shows it (contract §7); `current` marks the session of
/// the request.
#[derive(Debug, poem_openapi::Object)]
#[oai(rename = "Session")]
pub struct SessionView {
    pub id: Uuid,
    /// True for the session making this request.
    pub current: bool,
    pub created_at: DateTime<Utc>,
    /// When the app last refreshed its tokens; null if it never has.
    #[oai(nullable)]
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// The app's user agent at sign-in.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// The client address at sign-in.
    #[oai(nullable)]
    pub ip: Option<String>,
}

impl LiveSession {
    /// The API's view; `current` is the session making the request, if any.
    pub fn view(self, current: Option<Uuid>) -> SessionView {
        SessionView {
            current: current == Some(self.id),
            id: self.id,
            created_at: self.created_at,
            last_refreshed_at: self.last_refreshed_at,
            user_agent: self.user_agent,
            ip: self.ip,
        }
    }
}

/// Ends one of the caller's live sessions. False when the caller has no such live
/// session, which the API answers 404 whether the id is unknown or someone else's.
pub async fn end(db: &PgPool, claims: &Claims, session_id: Uuid) -> sqlx::Result<bool> {
    let scope = Scope::OwnSession { user_type: claims.user_type, user_id: claims.sub, session_id };
    Ok(revoke(db, scope, RevokeReason::Logout).await?.count == 1)
}

/// Ends every live session of the caller except the one making the request; returns how
/// many ended.
pub async fn end_others(db: &PgPool, claims: &Claims) -> sqlx::Result<u64> {
    let scope = Scope::UserExcept { user_type: claims.user_type, user_id: claims.sub, keep: claims.session_id };
    Ok(u64::try_from(revoke(db, scope, RevokeReason::Logout).await?.count).unwrap_or_default())
}
