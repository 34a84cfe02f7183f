//! The three kinds of user and the questions sessions ask about them.

pub mod customers;
pub mod deletion;
pub mod merge;
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
        UserType::CcUser => {
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
