//! Targeted lockouts and SMS pumping: someone who fills a number's daily cap holds its
//! owner off only until the oldest of those sends is a day old, and never blocks a code
//! already sent; numbers outside the allowed countries get no SMS at all.

use poem::http::StatusCode;

use crate::helpers::{relaxed, spawn_app_with, Reply, TestApp};

const VICTIM: &str = "+6281299990000";

fn retry_after(reply: &Reply) -> u64 {
    reply.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

async fn with_daily_cap(max: u32) -> TestApp {
    let mut settings = relaxed();
    settings.otp.sends_per_phone_per_day = max;
    spawn_app_with(settings).await
}

/// Moves the oldest recorded send of the number a day into the past.
async fn oldest_send_turns_a_day_old(app: &TestApp) {
    // Backdated: no API makes a send a day old.
    sqlx::query(
        "UPDATE otp_phone_sends SET sent_at = sent_at - interval '1 day'
         WHERE ctid = (SELECT ctid FROM otp_phone_sends WHERE phone = $1 ORDER BY sent_at LIMIT 1)",
    )
    .bind(VICTIM)
    .execute(&app.db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_daily_cap_per_number_rolls_each_send_frees_its_slot_a_day_later() {
    let app = with_daily_cap(3).await;
    for _ in 0..3 {
        assert_eq!(app.request_otp("client", VICTIM).await.status, StatusCode::ACCEPTED);
    }
    let capped = app.request_otp("mitra", VICTIM).await;
    assert_eq!((capped.status, capped.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!((86_000..=86_400).contains(&retry_after(&capped)), "{}", retry_after(&capped));

    oldest_send_turns_a_day_old(&app).await;
    assert_eq!(app.request_otp("client", VICTIM).await.status, StatusCode::ACCEPTED, "one slot came back");
    let again = app.request_otp("client", VICTIM).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS, "and only one");
    let sends: i64 =
        sqlx::query_scalar("SELECT count(*) FROM otp_phone_sends WHERE sent_at > now() - interval '1 day'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(sends, 3, "refused requests count nothing");
}

#[tokio::test]
async fn a_code_already_sent_still_verifies_after_the_number_hits_its_send_cap() {
    let app = with_daily_cap(2).await;
    assert_eq!(app.request_otp("client", VICTIM).await.status, StatusCode::ACCEPTED);
    let code = app.otp_code("client", VICTIM).await;
    for _ in 0..3 {
        let flood = app.request_otp("client", VICTIM).await;
        assert_eq!(flood.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let signed_in = app.verify_otp("client", VICTIM, &code, None).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
}

#[tokio::test]
async fn numbers_outside_the_allowed_countries_get_no_code_and_count_nothing() {
    let app = spawn_app_with(relaxed()).await;
    let foreign = app.request_otp("client", "+60 12-345 6789").await;
    assert_eq!((foreign.status, foreign.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    let written: i64 =
        sqlx::query_scalar("SELECT (SELECT count(*) FROM otp_challenges) + (SELECT count(*) FROM rate_limits)")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(written, 0);

    let mut settings = relaxed();
    settings.otp.allowed_countries = vec!["ID".into(), "MY".into()];
    let open = spawn_app_with(settings).await;
    assert_eq!(open.request_otp("client", "+60 12-345 6789").await.status, StatusCode::ACCEPTED);
}
