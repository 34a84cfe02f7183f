use halo_shared::auth::scheme::AppUserAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::notifications::devices::{self, Platform};
use halo_shared::AppState;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::Tag;

#[derive(Default)]
pub struct DevicesApi;

#[derive(Debug, Object)]
pub struct DeviceRegistration {
    /// The FCM registration token of this app install (real ones are ~160–200 characters;
    /// the cap keeps every token within what the unique index can hold).
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub fcm_token: JsonString,
    pub platform: Platform,
}

#[derive(ApiResponse)]
pub enum DeviceResponse {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(tag = "Tag::Devices")]
impl DevicesApi {
    /// Registers this session's device for push notifications.
    ///
    /// Replaces the device the session had. Logout and any other end of the session
    /// remove it.
    #[oai(path = "/api/shared/devices", method = "put", operation_id = "devicesRegister")]
    async fn register(
        &self,
        state: Data<&AppState>,
        auth: AppUserAuth,
        body: JsonBody<DeviceRegistration>,
    ) -> Result<DeviceResponse, ApiErrors<{ WITH_BODY | BEARER }>> {
        devices::register(&state, &auth.0, &body.fcm_token, body.platform).await?;
        Ok(DeviceResponse::Done)
    }

    /// Removes this session's device.
    ///
    /// No more push notifications reach it; the session itself stays signed in.
    #[oai(path = "/api/shared/devices", method = "delete", operation_id = "devicesRemove")]
    async fn remove(
        &self,
        state: Data<&AppState>,
        auth: AppUserAuth,
    ) -> Result<DeviceResponse, ApiErrors<{ EDGE | BEARER }>> {
        devices::remove(&state, auth.0.session_id).await?;
        Ok(DeviceResponse::Done)
    }
}
