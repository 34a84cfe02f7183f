//! Control-center sign-in: email and password, bcrypt off the executor, failures
//! throttled per email and per client IP, and the same answer (and about the same time)
//! for an unknown email, a wrong password and a disabled account.
//!
//! The throttle cannot be raced: every attempt is counted (per email and per IP, in one
//! transaction, all-or-nothing) *before* the password is checked, and refused over the
//! limit; a correct password gives its attempt back. Sixty parallel guesses against a
//! limit of five therefore get five password checks, not sixty.

use anyhow::Context;
use tokio::sync::OnceCell;

use super::issue::{self, Issued};
use super::AuthError;
use crate::audit::{self, StaffActor};
use crate::http::ClientInfo;
use crate::ratelimit;
use crate::sessions::{self, RevokeReason, Scope};
use crate::state::AppState;
use crate::tokens::hashing;
use crate::tokens::{Claims, UserType};
use crate::users::staff::{self, Staff};
use crate::users::Account;

/// Failed logins are counted over this window.
const FAILURE_WINDOW_SECS: u32 = 15 * 60;

/// Compared against when the email is unknown, so that case costs one bcrypt too.
static DUMMY_HASH: OnceCell<String> = OnceCell::const_new();

/// Computes the dummy hash now rather than on the first unknown-email login.
pub async fn warm_up(state: &AppState) -> anyhow::Result<()> {
    dummy_hash(state).await.map(|_| ())
}

async fn dummy_hash(state: &AppState) -> anyhow::Result<&'static String> {
    let cost = state.control_center()?.settings.password_bcrypt_cost;
    DUMMY_HASH.get_or_try_init(|| hashing::hash(uuid::Uuid::new_v4().to_string(), cost)).await
}

/// Signs a staff user in. The email is compared case-insensitively.
#[tracing::instrument(skip_all)]
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<(Issued, Staff), AuthError> {
    let email = staff::normalize_email(email);
    let ip = client.rate_limit_key();
    let email_key = format!("login-fail:email:{email}");
    let ip_key = format!("login-fail:ip:{ip}");
    reserve_attempt(state, &email_key, &ip_key).await?;

    let found = staff::credentials_by_email(&state.db, &email).await.context("reading the staff member")?;
    let hash = match &found {
        Some(user) => user.password_hash.clone(),
        None => dummy_hash(state).await?.clone(),
    };
    let matches = hashing::verify(password.to_owned(), hash).await?;
    // A disabled account answers exactly like a wrong password (same bcrypt, same 401),
    // so it never tells whether a guessed password was right. The attempt stays counted.
    let user = match found {
        Some(user) if matches && user.staff.disabled_at.is_none() => user,
        _ => return Err(AuthError::InvalidCredentials),
    };
    ratelimit::give_back(&state.db, &email_key).await.context("giving the attempt back")?;
    ratelimit::give_back(&state.db, &ip_key).await.context("giving the attempt back")?;

    let new = issue::prepare(state).await?;
    let account =
        Account { id: user.staff.id, user_type: UserType::Staff, is_anonymous: false, role: Some(user.staff.role) };
    let mut tx = state.db.begin().await.context("starting the sign-in")?;
    let issued = issue::start(&mut tx, state, &new, account, client).await?;
    let actor = StaffActor::new(user.staff.id, client);
    audit::append(&mut tx, &actor, "staff.login", None, serde_json::json!({ "session_id": issued.session_id }))
        .await
        .context("auditing the sign-in")?;
    tx.commit().await.context("committing the sign-in")?;
    tracing::info!(cc_user_id = %user.staff.id, "staff user signed in");
    Ok((issued, user.staff))
}

/// Ends the staff member's current session, recorded in the audit log.
pub async fn logout(state: &AppState, claims: &Claims, client: &ClientInfo) -> Result<(), AuthError> {
    let mut tx = state.db.begin().await.context("starting the sign-out")?;
    let scope = Scope::OwnSession { user_type: UserType::Staff, user_id: claims.sub, session_id: claims.session_id };
    sessions::revoke(&mut *tx, scope, RevokeReason::Logout).await.context("ending the session")?;
    let actor = StaffActor::new(claims.sub, client);
    audit::append(&mut tx, &actor, "staff.logout", None, serde_json::json!({ "session_id": claims.session_id }))
        .await
        .context("auditing the sign-out")?;
    tx.commit().await.context("committing the sign-out")?;
    Ok(())
}

/// Counts one attempt against both limits before any password is checked; refused (and
/// nothing counted) when either is already spent.
async fn reserve_attempt(state: &AppState, email_key: &str, ip_key: &str) -> Result<(), AuthError> {
    let settings = &state.control_center()?.settings;
    let mut tx = state.db.begin().await.context("starting the attempt")?;
    let by_email = ratelimit::hit(&mut *tx, email_key, settings.login_failures_per_email, FAILURE_WINDOW_SECS)
        .await
        .context("counting the attempt")?;
    AuthError::check(by_email)?;
    let by_ip = ratelimit::hit(&mut *tx, ip_key, settings.login_failures_per_ip, FAILURE_WINDOW_SECS)
        .await
        .context("counting the attempt")?;
    AuthError::check(by_ip)?;
    tx.commit().await.context("committing the attempt")?;
    Ok(())
}

/// Rotates a control-center refresh token and returns the staff user with the new pair.
pub async fn refresh(state: &AppState, token: &str, client: &ClientInfo) -> Result<(Issued, Staff), AuthError> {
    let issued = super::refresh::refresh(state, token, &[UserType::Staff], client).await?;
    let user = staff::get(&state.db, issued.account.id)
        .await
        .context("reading the staff member")?
        .ok_or(AuthError::SessionRevoked)?;
    Ok((issued, user))
}
