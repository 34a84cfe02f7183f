//! The marketplace: what mitra offer (services), how customers find them (browse), and
//! orders with their strict lifecycle. Payment plugs in at two points of the order
//! module: when an order is created (an invoice is opened for it) and when a payment is
//! confirmed (`orders::confirm_payment`); the payments module owns both.

pub mod areas;
pub mod browse;
pub mod orders;
pub mod profile;
pub mod schedule;
pub mod services;

use crate::{ApiError, ErrorCode};

/// Why a marketplace operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// Bad input; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// No such thing, or not the caller's.
    #[error("{0}")]
    NotFound(&'static str),
    /// The current state does not allow the move.
    #[error("{0}")]
    InvalidState(String),
    #[error("ordering needs a verified phone or a Google/Apple sign-in")]
    UpgradeRequired,
    /// The request clashes with what exists (e.g. too many unpaid orders).
    #[error("{0}")]
    Conflict(String),
    #[error("this Idempotency-Key was used before for a different request")]
    KeyReused,
    /// Too many writes; retry after this many seconds.
    #[error("too many requests; try again later")]
    RateLimited(u64),
    /// The start is not a free slot (or was just taken).
    #[error("{0}")]
    SlotUnavailable(String),
    /// The address lies outside the mitra's service area.
    #[error("{0}")]
    OutsideServiceArea(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for MarketError {
    fn from(err: sqlx::Error) -> Self {
        MarketError::Unexpected(err.into())
    }
}

impl From<MarketError> for ApiError {
    fn from(err: MarketError) -> Self {
        match err {
            MarketError::Invalid(message) => ApiError::invalid_request(message),
            MarketError::NotFound(what) => ApiError::new(ErrorCode::NotFound, what),
            MarketError::InvalidState(message) => ApiError::new(ErrorCode::InvalidState, message),
            MarketError::UpgradeRequired => ApiError::new(ErrorCode::UpgradeRequired, err.to_string()),
            MarketError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
            MarketError::KeyReused => ApiError::new(ErrorCode::IdempotencyKeyReused, err.to_string()),
            MarketError::RateLimited(retry_after_secs) => ApiError::rate_limited(retry_after_secs),
            MarketError::SlotUnavailable(message) => ApiError::new(ErrorCode::SlotUnavailable, message),
            MarketError::OutsideServiceArea(message) => ApiError::new(ErrorCode::OutsideServiceArea, message),
            MarketError::Unexpected(cause) => ApiError::internal(&cause),
        }
    }
}

/// Checks a free-text field: trimmed, within `max` characters, no control characters
/// except line breaks and tabs. `min` 0 allows empty.
pub(crate) fn text(field: &str, input: &str, min: usize, max: usize) -> Result<String, MarketError> {
    let value = input.trim();
    let chars = value.chars().count();
    if chars < min || chars > max {
        return Err(MarketError::Invalid(format!("{field} must be {min} to {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(MarketError::Invalid(format!("{field} must not contain control characters")));
    }
    Ok(value.to_owned())
}
