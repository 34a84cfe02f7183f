//! The customer's view of the marketplace.

use halo_shared::auth::scheme::CustomerAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::marketplace::areas;
use halo_shared::marketplace::browse::{self, ListedMitra};
use halo_shared::marketplace::reviews::{self, Rating};
use halo_shared::marketplace::{MarketError, Side};
use halo_shared::pagination::Page;
use halo_shared::{ApiError, AppState, ErrorCode};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::marketplace::Service;
use super::Tag;

#[derive(Default)]
pub struct BrowseApi;

/// A mitra as customers see it, with its active services.
#[derive(Debug, Object)]
pub struct MitraListing {
    pub id: Uuid,
    #[oai(nullable)]
    pub display_name: Option<String>,
    pub bio: String,
    pub is_online: bool,
    pub services: Vec<Service>,
    /// With `near` only: km from the point to the centre of the mitra's service area
    /// (snapped to about 1 km), one decimal.
    #[oai(skip_serializing_if_is_none)]
    pub distance_km: Option<f64>,
    // Over the mitra's published, unhidden reviews by customers (see `Rating`).
    pub rating: Rating,
}

impl MitraListing {
    fn new(m: ListedMitra, rating: Rating) -> Self {
        Self {
            id: m.id,
            display_name: m.display_name,
            bio: m.bio,
            is_online: m.is_online,
            services: m.services.into_iter().map(Service::from).collect(),
            distance_km: m.distance_km,
            rating,
        }
    }
}

/// The listings of `mitra` with their ratings (one query for the page).
async fn with_ratings(state: &AppState, mitra: Vec<ListedMitra>) -> Result<Vec<MitraListing>, MarketError> {
    let ids: Vec<Uuid> = mitra.iter().map(|m| m.id).collect();
    let window = state.settings().chat.review_window_days;
    let ratings = reviews::ratings(&state.db, Side::Mitra, &ids, window).await?;
    Ok(mitra
        .into_iter()
        .map(|m| {
            let rating = ratings.iter().find(|(id, _)| *id == m.id).map_or(Rating::NONE, |(_, r)| *r);
            MitraListing::new(m, rating)
        })
        .collect())
}

/// One page of mitra.
#[derive(Debug, Object)]
pub struct MitraPage {
    pub items: Vec<MitraListing>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum MitraPageResponse {
    #[oai(status = 200)]
    Ok(Json<MitraPage>),
}

#[derive(ApiResponse)]
pub enum MitraListingResponse {
    #[oai(status = 200)]
    Ok(Json<MitraListing>),
}

#[OpenApi(tag = "Tag::Client")]
impl BrowseApi {
    /// Mitra customers can order from.
    ///
    /// Approved, not suspended, with at least one active service; in a stable order, so
    /// paging with `cursor` never skips or repeats one while others join or leave. With
    /// `near=LAT,LNG`: only mitra whose service area covers the point, nearest first (by
    /// `distance_km`, then id), each with `distance_km`; its cursor works only with the
    /// same `near` (400 otherwise).
    #[oai(path = "/api/client/mitras", method = "get", operation_id = "mitrasList")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: CustomerAuth,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only online (true) or offline (false) mitra.
        online: Query<Option<bool>>,
        /// `LAT,LNG` in degrees: only mitra serving there, nearest first.
        near: Query<Option<String>>,
    ) -> Result<MitraPageResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        if let Some(near) = near.0.as_deref() {
            let point = areas::parse_near(near)?;
            let page = Page::parse(limit.0, None)?;
            let after = cursor.0.as_deref().filter(|c| !c.is_empty());
            let after = after.map(|c| browse::NearCursor::decode(c, point.0, point.1)).transpose()?;
            let (items, next_cursor) =
                browse::near_page(&state.db, point, page.limit, after, online.0).await.map_err(MarketError::from)?;
            let items = with_ratings(&state, items).await?;
            return Ok(MitraPageResponse::Ok(Json(MitraPage { items, next_cursor })));
        }
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let (items, next_cursor) = browse::page(&state.db, page, online.0).await.map_err(MarketError::from)?;
        let items = with_ratings(&state, items).await?;
        Ok(MitraPageResponse::Ok(Json(MitraPage { items, next_cursor })))
    }

    /// One mitra customers can order from; 404 when it is not listed.
    ///
    /// With the mitra's active services; 404 for a mitra not shown to customers.
    #[oai(path = "/api/client/mitras/:id", method = "get", operation_id = "mitrasGet")]
    async fn one(
        &self,
        state: Data<&AppState>,
        _auth: CustomerAuth,
        id: Path<Uuid>,
    ) -> Result<MitraListingResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let mitra = browse::one(&state.db, id.0)
            .await
            .map_err(MarketError::from)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such mitra"))?;
        let listing = with_ratings(&state, vec![mitra])
            .await?
            .pop()
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such mitra"))?;
        Ok(MitraListingResponse::Ok(Json(listing)))
    }
}
