//! What customers see of the marketplace: approved, not suspended, not deleted mitra
//! with at least one active service, each with its active services. Pages follow
//! (created_at, id), so a mitra joining or leaving while a customer pages never shifts
//! the others.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::services::{Service, MAX_ACTIVE};
use crate::pagination::{Cursor, Page};
use crate::users::mitras::{LISTED_NAME, SERVING};

/// The condition on `mitras m` for being shown to customers: serving (the users
/// module's rule) and with at least one active service.
pub(crate) static LISTABLE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("{SERVING} AND EXISTS (SELECT 1 FROM mitra_services s WHERE s.mitra_id = m.id AND s.active)")
});

/// One active service of a listed mitra, with the mitra's columns beside it: a page is
/// one query (the mitra picked in a CTE, each joined laterally to its services), one
/// round trip.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    m_display_name: Option<String>,
    m_bio: String,
    m_is_online: bool,
    m_created_at: DateTime<Utc>,
    #[sqlx(flatten)]
    service: Service,
}

/// The mitra columns of [`Row`] for the mitra `picked` by a CTE, and their active
/// services (at most [`MAX_ACTIVE`] each, oldest first, whatever the table holds), in
/// the page's order. The name shown is the one staff approved (`LISTED_NAME`).
///
/// Written for PostgreSQL's plan cache: a prepared statement is re-planned on every
/// execution until a generic plan looks no worse than the custom ones, and planning this
/// query costs more than running it. So each page shape is its own statement with no
/// `$n IS NULL OR …` branches, and the page size is a literal (a generic plan assumes a
/// `LIMIT $n` returns 10 % of the table and would join every service): after five
/// executions every shape runs on a cached plan that walks the index and stops.
fn listing_query(picked: &str) -> String {
    format!(
        "WITH picked AS ({picked})
         SELECT p.display_name AS m_display_name, p.bio AS m_bio, p.is_online AS m_is_online,
                p.created_at AS m_created_at, s.id, s.mitra_id, s.title, s.description, s.price,
                s.duration_minutes, s.active, s.created_at
         FROM picked p CROSS JOIN LATERAL (
             SELECT s.* FROM mitra_services s WHERE s.mitra_id = p.id AND s.active
             ORDER BY s.created_at, s.id LIMIT {MAX_ACTIVE}
         ) s
         ORDER BY p.created_at, p.id, s.created_at, s.id"
    )
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
    let mut conditions = String::new();
    if page.after.is_some() {
        conditions.push_str(" AND (m.created_at, m.id) > ($1, $2)");
    }
    if online.is_some() {
        let n = if page.after.is_some() { 3 } else { 1 };
        conditions.push_str(&format!(" AND m.is_online = ${n}"));
    }
    // `fetch` is a bounded integer from `Page::parse`: safe to write into the text.
    let query = listing_query(&format!(
        "SELECT m.id, {LISTED_NAME} AS display_name, m.bio, m.is_online, m.created_at FROM mitras m
         WHERE {listable}{conditions} ORDER BY m.created_at, m.id LIMIT {}",
        page.fetch(),
        listable = *LISTABLE
    ));
    let mut query = sqlx::query_as::<_, Row>(&query);
    if let Some(after) = page.after {
        query = query.bind(after.at).bind(after.id);
    }
    if let Some(online) = online {
        query = query.bind(online);
    }
    let rows = query.fetch_all(db).await?;
    let mut listed = grouped(rows);
    let next = page.finish(&mut listed, |m| Cursor { at: m.created_at, id: m.id });
    Ok((listed, next))
}

/// One listed mitra; `None` when it is not shown to customers.
pub async fn one(db: &PgPool, id: Uuid) -> sqlx::Result<Option<ListedMitra>> {
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        listing_query(&format!(
            "SELECT m.id, {LISTED_NAME} AS display_name, m.bio, m.is_online, m.created_at FROM mitras m
             WHERE m.id = $1 AND {}",
            *LISTABLE
        ))
    });
    let rows: Vec<Row> = sqlx::query_as(&QUERY).bind(id).fetch_all(db).await?;
    Ok(grouped(rows).pop())
}

/// Folds the rows, ordered by mitra, into one listing per mitra.
fn grouped(rows: Vec<Row>) -> Vec<ListedMitra> {
    let mut listed: Vec<ListedMitra> = Vec::new();
    for row in rows {
        match listed.last_mut() {
            Some(last) if last.id == row.service.mitra_id => last.services.push(row.service),
            _ => listed.push(ListedMitra {
                id: row.service.mitra_id,
                display_name: row.m_display_name,
                bio: row.m_bio,
                is_online: row.m_is_online,
                created_at: row.m_created_at,
                services: vec![row.service],
            }),
        }
    }
    listed
}
