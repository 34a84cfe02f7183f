//! Security review M-3: a mitra's services are bounded (50 active, in code and in the
//! database), browse shows at most that many per mitra, the mitra's own list is paged,
//! and service writes are rate-limited.

use halo_shared::testing;
use poem::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

/// Gives the mitra `n` more active services straight in the table (the API's limit on
/// writes would slow the test down, not change it).
async fn seed_services(app: &TestApp, mitra: Uuid, n: i64) {
    sqlx::query(
        "INSERT INTO mitra_services (id, mitra_id, title, price, duration_minutes, created_at)
         SELECT gen_random_uuid(), $1, 'Layanan ' || i, 50000, 30, now() - make_interval(secs => 1000 - i)
         FROM generate_series(1, $2) i",
    )
    .bind(mitra)
    .bind(n)
    .execute(&app.db.pool)
    .await
    .unwrap();
}

async fn active_services(app: &TestApp, mitra: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mitra_services WHERE mitra_id = $1 AND active")
        .bind(mitra)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

fn a_service(title: &str) -> serde_json::Value {
    json!({ "title": title, "price": 75_000, "duration_minutes": 45 })
}

#[tokio::test]
async fn ten_concurrent_creates_past_the_cap_leave_exactly_fifty_active_services() {
    let app = spawn_app().await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    seed_services(&app, mitra.id, 44).await; // 45 with the listed one

    let creates =
        (0..10).map(|i| {
            let (app, token) = (&app, mitra.token.clone());
            async move {
                app.bearer_send("POST", "/api/mitra/services", &token, Some(a_service(&format!("Baru {i}")))).await
            }
        });
    let replies = futures_util::future::join_all(creates).await;

    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::CONFLICT).collect();
    assert_eq!((created, refused.len()), (5, 5), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(refused.iter().all(|r| r.error_code() == "conflict"
        && r.body["error"]["message"].as_str().unwrap().contains("at most 50 active services")));
    assert_eq!(active_services(&app, mitra.id).await, 50);
    let inactive = app
        .bearer_send(
            "POST",
            "/api/mitra/services",
            &mitra.token,
            Some(json!({ "title": "Cadangan", "price": 75_000,
            "duration_minutes": 45, "active": false })),
        )
        .await;
    assert_eq!(inactive.status, StatusCode::CREATED, "inactive services do not count: {}", inactive.body);
    let reactivate = app
        .bearer_send(
            "PATCH",
            &format!("/api/mitra/services/{}", inactive.str("id")),
            &mitra.token,
            Some(json!({ "active": true })),
        )
        .await;
    assert_eq!((reactivate.status, reactivate.error_code()), (StatusCode::CONFLICT, "conflict"));
    assert_eq!(active_services(&app, mitra.id).await, 50);
}

#[tokio::test]
async fn the_database_itself_refuses_a_fifty_first_active_service() {
    let app = spawn_app().await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    seed_services(&app, mitra.id, 49).await;

    let err = sqlx::query(
        "INSERT INTO mitra_services (id, mitra_id, title, price, duration_minutes) VALUES ($1, $2, 'x', 50000, 30)",
    )
    .bind(Uuid::new_v4())
    .bind(mitra.id)
    .execute(&app.db.pool)
    .await
    .unwrap_err();

    let db_err = err.as_database_error().expect("a database error");
    assert_eq!(db_err.constraint(), Some("mitra_services_active_cap"));
    assert_eq!(active_services(&app, mitra.id).await, 50);
}

#[tokio::test]
async fn browse_shows_at_most_fifty_services_of_a_mitra_whatever_the_table_holds() {
    let app = spawn_app().await;
    let f = app.fixtures();
    let mitra = f.listed_mitra("Sari").await;
    let customer = f.verified_customer().await;
    // Rows from before the cap: the trigger is off while they are written.
    sqlx::query("ALTER TABLE mitra_services DISABLE TRIGGER mitra_services_active_cap_insert")
        .execute(&app.db.pool)
        .await
        .unwrap();
    seed_services(&app, mitra.id, 80).await;

    let one = app.get_with(&format!("/api/client/mitras/{}", mitra.id), &customer.access_token).await;
    let page = app.get_with("/api/client/mitras", &customer.access_token).await;

    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["services"].as_array().unwrap().len(), 50);
    assert_eq!(page.body["items"][0]["services"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn the_mitras_own_services_come_in_pages_oldest_first() {
    let app = spawn_app().await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    for title in ["Kedua", "Ketiga"] {
        let created = app.bearer_send("POST", "/api/mitra/services", &mitra.token, Some(a_service(title))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }

    let first = app.get_with("/api/mitra/services?limit=2", &mitra.token).await;
    let cursor = first.body["next_cursor"].as_str().expect("a next page").to_owned();
    let second = app.get_with(&format!("/api/mitra/services?limit=2&cursor={cursor}"), &mitra.token).await;
    let everything = app.get_with("/api/mitra/services", &mitra.token).await;
    let bad = app.get_with("/api/mitra/services?cursor=nonsense", &mitra.token).await;
    let too_many = app.get_with("/api/mitra/services?limit=101", &mitra.token).await;

    let titles = |reply: &testing::Reply| -> Vec<String> {
        reply.body["items"].as_array().unwrap().iter().map(|s| s["title"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(titles(&first), ["Pijat 60 menit", "Kedua"]);
    assert_eq!(titles(&second), ["Ketiga"]);
    assert!(second.body["next_cursor"].is_null());
    assert_eq!(titles(&everything).len(), 3);
    assert!(everything.body["next_cursor"].is_null());
    assert_eq!((bad.status, bad.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn service_writes_past_the_hourly_limit_get_429_and_other_mitra_are_not_affected() {
    let mut settings = testing::gateway_settings();
    settings.service_writes_per_mitra_per_hour = 3;
    let app = spawn_app_with(settings).await;
    let f = app.fixtures();
    let busy = f.mitra("Sari").await;
    let other = f.mitra("Dewi").await;

    let created = app.bearer_send("POST", "/api/mitra/services", &busy.access_token, Some(a_service("Satu"))).await;
    let id = created.str("id");
    for price in [80_000, 90_000] {
        let edit = app
            .bearer_send(
                "PATCH",
                &format!("/api/mitra/services/{id}"),
                &busy.access_token,
                Some(json!({ "price": price })),
            )
            .await;
        assert_eq!(edit.status, StatusCode::OK, "{}", edit.body);
    }
    let limited = app.bearer_send("POST", "/api/mitra/services", &busy.access_token, Some(a_service("Dua"))).await;
    let limited_edit = app
        .bearer_send("PATCH", &format!("/api/mitra/services/{id}"), &busy.access_token, Some(json!({ "price": 1 })))
        .await;
    let elsewhere = app.bearer_send("POST", "/api/mitra/services", &other.access_token, Some(a_service("Tiga"))).await;

    assert_eq!((limited.status, limited.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(limited.headers.get("retry-after").is_some(), "429 carries Retry-After");
    assert_eq!(limited_edit.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);
    let price: i64 = sqlx::query_scalar("SELECT price FROM mitra_services WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(price, 90_000, "the refused edit changed nothing");
}
