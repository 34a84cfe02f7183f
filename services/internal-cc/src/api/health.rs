use halo_shared::auth::public::Public;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::health::{self, HealthResponse, ReadyResponse};
use halo_shared::AppState;
use poem::web::Data;
use poem_openapi::OpenApi;

use super::Tag;

#[derive(Default)]
pub struct HealthApi;

#[OpenApi(tag = "Tag::Health")]
impl HealthApi {
    /// Liveness: the process is up.
    ///
    /// Never touches the database.
    #[oai(path = "/internal/healthz", method = "get", operation_id = "ccHealthLive")]
    async fn healthz(&self, _public: Public) -> Result<HealthResponse, ApiErrors<{ E500 | E504 }>> {
        Ok(health::alive())
    }

    /// Readiness: the database answers and revocations are loaded.
    ///
    /// 503 `unavailable` until the database answers within a second and this instance
    /// has loaded the revoked sessions; the platform then sends no traffic here.
    #[oai(path = "/internal/readyz", method = "get", operation_id = "ccHealthReady")]
    async fn readyz(
        &self,
        _public: Public,
        state: Data<&AppState>,
    ) -> Result<ReadyResponse, ApiErrors<{ E500 | E504 }>> {
        Ok(health::ready_to_authenticate(&state.db, &state.realtime).await)
    }
}
