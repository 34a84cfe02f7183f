//! Reviews (contract §14, §16): one per side per order that has completed (even if it was
//! refunded later), within `REVIEW_WINDOW_DAYS` of completion; double-blind.
//!
//! A review is published when both sides have reviewed (the second review sets
//! `published_at` on both rows, under a per-order lock so two racing reviews cannot both
//! miss each other) or once the order's `completed_at` + the window has passed: every read
//! computes that, so the window's end needs no sweep and is never late. Ratings are
//! aggregated from the rows on each read (through the orders' party indexes and the
//! reviews' `(order_id, reviewer)` key), so nothing cached can drift from what is
//! published; hidden reviews leave both the listing and the averages.

use anyhow::Context;
use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{text, MarketError, Party, Side};
use crate::audit::{self, StaffActor, Target};
use crate::pagination::{Cursor, Page};
use crate::users::customers;

const MAX_COMMENT: usize = 1000;

/// One side's review of an order.
#[derive(Debug, Clone, Object)]
pub struct Review {
    pub id: Uuid,
    pub order_id: Uuid,
    /// 1–5.
    pub rating: i32,
    #[oai(nullable)]
    pub comment: Option<String>,
    pub reviewer: Side,
    /// Whether the other side can see it (both reviewed, or the window passed).
    pub published: bool,
    pub created_at: DateTime<Utc>,
}

/// The two reviews of an order as one party sees them (in the order's `reviews`, in the
/// customer's and the mitra's views only): `mine` is the caller's own review once
/// written; `theirs` the other party's, null until it is published.
#[derive(Debug, Clone, Object)]
pub struct OrderReviews {
    // Null when absent (a nullable `$ref` would become `allOf`, which generators refuse).
    pub mine: Option<Review>,
    pub theirs: Option<Review>,
}

/// An average over published, unhidden reviews: a mitra's in browse items and the
/// detail (by customers), a customer's in the mitra's order view (`customer_rating`, by
/// mitra).
#[derive(Debug, Clone, Copy, PartialEq, Object)]
pub struct Rating {
    /// One decimal; null when `count` is 0.
    #[oai(nullable)]
    pub average: Option<f64>,
    pub count: i64,
}

impl Rating {
    pub const NONE: Rating = Rating { average: None, count: 0 };
}

/// A published review of a mitra as customers browsing see it.
#[derive(Debug, Clone, Object)]
pub struct PublicReview {
    pub id: Uuid,
    pub rating: i32,
    #[oai(nullable)]
    pub comment: Option<String>,
    /// The customer's display name; null when they have none (or deleted the account).
    #[oai(nullable)]
    pub reviewer_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: Uuid,
    order_id: Uuid,
    rating: i16,
    comment: Option<String>,
    reviewer: Side,
    published: bool,
    created_at: DateTime<Utc>,
}

impl From<Row> for Review {
    fn from(r: Row) -> Self {
        Review {
            id: r.id,
            order_id: r.order_id,
            rating: i32::from(r.rating),
            comment: r.comment,
            reviewer: r.reviewer,
            published: r.published,
            created_at: r.created_at,
        }
    }
}

/// The condition on `reviews r JOIN orders o` for being published, with the window in
/// days as `$w` (the placeholder's text).
fn published(window: &str) -> String {
    format!("(r.published_at IS NOT NULL OR o.completed_at + make_interval(days => {window}) <= now())")
}

fn columns(window: &str) -> String {
    format!("r.id, r.order_id, r.rating, r.comment, r.reviewer, {} AS published, r.created_at", published(window))
}

/// What a side writes.
pub struct NewReview<'a> {
    pub rating: i64,
    pub comment: Option<&'a str>,
}

/// Writes `party`'s review of order `order_id`. Another's order is `NotFound`; an order
/// that never completed, or whose window passed, is `InvalidState`; a second review by
/// the same side is `Conflict`.
pub async fn create(
    db: &PgPool,
    party: Party,
    order_id: Uuid,
    new: &NewReview<'_>,
    window_days: u32,
) -> Result<Review, MarketError> {
    let rating = i16::try_from(new.rating).ok().filter(|r| (1..=5).contains(r));
    let Some(rating) = rating else {
        return Err(MarketError::Invalid("rating must be 1 to 5".into()));
    };
    let comment = new.comment.map(|c| text("comment", c, 0, MAX_COMMENT)).transpose()?.filter(|c| !c.is_empty());
    let (column, owner) = party.column();
    let side = party.side();
    let window = i32::try_from(window_days).unwrap_or(i32::MAX);
    let mut tx = db.begin().await.context("starting the review")?;
    // Both sides' reviews of one order take this lock, so the second always sees the first.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 29))")
        .bind(order_id)
        .execute(&mut *tx)
        .await
        .context("locking the order's reviews")?;
    let found: Option<(Option<DateTime<Utc>>, bool)> = sqlx::query_as(&format!(
        "SELECT completed_at, coalesce(completed_at + make_interval(days => $3) > now(), false) FROM orders
         WHERE id = $1 AND {column} = $2 AND status <> 'creating'"
    ))
    .bind(order_id)
    .bind(owner)
    .bind(window)
    .fetch_optional(&mut *tx)
    .await
    .context("reading the order")?;
    match found {
        None => return Err(MarketError::NotFound("no such order")),
        Some((None, _)) => return Err(MarketError::InvalidState("only a completed order can be reviewed".into())),
        Some((Some(_), false)) => {
            return Err(MarketError::InvalidState(format!("reviews are taken for {window_days} days after completion")))
        }
        Some((Some(_), true)) => {}
    }
    let inserted = sqlx::query(
        "INSERT INTO reviews (id, order_id, reviewer, rating, comment) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (order_id, reviewer) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(order_id)
    .bind(side)
    .bind(rating)
    .bind(&comment)
    .execute(&mut *tx)
    .await
    .context("writing the review")?;
    if inserted.rows_affected() == 0 {
        return Err(MarketError::Conflict("this order already has your review".into()));
    }
    // The second side's review publishes both.
    sqlx::query(
        "UPDATE reviews SET published_at = now()
         WHERE order_id = $1 AND published_at IS NULL AND (SELECT count(*) FROM reviews WHERE order_id = $1) = 2",
    )
    .bind(order_id)
    .execute(&mut *tx)
    .await
    .context("publishing the reviews")?;
    let row: Row = sqlx::query_as(&format!(
        "SELECT {} FROM reviews r JOIN orders o ON o.id = r.order_id WHERE r.order_id = $1 AND r.reviewer = $2",
        columns("$3")
    ))
    .bind(order_id)
    .bind(side)
    .bind(window)
    .fetch_one(&mut *tx)
    .await
    .context("reading the review back")?;
    tx.commit().await.context("committing the review")?;
    tracing::info!(%order_id, reviewer = side.as_str(), "order reviewed");
    Ok(row.into())
}

/// The reviews of `order_ids` as `side` sees them: its own, and the other's once
/// published. Hidden reviews stay visible to their own writer only.
pub async fn for_orders(
    db: &PgPool,
    side: Side,
    order_ids: &[Uuid],
    window_days: u32,
) -> sqlx::Result<Vec<(Uuid, OrderReviews)>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {} FROM reviews r JOIN orders o ON o.id = r.order_id
         WHERE r.order_id = ANY($1) AND (r.reviewer = $3 OR r.hidden_at IS NULL)",
        columns("$2")
    ))
    .bind(order_ids)
    .bind(i32::try_from(window_days).unwrap_or(i32::MAX))
    .bind(side)
    .fetch_all(db)
    .await?;
    let mut out: Vec<(Uuid, OrderReviews)> =
        order_ids.iter().map(|id| (*id, OrderReviews { mine: None, theirs: None })).collect();
    for row in rows {
        let Some((_, reviews)) = out.iter_mut().find(|(id, _)| *id == row.order_id) else { continue };
        if row.reviewer == side {
            reviews.mine = Some(row.into());
        } else if row.published {
            reviews.theirs = Some(row.into());
        }
    }
    Ok(out)
}

/// Ratings of mitra (`Side::Mitra`: over customers' reviews of their orders) or of
/// customers (`Side::Customer`: over mitra's reviews), one per id asked for.
pub async fn ratings(db: &PgPool, of: Side, ids: &[Uuid], window_days: u32) -> sqlx::Result<Vec<(Uuid, Rating)>> {
    let (column, reviewer) = match of {
        Side::Mitra => ("mitra_id", Side::Customer),
        Side::Customer => ("customer_id", Side::Mitra),
    };
    let found: Vec<(Uuid, Option<f64>, i64)> = sqlx::query_as(&format!(
        "SELECT o.{column}, round(avg(r.rating), 1)::float8, count(*)
         FROM orders o JOIN reviews r ON r.order_id = o.id AND r.reviewer = $2
         WHERE o.{column} = ANY($1) AND r.hidden_at IS NULL AND {}
         GROUP BY o.{column}",
        published("$3")
    ))
    .bind(ids)
    .bind(reviewer)
    .bind(i32::try_from(window_days).unwrap_or(i32::MAX))
    .fetch_all(db)
    .await?;
    Ok(ids
        .iter()
        .map(|id| {
            let rating = found
                .iter()
                .find(|(of, _, _)| of == id)
                .map_or(Rating::NONE, |(_, average, count)| Rating { average: *average, count: *count });
            (*id, rating)
        })
        .collect())
}

/// A page of mitra `mitra_id`'s published, unhidden reviews by customers, newest first.
pub async fn of_mitra(
    db: &PgPool,
    mitra_id: Uuid,
    page: Page,
    window_days: u32,
) -> sqlx::Result<(Vec<PublicReview>, Option<String>)> {
    #[derive(sqlx::FromRow)]
    struct Listed {
        id: Uuid,
        rating: i16,
        comment: Option<String>,
        customer_id: Uuid,
        created_at: DateTime<Utc>,
    }
    let mut rows: Vec<Listed> = sqlx::query_as(&format!(
        "SELECT r.id, r.rating, r.comment, o.customer_id, r.created_at
         FROM orders o JOIN reviews r ON r.order_id = o.id AND r.reviewer = 'customer'
         WHERE o.mitra_id = $1 AND r.hidden_at IS NULL AND {}
           AND ($3::timestamptz IS NULL OR (r.created_at, r.id) < ($3, $4))
         ORDER BY r.created_at DESC, r.id DESC LIMIT $5",
        published("$2")
    ))
    .bind(mitra_id)
    .bind(i32::try_from(window_days).unwrap_or(i32::MAX))
    .bind(page.after.map(|c| c.at))
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch())
    .fetch_all(db)
    .await?;
    let next = page.finish(&mut rows, |r| Cursor { at: r.created_at, id: r.id });
    let ids: Vec<Uuid> = rows.iter().map(|r| r.customer_id).collect();
    let names = customers::display_names(db, &ids).await?;
    let items = rows
        .into_iter()
        .map(|r| PublicReview {
            id: r.id,
            rating: i32::from(r.rating),
            comment: r.comment,
            reviewer_name: names.iter().find(|(id, _)| *id == r.customer_id).and_then(|(_, n)| n.clone()),
            created_at: r.created_at,
        })
        .collect();
    Ok((items, next))
}

/// Hides an abusive review (staff; audited): it leaves the listing and the averages.
/// Hiding a hidden review changes nothing and is not audited again.
pub async fn hide(
    db: &PgPool,
    actor: &StaffActor,
    id: Uuid,
    reason: &str,
    window_days: u32,
) -> Result<Review, MarketError> {
    let reason = text("reason", reason, 1, MAX_COMMENT)?;
    let mut tx = db.begin().await.context("starting the hide")?;
    let hidden =
        sqlx::query("UPDATE reviews SET hidden_at = now(), hidden_reason = $2 WHERE id = $1 AND hidden_at IS NULL")
            .bind(id)
            .bind(&reason)
            .execute(&mut *tx)
            .await
            .context("hiding the review")?;
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {} FROM reviews r JOIN orders o ON o.id = r.order_id WHERE r.id = $1",
        columns("$2")
    ))
    .bind(id)
    .bind(i32::try_from(window_days).unwrap_or(i32::MAX))
    .fetch_optional(&mut *tx)
    .await
    .context("reading the review")?;
    let Some(row) = row else { return Err(MarketError::NotFound("no such review")) };
    if hidden.rows_affected() == 1 {
        let target = Target { kind: "review", id: id.to_string() };
        audit::append(
            &mut tx,
            actor,
            "review.hide",
            Some(target),
            json!({ "order_id": row.order_id, "reason": reason }),
        )
        .await
        .context("auditing")?;
    }
    tx.commit().await.context("committing the hide")?;
    Ok(row.into())
}

/// Erases the comments a deleting party wrote (their ratings stay, anonymised: a review
/// names its writer only through the order), in the caller's transaction.
pub async fn erase_party(conn: &mut sqlx::PgConnection, party: Party) -> sqlx::Result<()> {
    let (column, owner) = party.column();
    sqlx::query(&format!(
        "UPDATE reviews SET comment = NULL
         WHERE reviewer = $1 AND comment IS NOT NULL AND order_id IN (SELECT id FROM orders WHERE {column} = $2)"
    ))
    .bind(party.side())
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(())
}
