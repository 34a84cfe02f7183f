//! Bearer verification refuses everything it did not mint itself, without a database query.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use halo_shared::testing::JWT_SECRET;
use halo_shared::tokens::Keys;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{send, spawn_app, TestApp};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(user_type: &str) -> Value {
    json!({ "sub": Uuid::new_v4(), "aud": "halo-mobile", "user_type": user_type, "session_id": Uuid::new_v4(),
            "iat": now(), "exp": now() + 3600 })
}

/// Signs as a key holder would, naming the key in `kid` like every token we mint.
fn sign(alg: Algorithm, secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(Keys::new(secret).current_kid().to_owned());
    encode(&header, claims, &EncodingKey::from_secret(secret)).expect("sign")
}

fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

async fn session_with(app: &TestApp, authorization: Option<&str>) -> (StatusCode, String) {
    let mut req = app.client.get("/api/shared/auth/session");
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let reply = send(req).await;
    (reply.status, reply.error_code().to_owned())
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_401_invalid_token() {
    let app = spawn_app().await;
    let good = claims("customer");
    let mut without_session = good.clone();
    without_session.as_object_mut().unwrap().remove("session_id");
    let mut without_exp = good.clone();
    without_exp.as_object_mut().unwrap().remove("exp");
    let mut without_user_type = good.clone();
    without_user_type.as_object_mut().unwrap().remove("user_type");
    let mut bad_sub = good.clone();
    bad_sub["sub"] = json!("not-a-uuid");
    let mut future_iat = good.clone();
    future_iat["iat"] = json!(now() + 600);
    future_iat["exp"] = json!(now() + 4200);

    let valid = sign(Algorithm::HS256, JWT_SECRET, &good);
    let (head, _, sig) = {
        let parts: Vec<&str> = valid.split('.').collect();
        (parts[0].to_owned(), parts[1].to_owned(), parts[2].to_owned())
    };
    let mut elevated = good.clone();
    elevated["user_type"] = json!("cc_user");
    let tampered = format!("{head}.{}.{sig}", URL_SAFE_NO_PAD.encode(elevated.to_string()));

    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned(&good)),
        ("HS384 with the right secret", sign(Algorithm::HS384, JWT_SECRET, &good)),
        ("HS512 with the right secret", sign(Algorithm::HS512, JWT_SECRET, &good)),
        ("wrong secret", sign(Algorithm::HS256, b"another-secret-another-secret-another", &good)),
        ("future iat", sign(Algorithm::HS256, JWT_SECRET, &future_iat)),
        ("missing session_id", sign(Algorithm::HS256, JWT_SECRET, &without_session)),
        ("missing exp", sign(Algorithm::HS256, JWT_SECRET, &without_exp)),
        ("missing user_type", sign(Algorithm::HS256, JWT_SECRET, &without_user_type)),
        ("sub not a uuid", sign(Algorithm::HS256, JWT_SECRET, &bad_sub)),
        ("unknown user_type", sign(Algorithm::HS256, JWT_SECRET, &claims("admin"))),
        ("tampered payload", tampered),
        ("garbage", "not.a.jwt".into()),
    ];
    for (name, token) in cases {
        let got = session_with(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(got, (StatusCode::UNAUTHORIZED, "invalid_token".to_owned()), "{name}");
    }
}

#[tokio::test]
async fn a_missing_empty_or_non_bearer_authorization_is_401_invalid_token() {
    let app = spawn_app().await;
    let token = sign(Algorithm::HS256, JWT_SECRET, &claims("customer"));
    for header in [None, Some(""), Some("Bearer "), Some("Basic dXNlcjpwYXNz"), Some(token.as_str())] {
        let got = session_with(&app, header).await;
        assert_eq!(got, (StatusCode::UNAUTHORIZED, "invalid_token".to_owned()), "{header:?}");
    }
}

#[tokio::test]
async fn an_expired_token_is_401_token_expired() {
    let app = spawn_app().await;
    let mut expired = claims("customer");
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let got = session_with(&app, Some(&format!("Bearer {}", sign(Algorithm::HS256, JWT_SECRET, &expired)))).await;
    assert_eq!(got, (StatusCode::UNAUTHORIZED, "token_expired".to_owned()));
}

#[tokio::test]
async fn valid_tokens_of_the_wrong_user_type_are_403_forbidden() {
    let app = spawn_app().await;
    let customer = sign(Algorithm::HS256, JWT_SECRET, &claims("customer"));
    let mitra = sign(Algorithm::HS256, JWT_SECRET, &claims("mitra"));
    let staff = sign(Algorithm::HS256, JWT_SECRET, &claims("cc_user"));
    for (path, token) in [
        ("/api/mitra/me", &customer),
        ("/api/client/me", &mitra),
        ("/api/client/me", &staff),
        ("/api/shared/auth/session", &staff),
    ] {
        let reply = app.get_with(path, token).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::FORBIDDEN, "forbidden"), "{path}");
    }
}

#[tokio::test]
async fn a_valid_token_is_accepted_with_no_database_behind_it() {
    // The pool points nowhere: if verification queried the database, this would fail.
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
    let state = halo_shared::AppState::new(pool, JWT_SECRET, halo_shared::testing::gateway_settings());
    // An instance whose listener has loaded the revoked sessions (until then it must ask).
    state.realtime.mark_caught_up();
    let client = poem::test::TestClient::new(public_gateway::app(state, Default::default()));
    let good = claims("mitra");
    let token = sign(Algorithm::HS256, JWT_SECRET, &good);
    let reply = send(client.get("/api/shared/auth/session").header("authorization", format!("Bearer {token}"))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["user_id"], good["sub"]);
    assert_eq!(reply.body["session_id"], good["session_id"]);
    assert_eq!(reply.body["user_type"], "mitra");
}
