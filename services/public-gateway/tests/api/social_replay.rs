//! Google and Apple sign-in under attack: a captured ID token replayed, a Google token
//! whose nonce the app did not send, and a flood of sign-ins from one address.

use halo_shared::providers::oidc::{sha256_hex, OidcSettings};
use halo_shared::testing;
use poem::http::StatusCode;
use serde_json::json;
use wiremock::MockServer;

use crate::helpers::oidc::{apple_claims, google_claims, jwk, provider_app, serve_keys, sign, GOOGLE_AUD};
use crate::helpers::{send, spawn_app_with};

async fn sessions(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM auth_sessions").fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn a_captured_id_token_replayed_is_401_and_mints_no_session() {
    let f = provider_app().await;
    let google = sign(&google_claims("g-replay"), "rsa1", "g1");
    assert_eq!(f.app.google(&google, None).await.status, StatusCode::OK);
    let apple = sign(&apple_claims("a-replay"), "rsa1", "a1");
    assert_eq!(f.app.apple(json!({ "id_token": apple }), None).await.status, StatusCode::OK);
    let before = sessions(&f.app.db.pool).await;

    for _ in 0..3 {
        let replay = f.app.google(&google, None).await;
        assert_eq!((replay.status, replay.error_code()), (StatusCode::UNAUTHORIZED, "invalid_id_token"));
        let replay = f.app.apple(json!({ "id_token": apple }), None).await;
        assert_eq!((replay.status, replay.error_code()), (StatusCode::UNAUTHORIZED, "invalid_id_token"));
    }
    assert_eq!(sessions(&f.app.db.pool).await, before, "no replay created a session");
    let fresh = f.app.google(&sign(&google_claims("g-replay"), "rsa1", "g1"), None).await;
    assert_eq!(fresh.status, StatusCode::OK, "a new token of the same user still works");
}

#[tokio::test]
async fn a_google_nonce_must_match_when_either_the_app_or_the_token_has_one() {
    let f = provider_app().await;
    let with_nonce = |nonce: &str| {
        let mut claims = google_claims("g-nonce");
        claims["nonce"] = json!(nonce);
        sign(&claims, "rsa1", "g1")
    };
    let post = |token: String, nonce: Option<&str>| {
        let mut body = json!({ "id_token": token });
        if let Some(nonce) = nonce {
            body["nonce"] = json!(nonce);
        }
        send(f.app.client.post("/api/client/auth/google").body_json(&body))
    };
    let refused = [
        post(with_nonce("n-1"), None).await,
        post(with_nonce("n-1"), Some("n-2")).await,
        post(sign(&google_claims("g-nonce"), "rsa1", "g1"), Some("n-1")).await,
    ];
    for reply in refused {
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_id_token"));
    }
    assert_eq!(post(with_nonce("n-1"), Some("n-1")).await.status, StatusCode::OK);
    assert_eq!(post(with_nonce(&sha256_hex("raw-2")), Some("raw-2")).await.status, StatusCode::OK, "hashed form");
}

#[tokio::test]
async fn id_token_sign_ins_are_limited_per_client_address() {
    let google = MockServer::start().await;
    serve_keys(&google, vec![jwk("rsa1", "g1")], "public, max-age=3600").await;
    let mut settings = testing::gateway_settings();
    settings.google = OidcSettings { client_ids: vec![GOOGLE_AUD.into()], jwks_url: format!("{}/certs", google.uri()) };
    settings.id_token_signins_per_ip_per_hour = 2;
    let app = spawn_app_with(settings).await;
    let from = |ip: &'static str, sub: &str| {
        let token = sign(&google_claims(sub), "rsa1", "g1");
        send(
            app.client
                .post("/api/client/auth/google")
                .header("x-forwarded-for", ip)
                .body_json(&json!({ "id_token": token })),
        )
    };
    assert_eq!(from("203.0.113.5", "g-a").await.status, StatusCode::OK);
    assert_eq!(from("203.0.113.5", "g-b").await.status, StatusCode::OK);
    let limited = from("203.0.113.5", "g-c").await;
    assert_eq!((limited.status, limited.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(from("203.0.113.6", "g-c").await.status, StatusCode::OK);
}
