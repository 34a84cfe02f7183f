//! Phone sign-in with one-time codes, for customers and mitra.

use std::collections::BTreeSet;
use std::sync::Arc;

use halo_shared::auth::merge;
use halo_shared::providers::sms::ProviderConfig;
use halo_shared::state::GatewaySettings;
use halo_shared::testing::{self, capture_logs};
use poem::http::StatusCode;
use uuid::Uuid;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{relaxed, spawn_app, spawn_app_with, stub_code};

const PHONE: &str = "+6281234567890";

#[tokio::test]
async fn a_customer_signs_in_with_a_code_and_the_account_is_created() {
    let app = spawn_app().await;
    let requested = app.request_otp("client", "0812-3456-7890").await;
    assert_eq!(requested.status, StatusCode::ACCEPTED);
    assert_eq!(requested.body, serde_json::json!({ "expires_in": 300, "resend_after": 60 }));

    let code = app.otp_code("client", "081234567891").await;
    let pair = app.verify_otp("client", "+62 812 3456 7891", &code, None).await;
    assert_eq!(pair.status, StatusCode::OK, "{}", pair.body);
    assert_eq!(
        (pair.body["user"]["user_type"].as_str(), pair.body["user"]["is_anonymous"].as_bool()),
        (Some("customer"), Some(false))
    );
    let me = app.get_with("/api/client/me", &pair.str("access_token")).await;
    assert_eq!((me.str("phone"), me.body["is_anonymous"].as_bool()), ("+6281234567891".to_owned(), Some(false)));
    let hash: Vec<u8> = sqlx::query_scalar("SELECT code_hash FROM otp_challenges WHERE phone = '+6281234567891'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&hash).contains(&code), "only a keyed hash is stored");
}

#[tokio::test]
async fn every_written_form_of_a_number_reaches_the_same_account() {
    let app = spawn_app_with(relaxed()).await;
    let first = app.sign_in_by_phone("client", "081234567890", None).await;
    for form in ["6281234567890", "+62 812-3456-7890", PHONE] {
        let again = app.sign_in_by_phone("client", form, None).await;
        assert_eq!(again.body["user"]["id"], first.body["user"]["id"], "{form}");
    }
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(customers, 1);
}

#[tokio::test]
async fn a_mitra_signs_in_with_a_code_as_an_account_separate_from_the_customer() {
    let app = spawn_app_with(relaxed()).await;
    let customer = app.sign_in_by_phone("client", PHONE, None).await;
    let mitra = app.sign_in_by_phone("mitra", "0812 3456 7890", None).await;
    assert_eq!(mitra.body["user"]["user_type"], "mitra");
    assert_ne!(mitra.body["user"]["id"], customer.body["user"]["id"]);
    let me = app.get_with("/api/mitra/me", &mitra.str("access_token")).await;
    assert_eq!((me.status, me.str("phone")), (StatusCode::OK, PHONE.to_owned()));
    let again = app.sign_in_by_phone("mitra", PHONE, None).await;
    assert_eq!(again.body["user"]["id"], mitra.body["user"]["id"]);
}

#[tokio::test]
async fn invalid_numbers_are_400_and_write_nothing() {
    let app = spawn_app().await;
    for bad in ["", "12", "hello", "021 5550 1234", "+62 21 5550 1234"] {
        let reply = app.request_otp("client", bad).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad:?}");
    }
    let bad_code = app.verify_otp("client", PHONE, "12ab56", None).await;
    assert_eq!((bad_code.status, bad_code.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    let rows: i64 =
        sqlx::query_scalar("SELECT (SELECT count(*) FROM otp_challenges) + (SELECT count(*) FROM rate_limits)")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn a_wrong_code_is_401_and_too_many_wrong_tries_kill_the_code() {
    let mut settings = testing::gateway_settings();
    settings.otp.max_attempts = 3;
    let app = spawn_app_with(settings).await;
    let code = app.otp_code("client", PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        let reply = app.verify_otp("client", PHONE, wrong, None).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_otp"));
    }
    let right = app.verify_otp("client", PHONE, &code, None).await;
    assert_eq!((right.status, right.error_code()), (StatusCode::UNAUTHORIZED, "otp_expired"));
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(customers, 0);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_app().await;
    let code = app.otp_code("client", PHONE).await;
    // Expired by backdating: no API makes a code older than its five minutes.
    sqlx::query("UPDATE otp_challenges SET expires_at = now() - interval '1 second'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let reply = app.verify_otp("client", PHONE, &code, None).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "otp_expired"));
}

#[tokio::test]
async fn a_consumed_code_cannot_be_replayed() {
    let app = spawn_app().await;
    let code = app.otp_code("client", PHONE).await;
    assert_eq!(app.verify_otp("client", PHONE, &code, None).await.status, StatusCode::OK);
    let replay = app.verify_otp("client", PHONE, &code, None).await;
    assert_eq!((replay.status, replay.error_code()), (StatusCode::UNAUTHORIZED, "invalid_otp"));
}

#[tokio::test]
async fn a_new_code_retires_the_previous_one() {
    let app = spawn_app_with(relaxed()).await;
    let old = app.otp_code("client", PHONE).await;
    let mut new = app.otp_code("client", PHONE).await;
    // Codes are random: a new one equal to the old (one in a million) would prove
    // nothing, so ask again until they differ.
    while new == old {
        new = app.otp_code("client", PHONE).await;
    }
    let reply = app.verify_otp("client", PHONE, &old, None).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_otp"));
    assert_eq!(app.verify_otp("client", PHONE, &new, None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_verifies_of_the_right_code_end_with_exactly_one_success() {
    let app = Arc::new(spawn_app().await);
    let code = app.otp_code("client", PHONE).await;
    let (a, b) = (app.clone(), app.clone());
    let (code_a, code_b) = (code.clone(), code.clone());
    let first = tokio::spawn(async move { a.verify_otp("client", PHONE, &code_a, None).await });
    let second = tokio::spawn(async move { b.verify_otp("client", PHONE, &code_b, None).await });
    let mut statuses = vec![first.await.unwrap().status, second.await.unwrap().status];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::UNAUTHORIZED]);
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_sessions").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(sessions, 1);
}

async fn retry_after(reply: &crate::helpers::Reply) -> u64 {
    reply.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_second_code_within_the_resend_cooldown_is_429_and_counts_nothing() {
    let app = spawn_app().await;
    assert_eq!(app.request_otp("client", PHONE).await.status, StatusCode::ACCEPTED);
    let again = app.request_otp("client", PHONE).await;
    assert_eq!((again.status, again.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!((1..=60).contains(&retry_after(&again).await));
    let hourly: i32 = sqlx::query_scalar("SELECT count FROM rate_limits WHERE key = $1")
        .bind(format!("otp:phone-hour:{PHONE}"))
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(hourly, 1, "the refused request was not counted");
    let challenges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM otp_challenges").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(challenges, 1);
}

#[tokio::test]
async fn the_hourly_cap_per_phone_answers_429_with_retry_after() {
    let mut settings = relaxed();
    settings.otp.sends_per_phone_per_hour = 2;
    let app = spawn_app_with(settings).await;
    for _ in 0..2 {
        assert_eq!(app.request_otp("client", PHONE).await.status, StatusCode::ACCEPTED);
    }
    let capped = app.request_otp("mitra", PHONE).await;
    assert_eq!((capped.status, capped.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!((3500..=3600).contains(&retry_after(&capped).await));
}

#[tokio::test]
async fn the_daily_cap_per_phone_answers_429() {
    let mut settings = relaxed();
    settings.otp.sends_per_phone_per_day = 1;
    let app = spawn_app_with(settings).await;
    assert_eq!(app.request_otp("client", PHONE).await.status, StatusCode::ACCEPTED);
    let capped = app.request_otp("client", PHONE).await;
    assert_eq!(capped.error_code(), "rate_limited");
    assert!(retry_after(&capped).await > 3600);
}

#[tokio::test]
async fn the_per_ip_cap_applies_across_phones() {
    let mut settings = relaxed();
    settings.otp.sends_per_ip_per_hour = 2;
    let app = spawn_app_with(settings).await;
    for phone in ["081111111111", "081222222222"] {
        assert_eq!(app.request_otp("client", phone).await.status, StatusCode::ACCEPTED);
    }
    let capped = app.request_otp("client", "081333333333").await;
    assert_eq!((capped.status, capped.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(retry_after(&capped).await > 0);
}

#[tokio::test]
async fn an_anonymous_customer_verifying_a_new_phone_is_upgraded_in_place() {
    let app = spawn_app().await;
    let anon = app.anonymous().await;
    let pair = app.sign_in_by_phone("client", PHONE, Some(&anon.str("access_token"))).await;
    assert_eq!(pair.body["user"]["id"], anon.body["user"]["id"]);
    assert_eq!(pair.body["user"]["is_anonymous"], false);
    let me = app.get_with("/api/client/me", &pair.str("access_token")).await;
    assert_eq!((me.str("phone"), me.body["is_anonymous"].as_bool()), (PHONE.to_owned(), Some(false)));
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(customers, 1);
    assert_eq!(app.refresh(&pair.str("refresh_token")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_anonymous_customer_verifying_a_taken_phone_is_merged_into_its_owner() {
    let app = spawn_app_with(relaxed()).await;
    let owner = app.sign_in_by_phone("client", PHONE, None).await;
    let anon = app.anonymous().await;
    let anon_id: Uuid = anon.body["user"]["id"].as_str().unwrap().parse().unwrap();
    let anon_session = app.claims(&anon.str("access_token")).session_id;

    let pair = app.sign_in_by_phone("client", "081234567890", Some(&anon.str("access_token"))).await;
    assert_eq!(pair.body["user"]["id"], owner.body["user"]["id"], "signed in as the existing customer");

    let refresh = app.refresh(&anon.str("refresh_token")).await;
    assert_eq!((refresh.status, refresh.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
    let owner_id: Uuid = owner.body["user"]["id"].as_str().unwrap().parse().unwrap();
    let (merged_into, session_owner, reason): (Option<Uuid>, Uuid, Option<String>) = sqlx::query_as(
        "SELECT c.merged_into, s.user_id, s.revoked_reason FROM customers c, auth_sessions s WHERE c.id = $1 AND s.id = $2",
    )
    .bind(anon_id)
    .bind(anon_session)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(merged_into, Some(owner_id), "the merge is recorded");
    assert_eq!(session_owner, owner_id, "what the anonymous customer owned moved to the owner");
    assert_eq!(reason.as_deref(), Some("merged"));
    app.listening().await;
    let me = app.get_with("/api/client/me", &anon.str("access_token")).await;
    assert_eq!(
        (me.status, me.error_code()),
        (StatusCode::UNAUTHORIZED, "session_revoked"),
        "its access token stops working"
    );
}

#[tokio::test]
async fn every_table_owning_customer_rows_is_registered_for_merges() {
    let app = spawn_app().await;
    // A table owns customer rows by a foreign key to `customers`, or by a
    // `user_type`/`user_id` pair that has no foreign key (sessions, events, notifications …).
    let owning: Vec<String> = sqlx::query_scalar(
        "SELECT conrelid::regclass::text FROM pg_constraint
         WHERE contype = 'f' AND confrelid = 'customers'::regclass AND conrelid <> 'customers'::regclass
         UNION
         SELECT c.table_name::text FROM information_schema.columns c
         JOIN information_schema.columns t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         WHERE c.table_schema = 'public' AND c.column_name = 'user_id' AND t.column_name = 'user_type'
         ORDER BY 1",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let owning: BTreeSet<&str> = owning.iter().map(String::as_str).collect();
    assert!(owning.contains("orders") && owning.contains("notifications"), "both kinds of owner are seen: {owning:?}");
    let moved = merge::CUSTOMER_OWNED.iter().map(|o| o.table);
    let registered: BTreeSet<&str> = moved.chain(merge::NOT_MOVED.iter().map(|(table, _)| *table)).collect();
    assert_eq!(
        owning, registered,
        "every table owning customer rows is in CUSTOMER_OWNED (moved on merge) or NOT_MOVED (with the reason), \
         and every entry there is such a table"
    );
}

#[tokio::test]
async fn verify_with_a_bad_bearer_is_401_not_a_fresh_sign_in() {
    let app = spawn_app().await;
    let code = app.otp_code("client", PHONE).await;
    let reply = app.verify_otp("client", PHONE, &code, Some("garbage")).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    let ok = app.verify_otp("client", PHONE, &code, None).await;
    assert_eq!(ok.status, StatusCode::OK, "the code was not spent by the refused request");
}

#[tokio::test]
async fn the_stub_logs_one_line_with_the_code_and_no_other_line_contains_it() {
    let app = spawn_app().await;
    let (guard, logs) = capture_logs();
    let requested = app.request_otp("client", "0812 3456 7890").await;
    let code = stub_code(&logs.lines()).expect("stub line");
    let verified = app.verify_otp("client", PHONE, &code, None).await;
    drop(guard);
    assert_eq!((requested.status, verified.status), (StatusCode::ACCEPTED, StatusCode::OK));
    let lines = logs.lines();
    let with_code: Vec<&String> = lines.iter().filter(|l| l.contains(&code)).collect();
    assert_eq!(with_code.len(), 1, "{lines:#?}");
    let stub: serde_json::Value = serde_json::from_str(with_code[0]).unwrap();
    assert_eq!(stub["message"], format!("[OTP STUB] phone={PHONE} code={code}"));
    assert_eq!(stub["severity"], "INFO");
}

async fn app_with_sms_gateway(server: &MockServer) -> crate::helpers::TestApp {
    let mut settings = GatewaySettings { ..testing::gateway_settings() };
    settings.otp.provider =
        ProviderConfig::Http { url: format!("{}/sms", server.uri()), token: Some("gateway-token".to_owned().into()) };
    spawn_app_with(settings).await
}

#[tokio::test]
async fn the_http_provider_posts_the_code_to_the_sms_gateway_and_logs_it_nowhere() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sms"))
        .and(header("authorization", "Bearer gateway-token"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let app = app_with_sms_gateway(&server).await;
    let (guard, logs) = capture_logs();
    let reply = app.request_otp("client", "081234567890").await;
    drop(guard);
    assert_eq!(reply.status, StatusCode::ACCEPTED);

    let received = server.received_requests().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["to"], PHONE);
    let message = body["message"].as_str().unwrap();
    let code: String = message.chars().take(6).collect();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{message}");
    assert!(logs.lines().iter().all(|l| !l.contains(&code)), "no log line holds the code");
    assert_eq!(app.verify_otp("client", PHONE, &code, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn when_the_sms_gateway_fails_the_request_is_503_and_no_code_stays_valid() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let app = app_with_sms_gateway(&server).await;
    let reply = app.request_otp("client", PHONE).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
    let challenges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM otp_challenges").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(challenges, 0);
}
