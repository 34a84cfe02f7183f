//! The marketplace: what mitra offer (services), how customers find them (browse), and
//! orders with their strict lifecycle. Payment plugs in at two points of the order
//! module: when an order is created (an invoice is opened for it) and when a payment is
//! confirmed (`orders::confirm_payment`); the payments module owns both.

pub mod areas;
pub mod browse;
pub mod chat;
pub mod orders;
pub mod profile;
pub mod reviews;
pub mod schedule;
pub mod services;

use poem_openapi::Enum;
use uuid::Uuid;

use crate::tokens::UserType;
use crate::{ApiError, ErrorCode};

/// Whose orders a list or read is about.
#[derive(Debug, Clone, Copy)]
pub enum Party {
    Customer(Uuid),
    Mitra(Uuid),
}

impl Party {
    /// The orders column naming this party, and its id.
    pub(crate) fn column(self) -> (&'static str, Uuid) {
        match self {
            Party::Customer(id) => ("customer_id", id),
            Party::Mitra(id) => ("mitra_id", id),
        }
    }

    pub fn side(self) -> Side {
        match self {
            Party::Customer(_) => Side::Customer,
            Party::Mitra(_) => Side::Mitra,
        }
    }
}

/// Which side of an order someone is on (who sent a message, wrote a review, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, Enum, serde::Serialize)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Side {
    Customer,
    Mitra,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Customer => "customer",
            Side::Mitra => "mitra",
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Customer => Side::Mitra,
            Side::Mitra => Side::Customer,
        }
    }

    pub fn user_type(self) -> UserType {
        match self {
            Side::Customer => UserType::Customer,
            Side::Mitra => UserType::Mitra,
        }
    }
}

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
    /// Over a per-caller limit (service writes, chat messages); retry after this many
    /// seconds.
    #[error("too many requests; try again later")]
    RateLimited(u64),
    /// The start is not a free slot (or was just taken).
    #[error("{0}")]
    SlotUnavailable(String),
    /// The address lies outside the mitra's service area.
    #[error("{0}")]
    OutsideServiceArea(String),
    /// The same client id named a different request before (`client_message_id`).
    #[error("{0}")]
    IdReused(&'static str),
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
            MarketError::IdReused(message) => ApiError::new(ErrorCode::IdempotencyKeyReused, message),
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
