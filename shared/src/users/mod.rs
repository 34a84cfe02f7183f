//! The three kinds of user and the questions sessions ask about them.

pub mod customers;
pub mod deletion;
pub mod merge;
pub mod mitras;
pub mod profile;
pub mod sessions;
pub mod staff;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::tokens::UserType;

/// The part of a user every token pair reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub user_type: UserType,
    pub is_anonymous: bool,
}

/// Why a user may no longer hold a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Active(Account),
    /// Staff user switched off by an admin.
    Disabled,
    /// Deleted by its owner, or an anonymous customer merged into another.
    Gone,
}

/// Whether the user can still hold a session, read inside the caller's transaction.
pub async fn standing(conn: &mut PgConnection, user_type: UserType, id: Uuid) -> sqlx::Result<Standing> {
    let account = |is_anonymous| Standing::Active(Account { id, user_type, is_anonymous });
    Ok(match user_type {
        UserType::Customer => {
            let row: Option<(bool, bool)> = sqlx::query_as(
                "SELECT is_anonymous, merged_into IS NOT NULL OR deleted_at IS NOT NULL FROM customers WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(conn)
            .await?;
            match row {
                Some((is_anonymous, false)) => account(is_anonymous),
                _ => Standing::Gone,
            }
        }
        UserType::Mitra => {
            let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM mitras WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .fetch_optional(conn)
                .await?;
            if found.is_some() {
                account(false)
            } else {
                Standing::Gone
            }
        }
        UserType::CcUser => {
            let row: Option<bool> = sqlx::query_scalar("SELECT disabled_at IS NOT NULL FROM cc_users WHERE id = $1")
                .bind(id)
                .fetch_optional(conn)
                .await?;
            match row {
                Some(false) => account(false),
                Some(true) => Standing::Disabled,
                None => Standing::Gone,
            }
        }
    })
}
