//! The control-center service's integration tests: the real app against a fresh real
//! database per test.

#![allow(clippy::unwrap_used)]

mod helpers;

mod cli;
mod client_address;
mod edge;
mod notifications;
mod staff_auth;
