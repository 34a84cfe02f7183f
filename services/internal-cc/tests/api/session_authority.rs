//! Who may hold and end a control-center session (issue 30: L-1, M-2, L-2, L-9, gap 3):
//! tokens of the mobile audience are refused, a role change ends the member's sessions
//! on every instance at once, agents end only app users' sessions, staff names follow the
//! display-name rules, and a login during a database outage is a 503 with `Retry-After`.

use std::time::{Duration, Instant};

use halo_shared::testing::fixtures::{Customer, StaffMember};
use halo_shared::testing::{self, send, Reply};
use halo_shared::tokens::{Audience, Keys};
use halo_shared::users::staff::Role;
use halo_shared::AppState;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::helpers::{app_with_keys, spawn_app, TestApp};

impl TestApp {
    async fn bearer(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let req = match method {
            "GET" => self.client.get(path),
            "POST" => self.client.post(path),
            "PATCH" => self.client.patch(path),
            "DELETE" => self.client.delete(path),
            other => panic!("no {other}"),
        };
        let req = req.header("authorization", format!("Bearer {token}"));
        match body {
            Some(body) => send(req.body_json(&body)).await,
            None => send(req).await,
        }
    }

    fn session_of(&self, token: &str) -> Uuid {
        self.state.keys.verify(token, chrono::Utc::now().timestamp()).unwrap().session_id
    }
}

/// A token for `claims`, signed with the test secret under its `kid`, as anyone holding
/// the secret could make it.
fn hand_made(claims: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(Keys::new(testing::JWT_SECRET).current_kid().to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(testing::JWT_SECRET)).unwrap()
}

#[tokio::test]
async fn the_control_center_refuses_tokens_minted_for_the_mobile_audience_or_for_none() {
    let app = spawn_app().await;
    let StaffMember { id, access_token, .. } = app.fixtures().staff(Role::Admin).await;
    let claims = app.state.keys.verify(&access_token, chrono::Utc::now().timestamp()).unwrap();
    assert_eq!(claims.aud, Audience::ControlCenter);
    assert_eq!(app.bearer("GET", "/internal/staff", &access_token, None).await.status, StatusCode::OK);

    // The same admin session, minted by a ring of the gateway's audience (what the
    // gateway's key would make), and once with no audience at all.
    let now = chrono::Utc::now().timestamp();
    let mobile = Keys::new(testing::JWT_SECRET);
    let (as_mobile, _) = mobile.mint_with_role(id, claims.user_type, claims.session_id, Some(Role::Admin), now);
    let unaudienced = hand_made(json!({
        "sub": id, "user_type": "cc_user", "session_id": claims.session_id, "role": "admin",
        "iat": now, "exp": now + 3600,
    }));
    for forged in [as_mobile, unaudienced] {
        let reply = app.bearer("GET", "/internal/staff", &forged, None).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_token"), "{}", reply.body);
    }
}

/// Polls `path` with `token` on `app` until it answers 401 `session_revoked`; panics
/// after a second.
async fn refused_within_a_second(app: &TestApp, path: &str, token: &str) {
    let started = Instant::now();
    loop {
        let reply = app.bearer("GET", path, token, None).await;
        if reply.error_code() == "session_revoked" {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "still accepted after a second: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_demoted_admin_is_refused_within_a_second_here_and_on_another_instance() {
    let app = spawn_app().await;
    let other = app_with_keys(app.db.clone(), Keys::new(testing::JWT_SECRET), testing::control_center_settings()).await;
    let boss = app.fixtures().staff(Role::Admin).await.access_token;
    let StaffMember { id: demoted, access_token: old_token, .. } = app.fixtures().staff(Role::Admin).await;
    assert_eq!(other.bearer("GET", "/internal/staff", &old_token, None).await.status, StatusCode::OK);

    let changed =
        app.bearer("PATCH", &format!("/internal/staff/{demoted}"), &boss, Some(json!({ "role": "agent" }))).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["role"], "agent");

    // The attack: the demoted admin's token still says `admin`; it must not mint a
    // second admin account, here or on the other instance.
    let create = json!({ "email": "backdoor@halobestie.id", "role": "admin", "password": "a long enough password" });
    // The revocation committed with the change; every instance, this one included, hears
    // of it within a second (contract §3).
    refused_within_a_second(&app, "/internal/staff", &old_token).await;
    let here = app.bearer("POST", "/internal/staff", &old_token, Some(create.clone())).await;
    assert_eq!((here.status, here.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"), "{}", here.body);
    refused_within_a_second(&other, "/internal/staff", &old_token).await;
    let there = other.bearer("POST", "/internal/staff", &old_token, Some(create)).await;
    assert_eq!(there.error_code(), "session_revoked");
    let backdoors: i64 = sqlx::query_scalar("SELECT count(*) FROM cc_users WHERE email = 'backdoor@halobestie.id'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(backdoors, 0);
    assert_eq!(app.session_revoked_reason(demoted).await.as_deref(), Some("role_changed"));
    let details: Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'staff.change' AND target_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(demoted.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((details["role"].as_str(), details["sessions_ended"].as_i64()), (Some("agent"), Some(1)));
}

#[tokio::test]
async fn a_promotion_also_ends_the_sessions_and_a_rename_alone_does_not() {
    let app = spawn_app().await;
    let boss = app.fixtures().staff(Role::Admin).await.access_token;
    let StaffMember { id, access_token: agent, .. } = app.fixtures().staff(Role::Agent).await;

    let renamed =
        app.bearer("PATCH", &format!("/internal/staff/{id}"), &boss, Some(json!({ "display_name": "Dewi" }))).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(app.get_with("/internal/auth/me", &agent).await.status, StatusCode::OK, "a rename keeps the session");
    let same_role =
        app.bearer("PATCH", &format!("/internal/staff/{id}"), &boss, Some(json!({ "role": "agent" }))).await;
    assert_eq!(same_role.status, StatusCode::OK);
    assert_eq!(app.get_with("/internal/auth/me", &agent).await.status, StatusCode::OK, "no change, no revocation");

    let promoted = app.bearer("PATCH", &format!("/internal/staff/{id}"), &boss, Some(json!({ "role": "admin" }))).await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    refused_within_a_second(&app, "/internal/auth/me", &agent).await;
}

#[tokio::test]
async fn an_agent_cannot_end_a_staff_session_but_ends_customer_and_mitra_sessions() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let admin = app.fixtures().staff(Role::Admin).await.access_token;
    let Customer { session_id: customer_session, .. } = app.fixtures().customer_with_phone("+6281234567077").await;

    // The attack: an agent ends an admin's session (or another agent's).
    let admin_session = app.session_of(&admin);
    let refused = app.bearer("DELETE", &format!("/internal/sessions/{admin_session}"), &agent, None).await;
    assert_eq!((refused.status, refused.error_code()), (StatusCode::NOT_FOUND, "not_found"), "{}", refused.body);
    assert_eq!(app.get_with("/internal/auth/me", &admin).await.status, StatusCode::OK, "the admin is still in");
    let revoked: Option<String> = sqlx::query_scalar("SELECT revoked_reason FROM auth_sessions WHERE id = $1")
        .bind(admin_session)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(revoked, None);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'session.revoke'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(audited, 0, "nothing happened, nothing audited");

    let ended = app.bearer("DELETE", &format!("/internal/sessions/{customer_session}"), &agent, None).await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.body);
    let reason: Option<String> = sqlx::query_scalar("SELECT revoked_reason FROM auth_sessions WHERE id = $1")
        .bind(customer_session)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(reason.as_deref(), Some("staff"));

    // Admins manage staff, so they may end a staff session.
    let agent_session = app.session_of(&agent);
    let by_admin = app.bearer("DELETE", &format!("/internal/sessions/{agent_session}"), &admin, None).await;
    assert_eq!(by_admin.status, StatusCode::NO_CONTENT, "{}", by_admin.body);
    refused_within_a_second(&app, "/internal/auth/me", &agent).await;
}

#[tokio::test]
async fn staff_display_names_follow_the_display_name_rules() {
    let app = spawn_app().await;
    let StaffMember { id, access_token: admin, .. } = app.fixtures().staff(Role::Admin).await;
    let long = "x".repeat(81);
    for bad in [long.as_str(), "Dewi\u{7}", "Line\nbreak"] {
        let body = json!({ "email": format!("{}@halobestie.id", Uuid::new_v4().simple()), "role": "agent",
                           "display_name": bad, "password": "a long enough password" });
        let created = app.bearer("POST", "/internal/staff", &admin, Some(body)).await;
        assert_eq!((created.status, created.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad:?}");
        assert!(created.body["error"]["message"].as_str().unwrap().contains("display_name"), "{}", created.body);
        let renamed =
            app.bearer("PATCH", &format!("/internal/staff/{id}"), &admin, Some(json!({ "display_name": bad }))).await;
        assert_eq!(renamed.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", renamed.body);
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM cc_users").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(count, 1, "nothing was created");
    let fine = "y".repeat(80);
    let renamed =
        app.bearer("PATCH", &format!("/internal/staff/{id}"), &admin, Some(json!({ "display_name": fine }))).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
}

#[tokio::test]
async fn login_while_the_database_refuses_connections_is_503_unavailable_with_retry_after() {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .expect("lazy pool");
    let state = AppState::new(pool, testing::JWT_SECRET, testing::control_center_settings());
    let client = TestClient::new(internal_cc::app(state, Default::default()));
    let reply = send(
        client
            .post("/internal/auth/login")
            .body_json(&json!({ "email": "admin@halobestie.id", "password": "whatever it is" })),
    )
    .await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{}", reply.body);
    assert_eq!(reply.headers["retry-after"], "5");
}

#[tokio::test]
async fn an_absent_verification_note_is_json_null_in_the_audit_entry() {
    let app = spawn_app().await;
    let admin = app.fixtures().staff(Role::Admin).await.access_token;
    let mitra = app.fixtures().pending_mitra("Sari").await;
    let decided = app
        .bearer(
            "POST",
            &format!("/internal/mitras/{}/verification", mitra.id),
            &admin,
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    let kind: String =
        sqlx::query_scalar("SELECT jsonb_typeof(details->'note') FROM audit_log WHERE action = 'mitra.verification'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(kind, "null");
    let log = app.bearer("GET", "/internal/audit-log?action=mitra.verification", &admin, None).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let details = log.body["items"][0]["details"].as_object().unwrap();
    assert!(!details.contains_key("note"), "absent, never the text \"null\": {}", log.body);
    assert_eq!(log.body["items"][0]["details"]["decision"], "approved");
}

/// A TCP proxy to Postgres that the test can cut (every connection dropped, new ones
/// refused): a database outage as this instance sees it.
async fn cuttable_proxy(target: std::net::SocketAddr) -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (up, _) = tokio::sync::watch::channel(true);
    let switch = up.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else { continue };
            let mut up = switch.subscribe();
            if !*up.borrow() {
                continue;
            }
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = up.wait_for(|up| !*up) => {}
                }
            });
        }
    });
    (addr, up)
}

#[tokio::test]
async fn login_when_the_database_goes_away_under_a_warm_pool_is_503_unavailable_with_retry_after() {
    let db = testing::fresh_database().await;
    let url = db.url();
    let target: std::net::SocketAddr = url.split('@').nth(1).unwrap().split('/').next().unwrap().parse().unwrap();
    let (proxy, up) = cuttable_proxy(target).await;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(&url.replace(&target.to_string(), &proxy.to_string()))
        .unwrap();
    let state = AppState::new(pool, testing::JWT_SECRET, testing::control_center_settings());
    let client = TestClient::new(internal_cc::app(state.clone(), Default::default()));
    halo_shared::users::staff::create(&db.pool, "admin@halobestie.id", Role::Admin, None, "a long enough password", 4)
        .await
        .unwrap();
    let login = || {
        send(
            client
                .post("/internal/auth/login")
                .body_json(&json!({ "email": "admin@halobestie.id", "password": "a long enough password" })),
        )
    };
    assert_eq!(login().await.status, StatusCode::OK, "the pool is warm");

    up.send_replace(false);
    for _ in 0..3 {
        let reply = login().await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            "{}",
            reply.body
        );
        assert!(reply.headers.contains_key("retry-after"));
    }
}
