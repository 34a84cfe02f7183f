//! Access tokens (HS256 JWTs) and the key ring they are signed with, the user types and
//! staff roles they name, and bcrypt run off the async executor (`hashing`). Keys are built
//! once at start-up; verifying a token never touches the database.
//!
//! Rotation: `AUTH_JWT_SECRET` is the current key and signs; each of
//! `AUTH_JWT_PREVIOUS_SECRETS` only verifies. Every token names its key in the `kid`
//! header, derived from the secret by a one-way hash (it never reveals the key), so a
//! token is checked against exactly one key and a `kid` naming no configured key is
//! invalid. Moving the current secret into the previous list and setting a new one logs
//! no one out; removing a secret from the list kills its access tokens at once.
//! Refresh-token and OTP secrets are HMACs under keys derived from these secrets too:
//! new ones always use the current key, and checks accept any configured key (what
//! happens once a refresh token's key is gone is in `auth::refresh`).
//!
//! Audiences: every token names the service that minted it in `aud` (`halo-mobile` from
//! the public gateway, `halo-cc` from the control center) and each service refuses the
//! other's, so even a shared secret could not turn a mobile token into a staff one. The
//! ring is bound to its service's audience when the service's state is built
//! (`AppState::with_keys`); in `deploy/` each service also has its own secret.

pub mod hashing;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::{digest, hmac};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Access-token lifetime.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 3600;
/// Clock skew tolerated on `exp` and `iat`.
const LEEWAY_SECS: i64 = 5;
/// Tokens without a `kid` were minted before key ids shipped (2026-12-01T00:00:00Z).
/// They verify with the current secret only when issued before this moment, so the
/// fallback dies by itself one token lifetime later and may then be deleted.
pub const UNKEYED_TOKENS_ISSUED_BEFORE: i64 = 1_796_083_200;

// Stored as `text` (`user_type` columns) under the same names. (Not in the doc comment:
// that one is the spec's description.)
/// The three kinds of user; each namespace of routes admits only some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum UserType {
    Customer,
    Mitra,
    /// A control-center user; `cc_user` on the wire and in the database.
    #[serde(rename = "cc_user")]
    #[sqlx(rename = "cc_user")]
    #[oai(rename = "cc_user")]
    Staff,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Customer => "customer",
            UserType::Mitra => "mitra",
            UserType::Staff => "cc_user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(UserType::Customer),
            "mitra" => Some(UserType::Mitra),
            "cc_user" => Some(UserType::Staff),
            _ => None,
        }
    }
}

/// Which service a token is for (`aud`): the mobile apps' gateway or the control center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    #[serde(rename = "halo-mobile")]
    Mobile,
    #[serde(rename = "halo-cc")]
    ControlCenter,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Mobile => "halo-mobile",
            Audience::ControlCenter => "halo-cc",
        }
    }
}

/// What an access token says. Every field is required (`role` only for staff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    /// The service the token is for; a token for the other one is invalid here.
    pub aud: Audience,
    pub user_type: UserType,
    pub session_id: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// A staff member's role, so role checks need no query; absent for app users. A
    /// role change ends the member's sessions (`staffops::team::change`), so a token
    /// never outlives the role it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// The two staff roles: `agent` reads and performs user operations; `admin` also manages
/// staff, refunds orders and reads the audit log.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, sqlx::Type, poem_openapi::Enum,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case", rename = "StaffRole")]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// One configured secret: its JWT keys, its public id, and the HMAC keys derived from it.
struct SecretKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    refresh: hmac::Key,
    otp: hmac::Key,
}

impl SecretKey {
    fn new(secret: &[u8]) -> Self {
        // Refresh and OTP secrets use their own keys, derived so that they can never be
        // confused with a JWT signature (labels unchanged since before rotation existed,
        // so tokens issued then still verify).
        let master = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let refresh_key = hmac::sign(&master, b"halo-bestie refresh-token v1");
        let otp_key = hmac::sign(&master, b"halo-bestie otp-code v1");
        Self {
            kid: key_id(secret),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            refresh: hmac::Key::new(hmac::HMAC_SHA256, refresh_key.as_ref()),
            otp: hmac::Key::new(hmac::HMAC_SHA256, otp_key.as_ref()),
        }
    }
}

/// The `kid` of a secret: the first 16 hex digits of a domain-separated SHA-256. Public,
/// stable across instances, and useless for recovering the secret.
fn key_id(secret: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"halo-bestie jwt-kid v1\0");
    ctx.update(secret);
    ctx.finish().as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The key ring: the current secret signs, previous secrets only verify.
pub struct Keys {
    current: SecretKey,
    previous: Vec<SecretKey>,
    /// What this ring mints and the only audience it accepts.
    audience: Audience,
    validation: Validation,
}

impl Keys {
    /// A ring of one secret (no rotation in progress).
    pub fn new(secret: &[u8]) -> Self {
        Self::with_previous(secret, &[] as &[&[u8]])
    }

    /// The current secret and the earlier ones that still verify, for the mobile
    /// audience until [`Keys::for_audience`] says otherwise.
    pub fn with_previous<S: AsRef<[u8]>>(current: &[u8], previous: &[S]) -> Self {
        Self {
            current: SecretKey::new(current),
            previous: previous.iter().map(|s| SecretKey::new(s.as_ref())).collect(),
            audience: Audience::Mobile,
            validation: Self::validation(Audience::Mobile),
        }
    }

    /// The same ring, minting for and accepting only `audience`.
    pub fn for_audience(mut self, audience: Audience) -> Self {
        self.audience = audience;
        self.validation = Self::validation(audience);
        self
    }

    /// The audience this ring mints for.
    pub fn audience(&self) -> Audience {
        self.audience
    }

    fn validation(audience: Audience) -> Validation {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS as u64;
        // `exp` is required below and compared with the caller's clock in `verify`.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "aud"]);
        validation.set_audience(&[audience.as_str()]);
        validation
    }

    /// The `kid` new tokens carry.
    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    fn all(&self) -> impl Iterator<Item = &SecretKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// Signs an access token for one session; returns it with its `exp`.
    pub fn mint(&self, user_id: Uuid, user_type: UserType, session_id: Uuid, now: i64) -> (String, i64) {
        self.mint_with_role(user_id, user_type, session_id, None, now)
    }

    /// `mint`, with a staff member's role in the token.
    pub fn mint_with_role(
        &self,
        user_id: Uuid,
        user_type: UserType,
        session_id: Uuid,
        role: Option<Role>,
        now: i64,
    ) -> (String, i64) {
        let claims = Claims {
            sub: user_id,
            aud: self.audience,
            user_type,
            session_id,
            iat: now,
            exp: now + ACCESS_TOKEN_TTL_SECS,
            role,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.current.encoding)
            .expect("HS256 signing of a plain struct cannot fail");
        (token, claims.exp)
    }

    /// Checks the key named by `kid`, the signature (HS256 only), expiry and every claim.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let kid = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?.kid;
        let key = match kid.as_deref() {
            Some(kid) => self.all().find(|key| key.kid == kid).ok_or(TokenError::Invalid)?,
            None => &self.current,
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if claims.aud != self.audience {
            return Err(TokenError::Invalid);
        }
        if kid.is_none()
            && (claims.iat >= UNKEYED_TOKENS_ISSUED_BEFORE || claims.exp - claims.iat > ACCESS_TOKEN_TTL_SECS)
        {
            return Err(TokenError::Invalid);
        }
        if claims.iat > now + LEEWAY_SECS || claims.exp <= claims.iat {
            return Err(TokenError::Invalid);
        }
        if claims.exp < now - LEEWAY_SECS {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The secret part of the refresh token for `(session, counter)`, under the current key.
    pub fn refresh_secret(&self, session_id: Uuid, counter: i64) -> String {
        let tag = hmac::sign(&self.current.refresh, &refresh_message(session_id, counter));
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `secret` is the one some configured key made for `(session, counter)`;
    /// each comparison is constant-time.
    pub fn refresh_secret_matches(&self, session_id: Uuid, counter: i64, secret: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(secret) else {
            return false;
        };
        let msg = refresh_message(session_id, counter);
        self.all().any(|key| hmac::verify(&key.refresh, &msg, &tag).is_ok())
    }

    /// The keyed hash stored for a one-time code, bound to the app and the phone.
    pub fn otp_hash(&self, user_type: UserType, phone: &str, code: &str) -> Vec<u8> {
        hmac::sign(&self.current.otp, &otp_message(user_type, phone, code)).as_ref().to_vec()
    }

    /// Whether `code` is the one whose hash is `stored`, in constant time; codes sent
    /// just before a rotation still verify.
    pub fn otp_matches(&self, user_type: UserType, phone: &str, code: &str, stored: &[u8]) -> bool {
        let msg = otp_message(user_type, phone, code);
        self.all().any(|key| hmac::verify(&key.otp, &msg, stored).is_ok())
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
            Claims {
                sub: user,
                aud: Audience::Mobile,
                user_type: UserType::Mitra,
                session_id: session,
                iat: 1_000_000_000_000,
                exp,
                role: None
            }
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
    fn a_token_for_the_other_audience_or_for_none_is_invalid() {
        let now = 1_000_000;
        let mobile = Keys::new(SECRET);
        let cc = Keys::new(SECRET).for_audience(Audience::ControlCenter);
        let (staff, _) = cc.mint_with_role(Uuid::new_v4(), UserType::Staff, Uuid::new_v4(), Some(Role::Admin), now);
        let (app, _) = mobile.mint(Uuid::new_v4(), UserType::Customer, Uuid::new_v4(), now);
        assert_eq!(cc.verify(&staff, now).unwrap().aud, Audience::ControlCenter);
        assert_eq!(mobile.verify(&staff, now), Err(TokenError::Invalid));
        assert_eq!(cc.verify(&app, now), Err(TokenError::Invalid));
        let claims = serde_json::json!({
            "sub": Uuid::new_v4(), "user_type": "cc_user", "session_id": Uuid::new_v4(),
            "role": "admin", "iat": now, "exp": now + 60,
        });
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(cc.current_kid().to_owned());
        let unaudienced = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap();
        assert_eq!(cc.verify(&unaudienced, now), Err(TokenError::Invalid));
        assert_eq!(mobile.verify(&unaudienced, now), Err(TokenError::Invalid));
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

    const OLD: &[u8] = b"the-old-secret-the-old-secret-the-old";

    fn kid_of(token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token).unwrap().kid
    }

    /// A token signed with `secret` whose header says what `kid` says (or nothing).
    fn signed(secret: &[u8], kid: Option<&str>, iat: i64) -> String {
        let claims = Claims {
            sub: Uuid::new_v4(),
            aud: Audience::Mobile,
            user_type: UserType::Customer,
            session_id: Uuid::new_v4(),
            role: None,
            iat,
            exp: iat + ACCESS_TOKEN_TTL_SECS,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn tokens_name_their_key_with_a_kid_that_does_not_reveal_it() {
        let keys = Keys::new(SECRET);
        let (token, _) = keys.mint(Uuid::new_v4(), UserType::Customer, Uuid::new_v4(), 1_000);
        let kid = kid_of(&token).expect("a kid");
        assert_eq!(kid, keys.current_kid());
        assert!(kid.len() == 16 && kid.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(kid, Keys::new(OLD).current_kid());
        assert!(!String::from_utf8_lossy(SECRET).contains(&kid));
    }

    #[test]
    fn previous_secrets_verify_but_never_sign_and_removing_one_kills_its_tokens() {
        let now = 1_000_000;
        let (old_token, _) = Keys::new(OLD).mint(Uuid::new_v4(), UserType::Mitra, Uuid::new_v4(), now);
        let rotated = Keys::with_previous(SECRET, &[OLD]);
        assert!(rotated.verify(&old_token, now).is_ok());
        let (new_token, _) = rotated.mint(Uuid::new_v4(), UserType::Mitra, Uuid::new_v4(), now);
        assert_eq!(kid_of(&new_token).as_deref(), Some(Keys::new(SECRET).current_kid()));
        assert_eq!(Keys::new(SECRET).verify(&old_token, now), Err(TokenError::Invalid));
    }

    #[test]
    fn a_forged_or_mismatched_kid_is_invalid() {
        let keys = Keys::with_previous(SECRET, &[OLD]);
        let old_kid = Keys::new(OLD).current_kid().to_owned();
        assert_eq!(keys.verify(&signed(SECRET, Some("0123456789abcdef"), 1_000), 1_000), Err(TokenError::Invalid));
        assert_eq!(keys.verify(&signed(SECRET, Some(&old_kid), 1_000), 1_000), Err(TokenError::Invalid));
        assert!(keys.verify(&signed(SECRET, Some(keys.current_kid()), 1_000), 1_000).is_ok());
    }

    #[test]
    fn tokens_without_kid_verify_with_the_current_secret_only_when_issued_before_the_cutoff() {
        let keys = Keys::with_previous(SECRET, &[OLD]);
        let before = UNKEYED_TOKENS_ISSUED_BEFORE - 60;
        assert!(keys.verify(&signed(SECRET, None, before), before).is_ok());
        assert_eq!(keys.verify(&signed(OLD, None, before), before), Err(TokenError::Invalid));
        let after = UNKEYED_TOKENS_ISSUED_BEFORE;
        assert_eq!(keys.verify(&signed(SECRET, None, after), after), Err(TokenError::Invalid));
        let hour_later = UNKEYED_TOKENS_ISSUED_BEFORE + ACCESS_TOKEN_TTL_SECS;
        assert_eq!(keys.verify(&signed(SECRET, None, before), hour_later), Err(TokenError::Expired));
    }

    #[test]
    fn refresh_and_otp_secrets_of_a_previous_key_still_match_and_new_ones_use_the_current() {
        let (old, rotated) = (Keys::new(OLD), Keys::with_previous(SECRET, &[OLD]));
        let session = Uuid::new_v4();
        assert!(rotated.refresh_secret_matches(session, 2, &old.refresh_secret(session, 2)));
        assert_eq!(rotated.refresh_secret(session, 2), Keys::new(SECRET).refresh_secret(session, 2));
        let stored = old.otp_hash(UserType::Customer, "+6281234567890", "123456");
        assert!(rotated.otp_matches(UserType::Customer, "+6281234567890", "123456", &stored));
        assert!(!Keys::new(SECRET).otp_matches(UserType::Customer, "+6281234567890", "123456", &stored));
    }
}
