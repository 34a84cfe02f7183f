//! The control center's operations, grouped by tag.

mod auth;
mod health;

use poem_openapi::Tags;

pub type Api = (health::HealthApi, auth::StaffAuthApi);

pub fn api() -> Api {
    (health::HealthApi, auth::StaffAuthApi)
}

#[derive(Tags)]
pub enum Tag {
    /// Liveness and readiness probes for the platform.
    Health,
    /// Staff sign-in, cookie refresh, logout and the current user.
    Auth,
}
