//! The mitra's side of the marketplace: verification, availability and services.

use halo_shared::auth::scheme::MitraAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::marketplace;
use halo_shared::marketplace::orders::Currency;
use halo_shared::marketplace::services::{self, ServiceInput};
use halo_shared::marketplace::MarketError;
use halo_shared::pagination::Page;
use halo_shared::AppState;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::me::{MitraProfile, MitraResponse};
use super::Tag;

#[derive(Default)]
pub struct MitraMarketApi;

/// Whether the mitra takes orders now.
#[derive(Debug, Object)]
pub struct Availability {
    pub online: bool,
}

/// Something a mitra offers.
#[derive(Debug, Object)]
pub struct Service {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    /// Whole rupiah.
    pub price: i64,
    pub currency: Currency,
    pub duration_minutes: i32,
    /// Inactive services are not shown to customers and cannot be ordered.
    pub active: bool,
}

impl From<services::Service> for Service {
    fn from(s: services::Service) -> Self {
        Self {
            id: s.id,
            title: s.title,
            description: s.description,
            price: s.price,
            currency: Currency::Idr,
            duration_minutes: s.duration_minutes,
            active: s.active,
        }
    }
}

/// A new service.
#[derive(Debug, Object)]
pub struct ServiceCreate {
    /// 1–120 characters.
    pub title: JsonString,
    /// Up to 2000 characters.
    pub description: Option<JsonString>,
    /// Whole rupiah, 1,000–100,000,000.
    pub price: i64,
    /// 5–1440.
    pub duration_minutes: i32,
    /// Defaults to true.
    pub active: Option<bool>,
}

/// A service edit; fields left out stay as they are. Existing orders keep the title and
/// price they were made with.
#[derive(Debug, Object)]
pub struct ServiceUpdate {
    pub title: Option<JsonString>,
    pub description: Option<JsonString>,
    pub price: Option<i64>,
    pub duration_minutes: Option<i32>,
    pub active: Option<bool>,
}

/// One page of the mitra's services, oldest first.
#[derive(Debug, Object)]
pub struct ServiceList {
    pub items: Vec<Service>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum ServiceCreated {
    #[oai(status = 201)]
    Created(Json<Service>),
}

#[derive(ApiResponse)]
pub enum ServiceResponse {
    #[oai(status = 200)]
    Ok(Json<Service>),
}

#[derive(ApiResponse)]
pub enum ServiceListResponse {
    #[oai(status = 200)]
    Ok(Json<ServiceList>),
}

#[OpenApi(tag = "Tag::Mitra")]
impl MitraMarketApi {
    /// Submits the mitra for verification by staff.
    ///
    /// `unsubmitted` or `rejected` → `pending`. 409 `invalid_state` when already pending
    /// or approved; 400 without a display name.
    #[oai(path = "/api/mitra/verification", method = "post", operation_id = "mitraVerificationSubmit")]
    async fn submit(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
    ) -> Result<MitraResponse, ApiErrors<{ EDGE | E400 | BEARER | E404 | E409 }>> {
        let profile = marketplace::profile::submit_for_verification(&state.db, auth.0.sub).await?;
        Ok(MitraResponse::Ok(Json(MitraProfile::from(profile))))
    }

    /// Goes online or offline.
    ///
    /// Customers see `is_online` and can filter by it; answers the mitra profile.
    #[oai(path = "/api/mitra/availability", method = "put", operation_id = "mitraAvailabilitySet")]
    async fn availability(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        body: JsonBody<Availability>,
    ) -> Result<MitraResponse, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        let profile = marketplace::profile::set_online(&state.db, auth.0.sub, body.online).await?;
        Ok(MitraResponse::Ok(Json(MitraProfile::from(profile))))
    }

    /// Adds a service.
    ///
    /// Price in whole rupiah (1,000–100,000,000), duration 5–1440 minutes; 400 names the
    /// field out of range. At most 50 active services per mitra (409 `conflict` for one
    /// more); service writes are rate-limited per mitra (429 with `Retry-After`).
    #[oai(path = "/api/mitra/services", method = "post", operation_id = "mitraServicesCreate")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        body: JsonBody<ServiceCreate>,
    ) -> Result<ServiceCreated, ApiErrors<{ WITH_BODY | BEARER | E409 | E429 }>> {
        services::count_write(&state.db, auth.0.sub, write_limit(&state)?).await?;
        let input = ServiceInput {
            title: Some(&body.title),
            description: body.description.as_ref().map(|s| s.as_str()),
            price: Some(body.price),
            duration_minutes: Some(body.duration_minutes),
            active: body.active,
        };
        let service = services::create(&state.db, auth.0.sub, &input).await?;
        Ok(ServiceCreated::Created(Json(service.into())))
    }

    /// The mitra's own services, active or not.
    ///
    /// Oldest first, including deactivated ones; paged with `cursor`, 1–100 per page
    /// (`limit`, default 20).
    #[oai(path = "/api/mitra/services", method = "get", operation_id = "mitraServicesList")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<ServiceListResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let (items, next_cursor) = services::list_own(&state.db, auth.0.sub, page).await.map_err(MarketError::from)?;
        let items = items.into_iter().map(Service::from).collect();
        Ok(ServiceListResponse::Ok(Json(ServiceList { items, next_cursor })))
    }

    /// Edits or (with `active: false`) deactivates one of the mitra's services.
    ///
    /// 404 for another mitra's service; 409 `conflict` when reactivating one would pass 50
    /// active services; 429 when the mitra writes services too often. Changes of title,
    /// description and price are recorded for staff.
    #[oai(path = "/api/mitra/services/:id", method = "patch", operation_id = "mitraServicesUpdate")]
    async fn edit(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        id: Path<Uuid>,
        body: JsonBody<ServiceUpdate>,
    ) -> Result<ServiceResponse, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 | E429 }>> {
        services::count_write(&state.db, auth.0.sub, write_limit(&state)?).await?;
        let input = ServiceInput {
            title: body.title.as_ref().map(|s| s.as_str()),
            description: body.description.as_ref().map(|s| s.as_str()),
            price: body.price,
            duration_minutes: body.duration_minutes,
            active: body.active,
        };
        let service = services::edit(&state.db, auth.0.sub, id.0, &input).await?;
        Ok(ServiceResponse::Ok(Json(service.into())))
    }
}

/// `SERVICE_WRITES_PER_MITRA_PER_HOUR`.
fn write_limit(state: &AppState) -> anyhow::Result<u32> {
    Ok(state.gateway()?.settings.service_writes_per_mitra_per_hour)
}
