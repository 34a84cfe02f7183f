//! Halo Bestie's library: everything both services share. Route handlers in the
//! services parse input, call one function here, and map its result.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod devices;
pub mod error;
pub mod http;
pub mod identity;
pub mod marketplace;
pub mod notifications;
pub mod oidc;
pub mod otp;
pub mod pagination;
pub mod payments;
pub mod phone;
pub mod push;
pub mod ratelimit;
pub mod realtime;
pub mod staffops;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tokens;
pub mod users;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ApiError, ErrorCode};
pub use state::{AppState, Settings};
