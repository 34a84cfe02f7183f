//! The public gateway's integration tests: the real app against a fresh real database
//! per test.

#![allow(clippy::unwrap_used)]

mod helpers;

mod chat;
mod client_address;
mod contract;
mod database_url;
mod deploy;
mod edge;
mod forged_tokens;
mod key_rotation;
mod marketplace;
mod money;
mod money_properties;
mod money_support;
mod otp;
mod otp_lockout;
mod payments;
mod push;
mod push_handover;
mod realtime;
mod refresh_abuse;
mod reviews;
mod revocation;
mod self_service;
mod sessions;
mod social;
mod social_replay;
mod startup;
mod ws_caps;
mod ws_ticket;
