//! The control-center service's integration tests: the real app against a fresh real
//! database per test.

#![allow(clippy::unwrap_used)]

mod helpers;

mod cli;
mod client_address;
mod contract;
mod edge;
mod key_rotation;
mod mitra_review;
mod moderation;
mod money;
mod notifications;
mod payouts;
mod revoke_sessions;
mod session_authority;
mod staff_abuse;
mod staff_auth;
mod staff_ops;
