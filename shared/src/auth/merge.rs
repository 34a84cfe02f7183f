//! Folding an anonymous customer into an existing one, when the anonymous customer signs
//! in with a phone or identity that already belongs to someone (contract §5): nothing it
//! owned is lost, everything moves in the sign-in's transaction.
//!
//! Every table that holds rows of a customer is in [`CUSTOMER_OWNED`] with its owner's
//! function that moves them (`from` → `into`), or in [`NOT_MOVED`] with the reason. A
//! test compares the two lists with the schema (every table with a foreign key to
//! `customers` or a `user_type`/`user_id` owner pair), so a new table cannot be forgotten.

use anyhow::Context;
use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::sessions::{self, RevokeReason, Scope};
use crate::tokens::UserType;
use crate::{marketplace, notifications, realtime, users};

/// Moves the rows of customer `from` (the second argument) to `into` (the third).
pub type MoveRows = for<'c> fn(&'c mut PgConnection, Uuid, Uuid) -> BoxFuture<'c, sqlx::Result<()>>;

/// A table holding rows that belong to a customer, and how its owner moves them.
pub struct CustomerOwned {
    pub table: &'static str,
    pub move_rows: MoveRows,
}

pub const CUSTOMER_OWNED: &[CustomerOwned] = &[
    CustomerOwned { table: "auth_sessions", move_rows: |c, f, i| Box::pin(sessions::rows::move_customer(c, f, i)) },
    CustomerOwned { table: "notifications", move_rows: |c, f, i| Box::pin(notifications::move_customer(c, f, i)) },
    CustomerOwned { table: "user_events", move_rows: |c, f, i| Box::pin(realtime::move_customer_events(c, f, i)) },
    CustomerOwned { table: "orders", move_rows: |c, f, i| Box::pin(marketplace::orders::move_customer(c, f, i)) },
    // Last: it also marks `from` merged.
    CustomerOwned {
        table: "customer_identities",
        move_rows: |c, f, i| Box::pin(users::customers::merge_into(c, f, i)),
    },
];

/// Tables that hold rows of a customer but stay with the merged customer, and why.
pub const NOT_MOVED: &[(&str, &str)] = &[
    (
        "devices",
        "a device belongs to a session; the merged customer's sessions are revoked, and their devices with them",
    ),
    ("ws_tickets", "a ticket belongs to a session and lives seconds; the merged customer's sessions are revoked"),
];

/// Moves everything `from` owns to `into` and marks `from` merged, inside the caller's
/// transaction. `from`'s sessions are revoked first: it can no longer sign in.
pub async fn merge_customer(conn: &mut PgConnection, from: Uuid, into: Uuid) -> anyhow::Result<()> {
    sessions::revoke(&mut *conn, Scope::User(UserType::Customer, from), RevokeReason::Merged)
        .await
        .context("revoking the merged customer's sessions")?;
    for owned in CUSTOMER_OWNED {
        (owned.move_rows)(&mut *conn, from, into).await.with_context(|| format!("moving {} rows", owned.table))?;
    }
    tracing::info!(from = %from, into = %into, "anonymous customer merged");
    Ok(())
}
