//! The public gateway's integration tests: the real app against a fresh real database
//! per test.

#![allow(clippy::unwrap_used)]

mod helpers;

mod client_address;
mod deploy;
mod edge;
mod forged_tokens;
mod otp;
mod otp_lockout;
mod push;
mod push_handover;
mod realtime;
mod revocation;
mod sessions;
mod social;
mod social_replay;
mod startup;
mod ws_caps;
mod ws_ticket;
