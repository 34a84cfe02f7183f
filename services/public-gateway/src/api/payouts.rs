//! The mitra's payouts (§12): the channels, the payout account behind a step-up code, and
//! the payouts made to it.

use halo_shared::auth::scheme::MitraAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::pagination::Page;
use halo_shared::payouts::accounts::NewAccount;
use halo_shared::payouts::views::{PayoutAccountView, PayoutChannelView, PayoutView};
use halo_shared::payouts::Payouts;
use halo_shared::AppState;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::otp::{OtpSent, OtpSentResponse};
use super::Tag;

#[derive(Default)]
pub struct PayoutsApi;

#[derive(Debug, Object)]
pub struct PayoutChannelList {
    pub items: Vec<PayoutChannelView>,
}

#[derive(ApiResponse)]
pub enum ChannelsResponse {
    #[oai(status = 200)]
    Ok(Json<PayoutChannelList>),
}

/// A new payout account (`PUT /api/mitra/payout-account`).
#[derive(Debug, Object)]
pub struct PayoutAccountRequest {
    /// One of `GET /api/mitra/payout-channels`.
    #[oai(validator(max_length = 64))]
    pub channel_code: JsonString,
    /// A bank account: digits only, 5–20. An e-wallet: the Indonesian mobile number it is
    /// registered to.
    #[oai(validator(max_length = 32))]
    pub account_number: JsonString,
    /// As the bank has it, 2–100 characters.
    #[oai(validator(max_length = 200))]
    pub account_holder_name: JsonString,
    /// The code from `POST /api/mitra/payout-account/otp` (missing → 400; wrong, used or
    /// expired → 403).
    #[oai(validator(max_length = 16))]
    pub otp_code: Option<JsonString>,
}

#[derive(ApiResponse)]
pub enum AccountResponse {
    #[oai(status = 200)]
    Ok(Json<PayoutAccountView>),
}

#[derive(Debug, Object)]
pub struct PayoutPage {
    pub items: Vec<PayoutView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum PayoutsResponse {
    #[oai(status = 200)]
    Ok(Json<PayoutPage>),
}

#[derive(ApiResponse)]
pub enum PayoutResponse {
    #[oai(status = 200)]
    Ok(Json<PayoutView>),
}

#[OpenApi(tag = "Tag::Mitra")]
impl PayoutsApi {
    /// The channels a payout account may use.
    ///
    /// Xendit's payout channels for IDR (banks and e-wallets), kept up to a day.
    #[oai(path = "/api/mitra/payout-channels", method = "get", operation_id = "mitraPayoutChannels")]
    async fn channels(
        &self,
        state: Data<&AppState>,
        _auth: MitraAuth,
    ) -> Result<ChannelsResponse, ApiErrors<{ EDGE | BEARER }>> {
        let items = Payouts::of(&state).channels().await?;
        Ok(ChannelsResponse::Ok(Json(PayoutChannelList { items })))
    }

    /// Sends the step-up code for changing the payout account.
    ///
    /// To the mitra's own phone, with the same stub line, cooldown and caps as sign-in
    /// codes (429 `rate_limited`). The code only changes the payout account.
    #[oai(path = "/api/mitra/payout-account/otp", method = "post", operation_id = "mitraPayoutAccountOtp")]
    async fn otp(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: MitraAuth,
    ) -> Result<OtpSentResponse, ApiErrors<{ EDGE | BEARER | E404 | E429 }>> {
        let sent = Payouts::of(&state).request_account_code(&state, auth.0.sub, &client_info_of(req)).await?;
        Ok(OtpSentResponse::Accepted(Json(OtpSent { expires_in: sent.expires_in, resend_after: sent.resend_after })))
    }

    /// Sets or changes the payout account.
    ///
    /// Needs a fresh step-up code (`otp_code`): missing → 400; wrong or used → 403
    /// `invalid_otp`; expired → 403 `otp_expired`. An unknown channel, a malformed number
    /// or a name outside 2–100 characters → 400. Every change restarts the cooldown
    /// (`payouts_allowed_from`), makes an `invalid` account `active` again, and reaches
    /// the mitra as `payout_account.changed` and a push.
    #[oai(path = "/api/mitra/payout-account", method = "put", operation_id = "mitraPayoutAccountPut")]
    async fn put_account(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        body: JsonBody<PayoutAccountRequest>,
    ) -> Result<AccountResponse, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        let new = NewAccount {
            channel_code: &body.channel_code,
            account_number: &body.account_number,
            account_holder_name: &body.account_holder_name,
            otp_code: body.otp_code.as_deref().map(String::as_str),
        };
        let account = Payouts::of(&state).set_account(&state, auth.0.sub, &new).await?;
        Ok(AccountResponse::Ok(Json((&account).into())))
    }

    /// The payout account (masked); 404 when none is set.
    #[oai(path = "/api/mitra/payout-account", method = "get", operation_id = "mitraPayoutAccountGet")]
    async fn get_account(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
    ) -> Result<AccountResponse, ApiErrors<{ EDGE | BEARER | E404 }>> {
        let account = Payouts::of(&state).account(auth.0.sub).await?;
        Ok(AccountResponse::Ok(Json((&account).into())))
    }

    /// The mitra's payouts, newest first.
    ///
    /// Paged with `cursor`; 1–100 per page (`limit`, default 20).
    #[oai(path = "/api/mitra/payouts", method = "get", operation_id = "mitraPayouts")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<PayoutsResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let (rows, next_cursor) = Payouts::of(&state).list(Some(auth.0.sub), None, page).await?;
        let items = rows.iter().map(PayoutView::from).collect();
        Ok(PayoutsResponse::Ok(Json(PayoutPage { items, next_cursor })))
    }

    /// One of the mitra's payouts; another mitra's → 404.
    #[oai(path = "/api/mitra/payouts/:id", method = "get", operation_id = "mitraPayout")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
    ) -> Result<PayoutResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let payout = Payouts::of(&state).get(id.0, Some(auth.0.sub)).await?;
        Ok(PayoutResponse::Ok(Json((&payout).into())))
    }
}
