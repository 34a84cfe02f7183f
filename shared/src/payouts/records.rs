//! The payout rows, their ledger moves and their callbacks, as stored. Every function
//! runs in the caller's transaction or pool; the status changes lock the row first.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{AccountNumber, Payout, PayoutStatus};
use crate::ledger::{self, About, Account, Entry, PostError};
use crate::notifications::{self, Delivery};
use crate::pagination::{Cursor, Page};
use crate::tokens::UserType;

pub(crate) const PAYOUT_COLUMNS: &str = "id, mitra_id, amount, status, channel_code, account_number, \
     account_holder_name, description, xendit_payout_id, failure_code, estimated_arrival_at, attempts, accepted_at, \
     created_at, updated_at";

/// What a new payout pays, and where (snapshotted on the row).
pub struct NewPayout<'a> {
    pub mitra_id: Uuid,
    pub amount: i64,
    pub channel_code: &'a str,
    pub account_number: &'a AccountNumber,
    pub account_holder_name: &'a str,
}

/// Records a `pending` payout and moves its amount from available to in_payout, in the
/// caller's transaction; `None` when the mitra already has one in flight (the database's
/// one-in-flight index, so two racing runs cannot both record one).
pub async fn create(conn: &mut PgConnection, new: &NewPayout<'_>) -> anyhow::Result<Option<Payout>> {
    let id = Uuid::new_v4();
    let description = format!("Halo Bestie payout {id}");
    let created: Option<Payout> = sqlx::query_as(&format!(
        "INSERT INTO payouts (id, mitra_id, amount, channel_code, account_number, account_holder_name, description)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (mitra_id) WHERE status IN ('pending', 'accepted') DO NOTHING
         RETURNING {PAYOUT_COLUMNS}"
    ))
    .bind(id)
    .bind(new.mitra_id)
    .bind(new.amount)
    .bind(new.channel_code)
    .bind(new.account_number)
    .bind(new.account_holder_name)
    .bind(&description)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(payout) = created else { return Ok(None) };
    let legs = vec![
        (Account::MitraAvailable(payout.mitra_id), -payout.amount),
        (Account::MitraInPayout(payout.mitra_id), payout.amount),
    ];
    post(conn, &payout, "created", "payout", legs).await?;
    notify(conn, &payout).await?;
    Ok(Some(payout))
}

fn about(payout: &Payout) -> About {
    About { mitra_id: Some(payout.mitra_id), payout_id: Some(payout.id), ..About::default() }
}

async fn post(
    conn: &mut PgConnection,
    payout: &Payout,
    step: &str,
    kind: &str,
    legs: Vec<(Account, i64)>,
) -> Result<bool, PostError> {
    let reference = format!("payout:{}:{step}", payout.id);
    ledger::post(conn, &Entry { reference: &reference, kind, about: about(payout), legs }).await
}

/// The payout, its row locked until the caller's transaction ends.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Payout>> {
    sqlx::query_as(&format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Payout>> {
    sqlx::query_as(&format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE id = $1")).bind(id).fetch_optional(db).await
}

/// A status Xendit reported (by callback, create answer or lookup).
#[derive(Debug, Clone)]
pub struct Reported<'a> {
    pub status: PayoutStatus,
    pub xendit_id: Option<&'a str>,
    pub amount: Option<i64>,
    pub failure_code: Option<&'a str>,
    pub estimated_arrival_at: Option<DateTime<Utc>>,
}

/// What applying a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// Not forward from where the payout is (a duplicate, a late one).
    Unchanged,
    /// Another payout's id or another amount: nothing moved, logged for staff.
    Mismatch,
}

impl Applied {
    pub fn as_str(self) -> &'static str {
        match self {
            Applied::Changed => "changed",
            Applied::Unchanged => "unchanged",
            Applied::Mismatch => "mismatch",
        }
    }
}

/// Failure codes that blame the destination: the account is marked invalid until the
/// mitra changes it.
pub const ACCOUNT_FAILURES: &[&str] = &[
    "INVALID_DESTINATION",
    "REJECTED_BY_CHANNEL",
    "RECIPIENT_ACCOUNT_NUMBER_ERROR",
    "CHANNEL_CODE_NOT_SUPPORTED_ERROR",
    "INVALID_ACCOUNT_DETAILS",
    "ACCOUNT_NOT_FOUND",
    "ACCOUNT_CLOSED",
];

/// Applies a reported status to a locked payout, forward only, with its ledger move and
/// the mitra's `payout.updated`: succeeded → in_payout −P, cash +P; failed or cancelled →
/// in_payout −P, available +P; reversed → cash −P, available +P. An account-blaming
/// failure marks the payout account invalid (if it still is the account paid to).
pub async fn apply(conn: &mut PgConnection, payout: &Payout, report: &Reported<'_>) -> anyhow::Result<Applied> {
    let other_payout =
        matches!((payout.xendit_payout_id.as_deref(), report.xendit_id), (Some(ours), Some(theirs)) if ours != theirs);
    if other_payout || report.amount.is_some_and(|a| a != payout.amount) {
        tracing::warn!(payout_id = %payout.id, reported_amount = report.amount, "payout report does not match the payout; nothing moved");
        return Ok(Applied::Mismatch);
    }
    if !payout.status.may_become(report.status) {
        return Ok(Applied::Unchanged);
    }
    let to = report.status;
    let updated: Payout = sqlx::query_as(&format!(
        "UPDATE payouts SET status = $2, xendit_payout_id = coalesce(xendit_payout_id, $3),
                failure_code = coalesce($4, failure_code),
                estimated_arrival_at = coalesce($5, estimated_arrival_at),
                accepted_at = CASE WHEN $2 = 'accepted' THEN now() ELSE accepted_at END,
                last_error = NULL, updated_at = now()
         WHERE id = $1 RETURNING {PAYOUT_COLUMNS}"
    ))
    .bind(payout.id)
    .bind(to.as_str())
    .bind(report.xendit_id)
    .bind(report.failure_code)
    .bind(report.estimated_arrival_at)
    .fetch_one(&mut *conn)
    .await?;
    let (m, p) = (payout.mitra_id, payout.amount);
    match to {
        PayoutStatus::Succeeded => {
            post(conn, payout, "succeeded", "payout", vec![(Account::MitraInPayout(m), -p), (Account::Cash, p)])
                .await?;
        }
        PayoutStatus::Failed | PayoutStatus::Cancelled => {
            let legs = vec![(Account::MitraInPayout(m), -p), (Account::MitraAvailable(m), p)];
            post(conn, payout, "returned", "payout_returned", legs).await?;
        }
        PayoutStatus::Reversed => {
            let legs = vec![(Account::Cash, -p), (Account::MitraAvailable(m), p)];
            post(conn, payout, "reversed", "payout_returned", legs).await?;
        }
        PayoutStatus::Pending | PayoutStatus::Accepted => {}
    }
    if let Some(code) = report.failure_code.filter(|c| ACCOUNT_FAILURES.contains(c)) {
        if matches!(to, PayoutStatus::Failed | PayoutStatus::Reversed) {
            super::accounts::invalidate(conn, payout, code).await?;
        }
    }
    tracing::info!(payout_id = %payout.id, from = payout.status.as_str(), to = to.as_str(), "payout moved");
    notify(conn, &updated).await?;
    Ok(Applied::Changed)
}

/// Counts a send of the create (before it goes out), so the next one looks it up first.
pub async fn count_attempt(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE payouts SET attempts = attempts + 1, updated_at = now() WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Why the last attempt left the payout pending (no secrets, no account number).
pub async fn left_pending(db: &PgPool, id: Uuid, why: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE payouts SET last_error = $2, updated_at = now() WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .bind(why.chars().take(300).collect::<String>())
        .execute(db)
        .await?;
    Ok(())
}

/// Tells the mitra: a `payout.updated` socket event (data: the payout) and a push that is
/// dropped if a socket took the event first.
async fn notify(conn: &mut PgConnection, payout: &Payout) -> sqlx::Result<()> {
    let event = payout.to_json();
    let data = serde_json::json!({ "payout_id": payout.id.to_string(), "status": payout.status.as_str() });
    let amount = payout.amount;
    let (title, body) = match payout.status {
        PayoutStatus::Pending | PayoutStatus::Accepted => {
            ("Pencairan dana diproses", format!("Pencairan Rp {amount} sedang diproses."))
        }
        PayoutStatus::Succeeded => ("Dana terkirim", format!("Pencairan Rp {amount} sudah terkirim.")),
        PayoutStatus::Failed => ("Pencairan gagal", format!("Pencairan Rp {amount} gagal; dana kembali ke saldo.")),
        PayoutStatus::Cancelled => {
            ("Pencairan dibatalkan", format!("Pencairan Rp {amount} dibatalkan; dana kembali ke saldo."))
        }
        PayoutStatus::Reversed => {
            ("Pencairan dikembalikan", format!("Pencairan Rp {amount} dikembalikan bank; dana kembali ke saldo."))
        }
    };
    let delivery = Delivery {
        notification_id: Uuid::new_v4(),
        user_type: UserType::Mitra,
        user_id: payout.mitra_id,
        event_type: "payout.updated",
        event: &event,
        title,
        body: &body,
        data: &data,
        created_by: None,
        push_unless_seen: true,
    };
    notifications::deliver(conn, &delivery).await
}

/// Payouts still `pending` (oldest first, after `after`), for resubmission.
pub async fn pending_page(
    db: &PgPool,
    status: PayoutStatus,
    older_than_secs: f64,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Payout>> {
    sqlx::query_as(&format!(
        "SELECT {PAYOUT_COLUMNS} FROM payouts
         WHERE status = $1 AND coalesce(accepted_at, created_at) < now() - make_interval(secs => $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4))
         ORDER BY created_at, id LIMIT $5"
    ))
    .bind(status.as_str())
    .bind(older_than_secs)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A page of payouts, newest first: one mitra's, or (staff) filtered by status and mitra.
pub async fn list(
    db: &PgPool,
    mitra_id: Option<Uuid>,
    status: Option<PayoutStatus>,
    page: Page,
) -> sqlx::Result<(Vec<Payout>, Option<String>)> {
    let mut rows: Vec<Payout> = sqlx::query_as(&format!(
        "SELECT {PAYOUT_COLUMNS} FROM payouts
         WHERE ($1::uuid IS NULL OR mitra_id = $1) AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC LIMIT $5"
    ))
    .bind(mitra_id)
    .bind(status.map(PayoutStatus::as_str))
    .bind(page.after.map(|c| c.at))
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch())
    .fetch_all(db)
    .await?;
    let next = page.finish(&mut rows, |p| Cursor { at: p.created_at, id: p.id });
    Ok((rows, next))
}

/// Keeps a callback as it came, with the payout it was about and what applying it did.
pub async fn store_callback(db: &PgPool, body: &[u8], payout_id: Option<Uuid>, outcome: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO payout_callbacks (payout_id, body, outcome) VALUES ($1, $2, $3)")
        .bind(payout_id)
        .bind(String::from_utf8_lossy(body).as_ref())
        .bind(outcome)
        .execute(db)
        .await?;
    Ok(())
}

/// One callback received for a payout, as it came.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PayoutEvent {
    pub id: i64,
    pub outcome: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

pub async fn events(db: &PgPool, payout_id: Uuid) -> sqlx::Result<Vec<PayoutEvent>> {
    sqlx::query_as("SELECT id, outcome, body, received_at FROM payout_callbacks WHERE payout_id = $1 ORDER BY id")
        .bind(payout_id)
        .fetch_all(db)
        .await
}
