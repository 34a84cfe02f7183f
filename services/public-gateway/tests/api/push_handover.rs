//! A push queued for one user is never delivered to whoever holds the phone next.

use halo_shared::notifications::outbox::PushOutbox;
use halo_shared::notifications::{self, NewNotification};
use halo_shared::push::{self, WorkerSettings};
use halo_shared::tokens::UserType;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::json;
use uuid::Uuid;
use wiremock::ResponseTemplate;

use crate::helpers::fcm::{client, fakes, fcm_answers, Fakes};
use crate::helpers::{send, spawn_app, TestApp};

const PHONE_TOKEN: &str = "fcm-token-of-the-shared-phone";

async fn register_device(app: &TestApp, access_token: &str, fcm_token: &str) -> StatusCode {
    send(
        app.client
            .put("/api/shared/devices")
            .header("authorization", format!("Bearer {access_token}"))
            .body_json(&json!({ "fcm_token": fcm_token, "platform": "android" })),
    )
    .await
    .status
}

/// Staff send `user` a private notification; returns nothing (the outbox holds it).
async fn notify(app: &TestApp, user: Uuid) {
    let staff = app.fixtures().staff_actor(Role::Agent).await;
    let new = NewNotification {
        user_type: UserType::Customer,
        user_id: user,
        title: "Untuk A saja",
        body: "Pesan pribadi A",
        data: json!({}),
    };
    notifications::send(&app.state, &staff, new).await.unwrap();
}

/// A's push fails once (FCM 503) and waits in the outbox; returns A's access token.
async fn pending_push_for_a(app: &TestApp, fakes: &Fakes) -> String {
    let a = app.anonymous().await.str("access_token");
    assert_eq!(register_device(app, &a, PHONE_TOKEN).await, StatusCode::NO_CONTENT);
    notify(app, app.claims(&a).sub).await;
    fcm_answers(fakes, ResponseTemplate::new(503)).await;
    push::drain_once(&PushOutbox::new(app.db.pool.clone()), &client(app, fakes), &WorkerSettings::default())
        .await
        .unwrap();
    fcm_answers(fakes, ResponseTemplate::new(200).set_body_json(json!({ "name": "projects/halo-test/messages/1" })))
        .await;
    a
}

async fn due_now_and_drain(app: &TestApp, fakes: &Fakes) -> (String, Option<String>) {
    // Brought forward: no API makes a backed-off push due sooner.
    sqlx::query("UPDATE push_outbox SET next_attempt_at = now()").execute(&app.db.pool).await.unwrap();
    push::drain_once(&PushOutbox::new(app.db.pool.clone()), &client(app, fakes), &WorkerSettings::default())
        .await
        .unwrap();
    sqlx::query_as("SELECT status, last_error FROM push_outbox").fetch_one(&app.db.pool).await.unwrap()
}

#[tokio::test]
async fn a_push_queued_before_logout_is_not_delivered_to_the_next_user_of_the_phone() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    let a = pending_push_for_a(&app, &fakes).await;

    assert_eq!(app.logout(&a).await.status, StatusCode::NO_CONTENT);
    let b = app.anonymous().await.str("access_token");
    assert_eq!(register_device(&app, &b, PHONE_TOKEN).await, StatusCode::NO_CONTENT);

    let (status, error) = due_now_and_drain(&app, &fakes).await;
    assert!(fakes.fcm.received_requests().await.unwrap().is_empty(), "FCM must not receive A's message for B's phone");
    assert_eq!(status, "failed");
    assert!(error.unwrap().starts_with("device_gone"));
}

#[tokio::test]
async fn a_push_queued_before_a_device_hand_over_without_logout_is_dropped() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    pending_push_for_a(&app, &fakes).await;
    let b = app.anonymous().await.str("access_token");
    assert_eq!(register_device(&app, &b, PHONE_TOKEN).await, StatusCode::NO_CONTENT);

    let (status, _) = due_now_and_drain(&app, &fakes).await;
    assert!(fakes.fcm.received_requests().await.unwrap().is_empty());
    assert_eq!(status, "failed");
}

#[tokio::test]
async fn a_pending_push_still_reaches_the_device_that_is_still_signed_in() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    pending_push_for_a(&app, &fakes).await;
    let (status, _) = due_now_and_drain(&app, &fakes).await;
    assert_eq!(status, "sent");
    assert_eq!(fakes.fcm.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_fcm_token_longer_than_the_index_can_hold_is_a_400_that_writes_nothing() {
    let app = spawn_app().await;
    let a = app.anonymous().await.str("access_token");
    let huge: String = (0..3000).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
    let reply = send(
        app.client
            .put("/api/shared/devices")
            .header("authorization", format!("Bearer {a}"))
            .body_json(&json!({ "fcm_token": huge, "platform": "android" })),
    )
    .await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    let devices: i64 = sqlx::query_scalar("SELECT count(*) FROM devices").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(devices, 0);
}
