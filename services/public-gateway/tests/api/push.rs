//! The push outbox against a local fake FCM and a fake metadata server.

use std::time::Duration;

use halo_shared::notifications::outbox::PushOutbox;
use halo_shared::notifications::{self, NewNotification};
use halo_shared::push::fcm::{Credentials, FcmClient, FcmSettings};
use halo_shared::push::{self, Outbox, WorkerSettings};
use halo_shared::tokens::UserType;
use halo_shared::users::staff::Role;
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::fcm::{client, fakes, fcm_answers};
use crate::helpers::{spawn_app, TestApp};

/// A customer with one registered device, and a notification queued for it.
async fn queued(app: &TestApp, fcm_token: &str) -> Uuid {
    let customer = app.fixtures().anonymous_customer().await;
    app.fixtures().device(&customer.access_token, fcm_token).await;
    let new = NewNotification {
        user_type: UserType::Customer,
        user_id: customer.id,
        title: "Pesanan",
        body: "Mitra sedang menuju lokasi Anda",
        data: json!({ "order_id": "42" }),
    };
    let staff = app.fixtures().staff_actor(Role::Agent).await;
    notifications::send(&app.state, &staff, new).await.unwrap().id
}

async fn outbox(app: &TestApp) -> (String, i32, f64, Option<String>) {
    sqlx::query_as(
        "SELECT status, attempts, EXTRACT(EPOCH FROM next_attempt_at - now())::float8, last_error FROM push_outbox",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_queued_push_is_sent_to_fcm_with_a_metadata_token_and_marked_sent() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    fcm_answers(&fakes, ResponseTemplate::new(200).set_body_json(json!({ "name": "projects/halo-test/messages/1" })))
        .await;
    let id = queued(&app, "device-token-1").await;
    queued(&app, "device-token-2").await;

    let fcm = client(&app, &fakes);
    let handled =
        push::drain_once(&PushOutbox::new(app.db.pool.clone()), &fcm, &WorkerSettings::default()).await.unwrap();
    assert_eq!(handled, 2);

    let received = fakes.fcm.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].headers["authorization"], "Bearer ya29.test-token");
    let body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["message"]["token"], "device-token-1");
    assert_eq!(
        body["message"]["notification"],
        json!({ "title": "Pesanan", "body": "Mitra sedang menuju lokasi Anda" })
    );
    assert_eq!(body["message"]["data"], json!({ "order_id": "42" }));
    assert_eq!(fakes.metadata.received_requests().await.unwrap().len(), 1, "the OAuth token is cached");

    let list = notifications::list(&app.state, Some(id), None).await.unwrap();
    assert_eq!((list[0].push_sent, list[0].push_pending), (1, 0));
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_retry_after() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    fcm_answers(&fakes, ResponseTemplate::new(429).insert_header("retry-after", "120")).await;
    queued(&app, "device-token").await;
    push::drain_once(&PushOutbox::new(app.db.pool.clone()), &client(&app, &fakes), &WorkerSettings::default())
        .await
        .unwrap();
    let (status, attempts, due_in, error) = outbox(&app).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!((110.0..=121.0).contains(&due_in), "{due_in}");
    assert!(error.unwrap().starts_with("429"));
    let again =
        push::drain_once(&PushOutbox::new(app.db.pool.clone()), &client(&app, &fakes), &WorkerSettings::default())
            .await
            .unwrap();
    assert_eq!(again, 0, "not due yet");
}

#[tokio::test]
async fn a_503_is_retried_with_exponential_backoff_then_given_up() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    fcm_answers(&fakes, ResponseTemplate::new(503)).await;
    queued(&app, "device-token").await;
    let settings = WorkerSettings { max_attempts: 2, ..WorkerSettings::default() };
    let fcm = client(&app, &fakes);
    push::drain_once(&PushOutbox::new(app.db.pool.clone()), &fcm, &settings).await.unwrap();
    let (status, attempts, due_in, _) = outbox(&app).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!((1.0..=2.1).contains(&due_in), "first backoff is 2 s, got {due_in}");

    // Brought forward: no API makes a backed-off push due sooner.
    sqlx::query("UPDATE push_outbox SET next_attempt_at = now()").execute(&app.db.pool).await.unwrap();
    push::drain_once(&PushOutbox::new(app.db.pool.clone()), &fcm, &settings).await.unwrap();
    let (status, attempts, _, _) = outbox(&app).await;
    assert_eq!((status.as_str(), attempts), ("failed", 2));
}

#[tokio::test]
async fn an_unregistered_token_is_marked_dead_and_its_device_deleted() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    fcm_answers(
        &fakes,
        ResponseTemplate::new(404).set_body_json(json!({ "error": {
            "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
            "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED" }]
        }})),
    )
    .await;
    queued(&app, "stale-token").await;
    push::drain_once(&PushOutbox::new(app.db.pool.clone()), &client(&app, &fakes), &WorkerSettings::default())
        .await
        .unwrap();
    assert_eq!(outbox(&app).await.0, "dead_token");
    let devices: i64 = sqlx::query_scalar("SELECT count(*) FROM devices").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(devices, 0);
}

#[tokio::test]
async fn an_invalid_argument_about_the_token_is_a_dead_token_too() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    fcm_answers(
        &fakes,
        ResponseTemplate::new(400).set_body_json(json!({ "error": {
            "code": 400, "message": "The registration token is not a valid FCM registration token", "status": "INVALID_ARGUMENT",
            "details": [{ "errorCode": "INVALID_ARGUMENT" }]
        }})),
    )
    .await;
    queued(&app, "garbage-token").await;
    push::drain_once(&PushOutbox::new(app.db.pool.clone()), &client(&app, &fakes), &WorkerSettings::default())
        .await
        .unwrap();
    assert_eq!(outbox(&app).await.0, "dead_token");
}

#[tokio::test]
async fn a_crash_between_claim_and_send_leaves_the_push_to_be_retried() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    fcm_answers(&fakes, ResponseTemplate::new(200).set_body_json(json!({}))).await;
    queued(&app, "device-token").await;
    let settings = WorkerSettings { lease: Duration::from_secs(60), ..WorkerSettings::default() };

    // A worker claims the row and dies before sending.
    let claimed = PushOutbox::new(app.db.pool.clone()).claim(&settings).await.unwrap();
    assert_eq!(claimed.len(), 1);
    drop(claimed);
    assert_eq!(
        push::drain_once(&PushOutbox::new(app.db.pool.clone()), &client(&app, &fakes), &settings).await.unwrap(),
        0,
        "leased, not lost"
    );

    // The dead worker's lease runs out: no API makes a lease older.
    sqlx::query("UPDATE push_outbox SET lease_until = now() - interval '1 second'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        push::drain_once(&PushOutbox::new(app.db.pool.clone()), &client(&app, &fakes), &settings).await.unwrap(),
        1
    );
    let (status, attempts, _, _) = outbox(&app).await;
    assert_eq!((status.as_str(), attempts), ("sent", 2));
    assert_eq!(fakes.fcm.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_service_account_key_file_gets_its_token_by_the_jwt_bearer_grant() {
    let (app, fakes) = (spawn_app().await, fakes().await);
    fcm_answers(&fakes, ResponseTemplate::new(200).set_body_json(json!({}))).await;
    let token_server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "access_token": "ya29.from-key", "expires_in": 3600 })),
        )
        .mount(&token_server)
        .await;
    let fixture =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/service-account.json")).unwrap();
    let key_file = std::env::temp_dir().join(format!("halo-sa-{}.json", Uuid::new_v4()));
    std::fs::write(&key_file, fixture.replace("TOKEN_URI", &format!("{}/token", token_server.uri()))).unwrap();
    let settings = FcmSettings {
        project_id: "halo-test".into(),
        base_url: fakes.fcm.uri(),
        credentials: Credentials::KeyFile { path: key_file.to_string_lossy().into_owned() },
    };
    queued(&app, "device-token").await;
    push::drain_once(
        &PushOutbox::new(app.db.pool.clone()),
        &FcmClient::new(settings, app.state.http.clone()),
        &WorkerSettings::default(),
    )
    .await
    .unwrap();
    let _ = std::fs::remove_file(&key_file);

    let grant = &token_server.received_requests().await.unwrap()[0];
    let form: std::collections::HashMap<String, String> = url_pairs(&grant.body);
    assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let assertion = jsonwebtoken::decode::<serde_json::Value>(
        &form["assertion"],
        &jsonwebtoken::DecodingKey::from_rsa_components(&rsa2_n(), "AQAB").unwrap(),
        &{
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            v.set_audience(&[format!("{}/token", token_server.uri())]);
            v
        },
    )
    .expect("the assertion is signed with the key file's key")
    .claims;
    assert_eq!(assertion["iss"], "push@halo-test.iam.gserviceaccount.com");
    assert_eq!(assertion["scope"], "https://www.googleapis.com/auth/firebase.messaging");
    assert_eq!(fakes.fcm.received_requests().await.unwrap()[0].headers["authorization"], "Bearer ya29.from-key");
}

fn rsa2_n() -> String {
    let jwks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa-public-jwks.json")).unwrap(),
    )
    .unwrap();
    jwks["rsa2"]["n"].as_str().unwrap().to_owned()
}

fn url_pairs(body: &[u8]) -> std::collections::HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":").replace("%2F", "/").replace('+', " ")))
        .collect()
}
