//! The control-center service (`/internal/...`): staff sign-in and, as they come, the
//! tools staff run the business with. Reachable only inside the VPC.

pub mod api;

use std::net::{Ipv4Addr, SocketAddr};

use halo_shared::http::{with_edge, EdgeConfig};
use halo_shared::startup::{Application, Startup};
use halo_shared::AppState;
use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem::middleware::{CookieJarManager, Cors};
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;

/// Loopback unless `HOST` says otherwise: on Cloud Run the platform's internal ingress
/// is the fence, elsewhere the bind address is.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 3001);

/// The operations anyone inside the VPC may call without credentials. (Refresh needs no
/// bearer token but is authenticated by the refresh cookie, its own security scheme.)
pub const PUBLIC_OPERATIONS: &[&str] = &["GET /internal/healthz", "GET /internal/readyz", "POST /internal/auth/login"];

pub fn openapi() -> OpenApiService<api::Api, ()> {
    OpenApiService::new(api::api(), "Halo Bestie control center", env!("CARGO_PKG_VERSION"))
        .description(include_str!("../openapi-description.md"))
        // The paths already carry `/internal`, so generated clients join them to the host.
        .server("/")
}

/// CORS for the control-center SPA: credentials, and only for the listed origins. With
/// no origins listed there is no CORS policy at all, so no origin is granted anything.
fn cors(origins: &[String]) -> Option<Cors> {
    if origins.is_empty() {
        return None;
    }
    Some(
        Cors::new()
            .allow_origins(origins.iter().map(String::as_str))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers(["authorization", "content-type", "x-request-id"])
            .expose_headers(["x-request-id", "retry-after"])
            .max_age(600),
    )
}

/// The whole service as `serve` runs it.
pub fn app(state: AppState, edge: EdgeConfig) -> BoxEndpoint<'static> {
    let service = openapi();
    let origins = state.control_center().map(|cc| cc.settings.cc_allowed_origins.clone()).unwrap_or_default();
    let cors = cors(&origins);
    let routes = Route::new()
        .at("/internal/openapi.json", service.spec_endpoint())
        .nest("/internal/docs", service.swagger_ui())
        .nest("/", service)
        .with(CookieJarManager::new())
        .data(state);
    with_edge(routes, edge, cors)
}

/// The control center as `serve` runs it and the tests start it: the routes, the tasks
/// every instance runs, and the staff-login warm-up.
pub async fn build(startup: Startup) -> anyhow::Result<Application> {
    Application::build(startup, app, |state, tasks| {
        // Hash the unknown-email dummy now, not during the first login.
        let warm = state.clone();
        tasks.spawn("login warm-up", async move {
            if let Err(err) = halo_shared::auth::staff::warm_up(&warm).await {
                tracing::warn!(error = format!("{err:#}"), "warming up the staff login failed");
            }
        });
        Ok(())
    })
    .await
}
