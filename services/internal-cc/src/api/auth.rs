use halo_shared::auth::issue::{Issued, REFRESH_TOKEN_TTL_SECS};
use halo_shared::auth::public::Public;
use halo_shared::auth::scheme::StaffAuth;
use halo_shared::auth::{staff as staff_auth, AuthError};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::http::token_response::{TokenType, NO_CACHE, NO_STORE};
use halo_shared::tokens::ACCESS_TOKEN_TTL_SECS;
use halo_shared::users::staff::{self, Role, Staff};
use halo_shared::{ApiError, AppState, ErrorCode};
use poem::web::Data;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::refresh_cookie::RefreshCookie;
pub use super::refresh_cookie::REFRESH_COOKIE;
use super::Tag;

#[derive(Default)]
pub struct StaffAuthApi;

#[derive(Debug, Object)]
pub struct LoginRequest {
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: JsonString,
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub password: JsonString,
}

/// A staff user.
#[derive(Debug, Object)]
pub struct StaffUser {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    #[oai(nullable)]
    pub display_name: Option<String>,
}

/// An access token for the control center. The refresh token travels only in the cookie.
#[derive(Debug, Object)]
pub struct StaffToken {
    /// JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    pub token_type: TokenType,
    /// Seconds until the access token expires: always 3600.
    pub expires_in: i64,
    pub user: StaffUser,
}

#[derive(ApiResponse)]
pub enum StaffTokenResponse {
    /// Signed in; `Set-Cookie` carries the (rotated) refresh token.
    #[oai(status = 200)]
    Ok(
        Json<StaffToken>,
        /// The `cc_refresh_token` cookie (HttpOnly).
        #[oai(header = "Set-Cookie")]
        String,
        /// Always `no-store`: the token must not be cached.
        #[oai(header = "Cache-Control")]
        String,
        /// Always `no-cache`.
        #[oai(header = "Pragma")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// The session is revoked and the refresh cookie cleared.
    #[oai(status = 204)]
    LoggedOut(#[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum MeResponse {
    /// The signed-in staff user.
    ///
    /// 404 `not_found` if the account no longer exists.
    #[oai(status = 200)]
    Ok(Json<StaffUser>),
}

impl From<Staff> for StaffUser {
    fn from(s: Staff) -> Self {
        Self { id: s.id, email: s.email, role: s.role, display_name: s.display_name }
    }
}

fn cookie(value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { " Secure;" } else { "" };
    format!("{REFRESH_COOKIE}={value}; HttpOnly;{secure} SameSite=Strict; Path=/internal/auth; Max-Age={max_age}")
}

fn signed_in(state: &AppState, issued: Issued, user: Staff) -> Result<StaffTokenResponse, ApiError> {
    let secure = state.control_center()?.settings.cookie_secure;
    let set_cookie = cookie(&issued.refresh_token, REFRESH_TOKEN_TTL_SECS, secure);
    let body = StaffToken {
        access_token: issued.access_token,
        token_type: TokenType::Bearer,
        expires_in: ACCESS_TOKEN_TTL_SECS,
        user: user.into(),
    };
    Ok(StaffTokenResponse::Ok(Json(body), set_cookie, NO_STORE.into(), NO_CACHE.into()))
}

/// The cookie-authenticated refresh accepts no cross-site request: when the browser
/// names an `Origin`, it must be one of the control center's.
fn same_site_or_allowed(req: &Request, state: &AppState) -> Result<(), ApiError> {
    let allowed = &state.control_center()?.settings.cc_allowed_origins;
    match req.headers().get("origin").map(|o| o.to_str().unwrap_or_default()) {
        Some(origin) if !allowed.iter().any(|a| a == origin) => {
            Err(ApiError::new(ErrorCode::Forbidden, "cross-site refresh refused"))
        }
        _ => Ok(()),
    }
}

#[OpenApi(tag = "Tag::Auth")]
impl StaffAuthApi {
    /// Staff login (public).
    ///
    /// Wrong email, wrong password and a disabled account get the same 401
    /// `invalid_credentials`; repeated failures per email or client IP get 429
    /// `rate_limited`.
    #[oai(path = "/internal/auth/login", method = "post", operation_id = "ccLogin")]
    async fn login(
        &self,
        _public: Public,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> Result<StaffTokenResponse, ApiErrors<{ WITH_BODY | E401 | E403 | E429 }>> {
        let (issued, user) = staff_auth::login(&state, &body.email, &body.password, &client_info_of(req)).await?;
        Ok(signed_in(&state, issued, user)?)
    }

    /// Refresh: rotates the refresh cookie and returns a new access token.
    ///
    /// Authenticated by the `cc_refresh_token` cookie alone (the browser sends it with
    /// `credentials: 'include'`). Same grace and reuse rules as the mobile refresh.
    /// Requests from an origin other than the control center's are refused (403); too
    /// many refreshes per session or client IP get 429 `rate_limited`.
    #[oai(path = "/internal/auth/refresh", method = "post", operation_id = "ccRefresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        req: &Request,
        token: RefreshCookie,
    ) -> Result<StaffTokenResponse, ApiErrors<{ WITH_PARAMS | E401 | E403 | E429 }>> {
        same_site_or_allowed(req, &state)?;
        let token = token.0.ok_or(AuthError::InvalidRefreshToken)?;
        let (issued, user) = staff_auth::refresh(&state, &token, &client_info_of(req)).await?;
        Ok(signed_in(&state, issued, user)?)
    }

    /// Logout: revokes the session and clears the refresh cookie.
    ///
    /// The session's refresh cookie stops working at once, on every tab.
    #[oai(path = "/internal/auth/logout", method = "post", operation_id = "ccLogout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
    ) -> Result<LogoutResponse, ApiErrors<{ EDGE | BEARER }>> {
        staff_auth::logout(&state, &auth.0, &client_info_of(req)).await?;
        Ok(LogoutResponse::LoggedOut(cookie("", 0, state.control_center()?.settings.cookie_secure)))
    }

    /// The signed-in staff user.
    ///
    /// 404 `not_found` if the account no longer exists.
    #[oai(path = "/internal/auth/me", method = "get", operation_id = "ccMe")]
    async fn me(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
    ) -> Result<MeResponse, ApiErrors<{ EDGE | BEARER | E404 }>> {
        let user = staff::get(&state.db, auth.0.sub)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "this account no longer exists"))?;
        Ok(MeResponse::Ok(Json(user.into())))
    }
}
