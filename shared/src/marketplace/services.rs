//! A mitra's services: title, description, price in whole rupiah, duration, active flag.
//! Only the owning mitra sees and edits its services here; customers see the active ones
//! through browse.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{text, MarketError};

pub const MIN_PRICE: i64 = 1_000;
pub const MAX_PRICE: i64 = 100_000_000;
pub const MIN_DURATION: i32 = 5;
pub const MAX_DURATION: i32 = 1440;
const MAX_TITLE: usize = 120;
const MAX_DESCRIPTION: usize = 2000;

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

pub async fn create(db: &PgPool, mitra_id: Uuid, input: &ServiceInput<'_>) -> Result<Service, MarketError> {
    let checked = check(input)?;
    let missing = |field: &str| MarketError::Invalid(format!("{field} is required"));
    let title = checked.title.ok_or_else(|| missing("title"))?;
    let price = checked.price.ok_or_else(|| missing("price"))?;
    let duration = checked.duration_minutes.ok_or_else(|| missing("duration_minutes"))?;
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
    .bind(checked.active.unwrap_or(true))
    .fetch_one(db)
    .await?;
    Ok(service)
}

/// The mitra's services, oldest first.
pub async fn list_own(db: &PgPool, mitra_id: Uuid) -> sqlx::Result<Vec<Service>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM mitra_services WHERE mitra_id = $1 ORDER BY created_at, id"))
        .bind(mitra_id)
        .fetch_all(db)
        .await
}

/// Edits the given fields of the mitra's own service; another mitra's is `NotFound`.
/// Orders already made keep the title and price they copied.
pub async fn edit(db: &PgPool, mitra_id: Uuid, id: Uuid, input: &ServiceInput<'_>) -> Result<Service, MarketError> {
    let c = check(input)?;
    sqlx::query_as(&format!(
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
    .fetch_optional(db)
    .await?
    .ok_or(MarketError::NotFound("no such service"))
}
