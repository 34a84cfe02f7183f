//! Mitra: the service partners using the mitra app. An account is created on the first
//! phone sign-in.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Mitra {
    pub id: Uuid,
    pub phone: String,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Mitra>> {
    sqlx::query_as("SELECT id, phone, display_name, created_at FROM mitras WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}
