//! The public gateway: the client and mitra apps' API (`/api/client`, `/api/mitra`,
//! `/api/shared`), health checks and the API docs. Handlers are thin; the work happens in
//! `halo_shared`.

pub mod api;

use std::net::{Ipv4Addr, SocketAddr};

use halo_shared::http::{with_edge, EdgeConfig};
use halo_shared::notifications::outbox::PushOutbox;
use halo_shared::providers::apple;
use halo_shared::startup::{Application, Startup};
use halo_shared::{push, AppState};
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
    "POST /api/webhooks/xendit/payout",
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

/// The gateway as `serve` runs it and the tests start it: the routes, the tasks every
/// instance runs, and its own: the push worker (when FCM is configured) and the Apple
/// grant revocations (when the team key is).
pub async fn build(startup: Startup) -> anyhow::Result<Application> {
    Application::build(startup, app, |state, tasks| {
        let gateway = state.gateway()?;
        if gateway.otp.is_stub() {
            tracing::warn!(
                "OTP_PROVIDER=stub: one-time codes are written to the log, not sent; never run this in production"
            );
        }
        let workers = &gateway.settings.workers;
        match &gateway.settings.fcm {
            Some(fcm) => {
                let client = push::fcm::FcmClient::new(fcm.clone(), state.http.clone());
                let outbox = PushOutbox::new(state.db.clone());
                tasks.spawn("push worker", push::run(outbox, client, workers.clone()));
            }
            None => tracing::warn!("FCM_PROJECT_ID is not set: push notifications wait in the outbox"),
        }
        if state.payments.is_stub() {
            tracing::warn!(
                "PAYMENT_PROVIDER=stub: invoices are made locally and paid by the request each [PAYMENT STUB] line \
                 shows; never run this in production"
            );
        }
        let interval = state.settings().booking.sweep_interval_secs;
        if interval > 0 {
            let payments = halo_shared::payments::Payments::of(state);
            let every = std::time::Duration::from_secs(u64::from(interval));
            tasks.spawn("order sweep", halo_shared::payments::sweep::run_every(payments, every));
        }
        if let Some(client) = gateway.apple_grants.clone() {
            tasks.spawn("apple revocations", apple::run(state.db.clone(), client, workers.clone()));
        }
        Ok(())
    })
    .await
}
