//! The WebSocket, events across instances, instant revocation and devices, over real
//! listeners and one real database shared by two app instances.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use halo_shared::realtime;
use halo_shared::testing;
use halo_shared::testing::fixtures::Customer;
use halo_shared::tokens::UserType;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::helpers::ws::{close_code, connect, next_event};
use crate::helpers::{app_on, send, spawn_app, spawn_app_with, TestApp};

#[tokio::test]
async fn a_handshake_without_a_good_token_is_refused_with_401_json_and_no_upgrade() {
    let app = spawn_app().await;
    let addr = app.addr();
    let (status, body) = connect(addr, None, "").await.expect_err("refused");
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_token")));
    let (status, body) = connect(addr, Some("forged.token.here"), "").await.expect_err("refused");
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_token")));
    let (staff, _) =
        app.state.keys.mint(Uuid::new_v4(), UserType::Staff, Uuid::new_v4(), chrono::Utc::now().timestamp());
    let (status, body) = connect(addr, Some(&staff), "").await.expect_err("refused");
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
}

#[tokio::test]
async fn a_good_token_in_the_header_or_the_query_gets_a_socket_that_starts_with_ready() {
    let app = spawn_app().await;
    let addr = app.addr();
    let Customer { access_token: token, session_id, .. } = app.fixtures().anonymous_customer().await;
    let mut socket = connect(addr, Some(&token), "").await.expect("upgraded");
    let ready = next_event(&mut socket).await;
    assert_eq!(ready["type"], "connection.ready");
    assert_eq!(ready["data"]["session_id"], session_id.to_string());
    assert!(chrono::DateTime::parse_from_rfc3339(ready["at"].as_str().unwrap()).is_ok());

    let mut by_query = connect(addr, None, &format!("?access_token={token}")).await.expect("upgraded");
    assert_eq!(next_event(&mut by_query).await["type"], "connection.ready");
}

#[tokio::test]
async fn an_event_published_on_one_instance_reaches_a_socket_on_another() {
    let a = spawn_app().await;
    let b = app_on(a.db.clone(), testing::gateway_settings()).await;
    b.listening().await;
    let addr_b = b.addr();
    let Customer { access_token: token, id: user_id, .. } = a.fixtures().anonymous_customer().await;
    let mut socket = connect(addr_b, Some(&token), "").await.expect("upgraded");
    next_event(&mut socket).await;

    let started = Instant::now();
    let id = realtime::publish(&a.db.pool, UserType::Customer, user_id, "order.updated", &json!({ "order": 7 }))
        .await
        .unwrap();
    let event = next_event(&mut socket).await;
    let latency = started.elapsed();
    assert_eq!(event["type"], "order.updated");
    assert_eq!(event["id"], id.to_string());
    assert_eq!(event["data"], json!({ "order": 7 }));
    assert!(latency < Duration::from_secs(1), "{latency:?}");

    let big = "x".repeat(6000);
    realtime::publish(&a.db.pool, UserType::Customer, user_id, "big", &json!({ "blob": big })).await.unwrap();
    assert_eq!(
        next_event(&mut socket).await["data"]["blob"].as_str().map(str::len),
        Some(6000),
        "large bodies are read back from the table"
    );
}

#[tokio::test]
async fn events_raised_while_the_listener_was_down_are_replayed() {
    let app = spawn_app().await;
    app.listening().await;
    let addr = app.addr();
    let Customer { access_token: token, id: user_id, .. } = app.fixtures().anonymous_customer().await;
    let mut socket = connect(addr, Some(&token), "").await.expect("upgraded");
    next_event(&mut socket).await;

    // Cut the listener's connection from the server side, then publish at once (an
    // outage no API can cause).
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "exactly the listener's connection was cut");
    realtime::publish(&app.db.pool, UserType::Customer, user_id, "while.down", &json!({})).await.unwrap();
    assert_eq!(next_event(&mut socket).await["type"], "while.down");
}

#[tokio::test]
async fn logout_on_one_instance_refuses_the_token_on_another_within_a_second_and_closes_its_socket() {
    let a = spawn_app().await;
    let b = app_on(a.db.clone(), testing::gateway_settings()).await;
    b.listening().await;
    let addr_b = b.addr();
    let Customer { access_token: token, .. } = a.fixtures().anonymous_customer().await;
    assert_eq!(b.get_with("/api/shared/auth/session", &token).await.status, StatusCode::OK);
    let mut socket = connect(addr_b, Some(&token), "").await.expect("upgraded");
    next_event(&mut socket).await;

    let started = Instant::now();
    assert_eq!(a.logout(&token).await.status, StatusCode::NO_CONTENT);
    let refused = loop {
        let reply = b.get_with("/api/shared/auth/session", &token).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            break reply;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "still accepted after a second");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(refused.error_code(), "session_revoked");
    assert_eq!(close_code(&mut socket, Duration::from_secs(1)).await, 4003);
}

#[tokio::test]
async fn a_new_instance_learns_recent_revocations_at_start() {
    let a = spawn_app().await;
    let Customer { access_token: token, .. } = a.fixtures().anonymous_customer().await;
    a.logout(&token).await;
    let late = app_on(a.db.clone(), testing::gateway_settings()).await;
    late.listening().await;
    assert_eq!(late.get_with("/api/shared/auth/session", &token).await.error_code(), "session_revoked");
}

#[tokio::test]
async fn the_socket_closes_with_4001_when_its_access_token_expires() {
    let app = spawn_app().await;
    let addr = app.addr();
    let Customer { id: user_id, session_id, .. } = app.fixtures().anonymous_customer().await;
    let almost_expired = chrono::Utc::now().timestamp() - 3600 + 2;
    let (token, _) = app.state.keys.mint(user_id, UserType::Customer, session_id, almost_expired);
    let mut socket = connect(addr, Some(&token), "").await.expect("upgraded");
    assert_eq!(close_code(&mut socket, Duration::from_secs(5)).await, 4001);
}

#[tokio::test]
async fn a_socket_that_stops_answering_pings_is_closed() {
    let mut settings = testing::gateway_settings();
    settings.ws_heartbeat = Duration::from_millis(150);
    let app = spawn_app_with(settings).await;
    let addr = app.addr();
    let Customer { access_token: token, .. } = app.fixtures().anonymous_customer().await;
    let mut socket = connect(addr, Some(&token), "").await.expect("upgraded");
    next_event(&mut socket).await;
    // Not reading means not answering pings.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(close_code(&mut socket, Duration::from_secs(2)).await, 4008);
}

#[tokio::test]
async fn a_socket_that_answers_pings_stays_open() {
    let mut settings = testing::gateway_settings();
    settings.ws_heartbeat = Duration::from_millis(100);
    let app = spawn_app_with(settings).await;
    let addr = app.addr();
    let Customer { access_token: token, id: user_id, .. } = app.fixtures().anonymous_customer().await;
    let mut socket = connect(addr, Some(&token), "").await.expect("upgraded");
    next_event(&mut socket).await;
    let reader = async {
        // Reading answers pings; collect them for a while.
        let mut pings = 0;
        let until = Instant::now() + Duration::from_millis(700);
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until.into(), socket.next()).await {
            match message {
                Message::Ping(_) => pings += 1,
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
        pings
    };
    assert!(reader.await >= 3);
    realtime::publish(&app.db.pool, UserType::Customer, user_id, "still.here", &json!({})).await.unwrap();
    assert_eq!(next_event(&mut socket).await["type"], "still.here");
}

async fn device_of(app: &TestApp, session_id: Uuid) -> Option<(String, String)> {
    sqlx::query_as("SELECT fcm_token, platform FROM devices WHERE session_id = $1")
        .bind(session_id)
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
}

async fn put_device(app: &TestApp, token: &str, fcm_token: &str, platform: &str) -> StatusCode {
    send(
        app.client
            .put("/api/shared/devices")
            .header("authorization", format!("Bearer {token}"))
            .body_json(&json!({ "fcm_token": fcm_token, "platform": platform })),
    )
    .await
    .status
}

#[tokio::test]
async fn a_session_registers_one_device_replaces_it_and_removes_it() {
    let app = spawn_app().await;
    let Customer { access_token: token, session_id, .. } = app.fixtures().anonymous_customer().await;
    assert_eq!(put_device(&app, &token, "fcm-1", "android").await, StatusCode::NO_CONTENT);
    assert_eq!(device_of(&app, session_id).await, Some(("fcm-1".into(), "android".into())));
    assert_eq!(put_device(&app, &token, "fcm-2", "ios").await, StatusCode::NO_CONTENT);
    assert_eq!(device_of(&app, session_id).await, Some(("fcm-2".into(), "ios".into())));
    assert_eq!(put_device(&app, &token, "fcm-3", "blackberry").await, StatusCode::BAD_REQUEST);

    let Customer { access_token: other, session_id: other_session, .. } = app.fixtures().anonymous_customer().await;
    put_device(&app, &other, "fcm-2", "ios").await;
    assert_eq!(device_of(&app, session_id).await, None, "a token belongs to one install");
    assert!(device_of(&app, other_session).await.is_some());

    let deleted =
        send(app.client.delete("/api/shared/devices").header("authorization", format!("Bearer {other}"))).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(device_of(&app, other_session).await, None);
}

#[tokio::test]
async fn logout_and_reuse_revocation_remove_the_device() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    let token = pair.str("access_token");
    let session_id = app.claims(&token).session_id;
    put_device(&app, &token, "fcm-logout", "android").await;
    app.logout(&token).await;
    assert_eq!(device_of(&app, session_id).await, None);

    let pair = app.anonymous().await;
    let token = pair.str("access_token");
    let session_id = app.claims(&token).session_id;
    put_device(&app, &token, "fcm-reuse", "ios").await;
    app.refresh(&pair.str("refresh_token")).await;
    // Backdated past the grace window: no API can make a rotation a minute old.
    sqlx::query("UPDATE auth_sessions SET rotated_at = now() - interval '1 minute'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(app.refresh(&pair.str("refresh_token")).await.error_code(), "refresh_token_reused");
    assert_eq!(device_of(&app, session_id).await, None);
}

#[tokio::test]
async fn a_staff_notification_arrives_on_the_socket_and_is_recorded_as_delivered() {
    let app = spawn_app().await;
    app.listening().await;
    let addr = app.addr();
    let Customer { access_token: token, id: user_id, .. } = app.fixtures().anonymous_customer().await;
    let mut socket = connect(addr, Some(&token), "").await.expect("upgraded");
    next_event(&mut socket).await;

    let staff = app.fixtures().staff_actor(Role::Agent).await;
    let new = halo_shared::notifications::NewNotification {
        user_type: UserType::Customer,
        user_id,
        title: "Halo",
        body: "Selamat datang",
        data: json!({ "screen": "home" }),
    };
    let sent = halo_shared::notifications::send(&app.state, &staff, new).await.unwrap();
    let event = next_event(&mut socket).await;
    assert_eq!(event["type"], "notification");
    assert_eq!(
        event["data"],
        json!({ "notification_id": sent.id, "title": "Halo", "body": "Selamat datang", "data": { "screen": "home" } })
    );
    for _ in 0..100 {
        let list = halo_shared::notifications::list(&app.state, Some(sent.id), None).await.unwrap();
        if list[0].ws_delivered_at.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("socket delivery was not recorded");
}
