//! What customers see of the marketplace: approved, not suspended, not deleted mitra
//! with at least one active service, each with its active services. Pages follow
//! (created_at, id), so a mitra joining or leaving while a customer pages never shifts
//! the others.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::services::{self, Service};
use crate::pagination::{Cursor, Page};

/// The condition on `mitras m` for being shown to customers.
pub(crate) const LISTABLE: &str = "m.verification_status = 'approved' AND m.suspended_at IS NULL \
     AND m.deleted_at IS NULL AND EXISTS (SELECT 1 FROM mitra_services s WHERE s.mitra_id = m.id AND s.active)";

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: Uuid,
    display_name: Option<String>,
    bio: String,
    is_online: bool,
    created_at: DateTime<Utc>,
}

/// A mitra as customers see it.
#[derive(Debug, Clone)]
pub struct ListedMitra {
    pub id: Uuid,
    pub display_name: Option<String>,
    pub bio: String,
    pub is_online: bool,
    pub services: Vec<Service>,
    created_at: DateTime<Utc>,
}

/// One page of listed mitra (optionally only those online) and the next page's cursor.
pub async fn page(db: &PgPool, page: Page, online: Option<bool>) -> sqlx::Result<(Vec<ListedMitra>, Option<String>)> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT m.id, m.display_name, m.bio, m.is_online, m.created_at FROM mitras m
         WHERE {LISTABLE} AND ($1::timestamptz IS NULL OR (m.created_at, m.id) > ($1, $2))
           AND ($3::boolean IS NULL OR m.is_online = $3)
         ORDER BY m.created_at, m.id LIMIT $4"
    ))
    .bind(page.after.map(|c| c.at))
    .bind(page.after.map(|c| c.id))
    .bind(online)
    .bind(page.fetch())
    .fetch_all(db)
    .await?;
    let mut listed = with_services(db, rows).await?;
    let next = page.finish(&mut listed, |m| Cursor { at: m.created_at, id: m.id });
    Ok((listed, next))
}

/// One listed mitra; `None` when it is not shown to customers.
pub async fn one(db: &PgPool, id: Uuid) -> sqlx::Result<Option<ListedMitra>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT m.id, m.display_name, m.bio, m.is_online, m.created_at FROM mitras m WHERE m.id = $1 AND {LISTABLE}"
    ))
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(with_services(db, rows).await?.pop())
}

/// Attaches each mitra's active services with one query for the whole page.
async fn with_services(db: &PgPool, rows: Vec<Row>) -> sqlx::Result<Vec<ListedMitra>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let all: Vec<Service> = sqlx::query_as(&format!(
        "SELECT {} FROM mitra_services WHERE mitra_id = ANY($1) AND active ORDER BY created_at, id",
        services::COLUMNS
    ))
    .bind(&ids)
    .fetch_all(db)
    .await?;
    let mut by_mitra: HashMap<Uuid, Vec<Service>> = HashMap::with_capacity(rows.len());
    for service in all {
        by_mitra.entry(service.mitra_id).or_default().push(service);
    }
    Ok(rows
        .into_iter()
        .map(|r| ListedMitra {
            services: by_mitra.remove(&r.id).unwrap_or_default(),
            id: r.id,
            display_name: r.display_name,
            bio: r.bio,
            is_online: r.is_online,
            created_at: r.created_at,
        })
        .collect())
}
