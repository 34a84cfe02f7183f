//! `internal-cc revoke-sessions --issued-before TIME`, run as the operator would.

use std::process::{Command, Output};

use halo_shared::testing::TestDb;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use uuid::Uuid;

use crate::helpers::{send, spawn_app, TestApp};

fn revoke_sessions(db: &TestDb, issued_before: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_internal-cc"))
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("LOG_FORMAT", "json")
        .args(["revoke-sessions", "--issued-before", issued_before])
        .output()
        .expect("run the binary")
}

/// A staff member's session, signed in through the API, created `created` ago and
/// expiring in `expires_in` (Postgres intervals); with `logged_out`, ended by logout.
async fn session(app: &TestApp, created: &str, expires_in: &str, logged_out: bool) -> Uuid {
    let staff = app.fixtures().staff(Role::Agent).await;
    let id = app.state.keys.verify(&staff.access_token, chrono::Utc::now().timestamp()).unwrap().session_id;
    // Backdated: no API makes a session hours or days old, or one already past its expiry.
    sqlx::query(
        "UPDATE auth_sessions SET created_at = now() - $2::interval, expires_at = now() + $3::interval WHERE id = $1",
    )
    .bind(id)
    .bind(created)
    .bind(expires_in)
    .execute(&app.db.pool)
    .await
    .expect("backdate the session");
    if logged_out {
        let reply = send(
            app.client.post("/internal/auth/logout").header("authorization", format!("Bearer {}", staff.access_token)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    }
    id
}

async fn reason(db: &TestDb, id: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT revoked_reason FROM auth_sessions WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("session row")
}

#[tokio::test]
async fn revoke_sessions_ends_the_live_sessions_created_before_the_time_and_only_those() {
    let app = spawn_app().await;
    let db = &app.db;
    let old_live = session(&app, "3 hours", "29 days", false).await;
    let old_logged_out = session(&app, "3 hours", "29 days", true).await;
    let old_expired = session(&app, "40 days", "-1 day", false).await;
    let new_live = session(&app, "1 minute", "30 days", false).await;
    let cutoff = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();

    let out = revoke_sessions(db, &cutoff);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "prints how many it ended");
    assert_eq!(reason(db, old_live).await.as_deref(), Some("key_rotation"));
    assert_eq!(reason(db, old_logged_out).await.as_deref(), Some("logout"), "already ended: untouched");
    assert_eq!(reason(db, old_expired).await, None, "expired sessions are not live");
    assert_eq!(reason(db, new_live).await, None, "sessions created after the time go on");

    let again = revoke_sessions(db, &cutoff);
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "0");
}

#[tokio::test]
async fn revoke_sessions_refuses_a_time_that_is_not_rfc_3339_and_changes_nothing() {
    let app = spawn_app().await;
    let db = &app.db;
    let live = session(&app, "3 hours", "29 days", false).await;
    for bad in ["yesterday", "2026-12-01 08:00", "1796083200"] {
        let out = revoke_sessions(db, bad);
        assert!(!out.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--issued-before") && stderr.contains("RFC 3339"), "{stderr}");
    }
    assert_eq!(reason(db, live).await, None);
}
