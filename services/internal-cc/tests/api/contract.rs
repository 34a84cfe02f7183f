//! The error contract and token responses as the control-center SPA's generated client
//! meets them.

use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{refresh_cookie, send, spawn_app, PASSWORD};

#[tokio::test]
async fn login_and_refresh_answers_are_not_cacheable_and_carry_the_fixed_lifetime() {
    let app = spawn_app().await;
    app.create_staff("agent@halo.test", Role::Agent).await;
    let login = app.login("agent@halo.test", PASSWORD).await;
    let refreshed = app.refresh_with_cookie(&refresh_cookie(&login)).await;
    for reply in [&login, &refreshed] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert_eq!(reply.headers["pragma"], "no-cache");
        assert_eq!(
            (reply.body["expires_in"].clone(), reply.body["token_type"].clone()),
            (json!(3600), json!("Bearer"))
        );
        assert_eq!(reply.body["user"]["role"], "agent");
    }
}

#[tokio::test]
async fn wrong_json_types_and_missing_bodies_are_400_invalid_request() {
    let app = spawn_app().await;
    app.create_staff("agent@halo.test", Role::Agent).await;
    let number =
        send(app.client.post("/internal/auth/login").body_json(&json!({ "email": 123, "password": PASSWORD }))).await;
    let missing = send(app.client.post("/internal/auth/login")).await;
    for reply in [&number, &missing] {
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{}", reply.body);
    }
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_sessions").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn refresh_without_the_cookie_is_401_invalid_refresh_token() {
    let app = spawn_app().await;
    let reply = send(app.client.post("/internal/auth/refresh")).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_refresh_token"));
}

#[tokio::test]
async fn a_notification_whose_data_holds_a_number_is_400_and_writes_nothing() {
    let app = spawn_app().await;
    let token = app.fixtures().staff(Role::Agent).await.access_token;
    let customer = app.fixtures().verified_customer().await.id;
    let reply = send(app.client.post("/internal/notifications").header("authorization", format!("Bearer {token}")).body_json(
        &json!({ "user_type": "customer", "user_id": customer, "title": "x", "body": "y", "data": { "order": 42 } }),
    ))
    .await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{}", reply.body);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM user_events").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(events, 0);
}
