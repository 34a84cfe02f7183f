//! Single-use WebSocket tickets: `POST /api/shared/ws/ticket` trades a bearer token for
//! an opaque ticket valid 30 s, which the app puts in the socket URL (`?ticket=`) instead
//! of its access token. URLs end up in request logs outside our control (Cloud Run's
//! platform log keeps query strings); a logged ticket is already spent or about to die.
//!
//! Only a SHA-256 of the ticket is stored. Redeeming is one `DELETE … RETURNING` of a live
//! row, so two racing upgrades on any instances get at most one socket.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::scheme::admit;
use crate::auth::AuthError;
use crate::state::AppState;
use crate::tokens::{Claims, UserType};

/// How long a ticket may wait before it is used.
pub const TICKET_TTL_SECS: u32 = 30;

fn hash(ticket: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, ticket.as_bytes()).as_ref().to_vec()
}

/// Tickets one session may buy per [`TICKET_WINDOW_SECS`]: a socket needs one per
/// (re)connection, and a session may hold five sockets per instance.
pub const TICKETS_PER_SESSION: u32 = 20;
/// The window [`TICKETS_PER_SESSION`] is counted over.
pub const TICKET_WINDOW_SECS: u32 = 60;

/// A new ticket for the socket of the session `claims` belongs to, within the session's
/// limit (`RateLimited` beyond it, nothing stored).
pub async fn issue(db: &PgPool, claims: &Claims) -> Result<String, AuthError> {
    let key = format!("ws-ticket:session:{}", claims.session_id);
    AuthError::check(crate::ratelimit::hit(db, &key, TICKETS_PER_SESSION, TICKET_WINDOW_SECS).await?)?;
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    let ticket = URL_SAFE_NO_PAD.encode(bytes);
    insert(db, claims, &ticket).await?;
    Ok(ticket)
}

async fn insert(db: &PgPool, claims: &Claims, ticket: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO ws_tickets (ticket_hash, user_type, user_id, session_id, token_iat, token_exp, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
    )
    .bind(hash(ticket))
    .bind(claims.user_type.as_str())
    .bind(claims.sub)
    .bind(claims.session_id)
    .bind(claims.iat)
    .bind(claims.exp)
    .bind(f64::from(TICKET_TTL_SECS))
    .execute(db)
    .await?;
    Ok(())
}

/// A redeemed ticket's row: the token it was bought with.
#[derive(sqlx::FromRow)]
struct Redeemed {
    user_type: UserType,
    user_id: Uuid,
    session_id: Uuid,
    token_iat: i64,
    token_exp: i64,
}

/// Consumes `ticket` and returns the claims of the token it was bought with, checked as
/// a bearer token would be (expiry, revocation, user type). Unknown, used or stale
/// tickets are `InvalidToken`.
pub async fn redeem(state: &AppState, ticket: &str, allowed: &[UserType]) -> Result<Claims, AuthError> {
    if ticket.is_empty() || ticket.len() > 64 {
        return Err(AuthError::InvalidToken);
    }
    let row: Option<Redeemed> = sqlx::query_as(
        "DELETE FROM ws_tickets WHERE ticket_hash = $1 AND expires_at > now()
         RETURNING user_type, user_id, session_id, token_iat, token_exp",
    )
    .bind(hash(ticket))
    .fetch_optional(&state.db)
    .await?;
    let Redeemed { user_type, user_id: sub, session_id, token_iat: iat, token_exp: exp } =
        row.ok_or(AuthError::InvalidToken)?;
    let claims = Claims { sub, aud: state.keys.audience(), user_type, session_id, iat, exp, role: None };
    if exp <= chrono::Utc::now().timestamp() {
        return Err(AuthError::TokenExpired);
    }
    admit(state, claims, allowed).await
}

/// Drops tickets nobody used (a used one is deleted as it is redeemed), a batch at a
/// time; run now and then.
pub async fn purge_expired(db: &PgPool) -> anyhow::Result<u64> {
    crate::db::delete_in_batches(
        db,
        "DELETE FROM ws_tickets WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM ws_tickets WHERE expires_at <= now() LIMIT $1))",
    )
    .await
}
