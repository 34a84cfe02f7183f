use halo_shared::http::health::{self, HealthResponse, ReadyResponse};
use halo_shared::AppState;
use poem::web::Data;
use poem_openapi::OpenApi;

use super::Tag;

#[derive(Default)]
pub struct HealthApi;

#[OpenApi(tag = "Tag::Health")]
impl HealthApi {
    /// Liveness: the process is up. Never touches the database.
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> HealthResponse {
        health::alive()
    }

    /// Readiness: the database answers within a second and this instance has loaded the
    /// revoked sessions (else 503).
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self, state: Data<&AppState>) -> ReadyResponse {
        health::ready_to_authenticate(&state.db, &state.realtime).await
    }
}
