//! The internal service's own edge: health, isolation from `/api`, the spec.

use std::collections::BTreeSet;
use std::process::Command;

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{send, spawn_app};

#[tokio::test]
async fn internal_health_and_readiness_answer() {
    let app = spawn_app().await;
    let health = send(app.client.get("/internal/healthz")).await;
    assert_eq!((health.status, health.body), (StatusCode::OK, json!({ "status": "ok" })));
    let ready = send(app.client.get("/internal/readyz")).await;
    assert_eq!((ready.status, ready.body), (StatusCode::OK, json!({ "status": "ok" })));
}

#[tokio::test]
async fn every_api_path_is_404_json_here() {
    let app = spawn_app().await;
    for path in ["/api/shared/auth/session", "/api/client/me", "/healthz", "/docs", "/openapi.json"] {
        let reply = send(app.client.get(path)).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::NOT_FOUND, "not_found"), "{path}");
    }
    let reply = send(app.client.post("/api/shared/auth/anonymous").body_json(&json!({}))).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn the_spec_and_swagger_ui_are_served_under_internal() {
    let app = spawn_app().await;
    let spec = send(app.client.get("/internal/openapi.json")).await;
    assert_eq!((spec.status, &spec.body["openapi"]), (StatusCode::OK, &json!("3.0.0")));
    let docs = app.client.get("/internal/docs").send().await.0;
    assert_eq!(docs.status(), StatusCode::OK);
}

#[test]
fn the_default_listen_address_is_loopback_3001() {
    assert_eq!(internal_cc::DEFAULT_LISTEN, "127.0.0.1:3001".parse().unwrap());
}

#[test]
fn openapi_matches_the_committed_file() {
    halo_shared::testing::assert_committed_spec_is_current(
        env!("CARGO_BIN_EXE_internal-cc"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/internal-cc.json"),
        "internal-cc",
    );
}

#[test]
fn every_operation_requires_a_bearer_token_unless_listed_as_public() {
    let public = halo_shared::testing::public_operations(&internal_cc::openapi().spec());
    let expected: BTreeSet<String> = internal_cc::PUBLIC_OPERATIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(public, expected);
}

#[test]
fn serve_refuses_to_start_without_database_url() {
    let out = Command::new(env!("CARGO_BIN_EXE_internal-cc"))
        .env_clear()
        .env("AUTH_JWT_SECRET", "y".repeat(40))
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL is not set"));
}

#[test]
fn both_specs_are_generator_friendly() {
    let own: serde_json::Value = serde_json::from_str(&internal_cc::openapi().spec()).expect("JSON");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/public-gateway.json");
    let gateway: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("spec")).expect("JSON");
    halo_shared::testing::assert_generator_friendly(&[("internal-cc", &own), ("public-gateway", &gateway)]);
}
