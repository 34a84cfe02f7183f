//! The control center's operations: finding and helping users, suspending them,
//! deciding mitra verification, revoking sessions, managing staff, and the audit log.
//!
//! Every write here runs in one transaction that also appends its `audit_log` entry
//! (`crate::audit::append`), so a change and its record commit or fail together; the table
//! itself refuses UPDATE and DELETE (a trigger). Roles are checked by the API's security
//! schemes from the access token's `role` claim, with no query.

pub mod app_users;
pub mod team;

pub use crate::audit::StaffActor;
use crate::{ApiError, ErrorCode};

/// Why a staff operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(&'static str),
    /// The change clashes with the current data (a taken email, the last admin).
    #[error("{0}")]
    Conflict(String),
    /// The target's state does not allow it (a verification that is not pending).
    #[error("{0}")]
    InvalidState(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StaffError {
    fn from(err: sqlx::Error) -> Self {
        StaffError::Unexpected(err.into())
    }
}

impl From<StaffError> for ApiError {
    fn from(err: StaffError) -> Self {
        match err {
            StaffError::Invalid(message) => ApiError::invalid_request(message),
            StaffError::NotFound(what) => ApiError::new(ErrorCode::NotFound, what),
            StaffError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
            StaffError::InvalidState(message) => ApiError::new(ErrorCode::InvalidState, message),
            StaffError::Unexpected(cause) => ApiError::internal(&cause),
        }
    }
}

/// A required free-text reason: trimmed, 1–500 characters.
pub(crate) fn reason(input: &str) -> Result<String, StaffError> {
    let reason = input.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(StaffError::Invalid("reason must be 1 to 500 characters".into()));
    }
    Ok(reason.to_owned())
}
