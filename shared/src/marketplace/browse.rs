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
    m_decikm: Option<i64>,
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
    ordered_listing_query(picked, "NULL::bigint", "p.created_at, p.id")
}

/// [`listing_query`] with the mitra's distance column and order of a near page.
fn ordered_listing_query(picked: &str, decikm: &str, order: &str) -> String {
    format!(
        "WITH picked AS ({picked})
         SELECT p.display_name AS m_display_name, p.bio AS m_bio, p.is_online AS m_is_online,
                p.created_at AS m_created_at, {decikm} AS m_decikm, s.id, s.mitra_id, s.title, s.description,
                s.price, s.duration_minutes, s.active, s.created_at
         FROM picked p CROSS JOIN LATERAL (
             SELECT s.* FROM mitra_services s WHERE s.mitra_id = p.id AND s.active
             ORDER BY s.created_at, s.id LIMIT {MAX_ACTIVE}
         ) s
         ORDER BY {order}, s.created_at, s.id"
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
    /// With `near`: km from the point to the area's snapped centre, one decimal.
    pub distance_km: Option<f64>,
    created_at: DateTime<Utc>,
    decikm: Option<i64>,
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

/// The largest service radius, metres: the widest box a near page looks in.
const MAX_RADIUS_M: i32 = 50_000;

/// The rings a near page tries before the widest box, metres beyond the cursor's
/// distance (or the point): the first that holds a whole page of covering mitra gives
/// the page. In a city (thousands of mitra within a few km) the first ring does, and a
/// page reads tens of areas instead of every area within 50 km (issue 28's benchmark:
/// 10,000 mitra over Jakarta, ~100 ms a page before).
const RINGS_M: [i32; 3] = [1_500, 4_000, 12_000];

/// The customer's point as an `earth` cube: `ll_to_earth($1, $2)`'s own expression,
/// written out because the function (SQL with a domain cast) is planned again on every
/// execution of a cached plan, which costs more than the whole page.
const HERE: &str = "cube(cube(cube(earth() * cos(radians($1)) * cos(radians($2))), \
     earth() * cos(radians($1)) * sin(radians($2))), earth() * sin(radians($1)))";

/// Great-circle metres from area `a`'s snapped centre to the point: `earth_distance`'s
/// own arithmetic over `cube_distance` (the SQL function itself costs a few µs a row).
const METRES: &str = "2 * earth() * asin(least(cube_distance(a.centre, (SELECT here FROM point)) / (2 * earth()), 1))";

/// The statement of a near page: listed mitra whose area (from its snapped centre) covers
/// the point `($1, $2)`, ordered by (distance in 0.1 km, id), after `($3, $4)` when
/// `after`, online only when `online` (the next parameter).
///
/// Each ring around the point (beyond the cursor's distance) is read with an `earth_box`
/// over the GiST index on the area's centre, smallest first, and the first that holds
/// the whole page gives it (`UNION ALL … LIMIT`: the wider rings are never read); when
/// none does, the widest box does.
fn near_sql(after: bool, online: bool, fetch: i64) -> String {
    let mut conditions = String::new();
    if after {
        conditions.push_str(" AND (d.decikm, m.id) > ($3, $4)");
    }
    if online {
        conditions.push_str(&format!(" AND m.is_online = ${}", if after { 5 } else { 3 }));
    }
    let beyond = if after { "$3 * 100 + " } else { "" };
    // Covering, listed mitra (and their distance) whose centre lies within `reach` metres.
    let within = |reach: &str| {
        format!(
            "SELECT m.id, {LISTED_NAME} AS display_name, m.bio, m.is_online, m.created_at, d.decikm
             FROM mitra_service_areas a
             CROSS JOIN LATERAL (SELECT {METRES} AS metres) e
             CROSS JOIN LATERAL (SELECT round(e.metres / 100)::bigint AS decikm) d
             JOIN mitras m ON m.id = a.mitra_id
             WHERE earth_box((SELECT here FROM point), {reach}) @> a.centre
               AND e.metres <= {reach} AND e.metres <= a.radius_km * 1000 AND {listable}{conditions}",
            listable = *LISTABLE
        )
    };
    // Ring n: the first page of the covering mitra within it. It is the page itself when
    // it is full and its last distance (plus the half of 0.1 km rounding may hide) lies
    // inside the ring: nothing outside can come before that.
    let rings: Vec<String> = RINGS_M
        .iter()
        .enumerate()
        .map(|(n, ring)| {
            format!(
                "ring{n} AS MATERIALIZED ({} ORDER BY d.decikm, m.id LIMIT {fetch})",
                within(&format!("{beyond}{ring}"))
            )
        })
        .collect();
    let pages: Vec<String> = RINGS_M
        .iter()
        .enumerate()
        .map(|(n, ring)| {
            format!(
                "SELECT * FROM ring{n} WHERE (SELECT count(*) = {fetch} AND max(decikm) * 100 + 50 <= {beyond}{ring}
                                             FROM ring{n})"
            )
        })
        .collect();
    ordered_listing_query(
        &format!(
            "WITH point AS MATERIALIZED (SELECT {HERE} AS here), {}
             {} UNION ALL ({} ORDER BY d.decikm, m.id LIMIT {fetch}) LIMIT {fetch}",
            rings.join(", "),
            pages.join(" UNION ALL "),
            within(&MAX_RADIUS_M.to_string())
        ),
        "p.decikm",
        "p.decikm, p.id",
    )
}

/// A near page's position: the point it is bound to, and the last (distance, id).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearCursor {
    pub lat: f64,
    pub lng: f64,
    pub decikm: i64,
    pub id: Uuid,
}

impl NearCursor {
    fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "near:{}:{}:{}:{}",
            self.lat,
            self.lng,
            self.decikm,
            self.id.simple()
        ))
    }

    /// A cursor this API returned for the same `near` point; anything else is refused.
    pub fn decode(cursor: &str, lat: f64, lng: f64) -> Result<Self, super::MarketError> {
        use base64::Engine;
        let bad = || super::MarketError::Invalid("cursor is not one this API returned for this near point".into());
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let parts: Vec<&str> = text.split(':').collect();
        let [tag, at_lat, at_lng, decikm, id] = parts[..] else { return Err(bad()) };
        if tag != "near" || at_lat != lat.to_string() || at_lng != lng.to_string() {
            return Err(bad());
        }
        let id = Uuid::try_parse(id).map_err(|_| bad())?;
        let decikm: i64 = decikm.parse().map_err(|_| bad())?;
        Ok(Self { lat, lng, decikm, id })
    }
}

/// One page of listed mitra whose service area covers `(lat, lng)`, nearest first, each
/// with `distance_km`, and the next page's cursor (bound to the point).
pub async fn near_page(
    db: &PgPool,
    (lat, lng): (f64, f64),
    limit: u32,
    after: Option<NearCursor>,
    online: Option<bool>,
) -> sqlx::Result<(Vec<ListedMitra>, Option<String>)> {
    let fetch = i64::from(limit) + 1;
    let sql = near_sql(after.is_some(), online.is_some(), fetch);
    let mut query = sqlx::query_as::<_, Row>(&sql).bind(lat).bind(lng);
    if let Some(after) = after {
        query = query.bind(after.decikm).bind(after.id);
    }
    if let Some(online) = online {
        query = query.bind(online);
    }
    let mut listed = grouped(query.fetch_all(db).await?);
    let mut next = None;
    if listed.len() > limit as usize {
        listed.truncate(limit as usize);
        next = listed.last().map(|m| NearCursor { lat, lng, decikm: m.decikm.unwrap_or_default(), id: m.id }.encode());
    }
    Ok((listed, next))
}

/// The plan of a first near page, for the test that holds it to the GiST index.
pub async fn explain_near(conn: &mut sqlx::PgConnection, (lat, lng): (f64, f64)) -> sqlx::Result<String> {
    let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {}", near_sql(false, false, 21)))
        .bind(lat)
        .bind(lng)
        .fetch_all(conn)
        .await?;
    Ok(lines.join("\n"))
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
                distance_km: row.m_decikm.map(|d| d as f64 / 10.0),
                decikm: row.m_decikm,
                services: vec![row.service],
            }),
        }
    }
    listed
}
