//! Google's and Apple's side of ID-token sign-in: the RSA key fixtures, key sets served by
//! a fake (real HTTP on loopback), signed ID tokens, and a gateway configured for both.

use halo_shared::providers::oidc::OidcSettings;
use halo_shared::testing;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{send, spawn_app_with, Reply, TestApp};

pub const GOOGLE_AUD: &str = "halo-android.apps.googleusercontent.com";
pub const APPLE_AUD: &str = "id.halobestie.client";
/// The key files: `rsa1.der`, `rsa2.der`, their public `rsa-public-jwks.json`, Apple's
/// ES256 team key.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn private_key(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_der(&std::fs::read(format!("{FIXTURES}/{name}.der")).unwrap())
}

/// The public JWK of fixture key `name`, published under `kid`.
pub fn jwk(name: &str, kid: &str) -> Value {
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/rsa-public-jwks.json")).unwrap()).unwrap();
    let mut key = all[name].clone();
    key["kid"] = json!(kid);
    key
}

/// From now on `server` answers every GET with the key set `keys`.
pub async fn serve_keys(server: &MockServer, keys: Vec<Value>, cache_control: &str) {
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("cache-control", cache_control)
                .set_body_json(json!({ "keys": keys })),
        )
        .mount(server)
        .await;
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Each call is a new token (its own `jti`), as each real sign-in is: tokens are single use.
pub fn google_claims(sub: &str) -> Value {
    json!({ "iss": "https://accounts.google.com", "aud": GOOGLE_AUD, "sub": sub, "iat": now(), "exp": now() + 3600,
            "email": "Ayu@Gmail.com", "email_verified": true, "name": "Ayu Lestari", "jti": uuid::Uuid::new_v4() })
}

pub fn apple_claims(sub: &str) -> Value {
    json!({ "iss": "https://appleid.apple.com", "aud": APPLE_AUD, "sub": sub, "iat": now(), "exp": now() + 3600,
            "email": "x1y2@privaterelay.appleid.com", "email_verified": "true", "is_private_email": "true",
            "jti": uuid::Uuid::new_v4() })
}

/// `claims` signed RS256 with fixture key `key`, under `kid`.
pub fn sign(claims: &Value, key: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(&header, claims, &private_key(key)).unwrap()
}

/// A gateway that trusts Google's keys at `google` and Apple's at `apple`.
pub async fn app_with_providers(google: &MockServer, apple: &MockServer) -> TestApp {
    let mut settings = testing::gateway_settings();
    settings.google = OidcSettings { client_ids: vec![GOOGLE_AUD.into()], jwks_url: format!("{}/certs", google.uri()) };
    settings.apple =
        OidcSettings { client_ids: vec![APPLE_AUD.into()], jwks_url: format!("{}/auth/keys", apple.uri()) };
    spawn_app_with(settings).await
}

/// A gateway and the two providers it trusts.
pub struct ProviderApp {
    pub app: TestApp,
    pub google: MockServer,
    pub apple: MockServer,
}

/// Both providers serving key `rsa1` (Google's as `g1`, Apple's as `a1`), and a gateway
/// that trusts them.
pub async fn provider_app() -> ProviderApp {
    let (google, apple) = (MockServer::start().await, MockServer::start().await);
    serve_keys(&google, vec![jwk("rsa1", "g1")], "public, max-age=3600").await;
    serve_keys(&apple, vec![jwk("rsa1", "a1")], "public, max-age=3600").await;
    let app = app_with_providers(&google, &apple).await;
    ProviderApp { app, google, apple }
}

impl TestApp {
    /// `POST /api/client/auth/google`, with the bearer token if given.
    pub async fn google(&self, id_token: &str, bearer: Option<&str>) -> Reply {
        let mut req = self.client.post("/api/client/auth/google").body_json(&json!({ "id_token": id_token }));
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        send(req).await
    }

    /// `POST /api/client/auth/apple` with `body`, with the bearer token if given.
    pub async fn apple(&self, body: Value, bearer: Option<&str>) -> Reply {
        let mut req = self.client.post("/api/client/auth/apple").body_json(&body);
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        send(req).await
    }
}
