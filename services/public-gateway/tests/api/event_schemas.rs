//! Gap 1: the socket's messages are the spec's `ServerEvent` union. Real messages of every
//! kind, as a socket receives them, parse as the schema their `type` names, and nothing
//! in them falls outside it (parsing and writing back gives the same JSON).

use halo_shared::tokens::UserType;
use halo_shared::users::staff::Role;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use public_gateway::api::events::ServerEvent;
use serde_json::{json, Value};

use crate::helpers::spawn_app;
use crate::helpers::ws::{connect, next_event, Socket};

/// Parses `message` as a `ServerEvent`, checks it round-trips, and returns its variant.
fn conforms(message: &Value) -> ServerEvent {
    let parsed = ServerEvent::parse_from_json(Some(message.clone()))
        .unwrap_or_else(|err| panic!("{} does not match its schema: {}", message["type"], err.into_message()));
    let written = parsed.to_json().expect("written back");
    assert!(same(&written, message), "the schema describes every field of {message}, written back as {written}");
    parsed
}

/// Equal JSON, with times compared as instants (written back, `Z` becomes `+00:00`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same(v, w)),
        (Value::String(a), Value::String(b)) => {
            let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
            a == b || instant(a).is_some_and(|t| instant(b) == Some(t))
        }
        (a, b) => a == b,
    }
}

async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let event = next_event(socket).await;
        if event["type"] == kind {
            return event;
        }
    }
}

#[tokio::test]
async fn every_kind_of_message_a_socket_receives_matches_the_schema_its_type_names() {
    let app = spawn_app().await;
    app.listening().await;
    let f = app.fixtures();
    let mitra = f.listed_mitra("Sari").await;
    let customer = f.verified_customer().await;
    let pending = f.pending_mitra("Dewi").await;
    let mut customer_socket = connect(app.addr(), Some(&customer.access_token), "").await.expect("upgraded");
    let mut mitra_socket = connect(app.addr(), Some(&mitra.token), "").await.expect("upgraded");
    let mut pending_socket = connect(app.addr(), Some(&pending.access_token), "").await.expect("upgraded");

    let ready = next_of(&mut customer_socket, "connection.ready").await;
    assert!(matches!(conforms(&ready), ServerEvent::ConnectionReady(_)));

    let order = f.order(&customer, mitra.service_id).await;
    f.pay(order).await;
    for socket in [&mut customer_socket, &mut mitra_socket] {
        let updated = next_of(socket, "order.updated").await;
        assert!(matches!(conforms(&updated), ServerEvent::OrderUpdated(m) if m.data.id == order));
    }

    let staff = f.staff_actor(Role::Agent).await;
    let new = halo_shared::notifications::NewNotification {
        user_type: UserType::Customer,
        user_id: customer.id,
        title: "Halo",
        body: "Selamat datang",
        data: json!({ "screen": "home" }),
    };
    halo_shared::notifications::send(&app.state, &staff, new).await.unwrap();
    let notification = next_of(&mut customer_socket, "notification").await;
    assert!(matches!(conforms(&notification), ServerEvent::Notification(_)));

    f.decide_verification(pending.id, true).await;
    let decided = next_of(&mut pending_socket, "mitra.verification").await;
    assert!(matches!(conforms(&decided), ServerEvent::MitraVerification(_)));
}

#[test]
fn a_message_of_one_kind_with_another_kinds_data_does_not_parse() {
    let wrong = json!({ "type": "mitra.verification", "id": "1", "at": "2026-12-07T08:00:00.000Z",
                        "data": { "session_id": "00000000-0000-4000-8000-000000000001",
                                  "expires_at": "2026-12-07T09:00:00Z" } });
    assert!(ServerEvent::parse_from_json(Some(wrong)).is_err());
    let unknown = json!({ "type": "something.else", "id": "1", "at": "2026-12-07T08:00:00.000Z", "data": {} });
    assert!(ServerEvent::parse_from_json(Some(unknown)).is_err());
}
