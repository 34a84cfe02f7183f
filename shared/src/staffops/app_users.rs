//! What staff do to app users (customers and mitra): suspend and reinstate them, end a
//! session, decide a mitra's verification. Each is one transaction with its audit entry;
//! the rows themselves are written by their owners (`users`, `sessions`).

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use super::{reason, StaffActor, StaffError};
use crate::audit::{self, Target};
use crate::notifications::{self, Delivery};
use crate::sessions::{self, RevokeReason, Scope};
use crate::tokens::{Role, UserType};
use crate::users::{self, mitras, mitras::VerificationStatus};

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
    let mut tx = db.begin().await?;
    if !users::suspend(&mut tx, user_type, id, &why).await.context("suspending the user")? {
        return Err(StaffError::NotFound("no such user, or the account was deleted"));
    }
    let ended = sessions::revoke(&mut *tx, Scope::User(user_type, id), RevokeReason::Suspended)
        .await
        .context("ending the user's sessions")?;
    let target = Target { kind: user_type.as_str(), id: id.to_string() };
    let details = serde_json::json!({ "reason": why, "sessions_ended": ended.count });
    audit::append(&mut tx, actor, "user.suspend", Some(target), details).await.context("auditing")?;
    tx.commit().await.context("committing")?;
    Ok(())
}

/// Lifts a suspension; the sessions it ended stay ended.
pub async fn reinstate(db: &PgPool, actor: &StaffActor, user_type: UserType, id: Uuid) -> Result<(), StaffError> {
    let mut tx = db.begin().await?;
    if !users::reinstate(&mut tx, user_type, id).await.context("reinstating the user")? {
        return Err(StaffError::NotFound("no such user, or the account was deleted"));
    }
    let target = Target { kind: user_type.as_str(), id: id.to_string() };
    audit::append(&mut tx, actor, "user.reinstate", Some(target), serde_json::json!({})).await.context("auditing")?;
    tx.commit().await.context("committing")?;
    Ok(())
}

/// Ends one session, instantly on every instance: agents only a customer's or a mitra's
/// (a staff session is "no such live session" to them), admins anyone's.
pub async fn end_session(db: &PgPool, actor: &StaffActor, role: Role, session_id: Uuid) -> Result<(), StaffError> {
    let scope = match role {
        Role::Admin => Scope::Session(session_id),
        Role::Agent => Scope::AppUserSession(session_id),
    };
    let mut tx = db.begin().await?;
    let ended = sessions::revoke(&mut *tx, scope, RevokeReason::Staff).await.context("ending the session")?;
    let (Some(user_type), Some(user_id)) = (ended.user_type, ended.user_id) else {
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
    .await
    .context("auditing")?;
    tx.commit().await.context("committing")?;
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
    let (decision, status) =
        if approve { (VerificationStatus::Approved, "approved") } else { (VerificationStatus::Rejected, "rejected") };
    let mut tx = db.begin().await?;
    let decided = mitras::decide_verification(&mut tx, id, decision, note.as_deref()).await.context("deciding")?;
    if !decided {
        return Err(match mitras::verification(&mut tx, id).await.context("reading the verification")? {
            None => StaffError::NotFound("no such mitra"),
            Some(current) => StaffError::InvalidState(format!("verification is {}, not pending", current.as_str())),
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
    notifications::deliver(&mut tx, &delivery).await.context("telling the mitra")?;
    let details = serde_json::json!({ "decision": status, "note": note });
    audit::append(&mut tx, actor, "mitra.verification", Some(Target { kind: "mitra", id: id.to_string() }), details)
        .await
        .context("auditing")?;
    tx.commit().await.context("committing")?;
    Ok(())
}
