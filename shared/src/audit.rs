//! The audit log: one entry per staff write (control-center operations, staff sign-in and
//! sign-out, notifications sent), appended in the write's own transaction. Details never
//! hold secrets (no passwords, tokens or codes). The table refuses UPDATE and DELETE.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::ClientInfo;

/// The staff member making a change, and from where.
#[derive(Debug, Clone)]
pub struct StaffActor {
    pub id: Uuid,
    pub ip: Option<String>,
}

impl StaffActor {
    pub fn new(id: Uuid, client: &ClientInfo) -> Self {
        Self { id, ip: client.ip.map(|ip| ip.to_string()) }
    }
}

/// What was touched.
pub struct Target<'a> {
    pub kind: &'a str,
    pub id: String,
}

/// Appends one entry in the caller's transaction.
pub async fn append(
    conn: &mut PgConnection,
    actor: &StaffActor,
    action: &str,
    target: Option<Target<'_>>,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor_id, actor_email, action, target_type, target_id, details, ip)
         VALUES ($1, (SELECT email FROM cc_users WHERE id = $1), $2, $3, $4, $5, $6)",
    )
    .bind(actor.id)
    .bind(action)
    .bind(target.as_ref().map(|t| t.kind))
    .bind(target.map(|t| t.id))
    .bind(details)
    .bind(&actor.ip)
    .execute(conn)
    .await?;
    Ok(())
}

/// `append` in a transaction of its own, for writes that have none (a login).
pub async fn append_alone(
    db: &PgPool,
    actor: &StaffActor,
    action: &str,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    let mut conn = db.acquire().await?;
    append(&mut conn, actor, action, None, details).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub details: serde_json::Value,
    pub ip: Option<String>,
}

/// What to list.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub actor_id: Option<Uuid>,
    pub target_id: Option<&'a str>,
    pub action: Option<&'a str>,
}

fn encode(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("audit.{id}"))
}

fn decode(cursor: &str) -> Option<i64> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    text.strip_prefix("audit.")?.parse().ok()
}

/// Why the log cannot be read as asked.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A limit or cursor the API does not accept.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Unexpected(#[from] sqlx::Error),
}

impl From<AuditError> for ApiError {
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::Invalid(message) => ApiError::invalid_request(message),
            AuditError::Unexpected(cause) => cause.into(),
        }
    }
}

/// Entries newest first, `limit` (1–100) at a time after `cursor`.
pub async fn list(
    db: &PgPool,
    filter: &Filter<'_>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<(Vec<Entry>, Option<String>), AuditError> {
    let page = crate::pagination::Page::parse(limit, None).map_err(|e| AuditError::Invalid(e.to_string()))?;
    let before = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => Some(decode(c).ok_or_else(|| AuditError::Invalid("cursor is not one this API returned".into()))?),
        None => None,
    };
    let mut rows: Vec<Entry> = sqlx::query_as(
        "SELECT id, at, actor_id, actor_email, action, target_type, target_id, details, ip FROM audit_log
         WHERE ($1::uuid IS NULL OR actor_id = $1) AND ($2::text IS NULL OR target_id = $2)
           AND ($3::text IS NULL OR action = $3) AND ($4::bigint IS NULL OR id < $4)
         ORDER BY id DESC LIMIT $5",
    )
    .bind(filter.actor_id)
    .bind(filter.target_id)
    .bind(filter.action)
    .bind(before)
    .bind(page.fetch())
    .fetch_all(db)
    .await?;
    let next = (rows.len() > page.limit as usize).then(|| {
        rows.truncate(page.limit as usize);
        rows.last().map(|r| encode(r.id))
    });
    Ok((rows, next.flatten()))
}
