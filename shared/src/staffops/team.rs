//! Staff management (admins only): create staff, change a role, rename, disable.
//! Disabling or changing the role ends the member's sessions at once (their tokens name
//! the role). The control center can never be left without an active admin, and
//! admins cannot demote or disable themselves.

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use super::{StaffActor, StaffError};
use crate::audit::{self, Target};
use crate::sessions::{self, RevokeReason, Scope};
use crate::tokens::{Role, UserType};
use crate::users::staff::{self, CreateError, Staff};

impl From<CreateError> for StaffError {
    fn from(err: CreateError) -> Self {
        match err {
            CreateError::InvalidEmail(_) | CreateError::PasswordTooShort | CreateError::InvalidDisplayName(_) => {
                StaffError::Invalid(err.to_string())
            }
            CreateError::DuplicateEmail(_) => StaffError::Conflict(err.to_string()),
            CreateError::Unexpected(cause) => StaffError::Unexpected(cause),
        }
    }
}

/// A new staff member.
pub struct NewStaff<'a> {
    pub email: &'a str,
    pub role: Role,
    pub display_name: Option<&'a str>,
    pub password: &'a str,
}

pub async fn create(
    db: &PgPool,
    actor: &StaffActor,
    new: &NewStaff<'_>,
    bcrypt_cost: u32,
) -> Result<Staff, StaffError> {
    let email = staff::checked_email(new.email)?;
    let display_name = staff::checked_display_name(new.display_name)?;
    let hash = staff::password_hash(new.password, bcrypt_cost).await?;
    let mut tx = db.begin().await?;
    let id = staff::insert(&mut tx, &email, new.role, display_name.as_deref(), &hash).await?;
    let details = serde_json::json!({ "email": email, "role": new.role.as_str() });
    audit::append(&mut tx, actor, "staff.create", Some(Target { kind: "cc_user", id: id.to_string() }), details)
        .await?;
    tx.commit().await?;
    staff::get(db, id).await?.ok_or(StaffError::NotFound("no such staff member"))
}

/// What an admin changes about a staff member; `None` leaves it.
#[derive(Debug, Default)]
pub struct StaffChange<'a> {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub display_name: Option<&'a str>,
}

pub async fn change(db: &PgPool, actor: &StaffActor, id: Uuid, change: &StaffChange<'_>) -> Result<Staff, StaffError> {
    let name = change
        .display_name
        .map(crate::users::profile::display_name)
        .transpose()
        .map_err(|e| StaffError::Invalid(e.to_string()))?;
    let name = name.as_deref();
    let mut tx = db.begin().await?;
    // Lock every active admin first: two admins demoting each other at once must not
    // both succeed and leave none.
    let admins = staff::lock_active_admins(&mut tx).await.context("locking the admins")?;
    let current = staff::lock(&mut tx, id)
        .await
        .context("locking the member")?
        .ok_or(StaffError::NotFound("no such staff member"))?;
    let demoted = current.role == Role::Admin && change.role.is_some_and(|r| r != Role::Admin);
    let disabling = current.disabled_at.is_none() && change.disabled == Some(true);
    if id == actor.id && (demoted || disabling) {
        return Err(StaffError::Conflict("admins cannot demote or disable themselves".into()));
    }
    if (demoted || (disabling && current.role == Role::Admin)) && admins.iter().all(|a| *a == id) {
        return Err(StaffError::Conflict("this would leave the control center without an active admin".into()));
    }
    let update = staff::Change { role: change.role, disabled: change.disabled, display_name: name };
    staff::update(&mut tx, id, &update).await.context("updating the member")?;
    // Tokens carry the role, so any change of it (up or down) ends the member's sessions
    // in this transaction, as disabling does: no token outlives the role it names, and
    // every instance refuses them within a second (the revocation trigger).
    let role_changed = change.role.is_some_and(|r| r != current.role);
    let reason = match (disabling, role_changed) {
        (true, _) => Some(RevokeReason::Disabled),
        (false, true) => Some(RevokeReason::RoleChanged),
        (false, false) => None,
    };
    let ended = match reason {
        Some(reason) => {
            sessions::revoke(&mut *tx, Scope::User(UserType::Staff, id), reason)
                .await
                .context("ending the member's sessions")?
                .count
        }
        None => 0,
    };
    let details = serde_json::json!({
        "role": change.role.map(Role::as_str), "disabled": change.disabled, "display_name": name,
        "sessions_ended": ended,
    });
    audit::append(&mut tx, actor, "staff.change", Some(Target { kind: "cc_user", id: id.to_string() }), details)
        .await
        .context("auditing")?;
    tx.commit().await.context("committing")?;
    staff::get(db, id).await?.ok_or(StaffError::NotFound("no such staff member"))
}
