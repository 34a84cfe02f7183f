//! Control-center sign-in: email and password, bcrypt off the executor, failures
//! throttled per email and per client IP, and the same answer (and about the same time)
//! for an unknown email as for a wrong password.

use tokio::sync::OnceCell;

use super::hashing;
use super::sessions::{self, Issued};
use super::tokens::UserType;
use super::AuthError;
use crate::http::ClientInfo;
use crate::ratelimit;
use crate::state::AppState;
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
    let cost = state.settings.password_bcrypt_cost;
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
    let settings = &state.settings;
    AuthError::check(ratelimit::peek(&state.db, &email_key, settings.login_failures_per_email).await?)?;
    AuthError::check(ratelimit::peek(&state.db, &ip_key, settings.login_failures_per_ip).await?)?;

    let found = staff::credentials_by_email(&state.db, &email).await?;
    let hash = match &found {
        Some(user) => user.password_hash.clone(),
        None => dummy_hash(state).await?.clone(),
    };
    let matches = hashing::verify(password.to_owned(), hash).await?;
    let user = match found {
        Some(user) if matches => user,
        _ => {
            ratelimit::hit(&state.db, &email_key, settings.login_failures_per_email, FAILURE_WINDOW_SECS).await?;
            ratelimit::hit(&state.db, &ip_key, settings.login_failures_per_ip, FAILURE_WINDOW_SECS).await?;
            return Err(AuthError::InvalidCredentials);
        }
    };
    if user.staff.disabled_at.is_some() {
        return Err(AuthError::AccountDisabled);
    }

    let new = sessions::prepare(state).await?;
    let account = Account { id: user.staff.id, user_type: UserType::CcUser, is_anonymous: false };
    let mut conn = state.db.acquire().await?;
    let issued = sessions::start(&mut conn, state, &new, account, client).await?;
    tracing::info!(cc_user_id = %user.staff.id, "staff user signed in");
    Ok((issued, user.staff))
}

/// Rotates a control-center refresh token and returns the staff user with the new pair.
pub async fn refresh(state: &AppState, token: &str) -> Result<(Issued, Staff), AuthError> {
    let issued = sessions::refresh(state, token, &[UserType::CcUser]).await?;
    let user = staff::get(&state.db, issued.account.id).await?.ok_or(AuthError::SessionRevoked)?;
    Ok((issued, user))
}
