//! Staff login, cookie refresh, logout, CORS and the hardening around them.

use halo_shared::state::ControlCenterSettings;
use halo_shared::tokens::UserType;
use halo_shared::users::staff::{self, Role};
use poem::http::StatusCode;
use uuid::Uuid;

use crate::helpers::{refresh_cookie, send, spawn_app, spawn_app_with, PASSWORD, SPA};

#[tokio::test]
async fn login_returns_an_access_token_and_sets_the_refresh_cookie() {
    let app = spawn_app().await;
    let id = app.create_staff("Admin@HaloBestie.id", Role::Admin).await;
    let reply = app.login("admin@halobestie.id", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 3600);
    assert!(!reply.str("access_token").is_empty());
    assert_eq!(
        reply.body["user"],
        serde_json::json!({ "id": id, "email": "admin@halobestie.id", "role": "admin", "display_name": "Staff Member" })
    );
    assert!(reply.body.get("refresh_token").is_none(), "the refresh token never travels in a body");

    let cookie = reply.headers["set-cookie"].to_str().unwrap();
    let token = refresh_cookie(&reply);
    assert_eq!(
        cookie,
        format!("cc_refresh_token={token}; HttpOnly; Secure; SameSite=Strict; Path=/internal/auth; Max-Age=2592000")
    );
    let me = app.get_with("/internal/auth/me", &reply.str("access_token")).await;
    assert_eq!((me.status, me.body["id"].as_str()), (StatusCode::OK, Some(id.to_string().as_str())));
}

#[tokio::test]
async fn cookie_secure_false_drops_only_the_secure_attribute() {
    let app = spawn_app_with(ControlCenterSettings {
        cookie_secure: false,
        ..halo_shared::testing::control_center_settings()
    })
    .await;
    app.create_staff("dev@halobestie.id", Role::Agent).await;
    let reply = app.login("dev@halobestie.id", PASSWORD).await;
    let cookie = reply.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.ends_with("; HttpOnly; SameSite=Strict; Path=/internal/auth; Max-Age=2592000"), "{cookie}");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.create_staff("agent@halobestie.id", Role::Agent).await;
    let wrong_password = app.login("agent@halobestie.id", "wrong password!!").await;
    let unknown = app.login("nobody@halobestie.id", PASSWORD).await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.error_code(), "invalid_credentials");
    assert_eq!((unknown.status, &unknown.body), (wrong_password.status, &wrong_password.body));
    assert!(unknown.headers.get("set-cookie").is_none() && wrong_password.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn refresh_via_cookie_rotates_and_a_reused_cookie_revokes_the_session() {
    let app = spawn_app().await;
    let id = app.create_staff("ops@halobestie.id", Role::Agent).await;
    let login = app.login("ops@halobestie.id", PASSWORD).await;
    let first = refresh_cookie(&login);

    let rotated = app.refresh_with_cookie(&first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert!(rotated.body.get("refresh_token").is_none());
    assert_eq!(rotated.body["user"]["email"], "ops@halobestie.id");
    let second = refresh_cookie(&rotated);
    assert_ne!(first, second);

    let grace = app.refresh_with_cookie(&first).await;
    assert_eq!((grace.status, refresh_cookie(&grace)), (StatusCode::OK, second.clone()), "retry within grace");

    // Backdated past the grace window: no API makes a rotation 11 seconds old.
    sqlx::query("UPDATE auth_sessions SET rotated_at = now() - interval '11 seconds'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let reused = app.refresh_with_cookie(&first).await;
    assert_eq!((reused.status, reused.error_code()), (StatusCode::UNAUTHORIZED, "refresh_token_reused"));
    assert_eq!(app.session_revoked_reason(id).await.as_deref(), Some("refresh_token_reused"));
    let latest = app.refresh_with_cookie(&second).await;
    assert_eq!(latest.error_code(), "session_revoked");
}

#[tokio::test]
async fn refresh_without_the_cookie_is_401() {
    let app = spawn_app().await;
    let reply = send(app.client.post("/internal/auth/refresh")).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_refresh_token"));
}

#[tokio::test]
async fn logout_clears_the_cookie_and_revokes_the_session() {
    let app = spawn_app().await;
    let id = app.create_staff("bye@halobestie.id", Role::Agent).await;
    let login = app.login("bye@halobestie.id", PASSWORD).await;
    let logout = send(
        app.client
            .post("/internal/auth/logout")
            .header("authorization", format!("Bearer {}", login.str("access_token"))),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(
        logout.headers["set-cookie"],
        "cc_refresh_token=; HttpOnly; Secure; SameSite=Strict; Path=/internal/auth; Max-Age=0"
    );
    assert_eq!(app.session_revoked_reason(id).await.as_deref(), Some("logout"));
    let refresh = app.refresh_with_cookie(&refresh_cookie(&login)).await;
    assert_eq!(refresh.error_code(), "session_revoked");
}

#[tokio::test]
async fn cors_preflight_grants_only_the_control_center_origin() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.client
            .options("/internal/auth/login")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
    };
    let allowed = send(preflight(SPA)).await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.headers["access-control-allow-origin"], SPA);
    assert_eq!(allowed.headers["access-control-allow-credentials"], "true");

    let denied = send(preflight("https://evil.example")).await;
    assert!(denied.headers.get("access-control-allow-origin").is_none());
    assert_eq!((denied.status, denied.error_code()), (StatusCode::FORBIDDEN, "forbidden"));
}

#[tokio::test]
async fn without_configured_origins_no_origin_gets_a_cors_grant() {
    let app = spawn_app_with(halo_shared::testing::control_center_settings()).await;
    let reply = send(app.client.get("/internal/healthz").header("origin", "https://cc.halobestie.test")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_cross_site_refresh_is_refused_and_rotates_nothing() {
    let app = spawn_app().await;
    let id = app.create_staff("x@halobestie.id", Role::Agent).await;
    let login = app.login("x@halobestie.id", PASSWORD).await;
    let token = refresh_cookie(&login);
    let reply = send(
        app.client
            .post("/internal/auth/refresh")
            .header("origin", "https://evil.example")
            .header("cookie", format!("cc_refresh_token={token}")),
    )
    .await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::FORBIDDEN, "forbidden"));
    let counter: i64 = sqlx::query_scalar("SELECT counter FROM auth_sessions WHERE user_id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(counter, 0);
    let same_site = send(
        app.client
            .post("/internal/auth/refresh")
            .header("origin", SPA)
            .header("cookie", format!("cc_refresh_token={token}")),
    )
    .await;
    assert_eq!(same_site.status, StatusCode::OK);
}

#[tokio::test]
async fn failed_logins_are_throttled_per_email_and_per_ip() {
    let app = spawn_app_with(ControlCenterSettings {
        login_failures_per_email: 3,
        login_failures_per_ip: 5,
        ..halo_shared::testing::control_center_settings()
    })
    .await;
    app.create_staff("target@halobestie.id", Role::Admin).await;
    for i in 0..3 {
        let reply = app.login_from("target@halobestie.id", "wrong-password", &format!("192.0.2.{i}")).await;
        assert_eq!(reply.error_code(), "invalid_credentials");
    }
    let limited = app.login_from("target@halobestie.id", PASSWORD, "192.0.2.50").await;
    assert_eq!((limited.status, limited.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after));

    for i in 0..5 {
        let reply = app.login_from(&format!("user{i}@halobestie.id"), "nope-nope-nope", "198.51.100.77").await;
        assert_eq!(reply.error_code(), "invalid_credentials");
    }
    let by_ip = app.login_from("someone-else@halobestie.id", "whatever-at-all", "198.51.100.77").await;
    assert_eq!(by_ip.error_code(), "rate_limited");
}

#[tokio::test]
async fn a_disabled_staff_user_can_neither_log_in_nor_refresh() {
    let app = spawn_app().await;
    let id = app.create_staff("gone@halobestie.id", Role::Agent).await;
    let login = app.login("gone@halobestie.id", PASSWORD).await;
    staff::set_disabled(&app.db.pool, id, true).await.unwrap();

    let again = app.login("gone@halobestie.id", PASSWORD).await;
    assert_eq!((again.status, again.error_code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    let refresh = app.refresh_with_cookie(&refresh_cookie(&login)).await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.session_revoked_reason(id).await.as_deref(), Some("disabled"));
}

#[tokio::test]
async fn mobile_tokens_are_refused_with_403_on_internal_routes() {
    let app = spawn_app().await;
    let now = chrono::Utc::now().timestamp();
    for user_type in [UserType::Customer, UserType::Mitra] {
        let (token, _) = app.state.keys.mint(Uuid::new_v4(), user_type, Uuid::new_v4(), now);
        let me = app.get_with("/internal/auth/me", &token).await;
        assert_eq!((me.status, me.error_code()), (StatusCode::FORBIDDEN, "forbidden"));
    }
    let bad = app.get_with("/internal/auth/me", "not-a-token").await;
    assert_eq!((bad.status, bad.error_code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
}
