//! `public-gateway purge`: only what is past its window goes, in batches, each table by
//! its owner; money records and the audit log stay.

use halo_shared::testing::{self, TestDb};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_public-gateway");

fn purge(db: &TestDb) -> String {
    let out = std::process::Command::new(BIN).env_clear().env("DATABASE_URL", db.url()).arg("purge").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('{')).map(str::to_owned).collect();
    assert_eq!(printed.len(), 1, "one line: {printed:?}");
    printed[0].clone()
}

async fn exec(db: &TestDb, sql: &str) {
    sqlx::raw_sql(sql).execute(&db.pool).await.unwrap();
}

async fn labels(db: &TestDb, sql: &str) -> Vec<String> {
    let mut found: Vec<String> = sqlx::query_scalar(sql).fetch_all(&db.pool).await.unwrap();
    found.sort();
    found
}

/// A session row: `label` in its user agent.
fn session(id: Uuid, label: &str, expires: &str, revoked: &str) -> String {
    format!(
        "INSERT INTO auth_sessions (id, user_id, user_type, secret_hash, expires_at, revoked_at, user_agent)
         VALUES ('{id}', gen_random_uuid(), 'customer', 'x', {expires}, {revoked}, '{label}');"
    )
}

#[tokio::test]
async fn purge_deletes_only_rows_past_their_windows_and_prints_what_it_deleted_per_table() {
    let db = testing::fresh_database().await;
    let (live, old_revoked) = (Uuid::new_v4(), Uuid::new_v4());
    exec(
        &db,
        &[
            session(live, "live", "now() + interval '20 days'", "NULL"),
            session(old_revoked, "revoked-31d", "now() + interval '1 day'", "now() - interval '31 days'"),
            session(Uuid::new_v4(), "expired-31d", "now() - interval '31 days'", "NULL"),
            session(Uuid::new_v4(), "revoked-29d", "now() + interval '1 day'", "now() - interval '29 days'"),
            session(Uuid::new_v4(), "expired-29d", "now() - interval '29 days'", "NULL"),
        ]
        .concat(),
    )
    .await;
    exec(&db, &format!("
        INSERT INTO devices (session_id, user_type, user_id, fcm_token, platform)
        VALUES ('{old_revoked}', 'customer', gen_random_uuid(), 'old-device', 'android'),
               ('{live}', 'customer', gen_random_uuid(), 'live-device', 'android');
        INSERT INTO otp_challenges (id, user_type, phone, code_hash, expires_at, created_at) VALUES
            (gen_random_uuid(), 'customer', 'otp-old', '\\x00', now() - interval '2 days', now() - interval '2 days'),
            (gen_random_uuid(), 'customer', 'otp-expired-an-hour', '\\x00', now() - interval '1 hour', now() - interval '2 hours'),
            (gen_random_uuid(), 'customer', 'otp-live', '\\x00', now() + interval '5 minutes', now());
        INSERT INTO otp_phone_sends (phone, sent_at) VALUES ('send-old', now() - interval '25 hours'),
                                                            ('send-fresh', now() - interval '23 hours');
        INSERT INTO user_events (id, user_type, user_id, type, data, created_at) VALUES
            (1, 'customer', gen_random_uuid(), 'event-old', '{{}}', now() - interval '8 days'),
            (2, 'customer', gen_random_uuid(), 'event-fresh', '{{}}', now() - interval '6 days');
        SELECT setval('user_events_id_seq', 2);
        INSERT INTO notifications (id, user_type, user_id, title, body, event_id, created_at) VALUES
            ('00000000-0000-4000-8000-000000000001', 'customer', gen_random_uuid(), 'kept', 'b', 1, now() - interval '8 days'),
            ('00000000-0000-4000-8000-000000000002', 'customer', gen_random_uuid(), 'kept too', 'b', 2, now());
        INSERT INTO push_outbox (notification_id, fcm_token, status, created_at) VALUES
            ('00000000-0000-4000-8000-000000000001', 'push-sent-old', 'sent', now() - interval '8 days'),
            ('00000000-0000-4000-8000-000000000001', 'push-pending-old', 'pending', now() - interval '8 days'),
            ('00000000-0000-4000-8000-000000000002', 'push-sent-fresh', 'sent', now() - interval '6 days');
        INSERT INTO ws_tickets (ticket_hash, user_type, user_id, session_id, token_iat, token_exp, expires_at) VALUES
            ('\\x01', 'customer', gen_random_uuid(), '{live}', 0, 0, now() - interval '1 minute'),
            ('\\x02', 'customer', gen_random_uuid(), '{live}', 0, 0, now() + interval '30 seconds');
        INSERT INTO id_token_uses (token_hash, provider, subject, expires_at) VALUES
            ('\\x01', 'google', 'idt-old', now() - interval '1 minute'),
            ('\\x02', 'google', 'idt-live', now() + interval '10 minutes');
        INSERT INTO rate_limits (key, window_end, count)
            SELECT 'old:' || i, now() - interval '1 second', 1 FROM generate_series(1, 2500) i;
        INSERT INTO rate_limits (key, window_end, count) VALUES ('live', now() + interval '1 hour', 1);
        INSERT INTO audit_log (action, at) VALUES ('old.entry', now() - interval '400 days');
    ")).await;

    let printed = purge(&db);

    assert_eq!(
        printed,
        "otp_challenges=1 otp_phone_sends=1 auth_sessions=2 user_events=1 push_outbox=1 ws_tickets=1 \
         id_token_uses=1 rate_limits=2500",
        "2500 counters take three batches"
    );
    assert_eq!(labels(&db, "SELECT user_agent FROM auth_sessions").await, ["expired-29d", "live", "revoked-29d"]);
    assert_eq!(labels(&db, "SELECT fcm_token FROM devices").await, ["live-device"], "devices go with their session");
    assert_eq!(labels(&db, "SELECT phone FROM otp_challenges").await, ["otp-expired-an-hour", "otp-live"]);
    assert_eq!(labels(&db, "SELECT phone FROM otp_phone_sends").await, ["send-fresh"]);
    assert_eq!(labels(&db, "SELECT type FROM user_events").await, ["event-fresh"]);
    assert_eq!(
        labels(&db, "SELECT title || ':' || COALESCE(event_id::text, 'none') FROM notifications").await,
        ["kept too:2", "kept:none"],
        "notifications stay; an old one loses only its event"
    );
    assert_eq!(labels(&db, "SELECT fcm_token FROM push_outbox").await, ["push-pending-old", "push-sent-fresh"]);
    assert_eq!(labels(&db, "SELECT encode(ticket_hash, 'hex') FROM ws_tickets").await, ["02"]);
    assert_eq!(labels(&db, "SELECT subject FROM id_token_uses").await, ["idt-live"]);
    assert_eq!(labels(&db, "SELECT key FROM rate_limits").await, ["live"]);
    assert_eq!(labels(&db, "SELECT action FROM audit_log").await, ["old.entry"], "the audit log is never purged");

    assert_eq!(
        purge(&db),
        "otp_challenges=0 otp_phone_sends=0 auth_sessions=0 user_events=0 push_outbox=0 ws_tickets=0 \
         id_token_uses=0 rate_limits=0",
        "a second run finds nothing"
    );
}
