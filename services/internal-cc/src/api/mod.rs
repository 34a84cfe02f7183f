//! The control center's operations, grouped by tag.

mod auth;
mod health;
mod notifications;
mod refresh_cookie;

use poem_openapi::Tags;

pub type Api = (health::HealthApi, auth::StaffAuthApi, notifications::NotificationsApi);

pub fn api() -> Api {
    Api::default()
}

#[derive(Tags)]
pub enum Tag {
    /// Liveness and readiness probes for the platform.
    Health,
    /// Staff sign-in, cookie refresh, logout and the current user.
    Auth,
    /// Messages to customers and mitra, by socket and push.
    Notifications,
}
