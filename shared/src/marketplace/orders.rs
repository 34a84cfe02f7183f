//! Orders and their lifecycle. The state machine (contract §8) is `allowed` below and
//! nothing else:
//!
//! ```text
//! pending_payment ─► paid (payment confirmed) | expired (invoice expired) | cancelled (customer)
//! paid            ─► accepted (mitra) | declined (mitra) | cancelled (customer)
//! declined, cancelled after payment ─► refund_pending ─► refunded (payments)
//! accepted        ─► completed (mitra)
//! ```
//!
//! Every move is one conditional `UPDATE … WHERE status = ANY(<states the move may leave>)`:
//! of two racing moves on one order exactly one matches, the other finds the new status
//! and gets `invalid_state`. The move, its `order_events` row and the notifications to
//! both parties (an `order.updated` socket event, and a push that is sent only if no
//! socket took the event) commit together.

use anyhow::Context;
use chrono::{DateTime, Utc};
use poem_openapi::types::ToJSON;
use poem_openapi::{Enum, Object};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::browse::LISTABLE;
use super::reviews::{OrderReviews, Rating};
use super::schedule::{self, Hours, WeeklyHours};
use super::{text, MarketError};
use crate::notifications::{self, Delivery};
use crate::pagination::{Cursor, Page};
use crate::state::BookingSettings;
use crate::tokens::UserType;
use crate::users::customers;

const MAX_NOTE: usize = 1000;
const MAX_ADDRESS: usize = 500;
const MAX_IDEMPOTENCY_KEY: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, Enum)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Hidden: committed before its invoice exists (never listed nor returned).
    Creating,
    /// Waiting for the customer to pay the invoice.
    PendingPayment,
    /// Paid; waiting for the mitra to accept or decline.
    Paid,
    /// The invoice expired unpaid.
    Expired,
    /// Cancelled by the customer (refunded if it was paid).
    Cancelled,
    /// The mitra accepted it.
    Accepted,
    /// The mitra declined it (refunded).
    Declined,
    /// The mitra completed it.
    Completed,
    /// A refund was requested from the payment provider.
    RefundPending,
    /// The refund went through.
    Refunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        use OrderStatus::*;
        match self {
            Creating => "creating",
            PendingPayment => "pending_payment",
            Paid => "paid",
            Expired => "expired",
            Cancelled => "cancelled",
            Accepted => "accepted",
            Declined => "declined",
            Completed => "completed",
            RefundPending => "refund_pending",
            Refunded => "refunded",
        }
    }
}

/// Who makes a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Customer(Uuid),
    Mitra(Uuid),
    Staff(Uuid),
    /// The payment provider's confirmation, expiry or refund report.
    System,
}

impl Actor {
    fn kind(self) -> &'static str {
        match self {
            Actor::Customer(_) => "customer",
            Actor::Mitra(_) => "mitra",
            Actor::Staff(_) => "cc_user",
            Actor::System => "system",
        }
    }

    fn id(self) -> Option<Uuid> {
        match self {
            Actor::Customer(id) | Actor::Mitra(id) | Actor::Staff(id) => Some(id),
            Actor::System => None,
        }
    }
}

/// The states `to` may be reached from by `actor`; empty when the actor may never make
/// that move. This is the whole state machine.
pub fn allowed(to: OrderStatus, actor: Actor) -> &'static [OrderStatus] {
    use OrderStatus::*;
    match (to, actor) {
        (Paid | Expired, Actor::System) => &[PendingPayment],
        // Before the start (checked by `transition`); an accepted one with the policy's fee.
        (Cancelled, Actor::Customer(_)) => &[PendingPayment, Paid, Accepted],
        // A mitra cancels an accepted order before its start: refunded in full.
        (Cancelled, Actor::Mitra(_)) => &[Accepted],
        (Accepted | Declined, Actor::Mitra(_)) => &[Paid],
        // The sweep: not accepted in time.
        (Declined, Actor::System) => &[Paid],
        (Completed, Actor::Mitra(_)) => &[Accepted],
        (RefundPending, Actor::System) => &[Declined, Cancelled],
        // A full refund by an admin (also a dispute resolved as one).
        (RefundPending, Actor::Staff(_)) => &[Paid, Accepted, Completed],
        (Refunded, Actor::System) => &[RefundPending],
        _ => &[],
    }
}

/// The service as the order copied it.
#[derive(Debug, Clone, Object)]
pub struct OrderService {
    pub id: Uuid,
    /// The title when the order was made.
    pub title: String,
    pub duration_minutes: i32,
}

/// How the customer pays.
#[derive(Debug, Clone, Object)]
pub struct OrderPayment {
    /// Where the customer pays (the provider's hosted page).
    #[oai(nullable)]
    pub invoice_url: Option<String>,
    /// When the invoice expires.
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub paid_at: Option<DateTime<Utc>>,
}

/// The only currency: Indonesian rupiah, in whole units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Currency {
    #[oai(rename = "IDR")]
    Idr,
}

/// An order, as both parties (and the `order.updated` event) see it.
#[derive(Debug, Clone, Object)]
pub struct Order {
    pub id: Uuid,
    pub status: OrderStatus,
    pub customer_id: Uuid,
    pub mitra_id: Uuid,
    pub service: OrderService,
    /// Whole rupiah, copied from the service's price when the order was made.
    pub amount: i64,
    pub currency: Currency,
    #[oai(nullable)]
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the order became completed, cancelled, declined, expired or refunded (the
    /// first of these); its conversation closes `CHAT_OPEN_DAYS_AFTER_END` days later.
    #[oai(nullable)]
    pub ended_at: Option<DateTime<Utc>>,
    pub payment: OrderPayment,
    /// Why the payment needs (or needed) a person, the latest; null when nothing did. An
    /// open set of snake_case codes, e.g. `paid_after_cancel` (docs/money.md lists them:
    /// staff tools should show an unknown one as it is).
    #[oai(nullable)]
    pub payment_issue: Option<String>,
    /// Whole rupiah given back: the sum of the refunds that succeeded.
    pub refunded_amount: i64,
    /// Every refund asked for this order, oldest first (a retry is a new one).
    pub refunds: Vec<OrderRefund>,
    // Described on `OrderDispute` (a described `$ref` becomes `allOf`, which generators
    // refuse): absent when no dispute was opened.
    #[oai(skip_serializing_if_is_none)]
    pub dispute: Option<OrderDispute>,
    /// What the mitra gets (or got) from this order, whole rupiah: in the mitra's and
    /// staff's views only.
    #[oai(skip_serializing_if_is_none)]
    pub mitra_earnings: Option<i64>,
    /// The booked start (RFC 3339); null only for orders made before booking existed.
    #[oai(nullable)]
    pub starts_at: Option<DateTime<Utc>>,
    /// The booked end: `starts_at` plus the service's duration.
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
    // Described on `OrderAddress` (absent rather than null: a nullable `$ref` is an
    // `allOf` that generators refuse, as for `dispute`).
    #[oai(skip_serializing_if_is_none)]
    pub address: Option<OrderAddress>,
    // Described on `OrderCancellation`; absent likewise.
    #[oai(skip_serializing_if_is_none)]
    pub cancellation: Option<OrderCancellation>,
    /// Why a declined order was declined: `mitra` (the mitra declined) or `timeout` (not
    /// accepted in time); null otherwise.
    #[oai(nullable)]
    pub decline_reason: Option<String>,
    /// Messages of the other party the caller has not read: in the customer's and the
    /// mitra's views only.
    #[oai(skip_serializing_if_is_none)]
    pub unread_messages: Option<i64>,
    // Described on `OrderReviews`: in the customer's and the mitra's views only.
    #[oai(skip_serializing_if_is_none)]
    pub reviews: Option<OrderReviews>,
    // The customer's `Rating` over the published, unhidden reviews mitra gave them: in the
    // mitra's view only.
    #[oai(skip_serializing_if_is_none)]
    pub customer_rating: Option<Rating>,
}

/// Where the service happens, as the customer gave it: required (and inside the area)
/// when ordering from a mitra with a service area; absent from an order when the mitra
/// serves at its own place or online.
#[derive(Debug, Clone, Object, serde::Deserialize)]
pub struct OrderAddress {
    /// The address as written, 1–500 characters.
    pub text: String,
    /// Degrees, −90 to 90.
    pub lat: f64,
    /// Degrees, −180 to 180.
    pub lng: f64,
    /// Directions for the mitra, up to 500 characters.
    #[oai(skip_serializing_if_is_none)]
    pub notes: Option<String>,
}

/// The cancellation policy snapshotted when the order was made; absent for orders made
/// before booking existed (cancelling them is free).
#[derive(Debug, Clone, Object)]
pub struct OrderCancellation {
    /// Cancelling before this refunds everything: `starts_at` − `CANCEL_FREE_HOURS`, and
    /// once accepted at least the acceptance + `CANCEL_GRACE_MINUTES`.
    pub free_until: DateTime<Utc>,
    /// What a customer's later cancellation (before the start) refunds, in percent of the
    /// amount; the rest is the mitra's as if completed.
    pub late_refund_percent: i32,
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Enum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Recorded; not yet accepted by the payment provider.
    Requested,
    /// The payment provider has it.
    Pending,
    Succeeded,
    /// The payment provider refused or failed it; the money went back (see
    /// `payment_issue`).
    Failed,
}

/// One refund of an order (the payments service fills these in).
#[derive(Debug, Clone, Object, sqlx::FromRow, serde::Deserialize)]
pub struct OrderRefund {
    pub id: Uuid,
    /// Whole rupiah.
    pub amount: i64,
    pub status: RefundStatus,
    pub created_at: DateTime<Utc>,
}

/// Whether a dispute waits for staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Enum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// Waiting for staff; the mitra's earnings from this order are held.
    Open,
    Resolved,
}

/// How staff resolved a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Enum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum DisputeOutcome {
    /// The mitra's earnings are released as usual.
    Release,
    /// The customer was refunded (some or all).
    Refund,
}

/// The customer's latest dispute of a completed order (absent from the order when none
/// was opened); `outcome` appears once staff resolved it.
#[derive(Debug, Clone, Object, sqlx::FromRow, serde::Deserialize)]
pub struct OrderDispute {
    pub status: DisputeStatus,
    pub reason: String,
    pub opened_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub outcome: Option<DisputeOutcome>,
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// An order as stored (the columns of [`COLUMNS`]); the payments service reads and
/// returns it too, after writing the payment columns it owns.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Row {
    id: Uuid,
    status: OrderStatus,
    customer_id: Uuid,
    mitra_id: Uuid,
    service_id: Uuid,
    service_title: String,
    duration_minutes: i32,
    amount: i64,
    note: Option<String>,
    invoice_url: Option<String>,
    invoice_expires_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    payment_issue: Option<String>,
    refunded_amount: i64,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    address_text: Option<String>,
    address_lat: Option<f64>,
    address_lng: Option<f64>,
    address_notes: Option<String>,
    cancel_free_until: Option<DateTime<Utc>>,
    cancel_grace_minutes: Option<i32>,
    late_refund_percent: Option<i32>,
    accepted_at: Option<DateTime<Utc>>,
    decline_reason: Option<String>,
    ended_at: Option<DateTime<Utc>>,
}

/// When cancelling stops being free (§16): the snapshot's `starts_at` − free hours, and
/// once accepted at least the acceptance + the grace minutes.
pub fn free_until(
    base: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    grace_minutes: Option<i32>,
) -> DateTime<Utc> {
    match accepted_at {
        Some(at) => base.max(at + chrono::Duration::minutes(i64::from(grace_minutes.unwrap_or(0)))),
        None => base,
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Moved {
    previous: OrderStatus,
    #[sqlx(flatten)]
    row: Row,
}

pub(crate) const COLUMNS: &str = "id, status, customer_id, mitra_id, service_id, service_title, duration_minutes, \
     amount, note, invoice_url, invoice_expires_at, paid_at, created_at, updated_at, payment_issue, refunded_amount, \
     starts_at, ends_at, address_text, address_lat, address_lng, address_notes, cancel_free_until, \
     cancel_grace_minutes, late_refund_percent, accepted_at, decline_reason, ended_at";

impl From<Row> for Order {
    fn from(r: Row) -> Self {
        Order {
            id: r.id,
            status: r.status,
            customer_id: r.customer_id,
            mitra_id: r.mitra_id,
            service: OrderService { id: r.service_id, title: r.service_title, duration_minutes: r.duration_minutes },
            amount: r.amount,
            currency: Currency::Idr,
            note: r.note,
            created_at: r.created_at,
            updated_at: r.updated_at,
            ended_at: r.ended_at,
            payment: OrderPayment { invoice_url: r.invoice_url, expires_at: r.invoice_expires_at, paid_at: r.paid_at },
            payment_issue: r.payment_issue,
            refunded_amount: r.refunded_amount,
            refunds: Vec::new(),
            dispute: None,
            mitra_earnings: None,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            address: match (r.address_text, r.address_lat, r.address_lng) {
                (Some(text), Some(lat), Some(lng)) => Some(OrderAddress { text, lat, lng, notes: r.address_notes }),
                _ => None,
            },
            cancellation: match (r.cancel_free_until, r.late_refund_percent) {
                (Some(base), Some(late_refund_percent)) => Some(OrderCancellation {
                    free_until: free_until(base, r.accepted_at, r.cancel_grace_minutes),
                    late_refund_percent,
                }),
                _ => None,
            },
            decline_reason: r.decline_reason,
            unread_messages: None,
            reviews: None,
            customer_rating: None,
        }
    }
}

/// What a customer asks for.
pub struct NewOrder<'a> {
    pub service_id: Uuid,
    pub note: Option<&'a str>,
    /// The `Idempotency-Key` header: a retry with the same key returns the same order.
    pub idempotency_key: Option<&'a str>,
    /// `PLATFORM_COMMISSION_BPS` now: snapshotted on the order.
    pub commission_bps: u32,
    /// `MAX_PENDING_ORDERS_PER_CUSTOMER`: unpaid orders (creating or pending payment) one
    /// customer may hold.
    pub max_pending: u32,
    /// The booked start: one of the mitra's free slots for the service.
    pub starts_at: DateTime<Utc>,
    /// Where: required (and inside) when the mitra has a service area.
    pub address: Option<&'a OrderAddress>,
    /// The slot rules and the cancellation policy snapshotted on the order.
    pub booking: BookingSettings,
}

/// What writing a new order found.
pub enum Placed {
    New(Order),
    /// An earlier request with the same idempotency key made this one.
    Existing(Order),
}

/// The order id: derived from (customer, idempotency key) when there is a key, so a
/// retry names the same order to the payment provider (`external_id`) even after the
/// first attempt was rolled back; random otherwise.
fn order_id(customer_id: Uuid, key: Option<&str>) -> Uuid {
    match key {
        Some(key) => {
            let mut input = customer_id.as_bytes().to_vec();
            input.extend_from_slice(key.as_bytes());
            let digest = ring::digest::digest(&ring::digest::SHA256, &input);
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest.as_ref()[..16]);
            uuid::Builder::from_random_bytes(bytes).into_uuid()
        }
        None => Uuid::new_v4(),
    }
}

/// What a keyed request asked for, so a reuse of its key for something else is caught.
fn fingerprint(new: &NewOrder<'_>, note: Option<&str>) -> String {
    let mut input = new.service_id.as_bytes().to_vec();
    input.extend_from_slice(note.unwrap_or_default().as_bytes());
    input.extend_from_slice(&new.starts_at.timestamp_micros().to_be_bytes());
    if let Some(a) = new.address {
        let address = format!("\0{}\0{}\0{}\0{}", a.text, a.lat, a.lng, a.notes.as_deref().unwrap_or_default());
        input.extend_from_slice(address.as_bytes());
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    digest.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The earlier order of a key, if the key was used for this same request.
fn same_request(existing: (Order, Option<String>), fingerprint: &str) -> Result<Placed, MarketError> {
    match existing.1 {
        Some(seen) if seen != fingerprint => Err(MarketError::KeyReused),
        _ => Ok(Placed::Existing(existing.0)),
    }
}

/// Checks the request and returns the normalised note and key.
fn check(new: &NewOrder<'_>) -> Result<(Option<String>, Option<String>), MarketError> {
    let note = new.note.map(|n| text("note", n, 0, MAX_NOTE)).transpose()?.filter(|n| !n.is_empty());
    let key = new.idempotency_key.map(str::trim).filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > MAX_IDEMPOTENCY_KEY || !k.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(MarketError::Invalid(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )));
    }
    if let Some(address) = new.address {
        text("address.text", &address.text, 1, MAX_ADDRESS)?;
        if let Some(notes) = &address.notes {
            text("address.notes", notes, 0, MAX_ADDRESS)?;
        }
        super::areas::check_point("address", address.lat, address.lng)?;
    }
    Ok((note, key.map(str::to_owned)))
}

/// What ordering a service needs to know first: its mitra's hours and area, and whether
/// the address is inside that area (from its snapped centre, as near-me browse measures).
#[derive(Debug, sqlx::FromRow)]
struct Bookable {
    duration_minutes: i32,
    weekly: Option<sqlx::types::Json<Vec<WeeklyHours>>>,
    closed_dates: Option<Vec<chrono::NaiveDate>>,
    has_area: bool,
    inside: Option<bool>,
}

/// Checks the start and the place against the service's mitra: `NotFound` when the
/// service is not orderable (the insert's own condition says so too).
async fn check_booking(conn: &mut PgConnection, new: &NewOrder<'_>) -> Result<(), MarketError> {
    let found: Option<Bookable> = sqlx::query_as(
        "SELECT s.duration_minutes, sc.weekly, sc.closed_dates, a.mitra_id IS NOT NULL AS has_area,
                earth_distance(ll_to_earth(a.snapped_lat, a.snapped_lng), ll_to_earth($2, $3)) <= a.radius_km * 1000
                    AS inside
         FROM mitra_services s
         LEFT JOIN mitra_schedules sc ON sc.mitra_id = s.mitra_id
         LEFT JOIN mitra_service_areas a ON a.mitra_id = s.mitra_id
         WHERE s.id = $1 AND s.active",
    )
    .bind(new.service_id)
    .bind(new.address.map(|a| a.lat))
    .bind(new.address.map(|a| a.lng))
    .fetch_optional(&mut *conn)
    .await
    .context("reading the service's schedule")?;
    let Some(found) = found else { return Err(MarketError::NotFound("no such service, or it is not available")) };
    let hours = Hours::new(found.weekly.map(|w| w.0).unwrap_or_default(), found.closed_dates.unwrap_or_default());
    let duration = u32::try_from(found.duration_minutes).unwrap_or(0);
    if !schedule::is_start(&hours, new.starts_at, duration, &new.booking) {
        return Err(MarketError::SlotUnavailable(
            "starts_at is not one of the free slots of this service (GET /api/client/mitras/{id}/slots)".into(),
        ));
    }
    if found.has_area {
        if new.address.is_none() {
            return Err(MarketError::Invalid("address is required: this mitra comes to the customer".into()));
        }
        if found.inside != Some(true) {
            return Err(MarketError::OutsideServiceArea("the address is outside this mitra's service area".into()));
        }
    }
    Ok(())
}

/// Writes a new order in the hidden `creating` status for a listed mitra's active
/// service, in the caller's transaction, which commits it before the payments module
/// calls the provider (then [`open`] or [`discard`]); or finds the order an earlier
/// request with the same idempotency key made (a different request under that key is
/// `KeyReused`). A customer holding `max_pending` unpaid orders gets `Conflict`: the
/// insert counts them itself, after a per-customer advisory lock taken by the statement
/// before it (so its snapshot sees every order a racing create committed under the lock).
#[tracing::instrument(skip_all, fields(customer_id = %customer_id))]
pub async fn place(conn: &mut PgConnection, customer_id: Uuid, new: &NewOrder<'_>) -> Result<Placed, MarketError> {
    let (note, key) = check(new)?;
    let fingerprint = fingerprint(new, note.as_deref());
    if let Some(key) = &key {
        if let Some(existing) = by_key(&mut *conn, customer_id, key).await.context("looking up the key")? {
            return same_request(existing, &fingerprint);
        }
    }
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 26))")
        .bind(customer_id)
        .execute(&mut *conn)
        .await
        .context("locking the customer's unpaid orders")?;
    let anonymous = customers::active_is_anonymous(conn, customer_id).await.context("reading the customer")?;
    match anonymous {
        None => return Err(MarketError::NotFound("this account no longer exists")),
        Some(true) => return Err(MarketError::UpgradeRequired),
        Some(false) => {}
    }
    check_booking(&mut *conn, new).await?;
    let id = order_id(customer_id, key.as_deref());
    let booking = &new.booking;
    let free_until = new.starts_at - chrono::Duration::hours(i64::from(booking.cancel_free_hours));
    let address = new.address;
    // The exclusion constraint refuses a time another order holds; the conflict clause
    // names only the idempotency key, so a racing keyed retry finds its order instead.
    let created: Result<Option<Row>, sqlx::Error> = sqlx::query_as(&format!(
        "INSERT INTO orders (id, customer_id, mitra_id, service_id, service_title, duration_minutes, amount, note,
                             idempotency_key, status, commission_bps, request_fingerprint, starts_at, ends_at,
                             address_text, address_lat, address_lng, address_notes, cancel_free_until,
                             cancel_grace_minutes, late_refund_percent)
         SELECT $1, $2, s.mitra_id, s.id, s.title, s.duration_minutes, s.price, $4, $5, 'creating', $6, $7,
                $9, $9 + make_interval(mins => s.duration_minutes), $10, $11, $12, $13, $14, $15, $16
         FROM mitra_services s JOIN mitras m ON m.id = s.mitra_id
         WHERE s.id = $3 AND s.active AND {listable}
           AND (SELECT count(*) FROM orders WHERE customer_id = $2 AND status IN ('creating', 'pending_payment')) < $8
         ON CONFLICT (customer_id, idempotency_key) DO NOTHING
         RETURNING {COLUMNS}",
        listable = *LISTABLE
    ))
    .bind(id)
    .bind(customer_id)
    .bind(new.service_id)
    .bind(&note)
    .bind(&key)
    .bind(i32::try_from(new.commission_bps.min(10_000)).unwrap_or(0))
    .bind(&fingerprint)
    .bind(i64::from(new.max_pending))
    .bind(new.starts_at)
    .bind(address.map(|a| a.text.trim().to_owned()))
    .bind(address.map(|a| a.lat))
    .bind(address.map(|a| a.lng))
    .bind(address.and_then(|a| a.notes.as_deref()).map(str::trim).filter(|n| !n.is_empty()))
    .bind(free_until)
    .bind(i32::try_from(booking.cancel_grace_minutes).unwrap_or(i32::MAX))
    .bind(i32::try_from(booking.late_cancel_refund_percent.min(100)).unwrap_or(100))
    .fetch_optional(&mut *conn)
    .await;
    let created = match created {
        // Two inserts of overlapping times each wait for the other's uncommitted row (the
        // exclusion check), and PostgreSQL aborts one as a deadlock: the other holds the time.
        Err(sqlx::Error::Database(err))
            if err.constraint() == Some("orders_no_double_booking") || err.code().as_deref() == Some("40P01") =>
        {
            return Err(MarketError::SlotUnavailable("this time was just booked by someone else".into()));
        }
        other => other.context("inserting the order")?,
    };
    let Some(row) = created else {
        // Either the service is not orderable, or a concurrent retry with the same key won
        // (the insert waited for it to commit).
        if let Some(key) = &key {
            if let Some(existing) = by_key(&mut *conn, customer_id, key).await.context("looking up the key")? {
                return same_request(existing, &fingerprint);
            }
        }
        let unpaid: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE customer_id = $1 AND status IN ('creating', 'pending_payment')",
        )
        .bind(customer_id)
        .fetch_one(&mut *conn)
        .await
        .context("counting unpaid orders")?;
        if unpaid >= i64::from(new.max_pending) {
            return Err(MarketError::Conflict(format!(
                "at most {} unpaid orders at a time: pay or cancel one first",
                new.max_pending
            )));
        }
        return Err(MarketError::NotFound("no such service, or it is not available"));
    };
    tracing::info!(order_id = %id, "order placed (creating)");
    Ok(Placed::New(row.into()))
}

async fn by_key(
    conn: &mut PgConnection,
    customer_id: Uuid,
    key: &str,
) -> sqlx::Result<Option<(Order, Option<String>)>> {
    #[derive(sqlx::FromRow)]
    struct Keyed {
        #[sqlx(flatten)]
        row: Row,
        request_fingerprint: Option<String>,
    }
    let found: Option<Keyed> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, request_fingerprint FROM orders WHERE customer_id = $1 AND idempotency_key = $2"
    ))
    .bind(customer_id)
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(found.map(|k| (Order::from(k.row), k.request_fingerprint)))
}

/// The invoice an order opens with (made by the payments service).
pub struct Invoice<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// Makes a `creating` order payable with its invoice (`creating` → `pending_payment`, its
/// first event), in the caller's transaction: one write of the row. `None` when it is no
/// longer `creating` (a racing retry opened it first).
pub async fn open(
    conn: &mut PgConnection,
    id: Uuid,
    customer_id: Uuid,
    invoice: &Invoice<'_>,
) -> sqlx::Result<Option<Order>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "UPDATE orders SET status = 'pending_payment', invoice_id = $2, invoice_url = $3, invoice_expires_at = $4,
                updated_at = now()
         WHERE id = $1 AND status = 'creating'
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(invoice.id)
    .bind(invoice.url)
    .bind(invoice.expires_at)
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_some() {
        record(conn, id, None, OrderStatus::PendingPayment, Actor::Customer(customer_id)).await?;
    }
    Ok(row.map(Order::from))
}

/// Deletes a `creating` order whose invoice could not be made (its slot is free again).
pub async fn discard(db: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    let deleted = sqlx::query("DELETE FROM orders WHERE id = $1 AND status = 'creating'").bind(id).execute(db).await?;
    Ok(deleted.rows_affected() == 1)
}

pub use super::Party;

/// One order of `party`; someone else's is `None` (the API's 404).
pub async fn get(db: &PgPool, party: Party, id: Uuid) -> sqlx::Result<Option<Order>> {
    let (column, owner) = party.column();
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders WHERE id = $1 AND {column} = $2 AND status <> 'creating'"
    ))
    .bind(id)
    .bind(owner)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Order::from))
}

/// A page of `party`'s orders, newest first, optionally of one status.
pub async fn list(
    db: &PgPool,
    party: Party,
    status: Option<OrderStatus>,
    page: Page,
) -> sqlx::Result<(Vec<Order>, Option<String>)> {
    let filter = match party {
        Party::Customer(id) => Filter { status, customer_id: Some(id), mitra_id: None },
        Party::Mitra(id) => Filter { status, customer_id: None, mitra_id: Some(id) },
    };
    list_all(db, &filter, page).await
}

/// Which orders staff look at; every field narrows.
#[derive(Debug, Default, Clone, Copy)]
pub struct Filter {
    pub status: Option<OrderStatus>,
    pub customer_id: Option<Uuid>,
    pub mitra_id: Option<Uuid>,
}

/// A page of the orders `filter` admits, newest first.
pub async fn list_all(db: &PgPool, filter: &Filter, page: Page) -> sqlx::Result<(Vec<Order>, Option<String>)> {
    let mut rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders
         WHERE ($1::uuid IS NULL OR customer_id = $1) AND ($2::uuid IS NULL OR mitra_id = $2)
           AND ($3::text IS NULL OR status = $3) AND status <> 'creating'
           AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
         ORDER BY created_at DESC, id DESC LIMIT $6"
    ))
    .bind(filter.customer_id)
    .bind(filter.mitra_id)
    .bind(filter.status.map(OrderStatus::as_str))
    .bind(page.after.map(|c| c.at))
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch())
    .fetch_all(db)
    .await?;
    let next = page.finish(&mut rows, |r| Cursor { at: r.created_at, id: r.id });
    Ok((rows.into_iter().map(Order::from).collect(), next))
}

/// Any order, for staff and the payment side.
pub async fn get_any(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Order>> {
    let row: Option<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM orders WHERE id = $1")).bind(id).fetch_optional(db).await?;
    Ok(row.map(Order::from))
}

/// Moves order `id` to `to` on behalf of `actor`, in the caller's transaction: one
/// conditional update, the event row and both parties' notifications. A party may only
/// move its own orders (another's is `NotFound`); a move the current status does not
/// allow is `InvalidState`.
pub async fn transition(
    conn: &mut PgConnection,
    id: Uuid,
    to: OrderStatus,
    actor: Actor,
) -> Result<Order, MarketError> {
    let from = allowed(to, actor);
    let party = match actor {
        Actor::Customer(id) => Some(("customer_id", id)),
        Actor::Mitra(id) => Some(("mitra_id", id)),
        Actor::Staff(_) | Actor::System => None,
    };
    let owner_check = party.map_or(String::new(), |(column, _)| format!(" AND {column} = $4"));
    // §13: a booked order completes only from its start on, and is cancelled by a party
    // only before it (orders without a start may do either at any time).
    let time_rule = match (to, actor) {
        (OrderStatus::Completed, _) => " AND (starts_at IS NULL OR starts_at <= now())",
        (OrderStatus::Cancelled, Actor::Customer(_) | Actor::Mitra(_)) => {
            " AND (starts_at IS NULL OR now() < starts_at)"
        }
        _ => "",
    };
    let decline_reason = match (to, actor) {
        (OrderStatus::Declined, Actor::System) => Some("timeout"),
        (OrderStatus::Declined, _) => Some("mitra"),
        _ => None,
    };
    let from_names: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    // `prev` locks the row and reads the status being left; the outer condition is
    // re-checked against the latest row version, so a racing move that got there first
    // makes this one match nothing.
    let moved: Option<Moved> = sqlx::query_as(&format!(
        "UPDATE orders SET status = $2, updated_at = now(),
                paid_at = CASE WHEN $2 = 'paid' THEN now() ELSE paid_at END,
                ended_at = CASE WHEN $2 IN ('completed', 'cancelled', 'declined', 'expired', 'refunded')
                                THEN coalesce(ended_at, now()) ELSE ended_at END,
                accepted_at = CASE WHEN $2 = 'accepted' THEN now() ELSE accepted_at END,
                decline_reason = coalesce($5, decline_reason),
                completed_at = CASE WHEN $2 = 'completed' THEN coalesce(completed_at, now()) ELSE completed_at END
         FROM (SELECT status AS previous FROM orders WHERE id = $1 FOR UPDATE) prev
         WHERE id = $1 AND status = ANY($3){owner_check}{time_rule}
         RETURNING prev.previous, {COLUMNS}"
    ))
    .bind(id)
    .bind(to.as_str())
    .bind(&from_names)
    .bind(party.map(|(_, owner)| owner))
    .bind(decline_reason)
    .fetch_optional(&mut *conn)
    .await
    .context("moving the order")?;
    let Some(Moved { previous, row }) = moved else {
        let visible: Option<(OrderStatus, Option<DateTime<Utc>>)> = sqlx::query_as(&format!(
            "SELECT status, starts_at FROM orders WHERE id = $1{}",
            party.map_or(String::new(), |(column, _)| format!(" AND {column} = $2"))
        ))
        .bind(id)
        .bind(party.map(|(_, owner)| owner))
        .fetch_optional(&mut *conn)
        .await
        .context("reading the order")?;
        return Err(match visible {
            None => MarketError::NotFound("no such order"),
            Some((current, Some(starts_at))) if from.contains(&current) && !time_rule.is_empty() => {
                let when = if to == OrderStatus::Completed { "before" } else { "after" };
                MarketError::InvalidState(format!(
                    "an order cannot become {} {when} its start ({})",
                    to.as_str(),
                    starts_at.to_rfc3339()
                ))
            }
            Some((current, _)) => MarketError::InvalidState(format!(
                "an order that is {} cannot become {}",
                current.as_str(),
                to.as_str()
            )),
        });
    };
    record(conn, id, Some(previous), to, actor).await.context("recording the move")?;
    let order = Order::from(row);
    notify(conn, &order).await.context("telling both parties")?;
    tracing::info!(order_id = %id, from = previous.as_str(), to = to.as_str(), "order moved");
    Ok(order)
}

/// `transition` in a transaction of its own.
pub async fn apply(db: &PgPool, id: Uuid, to: OrderStatus, actor: Actor) -> Result<Order, MarketError> {
    let mut tx = db.begin().await.context("starting the move")?;
    let order = transition(&mut tx, id, to, actor).await?;
    tx.commit().await.context("committing the move")?;
    Ok(order)
}

async fn record(
    conn: &mut PgConnection,
    id: Uuid,
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: Actor,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO order_events (order_id, from_status, to_status, actor_type, actor_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(from.map(OrderStatus::as_str))
    .bind(to.as_str())
    .bind(actor.kind())
    .bind(actor.id())
    .execute(conn)
    .await?;
    Ok(())
}

/// What each party's phone shows for a move.
fn headline(order: &Order, party: UserType) -> (&'static str, String) {
    use OrderStatus::*;
    let what = &order.service.title;
    match (order.status, party) {
        (Paid, UserType::Mitra) => ("Pesanan baru", format!("Pesanan {what} sudah dibayar. Terima atau tolak.")),
        (Paid, _) => ("Pembayaran diterima", format!("Pembayaran untuk {what} sudah kami terima.")),
        (Accepted, _) => ("Pesanan diterima", format!("Pesanan {what} diterima mitra.")),
        (Declined, _) => ("Pesanan ditolak", format!("Pesanan {what} ditolak.")),
        (Completed, _) => ("Pesanan selesai", format!("Pesanan {what} sudah selesai.")),
        (Cancelled, _) => ("Pesanan dibatalkan", format!("Pesanan {what} dibatalkan.")),
        (Expired, _) => ("Pembayaran kedaluwarsa", format!("Tagihan untuk {what} sudah kedaluwarsa.")),
        (RefundPending, _) => ("Pengembalian dana diproses", format!("Dana untuk {what} sedang dikembalikan.")),
        (Refunded, _) => ("Dana dikembalikan", format!("Dana untuk {what} sudah dikembalikan.")),
        (PendingPayment | Creating, _) => ("Menunggu pembayaran", format!("Pesanan {what} menunggu pembayaran.")),
    }
}

/// Tells both parties: an `order.updated` event for their open sockets, and a push to
/// their devices that is dropped if a socket took the event first.
async fn notify(conn: &mut PgConnection, order: &Order) -> sqlx::Result<()> {
    let event: serde_json::Value = order.to_json().unwrap_or_default();
    let data = serde_json::json!({ "order_id": order.id.to_string(), "status": order.status.as_str() });
    for (user_type, user_id) in [(UserType::Customer, order.customer_id), (UserType::Mitra, order.mitra_id)] {
        let (title, body) = headline(order, user_type);
        let delivery = Delivery {
            notification_id: Uuid::new_v4(),
            user_type,
            user_id,
            event_type: "order.updated",
            event: &event,
            title,
            body: &body,
            data: &data,
            created_by: None,
            push_unless_seen: true,
        };
        notifications::deliver(conn, &delivery).await?;
    }
    Ok(())
}

/// Gives customer `from`'s orders to customer `into` (a merge), in the caller's
/// transaction.
pub async fn move_customer(conn: &mut PgConnection, from: Uuid, into: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE orders SET customer_id = $2 WHERE customer_id = $1")
        .bind(from)
        .bind(into)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether customer `id` has an order paid but not yet accepted, locked in the caller's
/// transaction (a mitra's accept or decline waits for the deletion to decide). Such an
/// order can still be cancelled for a full refund, which only the customer can ask for:
/// deletion waits until it is decided.
pub async fn customer_has_unaccepted_paid_orders(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<bool> {
    let paid: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM orders WHERE customer_id = $1 AND status = 'paid' FOR UPDATE")
            .bind(customer_id)
            .fetch_all(conn)
            .await?;
    Ok(!paid.is_empty())
}

/// Erases the notes a deleted customer wrote on its orders (the orders stay, for
/// accounting), in the caller's transaction; returns every order of the customer, for
/// the owners of copies (events, payment callbacks) to redact theirs.
pub async fn redact_customer_notes(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query("UPDATE orders SET note = NULL WHERE customer_id = $1 AND note IS NOT NULL")
        .bind(customer_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar("SELECT id FROM orders WHERE customer_id = $1").bind(customer_id).fetch_all(conn).await
}

/// Whether mitra `id` has an order a customer is waiting on (paid or accepted), read in
/// the caller's transaction.
pub async fn mitra_has_open_orders(conn: &mut PgConnection, mitra_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM orders WHERE mitra_id = $1 AND status IN ('paid', 'accepted'))")
        .bind(mitra_id)
        .fetch_one(conn)
        .await
}

/// `creating` orders older than two minutes (§16): their invoice step died. The sweep
/// expires any invoice Xendit made for them, then [`discard`]s them.
pub async fn stale_creating(db: &PgPool, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'creating' AND created_at < now() - interval '2 minutes'
         ORDER BY created_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Expires up to `limit` unpaid orders past their invoice's expiry, in the caller's
/// transaction (their time is free again); rows another sweep holds are skipped. Returns
/// how many it expired.
pub async fn expire_overdue(conn: &mut PgConnection, limit: i64) -> Result<u64, MarketError> {
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'pending_payment' AND invoice_expires_at < now()
         ORDER BY invoice_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    for id in &due {
        transition(&mut *conn, *id, OrderStatus::Expired, Actor::System).await?;
    }
    Ok(due.len() as u64)
}

/// Sends the start reminder of up to `limit` accepted orders starting within `minutes`,
/// once per order (`reminded_at`), to both parties as a push and a `notification` event,
/// in the caller's transaction; rows another sweep holds are skipped. Returns how many
/// orders it reminded.
pub async fn remind_due(conn: &mut PgConnection, minutes: u32, limit: i64) -> sqlx::Result<u64> {
    let due: Vec<Row> = sqlx::query_as(&format!(
        "UPDATE orders SET reminded_at = now()
         WHERE id IN (SELECT id FROM orders
                      WHERE status = 'accepted' AND reminded_at IS NULL AND starts_at > now()
                        AND starts_at <= now() + make_interval(mins => $1)
                      ORDER BY starts_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING {COLUMNS}"
    ))
    .bind(i32::try_from(minutes).unwrap_or(i32::MAX))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    for row in &due {
        let when = row.starts_at.map(|s| s.with_timezone(&schedule::jakarta()).format("%H:%M").to_string());
        let body = format!("Pesanan {} mulai pukul {} WIB.", row.service_title, when.unwrap_or_default());
        let data = serde_json::json!({ "order_id": row.id.to_string(), "kind": "order_reminder" });
        for (user_type, user_id) in [(UserType::Customer, row.customer_id), (UserType::Mitra, row.mitra_id)] {
            let notification_id = Uuid::new_v4();
            let event = serde_json::json!({
                "notification_id": notification_id, "title": "Pengingat pesanan", "body": body, "data": data,
            });
            let delivery = Delivery {
                notification_id,
                user_type,
                user_id,
                event_type: "notification",
                event: &event,
                title: "Pengingat pesanan",
                body: &body,
                data: &data,
                created_by: None,
                push_unless_seen: false,
            };
            notifications::deliver(&mut *conn, &delivery).await?;
        }
    }
    Ok(due.len() as u64)
}
