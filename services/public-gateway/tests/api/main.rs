//! The public gateway's integration tests: the real app against a fresh real database
//! per test.

#![allow(clippy::unwrap_used)]

mod helpers;

mod account_erasure;
mod booking;
mod chat;
mod client_address;
mod contract;
mod database_url;
mod deploy;
mod edge;
mod event_schemas;
mod field_errors;
mod forged_tokens;
mod key_rotation;
mod marketplace;
mod mitra_review;
mod money;
mod money_properties;
mod money_support;
mod otp;
mod otp_lockout;
mod payments;
mod payouts;
mod payouts_account;
mod payouts_callbacks;
mod payouts_reconcile;
mod payouts_support;
mod purge;
mod push;
mod push_handover;
mod realtime;
mod refresh_abuse;
mod reviews;
mod revocation;
mod self_service;
mod service_limits;
mod session_hardening;
mod sessions;
mod social;
mod social_replay;
mod startup;
mod webhook_logs;
mod ws_caps;
mod ws_ticket;
