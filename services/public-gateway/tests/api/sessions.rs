//! Anonymous sign-in, refresh rotation with grace and reuse detection, logout, limits.

use std::sync::Arc;

use halo_shared::state::GatewaySettings;
use halo_shared::tokens::UserType;
use poem::http::StatusCode;
use uuid::Uuid;

use crate::helpers::{app_on, spawn_app, spawn_app_with};

#[tokio::test]
async fn anonymous_sign_in_returns_a_token_pair_for_a_new_anonymous_customer() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    assert_eq!(pair.body["token_type"], "Bearer");
    assert_eq!(pair.body["expires_in"], 3600);
    assert_eq!(pair.body["refresh_token_expires_in"], 2_592_000);
    assert_eq!(pair.body["user"]["user_type"], "customer");
    assert_eq!(pair.body["user"]["is_anonymous"], true);

    let claims = app.claims(&pair.str("access_token"));
    assert_eq!(claims.user_type, UserType::Customer);
    assert_eq!(claims.sub.to_string(), pair.body["user"]["id"].as_str().unwrap());
    assert_eq!(claims.exp - claims.iat, 3600);

    let (is_anonymous,): (bool,) = sqlx::query_as("SELECT is_anonymous FROM customers WHERE id = $1")
        .bind(claims.sub)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(is_anonymous);
    let (user_id, counter, hash, ua): (Uuid, i64, String, Option<String>) =
        sqlx::query_as("SELECT user_id, counter, secret_hash, user_agent FROM auth_sessions WHERE id = $1")
            .bind(claims.session_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((user_id, counter), (claims.sub, 0));
    assert!(hash.starts_with("$2"), "only a bcrypt hash is stored");
    assert!(!pair.str("refresh_token").contains(&hash));
    assert_eq!(ua, None);
}

#[tokio::test]
async fn session_and_me_answer_for_the_signed_in_customer() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    let token = pair.str("access_token");
    let claims = app.claims(&token);

    let session = app.get_with("/api/shared/auth/session", &token).await;
    assert_eq!(session.status, StatusCode::OK);
    assert_eq!(session.str("user_id"), claims.sub.to_string());
    assert_eq!(session.str("session_id"), claims.session_id.to_string());
    assert_eq!(session.str("user_type"), "customer");
    let expires_at = chrono::DateTime::parse_from_rfc3339(&session.str("expires_at")).unwrap();
    assert_eq!(expires_at.timestamp(), claims.exp);

    let me = app.get_with("/api/client/me", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.str("id"), claims.sub.to_string());
    assert_eq!(me.body["is_anonymous"], true);
    assert!(me.body["phone"].is_null() && me.body["email"].is_null() && me.body["display_name"].is_null());
    assert!(me.body["created_at"].is_string());
}

#[tokio::test]
async fn mitra_me_returns_the_mitra_profile() {
    let app = spawn_app().await;
    let token = app.fixtures().mitra_with_phone("+6281234567890", "Sari").await.access_token;
    let me = app.get_with("/api/mitra/me", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.str("phone"), "+6281234567890");
    assert_eq!(me.str("display_name"), "Sari");
}

#[tokio::test]
async fn refresh_rotates_the_token_and_keeps_the_session() {
    let app = spawn_app().await;
    let first = app.anonymous().await;
    let rotated = app.refresh(&first.str("refresh_token")).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_ne!(rotated.str("refresh_token"), first.str("refresh_token"));
    assert_eq!(rotated.body["user"], first.body["user"]);
    let claims = app.claims(&rotated.str("access_token"));
    assert_eq!(claims.session_id, app.claims(&first.str("access_token")).session_id);
    assert_eq!(app.session_row(claims.session_id).await, (1, None));

    let again = app.refresh(&rotated.str("refresh_token")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(app.session_row(claims.session_id).await, (2, None));
}

#[tokio::test]
async fn replaying_the_previous_token_within_the_grace_window_returns_the_same_new_token() {
    let app = spawn_app().await;
    let first = app.anonymous().await;
    let rotated = app.refresh(&first.str("refresh_token")).await;
    let replay = app.refresh(&first.str("refresh_token")).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_eq!(replay.str("refresh_token"), rotated.str("refresh_token"));
    let session_id = app.claims(&replay.str("access_token")).session_id;
    assert_eq!(app.session_row(session_id).await, (1, None), "no second rotation, nothing revoked");
}

#[tokio::test]
async fn replaying_a_rotated_token_after_the_grace_window_revokes_the_whole_session() {
    let app = spawn_app().await;
    let first = app.anonymous().await;
    let rotated = app.refresh(&first.str("refresh_token")).await;
    let session_id = app.claims(&rotated.str("access_token")).session_id;
    // Backdated past the grace window: no API makes a rotation 11 seconds old.
    sqlx::query("UPDATE auth_sessions SET rotated_at = now() - interval '11 seconds' WHERE id = $1")
        .bind(session_id)
        .execute(&app.db.pool)
        .await
        .unwrap();

    let replay = app.refresh(&first.str("refresh_token")).await;
    assert_eq!((replay.status, replay.error_code()), (StatusCode::UNAUTHORIZED, "refresh_token_reused"));
    assert_eq!(app.session_row(session_id).await, (1, Some("refresh_token_reused".into())));

    let latest = app.refresh(&rotated.str("refresh_token")).await;
    assert_eq!((latest.status, latest.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_of_one_token_all_get_the_same_new_token() {
    let app = Arc::new(spawn_app().await);
    let first = app.anonymous().await;
    let token = first.str("refresh_token");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, token) = (app.clone(), token.clone());
        tasks.spawn(async move { app.refresh(&token).await });
    }
    let mut new_tokens = std::collections::BTreeSet::new();
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        new_tokens.insert(reply.str("refresh_token"));
    }
    assert_eq!(new_tokens.len(), 1, "one live token");
    let session_id = app.claims(&first.str("access_token")).session_id;
    assert_eq!(app.session_row(session_id).await, (1, None), "exactly one rotation, not revoked");
    let next = app.refresh(new_tokens.first().unwrap()).await;
    assert_eq!(next.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_forged_and_unknown_refresh_tokens_are_invalid() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    let real = pair.str("refresh_token");
    let (id, rest) = real.split_once('.').unwrap();
    let (_, secret) = rest.split_once('.').unwrap();
    let forged_counter = format!("{id}.5.{secret}");
    let unknown_session = format!("{}.0.{secret}", Uuid::new_v4().simple());
    for token in ["garbage", "a.b.c", forged_counter.as_str(), unknown_session.as_str(), &real[..real.len() - 2]] {
        let reply = app.refresh(token).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_refresh_token"), "{token}");
    }
    let session_id = app.claims(&pair.str("access_token")).session_id;
    assert_eq!(app.session_row(session_id).await, (0, None), "nothing changed");
}

#[tokio::test]
async fn an_expired_session_cannot_be_refreshed() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    // Expired by backdating: no API makes a session older than its 30 days.
    sqlx::query("UPDATE auth_sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let reply = app.refresh(&pair.str("refresh_token")).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "session_expired"));
}

#[tokio::test]
async fn logout_revokes_the_session_so_its_refresh_token_fails() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    let logout = app.logout(&pair.str("access_token")).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let session_id = app.claims(&pair.str("access_token")).session_id;
    assert_eq!(app.session_row(session_id).await, (0, Some("logout".into())));
    let reply = app.refresh(&pair.str("refresh_token")).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
}

#[tokio::test]
async fn anonymous_sign_ins_are_limited_per_ip_across_instances() {
    let settings = GatewaySettings { anon_signins_per_ip_per_hour: 3, ..halo_shared::testing::gateway_settings() };
    let a = spawn_app_with(settings.clone()).await;
    let b = app_on(a.db.clone(), settings).await;
    for app in [&a, &b, &a] {
        assert_eq!(app.anonymous_from("203.0.113.9").await.status, StatusCode::OK);
    }
    let limited = b.anonymous_from("203.0.113.9").await;
    assert_eq!((limited.status, limited.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(a.anonymous_from("203.0.113.10").await.status, StatusCode::OK, "other IPs are unaffected");
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers").fetch_one(&a.db.pool).await.unwrap();
    assert_eq!(customers, 4, "the refused sign-in created nothing");
}
