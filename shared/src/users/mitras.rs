//! Mitra: the service partners using the mitra app. An account is created on the first
//! phone sign-in; its profile (name, bio, verification, online) is what the apps show.
//! Every write to `mitras` is here.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::profile::{bio, display_name, ProfileError};

/// Where a mitra stands with staff's verification: `unsubmitted` → `pending` (the mitra
/// submits) → `approved` | `rejected` (staff decide; a rejected mitra may submit again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, poem_openapi::Enum)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum VerificationStatus {
    Unsubmitted,
    Pending,
    Approved,
    Rejected,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Unsubmitted => "unsubmitted",
            VerificationStatus::Pending => "pending",
            VerificationStatus::Approved => "approved",
            VerificationStatus::Rejected => "rejected",
        }
    }
}

/// The condition on `mitras m` for a mitra who may serve customers: holding a name staff
/// approved, not suspended, not deleted. Marketplace adds "and has an active service".
///
/// Re-review after a rename (security review L-7): an approved mitra that changes its
/// display name goes back to `pending`, and stays listed under the name staff approved
/// ([`LISTED_NAME`]) until they decide: approving lists the new name, rejecting unlists
/// the mitra (its customers should not meet a name staff refused, nor lose a mitra to a
/// typo: the mitra may rename and submit again). So `listed_name` is set exactly while
/// the mitra is approved, or pending with an earlier approval.
pub const SERVING: &str = "m.listed_name IS NOT NULL AND m.suspended_at IS NULL AND m.deleted_at IS NULL";

/// The column of `mitras m` customers see as the mitra's name: the last one staff approved.
pub const LISTED_NAME: &str = "m.listed_name";

/// The mitra profile both apps see (contract §8).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MitraProfile {
    pub id: Uuid,
    pub phone: Option<String>,
    pub display_name: Option<String>,
    pub bio: String,
    pub verification_status: VerificationStatus,
    pub is_online: bool,
    pub created_at: DateTime<Utc>,
}

const MITRA_COLUMNS: &str = "id, phone, display_name, bio, verification_status, is_online, created_at";

/// The mitra owning `phone`, created on its first sign-in; with whether it is suspended.
pub async fn find_or_create_by_phone(conn: &mut PgConnection, phone: &str) -> sqlx::Result<(Uuid, bool)> {
    sqlx::query_as(
        "INSERT INTO mitras (id, phone) VALUES ($1, $2)
         ON CONFLICT (phone) DO UPDATE SET updated_at = mitras.updated_at
         RETURNING id, suspended_at IS NOT NULL",
    )
    .bind(Uuid::new_v4())
    .bind(phone)
    .fetch_one(conn)
    .await
}

/// A mitra that has not deleted its account.
pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<MitraProfile>> {
    sqlx::query_as(&format!("SELECT {MITRA_COLUMNS} FROM mitras WHERE id = $1 AND deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Whether mitra `id` has not deleted its account.
pub async fn exists<'e>(db: impl PgExecutor<'e>, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM mitras WHERE id = $1 AND deleted_at IS NULL)")
        .bind(id)
        .fetch_one(db)
        .await
}

/// Changes what is given of a mitra's display name and bio; returns the profile. A new
/// display name of an approved mitra sends it back to `pending` (see [`SERVING`]: it
/// stays listed under the approved name meanwhile); the same name again changes nothing.
pub async fn edit(
    db: &PgPool,
    id: Uuid,
    name: Option<&str>,
    new_bio: Option<&str>,
) -> Result<MitraProfile, ProfileError> {
    let name = name.map(display_name).transpose()?;
    let new_bio = new_bio.map(bio).transpose()?;
    sqlx::query_as(&format!(
        "UPDATE mitras SET display_name = COALESCE($2, display_name), bio = COALESCE($3, bio),
                verification_status = CASE
                    WHEN verification_status = 'approved' AND $2 IS NOT NULL AND $2 IS DISTINCT FROM display_name
                    THEN 'pending' ELSE verification_status END,
                updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL RETURNING {MITRA_COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(new_bio)
    .fetch_optional(db)
    .await?
    .ok_or(ProfileError::Gone)
}

/// `unsubmitted` or `rejected` → `pending`, when the mitra has a display name; `None`
/// when it could not move (see [`get`] for why).
pub async fn submit_for_verification(db: &PgPool, id: Uuid) -> sqlx::Result<Option<MitraProfile>> {
    sqlx::query_as(&format!(
        "UPDATE mitras SET verification_status = 'pending', updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL AND verification_status IN ('unsubmitted', 'rejected')
           AND COALESCE(display_name, '') <> ''
         RETURNING {MITRA_COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Whether the mitra is taking orders now; `None` when the account is gone.
pub async fn set_online(db: &PgPool, id: Uuid, online: bool) -> sqlx::Result<Option<MitraProfile>> {
    sqlx::query_as(&format!(
        "UPDATE mitras SET is_online = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL
         RETURNING {MITRA_COLUMNS}"
    ))
    .bind(id)
    .bind(online)
    .fetch_optional(db)
    .await
}

/// Staff's decision on a pending mitra, with the note the mitra sees, in the caller's
/// transaction; false when the mitra is not pending (or gone). Approval lists the mitra
/// under its current display name; rejection unlists it.
pub async fn decide_verification(
    conn: &mut PgConnection,
    id: Uuid,
    decision: VerificationStatus,
    note: Option<&str>,
) -> sqlx::Result<bool> {
    let decided = sqlx::query(
        "UPDATE mitras SET verification_status = $2, verification_note = $3,
                listed_name = CASE WHEN $2 = 'approved' THEN display_name END, updated_at = now()
         WHERE id = $1 AND verification_status = 'pending' AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(decision)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(decided.rows_affected() == 1)
}

/// Where a mitra's verification stands; `None` when the account is gone.
pub async fn verification(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<VerificationStatus>> {
    sqlx::query_scalar("SELECT verification_status FROM mitras WHERE id = $1 AND deleted_at IS NULL")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Locks mitra `id` for its deletion; false when the account is gone already.
pub async fn lock_live(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM mitras WHERE id = $1 AND deleted_at IS NULL FOR UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// Erases mitra `id`'s personal data in the caller's transaction and marks the row
/// deleted (it stays, anonymised, for the orders that point at it). The same phone later
/// signs up as a new mitra. Returns the phone it had, for the owners of what is keyed by
/// it to forget.
pub async fn erase(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<String>> {
    let phone: Option<String> =
        sqlx::query_scalar("SELECT phone FROM mitras WHERE id = $1").bind(id).fetch_one(&mut *conn).await?;
    sqlx::query(
        "UPDATE mitras SET phone = NULL, display_name = NULL, listed_name = NULL, bio = '', is_online = false,
                           verification_note = NULL, suspended_reason = NULL, deleted_at = now(), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(phone)
}
