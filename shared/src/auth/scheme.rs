//! Request authentication for poem-openapi. Every guard verifies the bearer token's
//! signature and claims only (no database query) and then checks the user type; they
//! share one name in the spec (`bearerAuth`). A route without one of these guards is
//! public, and each service lists its public operations explicitly (a test holds the
//! spec to that list).

use poem::{Request, RequestBody};
use poem_openapi::auth::Bearer;
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};

use super::tokens::{Claims, TokenError, UserType};
use super::AuthError;
use crate::state::AppState;

/// Verifies `token` and admits only the `allowed` user types.
pub fn authenticate(state: &AppState, token: &str, allowed: &[UserType]) -> Result<Claims, AuthError> {
    let now = chrono::Utc::now().timestamp();
    let claims = state.keys.verify(token, now).map_err(|e| match e {
        TokenError::Expired => AuthError::TokenExpired,
        TokenError::Invalid => AuthError::InvalidToken,
    })?;
    admit(state, claims, allowed)
}

/// The checks after the signature: the session is not revoked, the user type fits.
pub fn admit(state: &AppState, claims: Claims, allowed: &[UserType]) -> Result<Claims, AuthError> {
    let now = chrono::Utc::now().timestamp();
    // Revocations reach every instance through the realtime listener: still no query.
    if state.realtime.revoked.contains(claims.session_id, now) {
        return Err(AuthError::SessionRevoked);
    }
    if !allowed.contains(&claims.user_type) {
        return Err(AuthError::Forbidden);
    }
    Ok(claims)
}

/// The token of an `Authorization: Bearer …` header, if the request has one.
pub fn bearer_token(req: &Request) -> Option<&str> {
    let value = req.headers().get(poem::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

fn check(req: &Request, bearer: &Bearer, allowed: &[UserType]) -> poem::Result<Claims> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| AuthError::Unexpected(anyhow::anyhow!("AppState is not attached to the routes")))?;
    Ok(authenticate(state, &bearer.token, allowed)?)
}

/// A customer (client app).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", rename = "bearerAuth", checker = "customer_checker")]
pub struct CustomerAuth(pub Claims);

async fn customer_checker(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    check(req, &bearer, &[UserType::Customer])
}

/// A mitra (mitra app).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", rename = "bearerAuth", checker = "mitra_checker")]
pub struct MitraAuth(pub Claims);

async fn mitra_checker(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    check(req, &bearer, &[UserType::Mitra])
}

/// A user of either mobile app (customer or mitra).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", rename = "bearerAuth", checker = "app_user_checker")]
pub struct AppUserAuth(pub Claims);

async fn app_user_checker(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    check(req, &bearer, &[UserType::Customer, UserType::Mitra])
}

/// A control-center user (staff).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", rename = "bearerAuth", checker = "staff_checker")]
pub struct StaffAuth(pub Claims);

async fn staff_checker(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    check(req, &bearer, &[UserType::CcUser])
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
