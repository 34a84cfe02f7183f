//! Google and Apple ID tokens: RS256 only, the key picked by `kid` from the provider's
//! key set, issuer and audience pinned, `exp` and `iat` checked with a small leeway.

pub mod keys;

use jsonwebtoken::{Algorithm, Validation};
use ring::digest;
use serde::{Deserialize, Deserializer};

use self::keys::{KeyError, KeySet};

/// Why an ID token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("the ID token failed verification")]
    InvalidIdToken,
    #[error("the sign-in provider's keys cannot be fetched right now")]
    ProviderUnavailable,
}

pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
pub const APPLE_JWKS_URL: &str = "https://appleid.apple.com/auth/keys";
const LEEWAY_SECS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProvider {
    Google,
    Apple,
}

impl IdProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            IdProvider::Google => "google",
            IdProvider::Apple => "apple",
        }
    }

    fn issuers(self) -> &'static [&'static str] {
        match self {
            IdProvider::Google => &["accounts.google.com", "https://accounts.google.com"],
            IdProvider::Apple => &["https://appleid.apple.com"],
        }
    }
}

/// `GOOGLE_*` / `APPLE_*` settings: the accepted audiences and the key-set URL.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub client_ids: Vec<String>,
    pub jwks_url: String,
}

/// One configured provider: its audiences and its cached key set.
pub struct IdTokenVerifier {
    provider: IdProvider,
    validation: Validation,
    keys: KeySet,
}

/// What a verified ID token says about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub provider: IdProvider,
    pub subject: String,
    /// The token's audience: which of our client ids the user signed in to.
    pub client_id: String,
    /// Only when the provider says it is verified.
    pub email: Option<String>,
    pub name: Option<String>,
    /// The token's `exp` (epoch seconds): how long a replay of it must be remembered.
    pub expires_at: i64,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    /// Checked against the configured client ids by `Validation`; a string for both
    /// providers.
    #[serde(default)]
    aud: serde_json::Value,
    iat: i64,
    exp: i64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default, deserialize_with = "bool_or_string")]
    email_verified: Option<bool>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Apple sends `email_verified` (and `is_private_email`) as `"true"` or `true`.
fn bool_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<Flag>::deserialize(d)? {
        Some(Flag::Bool(b)) => Some(b),
        Some(Flag::Text(s)) => Some(s.eq_ignore_ascii_case("true")),
        None => None,
    })
}

impl IdTokenVerifier {
    /// `None` when no client id is configured: the provider is not offered.
    pub fn new(provider: IdProvider, settings: &OidcSettings, http: reqwest::Client) -> Option<Self> {
        if settings.client_ids.is_empty() {
            return None;
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_audience(&settings.client_ids);
        validation.set_issuer(provider.issuers());
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        Some(Self { provider, validation, keys: KeySet::new(settings.jwks_url.clone(), http) })
    }

    /// Verifies `token`. `raw_nonce` is the nonce the app generated. When either the app
    /// or the token has one, both must, and they must match: Apple's token carries the
    /// nonce's hex SHA-256; Google's carries what the app set (the raw nonce, or its hex
    /// SHA-256 for apps that hash it as for Apple).
    pub async fn verify(&self, token: &str, raw_nonce: Option<&str>) -> Result<VerifiedIdentity, OidcError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| OidcError::InvalidIdToken)?;
        if header.alg != Algorithm::RS256 {
            return Err(OidcError::InvalidIdToken);
        }
        let kid = header.kid.ok_or(OidcError::InvalidIdToken)?;
        let key = self.keys.key(&kid).await.map_err(|e| match e {
            KeyError::UnknownKid => OidcError::InvalidIdToken,
            KeyError::Unavailable => OidcError::ProviderUnavailable,
        })?;
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &self.validation)
            .map_err(|_| OidcError::InvalidIdToken)?
            .claims;
        if claims.iat > chrono::Utc::now().timestamp() + LEEWAY_SECS as i64 || claims.sub.is_empty() {
            return Err(OidcError::InvalidIdToken);
        }
        let nonce_matches = |carried: &str, raw: &str| match self.provider {
            IdProvider::Apple => carried.eq_ignore_ascii_case(&sha256_hex(raw)),
            IdProvider::Google => carried == raw || carried.eq_ignore_ascii_case(&sha256_hex(raw)),
        };
        match (claims.nonce.as_deref(), raw_nonce) {
            (None, None) => {}
            (Some(carried), Some(raw)) if nonce_matches(carried, raw) => {}
            _ => return Err(OidcError::InvalidIdToken),
        }
        let email = claims.email.filter(|_| claims.email_verified == Some(true)).map(|e| e.trim().to_lowercase());
        let client_id = claims.aud.as_str().unwrap_or_default().to_owned();
        Ok(VerifiedIdentity {
            provider: self.provider,
            subject: claims.sub,
            client_id,
            email,
            name: claims.name,
            expires_at: claims.exp,
        })
    }
}

pub fn sha256_hex(input: &str) -> String {
    digest::digest(&digest::SHA256, input.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
