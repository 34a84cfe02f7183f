//! Staff sign-in under attack (review H1, M1, L11): refresh refuses dead cookies before
//! any bcrypt and is limited; the login throttle cannot be raced; a disabled account is
//! no password oracle.

use halo_shared::state::ControlCenterSettings;
use halo_shared::tokens::hashing::count_runs;
use halo_shared::users::staff::Role;
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
    let app = spawn_app_with(ControlCenterSettings {
        shared: halo_shared::Settings { refresh_per_session_per_minute: 1, ..halo_shared::testing::settings() },
        cc_allowed_origins: vec![SPA.into()],
        ..halo_shared::testing::control_center_settings()
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

/// Fires `logins` concurrent logins and returns how many got each status and how many
/// password checks (bcrypt runs) they caused in all.
async fn concurrent_logins(
    app: &std::sync::Arc<crate::helpers::TestApp>,
    logins: Vec<(String, String)>,
) -> (std::collections::BTreeMap<u16, usize>, u32) {
    let mut tasks = tokio::task::JoinSet::new();
    for (email, password) in logins {
        let app = app.clone();
        tasks.spawn(async move { count_runs(app.login_from(&email, &password, "198.51.100.20")).await });
    }
    let (mut statuses, mut checks) = (std::collections::BTreeMap::new(), 0);
    while let Some(joined) = tasks.join_next().await {
        let (reply, runs) = joined.unwrap();
        *statuses.entry(reply.status.as_u16()).or_insert(0) += 1;
        checks += runs;
    }
    (statuses, checks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_concurrent_wrong_logins_for_one_email_get_at_most_five_password_checks() {
    let settings = ControlCenterSettings {
        login_failures_per_email: 5,
        login_failures_per_ip: 1000,
        ..halo_shared::testing::control_center_settings()
    };
    let app = std::sync::Arc::new(spawn_app_with(settings).await);
    app.create_staff("admin@halobestie.id", Role::Admin).await;
    let guesses = (0..60).map(|i| ("admin@halobestie.id".to_owned(), format!("wrong-guess-{i}"))).collect();
    let (statuses, checks) = concurrent_logins(&app, guesses).await;
    assert_eq!(statuses.get(&401).copied().unwrap_or(0), 5, "{statuses:?}");
    assert_eq!(statuses.get(&429).copied().unwrap_or(0), 55, "{statuses:?}");
    assert_eq!(checks, 5, "only the reserved attempts reached bcrypt");
    let locked = app.login("admin@halobestie.id", crate::helpers::PASSWORD).await;
    assert_eq!(locked.error_code(), "rate_limited", "even the right password waits out the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_concurrent_wrong_logins_from_one_ip_get_at_most_the_ip_cap_of_checks() {
    let settings = ControlCenterSettings {
        login_failures_per_email: 1000,
        login_failures_per_ip: 5,
        ..halo_shared::testing::control_center_settings()
    };
    let app = std::sync::Arc::new(spawn_app_with(settings).await);
    // The unknown-email dummy hash is made once per process; make it before counting.
    halo_shared::auth::staff::warm_up(&app.state).await.unwrap();
    let guesses = (0..60).map(|i| (format!("user{i}@halobestie.id"), "wrong-password".to_owned())).collect();
    let (statuses, checks) = concurrent_logins(&app, guesses).await;
    assert_eq!((statuses.get(&401).copied(), statuses.get(&429).copied()), (Some(5), Some(55)), "{statuses:?}");
    assert_eq!(checks, 5);
}

#[tokio::test]
async fn successful_logins_give_their_attempt_back() {
    let settings =
        ControlCenterSettings { login_failures_per_email: 2, ..halo_shared::testing::control_center_settings() };
    let app = spawn_app_with(settings).await;
    app.create_staff("daily@halobestie.id", Role::Agent).await;
    for _ in 0..4 {
        assert_eq!(app.login("daily@halobestie.id", crate::helpers::PASSWORD).await.status, StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(app.login("daily@halobestie.id", "wrong password!").await.error_code(), "invalid_credentials");
    }
    assert_eq!(app.login("daily@halobestie.id", crate::helpers::PASSWORD).await.error_code(), "rate_limited");
}

#[tokio::test]
async fn a_disabled_account_answers_right_and_wrong_passwords_identically() {
    let app = spawn_app().await;
    let id = app.create_staff("left@halobestie.id", Role::Agent).await;
    halo_shared::users::staff::set_disabled(&app.db.pool, id, true).await.unwrap();
    let (right, right_checks) = count_runs(app.login("left@halobestie.id", crate::helpers::PASSWORD)).await;
    let (wrong, wrong_checks) = count_runs(app.login("left@halobestie.id", "not the password")).await;
    assert_eq!((right.status, right.error_code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    assert_eq!(right.body, wrong.body);
    assert_eq!(right.status, wrong.status);
    assert_eq!((right_checks, wrong_checks), (1, 1), "both run the same password check");
    assert!(right.headers.get("set-cookie").is_none());
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_sessions").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(sessions, 0);
}
