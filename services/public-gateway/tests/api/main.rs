//! The public gateway's integration tests: the real app against a fresh real database
//! per test.

#![allow(clippy::unwrap_used)]

mod helpers;

mod contract;
mod database_url;
mod deploy;
mod edge;
mod forged_tokens;
mod otp;
mod push;
mod realtime;
mod sessions;
mod social;
mod startup;
