//! Staff sending notifications, and reading their delivery state.

use halo_shared::tokens::UserType;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{send, spawn_app, TestApp};

async fn staff_token(app: &TestApp) -> String {
    app.fixtures().staff(Role::Agent).await.access_token
}

/// A mitra signed in on one device.
async fn mitra_with_device(app: &TestApp) -> Uuid {
    let mitra = app.fixtures().mitra("Sari").await;
    app.fixtures().device(&mitra.access_token, "fcm-m").await;
    mitra.id
}

#[tokio::test]
async fn staff_send_a_notification_that_is_recorded_raised_and_queued_for_push() {
    let app = spawn_app().await;
    let token = staff_token(&app).await;
    let mitra = mitra_with_device(&app).await;
    let reply =
        send(app.client.post("/internal/notifications").header("authorization", format!("Bearer {token}")).body_json(
            &json!({
                "user_type": "mitra", "user_id": mitra, "title": "Order baru", "body": "Ada pesanan di dekat Anda",
                "data": { "order_id": "99" }
            }),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["push"], json!({ "pending": 1, "sent": 0, "failed": 0, "dead_token": 0 }));
    assert!(reply.body["ws_delivered_at"].is_null());

    let (event_type, data): (String, serde_json::Value) =
        sqlx::query_as("SELECT type, data FROM user_events WHERE user_type = 'mitra' AND user_id = $1")
            .bind(mitra)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(event_type, "notification");
    assert_eq!(data["title"], "Order baru");
    let queued: String = sqlx::query_scalar("SELECT fcm_token FROM push_outbox").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(queued, "fcm-m");

    let list = send(
        app.client
            .get(format!("/internal/notifications?user_id={mitra}"))
            .header("authorization", format!("Bearer {token}")),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));
    assert_eq!(list.body[0]["id"], reply.body["id"]);
}

#[tokio::test]
async fn a_notification_to_an_unknown_user_is_404_and_writes_nothing() {
    let app = spawn_app().await;
    let token = staff_token(&app).await;
    let reply =
        send(app.client.post("/internal/notifications").header("authorization", format!("Bearer {token}")).body_json(
            &json!({
                "user_type": "customer", "user_id": Uuid::new_v4(), "title": "x", "body": "y"
            }),
        ))
        .await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::NOT_FOUND, "not_found"));
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM user_events").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(events, 0);
}

#[tokio::test]
async fn only_staff_may_send_or_list_notifications() {
    let app = spawn_app().await;
    let (customer, _) =
        app.state.keys.mint(Uuid::new_v4(), UserType::Customer, Uuid::new_v4(), chrono::Utc::now().timestamp());
    let post = send(
        app.client.post("/internal/notifications").header("authorization", format!("Bearer {customer}")).body_json(
            &json!({
                "user_type": "customer", "user_id": Uuid::new_v4(), "title": "x", "body": "y"
            }),
        ),
    )
    .await;
    assert_eq!((post.status, post.error_code()), (StatusCode::FORBIDDEN, "forbidden"));
    let get = send(app.client.get(format!("/internal/notifications?user_id={}", Uuid::new_v4()))).await;
    assert_eq!((get.status, get.error_code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
}
