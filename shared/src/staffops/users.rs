//! Customers and mitra as staff see them: search, detail, suspension, verification
//! decisions and ending sessions.
//!
//! Search takes what an agent would paste: an id, an email, a phone in any written form
//! (`0812…`, `62812…`, `+62 812-…`, or the first digits of one) or the start of a name.
//! Each kind is answered from its own index (see the staff_ops migration).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{reason, StaffActor, StaffError};
use crate::audit::{self, Target};
use crate::notifications::{self, Delivery};
use crate::pagination::{Cursor, Page};
use crate::sessions::{revoke_all, RevokeReason};
use crate::tokens::UserType;
use crate::users::mitras::VerificationStatus;

/// Which users a search matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    All,
    Id(Uuid),
    Email(String),
    /// An E.164 prefix such as `+62812`.
    PhonePrefix(String),
    NamePrefix(String),
}

impl Search {
    pub fn parse(query: Option<&str>) -> Self {
        let Some(q) = query.map(str::trim).filter(|q| !q.is_empty()) else { return Search::All };
        if let Ok(id) = Uuid::try_parse(q) {
            return Search::Id(id);
        }
        if q.contains('@') {
            return Search::Email(q.to_lowercase());
        }
        if q.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) && q.chars().any(|c| c.is_ascii_digit()) {
            if let Ok(phone) = crate::phone::Phone::parse(q) {
                return Search::PhonePrefix(phone.as_str().to_owned());
            }
            let digits: String = q.chars().filter(char::is_ascii_digit).collect();
            let e164 = match digits.strip_prefix('0') {
                Some(national) => format!("+62{national}"),
                None if digits.starts_with('8') && !q.starts_with('+') => format!("+62{digits}"),
                None => format!("+{digits}"),
            };
            return Search::PhonePrefix(e164);
        }
        Search::NamePrefix(q.to_lowercase())
    }

    /// The SQL condition on table alias `u` and its bind value (`$1`).
    fn condition(&self, has_email: bool) -> (&'static str, Option<String>) {
        match self {
            Search::All => ("true", None),
            Search::Id(id) => ("u.id = $1::uuid", Some(id.to_string())),
            Search::Email(email) if has_email => (prefix_of("lower(u.email)"), Some(email.clone())),
            Search::Email(_) => ("false", None),
            Search::PhonePrefix(prefix) => (prefix_of("u.phone"), Some(prefix.clone())),
            Search::NamePrefix(name) => (prefix_of("lower(u.display_name)"), Some(name.clone())),
        }
    }
}

/// "`column` starts with `$1`" as a range on the byte order of `text_pattern_ops`, so the
/// prefix index is used even by a generic (prepared) plan, which a `LIKE $1 || '%'` is not.
fn prefix_of(column: &'static str) -> &'static str {
    match column {
        "u.phone" => "u.phone ~>=~ $1 AND u.phone ~<~ ($1 || chr(1114111))",
        "lower(u.email)" => "lower(u.email) ~>=~ $1 AND lower(u.email) ~<~ ($1 || chr(1114111))",
        _ => "lower(u.display_name) ~>=~ $1 AND lower(u.display_name) ~<~ ($1 || chr(1114111))",
    }
}

/// `active`, `suspended` or `deleted`.
const STATUS: &str = "CASE WHEN u.deleted_at IS NOT NULL THEN 'deleted' \
     WHEN u.suspended_at IS NOT NULL THEN 'suspended' ELSE 'active' END AS status";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerItem {
    pub id: Uuid,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub is_anonymous: bool,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MitraItem {
    pub id: Uuid,
    pub phone: Option<String>,
    pub display_name: Option<String>,
    pub status: String,
    pub verification_status: VerificationStatus,
    pub is_online: bool,
    pub created_at: DateTime<Utc>,
}

const CUSTOMER_COLUMNS: &str = "u.id, u.phone, u.email, u.display_name, u.is_anonymous, u.created_at";
const MITRA_COLUMNS: &str = "u.id, u.phone, u.display_name, u.verification_status, u.is_online, u.created_at";

/// The rows of `table` a search matches, newest first after the cursor (`$2`, `$3`),
/// `$4` of them. A search with a condition picks its candidates through that
/// condition's own index first (`OFFSET 0` keeps the planner from folding the subquery
/// into a walk down the newest-first index, which at a million rows reads most of the
/// table to find one email); then the few candidates are sorted.
fn search_sql(columns: &str, table: &str, scope: &str, condition: &str) -> String {
    let source = if condition == "true" {
        format!("{table} u")
    } else {
        format!("(SELECT * FROM {table} u WHERE {condition} OFFSET 0) u")
    };
    format!(
        "SELECT {columns}, {STATUS} FROM {source}
         WHERE {scope} AND ($2::timestamptz IS NULL OR (u.created_at, u.id) < ($2, $3))
         ORDER BY u.created_at DESC, u.id DESC LIMIT $4"
    )
}

fn customer_search_sql(condition: &str) -> String {
    search_sql(CUSTOMER_COLUMNS, "customers", "u.merged_into IS NULL", condition)
}

/// The plan of a first-page customer search, for the test that holds it to its index.
pub async fn explain_customer_search(conn: &mut PgConnection, search: &Search) -> sqlx::Result<String> {
    let (condition, value) = search.condition(true);
    let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {}", customer_search_sql(condition)))
        .bind(value)
        .bind(None::<DateTime<Utc>>)
        .bind(None::<Uuid>)
        .bind(21_i64)
        .fetch_all(conn)
        .await?;
    Ok(lines.join("\n"))
}

/// A page of customers matching `search`, newest first.
pub async fn customers(db: &PgPool, search: &Search, page: Page) -> sqlx::Result<(Vec<CustomerItem>, Option<String>)> {
    let (condition, value) = search.condition(true);
    let mut rows: Vec<CustomerItem> = sqlx::query_as(&customer_search_sql(condition))
        .bind(value)
        .bind(page.after.map(|c| c.at))
        .bind(page.after.map(|c| c.id))
        .bind(page.fetch())
        .fetch_all(db)
        .await?;
    let next = page.finish(&mut rows, |r| Cursor { at: r.created_at, id: r.id });
    Ok((rows, next))
}

/// A page of mitra matching `search` (and a verification status), newest first.
pub async fn mitras(
    db: &PgPool,
    search: &Search,
    verification: Option<VerificationStatus>,
    page: Page,
) -> sqlx::Result<(Vec<MitraItem>, Option<String>)> {
    let (condition, value) = search.condition(false);
    let sql = search_sql(MITRA_COLUMNS, "mitras", "($5::text IS NULL OR u.verification_status = $5)", condition);
    let mut rows: Vec<MitraItem> = sqlx::query_as(&sql)
        .bind(value)
        .bind(page.after.map(|c| c.at))
        .bind(page.after.map(|c| c.id))
        .bind(page.fetch())
        .bind(verification.map(verification_str))
        .fetch_all(db)
        .await?;
    let next = page.finish(&mut rows, |r| Cursor { at: r.created_at, id: r.id });
    Ok((rows, next))
}

fn verification_str(status: VerificationStatus) -> &'static str {
    match status {
        VerificationStatus::Unsubmitted => "unsubmitted",
        VerificationStatus::Pending => "pending",
        VerificationStatus::Approved => "approved",
        VerificationStatus::Rejected => "rejected",
    }
}

pub async fn customer(db: &PgPool, id: Uuid) -> sqlx::Result<Option<CustomerItem>> {
    sqlx::query_as(&format!(
        "SELECT {CUSTOMER_COLUMNS}, {STATUS} FROM customers u WHERE u.id = $1 AND u.merged_into IS NULL"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn mitra(db: &PgPool, id: Uuid) -> sqlx::Result<Option<MitraItem>> {
    sqlx::query_as(&format!("SELECT {MITRA_COLUMNS}, {STATUS} FROM mitras u WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// How a customer can sign in: `phone`, `google`, `apple`.
pub async fn identities(db: &PgPool, id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT 'phone' FROM customers WHERE id = $1 AND phone IS NOT NULL
         UNION ALL (SELECT provider FROM customer_identities WHERE customer_id = $1 ORDER BY created_at)",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

fn table(user_type: UserType) -> Result<&'static str, StaffError> {
    match user_type {
        UserType::Customer => Ok("customers"),
        UserType::Mitra => Ok("mitras"),
        UserType::CcUser => Err(StaffError::NotFound("no such user")),
    }
}

/// Suspends a customer or mitra: every session ends at once (the revocation trigger
/// tells every instance), and sign-in, refresh and OTP verify answer 403
/// `account_suspended` until staff reinstate them.
pub async fn suspend(
    db: &PgPool,
    actor: &StaffActor,
    user_type: UserType,
    id: Uuid,
    why: &str,
) -> Result<(), StaffError> {
    let why = reason(why)?;
    let table = table(user_type)?;
    let mut tx = db.begin().await?;
    let merged = if user_type == UserType::Customer { " AND merged_into IS NULL" } else { "" };
    let done = sqlx::query(&format!(
        "UPDATE {table} SET suspended_at = COALESCE(suspended_at, now()), suspended_reason = $2, updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL{merged}"
    ))
    .bind(id)
    .bind(&why)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StaffError::NotFound("no such user, or the account was deleted"));
    }
    let ended = revoke_all(&mut tx, user_type, id, RevokeReason::Suspended).await?;
    let target = Target { kind: user_type.as_str(), id: id.to_string() };
    let details = serde_json::json!({ "reason": why, "sessions_ended": ended });
    audit::append(&mut tx, actor, "user.suspend", Some(target), details).await?;
    tx.commit().await?;
    Ok(())
}

/// Lifts a suspension; the sessions it ended stay ended.
pub async fn reinstate(db: &PgPool, actor: &StaffActor, user_type: UserType, id: Uuid) -> Result<(), StaffError> {
    let table = table(user_type)?;
    let mut tx = db.begin().await?;
    let done = sqlx::query(&format!(
        "UPDATE {table} SET suspended_at = NULL, suspended_reason = NULL, updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StaffError::NotFound("no such user, or the account was deleted"));
    }
    let target = Target { kind: user_type.as_str(), id: id.to_string() };
    audit::append(&mut tx, actor, "user.reinstate", Some(target), serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Whose session staff ended.
#[derive(sqlx::FromRow)]
struct EndedSession {
    user_type: UserType,
    user_id: Uuid,
}

/// Ends any one session (of an app user or staff member), instantly on every instance.
pub async fn end_session(db: &PgPool, actor: &StaffActor, session_id: Uuid) -> Result<(), StaffError> {
    let mut tx = db.begin().await?;
    let ended: Option<EndedSession> = sqlx::query_as(
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'staff'
         WHERE id = $1 AND revoked_at IS NULL RETURNING user_type, user_id",
    )
    .bind(session_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(EndedSession { user_type, user_id }) = ended else {
        return Err(StaffError::NotFound("no such live session"));
    };
    let details = serde_json::json!({ "user_type": user_type, "user_id": user_id });
    audit::append(
        &mut tx,
        actor,
        "session.revoke",
        Some(Target { kind: "session", id: session_id.to_string() }),
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Staff's decision on a pending mitra: `approved` or `rejected`, with an optional note
/// the mitra sees. The mitra is told at once (socket event `mitra.verification` and a
/// push).
pub async fn decide_verification(
    db: &PgPool,
    actor: &StaffActor,
    id: Uuid,
    approve: bool,
    note: Option<&str>,
) -> Result<(), StaffError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(StaffError::Invalid("note must be at most 1000 characters".into()));
    }
    let status = if approve { "approved" } else { "rejected" };
    let mut tx = db.begin().await?;
    let decided = sqlx::query(
        "UPDATE mitras SET verification_status = $2, verification_note = $3, updated_at = now()
         WHERE id = $1 AND verification_status = 'pending' AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(status)
    .bind(&note)
    .execute(&mut *tx)
    .await?;
    if decided.rows_affected() == 0 {
        return Err(match current_verification(&mut tx, id).await? {
            None => StaffError::NotFound("no such mitra"),
            Some(current) => StaffError::InvalidState(format!("verification is {current}, not pending")),
        });
    }
    let event = serde_json::json!({ "verification_status": status, "note": note });
    let (title, body) = if approve {
        ("Verifikasi disetujui", "Akun mitra Anda sudah diverifikasi. Anda bisa menerima pesanan.".to_owned())
    } else {
        ("Verifikasi ditolak", note.clone().unwrap_or_else(|| "Periksa profil Anda dan ajukan lagi.".into()))
    };
    let delivery = Delivery {
        notification_id: Uuid::new_v4(),
        user_type: UserType::Mitra,
        user_id: id,
        event_type: "mitra.verification",
        event: &event,
        title,
        body: &body,
        data: &serde_json::json!({ "verification_status": status }),
        created_by: Some(actor.id),
        push_unless_seen: false,
    };
    notifications::deliver(&mut tx, &delivery).await?;
    let details = serde_json::json!({ "decision": status, "note": note });
    audit::append(&mut tx, actor, "mitra.verification", Some(Target { kind: "mitra", id: id.to_string() }), details)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn current_verification(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT verification_status FROM mitras WHERE id = $1 AND deleted_at IS NULL")
        .bind(id)
        .fetch_optional(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_read_as_an_id_email_phone_or_name() {
        let id = Uuid::new_v4();
        assert_eq!(Search::parse(Some(&id.to_string())), Search::Id(id));
        assert_eq!(Search::parse(Some(" Ayu@Gmail.com ")), Search::Email("ayu@gmail.com".into()));
        assert_eq!(Search::parse(Some("0812-3456-7890")), Search::PhonePrefix("+6281234567890".into()));
        assert_eq!(Search::parse(Some("+62 812 3456 7890")), Search::PhonePrefix("+6281234567890".into()));
        assert_eq!(Search::parse(Some("0812")), Search::PhonePrefix("+62812".into()));
        assert_eq!(Search::parse(Some("62812")), Search::PhonePrefix("+62812".into()));
        assert_eq!(Search::parse(Some("812")), Search::PhonePrefix("+62812".into()));
        assert_eq!(Search::parse(Some("Ayu L")), Search::NamePrefix("ayu l".into()));
        assert_eq!(Search::parse(Some("50%_off")), Search::NamePrefix("50%_off".into()));
        assert_eq!(Search::parse(Some("  ")), Search::All);
        assert_eq!(Search::parse(None), Search::All);
    }
}
