//! Google and Apple sign-in against a fake key-set server (real HTTP on loopback).

use std::sync::Arc;

use halo_shared::providers::oidc::sha256_hex;
use halo_shared::testing;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use poem::http::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::oidc::{
    app_with_providers, apple_claims, google_claims, jwk, now, provider_app, serve_keys, sign, FIXTURES,
};
use crate::helpers::spawn_app_with;

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn a_valid_google_token_signs_in_and_a_repeat_lands_on_the_same_customer() {
    let f = provider_app().await;
    let token = sign(&google_claims("g-123"), "rsa1", "g1");
    let first = f.app.google(&token, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        (first.body["user"]["user_type"].as_str(), first.body["user"]["is_anonymous"].as_bool()),
        (Some("customer"), Some(false))
    );
    let me = f.app.get_with("/api/client/me", &first.str("access_token")).await;
    assert_eq!((me.str("email"), me.str("display_name")), ("ayu@gmail.com".to_owned(), "Ayu Lestari".to_owned()));

    let again = f.app.google(&sign(&google_claims("g-123"), "rsa1", "g1"), None).await;
    assert_eq!(again.body["user"]["id"], first.body["user"]["id"]);
    let identities: i64 =
        sqlx::query_scalar("SELECT count(*) FROM customer_identities WHERE provider = 'google' AND subject = 'g-123'")
            .fetch_one(&f.app.db.pool)
            .await
            .unwrap();
    assert_eq!(identities, 1);
    assert_eq!(requests(&f.google).await, 1, "the key set was fetched once and cached");
}

#[tokio::test]
async fn an_unverified_google_email_is_not_stored() {
    let f = provider_app().await;
    let mut claims = google_claims("g-9");
    claims["email_verified"] = json!(false);
    let pair = f.app.google(&sign(&claims, "rsa1", "g1"), None).await;
    let me = f.app.get_with("/api/client/me", &pair.str("access_token")).await;
    assert!(me.body["email"].is_null());
}

#[tokio::test]
async fn apple_sign_in_checks_the_nonce_and_stores_the_name_only_once() {
    let f = provider_app().await;
    let mut claims = apple_claims("a-1");
    claims["nonce"] = json!(sha256_hex("raw-nonce-1"));
    let body = json!({ "id_token": sign(&claims, "rsa1", "a1"), "nonce": "raw-nonce-1", "full_name": "Budi Santoso" });
    let first = f.app.apple(body, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let me = f.app.get_with("/api/client/me", &first.str("access_token")).await;
    assert_eq!(me.str("display_name"), "Budi Santoso");
    assert_eq!(me.str("email"), "x1y2@privaterelay.appleid.com", "string \"true\" counts as verified");

    let later =
        f.app.apple(json!({ "id_token": sign(&apple_claims("a-1"), "rsa1", "a1"), "full_name": "" }), None).await;
    assert_eq!(later.body["user"]["id"], first.body["user"]["id"]);
    let me = f.app.get_with("/api/client/me", &later.str("access_token")).await;
    assert_eq!(me.str("display_name"), "Budi Santoso", "an empty name never overwrites");
}

#[tokio::test]
async fn every_forged_or_mismatched_id_token_is_401_invalid_id_token() {
    let f = provider_app().await;
    let public_pem_as_secret = std::fs::read(format!("{FIXTURES}/rsa-public-jwks.json")).unwrap();
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some("g1".into());
    let hs256_with_public_key =
        encode(&hs256, &google_claims("g-1"), &EncodingKey::from_secret(&public_pem_as_secret)).unwrap();
    let alg_none = {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"g1"}"#);
        format!("{header}.{}.", URL_SAFE_NO_PAD.encode(google_claims("g-1").to_string()))
    };
    let with = |field: &str, value: Value| {
        let mut claims = google_claims("g-1");
        claims[field] = value;
        sign(&claims, "rsa1", "g1")
    };
    let cases = vec![
        ("wrong aud", with("aud", json!("someone-else"))),
        ("wrong iss", with("iss", json!("https://evil.example"))),
        ("expired", with("exp", json!(now() - 600))),
        ("issued in the future", with("iat", json!(now() + 600))),
        ("unknown kid", sign(&google_claims("g-1"), "rsa1", "nope")),
        ("wrong key", sign(&google_claims("g-1"), "rsa2", "g1")),
        ("alg none", alg_none),
        ("HS256 signed with the public key", hs256_with_public_key),
        ("garbage", "not-a-token".into()),
    ];
    for (name, token) in cases {
        let reply = f.app.google(&token, None).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_id_token"), "{name}");
    }

    let mut claims = apple_claims("a-2");
    claims["nonce"] = json!(sha256_hex("the-real-nonce"));
    let token = sign(&claims, "rsa1", "a1");
    for (name, body) in [
        ("nonce mismatch", json!({ "id_token": token, "nonce": "another-nonce" })),
        ("token nonce without the app's", json!({ "id_token": token })),
        (
            "app nonce without the token's",
            json!({ "id_token": sign(&apple_claims("a-2"), "rsa1", "a1"), "nonce": "x" }),
        ),
    ] {
        let reply = f.app.apple(body, None).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "invalid_id_token"), "{name}");
    }
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers").fetch_one(&f.app.db.pool).await.unwrap();
    assert_eq!(customers, 0);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_unknown_kids_do_not_hammer_the_provider() {
    let f = provider_app().await;
    assert_eq!(f.app.google(&sign(&google_claims("g-1"), "rsa1", "g1"), None).await.status, StatusCode::OK);
    serve_keys(&f.google, vec![jwk("rsa1", "g1"), jwk("rsa2", "g2")], "max-age=3600").await;

    let rotated = f.app.google(&sign(&google_claims("g-1"), "rsa2", "g2"), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(requests(&f.google).await, 1, "exactly one refetch for the new kid");
    assert_eq!(f.app.google(&sign(&google_claims("g-1"), "rsa2", "g2"), None).await.status, StatusCode::OK);
    let unknown = f.app.google(&sign(&google_claims("g-1"), "rsa2", "g3"), None).await;
    assert_eq!(unknown.error_code(), "invalid_id_token");
    assert_eq!(requests(&f.google).await, 1, "no second refetch within a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sign_ins_share_one_key_set_fetch() {
    let f = Arc::new(provider_app().await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let f = f.clone();
        tasks.spawn(
            async move { f.app.google(&sign(&google_claims(&format!("g-{i}")), "rsa1", "g1"), None).await.status },
        );
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(requests(&f.google).await, 1);
}

#[tokio::test]
async fn a_cached_key_set_keeps_working_while_the_provider_is_down() {
    let f = provider_app().await;
    serve_keys(&f.apple, vec![jwk("rsa1", "a1")], "max-age=0").await;
    assert_eq!(
        f.app.apple(json!({ "id_token": sign(&apple_claims("a-5"), "rsa1", "a1") }), None).await.status,
        StatusCode::OK
    );
    f.apple.reset().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(503)).mount(&f.apple).await;
    let reply = f.app.apple(json!({ "id_token": sign(&apple_claims("a-5"), "rsa1", "a1") }), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(requests(&f.apple).await, 1, "it tried the provider, then used the stale copy");
}

#[tokio::test]
async fn without_any_key_set_the_answer_is_503_provider_unavailable() {
    let (google, apple) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).mount(&google).await;
    let app = app_with_providers(&google, &apple).await;
    let reply = app.google(&sign(&google_claims("g-1"), "rsa1", "g1"), None).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable"));
}

#[tokio::test]
async fn an_unconfigured_provider_answers_503_provider_not_configured() {
    let app = spawn_app_with(testing::gateway_settings()).await;
    let google = app.google("anything", None).await;
    assert_eq!((google.status, google.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "provider_not_configured"));
    let apple = app.apple(json!({ "id_token": "anything" }), None).await;
    assert_eq!(apple.error_code(), "provider_not_configured");
}

#[tokio::test]
async fn an_anonymous_customer_is_upgraded_by_google_and_merged_by_apple() {
    let f = provider_app().await;
    let anon = f.app.anonymous().await;
    let upgraded = f.app.google(&sign(&google_claims("g-7"), "rsa1", "g1"), Some(&anon.str("access_token"))).await;
    assert_eq!(upgraded.status, StatusCode::OK, "{}", upgraded.body);
    assert_eq!(upgraded.body["user"]["id"], anon.body["user"]["id"]);
    assert_eq!(upgraded.body["user"]["is_anonymous"], false);

    let owner = f.app.apple(json!({ "id_token": sign(&apple_claims("a-7"), "rsa1", "a1") }), None).await;
    let other_anon = f.app.anonymous().await;
    let merged = f
        .app
        .apple(json!({ "id_token": sign(&apple_claims("a-7"), "rsa1", "a1") }), Some(&other_anon.str("access_token")))
        .await;
    assert_eq!(merged.body["user"]["id"], owner.body["user"]["id"]);
    let revoked = f.app.refresh(&other_anon.str("refresh_token")).await;
    assert_eq!(revoked.error_code(), "session_revoked");
    let merged_into: Option<uuid::Uuid> = sqlx::query_scalar("SELECT merged_into FROM customers WHERE id = $1")
        .bind(uuid::Uuid::parse_str(other_anon.body["user"]["id"].as_str().unwrap()).unwrap())
        .fetch_one(&f.app.db.pool)
        .await
        .unwrap();
    assert_eq!(merged_into.map(|id| id.to_string()), owner.body["user"]["id"].as_str().map(str::to_owned));
}
