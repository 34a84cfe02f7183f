//! Customers: the people using the client app, anonymous until they verify a phone or
//! sign in with Google or Apple.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Customer {
    pub id: Uuid,
    pub is_anonymous: bool,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn create_anonymous(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO customers (id, is_anonymous) VALUES ($1, true)").bind(id).execute(conn).await?;
    Ok(())
}

/// A customer that still exists on its own (not merged into another, not deleted).
pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Customer>> {
    sqlx::query_as(
        "SELECT id, is_anonymous, phone, email, display_name, created_at
         FROM customers WHERE id = $1 AND merged_into IS NULL AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}
