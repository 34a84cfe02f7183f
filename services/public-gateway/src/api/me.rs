use chrono::{DateTime, Utc};
use halo_shared::auth::scheme::{CustomerAuth, MitraAuth};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::users::{customers, mitras};
use halo_shared::{ApiError, AppState, ErrorCode};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct MeApi;

/// The signed-in customer.
#[derive(Debug, Object)]
pub struct CustomerProfile {
    pub id: Uuid,
    /// True until the customer verifies a phone or links Google/Apple.
    pub is_anonymous: bool,
    /// E.164, e.g. `+6281234567890`.
    #[oai(nullable)]
    pub phone: Option<String>,
    #[oai(nullable)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The signed-in mitra.
#[derive(Debug, Object)]
pub struct MitraProfile {
    pub id: Uuid,
    /// E.164, e.g. `+6281234567890`.
    pub phone: String,
    #[oai(nullable)]
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum CustomerResponse {
    /// The profile.
    #[oai(status = 200)]
    Ok(Json<CustomerProfile>),
}

#[derive(ApiResponse)]
pub enum MitraResponse {
    /// The profile.
    #[oai(status = 200)]
    Ok(Json<MitraProfile>),
}

fn gone() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "this account no longer exists")
}

#[OpenApi]
impl MeApi {
    /// The signed-in customer's profile.
    ///
    /// 404 `not_found` if the account was merged away.
    #[oai(path = "/api/client/me", method = "get", tag = "Tag::Client", operation_id = "customerMeGet")]
    async fn client_me(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
    ) -> Result<CustomerResponse, ApiErrors<{ EDGE | BEARER | E404 }>> {
        let c =
            customers::get(&state.db, auth.0.sub).await.map_err(|e| ApiError::internal(&e.into()))?.ok_or_else(gone)?;
        Ok(CustomerResponse::Ok(Json(CustomerProfile {
            id: c.id,
            is_anonymous: c.is_anonymous,
            phone: c.phone,
            email: c.email,
            display_name: c.display_name,
            created_at: c.created_at,
        })))
    }

    /// The signed-in mitra's profile.
    ///
    /// 404 `not_found` if the account no longer exists.
    #[oai(path = "/api/mitra/me", method = "get", tag = "Tag::Mitra", operation_id = "mitraMeGet")]
    async fn mitra_me(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
    ) -> Result<MitraResponse, ApiErrors<{ EDGE | BEARER | E404 }>> {
        let m =
            mitras::get(&state.db, auth.0.sub).await.map_err(|e| ApiError::internal(&e.into()))?.ok_or_else(gone)?;
        Ok(MitraResponse::Ok(Json(MitraProfile {
            id: m.id,
            phone: m.phone,
            display_name: m.display_name,
            created_at: m.created_at,
        })))
    }
}
