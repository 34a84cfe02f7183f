//! Request authentication for poem-openapi. Every guard verifies the bearer token's
//! signature and claims, checks the in-memory revoked set (no database query while the
//! realtime listener is current; see [`admit`]) and then the user type; they
//! share one name in the spec (`bearerAuth`). A route without one of these guards is
//! public, and each service lists its public operations explicitly (a test holds the
//! spec to that list).

use std::time::Duration;

use poem::{Request, RequestBody};
use poem_openapi::auth::Bearer;
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};

use super::AuthError;
use crate::http::ClientInfo;
use crate::realtime::hub::{CapExceeded, Connection};
use crate::state::AppState;
use crate::tokens::{Claims, TokenError, UserType};

/// Verifies `token` and admits only the `allowed` user types.
pub async fn authenticate(state: &AppState, token: &str, allowed: &[UserType]) -> Result<Claims, AuthError> {
    let now = chrono::Utc::now().timestamp();
    let claims = state.keys.verify(token, now).map_err(|e| match e {
        TokenError::Expired => AuthError::TokenExpired,
        TokenError::Invalid => AuthError::InvalidToken,
    })?;
    admit(state, claims, allowed).await
}

/// How long a request waits for a new instance's first load of the revoked sessions.
const FIRST_LOAD_WAIT: Duration = Duration::from_secs(2);

/// The checks after the signature: the session is not revoked, the user type fits.
///
/// Revocations reach every instance through the realtime listener, so normally this is
/// no query. When the revoked set cannot be trusted (a new instance before its first
/// load, or the listener disconnected for more than a few seconds) it asks the database
/// about this session ([`fallback_check`]).
pub async fn admit(state: &AppState, claims: Claims, allowed: &[UserType]) -> Result<Claims, AuthError> {
    let realtime = &state.realtime;
    let now = chrono::Utc::now();
    if realtime.revoked.contains(claims.session_id, now.timestamp()) {
        return Err(AuthError::SessionRevoked);
    }
    if !allowed.contains(&claims.user_type) {
        return Err(AuthError::Forbidden);
    }
    let now_ms = || chrono::Utc::now().timestamp_millis();
    if !realtime.revocations_current(now.timestamp_millis()) {
        let loaded_now = !realtime.is_loaded() && realtime.wait_loaded(FIRST_LOAD_WAIT).await;
        if !(loaded_now && realtime.revocations_current(now_ms())) {
            fallback_check(state, claims.session_id).await?;
        }
        if realtime.revoked.contains(claims.session_id, chrono::Utc::now().timestamp()) {
            return Err(AuthError::SessionRevoked);
        }
    }
    Ok(claims)
}

/// How long a fallback check may wait for the database while the revoked set is still
/// trusted; a slower answer counts as "out of reach".
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// After a fallback check found the database out of reach, requests within this long
/// trust the revoked set without asking again (so an outage costs one wait per second,
/// not one per request, and a recovery is noticed within a second).
const PROBE_EVERY_MS: i64 = 500;

/// The database's word on a session, for when the listener is not current.
///
/// If the database cannot be reached at all, no revocation can be committed either
/// (every one is a row update), except by instances that still reach it while this one
/// is cut off. So for `REVOCATION_STALE_TRUST_SECONDS` after the revoked set was last in
/// sync, an unreachable database means: trust the set as last synced. After that bound,
/// or before the first load, it fails closed (503 `unavailable` with `Retry-After`). The
/// trade-off is written up in docs/sessions.md.
async fn fallback_check(state: &AppState, session_id: uuid::Uuid) -> Result<(), AuthError> {
    let realtime = &state.realtime;
    let trust_ms = i64::try_from(state.settings().revocation_stale_trust.as_millis()).unwrap_or(i64::MAX);
    let now_ms = || chrono::Utc::now().timestamp_millis();
    let trusted = || realtime.since_last_sync_ms(now_ms()).is_some_and(|ago| ago <= trust_ms);
    if trusted() && realtime.db_recently_unreachable(now_ms(), PROBE_EVERY_MS) {
        return Ok(());
    }
    let checked = match trusted() {
        true => tokio::time::timeout(PROBE_TIMEOUT, session_is_live(state, session_id))
            .await
            .unwrap_or(Err(AuthError::RevocationsUnavailable)),
        false => session_is_live(state, session_id).await,
    };
    match checked {
        Err(AuthError::RevocationsUnavailable) => {
            realtime.mark_db_unreachable(now_ms());
            match trusted() {
                true => Ok(()),
                false => Err(AuthError::RevocationsUnavailable),
            }
        }
        other => {
            realtime.mark_db_reachable();
            other
        }
    }
}

/// The database's word on a session. A session with no row is refused too.
async fn session_is_live(state: &AppState, session_id: uuid::Uuid) -> Result<(), AuthError> {
    let revoked = crate::sessions::rows::is_revoked(&state.db, session_id).await.map_err(|err| {
        tracing::warn!(error = %err, "checking a session while revocations are not current failed");
        AuthError::RevocationsUnavailable
    })?;
    match revoked {
        Some(false) => Ok(()),
        _ => Err(AuthError::SessionRevoked),
    }
}

/// The token of an `Authorization: Bearer …` header, if the request has one.
pub fn bearer_token(req: &Request) -> Option<&str> {
    let value = req.headers().get(poem::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

async fn check(req: &Request, bearer: &Bearer, allowed: &[UserType]) -> poem::Result<Claims> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| AuthError::Unexpected(anyhow::anyhow!("AppState is not attached to the routes")))?;
    Ok(authenticate(state, &bearer.token, allowed).await?)
}

/// A customer (client app).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", rename = "bearerAuth", checker = "customer_checker")]
pub struct CustomerAuth(pub Claims);

async fn customer_checker(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    check(req, &bearer, &[UserType::Customer]).await
}

/// A mitra (mitra app).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", rename = "bearerAuth", checker = "mitra_checker")]
pub struct MitraAuth(pub Claims);

async fn mitra_checker(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    check(req, &bearer, &[UserType::Mitra]).await
}

/// A user of either mobile app (customer or mitra).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", rename = "bearerAuth", checker = "app_user_checker")]
pub struct AppUserAuth(pub Claims);

async fn app_user_checker(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    check(req, &bearer, &[UserType::Customer, UserType::Mitra]).await
}

/// A control-center user (staff).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", rename = "bearerAuth", checker = "staff_checker")]
pub struct StaffAuth(pub Claims);

async fn staff_checker(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    check(req, &bearer, &[UserType::Staff]).await
}

/// A control-center admin: a staff token whose `role` claim is `admin` (403 otherwise).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", rename = "bearerAuth", checker = "admin_checker")]
pub struct AdminAuth(pub Claims);

async fn admin_checker(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    let claims = check(req, &bearer, &[UserType::Staff]).await?;
    if claims.role != Some(crate::tokens::Role::Admin) {
        return Err(AuthError::Forbidden.into());
    }
    Ok(claims)
}

/// A customer's bearer token when one is sent, nothing when the request has no
/// `Authorization` header. A header that is present but bad is still refused (401), so
/// an app with an expired token refreshes instead of silently signing in afresh.
pub struct OptionalCustomer(pub Option<Claims>);

impl<'a> ApiExtractor<'a> for OptionalCustomer {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        CustomerAuth::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        CustomerAuth::security_schemes()
    }

    /// Shown in the spec as "bearer token, or none".
    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if !req.headers().contains_key(poem::http::header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        let customer = CustomerAuth::from_request(req, body, param_opts).await?;
        Ok(Self(Some(customer.0)))
    }
}

/// What a refused socket is told to wait before trying again.
const CAP_RETRY_AFTER_SECS: u64 = 30;

/// Registers a socket for `claims` (authenticated already) within this instance's caps,
/// then re-checks the revoked set: a revocation that landed after the handshake's check
/// but before registration found no socket to close, so it must be caught here.
/// Registering before the upgrade lets a socket over a cap be refused with 429 JSON.
pub fn open_socket(state: &AppState, claims: &Claims, client: &ClientInfo) -> Result<Connection, AuthError> {
    let caps = state.gateway()?.settings.ws_caps;
    let connection = state
        .realtime
        .hub
        .register(claims.user_type, claims.sub, claims.session_id, client.rate_limit_key(), caps)
        .map_err(|cap| {
            let which = match cap {
                CapExceeded::Session => "session",
                CapExceeded::User => "user",
                CapExceeded::Ip => "address",
            };
            tracing::info!(cap = which, "WebSocket refused: too many open");
            AuthError::RateLimited { retry_after_secs: CAP_RETRY_AFTER_SECS }
        })?;
    if state.realtime.revoked.contains(claims.session_id, chrono::Utc::now().timestamp()) {
        return Err(AuthError::SessionRevoked);
    }
    Ok(connection)
}
