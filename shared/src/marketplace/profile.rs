//! The mitra's own marketplace switches: submitting for verification and going online.

use sqlx::PgPool;
use uuid::Uuid;

use super::MarketError;
use crate::users::mitras::{self, MitraProfile, VerificationStatus, MITRA_COLUMNS};

/// `unsubmitted` or `rejected` → `pending`. Staff decide in the control center. A
/// display name is required first, since staff (and later customers) need one.
pub async fn submit_for_verification(db: &PgPool, id: Uuid) -> Result<MitraProfile, MarketError> {
    let submitted: Option<MitraProfile> = sqlx::query_as(&format!(
        "UPDATE mitras SET verification_status = 'pending', updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL AND verification_status IN ('unsubmitted', 'rejected')
           AND COALESCE(display_name, '') <> ''
         RETURNING {MITRA_COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    if let Some(profile) = submitted {
        return Ok(profile);
    }
    let current = mitras::get(db, id).await?.ok_or(MarketError::NotFound("this account no longer exists"))?;
    match current.verification_status {
        VerificationStatus::Pending | VerificationStatus::Approved => Err(MarketError::InvalidState(format!(
            "verification is already {}",
            if current.verification_status == VerificationStatus::Pending { "pending" } else { "approved" }
        ))),
        _ => Err(MarketError::Invalid("set a display_name (PATCH /api/mitra/me) before submitting".into())),
    }
}

/// Whether the mitra is taking orders now (shown to customers, filterable).
pub async fn set_online(db: &PgPool, id: Uuid, online: bool) -> Result<MitraProfile, MarketError> {
    sqlx::query_as(&format!(
        "UPDATE mitras SET is_online = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL
         RETURNING {MITRA_COLUMNS}"
    ))
    .bind(id)
    .bind(online)
    .fetch_optional(db)
    .await?
    .ok_or(MarketError::NotFound("this account no longer exists"))
}
