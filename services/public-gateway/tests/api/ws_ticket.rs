//! Keeping access tokens out of logged URLs: single-use socket tickets, and redaction of
//! percent-encoded parameter names.

use halo_shared::testing::fixtures::Customer;
use halo_shared::testing::{self, capture_logs};
use poem::http::StatusCode;

use crate::helpers::ws::{connect, next_event};
use crate::helpers::{app_on, send, spawn_app, TestApp};

async fn ticket(app: &TestApp, access_token: &str) -> String {
    let reply =
        send(app.client.post("/api/shared/ws/ticket").header("authorization", format!("Bearer {access_token}"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["expires_in"], 30);
    reply.str("ticket")
}

#[tokio::test]
async fn a_ticket_opens_one_socket_of_its_session_on_any_instance_and_only_once() {
    let a = spawn_app().await;
    let b = app_on(a.db.clone(), testing::gateway_settings()).await;
    let addr_b = b.addr();
    let Customer { access_token: token, session_id, .. } = a.fixtures().anonymous_customer().await;
    let ticket = ticket(&a, &token).await;
    assert!(!ticket.contains(&token) && ticket.len() < 64);

    let mut socket = connect(addr_b, None, &format!("?ticket={ticket}")).await.expect("upgraded");
    let ready = next_event(&mut socket).await;
    assert_eq!(
        (ready["type"].as_str(), ready["data"]["session_id"].as_str()),
        (Some("connection.ready"), Some(&*session_id.to_string()))
    );

    let (status, body) = connect(addr_b, None, &format!("?ticket={ticket}")).await.expect_err("spent");
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_token")));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM ws_tickets").fetch_one(&a.db.pool).await.unwrap();
    assert_eq!(stored, 0, "a redeemed ticket is gone");
}

#[tokio::test]
async fn a_stale_or_unknown_ticket_gets_401_json_and_no_upgrade() {
    let app = spawn_app().await;
    let addr = app.addr();
    let Customer { access_token: token, .. } = app.fixtures().anonymous_customer().await;
    let ticket = ticket(&app, &token).await;
    // Backdated: no API makes a ticket older than its 30 seconds.
    sqlx::query("UPDATE ws_tickets SET expires_at = now() - interval '1 second'").execute(&app.db.pool).await.unwrap();
    let (status, body) = connect(addr, None, &format!("?ticket={ticket}")).await.expect_err("stale");
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_token")));
    let (status, _) = connect(addr, None, "?ticket=made-up").await.expect_err("unknown");
    assert_eq!(status, 401);
}

#[tokio::test]
async fn only_a_signed_in_app_user_can_buy_a_ticket_and_only_its_hash_is_stored() {
    let app = spawn_app().await;
    let refused = send(app.client.post("/api/shared/ws/ticket")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let Customer { access_token: token, .. } = app.fixtures().anonymous_customer().await;
    let ticket = ticket(&app, &token).await;
    let hash: Vec<u8> = sqlx::query_scalar("SELECT ticket_hash FROM ws_tickets").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(hash.len(), 32);
    assert_ne!(hash, ticket.as_bytes());
}

#[tokio::test]
async fn a_percent_encoded_access_token_parameter_is_redacted_from_the_request_log() {
    let app = spawn_app().await;
    let Customer { access_token: token, .. } = app.fixtures().anonymous_customer().await;
    let (guard, logs) = capture_logs();
    // The extractor decodes the name, so this authenticates (400: not an upgrade, not 401).
    let reply = send(app.client.get(format!("/api/shared/ws?access%5Ftoken={token}"))).await;
    drop(guard);
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let lines = logs.lines();
    let request_line = lines.iter().find(|l| l.contains("/api/shared/ws")).expect("a request log line");
    assert!(request_line.contains("access%5Ftoken=REDACTED"), "{request_line}");
    assert!(lines.iter().all(|l| !l.contains(&token)), "the token reached a log line");
}
