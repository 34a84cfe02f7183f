//! The edge every request passes: error shape, request ids, health, isolation.

use halo_shared::http::EdgeConfig;
use halo_shared::AppState;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use crate::helpers::{send, spawn_app};

#[tokio::test]
async fn healthz_answers_ok_and_readyz_checks_the_database() {
    let app = spawn_app().await;
    let health = send(app.client.get("/healthz")).await;
    assert_eq!((health.status, health.body), (StatusCode::OK, json!({ "status": "ok" })));
    app.listening().await;
    let ready = send(app.client.get("/readyz")).await;
    assert_eq!((ready.status, ready.body), (StatusCode::OK, json!({ "status": "ok" })));
}

#[tokio::test]
async fn readyz_is_503_json_when_the_database_is_unreachable() {
    let pool = PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:1/none").expect("lazy pool");
    let state = AppState::new(pool, halo_shared::testing::JWT_SECRET, halo_shared::testing::gateway_settings());
    let client = TestClient::new(public_gateway::app(state, EdgeConfig::default()));
    let ready = send(client.get("/readyz")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.error_code(), "unavailable");
    let health = send(client.get("/healthz")).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_are_404_json_including_every_internal_path() {
    let app = spawn_app().await;
    for path in ["/nope", "/internal/auth/login", "/internal/healthz", "/internal/docs", "/api/client/nothing"] {
        let reply = send(app.client.get(path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.error_code(), "not_found", "{path}");
    }
    let reply = send(app.client.post("/internal/auth/login").body_json(&json!({}))).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn a_wrong_method_is_405_json() {
    let app = spawn_app().await;
    let reply = send(app.client.delete("/api/shared/auth/refresh")).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
}

#[tokio::test]
async fn malformed_json_missing_fields_and_wrong_content_type_are_400_json_errors() {
    let app = spawn_app().await;
    let malformed =
        send(app.client.post("/api/shared/auth/refresh").content_type("application/json").body("{\"refresh_token\":"))
            .await;
    assert_eq!((malformed.status, malformed.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));

    let missing = send(app.client.post("/api/shared/auth/refresh").body_json(&json!({}))).await;
    assert_eq!((missing.status, missing.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert!(missing.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));

    let text = send(app.client.post("/api/shared/auth/refresh").content_type("text/plain").body("hi")).await;
    assert_eq!((text.status, text.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_with_413_and_change_nothing() {
    let app = spawn_app().await;
    let big = format!("{{\"refresh_token\":\"{}\"}}", "a".repeat(70 * 1024));
    let reply = send(app.client.post("/api/shared/auth/refresh").content_type("application/json").body(big)).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_sessions").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn the_request_id_is_echoed_or_generated_on_every_response() {
    let app = spawn_app().await;
    let reply = send(app.client.get("/healthz").header("x-request-id", "abc-123")).await;
    assert_eq!(reply.headers["x-request-id"], "abc-123");
    let reply = send(app.client.get("/missing").header("x-request-id", "err-9")).await;
    assert_eq!((reply.status, &reply.headers["x-request-id"]), (StatusCode::NOT_FOUND, &"err-9".parse().unwrap()));
    let generated = send(app.client.get("/healthz")).await;
    let id = generated.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32);
}

#[tokio::test]
async fn the_spec_and_swagger_ui_are_served() {
    let app = spawn_app().await;
    let spec = send(app.client.get("/openapi.json")).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.body["openapi"], "3.0.0");
    let docs = app.client.get("/docs").send().await.0;
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.into_body().into_string().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
}
