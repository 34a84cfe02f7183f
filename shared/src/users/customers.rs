//! Customers: the people using the client app, anonymous until they verify a phone or
//! sign in with Google or Apple, and the identities they sign in with
//! (`customer_identities`). Every write to either table is here.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::providers::oidc::IdProvider;

/// The condition for a customer that still exists on its own: not merged into another,
/// not deleted. Unqualified column names, for `FROM customers` (no alias).
pub const LIVE: &str = "merged_into IS NULL AND deleted_at IS NULL";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Customer {
    pub id: Uuid,
    pub is_anonymous: bool,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn create_anonymous(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO customers (id, is_anonymous) VALUES ($1, true)").bind(id).execute(conn).await?;
    Ok(())
}

/// A new customer who signed in with a phone or an identity (linked next, in the same
/// transaction).
pub async fn create_identified(conn: &mut PgConnection) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO customers (id, is_anonymous) VALUES ($1, false)").bind(id).execute(conn).await?;
    Ok(id)
}

/// A customer that still exists on its own (not merged into another, not deleted).
pub async fn get(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Customer>> {
    static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT id, is_anonymous, phone, email, display_name, created_at FROM customers WHERE id = $1 AND {LIVE}"
        )
    });
    sqlx::query_as(&QUERY).bind(id).fetch_optional(db).await
}

/// Whether customer `id` still exists on its own.
pub async fn exists<'e>(db: impl PgExecutor<'e>, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1 AND {LIVE})"))
        .bind(id)
        .fetch_one(db)
        .await
}

/// The display names of customers `ids` (null for one without, or erased), as shown
/// beside their reviews.
pub async fn display_names(db: &PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, Option<String>)>> {
    sqlx::query_as("SELECT id, display_name FROM customers WHERE id = ANY($1)").bind(ids).fetch_all(db).await
}

/// A live, unsuspended customer's `is_anonymous`, or `None` when the customer cannot act
/// (gone or suspended). Read in the caller's transaction.
pub async fn active_is_anonymous(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar(&format!("SELECT is_anonymous FROM customers WHERE id = $1 AND {LIVE} AND suspended_at IS NULL"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Whether customer `id` is suspended.
pub async fn is_suspended(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT suspended_at IS NOT NULL FROM customers WHERE id = $1").bind(id).fetch_one(conn).await
}

/// The unmerged customer holding `phone`, locked for the rest of the transaction.
pub async fn owner_of_phone(conn: &mut PgConnection, phone: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM customers WHERE phone = $1 AND merged_into IS NULL FOR UPDATE")
        .bind(phone)
        .fetch_optional(conn)
        .await
}

/// The unmerged customer holding a provider's identity, locked for the rest of the
/// transaction.
pub async fn owner_of_identity(
    conn: &mut PgConnection,
    provider: IdProvider,
    subject: &str,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT c.id FROM customer_identities i JOIN customers c ON c.id = i.customer_id
         WHERE i.provider = $1 AND i.subject = $2 AND c.merged_into IS NULL FOR UPDATE OF c",
    )
    .bind(provider.as_str())
    .bind(subject)
    .fetch_optional(conn)
    .await
}

/// Whether customer `id` is still anonymous and on its own, locked for the rest of the
/// transaction; `None` for an unknown customer.
pub async fn lock_if_anonymous(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar("SELECT is_anonymous AND merged_into IS NULL FROM customers WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Gives customer `id` the phone it verified; it stops being anonymous.
pub async fn attach_phone(conn: &mut PgConnection, id: Uuid, phone: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE customers SET phone = $2, is_anonymous = false, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(phone)
        .execute(conn)
        .await?;
    Ok(())
}

/// A provider's account, as a customer links it.
pub struct Identity<'a> {
    pub provider: IdProvider,
    pub subject: &'a str,
    /// Only when the provider says it is verified.
    pub email: Option<&'a str>,
}

/// Links `identity` to customer `id`, which stops being anonymous.
pub async fn link_identity(conn: &mut PgConnection, id: Uuid, identity: &Identity<'_>) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO customer_identities (provider, subject, customer_id, email) VALUES ($1, $2, $3, $4)")
        .bind(identity.provider.as_str())
        .bind(identity.subject)
        .bind(id)
        .bind(identity.email)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE customers SET is_anonymous = false, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Fills the profile from what a provider told us at a sign-in: a verified email when the
/// customer has none, `name` (already checked) when the stored one is empty (Apple sends
/// it only once; nothing overwrites a stored name); and records the sign-in.
pub async fn record_provider_sign_in(
    conn: &mut PgConnection,
    id: Uuid,
    identity: &Identity<'_>,
    name: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE customers SET
           email = COALESCE(email, $2),
           display_name = CASE WHEN COALESCE(display_name, '') = '' THEN COALESCE($3, display_name) ELSE display_name END,
           updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(identity.email)
    .bind(name)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE customer_identities SET last_sign_in_at = now() WHERE provider = $1 AND subject = $2")
        .bind(identity.provider.as_str())
        .bind(identity.subject)
        .execute(conn)
        .await?;
    Ok(())
}

/// Keeps the sealed Apple refresh token of the customer's Apple identity, so deleting
/// the account can revoke the grant.
pub async fn store_apple_grant(
    db: &PgPool,
    customer_id: Uuid,
    subject: &str,
    client_id: &str,
    sealed: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE customer_identities SET provider_client_id = $3, provider_refresh_token = $4
         WHERE provider = 'apple' AND subject = $1 AND customer_id = $2",
    )
    .bind(subject)
    .bind(customer_id)
    .bind(client_id)
    .bind(sealed)
    .execute(db)
    .await?;
    Ok(())
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

/// Folds customer `from` into `into`: its identities move, and it is marked merged.
pub async fn merge_into(conn: &mut PgConnection, from: Uuid, into: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE customer_identities SET customer_id = $2 WHERE customer_id = $1")
        .bind(from)
        .bind(into)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE customers SET merged_into = $2, merged_at = now(), updated_at = now() WHERE id = $1")
        .bind(from)
        .bind(into)
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks customer `id` for its deletion; false when it no longer exists on its own.
pub async fn lock_live(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let found: Option<Uuid> =
        sqlx::query_scalar(&format!("SELECT id FROM customers WHERE id = $1 AND {LIVE} FOR UPDATE"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// An Apple grant to revoke: the app's client id and the sealed refresh token.
#[derive(Debug, sqlx::FromRow)]
pub struct AppleGrant {
    pub client_id: String,
    /// The Apple subject, to which the sealed token is bound.
    pub subject: String,
    pub refresh_token: Vec<u8>,
}

/// What erasing a customer leaves to do: the Apple grants to revoke, and how many Apple
/// identities had no grant stored (those cannot be revoked).
pub struct Erased {
    pub apple_grants: Vec<AppleGrant>,
    pub unrevocable_apple: usize,
    /// The phone the customer had, for the owners of what is keyed by it to forget.
    pub phone: Option<String>,
}

/// Erases customer `id`'s personal data in the caller's transaction: the phone, email,
/// name and every linked identity, and marks the row deleted (it stays, anonymised, for
/// the records that outlive the account). The same phone or identity later signs up as
/// a new customer.
pub async fn erase(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Erased> {
    let apple: Vec<(String, Option<String>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT subject, provider_client_id, provider_refresh_token FROM customer_identities
         WHERE customer_id = $1 AND provider = 'apple'",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let total = apple.len();
    let apple_grants: Vec<AppleGrant> = apple
        .into_iter()
        .filter_map(|(subject, client_id, token)| {
            Some(AppleGrant { client_id: client_id?, subject, refresh_token: token? })
        })
        .collect();
    sqlx::query("DELETE FROM customer_identities WHERE customer_id = $1").bind(id).execute(&mut *conn).await?;
    let phone: Option<String> =
        sqlx::query_scalar("SELECT phone FROM customers WHERE id = $1").bind(id).fetch_one(&mut *conn).await?;
    sqlx::query(
        "UPDATE customers SET phone = NULL, email = NULL, display_name = NULL, suspended_reason = NULL,
                              deleted_at = now(), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(Erased { unrevocable_apple: total - apple_grants.len(), apple_grants, phone })
}
