//! Account self-service (contract §7): the user's sessions, profile edits, and account
//! deletion with the Apple grant revoked at a fake Apple.

use halo_shared::providers::apple::{self, AppleClient, AppleSettings};
use halo_shared::providers::oidc::OidcSettings;
use halo_shared::push::WorkerSettings;
use halo_shared::testing;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::oidc::{APPLE_AUD, FIXTURES};
use crate::helpers::{app_on, relaxed, send, spawn_app, spawn_app_with, TestApp};

#[tokio::test]
async fn a_user_sees_their_live_sessions_newest_first_with_the_current_one_flagged() {
    let app = spawn_app_with(relaxed()).await;
    let first = app.signed_in("client", "081234567001", "HaloClient/1.0 (Android 14)").await;
    let second = app.signed_in("client", "081234567001", "HaloClient/1.0 (iPhone)").await;
    let third = app.signed_in("client", "081234567001", "HaloClient/1.0 (iPad)").await;
    assert_eq!(app.logout(&third).await.status, StatusCode::NO_CONTENT);

    let reply = app.bearer_send("GET", "/api/shared/sessions", &first, None).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let sessions = reply.body["sessions"].as_array().unwrap();
    let ids: Vec<String> = sessions.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        ids,
        vec![app.claims(&second).session_id.to_string(), app.claims(&first).session_id.to_string()],
        "live sessions only, newest first"
    );
    assert_eq!(sessions.iter().map(|s| s["current"].as_bool().unwrap()).collect::<Vec<_>>(), vec![false, true]);
    assert_eq!(sessions[1]["user_agent"], "HaloClient/1.0 (Android 14)");
    assert_eq!(sessions[1]["ip"], "203.0.113.9");
    assert!(sessions[1]["created_at"].is_string());
    assert_eq!(sessions[1]["last_refreshed_at"], Value::Null);
}

#[tokio::test]
async fn ending_a_session_refuses_its_tokens_on_another_instance_and_removes_its_device() {
    let a = spawn_app_with(relaxed()).await;
    let b = app_on(a.db.clone(), relaxed()).await;
    b.listening().await;
    let keep = a.signed_in("mitra", "081234567002", "phone").await;
    let lost = a.signed_in("mitra", "081234567002", "lost phone").await;
    let device = json!({ "fcm_token": "fcm-lost-phone", "platform": "android" });
    let put =
        send(a.client.put("/api/shared/devices").header("authorization", format!("Bearer {lost}")).body_json(&device))
            .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    let lost_session = a.claims(&lost).session_id;

    let reply = a.bearer_send("DELETE", &format!("/api/shared/sessions/{lost_session}"), &keep, None).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(b.refused_within_a_second(&lost).await.error_code(), "session_revoked");
    assert_eq!(b.get_with("/api/shared/auth/session", &keep).await.status, StatusCode::OK);
    let devices: i64 = sqlx::query_scalar("SELECT count(*) FROM devices WHERE session_id = $1")
        .bind(lost_session)
        .fetch_one(&a.db.pool)
        .await
        .unwrap();
    assert_eq!(devices, 0);
}

#[tokio::test]
async fn another_users_session_or_an_unknown_one_is_404_and_a_malformed_id_is_400() {
    let app = spawn_app_with(relaxed()).await;
    let mine = app.signed_in("client", "081234567003", "a").await;
    let theirs = app.signed_in("client", "081234567004", "b").await;
    let their_session = app.claims(&theirs).session_id;

    let other = app.bearer_send("DELETE", &format!("/api/shared/sessions/{their_session}"), &mine, None).await;
    let unknown = app.bearer_send("DELETE", &format!("/api/shared/sessions/{}", Uuid::new_v4()), &mine, None).await;
    let malformed = app.bearer_send("DELETE", "/api/shared/sessions/not-a-uuid", &mine, None).await;

    assert_eq!((other.status, other.error_code()), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!((unknown.status, unknown.error_code()), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!((malformed.status, malformed.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert_eq!(app.session_row(their_session).await.1, None, "their session is untouched");
}

#[tokio::test]
async fn revoke_others_ends_every_session_but_the_current_one() {
    let app = spawn_app_with(relaxed()).await;
    let current = app.signed_in("client", "081234567005", "a").await;
    let other1 = app.signed_in("client", "081234567005", "b").await;
    let other2 = app.signed_in("client", "081234567005", "c").await;
    app.listening().await;

    let reply = app.bearer_send("POST", "/api/shared/sessions/revoke-others", &current, None).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, json!({ "revoked": 2 }));
    assert_eq!(app.refused_within_a_second(&other1).await.error_code(), "session_revoked");
    assert_eq!(app.refused_within_a_second(&other2).await.error_code(), "session_revoked");
    assert_eq!(app.get_with("/api/shared/auth/session", &current).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_customer_renames_themselves_and_bad_names_change_nothing() {
    let app = spawn_app_with(relaxed()).await;
    let token = app.signed_in("client", "081234567006", "a").await;

    let renamed =
        app.bearer_send("PATCH", "/api/client/me", &token, Some(json!({ "display_name": "  Ayu Lestari " }))).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["display_name"], "Ayu Lestari");
    assert_eq!(renamed.body["phone"], "+6281234567006");

    for bad in [json!(""), json!("   "), json!("a".repeat(81)), json!("Ayu\u{0007}")] {
        let reply = app.bearer_send("PATCH", "/api/client/me", &token, Some(json!({ "display_name": bad }))).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad}");
    }
    let me = app.get_with("/api/client/me", &token).await;
    assert_eq!(me.body["display_name"], "Ayu Lestari");
}

#[tokio::test]
async fn a_mitra_edits_name_and_bio_and_gets_the_marketplace_profile() {
    let app = spawn_app_with(relaxed()).await;
    let token = app.signed_in("mitra", "081234567007", "a").await;

    let edited = app
        .bearer_send(
            "PATCH",
            "/api/mitra/me",
            &token,
            Some(json!({ "display_name": "Sari", "bio": "Pijat\nrefleksi" })),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(edited.body["display_name"], "Sari");
    assert_eq!(edited.body["bio"], "Pijat\nrefleksi");
    assert_eq!(edited.body["verification_status"], "unsubmitted");
    assert_eq!(edited.body["is_online"], false);
    assert_eq!(edited.body["phone"], "+6281234567007");

    let bio_only = app.bearer_send("PATCH", "/api/mitra/me", &token, Some(json!({ "bio": "" }))).await;
    assert_eq!((bio_only.body["display_name"].as_str(), bio_only.body["bio"].as_str()), (Some("Sari"), Some("")));
    let too_long = app.bearer_send("PATCH", "/api/mitra/me", &token, Some(json!({ "bio": "b".repeat(1001) }))).await;
    assert_eq!((too_long.status, too_long.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert_eq!(app.get_with("/api/mitra/me", &token).await.body["bio"], "");
}

async fn customer_row(app: &TestApp, id: Uuid) -> (Option<String>, Option<String>, Option<String>, bool) {
    sqlx::query_as("SELECT phone, email, display_name, deleted_at IS NOT NULL FROM customers WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_deleted_customer_is_erased_its_tokens_fail_and_the_phone_signs_up_anew() {
    let app = spawn_app_with(relaxed()).await;
    app.listening().await;
    let token = app.signed_in("client", "081234567008", "a").await;
    let other_device = app.signed_in("client", "081234567008", "b").await;
    app.bearer_send("PATCH", "/api/client/me", &token, Some(json!({ "display_name": "Ayu" }))).await;
    let id = app.claims(&token).sub;

    let deleted = app.bearer_send("DELETE", "/api/client/me", &token, None).await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(customer_row(&app, id).await, (None, None, None, true));
    assert_eq!(app.refused_within_a_second(&other_device).await.error_code(), "session_revoked");
    let again = app.bearer_send("DELETE", "/api/client/me", &token, None).await;
    assert_eq!((again.status, again.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(live, 0);

    let fresh = app.signed_in("client", "081234567008", "c").await;
    assert_ne!(app.claims(&fresh).sub, id, "a brand-new customer");
    let me = app.get_with("/api/client/me", &fresh).await;
    assert_eq!((me.body["phone"].as_str(), me.body["display_name"].as_str()), (Some("+6281234567008"), None));
}

#[tokio::test]
async fn an_anonymous_customer_can_delete_itself() {
    let app = spawn_app().await;
    let token = app.anonymous().await.str("access_token");
    let id = app.claims(&token).sub;

    let deleted = app.bearer_send("DELETE", "/api/client/me", &token, None).await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert!(customer_row(&app, id).await.3);
}

#[tokio::test]
async fn a_deleted_mitra_is_erased_and_the_phone_signs_up_as_a_new_mitra() {
    let app = spawn_app_with(relaxed()).await;
    let token = app.signed_in("mitra", "081234567009", "a").await;
    app.bearer_send("PATCH", "/api/mitra/me", &token, Some(json!({ "display_name": "Sari", "bio": "Pijat" }))).await;
    let id = app.claims(&token).sub;

    let deleted = app.bearer_send("DELETE", "/api/mitra/me", &token, None).await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let row: (Option<String>, Option<String>, String, bool) =
        sqlx::query_as("SELECT phone, display_name, bio, deleted_at IS NOT NULL FROM mitras WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(row, (None, None, String::new(), true));
    let fresh = app.signed_in("mitra", "081234567009", "b").await;
    assert_ne!(app.claims(&fresh).sub, id);
}

#[tokio::test]
async fn a_deletion_that_fails_midway_leaves_the_account_intact() {
    let app = spawn_app_with(relaxed()).await;
    let token = app.signed_in("client", "081234567010", "a").await;
    let id = app.claims(&token).sub;
    // A failure halfway through the deletion, which no API can cause: the erasing update fails.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
         CREATE TRIGGER refuse BEFORE UPDATE OF deleted_at ON customers FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();

    let deleted = app.bearer_send("DELETE", "/api/client/me", &token, None).await;

    assert_eq!(deleted.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", deleted.body);
    assert_eq!(customer_row(&app, id).await, (Some("+6281234567010".into()), None, None, false));
    assert_eq!(app.session_row(app.claims(&token).session_id).await.1, None, "the session is still live");
    assert_eq!(app.get_with("/api/client/me", &token).await.status, StatusCode::OK);
}

// --- Sign in with Apple: the grant is revoked at (a fake) Apple ---------------------

struct FakeApple {
    server: MockServer,
}

impl FakeApple {
    /// A fake Apple whose token endpoint exchanges any code for a grant of Apple account
    /// `code_sub` (the `sub` of the ID token it returns with the grant).
    async fn start(revoke_status: u16, code_sub: &str) -> Self {
        let server = MockServer::start().await;
        let jwks: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/rsa-public-jwks.json")).unwrap())
                .unwrap();
        let mut key = jwks["rsa1"].clone();
        key["kid"] = json!("a1");
        Mock::given(method("GET"))
            .and(path("/auth/keys"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": [key] })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/auth/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "apple-at", "token_type": "Bearer", "expires_in": 3600,
                "refresh_token": "apple-refresh-token-1", "id_token": apple_id_token(code_sub)
            })))
            .mount(&server)
            .await;
        let fake = Self { server };
        fake.answer_revoke(revoke_status).await;
        fake
    }

    async fn answer_revoke(&self, status: u16) {
        Mock::given(method("POST"))
            .and(path("/auth/revoke"))
            .respond_with(ResponseTemplate::new(status))
            .with_priority(if status == 200 { 1 } else { 2 })
            .mount(&self.server)
            .await;
    }

    /// The form bodies the fake received at `path`.
    async fn forms(&self, at: &str) -> Vec<std::collections::HashMap<String, String>> {
        self.server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == at)
            .map(|r| url_form(&r.body))
            .collect()
    }
}

fn url_form(body: &[u8]) -> std::collections::HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.to_owned(), percent_decode(v))).collect()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn apple_settings(fake: &FakeApple) -> AppleSettings {
    AppleSettings {
        team_id: "TEAM123456".into(),
        key_id: "KEY1234567".into(),
        private_key: std::fs::read_to_string(format!("{FIXTURES}/apple-es256.p8")).unwrap().into(),
        token_url: format!("{}/auth/token", fake.server.uri()),
        revoke_url: format!("{}/auth/revoke", fake.server.uri()),
    }
}

async fn apple_app(fake: &FakeApple, with_credentials: bool) -> TestApp {
    let mut settings = testing::gateway_settings();
    settings.apple =
        OidcSettings { client_ids: vec![APPLE_AUD.into()], jwks_url: format!("{}/auth/keys", fake.server.uri()) };
    settings.apple_grants = with_credentials.then(|| apple_settings(fake));
    // The app runs the revocation worker as production does; the tests drain the outbox
    // themselves, so the worker's only pass is the one at start (before any deletion).
    settings.workers.poll = std::time::Duration::from_secs(3600);
    spawn_app_with(settings).await
}

fn apple_id_token(sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    // A fresh `jti` each time: an ID token is accepted only once.
    let claims = json!({ "iss": "https://appleid.apple.com", "aud": APPLE_AUD, "sub": sub, "iat": now,
                         "exp": now + 600, "jti": Uuid::new_v4().to_string() });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("a1".into());
    let key = EncodingKey::from_rsa_der(&std::fs::read(format!("{FIXTURES}/rsa1.der")).unwrap());
    encode(&header, &claims, &key).unwrap()
}

/// Checks a client secret the fake received: ES256 under the team's key, for our client.
fn assert_client_secret(secret: &str) {
    let public = std::fs::read(format!("{FIXTURES}/apple-es256.pub.pem")).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["https://appleid.apple.com"]);
    validation.set_issuer(&["TEAM123456"]);
    let data = decode::<Value>(secret, &DecodingKey::from_ec_pem(&public).unwrap(), &validation).unwrap();
    assert_eq!(data.header.kid.as_deref(), Some("KEY1234567"));
    assert_eq!(data.claims["sub"], APPLE_AUD);
}

async fn apple_sign_in(app: &TestApp, sub: &str, code: Option<&str>) -> String {
    let mut body = json!({ "id_token": apple_id_token(sub) });
    if let Some(code) = code {
        body["authorization_code"] = json!(code);
    }
    let reply = send(app.client.post("/api/client/auth/apple").body_json(&body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.str("access_token")
}

fn worker() -> WorkerSettings {
    WorkerSettings { max_attempts: 5, ..WorkerSettings::default() }
}

async fn revocation(app: &TestApp) -> (String, i32, Option<String>) {
    sqlx::query_as("SELECT status, attempts, last_error FROM apple_revocations").fetch_one(&app.db.pool).await.unwrap()
}

#[tokio::test]
async fn deleting_an_apple_customer_revokes_the_grant_at_apple() {
    let fake = FakeApple::start(200, "apple-sub-1").await;
    let app = apple_app(&fake, true).await;
    let token = apple_sign_in(&app, "apple-sub-1", Some("code-from-the-app")).await;

    let exchanged = fake.forms("/auth/token").await;
    assert_eq!(exchanged.len(), 1);
    assert_eq!(exchanged[0]["code"], "code-from-the-app");
    assert_eq!(exchanged[0]["grant_type"], "authorization_code");
    assert_eq!(exchanged[0]["client_id"], APPLE_AUD);
    assert_client_secret(&exchanged[0]["client_secret"]);
    let stored: Vec<u8> = sqlx::query_scalar("SELECT provider_refresh_token FROM customer_identities")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("apple-refresh-token-1"), "stored sealed, not in clear");

    let deleted = app.bearer_send("DELETE", "/api/client/me", &token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let identities: i64 =
        sqlx::query_scalar("SELECT count(*) FROM customer_identities").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(identities, 0);

    let apple = app.state.gateway().unwrap().apple_grants.clone().unwrap();
    assert_eq!(apple::drain_once(&app.db.pool, &apple, &worker()).await.unwrap(), 1);
    let revoked = fake.forms("/auth/revoke").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["token"], "apple-refresh-token-1");
    assert_eq!(revoked[0]["token_type_hint"], "refresh_token");
    assert_eq!(revoked[0]["client_id"], APPLE_AUD);
    assert_client_secret(&revoked[0]["client_secret"]);
    assert_eq!(revocation(&app).await.0, "revoked");
    let kept: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT refresh_token FROM apple_revocations").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(kept, None, "a revoked grant keeps no sealed token");

    let again = apple_sign_in(&app, "apple-sub-1", None).await;
    assert_ne!(app.claims(&again).sub, app.claims(&token).sub, "the Apple account signs up as a new customer");
}

#[tokio::test]
async fn apple_being_down_does_not_block_deletion_and_the_revocation_is_retried() {
    let fake = FakeApple::start(503, "apple-sub-2").await;
    let app = apple_app(&fake, true).await;
    let token = apple_sign_in(&app, "apple-sub-2", Some("code-2")).await;
    let apple = app.state.gateway().unwrap().apple_grants.clone().unwrap();

    let deleted = app.bearer_send("DELETE", "/api/client/me", &token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    apple::drain_once(&app.db.pool, &apple, &worker()).await.unwrap();
    let (status, attempts, error) = revocation(&app).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!(error.unwrap().contains("503"));

    fake.answer_revoke(200).await;
    // Brought forward: no API makes a backed-off revocation due sooner.
    sqlx::query("UPDATE apple_revocations SET next_attempt_at = now()").execute(&app.db.pool).await.unwrap();
    apple::drain_once(&app.db.pool, &apple, &worker()).await.unwrap();
    assert_eq!(revocation(&app).await.0, "revoked");
    assert_eq!(fake.forms("/auth/revoke").await.len(), 2);
}

#[tokio::test]
async fn without_apple_credentials_deletion_succeeds_and_logs_that_the_grant_was_not_revoked() {
    let fake = FakeApple::start(200, "apple-sub-3").await;
    let app = apple_app(&fake, false).await;
    let token = apple_sign_in(&app, "apple-sub-3", Some("code-3")).await;
    assert!(fake.forms("/auth/token").await.is_empty(), "no credentials, no exchange");

    let (guard, logs) = testing::capture_logs();
    let deleted = app.bearer_send("DELETE", "/api/client/me", &token, None).await;
    drop(guard);

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert!(
        logs.lines().iter().any(|l| l.contains("WARNING") && l.contains("could not be revoked")),
        "{:?}",
        logs.lines()
    );
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM apple_revocations").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(queued, 0);
}

#[tokio::test]
async fn an_authorization_code_of_another_apple_account_is_refused_and_nothing_is_stored() {
    // The code the attacker sends belongs to Apple account "victim-sub"; the ID token is
    // their own.
    let fake = FakeApple::start(200, "victim-sub").await;
    let app = apple_app(&fake, true).await;
    let body = json!({ "id_token": apple_id_token("attacker-sub"), "authorization_code": "victims-code" });
    let reply = send(app.client.post("/api/client/auth/apple").body_json(&body)).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_id_token"), "{}", reply.body);
    assert_eq!(fake.forms("/auth/token").await.len(), 1, "the code was exchanged and then refused");
    let (identities, sessions): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM customer_identities), (SELECT count(*) FROM auth_sessions)")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((identities, sessions), (0, 0), "no customer, no session, no grant");
}

#[tokio::test]
async fn a_sealed_apple_grant_opens_only_for_its_own_identity_and_under_a_rewrapped_key() {
    let fake = FakeApple::start(200, "apple-sub-4").await;
    let app = apple_app(&fake, true).await;
    apple_sign_in(&app, "apple-sub-4", Some("code-4")).await;
    let (subject, sealed): (String, Vec<u8>) =
        sqlx::query_as("SELECT subject, provider_refresh_token FROM customer_identities WHERE provider = 'apple'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let apple = app.state.gateway().unwrap().apple_grants.clone().unwrap();
    assert_eq!(apple.open(&sealed, APPLE_AUD, Some(&subject)).unwrap(), "apple-refresh-token-1");
    // The attack: the ciphertext copied onto another identity's row, or another app's.
    assert!(apple.open(&sealed, APPLE_AUD, Some("someone-else")).is_err());
    assert!(apple.open(&sealed, "com.other.app", Some(&subject)).is_err());

    // The same key with its base64 wrapped at another width and CRLF line ends: a
    // different PEM text, the same DER bytes, so the same sealing key.
    let pem = std::fs::read_to_string(format!("{FIXTURES}/apple-es256.p8")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let lines: Vec<String> = body.as_bytes().chunks(40).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    let rewrapped_pem =
        format!("-----BEGIN PRIVATE KEY-----\r\n{}\r\n-----END PRIVATE KEY-----\r\n", lines.join("\r\n"));
    assert_ne!(rewrapped_pem.trim(), pem.trim());
    let mut settings = apple_settings(&fake);
    settings.private_key = rewrapped_pem.into();
    let rewrapped = AppleClient::new(settings, halo_shared::state::http_client()).unwrap();
    assert_eq!(rewrapped.open(&sealed, APPLE_AUD, Some(&subject)).unwrap(), "apple-refresh-token-1");
}
