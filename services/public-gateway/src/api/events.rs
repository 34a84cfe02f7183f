//! The messages of the realtime socket (`GET /api/shared/ws`), as spec schemas. The
//! socket itself sends the JSON that `halo_shared::realtime::event_json` makes; these
//! types describe it to client generators (registered by `ws::RealtimeSchemas`), and the
//! tests parse real messages with them to hold the two together.
//!
//! `ServerEvent` is a `oneOf` with a `discriminator` on `type`: one named schema per kind
//! of event, each with its own typed `data`. The union is written by hand because
//! poem-openapi's derived discriminator adds `type` as an inline one-value enum to an
//! `allOf` per variant, which generators name after the property (a Swift `Type`, a
//! Kotlin `Type`); here each kind's `type` is a named one-value enum (`…Kind`).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use poem_openapi::registry::{MetaDiscriminatorObject, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Enum, Object};
use serde_json::Value;
use uuid::Uuid;

/// Defines one kind of event: its `type` value as a one-value enum, and its message.
macro_rules! event_kind {
    ($(#[$doc:meta])* $message:ident, $kind:ident, $variant:ident, $name:literal, $data:ty) => {
        #[doc = concat!("Always `", $name, "`.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        pub enum $kind {
            #[oai(rename = $name)]
            $variant,
        }

        $(#[$doc])*
        #[derive(Debug, Clone, Object)]
        pub struct $message {
            #[oai(rename = "type")]
            pub kind: $kind,
            /// Unique per event; `connection.ready` uses `0`.
            pub id: String,
            /// When the event was raised (RFC 3339).
            pub at: DateTime<Utc>,
            pub data: $data,
        }
    };
}

/// The kinds of event, each `Variant => Message, Kind, "type", data;`: defines each kind
/// ([`event_kind!`]) and the [`ServerEvent`] union over them, so a new kind is one entry.
macro_rules! server_events {
    ($($(#[$doc:meta])* $variant:ident => $message:ident, $kind:ident, $name:literal, $data:ty;)*) => {
        $(event_kind!($(#[$doc])* $message, $kind, $variant, $name, $data);)*

        /// Every message the server sends on `/api/shared/ws`, as JSON text; `type` says which.
        #[derive(Debug, Clone)]
        // Only the spec's description of the events and the tests' parser: never built per message.
        #[allow(clippy::large_enum_variant)]
        pub enum ServerEvent {
            $($variant($message),)*
        }

        /// `(type value, schema)` of each kind, in the spec's order.
        fn kinds() -> Vec<(&'static str, MetaSchemaRef)> {
            vec![$(($name, $message::schema_ref()),)*]
        }

        fn register_kinds(registry: &mut Registry) {
            $($message::register(registry);)*
        }

        impl ParseFromJSON for ServerEvent {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                let value = value.unwrap_or_default();
                let kind = value.get("type").and_then(Value::as_str).map(str::to_owned);
                match kind.as_deref() {
                    $(Some($name) => parse_as(value, Self::$variant),)*
                    _ => Err(ParseError::custom(format!("unknown event type {kind:?}"))),
                }
            }
        }

        impl ToJSON for ServerEvent {
            fn to_json(&self) -> Option<Value> {
                match self {
                    $(Self::$variant(message) => message.to_json(),)*
                }
            }
        }
    };
}

server_events! {
    /// `connection.ready`: the socket is subscribed; always the first message.
    ConnectionReady => ConnectionReadyMessage, ConnectionReadyKind, "connection.ready", ConnectionReady;
    /// `notification`: a message from staff (also pushed to devices).
    Notification => NotificationMessage, NotificationKind, "notification", NotificationEvent;
    /// `order.updated`: an order of the user moved; `data` is the order as the order
    /// endpoints return it.
    OrderUpdated => OrderUpdatedMessage, OrderUpdatedKind, "order.updated", halo_shared::marketplace::orders::Order;
    /// `mitra.verification`: staff decided the mitra's verification.
    MitraVerification => MitraVerificationMessage, MitraVerificationKind, "mitra.verification", MitraVerificationEvent;
    /// `payout.updated`: a payout to the mitra moved; `data` is the payout as
    /// `GET /api/mitra/payouts/{id}` returns it.
    PayoutUpdated => PayoutUpdatedMessage, PayoutUpdatedKind, "payout.updated", halo_shared::payouts::views::PayoutView;
    /// `payout_account.changed`: the mitra's payout account was changed or marked invalid.
    PayoutAccountChanged => PayoutAccountChangedMessage, PayoutAccountChangedKind, "payout_account.changed",
        halo_shared::payouts::views::PayoutAccountView;
    /// `message.created`: a new message in one of the user's order conversations (the
    /// caller's own too, from another device).
    MessageCreated => MessageCreatedMessage, MessageCreatedKind, "message.created", halo_shared::marketplace::chat::Message;
    /// `message.updated`: staff hid a message; `data` is the message as both parties now see it.
    MessageUpdated => MessageUpdatedMessage, MessageUpdatedKind, "message.updated", halo_shared::marketplace::chat::Message;
    /// `message.read`: the other party read the conversation up to a message.
    MessageRead => MessageReadMessage, MessageReadKind, "message.read", halo_shared::marketplace::chat::MessageRead;
}

impl Type for ServerEvent {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "ServerEvent".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |registry| {
            register_kinds(registry);
            let mapping = kinds()
                .into_iter()
                .map(|(kind, schema)| match schema {
                    MetaSchemaRef::Reference(name) => (kind.to_owned(), format!("#/components/schemas/{name}")),
                    MetaSchemaRef::Inline(_) => unreachable!("every message is a named object"),
                })
                .collect();
            MetaSchema {
                rust_typename: Some(std::any::type_name::<Self>()),
                description: Some(
                    "Every message the server sends on `/api/shared/ws`, as JSON text; `type` says which.",
                ),
                one_of: kinds().into_iter().map(|(_, schema)| schema).collect(),
                discriminator: Some(MetaDiscriminatorObject { property_name: "type", mapping }),
                ..MetaSchema::new("object")
            }
        });
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

/// One kind's message, its parse error propagated to the union.
fn parse_as<T: ParseFromJSON>(value: Value, wrap: fn(T) -> ServerEvent) -> ParseResult<ServerEvent> {
    T::parse_from_json(Some(value)).map(wrap).map_err(ParseError::propagate)
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
