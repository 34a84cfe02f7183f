//! The public gateway: the client and mitra apps' API (`/api/client`, `/api/mitra`,
//! `/api/shared`), health checks and the API docs. Handlers are thin; the work happens in
//! `halo_shared`.

pub mod api;

use std::net::{Ipv4Addr, SocketAddr};

use halo_shared::http::{with_edge, EdgeConfig};
use halo_shared::AppState;
use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;

/// `0.0.0.0:3000` unless `HOST`/`PORT` say otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 3000);

/// The operations anyone may call without a bearer token (some also accept one, to
/// upgrade an anonymous customer). Every other operation requires one; a test holds the
/// spec to this list.
pub const PUBLIC_OPERATIONS: &[&str] = &[
    "GET /healthz",
    "GET /readyz",
    "POST /api/shared/auth/anonymous",
    "POST /api/shared/auth/refresh",
    "POST /api/client/auth/otp/request",
    "POST /api/client/auth/otp/verify",
    "POST /api/client/auth/google",
    "POST /api/client/auth/apple",
    "POST /api/mitra/auth/otp/request",
    "POST /api/mitra/auth/otp/verify",
    "POST /api/webhooks/xendit/invoice",
    "POST /api/webhooks/xendit/refund",
];

pub fn openapi() -> OpenApiService<api::Api, ()> {
    OpenApiService::new(api::api(), "Halo Bestie public gateway", env!("CARGO_PKG_VERSION"))
        .description(include_str!("../openapi-description.md"))
        .server("/")
}

/// The whole service as `serve` runs it.
pub fn app(state: AppState, edge: EdgeConfig) -> BoxEndpoint<'static> {
    let service = openapi();
    let routes = Route::new()
        .at("/openapi.json", service.spec_endpoint())
        .at("/api/shared/ws", api::ws::ws)
        .nest("/docs", service.swagger_ui())
        .nest("/", service)
        .data(state);
    with_edge(routes, edge, None)
}
