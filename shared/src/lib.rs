//! Halo Bestie's library: everything both services share. Route handlers in the
//! services parse input, call one function here, and map its result.
//!
//! # The map
//!
//! Four layers, and dependencies point down only: infrastructure knows nothing of the
//! business, the state holds what infrastructure built, the domain uses both, and the
//! application layer wires it all into a running service. Within a layer a module uses
//! only those listed before it, so there are no cycles; `layering::ORDER` is this list
//! and a unit test fails on any path that points up (or at an unlisted module), and on
//! any import cycle among the files of one folder.
//!
//! **Each table has one owner**, named below and in `layering::OWNERS`: the one module
//! that writes it and exports what others read (functions, or named SQL fragments such
//! as `users::mitras::SERVING`). The few reads of another module's table that are
//! allowed are `layering::READS`, each with its reason; a unit test scans every
//! non-test file's SQL against both.
//!
//! **Vocabulary.** *Staff* are control-center users (`cc_user` in tokens, the spec and
//! the tables; `UserType::Staff` in Rust). *App users* are customers and mitra. A
//! *session* is one sign-in on one device (a row of `auth_sessions`); *issuing* one is
//! sign-in's (`auth::issue`), keeping the rows is `sessions`'.
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
//! - [`ratelimit`] owns `rate_limits`, the fixed-window counters. Uses nothing.
//! - [`push`] owns the push transport: the FCM client and the worker that drains any
//!   `push::Outbox` (the notifications module's). Uses nothing.
//! - [`realtime`] owns the socket transport and `user_events`: the hub of this
//!   instance's sockets, the revoked-session set, the LISTEN/NOTIFY listener, the socket
//!   loop and `publish`. What a delivery means is handed to it as a hook. Uses `tokens`.
//! - [`http`] owns the edge every request passes (request id, log line, client address,
//!   limits, timeout, error rendering), the listener with graceful shutdown, health
//!   checks and JSON helpers. Uses `error`, `telemetry`, `db`, `realtime`.
//! - [`providers`] owns the clients of the companies we depend on: the SMS gateway,
//!   Google's and Apple's ID-token keys, Apple's grant revocation (with its outbox,
//!   `apple_revocations`), Xendit and the payment stub. Uses `phone`, `push`.
//!
//! ## State
//!
//! - [`state`] owns `AppState`, what every handler shares (pool, key ring, the payment
//!   client, the realtime transport, and what only one service has: the gateway's
//!   sign-in providers, the control center's settings), and the settings, whose
//!   `Default`s are the one place each tunable's default is written: `Settings` (shared),
//!   `GatewaySettings`, `ControlCenterSettings`. Uses `tokens`, `push`, `realtime`,
//!   `providers`.
//!
//! ## Domain
//!
//! - [`audit`] owns `audit_log`: appending an entry in the caller's transaction and
//!   reading it back. Uses `error`, `pagination`, `http`.
//! - [`sessions`] owns `auth_sessions`: the rows sign-in starts and rotates, why one
//!   ends and ending any set of them (`revoke` with a `Scope`), and the live list owners
//!   and staff see. Uses `tokens`.
//! - [`users`] owns `customers`, `customer_identities`, `mitras` and `cc_users`: the
//!   accounts, profiles, standing, the directory staff search, and the writes others ask
//!   for (suspension, verification decisions, staff changes, erasure). Uses `tokens`,
//!   `pagination`, `providers`, `sessions`.
//! - [`notifications`] owns `notifications`, `push_outbox` and `devices`: what to tell
//!   whom (a socket event and pushes), staff messages, devices, the push outbox. Uses
//!   `error`, `tokens`, `push`, `realtime`, `state`, `audit`, `users`.
//! - [`ledger`] owns `ledger_transactions` and `ledger_postings`: the double-entry
//!   ledger every money movement posts to (`ledger::post`, idempotent by reference, in
//!   the caller's transaction), balances summed from postings, and `ledger-check`'s
//!   invariants. Knows accounts, not orders (it reads `orders` only to check that a
//!   completed order holds no escrow). Uses nothing of the domain.
//! - [`marketplace`] owns `mitra_services`, `orders` and `order_events`: services as the
//!   apps browse them, orders and their state machine, the mitra's marketplace switches.
//!   Uses `pagination`, `tokens`, `users`, `notifications`.
//! - [`payments`] owns `payment_callbacks`, `refunds`, `disputes` and the order's payment
//!   columns: the `Payments` service (checkout, completion's split, callbacks, refunds,
//!   unmatched money, reconciliation, release of earnings, disputes) and the order views
//!   with their money. Every money movement it makes is a `ledger` transaction in the
//!   same database transaction. Uses `providers`, `state`, `audit`, `ledger`, `marketplace`.
//! - [`staffops`] owns no table: what staff do to app users and to the team, each with
//!   its audit entry. Uses `pagination`, `tokens`, `audit`, `sessions`, `users`,
//!   `notifications`.
//! - [`auth`] owns `otp_challenges`, `otp_phone_sends`, `id_token_uses` and
//!   `ws_tickets`: sign-in (anonymous, phone codes, Google and Apple, staff passwords),
//!   issuing and refreshing sessions, folding an anonymous customer into another
//!   (`auth::merge`, asking each owner to move its rows), the request guards, WebSocket
//!   tickets and admission. Uses the infrastructure, `state`, `audit`, `sessions`,
//!   `users`, `notifications`, `marketplace`.
//! - [`payouts`] owns `payouts`, `payout_accounts`, `payout_account_changes`,
//!   `payout_callbacks` and `payout_holds`: paying mitra through Xendit Payouts v2 (the
//!   `Payouts` service: payout accounts behind a step-up code, `run-payouts`, callbacks,
//!   reconciliation, staff's holds). Every money move is a `ledger` transaction in the
//!   same database transaction as its payout row. Uses `providers`, `state`, `audit`,
//!   `users`, `notifications`, `ledger`, `auth` (the step-up code), `payments` (the
//!   callback error).
//! - [`accounts`] owns no table: deleting an account by asking each owner to erase its
//!   part, in one transaction. Uses `providers`, `sessions`, `users`, `notifications`,
//!   `marketplace`, `payouts`.
//!
//! ## Application
//!
//! - [`config`] owns the flags and environment variables, checked once into the
//!   settings (secrets wrapped as they are parsed), and the stub policy. Uses the
//!   infrastructure and `state`.
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
pub mod ledger;
pub mod marketplace;
pub mod notifications;
pub mod pagination;
pub mod payments;
pub mod payouts;
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
