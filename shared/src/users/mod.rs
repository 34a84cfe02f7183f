//! The three kinds of user, the one owner of their tables (`customers`,
//! `customer_identities`, `mitras`, `cc_users`): their records, profiles and standing,
//! the directory staff search, and the writes other modules ask for (suspension,
//! verification decisions, staff changes, erasure on deletion). The questions sessions
//! ask (may this user still hold one?) are [`standing`]'s.

pub mod customers;
pub mod directory;
pub mod mitras;
pub mod profile;
pub mod staff;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::tokens::{Role, UserType};

/// The part of a user every token pair reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub user_type: UserType,
    pub is_anonymous: bool,
    /// Staff only: carried in the access token.
    pub role: Option<Role>,
}

/// Why a user may no longer hold a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Active(Account),
    /// Staff user switched off by an admin.
    Disabled,
    /// Customer or mitra suspended by staff.
    Suspended,
    /// Deleted by its owner, or an anonymous customer merged into another.
    Gone,
}

#[derive(sqlx::FromRow)]
struct CustomerStanding {
    is_anonymous: bool,
    /// Merged into another customer, or deleted.
    gone: bool,
    suspended: bool,
}

/// Whether the user can still hold a session, read inside the caller's transaction.
pub async fn standing(conn: &mut PgConnection, user_type: UserType, id: Uuid) -> sqlx::Result<Standing> {
    let account = |is_anonymous| Standing::Active(Account { id, user_type, is_anonymous, role: None });
    Ok(match user_type {
        UserType::Customer => {
            let row: Option<CustomerStanding> = sqlx::query_as(
                "SELECT is_anonymous, merged_into IS NOT NULL OR deleted_at IS NOT NULL AS gone,
                        suspended_at IS NOT NULL AS suspended
                 FROM customers WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(conn)
            .await?;
            match row {
                Some(CustomerStanding { is_anonymous, gone: false, suspended: false }) => account(is_anonymous),
                Some(CustomerStanding { gone: false, suspended: true, .. }) => Standing::Suspended,
                _ => Standing::Gone,
            }
        }
        UserType::Mitra => {
            let row: Option<bool> =
                sqlx::query_scalar("SELECT suspended_at IS NOT NULL FROM mitras WHERE id = $1 AND deleted_at IS NULL")
                    .bind(id)
                    .fetch_optional(conn)
                    .await?;
            match row {
                Some(false) => account(false),
                Some(true) => Standing::Suspended,
                None => Standing::Gone,
            }
        }
        UserType::Staff => {
            let row: Option<(bool, Role)> =
                sqlx::query_as("SELECT disabled_at IS NOT NULL, role FROM cc_users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(conn)
                    .await?;
            match row {
                Some((false, role)) => {
                    Standing::Active(Account { id, user_type, is_anonymous: false, role: Some(role) })
                }
                Some((true, _)) => Standing::Disabled,
                None => Standing::Gone,
            }
        }
    })
}

/// Whether the customer or mitra `id` still exists (not merged, not deleted); staff are
/// never "users" to this question.
pub async fn exists(conn: &mut PgConnection, user_type: UserType, id: Uuid) -> sqlx::Result<bool> {
    match user_type {
        UserType::Customer => customers::exists(conn, id).await,
        UserType::Mitra => mitras::exists(conn, id).await,
        UserType::Staff => Ok(false),
    }
}

/// The table of an app user's kind; staff cannot be suspended.
fn app_user_table(user_type: UserType) -> Option<&'static str> {
    match user_type {
        UserType::Customer => Some("customers"),
        UserType::Mitra => Some("mitras"),
        UserType::Staff => None,
    }
}

/// Suspends a customer or mitra, in the caller's transaction (which also ends their
/// sessions); false when there is no such live user. Suspending twice keeps the first
/// time and takes the latest reason.
pub async fn suspend(conn: &mut PgConnection, user_type: UserType, id: Uuid, reason: &str) -> sqlx::Result<bool> {
    let Some(table) = app_user_table(user_type) else { return Ok(false) };
    let merged = if user_type == UserType::Customer { " AND merged_into IS NULL" } else { "" };
    let done = sqlx::query(&format!(
        "UPDATE {table} SET suspended_at = COALESCE(suspended_at, now()), suspended_reason = $2, updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL{merged}"
    ))
    .bind(id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Lifts a suspension, in the caller's transaction; false when there is no such user.
pub async fn reinstate(conn: &mut PgConnection, user_type: UserType, id: Uuid) -> sqlx::Result<bool> {
    let Some(table) = app_user_table(user_type) else { return Ok(false) };
    let done = sqlx::query(&format!(
        "UPDATE {table} SET suspended_at = NULL, suspended_reason = NULL, updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL"
    ))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
