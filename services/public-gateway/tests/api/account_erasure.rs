//! Security review L-4: deleting an account leaves none of its personal data anywhere,
//! and a customer whose paid order waits for the mitra cannot delete (yet).

use halo_shared::testing::fixtures::fresh_phone;
use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{next_start, relaxed, spawn_app_with, TestApp};

const NOTE: &str = "Pintu biru di Gang Melati 7, dekat masjid";
const USER_AGENT: &str = "AyuPhone/9.9 (pribadi)";
const SESSION_IP: &str = "203.0.113.9";
const NAME: &str = "Ayu Rahasia";
const PAYER_EMAIL: &str = "ayu.rahasia@example.com";
const PAYER_ACCOUNT: &str = "8808123456789012";
const FCM_TOKEN: &str = "fcm-token-of-ayu-0123456789";

/// Every row of every table as text, `(table, row)`.
async fn every_row(app: &TestApp) -> Vec<(String, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let text: Vec<String> =
            sqlx::query_scalar(&format!("SELECT t::text FROM {table} t")).fetch_all(&app.db.pool).await.unwrap();
        rows.extend(text.into_iter().map(|row| (table.clone(), row)));
    }
    rows
}

/// The rows holding `value`.
fn holding<'a>(rows: &'a [(String, String)], value: &str) -> Vec<&'a (String, String)> {
    rows.iter().filter(|(_, row)| row.contains(value)).collect()
}

/// Pays the order with a callback that carries the payer's details, as Xendit's do.
async fn pay_with_payer_details(app: &TestApp, order_id: &str) {
    let details = json!({ "payment_method": "BANK_TRANSFER", "payment_channel": "BCA", "payer_email": PAYER_EMAIL,
                          "payment_destination": PAYER_ACCOUNT, "description": format!("Order by {NAME}") });
    app.fixtures().pay_with(order_id.parse().unwrap(), details).await;
}

#[tokio::test]
async fn a_deleted_customer_leaves_no_personal_value_in_any_table() {
    let app = spawn_app_with(relaxed()).await;
    app.listening().await;
    let f = app.fixtures();
    let mitra = f.listed_mitra("Sari").await;
    let phone = fresh_phone();
    let token = app.signed_in("client", &phone, USER_AGENT).await;
    let renamed = app.bearer_send("PATCH", "/api/client/me", &token, Some(json!({ "display_name": NAME }))).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    f.device(&token, FCM_TOKEN).await;
    let order = app
        .bearer_send(
            "POST",
            "/api/client/orders",
            &token,
            Some(json!({ "service_id": mitra.service_id, "note": NOTE, "starts_at": next_start(None) })),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    let order_id = order.str("id");
    pay_with_payer_details(&app, &order_id).await;
    let accepted = app.bearer_send("POST", &format!("/api/mitra/orders/{order_id}/accept"), &mitra.token, None).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let personal =
        [phone.as_str(), &phone[1..], NOTE, USER_AGENT, SESSION_IP, NAME, PAYER_EMAIL, PAYER_ACCOUNT, FCM_TOKEN];
    let before = every_row(&app).await;
    for value in personal {
        assert!(!holding(&before, value).is_empty(), "the test puts {value} somewhere first");
    }
    let places: std::collections::BTreeSet<&str> =
        personal.iter().flat_map(|v| holding(&before, v)).map(|(t, _)| t.as_str()).collect();
    for table in [
        "orders",
        "user_events",
        "otp_challenges",
        "otp_phone_sends",
        "rate_limits",
        "auth_sessions",
        "payment_callbacks",
        "devices",
        "push_outbox",
        "customers",
    ] {
        assert!(places.contains(table), "{table} held a personal value before: {places:?}");
    }

    let deleted = app.bearer_send("DELETE", "/api/client/me", &token, None).await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let after = every_row(&app).await;
    for value in personal {
        assert_eq!(holding(&after, value), Vec::<&(String, String)>::new(), "{value} is still stored");
    }
    // What stays is anonymous and still adds up: the order, its callback's money, the
    // mitra's copy of the order.
    let (status, amount): (String, i64) = sqlx::query_as("SELECT status, amount FROM orders WHERE id = $1::uuid")
        .bind(&order_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((status.as_str(), amount), ("accepted", 150_000));
    let callback: String = sqlx::query_scalar("SELECT body FROM payment_callbacks WHERE order_id = $1::uuid")
        .bind(&order_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let callback: serde_json::Value = serde_json::from_str(&callback).unwrap();
    assert_eq!((&callback["paid_amount"], &callback["payment_channel"]), (&json!(150_000), &json!("BCA")));
    assert_eq!(callback["redacted"], true);
    let mitra_copies: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT data FROM user_events WHERE user_type = 'mitra' AND data->>'id' = $1")
            .bind(&order_id)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert!(!mitra_copies.is_empty());
    assert!(mitra_copies.iter().all(|copy| copy["note"].is_null() && copy["amount"] == 150_000));
}

#[tokio::test]
async fn a_deleted_mitra_leaves_no_phone_session_detail_event_notification_or_service_area_behind() {
    let app = spawn_app_with(relaxed()).await;
    let phone = fresh_phone();
    let token = app.signed_in("mitra", &phone, USER_AGENT).await;
    let id = app.claims(&token).sub;
    app.fixtures().device(&token, FCM_TOKEN).await;
    halo_shared::realtime::publish(
        &app.db.pool,
        halo_shared::tokens::UserType::Mitra,
        id,
        "mitra.verification",
        &json!({ "verification_status": "approved", "note": "Selamat, Sari" }),
    )
    .await
    .unwrap();
    let area = json!({ "lat": -6.2175, "lng": 106.8286, "radius_km": 10 });
    let area = app.bearer_send("PUT", "/api/mitra/service-area", &token, Some(area)).await;
    assert_eq!(area.status, StatusCode::OK, "{}", area.body);

    let deleted = app.bearer_send("DELETE", "/api/mitra/me", &token, None).await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let areas: i64 = sqlx::query_scalar("SELECT count(*) FROM mitra_service_areas WHERE mitra_id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(areas, 0, "where the mitra worked, perhaps lived, is erased");
    let after = every_row(&app).await;
    for value in [phone.as_str(), &phone[1..], USER_AGENT, SESSION_IP, FCM_TOKEN, "Selamat, Sari"] {
        assert_eq!(holding(&after, value), Vec::<&(String, String)>::new(), "{value} is still stored");
    }
}

#[tokio::test]
async fn a_customer_whose_paid_order_waits_for_the_mitra_cannot_delete_until_it_is_cancelled() {
    let app = spawn_app_with(relaxed()).await;
    let f = app.fixtures();
    let mitra = f.listed_mitra("Sari").await;
    let customer = f.verified_customer().await;
    let order = f.order(&customer, mitra.service_id).await;
    f.pay(order).await;

    let refused = app.bearer_send("DELETE", "/api/client/me", &customer.access_token, None).await;

    assert_eq!((refused.status, refused.error_code()), (StatusCode::CONFLICT, "invalid_state"), "{}", refused.body);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("cancel it"));
    let me = app.get_with("/api/client/me", &customer.access_token).await;
    assert_eq!((me.status, me.body["phone"].as_str()), (StatusCode::OK, customer.phone.as_deref()), "nothing erased");
    let cancelled =
        app.bearer_send("POST", &format!("/api/client/orders/{order}/cancel"), &customer.access_token, None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let deleted = app.bearer_send("DELETE", "/api/client/me", &customer.access_token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
}
