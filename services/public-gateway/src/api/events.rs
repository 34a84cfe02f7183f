//! The messages of the realtime socket (`GET /api/shared/ws`), as spec schemas. The
//! socket itself sends the JSON that `halo_shared::realtime::event_json` makes; these
//! types only describe it to client generators (registered by `ws::RealtimeSchemas`).

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, Union};
use uuid::Uuid;

/// Every message the server sends on `/api/shared/ws`, as JSON text.
#[derive(Debug, Clone, Object)]
pub struct ServerEvent {
    #[oai(rename = "type")]
    pub event_type: ServerEventType,
    /// Unique per event; `connection.ready` uses `0`.
    pub id: String,
    /// When the event was raised (RFC 3339).
    pub at: DateTime<Utc>,
    pub data: ServerEventData,
}

/// What happened: `connection.ready` (the socket is subscribed; sent first; `data` is a
/// `ConnectionReady`), `notification` (a message from staff; `data` is a
/// `NotificationEvent`), `order.updated` (an order of the user moved; `data` is the
/// `Order`), `mitra.verification` (staff decided the mitra's verification; `data` is a
/// `MitraVerificationEvent`), `message.created` (a new message in an order's
/// conversation, also the caller's own from another device; `data` is the `Message`),
/// `message.updated` (staff hid a message; `data` is the `Message`), `message.read` (the
/// other party read the conversation; `data` is a `MessageRead`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ServerEventType {
    #[oai(rename = "connection.ready")]
    ConnectionReady,
    #[oai(rename = "notification")]
    Notification,
    #[oai(rename = "order.updated")]
    OrderUpdated,
    #[oai(rename = "mitra.verification")]
    MitraVerification,
    #[oai(rename = "message.created")]
    MessageCreated,
    #[oai(rename = "message.updated")]
    MessageUpdated,
    #[oai(rename = "message.read")]
    MessageRead,
}

/// The event's payload, shaped by `type`.
#[derive(Debug, Clone, Union)]
#[oai(one_of)]
// Only the spec's description of the events: never built per message.
#[allow(clippy::large_enum_variant)]
pub enum ServerEventData {
    ConnectionReady(ConnectionReady),
    Notification(NotificationEvent),
    Order(halo_shared::marketplace::orders::Order),
    MitraVerification(MitraVerificationEvent),
    Message(halo_shared::marketplace::chat::Message),
    MessageRead(halo_shared::marketplace::chat::MessageRead),
}

/// `data` of a `mitra.verification` event.
#[derive(Debug, Clone, Object)]
pub struct MitraVerificationEvent {
    pub verification_status: halo_shared::users::mitras::VerificationStatus,
    /// Staff's note for the mitra, if any.
    #[oai(nullable)]
    pub note: Option<String>,
}

/// `data` of a `notification` event.
#[derive(Debug, Clone, Object)]
pub struct NotificationEvent {
    pub notification_id: Uuid,
    pub title: String,
    pub body: String,
    /// String pairs for the app (deep links and the like).
    pub data: std::collections::BTreeMap<String, String>,
}

/// `data` of the `connection.ready` event.
#[derive(Debug, Clone, Object)]
pub struct ConnectionReady {
    pub session_id: Uuid,
    /// When the access token expires; the server closes the socket then (code 4001).
    pub expires_at: DateTime<Utc>,
}
