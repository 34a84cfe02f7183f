//! The one error contract as generated clients meet it: every JSON operation refuses a
//! missing body or a wrong JSON type with 400, token responses are not cacheable and
//! carry the fixed lifetime, a database out of reach is 503, and the spec stays
//! generator-friendly.

use std::time::Duration;

use halo_shared::http::EdgeConfig;
use halo_shared::AppState;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use crate::helpers::{send, spawn_app};

fn committed(service: &str) -> serde_json::Value {
    let path = format!("{}/../../openapi/{service}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("committed spec")).expect("JSON")
}

#[test]
fn both_specs_are_generator_friendly() {
    let own: serde_json::Value = serde_json::from_str(&public_gateway::openapi().spec()).expect("JSON");
    halo_shared::testing::assert_generator_friendly(&[
        ("public-gateway", &own),
        ("internal-cc", &committed("internal-cc")),
    ]);
}

#[tokio::test]
async fn every_json_operation_answers_400_invalid_request_to_a_missing_or_non_json_body() {
    let app = spawn_app().await;
    let customer = format!("Bearer {}", app.anonymous().await.str("access_token"));
    let mitra = format!("Bearer {}", app.sign_in_by_phone("mitra", "081234567000", None).await.str("access_token"));
    let spec = committed("public-gateway");
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        // Webhooks check the caller's own token before they read a byte of the body.
        if path.starts_with("/api/webhooks/") {
            continue;
        }
        let bearer = if path.starts_with("/api/mitra/") { &mitra } else { &customer };
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_none() {
                continue;
            }
            let method: poem::http::Method = method.to_uppercase().parse().unwrap();
            for (content_type, body) in [(None, ""), (Some("text/plain"), "hello"), (Some("application/json"), "")] {
                let mut req = app.client.request(method.clone(), path).header("authorization", bearer).body(body);
                if let Some(ct) = content_type {
                    req = req.content_type(ct);
                }
                let reply = send(req).await;
                assert_eq!(
                    (reply.status, reply.error_code()),
                    (StatusCode::BAD_REQUEST, "invalid_request"),
                    "{method} {path} with {content_type:?} {body:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} operations with a body");
}

#[tokio::test]
async fn a_number_where_a_string_is_required_is_400_and_sends_no_code() {
    let app = spawn_app().await;
    let reply = send(app.client.post("/api/shared/auth/refresh").body_json(&json!({ "refresh_token": 12345 }))).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{}", reply.body);

    let reply =
        send(app.client.post("/api/client/auth/otp/request").body_json(&json!({ "phone": 6281234567890_i64 }))).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{}", reply.body);
    let reply = send(app.client.post("/api/client/auth/otp/request").body_json(&json!({ "phone": true }))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let challenges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM otp_challenges").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(challenges, 0, "no code may be sent for a number");
}

#[tokio::test]
async fn anonymous_sign_in_works_with_no_body_an_empty_body_or_an_empty_object() {
    let app = spawn_app().await;
    let no_body = send(app.client.post("/api/shared/auth/anonymous")).await;
    let empty = send(app.client.post("/api/shared/auth/anonymous").content_type("application/json").body("")).await;
    let object = send(app.client.post("/api/shared/auth/anonymous").body_json(&json!({}))).await;
    for reply in [&no_body, &empty, &object] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(customers, 3);
}

#[tokio::test]
async fn token_responses_are_not_cacheable_and_expires_in_is_the_fixed_lifetime() {
    let app = spawn_app().await;
    let signed_in = app.anonymous().await;
    let refreshed = app.refresh(&signed_in.str("refresh_token")).await;
    for reply in [&signed_in, &refreshed] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert_eq!(reply.headers["pragma"], "no-cache");
        assert_eq!(reply.body["expires_in"], 3600);
        assert_eq!(reply.body["token_type"], "Bearer");
    }
}

#[tokio::test]
async fn a_database_that_refuses_connections_is_503_unavailable_with_retry_after() {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .expect("lazy pool");
    let state = AppState::new(pool, halo_shared::testing::JWT_SECRET, halo_shared::testing::gateway_settings());
    let client = TestClient::new(public_gateway::app(state, EdgeConfig::default()));
    let reply = send(client.post("/api/shared/auth/anonymous")).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{}", reply.body);
    assert_eq!(reply.headers["retry-after"], "5");
}

#[tokio::test]
async fn a_pool_with_no_free_connection_in_time_is_503_unavailable() {
    let db = halo_shared::testing::fresh_database().await;
    let pool =
        PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(1)).connect_lazy_with(db.options);
    let held = pool.acquire().await.expect("the only connection");
    let state = AppState::new(pool.clone(), halo_shared::testing::JWT_SECRET, halo_shared::testing::gateway_settings());
    let client = TestClient::new(public_gateway::app(state, EdgeConfig::default()));
    let reply = send(client.post("/api/shared/auth/anonymous")).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{}", reply.body);
    assert!(reply.headers.contains_key("retry-after"));
    drop(held);
    let reply = send(client.post("/api/shared/auth/anonymous")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}
