//! Booking (contract §13): the mitra's schedule and service area, and the free slots
//! customers pick a start from.

use chrono::NaiveDate;
use halo_shared::auth::scheme::{CustomerAuth, MitraAuth};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::json::JsonBody;
use halo_shared::marketplace::areas::{self, ServiceArea};
use halo_shared::marketplace::schedule::{self, Schedule, Slot, WeeklyHours};
use halo_shared::marketplace::MarketError;
use halo_shared::{ApiError, AppState, ErrorCode};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct MitraBookingApi;

#[derive(Default)]
pub struct ClientBookingApi;

/// A mitra's bookable hours, replacing the previous ones.
#[derive(Debug, Object)]
pub struct ScheduleInput {
    /// Up to 4 intervals per day; times `HH:MM` on the `SLOT_STEP_MINUTES` grid, `end`
    /// after `start` (`24:00` for midnight); touching intervals merge, overlapping ones
    /// are refused.
    pub weekly: Vec<WeeklyHours>,
    /// Up to 100 local dates (`YYYY-MM-DD`) with no slots.
    #[oai(default)]
    pub closed_dates: Vec<String>,
}

/// The free starts of one service on one local date.
#[derive(Debug, Object)]
pub struct SlotList {
    /// The local date asked for (`YYYY-MM-DD`, Asia/Jakarta).
    pub date: NaiveDate,
    /// Oldest first.
    pub slots: Vec<Slot>,
}

#[derive(ApiResponse)]
pub enum ScheduleResponse {
    #[oai(status = 200)]
    Ok(Json<Schedule>),
}

#[derive(ApiResponse)]
pub enum AreaResponse {
    #[oai(status = 200)]
    Ok(Json<ServiceArea>),
}

#[derive(ApiResponse)]
pub enum AreaDeleted {
    /// The area is gone (also when there was none).
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
pub enum SlotsResponse {
    #[oai(status = 200)]
    Ok(Json<SlotList>),
}

#[OpenApi(tag = "Tag::Mitra")]
impl MitraBookingApi {
    /// Sets the mitra's weekly hours and closed dates (Asia/Jakarta).
    ///
    /// Replaces the whole schedule; answers it normalised (merged, sorted) with
    /// `timezone`. Overlapping or inverted intervals, times off the slot grid, more than
    /// 4 intervals a day or more than 100 closed dates → 400.
    #[oai(path = "/api/mitra/schedule", method = "put", operation_id = "mitraScheduleSet")]
    async fn put_schedule(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        body: JsonBody<ScheduleInput>,
    ) -> Result<ScheduleResponse, ApiErrors<{ WITH_BODY | BEARER }>> {
        let step = state.settings().booking.slot_step_minutes;
        let schedule = schedule::put(&state.db, auth.0.sub, &body.weekly, &body.closed_dates, step).await?;
        Ok(ScheduleResponse::Ok(Json(schedule)))
    }

    /// The mitra's schedule (empty until set: nothing is bookable).
    #[oai(path = "/api/mitra/schedule", method = "get", operation_id = "mitraScheduleGet")]
    async fn get_schedule(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
    ) -> Result<ScheduleResponse, ApiErrors<{ EDGE | BEARER }>> {
        let schedule = schedule::get(&state.db, auth.0.sub).await.map_err(MarketError::from)?;
        Ok(ScheduleResponse::Ok(Json(schedule)))
    }

    /// Sets where the mitra serves: a point and a radius of 1–50 km.
    ///
    /// Orders then need the customer's address inside it, and the mitra appears in
    /// near-me browsing around it (customers never see the exact point).
    #[oai(path = "/api/mitra/service-area", method = "put", operation_id = "mitraServiceAreaSet")]
    async fn put_area(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        body: JsonBody<ServiceArea>,
    ) -> Result<AreaResponse, ApiErrors<{ WITH_BODY | BEARER }>> {
        Ok(AreaResponse::Ok(Json(areas::put(&state.db, auth.0.sub, &body).await?)))
    }

    /// Removes the mitra's service area (it then serves at its own place or online).
    #[oai(path = "/api/mitra/service-area", method = "delete", operation_id = "mitraServiceAreaDelete")]
    async fn delete_area(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
    ) -> Result<AreaDeleted, ApiErrors<{ EDGE | BEARER }>> {
        areas::delete(&state.db, auth.0.sub).await.map_err(MarketError::from)?;
        Ok(AreaDeleted::Deleted)
    }
}

#[OpenApi(tag = "Tag::Client")]
impl ClientBookingApi {
    /// The free starts of a mitra's service on one local date.
    ///
    /// Every start on the `SLOT_STEP_MINUTES` grid inside the mitra's hours where the whole
    /// service fits, overlapping no held or booked order, at least `BOOKING_LEAD_MINUTES`
    /// from now and at most `BOOKING_HORIZON_DAYS` local dates ahead; a past or too-far
    /// date gives no slots. 404 when the mitra is not listed or the service is not its
    /// active one.
    #[oai(path = "/api/client/mitras/:id/slots", method = "get", operation_id = "mitraSlots")]
    async fn slots(
        &self,
        state: Data<&AppState>,
        _auth: CustomerAuth,
        id: Path<Uuid>,
        /// An active service of this mitra.
        service_id: Query<Uuid>,
        /// `YYYY-MM-DD`, Asia/Jakarta.
        date: Query<String>,
    ) -> Result<SlotsResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let date = NaiveDate::parse_from_str(&date.0, "%Y-%m-%d")
            .ok()
            .filter(|_| date.0.len() == 10)
            .ok_or_else(|| ApiError::invalid_request("date must be YYYY-MM-DD"))?;
        let booking = state.settings().booking;
        let slots = schedule::slots(&state.db, id.0, service_id.0, date, &booking)
            .await
            .map_err(MarketError::from)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such mitra or service"))?;
        Ok(SlotsResponse::Ok(Json(SlotList { date, slots })))
    }
}
