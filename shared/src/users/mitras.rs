//! Mitra: the service partners using the mitra app. An account is created on the first
//! phone sign-in; its profile (name, bio, verification, online) is what the apps show.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
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

pub(crate) const MITRA_COLUMNS: &str = "id, phone, display_name, bio, verification_status, is_online, created_at";

/// A mitra that has not deleted its account.
pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<MitraProfile>> {
    sqlx::query_as(&format!("SELECT {MITRA_COLUMNS} FROM mitras WHERE id = $1 AND deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Changes what is given of a mitra's display name and bio; returns the profile.
pub async fn edit(
    db: &PgPool,
    id: Uuid,
    name: Option<&str>,
    new_bio: Option<&str>,
) -> Result<MitraProfile, ProfileError> {
    let name = name.map(display_name).transpose()?;
    let new_bio = new_bio.map(bio).transpose()?;
    sqlx::query_as(&format!(
        "UPDATE mitras SET display_name = COALESCE($2, display_name), bio = COALESCE($3, bio), updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL RETURNING {MITRA_COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(new_bio)
    .fetch_optional(db)
    .await?
    .ok_or(ProfileError::Gone)
}
