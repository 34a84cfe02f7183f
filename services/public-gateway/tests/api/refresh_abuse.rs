//! Refresh under attack (review H1): a dead token is refused before any bcrypt runs,
//! and refreshes are limited per session and per client IP.

use halo_shared::state::GatewaySettings;
use halo_shared::tokens::hashing::count_runs;
use poem::http::StatusCode;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, Reply, TestApp};

async fn refresh_counting_bcrypt(app: &TestApp, token: &str) -> (Reply, u32) {
    count_runs(app.refresh(token)).await
}

fn assert_retry_after_within_a_minute(reply: &Reply) {
    assert_eq!((reply.status, reply.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{}", reply.body);
    let retry_after: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn a_live_refresh_runs_bcrypt_so_the_counter_can_see_it() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    let (reply, runs) = refresh_counting_bcrypt(&app, &pair.str("refresh_token")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(runs, 1, "exactly one bcrypt: the next secret's hash");
}

#[tokio::test]
async fn a_logged_out_sessions_refresh_token_replayed_is_refused_without_any_bcrypt() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    assert_eq!(app.logout(&pair.str("access_token")).await.status, StatusCode::NO_CONTENT);
    for _ in 0..3 {
        let (reply, runs) = refresh_counting_bcrypt(&app, &pair.str("refresh_token")).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
        assert_eq!(runs, 0, "a revoked session costs no bcrypt");
    }
}

#[tokio::test]
async fn expired_unknown_stale_and_ahead_tokens_are_refused_without_any_bcrypt() {
    let app = spawn_app().await;
    let expired = app.anonymous().await;
    let expired_session = app.claims(&expired.str("access_token")).session_id;
    // Expired by backdating: no API makes a session older than its 30 days.
    sqlx::query("UPDATE auth_sessions SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(expired_session)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (reply, runs) = refresh_counting_bcrypt(&app, &expired.str("refresh_token")).await;
    assert_eq!((reply.error_code(), runs), ("session_expired", 0));

    let live = app.anonymous().await;
    let token = live.str("refresh_token");
    let (id, rest) = token.split_once('.').unwrap();
    let (_, secret) = rest.split_once('.').unwrap();
    let unknown = format!("{}.0.{secret}", Uuid::new_v4().simple());
    let ahead = format!("{id}.3.{secret}");
    for forged in [unknown.as_str(), ahead.as_str()] {
        let (reply, runs) = refresh_counting_bcrypt(&app, forged).await;
        assert_eq!((reply.error_code(), runs), ("invalid_refresh_token", 0), "{forged}");
    }

    let rotated = app.refresh(&token).await;
    assert_eq!(rotated.status, StatusCode::OK);
    // Backdated past the grace window: no API makes a rotation 11 seconds old.
    sqlx::query("UPDATE auth_sessions SET rotated_at = now() - interval '11 seconds'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (reply, runs) = refresh_counting_bcrypt(&app, &token).await;
    assert_eq!((reply.error_code(), runs), ("refresh_token_reused", 0), "a stale counter costs no bcrypt either");
}

#[tokio::test]
async fn a_retry_within_the_grace_window_costs_no_bcrypt() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    let rotated = app.refresh(&pair.str("refresh_token")).await;
    let (retry, runs) = refresh_counting_bcrypt(&app, &pair.str("refresh_token")).await;
    assert_eq!((retry.status, runs), (StatusCode::OK, 0));
    assert_eq!(retry.str("refresh_token"), rotated.str("refresh_token"));
}

#[tokio::test]
async fn refreshes_of_one_session_are_limited_per_minute() {
    let settings = GatewaySettings {
        shared: halo_shared::Settings { refresh_per_session_per_minute: 2, ..halo_shared::testing::settings() },
        ..halo_shared::testing::gateway_settings()
    };
    let app = spawn_app_with(settings).await;
    let pair = app.anonymous().await;
    let first = app.refresh(&pair.str("refresh_token")).await;
    let second = app.refresh(&first.str("refresh_token")).await;
    assert_eq!(second.status, StatusCode::OK);
    let (limited, runs) = refresh_counting_bcrypt(&app, &second.str("refresh_token")).await;
    assert_retry_after_within_a_minute(&limited);
    assert_eq!(runs, 0, "a refused refresh costs no bcrypt");
    let session_id = app.claims(&pair.str("access_token")).session_id;
    assert_eq!(app.session_row(session_id).await, (2, None), "the refused refresh rotated nothing");

    let other = app.anonymous().await;
    assert_eq!(app.refresh(&other.str("refresh_token")).await.status, StatusCode::OK, "other sessions go on");
}

#[tokio::test]
async fn refreshes_are_limited_per_client_ip_whatever_the_token() {
    let settings = GatewaySettings {
        shared: halo_shared::Settings { refresh_per_ip_per_minute: 3, ..halo_shared::testing::settings() },
        ..halo_shared::testing::gateway_settings()
    };
    let app = spawn_app_with(settings).await;
    let pair = app.anonymous().await;
    let mut token = pair.str("refresh_token");
    for _ in 0..2 {
        let reply = app.refresh_from(&token, "203.0.113.7").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        token = reply.str("refresh_token");
    }
    let garbage = format!("{}.0.AAAA", Uuid::new_v4().simple());
    assert_eq!(app.refresh_from(&garbage, "203.0.113.7").await.error_code(), "invalid_refresh_token");
    assert_retry_after_within_a_minute(&app.refresh_from(&token, "203.0.113.7").await);
    let elsewhere = app.refresh_from(&token, "203.0.113.8").await;
    assert_eq!(elsewhere.status, StatusCode::OK, "another IP is unaffected");
}

#[tokio::test]
async fn a_reuse_is_logged_with_how_far_behind_the_token_was() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    let first = app.refresh(&pair.str("refresh_token")).await;
    app.refresh(&first.str("refresh_token")).await;
    // Backdated past the grace window: no API makes a rotation 11 seconds old.
    sqlx::query("UPDATE auth_sessions SET rotated_at = now() - interval '11 seconds'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (guard, logs) = halo_shared::testing::capture_logs();
    let reply = app.refresh(&pair.str("refresh_token")).await;
    drop(guard);
    assert_eq!(reply.error_code(), "refresh_token_reused");
    let line = logs.lines().into_iter().find(|l| l.contains("refresh token reused")).expect("a reuse line");
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!((line["severity"].as_str(), line["behind"].as_i64()), (Some("WARNING"), Some(2)), "{line}");
}
