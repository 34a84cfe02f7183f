//! `internal-cc revoke-sessions --issued-before TIME`, run as the operator would.

use std::process::{Command, Output};

use halo_shared::testing::{self, TestDb};
use uuid::Uuid;

fn revoke_sessions(db: &TestDb, issued_before: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_internal-cc"))
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("LOG_FORMAT", "json")
        .args(["revoke-sessions", "--issued-before", issued_before])
        .output()
        .expect("run the binary")
}

/// A session row created `created` ago (a Postgres interval), as a sign-in would leave it.
async fn session(db: &TestDb, created: &str, expires_in: &str, revoked_reason: Option<&str>) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO auth_sessions (id, user_id, user_type, counter, secret_hash, created_at, expires_at,
                                    revoked_at, revoked_reason)
         VALUES ($1, $2, 'cc_user', 0, '$2b$04$x', now() - $3::interval, now() + $4::interval,
                 CASE WHEN $5::text IS NULL THEN NULL ELSE now() END, $5)",
    )
    .bind(id)
    .bind(Uuid::new_v4())
    .bind(created)
    .bind(expires_in)
    .bind(revoked_reason)
    .execute(&db.pool)
    .await
    .expect("insert session");
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
    let db = testing::fresh_database().await;
    let old_live = session(&db, "3 hours", "29 days", None).await;
    let old_logged_out = session(&db, "3 hours", "29 days", Some("logout")).await;
    let old_expired = session(&db, "40 days", "-1 day", None).await;
    let new_live = session(&db, "1 minute", "30 days", None).await;
    let cutoff = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();

    let out = revoke_sessions(&db, &cutoff);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "prints how many it ended");
    assert_eq!(reason(&db, old_live).await.as_deref(), Some("key_rotation"));
    assert_eq!(reason(&db, old_logged_out).await.as_deref(), Some("logout"), "already ended: untouched");
    assert_eq!(reason(&db, old_expired).await, None, "expired sessions are not live");
    assert_eq!(reason(&db, new_live).await, None, "sessions created after the time go on");

    let again = revoke_sessions(&db, &cutoff);
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "0");
}

#[tokio::test]
async fn revoke_sessions_refuses_a_time_that_is_not_rfc_3339_and_changes_nothing() {
    let db = testing::fresh_database().await;
    let live = session(&db, "3 hours", "29 days", None).await;
    for bad in ["yesterday", "2026-12-01 08:00", "1796083200"] {
        let out = revoke_sessions(&db, bad);
        assert!(!out.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--issued-before") && stderr.contains("RFC 3339"), "{stderr}");
    }
    assert_eq!(reason(&db, live).await, None);
}
