//! The control-center service's integration tests: the real app against a fresh real
//! database per test.

#![allow(clippy::unwrap_used)]

mod helpers;

mod cli;
mod contract;
mod edge;
mod notifications;
mod staff_auth;
