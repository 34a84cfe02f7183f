//! Halo Bestie's library: everything both services share. Route handlers in the
//! services parse input, call one function here, and map its result.
//!
//! # The map
//!
//! Four layers, and dependencies point down only: infrastructure knows nothing of the
//! business, the state holds what infrastructure built, the domain uses both, and the
//! application layer wires it all into a running service. Within a layer a module uses
//! only those listed before it, so there are no cycles; `layering::ORDER` is this list
//! and a unit test fails on any `crate::` path that points up (or at an unlisted module).
//!
//! ## Infrastructure
//!
//! - [`error`] owns the one error shape (`{"error":{"code","message"}}`), the codes, the
//!   per-operation status masks (`ApiErrors<MASK>`) and the one conversion of unexpected
//!   failures (500, or 503 when the database is out of reach). Uses nothing.
//! - [`telemetry`] owns logging: Cloud Logging's JSON lines, the request line built
//!   without `tracing` on the hot path, the per-request context every line carries, and
//!   the batched writer. Uses nothing.
//! - [`pagination`] owns page limits and opaque cursors. Uses nothing.
//! - [`phone`] owns phone numbers: parsing and the E.164 form we store. Uses nothing.
//! - [`tokens`] owns access tokens and their key ring, the user types and staff roles
//!   they name, and bcrypt run off the executor (`tokens::hashing`). Uses nothing.
//! - [`db`] owns the pool, the `DATABASE_URL` forms, the migrations and how queries are
//!   written (read its docs before adding one). Uses nothing.
//! - [`ratelimit`] owns the fixed-window counters kept in Postgres. Uses nothing.
//! - [`push`] owns the push transport: the FCM client and the outbox worker. Uses nothing.
//! - [`realtime`] owns the socket transport: the hub of this instance's sockets, the
//!   revoked-session set, the LISTEN/NOTIFY listener, the socket loop and `publish`.
//!   What a delivery means is handed to it as a hook. Uses `tokens`.
//! - [`http`] owns the edge every request passes (request id, log line, client address,
//!   limits, timeout, error rendering), the listener with graceful shutdown, health
//!   checks and JSON helpers. Uses `error`, `telemetry`, `db`, `realtime`.
//! - [`providers`] owns the clients of the companies we depend on: the SMS gateway,
//!   Google's and Apple's ID-token keys, Apple's grant revocation (with its outbox),
//!   Xendit and the payment stub. Uses `phone`, `push`.
//!
//! ## State
//!
//! - [`state`] owns `AppState`, what every handler shares (pool, key ring, settings, one
//!   client per provider, the realtime transport), and `Settings`, whose `Default` is
//!   the one place each tunable's default is written. Uses `tokens`, `push`, `realtime`,
//!   `providers`.
//!
//! ## Domain
//!
//! - [`audit`] owns the staff audit log: appending an entry in the caller's transaction
//!   and reading it back. Uses `error`, `pagination`, `http`.
//! - [`sessions`] owns sessions as rows: why one ends, ending one, a user's or all issued
//!   before a time, and the live list owners and staff see. Uses `tokens`.
//! - [`users`] owns the accounts: customers, mitras and staff, profiles, deletion, and
//!   folding an anonymous customer into another. Uses `tokens`, `sessions`.
//! - [`auth`] owns sign-in and authentication: anonymous, phone codes (`auth::otp`),
//!   Google and Apple (`auth::identity`, `auth::replay`), staff passwords; issuing and
//!   refreshing sessions; the request guards and WebSocket tickets and admission. Uses
//!   the infrastructure, `state`, `audit`, `sessions`, `users`.
//! - [`devices`] owns the push devices of sessions. Uses `tokens`, `state`.
//! - [`notifications`] owns staff notifications to users: the record, its socket event,
//!   its pushes, and what a delivery to a socket means. Uses `error`, `tokens`,
//!   `realtime`, `state`, `audit`.
//! - [`marketplace`] owns mitra profiles and services as the apps browse them, and orders
//!   and their state machine. Uses `pagination`, `tokens`, `users`, `notifications`.
//! - [`payments`] owns what money does to orders: checkout, callbacks, refunds and
//!   reconciliation, as methods of the `providers` payment client. Uses `providers`,
//!   `audit`, `marketplace`.
//! - [`staffops`] owns what staff do to users and to the team. Uses `pagination`,
//!   `phone`, `tokens`, `audit`, `sessions`, `users`, `notifications`.
//!
//! ## Application
//!
//! - [`config`] owns the flags and environment variables, checked once into `Settings`
//!   (secrets wrapped as they are parsed), and the stub policy. Uses the infrastructure
//!   and `state`.
//! - [`startup`] owns building a service the one way `serve` and the tests share: the
//!   state, the bound listener, the background tasks, and stopping them all. Uses the
//!   infrastructure, `state`, `auth` and `notifications` (what the janitor and the
//!   listener's hook need).
//! - [`cli`] owns what both binaries' command lines share: the verbs, `migrate`,
//!   `revoke-sessions`, `serve`. Uses `config`, `startup` and what they need.
//! - `testing` (feature `testing`) owns the integration tests' helpers: fresh databases,
//!   a service started as `serve` starts it, log capture, spec checks. Uses `startup`.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod marketplace;
pub mod notifications;
pub mod pagination;
pub mod payments;
pub mod phone;
pub mod providers;
pub mod push;
pub mod ratelimit;
pub mod realtime;
pub mod sessions;
pub mod staffops;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tokens;
pub mod users;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(test)]
mod layering;

pub use error::{ApiError, ErrorCode};
pub use state::{AppState, Settings};
