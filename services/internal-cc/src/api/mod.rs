//! The control center's operations, grouped by tag.

mod auth;
mod health;
mod money;
mod notifications;
mod orders;
mod payouts;
mod refresh_cookie;
mod staff;
mod trust;
mod users;

use poem_openapi::Tags;

pub type Api = (
    health::HealthApi,
    auth::StaffAuthApi,
    notifications::NotificationsApi,
    users::UsersApi,
    staff::StaffApi,
    orders::OrdersApi,
    money::MoneyApi,
    payouts::PayoutsApi,
    trust::TrustApi,
);

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
    /// Customers and mitra: search, detail, suspension, verification, sessions.
    Users,
    /// Staff management and the audit log (admins).
    Staff,
    /// Orders, their payments, refunds, disputes, and the ledger's money.
    Orders,
    /// Moderation: reported messages, conversations, hidden reviews.
    Trust,
}
