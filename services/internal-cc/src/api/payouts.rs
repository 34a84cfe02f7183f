//! Payouts as staff see them (§12): every payout with its callbacks, and the holds admins
//! put on a mitra's payouts.

use halo_shared::audit::StaffActor;
use halo_shared::auth::scheme::{AdminAuth, StaffAuth};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::pagination::Page;
use halo_shared::payouts::views::{PayoutView, StaffPayoutView};
use halo_shared::payouts::{holds, PayoutStatus, Payouts};
use halo_shared::AppState;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::users::{mitra_detail, MitraDetail};
use super::Tag;

#[derive(Default)]
pub struct PayoutsApi;

#[derive(Debug, Object)]
pub struct StaffPayoutPage {
    pub items: Vec<StaffPayoutView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum PayoutsResponse {
    #[oai(status = 200)]
    Ok(Json<StaffPayoutPage>),
}

#[derive(ApiResponse)]
pub enum PayoutResponse {
    #[oai(status = 200)]
    Ok(Json<StaffPayoutView>),
}

#[derive(Debug, Object)]
pub struct PayoutHoldRequest {
    /// Why (1–1000 characters); kept with the hold and in the audit log.
    #[oai(validator(max_length = 1000))]
    pub reason: JsonString,
}

#[derive(ApiResponse)]
pub enum HoldResponse {
    /// The mitra, with `payout_hold`.
    #[oai(status = 200)]
    Ok(Json<MitraDetail>),
}

#[derive(ApiResponse)]
pub enum LiftResponse {
    /// The hold is gone (or there was none).
    #[oai(status = 204)]
    Lifted,
}

#[OpenApi(tag = "Tag::Orders")]
impl PayoutsApi {
    /// Lists payouts, newest first.
    ///
    /// Filtered by `status` and `mitra_id`; paged with `cursor` (`events` are empty in
    /// the list: read one payout for its callbacks).
    #[oai(path = "/internal/payouts", method = "get", operation_id = "ccPayoutsList")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        status: Query<Option<PayoutStatus>>,
        mitra_id: Query<Option<Uuid>>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<PayoutsResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let (rows, next_cursor) = Payouts::of(&state).list(mitra_id.0, status.0, page).await?;
        let items = rows
            .iter()
            .map(|p| StaffPayoutView { payout: PayoutView::from(p), mitra_id: p.mitra_id, events: Vec::new() })
            .collect();
        Ok(PayoutsResponse::Ok(Json(StaffPayoutPage { items, next_cursor })))
    }

    /// One payout, with every callback Xendit sent for it as it came.
    #[oai(path = "/internal/payouts/:id", method = "get", operation_id = "ccPayoutsGet")]
    async fn get(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        id: Path<Uuid>,
    ) -> Result<PayoutResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        Ok(PayoutResponse::Ok(Json(Payouts::of(&state).staff_view(id.0).await?)))
    }

    /// Puts a hold on a mitra's payouts (admins; audited).
    ///
    /// Nothing is paid to the mitra while it stands; a payout already on its way is not
    /// recalled. Putting it again replaces the reason.
    #[oai(path = "/internal/mitras/:id/payout-hold", method = "put", operation_id = "ccMitrasPayoutHoldPut")]
    async fn put_hold(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: AdminAuth,
        id: Path<Uuid>,
        body: JsonBody<PayoutHoldRequest>,
    ) -> Result<HoldResponse, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        let actor = StaffActor::new(auth.0.sub, &client_info_of(req));
        holds::put(&state.db, &actor, id.0, &body.reason).await?;
        Ok(HoldResponse::Ok(Json(mitra_detail(&state, id.0).await?)))
    }

    /// Lifts a mitra's payout hold (admins; audited).
    #[oai(path = "/internal/mitras/:id/payout-hold", method = "delete", operation_id = "ccMitrasPayoutHoldDelete")]
    async fn lift_hold(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: AdminAuth,
        id: Path<Uuid>,
    ) -> Result<LiftResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let actor = StaffActor::new(auth.0.sub, &client_info_of(req));
        holds::lift(&state.db, &actor, id.0).await?;
        Ok(LiftResponse::Lifted)
    }
}
