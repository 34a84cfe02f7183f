use halo_shared::auth::otp;
use halo_shared::auth::public::Public;
use halo_shared::auth::scheme::OptionalCustomer;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::phone::Phone;
use halo_shared::tokens::UserType;
use halo_shared::{ApiError, AppState};
use poem::web::Data;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::schemas::TokenPairResponse;
use super::Tag;

/// Sending a code: bad phone (400), cooldown and caps (429), SMS gateway down (503).
type RequestErrors = ApiErrors<{ WITH_BODY | E429 }>;
/// Verifying a code: bad code (401), a bearer of the wrong kind or a disabled account (403).
type VerifyErrors = ApiErrors<{ WITH_BODY | BEARER | E429 }>;

#[derive(Default)]
pub struct OtpApi;

#[derive(Debug, Object)]
pub struct OtpRequest {
    /// Mobile number; Indonesian local forms (`0812…`, `62812…`, `+62 812…`) are accepted.
    #[oai(validator(max_length = 32))]
    pub phone: JsonString,
}

#[derive(Debug, Object)]
pub struct OtpVerify {
    #[oai(validator(max_length = 32))]
    pub phone: JsonString,
    /// The six digits from the SMS.
    #[oai(validator(pattern = r"^[0-9]{6}$"))]
    pub code: JsonString,
}

/// A code is on its way.
#[derive(Debug, Object)]
pub struct OtpSent {
    /// Seconds the code stays valid.
    pub expires_in: u32,
    /// Seconds before another code may be requested for this number.
    pub resend_after: u32,
}

#[derive(ApiResponse)]
pub enum OtpSentResponse {
    /// The code was sent by SMS.
    #[oai(status = 202)]
    Accepted(Json<OtpSent>),
}

fn phone(input: &str) -> Result<Phone, ApiError> {
    Phone::parse(input).map_err(|e| ApiError::invalid_request(e.to_string()))
}

async fn request(
    state: &AppState,
    req: &Request,
    user_type: UserType,
    body: &OtpRequest,
) -> Result<OtpSentResponse, RequestErrors> {
    let sent = otp::request(state, user_type, &phone(&body.phone)?, &client_info_of(req)).await?;
    Ok(OtpSentResponse::Accepted(Json(OtpSent { expires_in: sent.expires_in, resend_after: sent.resend_after })))
}

#[OpenApi(tag = "Tag::Auth")]
impl OtpApi {
    /// Customer phone sign-in, step 1 (public): sends a 6-digit code by SMS.
    ///
    /// 429 `rate_limited` during the resend cooldown and past the hourly, daily and
    /// per-IP caps.
    #[oai(path = "/api/client/auth/otp/request", method = "post", operation_id = "otpRequestCustomer")]
    async fn client_request(
        &self,
        _public: Public,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<OtpRequest>,
    ) -> Result<OtpSentResponse, RequestErrors> {
        request(&state, req, UserType::Customer, &body).await
    }

    /// Customer phone sign-in, step 2: verifies the code and returns a token pair.
    ///
    /// Public, or with an anonymous customer's bearer. With an anonymous customer's
    /// token, a new phone upgrades that customer (same id); a phone that already belongs
    /// to a customer signs that customer in and merges the anonymous one into it.
    /// 401 `invalid_otp` for a wrong or used code, `otp_expired` when it expired or ran
    /// out of attempts.
    #[oai(path = "/api/client/auth/otp/verify", method = "post", operation_id = "otpVerifyCustomer")]
    async fn client_verify(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: OptionalCustomer,
        body: JsonBody<OtpVerify>,
    ) -> Result<TokenPairResponse, VerifyErrors> {
        let phone = phone(&body.phone)?;
        let issued =
            otp::verify(&state, UserType::Customer, &phone, &body.code, auth.0.as_ref(), &client_info_of(req)).await?;
        Ok(issued.into())
    }

    /// Mitra phone sign-in, step 1 (public): sends a 6-digit code by SMS.
    ///
    /// The same cooldown and caps as the customer's (429 `rate_limited`).
    #[oai(path = "/api/mitra/auth/otp/request", method = "post", operation_id = "otpRequestMitra")]
    async fn mitra_request(
        &self,
        _public: Public,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<OtpRequest>,
    ) -> Result<OtpSentResponse, RequestErrors> {
        request(&state, req, UserType::Mitra, &body).await
    }

    /// Mitra phone sign-in, step 2 (public): verifies the code and returns a token pair.
    ///
    /// Creates the mitra account on first sign-in.
    #[oai(path = "/api/mitra/auth/otp/verify", method = "post", operation_id = "otpVerifyMitra")]
    async fn mitra_verify(
        &self,
        _public: Public,
        state: Data<&AppState>,
        req: &Request,
        body: JsonBody<OtpVerify>,
    ) -> Result<TokenPairResponse, VerifyErrors> {
        let phone = phone(&body.phone)?;
        let issued = otp::verify(&state, UserType::Mitra, &phone, &body.code, None, &client_info_of(req)).await?;
        Ok(issued.into())
    }
}
