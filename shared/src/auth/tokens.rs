//! Access tokens (HS256 JWTs) and the server key that derives refresh-token secrets.
//! Keys are built once at start-up; verifying a token never touches the database.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::hmac;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Access-token lifetime.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 3600;
/// Clock skew tolerated on `exp` and `iat`.
const LEEWAY_SECS: i64 = 5;

/// The three kinds of user; each namespace of routes admits only some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum UserType {
    Customer,
    Mitra,
    CcUser,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Customer => "customer",
            UserType::Mitra => "mitra",
            UserType::CcUser => "cc_user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(UserType::Customer),
            "mitra" => Some(UserType::Mitra),
            "cc_user" => Some(UserType::CcUser),
            _ => None,
        }
    }
}

/// What an access token says. Every field is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub user_type: UserType,
    pub session_id: Uuid,
    pub iat: i64,
    pub exp: i64,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// The keys derived from `AUTH_JWT_SECRET`.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    refresh: hmac::Key,
    otp: hmac::Key,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS as u64;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        // Refresh secrets use their own key, derived so that a refresh secret can never
        // be confused with a JWT signature.
        let master = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let refresh_key = hmac::sign(&master, b"halo-bestie refresh-token v1");
        let otp_key = hmac::sign(&master, b"halo-bestie otp-code v1");
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            refresh: hmac::Key::new(hmac::HMAC_SHA256, refresh_key.as_ref()),
            otp: hmac::Key::new(hmac::HMAC_SHA256, otp_key.as_ref()),
        }
    }

    /// Signs an access token for one session; returns it with its `exp`.
    pub fn mint(&self, user_id: Uuid, user_type: UserType, session_id: Uuid, now: i64) -> (String, i64) {
        let claims = Claims { sub: user_id, user_type, session_id, iat: now, exp: now + ACCESS_TOKEN_TTL_SECS };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of a plain struct cannot fail");
        (token, claims.exp)
    }

    /// Checks signature (HS256 only), expiry and every claim.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if data.claims.iat > now + LEEWAY_SECS || data.claims.exp <= data.claims.iat {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }

    /// The secret part of the refresh token for `(session, counter)`.
    pub fn refresh_secret(&self, session_id: Uuid, counter: i64) -> String {
        let tag = hmac::sign(&self.refresh, &refresh_message(session_id, counter));
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `secret` is the one we issued for `(session, counter)`, in constant time.
    pub fn refresh_secret_matches(&self, session_id: Uuid, counter: i64, secret: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(secret) else {
            return false;
        };
        hmac::verify(&self.refresh, &refresh_message(session_id, counter), &tag).is_ok()
    }

    /// The keyed hash stored for a one-time code, bound to the app and the phone.
    pub fn otp_hash(&self, user_type: UserType, phone: &str, code: &str) -> Vec<u8> {
        hmac::sign(&self.otp, &otp_message(user_type, phone, code)).as_ref().to_vec()
    }

    /// Whether `code` is the one whose hash is `stored`, in constant time.
    pub fn otp_matches(&self, user_type: UserType, phone: &str, code: &str, stored: &[u8]) -> bool {
        hmac::verify(&self.otp, &otp_message(user_type, phone, code), stored).is_ok()
    }
}

fn otp_message(user_type: UserType, phone: &str, code: &str) -> Vec<u8> {
    format!("{}|{phone}|{code}", user_type.as_str()).into_bytes()
}

fn refresh_message(session_id: Uuid, counter: i64) -> Vec<u8> {
    let mut msg = Vec::with_capacity(24);
    msg.extend_from_slice(session_id.as_bytes());
    msg.extend_from_slice(&counter.to_be_bytes());
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_minted_token_verifies_with_all_its_claims() {
        let keys = Keys::new(SECRET);
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let (token, exp) = keys.mint(user, UserType::Mitra, session, 1_000_000_000_000);
        let claims = keys.verify(&token, 1_000_000_000_000).expect("valid");
        assert_eq!(
            claims,
            Claims { sub: user, user_type: UserType::Mitra, session_id: session, iat: 1_000_000_000_000, exp }
        );
    }

    #[test]
    fn an_expired_token_is_told_apart_from_an_invalid_one() {
        let keys = Keys::new(SECRET);
        let now = chrono::Utc::now().timestamp();
        let (token, _) = keys.mint(Uuid::new_v4(), UserType::Customer, Uuid::new_v4(), now - 7200);
        assert_eq!(keys.verify(&token, now), Err(TokenError::Expired));
        let other = Keys::new(b"another-secret-another-secret-xx");
        let (token, _) = other.mint(Uuid::new_v4(), UserType::Customer, Uuid::new_v4(), now);
        assert_eq!(keys.verify(&token, now), Err(TokenError::Invalid));
    }

    #[test]
    fn refresh_secrets_bind_session_and_counter() {
        let keys = Keys::new(SECRET);
        let session = Uuid::new_v4();
        let secret = keys.refresh_secret(session, 3);
        assert!(keys.refresh_secret_matches(session, 3, &secret));
        assert!(!keys.refresh_secret_matches(session, 4, &secret));
        assert!(!keys.refresh_secret_matches(Uuid::new_v4(), 3, &secret));
        assert!(!keys.refresh_secret_matches(session, 3, "not base64 !"));
    }
}
