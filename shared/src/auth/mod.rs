//! Sign-in and authentication: every way in (`anonymous`, phone codes in `otp`, Google
//! and Apple in `identity` with `replay`, staff passwords in `staff`), issuing sessions
//! and rotating their refresh tokens (`issue`, `refresh`), the request guards
//! (`scheme`), and WebSocket tickets (`ticket`). Access tokens themselves are `tokens`;
//! ending sessions is `crate::sessions`.

pub mod anonymous;
pub mod identity;
pub mod issue;
pub mod merge;
pub mod otp;
pub mod public;
pub mod refresh;
pub mod replay;
pub mod scheme;
pub mod staff;
pub mod ticket;

use crate::error::{ApiError, ErrorCode};
use crate::providers::oidc::OidcError;
use crate::ratelimit::Verdict;

/// Everything that can go wrong while signing in, refreshing or authenticating.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is invalid")]
    InvalidToken,
    #[error("the access token has expired")]
    TokenExpired,
    #[error("this route is not for this kind of user")]
    Forbidden,
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    #[error("the refresh token was already used; the session is revoked")]
    RefreshTokenReused,
    #[error("the session has been revoked")]
    SessionRevoked,
    #[error("the session has expired; sign in again")]
    SessionExpired,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("this account is suspended; contact Halo Bestie support")]
    AccountSuspended,
    #[error("the ID token failed verification")]
    InvalidIdToken,
    #[error("this sign-in provider is not configured")]
    ProviderNotConfigured,
    #[error("the sign-in provider's keys cannot be fetched right now; try again shortly")]
    ProviderUnavailable,
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
    #[error("sessions cannot be checked right now; try again shortly")]
    RevocationsUnavailable,
}

impl AuthError {
    /// Turns a limiter verdict into `Ok` or `RateLimited`.
    pub fn check(outcome: Verdict) -> Result<(), AuthError> {
        match outcome {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after_secs } => Err(AuthError::RateLimited { retry_after_secs }),
        }
    }
}

impl From<OidcError> for AuthError {
    fn from(err: OidcError) -> Self {
        match err {
            OidcError::InvalidIdToken => AuthError::InvalidIdToken,
            OidcError::ProviderUnavailable => AuthError::ProviderUnavailable,
        }
    }
}

impl From<sqlx::Error> for AuthError {
    fn from(err: sqlx::Error) -> Self {
        AuthError::Unexpected(err.into())
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let code = match &err {
            AuthError::InvalidToken => ErrorCode::InvalidToken,
            AuthError::TokenExpired => ErrorCode::TokenExpired,
            AuthError::Forbidden => ErrorCode::Forbidden,
            AuthError::InvalidRefreshToken => ErrorCode::InvalidRefreshToken,
            AuthError::RefreshTokenReused => ErrorCode::RefreshTokenReused,
            AuthError::SessionRevoked => ErrorCode::SessionRevoked,
            AuthError::SessionExpired => ErrorCode::SessionExpired,
            AuthError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AuthError::AccountDisabled => ErrorCode::AccountDisabled,
            AuthError::AccountSuspended => ErrorCode::AccountSuspended,
            AuthError::InvalidIdToken => ErrorCode::InvalidIdToken,
            AuthError::ProviderNotConfigured => ErrorCode::ProviderNotConfigured,
            AuthError::ProviderUnavailable => ErrorCode::ProviderUnavailable,
            AuthError::RevocationsUnavailable => ErrorCode::Unavailable,
            AuthError::RateLimited { retry_after_secs } => return ApiError::rate_limited(*retry_after_secs),
            AuthError::Unexpected(cause) => return ApiError::internal(cause),
        };
        ApiError::new(code, err.to_string())
    }
}

impl From<AuthError> for poem::Error {
    fn from(err: AuthError) -> Self {
        ApiError::from(err).into()
    }
}
