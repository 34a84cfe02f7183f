//! Payments (contract §9) against a fake Xendit that records what it receives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use halo_shared::providers::payments::{PaymentProvider, PaymentSettings};
use halo_shared::state::GatewaySettings;
use halo_shared::testing;
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{next_start, relaxed, send, spawn_app_with, Reply, TestApp};

const SECRET_KEY: &str = "xnd_development_test_key";
const CALLBACK_TOKEN: &str = "callback-token-from-the-dashboard";
const BIN: &str = env!("CARGO_BIN_EXE_public-gateway");

/// What the fake answers for an invoice made for `external_id`.
fn invoice(external_id: &str, amount: i64, status: &str) -> Value {
    json!({
        "id": format!("inv-{external_id}"), "external_id": external_id, "user_id": "biz-1", "status": status,
        "amount": amount, "invoice_url": format!("https://checkout.xendit.test/{external_id}"),
        "expiry_date": "2026-12-01T10:00:00.000Z", "currency": "IDR"
    })
}

/// Invoices echo the request: the id Xendit gives, the order's `external_id` and amount.
fn echo_invoice(status: u16) -> impl Fn(&Request) -> ResponseTemplate + Send + Sync {
    move |req: &Request| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let external_id = body["external_id"].as_str().unwrap();
        ResponseTemplate::new(status).set_body_json(invoice(external_id, body["amount"].as_i64().unwrap(), "PENDING"))
    }
}

async fn fake_xendit(create_status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/invoices"))
        .respond_with(echo_invoice(create_status))
        .mount(&server)
        .await;
    server
}

fn xendit_settings(server: &MockServer) -> GatewaySettings {
    let mut settings = relaxed();
    settings.shared.payments = PaymentSettings {
        provider: PaymentProvider::Xendit { secret_key: SECRET_KEY.to_owned().into(), base_url: server.uri() },
        callback_token: Some(CALLBACK_TOKEN.to_owned().into()),
        invoice_duration_secs: 1800,
    };
    settings
}

struct Shop {
    customer: String,
    mitra: String,
    service: Uuid,
}

impl TestApp {
    /// A listed mitra with a 150,000 rupiah service, and a verified customer.
    async fn shop(&self) -> Shop {
        let mitra = self.fixtures().listed_mitra("Sari").await;
        let customer = self.fixtures().verified_customer().await.access_token;
        Shop { customer, mitra: mitra.token, service: mitra.service_id }
    }

    async fn buy(&self, shop: &Shop, key: Option<&str>) -> Reply {
        let mut req = self
            .client
            .post("/api/client/orders")
            .header("authorization", format!("Bearer {}", shop.customer))
            .body_json(&json!({ "service_id": shop.service,
                                "starts_at": next_start(key.map(|k| format!("{}{k}", shop.customer)).as_deref()) }));
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        send(req).await
    }

    async fn callback(&self, kind: &str, token: Option<&str>, body: &str) -> Reply {
        let mut req = self
            .client
            .post(format!("/api/webhooks/xendit/{kind}"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            req = req.header("x-callback-token", token);
        }
        send(req).await
    }

    async fn status_of(&self, order: &str) -> (String, Option<String>) {
        sqlx::query_as("SELECT status, payment_issue FROM orders WHERE id = $1")
            .bind(Uuid::parse_str(order).unwrap())
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db.pool).await.unwrap()
    }
}

fn paid(order: &str, amount: i64) -> String {
    json!({ "id": format!("inv-{order}"), "external_id": order, "status": "PAID", "amount": amount,
            "paid_amount": amount, "paid_at": "2026-11-30T10:00:00.000Z", "payment_method": "EWALLET",
            "payment_channel": "OVO" })
    .to_string()
}

#[tokio::test]
async fn creating_an_order_opens_a_xendit_invoice_with_the_secret_key() {
    let xendit = fake_xendit(200).await;
    let app = spawn_app_with(xendit_settings(&xendit)).await;
    let shop = app.shop().await;

    let order = app.buy(&shop, None).await;

    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    let id = order.str("id");
    assert_eq!(order.body["payment"]["invoice_url"], format!("https://checkout.xendit.test/{id}"));
    let expires: chrono::DateTime<chrono::Utc> = order.body["payment"]["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires, "2026-12-01T10:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap());
    let received = xendit.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let auth = received[0].headers.get("authorization").unwrap().to_str().unwrap().to_owned();
    use base64::Engine;
    assert_eq!(auth, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SECRET_KEY}:"))));
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        (
            body["external_id"].as_str(),
            body["amount"].as_i64(),
            body["currency"].as_str(),
            body["invoice_duration"].as_i64()
        ),
        (Some(id.as_str()), Some(150000), Some("IDR"), Some(1800))
    );
}

#[tokio::test]
async fn when_xendit_fails_the_customer_gets_503_and_no_order_is_left_behind() {
    let xendit = fake_xendit(500).await;
    let app = spawn_app_with(xendit_settings(&xendit)).await;
    let shop = app.shop().await;

    let failed = app.buy(&shop, None).await;

    assert_eq!((failed.status, failed.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "payment_unavailable"));
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM order_events").await, 0);

    let slow = MockServer::start().await;
    let hanging = echo_invoice(200);
    Mock::given(method("POST"))
        .respond_with(move |req: &Request| hanging(req).set_delay(std::time::Duration::from_secs(8)))
        .mount(&slow)
        .await;
    let app = spawn_app_with(xendit_settings(&slow)).await;
    let shop = app.shop().await;
    let timed_out = app.buy(&shop, None).await;
    assert_eq!(timed_out.error_code(), "payment_unavailable", "a hanging Xendit is cut off, not waited for");
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 0);
}

#[tokio::test]
async fn a_keyed_retry_reuses_the_invoice_an_answerless_first_attempt_made() {
    let xendit = MockServer::start().await;
    // Xendit makes the invoice but the answer never arrives: 502 from its edge.
    let made: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();
    let recorder = made.clone();
    Mock::given(method("POST"))
        .and(path("/v2/invoices"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            recorder.lock().unwrap().push(invoice(
                body["external_id"].as_str().unwrap(),
                body["amount"].as_i64().unwrap(),
                "PENDING",
            ));
            ResponseTemplate::new(502)
        })
        .mount(&xendit)
        .await;
    let found = made.clone();
    Mock::given(method("GET"))
        .and(path("/v2/invoices"))
        .respond_with(move |req: &Request| {
            let wanted = req.url.query_pairs().find(|(k, _)| k == "external_id").map(|(_, v)| v.into_owned());
            let list: Vec<Value> = found
                .lock()
                .unwrap()
                .iter()
                .filter(|i| i["external_id"].as_str() == wanted.as_deref())
                .cloned()
                .collect();
            ResponseTemplate::new(200).set_body_json(list)
        })
        .mount(&xendit)
        .await;
    let app = spawn_app_with(xendit_settings(&xendit)).await;
    let shop = app.shop().await;

    let first = app.buy(&shop, Some("checkout-7")).await;
    let retry = app.buy(&shop, Some("checkout-7")).await;

    assert_eq!(first.error_code(), "payment_unavailable");
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    let posts = xendit.received_requests().await.unwrap().iter().filter(|r| r.method.as_str() == "POST").count();
    assert_eq!(posts, 1, "the retry found the invoice instead of making a second");
    let id = retry.str("id");
    assert_eq!(retry.body["payment"]["invoice_url"], format!("https://checkout.xendit.test/{id}"));
}

#[tokio::test]
async fn callbacks_without_the_right_token_are_refused_and_change_nothing() {
    let xendit = fake_xendit(200).await;
    let app = spawn_app_with(xendit_settings(&xendit)).await;
    let shop = app.shop().await;
    let id = app.buy(&shop, None).await.str("id");

    let missing = app.callback("invoice", None, &paid(&id, 150000)).await;
    let wrong = app.callback("invoice", Some("callback-token-from-the-dashboarD"), &paid(&id, 150000)).await;
    let refund = app.callback("refund", Some("nope"), "{}").await;

    for reply in [&missing, &wrong, &refund] {
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    }
    assert_eq!(app.status_of(&id).await.0, "pending_payment");
    assert_eq!(app.count("SELECT count(*) FROM payment_callbacks").await, 0);
}

#[tokio::test]
async fn a_paid_callback_pays_the_order_once_however_often_it_arrives() {
    let xendit = fake_xendit(200).await;
    let app = spawn_app_with(xendit_settings(&xendit)).await;
    let shop = app.shop().await;
    let id = app.buy(&shop, None).await.str("id");
    let body = paid(&id, 150000);

    let replies =
        futures_util::future::join_all((0..50).map(|_| app.callback("invoice", Some(CALLBACK_TOKEN), &body))).await;

    assert!(replies.iter().all(|r| r.status == StatusCode::OK), "every authentic callback is answered 200");
    assert_eq!(app.status_of(&id).await, ("paid".to_owned(), None));
    let order = Uuid::parse_str(&id).unwrap();
    let moves: i64 = sqlx::query_scalar("SELECT count(*) FROM order_events WHERE order_id = $1 AND to_status = 'paid'")
        .bind(order)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(moves, 1);
    assert_eq!(app.count("SELECT count(*) FROM payment_callbacks WHERE kind = 'invoice'").await, 50, "all stored");
    assert_eq!(app.count("SELECT count(*) FROM payment_callbacks WHERE outcome = 'changed'").await, 1);
    let told_mitra: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM user_events WHERE user_type = 'mitra' AND type = 'order.updated' AND data->>'status' = 'paid'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(told_mitra, 1, "the mitra is told once");
    let mitra_order = app.get_with(&format!("/api/mitra/orders/{id}"), &shop.mitra).await;
    assert!(mitra_order.body["payment"]["paid_at"].is_string());

    let expired = json!({ "id": format!("inv-{id}"), "external_id": id, "status": "EXPIRED", "amount": 150000 });
    let late = app.callback("invoice", Some(CALLBACK_TOKEN), &expired.to_string()).await;
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(app.status_of(&id).await.0, "paid", "an EXPIRED after PAID changes nothing");
}

#[tokio::test]
async fn odd_callbacks_are_stored_and_answered_without_moving_orders_the_wrong_way() {
    let xendit = fake_xendit(200).await;
    let app = spawn_app_with(xendit_settings(&xendit)).await;
    let shop = app.shop().await;
    let short = app.buy(&shop, None).await.str("id");
    let unpaid = app.buy(&shop, None).await.str("id");

    let mismatch = app.callback("invoice", Some(CALLBACK_TOKEN), &paid(&short, 15000)).await;
    let malformed = app.callback("invoice", Some(CALLBACK_TOKEN), "{\"id\": \"inv-1\", \"status\": ").await;
    let fractional =
        app.callback("invoice", Some(CALLBACK_TOKEN), &paid(&unpaid, 150000).replace("150000,", "150000.5,")).await;
    let unknown = app.callback("invoice", Some(CALLBACK_TOKEN), &paid(&Uuid::new_v4().to_string(), 150000)).await;
    let foreign = json!({ "id": "inv-x", "external_id": unpaid, "status": "EXPIRED", "amount": 150000 });
    let ignored = app.callback("invoice", Some(CALLBACK_TOKEN), &foreign.to_string()).await;
    assert_eq!(app.status_of(&unpaid).await.0, "pending_payment", "another invoice's expiry is not this order's");
    let expired =
        json!({ "id": format!("inv-{unpaid}"), "external_id": unpaid, "status": "EXPIRED", "amount": 150000 });
    let expiry = app.callback("invoice", Some(CALLBACK_TOKEN), &expired.to_string()).await;

    assert_eq!(mismatch.status, StatusCode::OK);
    let (status, issue) = app.status_of(&short).await;
    assert_eq!(status, "expired", "a wrong amount never pays the order: it expires, the money waits for staff");
    assert_eq!(issue.as_deref(), Some("amount_mismatch"));
    assert_eq!(malformed.status, StatusCode::OK, "authentic but malformed: answered 200 so Xendit stops retrying");
    assert_eq!(fractional.status, StatusCode::OK, "money is whole rupiah: a fraction is malformed");
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(expiry.status, StatusCode::OK);
    assert_eq!(app.status_of(&unpaid).await.0, "expired");
    let outcomes: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM payment_callbacks ORDER BY id").fetch_all(&app.db.pool).await.unwrap();
    assert_eq!(ignored.status, StatusCode::OK);
    assert_eq!(outcomes, ["flagged", "malformed", "malformed", "unknown_order", "unchanged", "changed"]);
}

#[tokio::test]
async fn a_paid_callback_in_another_currency_flags_the_order_and_moves_no_money() {
    let xendit = fake_xendit(200).await;
    let app = spawn_app_with(xendit_settings(&xendit)).await;
    let shop = app.shop().await;
    let order = app.buy(&shop, None).await.str("id");

    let mut body: Value = serde_json::from_str(&paid(&order, 150000)).unwrap();
    body["currency"] = json!("USD");
    let answer = app.callback("invoice", Some(CALLBACK_TOKEN), &body.to_string()).await;

    assert_eq!(answer.status, StatusCode::OK, "authentic: answered so Xendit stops retrying");
    let (status, issue) = app.status_of(&order).await;
    assert_eq!(status, "pending_payment", "150,000 of another currency does not pay a rupiah order");
    assert_eq!(issue.as_deref(), Some("currency_mismatch"), "staff see it");
    let postings: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger_postings").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(postings, 0, "the ledger is in whole rupiah: nothing is posted");
    let outcome: String =
        sqlx::query_scalar("SELECT outcome FROM payment_callbacks").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(outcome, "flagged");
}

#[tokio::test]
async fn reconciliation_applies_a_missed_paid_callback_and_prints_how_many_changed() {
    let xendit = fake_xendit(200).await;
    let app = spawn_app_with(xendit_settings(&xendit)).await;
    let shop = app.shop().await;
    let missed = app.buy(&shop, None).await.str("id");
    let recent = app.buy(&shop, None).await.str("id");
    // Backdated past reconciliation's minute: no API makes an order older.
    sqlx::query("UPDATE orders SET created_at = now() - interval '2 minutes' WHERE id = $1")
        .bind(Uuid::parse_str(&missed).unwrap())
        .execute(&app.db.pool)
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/v2/invoices"))
        .respond_with(|req: &Request| {
            let id = req.url.query_pairs().find(|(k, _)| k == "external_id").unwrap().1.into_owned();
            let mut paid = invoice(&id, 150000, "PAID");
            paid["paid_amount"] = json!(150000);
            ResponseTemplate::new(200).set_body_json(json!([paid]))
        })
        .mount(&xendit)
        .await;

    let out = std::process::Command::new(BIN)
        .env_clear()
        .env("DATABASE_URL", app.db.url())
        .env("XENDIT_SECRET_KEY", SECRET_KEY)
        .env("XENDIT_CALLBACK_TOKEN", CALLBACK_TOKEN)
        .env("XENDIT_BASE_URL", xendit.uri())
        .arg("reconcile-payments")
        .output()
        .unwrap();

    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let printed: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('{')).collect();
    assert_eq!(printed, ["1"], "the count, beside the JSON log lines: {stdout}");
    assert_eq!(app.status_of(&missed).await.0, "paid");
    assert_eq!(app.status_of(&recent).await.0, "pending_payment", "younger than a minute: left to its callback");
}

#[tokio::test]
async fn a_declined_paid_order_is_refunded_once_even_when_the_first_request_fails() {
    let xendit = fake_xendit(200).await;
    let refund_calls = Arc::new(AtomicUsize::new(0));
    let calls = refund_calls.clone();
    Mock::given(method("POST"))
        .and(path("/refunds"))
        .respond_with(move |req: &Request| {
            // The first refund request fails; the retry is accepted.
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return ResponseTemplate::new(503);
            }
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            ResponseTemplate::new(200).set_body_json(json!({
                "id": "rfd-1", "invoice_id": body["invoice_id"], "reference_id": body["reference_id"],
                "amount": body["amount"], "currency": "IDR", "status": "PENDING"
            }))
        })
        .mount(&xendit)
        .await;
    let app = spawn_app_with(xendit_settings(&xendit)).await;
    let shop = app.shop().await;
    let id = app.buy(&shop, None).await.str("id");
    app.callback("invoice", Some(CALLBACK_TOKEN), &paid(&id, 150000)).await;

    let declined = app.bearer_send("POST", &format!("/api/mitra/orders/{id}/decline"), &shop.mitra, None).await;
    assert_eq!((declined.status, declined.body["status"].as_str()), (StatusCode::OK, Some("refund_pending")));
    assert_eq!(declined.body["refunds"][0]["status"], "requested", "{}", declined.body);
    let refund_id = declined.body["refunds"][0]["id"].as_str().unwrap().to_owned();
    let changed =
        halo_shared::payments::reconcile::run(&halo_shared::payments::Payments::of(&app.state)).await.unwrap();
    assert_eq!(changed, 1);
    assert_eq!(app.status_of(&id).await.0, "refund_pending");

    let refunds: Vec<_> =
        xendit.received_requests().await.unwrap().into_iter().filter(|r| r.url.path() == "/refunds").collect();
    assert_eq!(refunds.len(), 2);
    let keys: Vec<String> =
        refunds.iter().map(|r| r.headers.get("idempotency-key").unwrap().to_str().unwrap().to_owned()).collect();
    assert_eq!(keys, vec![refund_id.clone(), refund_id.clone()], "the refund's own id both times: never two refunds");
    let body: Value = serde_json::from_slice(&refunds[1].body).unwrap();
    assert_eq!(
        (body["invoice_id"].as_str(), body["amount"].as_i64(), body["reference_id"].as_str()),
        (Some(format!("inv-{id}").as_str()), Some(150000), Some(refund_id.as_str()))
    );

    let done = json!({ "event": "refund.succeeded", "business_id": "biz-1", "created": "2026-11-30T10:00:00Z",
                       "data": { "id": "rfd-1", "invoice_id": format!("inv-{id}"), "reference_id": refund_id,
                                 "amount": 150000, "status": "SUCCEEDED" } });
    let reply = app.callback("refund", Some(CALLBACK_TOKEN), &done.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(app.status_of(&id).await.0, "refunded");
}

#[tokio::test]
async fn with_the_stub_an_order_walks_from_creation_to_completion_by_the_logged_request() {
    let mut settings = relaxed();
    settings.shared.payments.callback_token = Some("local-dev-token".to_owned().into());
    let app = spawn_app_with(settings).await;
    let shop = app.shop().await;

    let (guard, logs) = testing::capture_logs();
    let order = app.buy(&shop, None).await;
    drop(guard);

    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    let id = order.str("id");
    let line = logs
        .lines()
        .into_iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .filter_map(|l| l["message"].as_str().map(str::to_owned))
        .find(|m| m.starts_with("[PAYMENT STUB]"))
        .expect("the stub logged how to pay");
    assert!(line.starts_with(&format!("[PAYMENT STUB] order={id} amount=150000 pay: curl")), "{line}");
    let token = line.split("x-callback-token: ").nth(1).unwrap().split('\'').next().unwrap();
    assert_ne!(token, "local-dev-token", "the stub makes its own token: the configured one is never logged");
    let body = line.split("-d '").nth(1).unwrap().trim_end_matches('\'');

    let paid = app.callback("invoice", Some(token), body).await;
    assert_eq!(paid.status, StatusCode::OK);
    assert_eq!(app.status_of(&id).await.0, "paid");
    for step in ["accept", "complete"] {
        if step == "complete" {
            app.fixtures().time_passes(id.parse().unwrap()).await;
        }
        let moved = app.bearer_send("POST", &format!("/api/mitra/orders/{id}/{step}"), &shop.mitra, None).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    }
    assert_eq!(app.status_of(&id).await.0, "completed");
}

#[test]
fn the_payment_stub_refuses_to_start_on_cloud_run() {
    let out = std::process::Command::new(BIN)
        .env_clear()
        .env("DATABASE_URL", "postgres://localhost/x")
        .env("AUTH_JWT_SECRET", "x".repeat(40))
        .env("K_SERVICE", "public-gateway")
        .env("PAYMENT_PROVIDER", "stub")
        .env("OTP_PROVIDER", "http")
        .env("OTP_HTTP_URL", "http://127.0.0.1:9/sms")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PAYMENT_PROVIDER=stub on Cloud Run"));
}
