//! Phone sign-in with one-time codes: request a code (limited per phone and per IP),
//! verify it (a keyed hash compared in constant time, a few tries, consumed once).

mod daily;

use anyhow::Context;
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;

use crate::auth::identity;
use crate::auth::issue::Issued;
use crate::auth::AuthError;
use crate::error::{ApiError, ErrorCode};
use crate::http::ClientInfo;
use crate::phone::Phone;
use crate::ratelimit::{self, Verdict};
use crate::state::AppState;
use crate::tokens::{Claims, UserType};

#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("the code is wrong or was already used")]
    InvalidOtp,
    #[error("the code has expired or ran out of attempts; request a new one")]
    OtpExpired,
    #[error("the code could not be sent; try again shortly")]
    DeliveryFailed,
    #[error("phone sign-in is not available for numbers of this country")]
    CountryNotAllowed,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<sqlx::Error> for OtpError {
    fn from(err: sqlx::Error) -> Self {
        OtpError::Auth(err.into())
    }
}

impl From<anyhow::Error> for OtpError {
    fn from(err: anyhow::Error) -> Self {
        OtpError::Auth(err.into())
    }
}

impl From<OtpError> for ApiError {
    fn from(err: OtpError) -> Self {
        let message = err.to_string();
        match err {
            OtpError::InvalidOtp => ApiError::new(ErrorCode::InvalidOtp, message),
            OtpError::OtpExpired => ApiError::new(ErrorCode::OtpExpired, message),
            OtpError::DeliveryFailed => ApiError::new(ErrorCode::Unavailable, message),
            OtpError::CountryNotAllowed => ApiError::invalid_request(message),
            OtpError::Auth(inner) => inner.into(),
        }
    }
}

/// What the app is told after a code was sent.
#[derive(Debug, Clone, Copy)]
pub struct Requested {
    pub expires_in: u32,
    pub resend_after: u32,
}

const HOUR: u32 = 3600;

/// What a code is for. A sign-in code cannot change a payout account, nor the other way
/// round: each is stored, retired and consumed under its own purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SignIn,
    /// The step-up before a mitra's payout account changes (§12), sent to the mitra's own phone.
    PayoutAccount,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::SignIn => "sign_in",
            Purpose::PayoutAccount => "payout_account",
        }
    }

    /// What the code's keyed hash is bound to besides the app: the phone, and the purpose
    /// when it is not sign-in.
    fn subject(self, phone: &Phone) -> String {
        match self {
            Purpose::SignIn => phone.as_str().to_owned(),
            other => format!("{}:{}", other.as_str(), phone.as_str()),
        }
    }

    const ALL: [Purpose; 2] = [Purpose::SignIn, Purpose::PayoutAccount];

    fn cooldown_key(self, user_type: UserType, phone: &str) -> String {
        match self {
            Purpose::SignIn => format!("otp:cooldown:{}:{phone}", user_type.as_str()),
            other => format!("otp:cooldown:{}-{}:{phone}", user_type.as_str(), other.as_str()),
        }
    }
}

/// Sends a step-up code for a mitra's payout account to the mitra's own `phone`, under
/// the same limits as sign-in codes (they share the per-phone and per-address counts).
pub async fn request_step_up(state: &AppState, phone: &Phone, client: &ClientInfo) -> Result<Requested, OtpError> {
    request_for(state, UserType::Mitra, Purpose::PayoutAccount, phone, client).await
}

/// Consumes a mitra's payout-account step-up code: `InvalidOtp` when wrong, used or never
/// sent, `OtpExpired` when expired or out of tries.
pub async fn consume_step_up(state: &AppState, phone: &Phone, code: &str) -> Result<(), OtpError> {
    consume(state, UserType::Mitra, Purpose::PayoutAccount, phone, code).await
}

/// Sends a new code to `phone` for the app of `user_type`, unless a limit says no.
/// Every limit is counted in one transaction, so a refused request counts nothing. The
/// per-number daily cap rolls (see `daily`). Verifying never looks at these caps: a code
/// already sent stays usable however many requests were refused after it.
#[tracing::instrument(skip_all, fields(user_type = user_type.as_str()))]
pub async fn request(
    state: &AppState,
    user_type: UserType,
    phone: &Phone,
    client: &ClientInfo,
) -> Result<Requested, OtpError> {
    request_for(state, user_type, Purpose::SignIn, phone, client).await
}

async fn request_for(
    state: &AppState,
    user_type: UserType,
    purpose: Purpose,
    phone: &Phone,
    client: &ClientInfo,
) -> Result<Requested, OtpError> {
    let gateway = state.gateway()?;
    let s = &gateway.settings.otp;
    // International SMS is the usual pumping target: send only where the apps operate.
    let country = phone.country().unwrap_or_default();
    if !s.allowed_countries.is_empty() && !s.allowed_countries.iter().any(|c| c.eq_ignore_ascii_case(&country)) {
        return Err(OtpError::CountryNotAllowed);
    }
    let ip = client.rate_limit_key();
    let limits = [
        (format!("otp:ip-hour:{ip}"), s.sends_per_ip_per_hour, HOUR),
        (purpose.cooldown_key(user_type, phone.as_str()), 1, s.resend_secs),
        (phone_hour_key(phone.as_str()), s.sends_per_phone_per_hour, HOUR),
    ];
    let code = random_code()?;
    let mut tx = state.db.begin().await.context("starting the code request")?;
    for (key, max, window) in &limits {
        if let Verdict::Limited { retry_after_secs } =
            ratelimit::hit(&mut *tx, key, *max, *window).await.context("counting the send")?
        {
            return Err(AuthError::RateLimited { retry_after_secs }.into());
        }
    }
    if let Verdict::Limited { retry_after_secs } =
        daily::hit(&mut tx, phone, s.sends_per_phone_per_day).await.context("counting the daily sends")?
    {
        return Err(AuthError::RateLimited { retry_after_secs }.into());
    }
    // A new code retires every earlier one of this app, purpose and phone.
    sqlx::query(
        "UPDATE otp_challenges SET consumed_at = now()
         WHERE user_type = $1 AND phone = $2 AND purpose = $3 AND consumed_at IS NULL",
    )
    .bind(user_type.as_str())
    .bind(phone.as_str())
    .bind(purpose.as_str())
    .execute(&mut *tx)
    .await
    .context("retiring earlier codes")?;
    let challenge = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO otp_challenges (id, user_type, phone, code_hash, expires_at, purpose)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6)",
    )
    .bind(challenge)
    .bind(user_type.as_str())
    .bind(phone.as_str())
    .bind(state.keys.otp_hash(user_type, &purpose.subject(phone), &code))
    .bind(f64::from(s.ttl_secs))
    .bind(purpose.as_str())
    .execute(&mut *tx)
    .await
    .context("storing the code")?;
    tx.commit().await.context("committing the code")?;

    if let Err(err) = gateway.otp.send(phone, &code).await {
        tracing::error!(error = format!("{err:#}"), "OTP delivery failed");
        // The code never arrived; do not leave it verifiable. The counted limits stay,
        // so a failing vendor cannot be used to pump messages.
        sqlx::query("DELETE FROM otp_challenges WHERE id = $1")
            .bind(challenge)
            .execute(&state.db)
            .await
            .context("forgetting the undelivered code")?;
        return Err(OtpError::DeliveryFailed);
    }
    Ok(Requested { expires_in: s.ttl_secs, resend_after: s.resend_secs })
}

/// Checks `code` for `phone`; on success signs in (and for a customer presenting an
/// anonymous session, upgrades or merges it).
#[tracing::instrument(skip_all, fields(user_type = user_type.as_str()))]
pub async fn verify(
    state: &AppState,
    user_type: UserType,
    phone: &Phone,
    code: &str,
    anonymous: Option<&Claims>,
    client: &ClientInfo,
) -> Result<Issued, OtpError> {
    consume(state, user_type, Purpose::SignIn, phone, code).await?;
    let issued = match user_type {
        UserType::Mitra => identity::sign_in_mitra(state, phone, client).await?,
        _ => identity::sign_in_customer(state, identity::CustomerIdentity::Phone(phone), anonymous, client).await?,
    };
    Ok(issued)
}

/// The newest live code of a number and app, as `consume` locks it.
#[derive(sqlx::FromRow)]
struct Challenge {
    id: Uuid,
    code_hash: Vec<u8>,
    attempts: i32,
    expired: bool,
}

/// Marks the newest live code consumed if `code` matches it. The row lock makes two
/// racing verifies of the right code end with exactly one success.
async fn consume(
    state: &AppState,
    user_type: UserType,
    purpose: Purpose,
    phone: &Phone,
    code: &str,
) -> Result<(), OtpError> {
    let max_attempts = i32::try_from(state.gateway()?.settings.otp.max_attempts).unwrap_or(i32::MAX);
    let mut tx = state.db.begin().await.context("starting the code check")?;
    let row: Option<Challenge> = sqlx::query_as(
        "SELECT id, code_hash, attempts, expires_at <= now() AS expired FROM otp_challenges
         WHERE user_type = $1 AND phone = $2 AND purpose = $3 AND consumed_at IS NULL
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
    )
    .bind(user_type.as_str())
    .bind(phone.as_str())
    .bind(purpose.as_str())
    .fetch_optional(&mut *tx)
    .await
    .context("reading the code")?;
    let Some(Challenge { id, code_hash: hash, attempts, expired }) = row else {
        return Err(OtpError::InvalidOtp);
    };
    if expired || attempts >= max_attempts {
        return Err(OtpError::OtpExpired);
    }
    if !state.keys.otp_matches(user_type, &purpose.subject(phone), code, &hash) {
        sqlx::query("UPDATE otp_challenges SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("counting the wrong try")?;
        tx.commit().await.context("committing the wrong try")?;
        return Err(OtpError::InvalidOtp);
    }
    sqlx::query("UPDATE otp_challenges SET consumed_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("consuming the code")?;
    tx.commit().await.context("committing the code check")?;
    Ok(())
}

/// Six uniformly random digits from the operating system's CSPRNG.
fn random_code() -> anyhow::Result<String> {
    const LIMIT: u32 = 4_294_000_000; // the largest multiple of 10^6 below 2^32: no modulo bias
    let rng = SystemRandom::new();
    loop {
        let mut bytes = [0u8; 4];
        rng.fill(&mut bytes).map_err(|_| anyhow::anyhow!("the system random source failed")).context("OTP code")?;
        let n = u32::from_be_bytes(bytes);
        if n < LIMIT {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// The limiter key of a phone's hourly cap (shared by every app and purpose).
fn phone_hour_key(phone: &str) -> String {
    format!("otp:phone-hour:{phone}")
}

/// Every limiter key the number is part of (an erased phone forgets them all).
fn phone_keys(user_type: UserType, phone: &str) -> Vec<String> {
    let mut keys: Vec<String> = Purpose::ALL.iter().map(|p| p.cooldown_key(user_type, phone)).collect();
    keys.push(phone_hour_key(phone));
    keys
}

/// Forgets the deleted account's phone in the caller's transaction: its codes for that
/// app, its send log, and the limiter counters keyed by it. The counters it held were
/// the account owner's own number's; the per-address limits still stand.
pub async fn erase_phone(conn: &mut sqlx::PgConnection, user_type: UserType, phone: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM otp_challenges WHERE user_type = $1 AND phone = $2")
        .bind(user_type.as_str())
        .bind(phone)
        .execute(&mut *conn)
        .await
        .context("erasing the phone's codes")?;
    daily::erase(&mut *conn, phone).await.context("erasing the phone's send log")?;
    ratelimit::forget(&mut *conn, &phone_keys(user_type, phone)).await.context("erasing the phone's counters")?;
    Ok(())
}

/// Deletes codes a day past their expiry (long unusable: a day keeps `otp_expired`
/// answers for recent ones), a batch at a time; returns how many.
pub async fn purge_expired(db: &sqlx::PgPool) -> anyhow::Result<u64> {
    crate::db::delete_in_batches(
        db,
        "DELETE FROM otp_challenges WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM otp_challenges WHERE expires_at < now() - interval '1 day' LIMIT $1))",
    )
    .await
}

/// Deletes sends older than the daily cap's 24 hours, a batch at a time.
pub async fn purge_sends(db: &sqlx::PgPool) -> anyhow::Result<u64> {
    daily::purge(db).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let code = super::random_code().expect("code");
            assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
    }
}
