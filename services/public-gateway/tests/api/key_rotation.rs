//! Rotating AUTH_JWT_SECRET (issue 14): instances built with a new key ring over the
//! same database, as a redeploy would be.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use halo_shared::testing::{self, JWT_SECRET};
use halo_shared::tokens::hashing::count_runs;
use halo_shared::tokens::Keys;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use poem::http::StatusCode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{app_with_keys, spawn_app, TestApp};

const NEW_SECRET: &[u8] = b"the-new-secret-after-rotation-0123456789";

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.expect("a kid")
}

/// The same deployment after `AUTH_JWT_SECRET=NEW` and `AUTH_JWT_PREVIOUS_SECRETS=old`.
async fn rotated(app: &TestApp) -> TestApp {
    app_with_keys(app.db.clone(), Keys::with_previous(NEW_SECRET, &[JWT_SECRET]), testing::gateway_settings()).await
}

/// The same deployment once the old secret has been removed from the list.
async fn old_key_removed(app: &TestApp) -> TestApp {
    app_with_keys(app.db.clone(), Keys::new(NEW_SECRET), testing::gateway_settings()).await
}

#[tokio::test]
async fn an_access_token_signed_with_a_previous_secret_verifies_until_that_secret_is_removed() {
    let before = spawn_app().await;
    let pair = before.anonymous().await;
    let token = pair.str("access_token");
    assert_eq!(kid_of(&token), Keys::new(JWT_SECRET).current_kid());

    let after = rotated(&before).await;
    let me = after.get_with("/api/client/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);

    let removed = old_key_removed(&before).await;
    for path in ["/api/client/me", "/api/shared/auth/session", "/api/shared/ws"] {
        let reply = removed.get_with(path, &token).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_token"), "{path}");
    }
}

#[tokio::test]
async fn the_websocket_accepts_a_previous_secrets_token_during_a_rotation() {
    let before = spawn_app().await;
    let token = before.anonymous().await.str("access_token");
    let after = rotated(&before).await;
    let addr = after.addr();
    let mut request = format!("ws://{addr}/api/shared/ws").into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (_socket, response) = tokio_tungstenite::connect_async(request).await.expect("upgraded");
    assert_eq!(response.status().as_u16(), 101);
}

#[tokio::test]
async fn a_refresh_token_from_before_a_rotation_refreshes_after_it_and_gets_the_new_kid() {
    let before = spawn_app().await;
    let pair = before.anonymous().await;
    let after = rotated(&before).await;
    let refreshed = after.refresh(&pair.str("refresh_token")).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let access = refreshed.str("access_token");
    assert_eq!(kid_of(&access), Keys::new(NEW_SECRET).current_kid());
    assert_eq!(after.claims(&access).sub.to_string(), pair.body["user"]["id"].as_str().unwrap());

    // Its successor is made with the new key: it works once the old key is gone.
    let removed = old_key_removed(&before).await;
    let next = removed.refresh(&refreshed.str("refresh_token")).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
}

#[tokio::test]
async fn a_forged_kid_or_a_kid_naming_a_removed_key_is_invalid_token() {
    let before = spawn_app().await;
    let pair = before.anonymous().await;
    let claims = before.claims(&pair.str("access_token"));
    let removed = old_key_removed(&before).await;
    let sign = |secret: &[u8], kid: &str| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
    };
    let new_kid = Keys::new(NEW_SECRET).current_kid().to_owned();
    let old_kid = Keys::new(JWT_SECRET).current_kid().to_owned();
    for (name, token) in [
        ("made-up kid, right signature", sign(NEW_SECRET, "00112233aabbccdd")),
        ("removed key's kid and signature", sign(JWT_SECRET, &old_kid)),
        ("current kid on the removed key's signature", sign(JWT_SECRET, &new_kid)),
        ("removed key's kid on the current key's signature", sign(NEW_SECRET, &old_kid)),
    ] {
        let reply = removed.get_with("/api/shared/auth/session", &token).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_token"), "{name}");
    }
    let genuine = sign(NEW_SECRET, &new_kid);
    assert_eq!(removed.get_with("/api/shared/auth/session", &genuine).await.status, StatusCode::OK);
}

#[test]
fn serve_refuses_a_previous_secret_under_32_bytes_naming_the_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_public-gateway"))
        .env_clear()
        .env("DATABASE_URL", "postgres://localhost/x")
        .env("AUTH_JWT_SECRET", "x".repeat(40))
        .env("AUTH_JWT_PREVIOUS_SECRETS", format!("{},short", "y".repeat(40)))
        .arg("serve")
        .output()
        .expect("run binary");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AUTH_JWT_PREVIOUS_SECRETS entry 2 is too short (5 bytes)"), "{stderr}");
    assert!(!stderr.contains("short,") && !stderr.contains("yyyy"), "no secret is echoed: {stderr}");
}

#[tokio::test]
async fn a_refresh_token_survives_the_removal_of_the_key_that_made_it() {
    let before = spawn_app().await;
    let pair = before.anonymous().await;
    let session_id = before.claims(&pair.str("access_token")).session_id;
    let removed = old_key_removed(&before).await;

    let (refreshed, runs) = count_runs(removed.refresh(&pair.str("refresh_token"))).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(runs, 2, "no key made it, so the stored hash decided, then the next hash was made");
    assert_eq!(kid_of(&refreshed.str("access_token")), Keys::new(NEW_SECRET).current_kid());

    // An older token must verify under a configured key; with its key gone it is simply
    // invalid and revokes nothing.
    let stale = removed.refresh(&pair.str("refresh_token")).await;
    assert_eq!((stale.status, stale.error_code()), (StatusCode::UNAUTHORIZED, "invalid_refresh_token"));
    assert_eq!(removed.session_row(session_id).await, (1, None));

    let (next, runs) = count_runs(removed.refresh(&refreshed.str("refresh_token"))).await;
    assert_eq!((next.status, runs), (StatusCode::OK, 1), "back to one bcrypt per refresh");
}

#[tokio::test]
async fn tokens_built_from_what_a_database_leak_holds_are_refused_and_revoke_nothing() {
    let app = spawn_app().await;
    let pair = app.anonymous().await;
    let session_id = app.claims(&pair.str("access_token")).session_id;
    assert_eq!(app.refresh(&pair.str("refresh_token")).await.status, StatusCode::OK);
    let (counter, hash): (i64, String) = sqlx::query_as("SELECT counter, secret_hash FROM auth_sessions WHERE id = $1")
        .bind(session_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    // Everything the row holds, shaped into refresh tokens the parser accepts.
    let plain = hash.replace(['.', '$'], "");
    let (salt, digest) = (&hash[7..29], &hash[29..]);
    let secrets =
        [plain.clone(), salt.replace('.', ""), digest.replace('.', ""), URL_SAFE_NO_PAD.encode(&hash.as_bytes()[..32])];
    let id = session_id.simple();
    let mut forged: Vec<String> = secrets.iter().map(|s| format!("{id}.{counter}.{s}")).collect();
    forged.push(format!("{id}.{}.{plain}", counter - 1));

    for instance in [&app, &old_key_removed(&app).await] {
        for token in &forged {
            let reply = instance.refresh(token).await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (StatusCode::UNAUTHORIZED, "invalid_refresh_token"),
                "{token}"
            );
        }
    }
    assert_eq!(app.session_row(session_id).await, (counter, None), "nothing rotated, nothing revoked");
}

#[tokio::test]
async fn the_emergency_verb_ends_sessions_from_before_the_rotation_and_instances_refuse_them_at_once() {
    let app = spawn_app().await;
    app.listening().await;
    let old = app.anonymous().await;
    // Backdated to before the rotation: no API makes a session two hours old.
    sqlx::query("UPDATE auth_sessions SET created_at = now() - interval '2 hours'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let new = app.anonymous().await;

    let cutoff = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_public-gateway"))
        .env_clear()
        .env("DATABASE_URL", app.db.url())
        .args(["revoke-sessions", "--issued-before", &cutoff])
        .output()
        .expect("run binary");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");

    let old_access = old.str("access_token");
    let mut refused = None;
    for _ in 0..100 {
        let reply = app.get_with("/api/shared/auth/session", &old_access).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            refused = Some(reply.error_code().to_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(refused.as_deref(), Some("session_revoked"), "the listening instance learned of it");
    assert_eq!(app.refresh(&old.str("refresh_token")).await.error_code(), "session_revoked");
    assert_eq!(app.get_with("/api/shared/auth/session", &new.str("access_token")).await.status, StatusCode::OK);
    let session_id = app.claims(&old_access).session_id;
    assert_eq!(app.session_row(session_id).await, (0, Some("key_rotation".into())));
}
