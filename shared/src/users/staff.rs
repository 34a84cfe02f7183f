//! Control-center users (staff). Emails are stored lower-cased and unique.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::sessions::{revoke, RevokeReason, Scope};
use crate::tokens::hashing;
use crate::tokens::UserType;

/// Staff passwords are at least this long.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Staff {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub display_name: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A staff user with the password hash, for login only.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    #[sqlx(flatten)]
    pub staff: Staff,
    pub password_hash: String,
}

pub use crate::tokens::Role;

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

const COLUMNS: &str = "id, email, role, display_name, disabled_at, created_at";

/// Every staff user, oldest first.
pub async fn list(db: &PgPool) -> sqlx::Result<Vec<Staff>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM cc_users ORDER BY created_at, id")).fetch_all(db).await
}

pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Staff>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM cc_users WHERE id = $1")).bind(id).fetch_optional(db).await
}

pub async fn credentials_by_email(db: &PgPool, email: &str) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as(&format!("SELECT {COLUMNS}, password_hash FROM cc_users WHERE lower(email) = $1"))
        .bind(normalize_email(email))
        .fetch_optional(db)
        .await
}

/// Why a staff user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0:?} is not an email address")]
    InvalidEmail(String),
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("a control-center user with email {0} already exists")]
    DuplicateEmail(String),
    #[error("{0}")]
    InvalidDisplayName(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates a staff user; returns its id.
pub async fn create(
    db: &PgPool,
    email: &str,
    role: Role,
    display_name: Option<&str>,
    password: &str,
    bcrypt_cost: u32,
) -> Result<Uuid, CreateError> {
    let email = checked_email(email)?;
    let display_name = checked_display_name(display_name)?;
    let hash = password_hash(password, bcrypt_cost).await?;
    let mut conn = db.acquire().await.context("connecting")?;
    insert(&mut conn, &email, role, display_name.as_deref(), &hash).await
}

/// A new member's optional display name under the app users' rules (1–80 characters
/// after trimming, no control characters); blank means none.
pub fn checked_display_name(name: Option<&str>) -> Result<Option<String>, CreateError> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => {
            let name = crate::users::profile::display_name(name)
                .map_err(|e| CreateError::InvalidDisplayName(e.to_string()))?;
            Ok(Some(name))
        }
        None => Ok(None),
    }
}

/// A normalised email that looks like one.
pub fn checked_email(email: &str) -> Result<String, CreateError> {
    let email = normalize_email(email);
    let plausible = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !plausible {
        return Err(CreateError::InvalidEmail(email));
    }
    Ok(email)
}

/// The bcrypt hash of a new password, which must be long enough. Run it before opening
/// a transaction: it costs a quarter of a second of CPU.
pub async fn password_hash(password: &str, bcrypt_cost: u32) -> Result<String, CreateError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CreateError::PasswordTooShort);
    }
    Ok(hashing::hash(password.to_owned(), bcrypt_cost).await?)
}

/// Inserts a staff user with an already checked email and hashed password.
pub async fn insert(
    conn: &mut sqlx::PgConnection,
    email: &str,
    role: Role,
    display_name: Option<&str>,
    hash: &str,
) -> Result<Uuid, CreateError> {
    let id = Uuid::new_v4();
    let inserted =
        sqlx::query("INSERT INTO cc_users (id, email, password_hash, role, display_name) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(email)
            .bind(hash)
            .bind(role.as_str())
            .bind(display_name.map(str::trim).filter(|n| !n.is_empty()))
            .execute(conn)
            .await;
    match inserted {
        Ok(_) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("cc_users_email_key") => {
            Err(CreateError::DuplicateEmail(email.to_owned()))
        }
        Err(e) => Err(CreateError::Unexpected(anyhow::Error::new(e).context("inserting cc user"))),
    }
}

/// Switches a staff user off or on. Disabling also ends every session the user has.
pub async fn set_disabled(db: &PgPool, id: Uuid, disabled: bool) -> anyhow::Result<()> {
    let change = Change { disabled: Some(disabled), ..Change::default() };
    let mut tx = db.begin().await?;
    update(&mut tx, id, &change).await.context("updating the staff member")?;
    if disabled {
        revoke(&mut *tx, Scope::User(UserType::Staff, id), RevokeReason::Disabled)
            .await
            .context("ending the sessions of a disabled staff member")?;
    }
    tx.commit().await?;
    Ok(())
}

/// What changes about a staff member; `None` leaves it.
#[derive(Debug, Default)]
pub struct Change<'a> {
    pub role: Option<Role>,
    /// `Some(true)` switches the member off (keeping the first time), `Some(false)` on.
    pub disabled: Option<bool>,
    /// Already checked.
    pub display_name: Option<&'a str>,
}

/// Applies `change` to staff member `id` in the caller's transaction.
pub async fn update(conn: &mut PgConnection, id: Uuid, change: &Change<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE cc_users SET role = COALESCE($2, role), display_name = COALESCE($3, display_name),
                disabled_at = CASE WHEN $4 IS NULL THEN disabled_at WHEN $4 THEN COALESCE(disabled_at, now()) END,
                updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(change.role)
    .bind(change.display_name)
    .bind(change.disabled)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every active admin's id, locked in id order (so two admins changing each other lock
/// alike and cannot deadlock), for the rest of the caller's transaction.
pub async fn lock_active_admins(conn: &mut PgConnection) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM cc_users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id FOR UPDATE")
        .fetch_all(conn)
        .await
}

/// Staff member `id`, locked for the rest of the caller's transaction.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Staff>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM cc_users WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}
