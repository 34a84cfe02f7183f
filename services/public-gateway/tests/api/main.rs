//! The public gateway's integration tests: the real app against a fresh real database
//! per test.

#![allow(clippy::unwrap_used)]

mod helpers;

mod deploy;
mod edge;
mod forged_tokens;
mod key_rotation;
mod marketplace;
mod otp;
mod payments;
mod push;
mod realtime;
mod refresh_abuse;
mod self_service;
mod sessions;
mod social;
mod startup;
