//! The mitra's own marketplace switches: submitting for verification and going online.
//! The mitra's row is the users module's; these add the marketplace's rules and errors.

use sqlx::PgPool;
use uuid::Uuid;

use super::MarketError;
use crate::users::mitras::{self, MitraProfile, VerificationStatus};

const GONE: MarketError = MarketError::NotFound("this account no longer exists");

/// `unsubmitted` or `rejected` → `pending`. Staff decide in the control center. A
/// display name is required first, since staff (and later customers) need one.
pub async fn submit_for_verification(db: &PgPool, id: Uuid) -> Result<MitraProfile, MarketError> {
    if let Some(profile) = mitras::submit_for_verification(db, id).await? {
        return Ok(profile);
    }
    let current = mitras::get(db, id).await?.ok_or(GONE)?;
    match current.verification_status {
        VerificationStatus::Pending | VerificationStatus::Approved => {
            Err(MarketError::InvalidState(format!("verification is already {}", current.verification_status.as_str())))
        }
        _ => Err(MarketError::Invalid("set a display_name (PATCH /api/mitra/me) before submitting".into())),
    }
}

/// Whether the mitra is taking orders now (shown to customers, filterable).
pub async fn set_online(db: &PgPool, id: Uuid, online: bool) -> Result<MitraProfile, MarketError> {
    mitras::set_online(db, id, online).await?.ok_or(GONE)
}
