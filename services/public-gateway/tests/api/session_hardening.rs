//! The gateway's side of issue 30 (L-1, L-9, gap 2): tokens of the control center's
//! audience or of none are refused, the services' database role cannot rewrite the
//! append-only tables, provider names follow the display-name rules, socket tickets are
//! limited and never cached, and session lists are bounded.

use halo_shared::testing::fixtures::Customer;
use halo_shared::testing::{self, send};
use halo_shared::tokens::{Audience, Keys, UserType};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::http::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::oidc::{apple_claims, google_claims, provider_app, sign};
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_gateway_refuses_tokens_minted_for_the_control_center_or_for_no_audience() {
    let app = spawn_app().await;
    let Customer { id, access_token, session_id, .. } = app.fixtures().anonymous_customer().await;
    assert_eq!(app.claims(&access_token).aud, Audience::Mobile);
    assert_eq!(app.get_with("/api/shared/auth/session", &access_token).await.status, StatusCode::OK);

    let now = chrono::Utc::now().timestamp();
    let cc = Keys::new(testing::JWT_SECRET).for_audience(Audience::ControlCenter);
    let (for_cc, _) = cc.mint(id, UserType::Customer, session_id, now);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(cc.current_kid().to_owned());
    let claims = json!({ "sub": id, "user_type": "customer", "session_id": session_id, "iat": now, "exp": now + 3600 });
    let unaudienced = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(testing::JWT_SECRET)).unwrap();
    let wrong = json!({ "sub": id, "aud": "someone-else", "user_type": "customer", "session_id": session_id,
                        "iat": now, "exp": now + 3600 });
    let foreign = jsonwebtoken::encode(&header, &wrong, &EncodingKey::from_secret(testing::JWT_SECRET)).unwrap();
    for token in [for_cc, unaudienced, foreign] {
        let reply = app.get_with("/api/shared/auth/session", &token).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_token"), "{}", reply.body);
    }
}

/// A connection to the test database acting as the services' runtime role.
async fn as_runtime_role(url: &str) -> sqlx::PgConnection {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("SET ROLE halo_app").execute(&mut conn).await.unwrap();
    conn
}

/// The SQLSTATE of a statement run on `conn` that must fail.
async fn refusal(conn: &mut sqlx::PgConnection, sql: &str) -> String {
    let err = sqlx::query(sql).execute(&mut *conn).await.expect_err(sql);
    err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned()).unwrap_or_default()
}

#[tokio::test]
async fn the_runtime_role_cannot_rewrite_the_audit_log_or_the_ledger_but_does_its_ordinary_writes() {
    let app = spawn_app().await;
    for setup in [
        "INSERT INTO audit_log (action, details) VALUES ('test.entry', '{}')",
        "INSERT INTO ledger_transactions (reference, kind) VALUES ('test-1', 'test')",
    ] {
        sqlx::query(setup).execute(&app.db.pool).await.unwrap();
    }
    let mut conn = as_runtime_role(&app.db.url()).await;
    let owner: String = sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'audit_log'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_ne!(owner, "halo_app", "the runtime role owns no table");
    let owned: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tableowner = 'halo_app'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(owned, 0);

    // 42501: insufficient_privilege — refused by the grants, before any trigger runs.
    for sql in [
        "UPDATE audit_log SET action = 'rewritten'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE ledger_postings SET amount = 1",
        "DELETE FROM ledger_postings",
        "TRUNCATE ledger_postings",
        "UPDATE ledger_transactions SET kind = 'rewritten'",
        "DELETE FROM ledger_transactions",
        "TRUNCATE ledger_transactions",
        "DROP TRIGGER audit_log_no_update_or_delete ON audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "TRUNCATE customers CASCADE",
        "DELETE FROM _sqlx_migrations",
    ] {
        assert_eq!(refusal(&mut conn, sql).await, "42501", "{sql}");
    }
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'test.entry'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(entries, 1, "reading is allowed and nothing was rewritten");

    // Ordinary writes work: appending to the append-only tables, and read-write tables.
    sqlx::query("INSERT INTO audit_log (action, details) VALUES ('test.second', '{}')")
        .execute(&mut conn)
        .await
        .unwrap();
    let customer = app.fixtures().anonymous_customer().await.id;
    sqlx::query("UPDATE customers SET display_name = 'Runtime' WHERE id = $1")
        .bind(customer)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO rate_limits (key, window_end, count) VALUES ('role-test', now(), 1)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM rate_limits WHERE key = 'role-test'").execute(&mut conn).await.unwrap();
    let seq: i64 = sqlx::query_scalar("SELECT nextval('user_events_id_seq')").fetch_one(&mut conn).await.unwrap();
    assert!(seq > 0);
}

#[tokio::test]
async fn tables_created_by_later_migrations_are_granted_to_the_runtime_role_too() {
    let app = spawn_app().await;
    // As a later migration, run by the owner, would.
    sqlx::query("CREATE TABLE later_feature (id bigserial PRIMARY KEY, note text)")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let mut conn = as_runtime_role(&app.db.url()).await;
    sqlx::query("INSERT INTO later_feature (note) VALUES ('x')").execute(&mut conn).await.unwrap();
    sqlx::query("UPDATE later_feature SET note = 'y'").execute(&mut conn).await.unwrap();
    sqlx::query("DELETE FROM later_feature").execute(&mut conn).await.unwrap();
    assert_eq!(refusal(&mut conn, "DROP TABLE later_feature").await, "42501");
}

#[tokio::test]
async fn names_from_google_and_apple_follow_the_display_name_rules() {
    let f = provider_app().await;
    let mut long = google_claims("g-long");
    long["name"] = json!("N".repeat(81));
    let mut control = google_claims("g-control");
    control["name"] = json!("Ayu\u{0}Lestari");
    let mut fine = google_claims("g-fine");
    fine["name"] = json!("  Ayu Lestari  ");
    let mut names = vec![];
    for claims in [long, control, fine] {
        let reply = f.app.google(&sign(&claims, "rsa1", "g1"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "a bad name never blocks the sign-in: {}", reply.body);
        let me = f.app.get_with("/api/client/me", &reply.str("access_token")).await;
        names.push(me.body["display_name"].clone());
    }
    assert_eq!(names, [json!(null), json!(null), json!("Ayu Lestari")]);

    let bad_apple = json!({ "id_token": sign(&apple_claims("a-ctl"), "rsa1", "a1"), "full_name": "Budi\u{1b}[31m" });
    let reply = f.app.apple(bad_apple, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let me = f.app.get_with("/api/client/me", &reply.str("access_token")).await;
    assert_eq!(me.body["display_name"], json!(null));
}

#[tokio::test]
async fn a_session_buys_a_bounded_number_of_socket_tickets_and_none_is_cacheable() {
    let app = spawn_app().await;
    let token = app.fixtures().anonymous_customer().await.access_token;
    let buy = || send(app.client.post("/api/shared/ws/ticket").header("authorization", format!("Bearer {token}")));
    for _ in 0..halo_shared::auth::ticket::TICKETS_PER_SESSION {
        let reply = buy().await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(
            (&reply.headers["cache-control"], &reply.headers["pragma"]),
            (&"no-store".parse().unwrap(), &"no-cache".parse().unwrap())
        );
    }
    let refused = buy().await;
    assert_eq!((refused.status, refused.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(refused.headers.contains_key("retry-after"));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM ws_tickets").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(stored, i64::from(halo_shared::auth::ticket::TICKETS_PER_SESSION), "the refused one stored nothing");
    let other = app.fixtures().anonymous_customer().await.access_token;
    let theirs =
        send(app.client.post("/api/shared/ws/ticket").header("authorization", format!("Bearer {other}"))).await;
    assert_eq!(theirs.status, StatusCode::OK, "the limit is per session");
}

#[tokio::test]
async fn session_lists_are_bounded_newest_first_and_always_show_the_current_session() {
    let app = spawn_app().await;
    let Customer { id, access_token, session_id, .. } = app.fixtures().anonymous_customer().await;
    // The current session is the oldest of 151 live ones.
    sqlx::query("UPDATE auth_sessions SET created_at = now() - interval '1 day' WHERE id = $1;")
        .bind(session_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO auth_sessions (id, user_id, user_type, secret_hash, created_at, expires_at)
         SELECT gen_random_uuid(), $1, 'customer', 'x', now() - make_interval(secs => n), now() + interval '1 day'
         FROM generate_series(1, 150) AS n",
    )
    .bind(id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let listed = app.get_with("/api/shared/sessions", &access_token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let sessions = listed.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len() as i64, halo_shared::sessions::live::MAX_LISTED_SESSIONS);
    let created: Vec<&str> = sessions.iter().map(|s| s["created_at"].as_str().unwrap()).collect();
    let mut sorted = created.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted, "newest first");
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == json!(true)).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], session_id.to_string());
}
