//! A mitra's services: title, description, price in whole rupiah, duration, active flag.
//! Only the owning mitra sees and edits its services here; customers see the active ones
//! through browse.
//!
//! Bounded (security review M-3): at most [`MAX_ACTIVE`] active services per mitra,
//! checked here for a clear 409 and held by the database (`mitra_services_active_cap`, a
//! trigger that takes a per-mitra lock before counting, so racing creates cannot pass it
//! together); writes are rate-limited per mitra; the own list is paged. Every change of
//! a title, description or price is recorded for staff (`mitra_service_changes`, review
//! L-7): an approved mitra cannot quietly turn into something staff never saw.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{text, MarketError};
use crate::pagination::{Cursor, Page};
use crate::ratelimit::{self, Verdict};

pub const MIN_PRICE: i64 = 1_000;
pub const MAX_PRICE: i64 = 100_000_000;
pub const MIN_DURATION: i32 = 5;
pub const MAX_DURATION: i32 = 1440;
const MAX_TITLE: usize = 120;
const MAX_DESCRIPTION: usize = 2000;
/// Active services one mitra may have (browse shows at most this many per mitra).
pub const MAX_ACTIVE: i64 = 50;
/// The database's name for the same cap.
const CAP_CONSTRAINT: &str = "mitra_services_active_cap";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Service {
    pub id: Uuid,
    pub mitra_id: Uuid,
    pub title: String,
    pub description: String,
    pub price: i64,
    pub duration_minutes: i32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str = "id, mitra_id, title, description, price, duration_minutes, active, created_at";

/// A create or an edit: every field optional for an edit, title/price/duration
/// required for a create.
#[derive(Debug, Default, Clone)]
pub struct ServiceInput<'a> {
    pub title: Option<&'a str>,
    pub description: Option<&'a str>,
    pub price: Option<i64>,
    pub duration_minutes: Option<i32>,
    pub active: Option<bool>,
}

/// The input with every given field checked and normalised.
struct Checked {
    title: Option<String>,
    description: Option<String>,
    price: Option<i64>,
    duration_minutes: Option<i32>,
    active: Option<bool>,
}

fn check(input: &ServiceInput<'_>) -> Result<Checked, MarketError> {
    if let Some(price) = input.price.filter(|p| !(MIN_PRICE..=MAX_PRICE).contains(p)) {
        return Err(MarketError::Invalid(format!(
            "price must be whole rupiah between {MIN_PRICE} and {MAX_PRICE} (got {price})"
        )));
    }
    if let Some(minutes) = input.duration_minutes.filter(|d| !(MIN_DURATION..=MAX_DURATION).contains(d)) {
        return Err(MarketError::Invalid(format!(
            "duration_minutes must be between {MIN_DURATION} and {MAX_DURATION} (got {minutes})"
        )));
    }
    Ok(Checked {
        title: input.title.map(|t| text("title", t, 1, MAX_TITLE)).transpose()?,
        description: input.description.map(|d| text("description", d, 0, MAX_DESCRIPTION)).transpose()?,
        price: input.price,
        duration_minutes: input.duration_minutes,
        active: input.active,
    })
}

fn over_cap() -> MarketError {
    MarketError::Conflict(format!(
        "a mitra may have at most {MAX_ACTIVE} active services; deactivate one (PATCH with active: false) first"
    ))
}

/// The database's cap, when a racing write got past the count, as the same 409.
fn capped(err: sqlx::Error) -> MarketError {
    match &err {
        sqlx::Error::Database(db) if db.constraint() == Some(CAP_CONSTRAINT) => over_cap(),
        _ => err.into(),
    }
}

/// Counts one service write (create or edit) of the mitra against `per_hour` (0: no
/// limit); a 429 when over.
pub async fn count_write(db: &PgPool, mitra_id: Uuid, per_hour: u32) -> Result<(), MarketError> {
    let key = format!("service-write:{}", mitra_id.simple());
    match ratelimit::hit(db, &key, per_hour, 3600).await.context("counting the service write")? {
        Verdict::Allowed => Ok(()),
        Verdict::Limited { retry_after_secs } => Err(MarketError::RateLimited(retry_after_secs)),
    }
}

async fn active_count(conn: &mut PgConnection, mitra_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM mitra_services WHERE mitra_id = $1 AND active")
        .bind(mitra_id)
        .fetch_one(conn)
        .await
}

pub async fn create(db: &PgPool, mitra_id: Uuid, input: &ServiceInput<'_>) -> Result<Service, MarketError> {
    let checked = check(input)?;
    let missing = |field: &str| MarketError::Invalid(format!("{field} is required"));
    let title = checked.title.ok_or_else(|| missing("title"))?;
    let price = checked.price.ok_or_else(|| missing("price"))?;
    let duration = checked.duration_minutes.ok_or_else(|| missing("duration_minutes"))?;
    let active = checked.active.unwrap_or(true);
    let mut conn = db.acquire().await.context("acquiring a connection")?;
    if active && active_count(&mut conn, mitra_id).await? >= MAX_ACTIVE {
        return Err(over_cap());
    }
    let service = sqlx::query_as(&format!(
        "INSERT INTO mitra_services (id, mitra_id, title, description, price, duration_minutes, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(mitra_id)
    .bind(title)
    .bind(checked.description.unwrap_or_default())
    .bind(price)
    .bind(duration)
    .bind(active)
    .fetch_one(&mut *conn)
    .await
    .map_err(capped)?;
    Ok(service)
}

/// One page of the mitra's services, oldest first, and the next page's cursor.
pub async fn list_own(db: &PgPool, mitra_id: Uuid, page: Page) -> sqlx::Result<(Vec<Service>, Option<String>)> {
    let after = page.after.map(|c| (c.at, c.id));
    let mut rows: Vec<Service> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mitra_services
         WHERE mitra_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4"
    ))
    .bind(mitra_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(page.fetch())
    .fetch_all(db)
    .await?;
    let next = page.finish(&mut rows, |s| Cursor { at: s.created_at, id: s.id });
    Ok((rows, next))
}

/// Edits the given fields of the mitra's own service; another mitra's is `NotFound`.
/// Orders already made keep the title and price they copied. A changed title,
/// description or price is recorded for staff in the same transaction.
pub async fn edit(db: &PgPool, mitra_id: Uuid, id: Uuid, input: &ServiceInput<'_>) -> Result<Service, MarketError> {
    let c = check(input)?;
    let mut tx = db.begin().await.context("starting the service edit")?;
    let before: Service =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM mitra_services WHERE id = $1 AND mitra_id = $2 FOR UPDATE"))
            .bind(id)
            .bind(mitra_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(MarketError::NotFound("no such service"))?;
    if c.active == Some(true) && !before.active && active_count(&mut tx, mitra_id).await? >= MAX_ACTIVE {
        return Err(over_cap());
    }
    let after: Service = sqlx::query_as(&format!(
        "UPDATE mitra_services SET title = COALESCE($3, title), description = COALESCE($4, description),
                price = COALESCE($5, price), duration_minutes = COALESCE($6, duration_minutes),
                active = COALESCE($7, active), updated_at = now()
         WHERE id = $1 AND mitra_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(mitra_id)
    .bind(c.title)
    .bind(c.description)
    .bind(c.price)
    .bind(c.duration_minutes)
    .bind(c.active)
    .fetch_one(&mut *tx)
    .await
    .map_err(capped)?;
    record_changes(&mut tx, &before, &after).await?;
    tx.commit().await.context("committing the service edit")?;
    Ok(after)
}

/// Writes one `mitra_service_changes` row per field staff review that changed.
async fn record_changes(conn: &mut PgConnection, before: &Service, after: &Service) -> sqlx::Result<()> {
    let changed = [
        ("title", before.title.clone(), after.title.clone()),
        ("description", before.description.clone(), after.description.clone()),
        ("price", before.price.to_string(), after.price.to_string()),
    ];
    for (field, old, new) in changed.into_iter().filter(|(_, old, new)| old != new) {
        sqlx::query(
            "INSERT INTO mitra_service_changes (service_id, mitra_id, field, before, after) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(after.id)
        .bind(after.mitra_id)
        .bind(field)
        .bind(old)
        .bind(new)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A change of a service's title, description or price, as staff see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceChange {
    pub id: i64,
    pub service_id: Uuid,
    pub field: String,
    pub before: String,
    pub after: String,
    pub changed_at: DateTime<Utc>,
}

/// The latest changes of a mitra's services, newest first (at most `limit`).
pub async fn recent_changes(db: &PgPool, mitra_id: Uuid, limit: i64) -> sqlx::Result<Vec<ServiceChange>> {
    sqlx::query_as(
        "SELECT id, service_id, field, before, after, changed_at FROM mitra_service_changes
         WHERE mitra_id = $1 ORDER BY changed_at DESC, id DESC LIMIT $2",
    )
    .bind(mitra_id)
    .bind(limit)
    .fetch_all(db)
    .await
}
