use chrono::{DateTime, Utc};
use halo_shared::accounts;
use halo_shared::auth::scheme::{CustomerAuth, MitraAuth};
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::users::mitras::{self, VerificationStatus};
use halo_shared::users::{customers, profile};
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
    /// Shown to customers; empty until the mitra writes one.
    pub bio: String,
    pub verification_status: VerificationStatus,
    /// Whether the mitra is taking orders now.
    pub is_online: bool,
    pub created_at: DateTime<Utc>,
}

/// A customer's profile edit.
#[derive(Debug, Object)]
pub struct CustomerProfileUpdate {
    /// 1–80 characters after trimming, no control characters.
    pub display_name: JsonString,
}

/// A mitra's profile edit; fields left out stay as they are.
#[derive(Debug, Object)]
pub struct MitraProfileUpdate {
    /// 1–80 characters after trimming, no control characters.
    pub display_name: Option<JsonString>,
    /// At most 1000 characters; empty clears it.
    pub bio: Option<JsonString>,
}

#[derive(ApiResponse)]
pub enum CustomerResponse {
    #[oai(status = 200)]
    Ok(Json<CustomerProfile>),
}

#[derive(ApiResponse)]
pub enum MitraResponse {
    #[oai(status = 200)]
    Ok(Json<MitraProfile>),
}

#[derive(ApiResponse)]
pub enum DeletedResponse {
    /// The account is deleted and every one of its sessions has ended.
    #[oai(status = 204)]
    Deleted,
}

fn gone() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "this account no longer exists")
}

impl From<customers::Customer> for CustomerProfile {
    fn from(c: customers::Customer) -> Self {
        Self {
            id: c.id,
            is_anonymous: c.is_anonymous,
            phone: c.phone,
            email: c.email,
            display_name: c.display_name,
            created_at: c.created_at,
        }
    }
}

impl From<mitras::MitraProfile> for MitraProfile {
    fn from(m: mitras::MitraProfile) -> Self {
        Self {
            id: m.id,
            phone: m.phone.unwrap_or_default(),
            display_name: m.display_name,
            bio: m.bio,
            verification_status: m.verification_status,
            is_online: m.is_online,
            created_at: m.created_at,
        }
    }
}

async fn customer(state: &AppState, id: Uuid) -> Result<CustomerResponse, ApiError> {
    let c = customers::get(&state.db, id).await?.ok_or_else(gone)?;
    Ok(CustomerResponse::Ok(Json(c.into())))
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
        Ok(customer(&state, auth.0.sub).await?)
    }

    /// Changes the signed-in customer's display name.
    ///
    /// 1–80 characters after trimming, no control characters (else 400).
    #[oai(path = "/api/client/me", method = "patch", operation_id = "customerMeUpdate", tag = "Tag::Client")]
    async fn client_me_update(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
        body: JsonBody<CustomerProfileUpdate>,
    ) -> Result<CustomerResponse, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        profile::rename_customer(&state.db, auth.0.sub, &body.display_name).await?;
        Ok(customer(&state, auth.0.sub).await?)
    }

    /// Deletes the signed-in customer's account.
    ///
    /// Every session ends at once (its tokens answer 401 `session_revoked`), and the
    /// phone, email, name, linked Google/Apple identities and push devices are erased.
    /// The same phone or Google/Apple account can later sign up as a new customer. A
    /// Sign in with Apple grant is revoked at Apple. Anonymous customers can delete too.
    /// Orders stay, anonymised (their notes and the payer's details erased). 409
    /// `invalid_state` while an order is paid but not yet accepted: cancel it (a full
    /// refund) or wait for the mitra first.
    #[oai(path = "/api/client/me", method = "delete", operation_id = "customerMeDelete", tag = "Tag::Client")]
    async fn client_me_delete(
        &self,
        state: Data<&AppState>,
        auth: CustomerAuth,
    ) -> Result<DeletedResponse, ApiErrors<{ EDGE | BEARER | E404 | E409 }>> {
        accounts::delete_customer(&state.db, auth.0.sub, state.gateway()?.apple_grants.is_some()).await?;
        Ok(DeletedResponse::Deleted)
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
        let m = mitras::get(&state.db, auth.0.sub).await?.ok_or_else(gone)?;
        Ok(MitraResponse::Ok(Json(m.into())))
    }

    /// Changes the signed-in mitra's display name and/or bio.
    ///
    /// Display name 1–80 characters after trimming; bio at most 1000 (else 400).
    #[oai(path = "/api/mitra/me", method = "patch", operation_id = "mitraMeUpdate", tag = "Tag::Mitra")]
    async fn mitra_me_update(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
        body: JsonBody<MitraProfileUpdate>,
    ) -> Result<MitraResponse, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        let name = body.display_name.as_ref().map(|n| n.as_str());
        let bio = body.bio.as_ref().map(|b| b.as_str());
        let m = mitras::edit(&state.db, auth.0.sub, name, bio).await?;
        Ok(MitraResponse::Ok(Json(m.into())))
    }

    /// Deletes the signed-in mitra's account.
    ///
    /// Every session ends at once, and the phone, name, bio and push devices are erased;
    /// the same phone can later sign up as a new mitra. 409 `invalid_state` while the
    /// mitra has an order that is paid or accepted.
    #[oai(path = "/api/mitra/me", method = "delete", operation_id = "mitraMeDelete", tag = "Tag::Mitra")]
    async fn mitra_me_delete(
        &self,
        state: Data<&AppState>,
        auth: MitraAuth,
    ) -> Result<DeletedResponse, ApiErrors<{ EDGE | BEARER | E404 | E409 }>> {
        accounts::delete_mitra(&state.db, auth.0.sub).await?;
        Ok(DeletedResponse::Deleted)
    }
}
