//! Customers and mitra as staff find them: search and detail, newest first.
//!
//! Search takes what an agent would paste: an id, an email, a phone in any written form
//! (`0812…`, `62812…`, `+62 812-…`, or the first digits of one) or the start of a name.
//! Each kind is answered from its own index (see the staff_ops migration).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::mitras::VerificationStatus;
use crate::pagination::{Cursor, Page};

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
    /// The name customers see: the last one staff approved.
    pub listed_name: Option<String>,
    pub status: String,
    pub verification_status: VerificationStatus,
    pub is_online: bool,
    pub created_at: DateTime<Utc>,
}

const CUSTOMER_COLUMNS: &str = "u.id, u.phone, u.email, u.display_name, u.is_anonymous, u.created_at";
const MITRA_COLUMNS: &str =
    "u.id, u.phone, u.display_name, u.listed_name, u.verification_status, u.is_online, u.created_at";

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
        .bind(verification)
        .fetch_all(db)
        .await?;
    let next = page.finish(&mut rows, |r| Cursor { at: r.created_at, id: r.id });
    Ok((rows, next))
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
