//! The public gateway's operations, grouped by tag.

mod devices;
mod health;
mod me;
mod otp;
mod schemas;
mod session;
mod social;
pub mod ws;
mod ws_ticket;

use poem_openapi::Tags;

pub type Api = (
    health::HealthApi,
    session::SessionApi,
    otp::OtpApi,
    social::SocialApi,
    me::MeApi,
    devices::DevicesApi,
    ws::RealtimeSchemas,
    ws_ticket::RealtimeTicketApi,
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
    /// The realtime WebSocket and the events it carries.
    Realtime,
}
