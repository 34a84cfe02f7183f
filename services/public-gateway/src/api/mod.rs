//! The public gateway's operations, grouped by tag.

mod devices;
mod health;
mod me;
mod otp;
mod schemas;
mod session;
mod sessions;
mod social;
pub mod ws;

use poem_openapi::Tags;

pub type Api = (
    health::HealthApi,
    session::SessionApi,
    otp::OtpApi,
    social::SocialApi,
    me::MeApi,
    sessions::SessionsApi,
    devices::DevicesApi,
    ws::RealtimeSchemas,
);

pub fn api() -> Api {
    Api::default()
}

#[derive(Tags)]
pub enum Tag {
    /// Liveness and readiness probes for the platform.
    Health,
    /// Sign-in, token refresh, logout and the current session, for both apps.
    Auth,
    /// The client (customer) app.
    Client,
    /// The mitra (partner) app.
    Mitra,
    /// Devices that receive push notifications.
    Devices,
    /// The signed-in user's sessions on all their devices.
    Sessions,
    /// The realtime WebSocket and the events it carries.
    Realtime,
}
