//! The public gateway's operations, grouped by tag.

mod booking;
mod browse;
mod chat;
mod devices;
mod earnings;
pub mod events;
mod health;
mod marketplace;
mod me;
mod orders;
mod otp;
mod payouts;
mod schemas;
mod session;
mod sessions;
mod social;
mod webhooks;
pub mod ws;
mod ws_ticket;

use poem_openapi::Tags;

/// Sign-in and the account: health, sessions, devices and the realtime socket.
type AccountApi = (
    health::HealthApi,
    session::SessionApi,
    otp::OtpApi,
    social::SocialApi,
    me::MeApi,
    sessions::SessionsApi,
    devices::DevicesApi,
    ws::RealtimeSchemas,
    ws_ticket::RealtimeTicketApi,
);

/// The marketplace: mitra services, browsing, orders and payment callbacks.
type MarketApi = (
    marketplace::MitraMarketApi,
    browse::BrowseApi,
    booking::MitraBookingApi,
    booking::ClientBookingApi,
    orders::OrdersApi,
    earnings::EarningsApi,
    payouts::PayoutsApi,
    chat::ChatApi,
    webhooks::WebhooksApi,
);

/// Every operation (a tuple of tuples: `Default` stops at twelve members).
pub type Api = (AccountApi, MarketApi);

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
    /// Orders: customers make and cancel them; mitra accept, decline and complete them.
    Orders,
    /// An order's conversation between its customer and mitra, and their reviews.
    Chat,
    /// Callbacks from third parties (Xendit), authenticated by their own tokens.
    Webhooks,
    /// The realtime WebSocket and the events it carries.
    Realtime,
}
