//! Folding an anonymous customer into an existing one, when the anonymous customer signs
//! in with a phone or identity that already belongs to someone.
//!
//! Every table that owns rows by customer id registers here, with the statement that
//! moves those rows from one customer to another (`$1` = from, `$2` = into), or in
//! [`NOT_MOVED`] with the reason. A test compares the two lists with the schema (every
//! table with a foreign key to `customers` or a `user_type`/`user_id` owner pair), so a
//! new table cannot be forgotten.

use anyhow::Context;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::sessions::{revoke_all, RevokeReason};
use crate::tokens::UserType;

/// A table holding rows that belong to a customer.
pub struct CustomerOwned {
    pub table: &'static str,
    /// Moves the rows of customer `$1` to customer `$2`.
    pub move_rows: &'static str,
}

pub const CUSTOMER_OWNED: &[CustomerOwned] = &[
    CustomerOwned {
        table: "auth_sessions",
        move_rows: "UPDATE auth_sessions SET user_id = $2 WHERE user_type = 'customer' AND user_id = $1",
    },
    CustomerOwned {
        table: "notifications",
        move_rows: "UPDATE notifications SET user_id = $2 WHERE user_type = 'customer' AND user_id = $1",
    },
    CustomerOwned {
        table: "user_events",
        move_rows: "UPDATE user_events SET user_id = $2 WHERE user_type = 'customer' AND user_id = $1",
    },
    CustomerOwned { table: "orders", move_rows: "UPDATE orders SET customer_id = $2 WHERE customer_id = $1" },
    CustomerOwned {
        table: "customer_identities",
        move_rows: "UPDATE customer_identities SET customer_id = $2 WHERE customer_id = $1",
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
    revoke_all(&mut *conn, UserType::Customer, from, RevokeReason::Merged)
        .await
        .context("revoking the merged customer's sessions")?;
    for owned in CUSTOMER_OWNED {
        sqlx::query(owned.move_rows)
            .bind(from)
            .bind(into)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("moving {} rows", owned.table))?;
    }
    sqlx::query("UPDATE customers SET merged_into = $2, merged_at = now(), updated_at = now() WHERE id = $1")
        .bind(from)
        .bind(into)
        .execute(&mut *conn)
        .await
        .context("marking the customer merged")?;
    tracing::info!(from = %from, into = %into, "anonymous customer merged");
    Ok(())
}
