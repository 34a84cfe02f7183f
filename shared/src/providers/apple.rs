//! Sign in with Apple's server-to-server side: exchanging the app's authorization code
//! for a refresh token, and revoking that grant when the customer deletes the account
//! (App Store rule 5.1.1(v)). Apple authenticates us with a short-lived ES256 JWT (the
//! "client secret") signed with the team's key.
//!
//! The refresh token is stored encrypted (AES-256-GCM) with a key derived by HKDF-SHA256
//! from the DER bytes of `APPLE_PRIVATE_KEY` (so re-wrapping or re-escaping the same PEM
//! changes nothing): a database leak alone yields nothing, and whoever holds the private
//! key can mint Apple client secrets anyway. Each ciphertext is bound (AES-GCM AAD) to
//! the identity it belongs to, the app's client id and the Apple subject, so a sealed
//! token copied onto another row does not open. Rotating the Apple key makes grants
//! stored under the old one undecryptable; their revocations then fail and are logged.
//!
//! Grants sealed before this scheme (key = HMAC of the PEM text, no AAD) still open
//! through a fallback, so a revocation queued from such a row is not lost; no new
//! ciphertext is ever made that way, and a legacy grant is replaced by a bound one at the
//! customer's next Sign in with Apple that sends a code. Whether any exist:
//! `apple_revocations` rows with `subject IS NULL`, and identities signed in before this
//! release; once there are none the fallback may be deleted.
//!
//! The exchanged code's own ID token must name the subject the verified ID token named;
//! otherwise the sign-in is refused (a code from one Apple account paired with another's
//! ID token).
//!
//! Revocations go through the `apple_revocations` outbox, written in the deletion's
//! transaction and drained by a worker on each public-gateway instance with the same
//! lease-and-retry pattern as push notifications, so Apple being down never blocks a
//! deletion and no grant is forgotten.

use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::PgPool;

use crate::push::WorkerSettings;

pub const APPLE_TOKEN_URL: &str = "https://appleid.apple.com/auth/token";
pub const APPLE_REVOKE_URL: &str = "https://appleid.apple.com/auth/revoke";
const AUDIENCE: &str = "https://appleid.apple.com";
/// Client secrets are minted per call and live this long (Apple allows up to 6 months).
const CLIENT_SECRET_TTL_SECS: i64 = 300;

/// `APPLE_TEAM_ID`, `APPLE_KEY_ID`, `APPLE_PRIVATE_KEY` and the endpoints.
#[derive(Debug, Clone)]
pub struct AppleSettings {
    pub team_id: String,
    pub key_id: String,
    /// The team's `.p8` key (PKCS#8 PEM).
    pub private_key: SecretString,
    pub token_url: String,
    pub revoke_url: String,
}

/// Talks to Apple's token and revoke endpoints on the team's behalf.
pub struct AppleClient {
    settings: AppleSettings,
    signing: EncodingKey,
    sealing: LessSafeKey,
    /// The pre-HKDF key (HMAC of the PEM text), only to open grants sealed with it.
    legacy: LessSafeKey,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct TokenResponse {
    refresh_token: Option<String>,
    id_token: Option<String>,
}

/// The claim of the exchanged code's ID token that matters here.
#[derive(Deserialize)]
struct CodeIdentity {
    sub: String,
}

/// A grant Apple issued for an authorization code: whose it is, and its sealed token.
#[derive(Debug)]
pub struct ExchangedGrant {
    /// The `sub` of the ID token Apple returned with the grant.
    pub subject: String,
    /// The refresh token, sealed for the identity (`client_id`, `subject`).
    pub sealed: Vec<u8>,
}

/// Why an exchange gave no grant.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The code belongs to another Apple account than the ID token presented with it.
    #[error("the authorization code belongs to another Apple account than the ID token")]
    SubjectMismatch,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The DER bytes of a PEM document (the base64 between its BEGIN and END lines).
fn pem_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine;
    let body: String = pem.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).context("APPLE_PRIVATE_KEY's PEM body is not base64")
}

/// The AES-GCM additional data that binds a sealed token to its identity.
fn aad(client_id: &str, subject: &str) -> Vec<u8> {
    format!("halo-bestie apple-grant v2\0{client_id}\0{subject}").into_bytes()
}

/// How one revocation went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    Retry(String),
}

impl AppleClient {
    pub fn new(settings: AppleSettings, http: reqwest::Client) -> anyhow::Result<Self> {
        let pem = settings.private_key.expose_secret().replace("\\n", "\n");
        let signing = EncodingKey::from_ec_pem(pem.trim().as_bytes())
            .context("APPLE_PRIVATE_KEY is not an EC private key in PKCS#8 PEM form (the .p8 file's contents)")?;
        let der = pem_der(pem.trim())?;
        let mut key = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(b"halo-bestie apple-refresh-token"), &der)
            .expand(b"aes-256-gcm sealing key v2", &mut key)
            .map_err(|_| anyhow::anyhow!("HKDF output length"))?;
        let sealing = aes_key(&key)?;
        let master = hmac::Key::new(hmac::HMAC_SHA256, pem.trim().as_bytes());
        let legacy = aes_key(hmac::sign(&master, b"halo-bestie apple-refresh-token v1").as_ref())?;
        Ok(Self { settings, signing, sealing, legacy, http })
    }

    /// The ES256 JWT Apple accepts as `client_secret` for `client_id`.
    pub fn client_secret(&self, client_id: &str) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "iss": self.settings.team_id, "iat": now, "exp": now + CLIENT_SECRET_TTL_SECS,
            "aud": AUDIENCE, "sub": client_id,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.settings.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing).context("signing the Apple client secret")
    }

    /// POSTs a form to one of Apple's endpoints (`which`: `token`, `revoke`); a failure to
    /// get an answer or an error status is an error. Errors never carry the URL or form.
    async fn post_form(&self, url: &str, which: &str, form: &[(&str, &str)]) -> anyhow::Result<reqwest::Response> {
        let resp = self
            .http
            .post(url)
            .form(form)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("Apple {which} endpoint: {}", e.without_url()))?;
        anyhow::ensure!(resp.status().is_success(), "Apple {which} endpoint answered {}", resp.status());
        Ok(resp)
    }

    /// Exchanges an authorization code (single use, five minutes) for Apple's refresh
    /// token, returned sealed for storage under the identity (`client_id`, `subject`).
    /// The ID token Apple returns with it must name `subject`: a code of another Apple
    /// account is refused. That ID token comes straight from Apple's token endpoint over
    /// TLS, answering a request signed with our key, so only its `sub` is read.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        subject: &str,
        code: &str,
    ) -> Result<ExchangedGrant, ExchangeError> {
        let secret = self.client_secret(client_id)?;
        let form = [
            ("client_id", client_id),
            ("client_secret", secret.as_str()),
            ("code", code),
            ("grant_type", "authorization_code"),
        ];
        let resp = self.post_form(&self.settings.token_url, "token", &form).await?;
        let body: TokenResponse = resp.json().await.context("Apple token response")?;
        let id_token = body.id_token.context("Apple returned no ID token with the grant")?;
        let code_subject = code_subject(&id_token)?;
        if code_subject != subject {
            return Err(ExchangeError::SubjectMismatch);
        }
        let token = body.refresh_token.context("Apple returned no refresh token")?;
        Ok(ExchangedGrant { sealed: self.seal(token.as_bytes(), client_id, subject)?, subject: code_subject })
    }

    /// Revokes a sealed refresh token of the identity (`client_id`, `subject`; no subject
    /// for a legacy grant). Apple answers 200 also for a token that is already revoked,
    /// so only a failure to get an answer (or an error status) is retried.
    pub async fn revoke(&self, client_id: &str, subject: Option<&str>, sealed: &[u8]) -> RevokeOutcome {
        let attempt = async {
            let token = self.open(sealed, client_id, subject)?;
            let secret = self.client_secret(client_id)?;
            let form = [
                ("client_id", client_id),
                ("client_secret", secret.as_str()),
                ("token", token.as_str()),
                ("token_type_hint", "refresh_token"),
            ];
            self.post_form(&self.settings.revoke_url, "revoke", &form).await.map(drop)
        };
        match attempt.await {
            Ok(()) => RevokeOutcome::Revoked,
            Err(err) => RevokeOutcome::Retry(format!("{err:#}")),
        }
    }

    /// Seals `plaintext` for the identity (`client_id`, `subject`).
    pub fn seal(&self, plaintext: &[u8], client_id: &str, subject: &str) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| anyhow::anyhow!("the OS random source failed"))?;
        let mut sealed = plaintext.to_vec();
        self.sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(client_id, subject)),
                &mut sealed,
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a token sealed for (`client_id`, `subject`); a grant sealed before tokens were
    /// bound (no subject recorded, or a row written then) opens with the legacy key.
    pub fn open(&self, sealed: &[u8], client_id: &str, subject: Option<&str>) -> anyhow::Result<String> {
        anyhow::ensure!(sealed.len() > aead::NONCE_LEN, "sealed token too short");
        let (nonce, rest) = sealed.split_at(aead::NONCE_LEN);
        let attempt = |key: &LessSafeKey, aad: Aad<Vec<u8>>| {
            let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
            let mut buf = rest.to_vec();
            let plain = key.open_in_place(nonce, aad, &mut buf).ok()?;
            Some(plain.to_vec())
        };
        let plain = subject
            .and_then(|subject| attempt(&self.sealing, Aad::from(aad(client_id, subject))))
            .or_else(|| attempt(&self.legacy, Aad::from(Vec::new())))
            .context("the stored Apple token does not open with this APPLE_PRIVATE_KEY for this identity")?;
        String::from_utf8(plain).context("stored Apple token")
    }
}

/// One grant to revoke: the app's client id, the Apple subject and the sealed token.
pub struct GrantToRevoke<'a> {
    pub client_id: &'a str,
    pub subject: &'a str,
    pub refresh_token: &'a [u8],
}

fn aes_key(bytes: &[u8]) -> anyhow::Result<LessSafeKey> {
    let unbound = UnboundKey::new(&aead::AES_256_GCM, bytes).map_err(|_| anyhow::anyhow!("AES key length"))?;
    Ok(LessSafeKey::new(unbound))
}

/// The `sub` of the ID token that came with an exchanged code (see `exchange_code`).
fn code_subject(id_token: &str) -> anyhow::Result<String> {
    let mut validation = jsonwebtoken::Validation::default();
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<CodeIdentity>(id_token, &jsonwebtoken::DecodingKey::from_secret(&[]), &validation)
            .context("Apple's ID token for the code is not a readable JWT")?;
    Ok(data.claims.sub)
}

/// Queues the revocation of Apple grants, in the caller's transaction; the worker sends
/// them after it commits.
pub async fn queue_revocations(conn: &mut sqlx::PgConnection, grants: &[GrantToRevoke<'_>]) -> sqlx::Result<()> {
    for grant in grants {
        sqlx::query("INSERT INTO apple_revocations (client_id, subject, refresh_token) VALUES ($1, $2, $3)")
            .bind(grant.client_id)
            .bind(grant.subject)
            .bind(grant.refresh_token)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A revocation leased for sending.
#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    id: i64,
    client_id: String,
    subject: Option<String>,
    refresh_token: Vec<u8>,
    attempts: i32,
}

/// Leases due revocations, sends them, and records each outcome; returns how many it
/// handled. Failed tries back off exponentially (2 s, 4 s, … up to an hour).
pub async fn drain_once(db: &PgPool, apple: &AppleClient, settings: &WorkerSettings) -> sqlx::Result<usize> {
    let rows: Vec<Claimed> = sqlx::query_as(
        "UPDATE apple_revocations SET lease_until = now() + make_interval(secs => $1), attempts = attempts + 1
         WHERE id IN (SELECT id FROM apple_revocations
                      WHERE status = 'pending' AND next_attempt_at <= now() AND refresh_token IS NOT NULL
                        AND (lease_until IS NULL OR lease_until < now())
                      ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, client_id, subject, refresh_token, attempts",
    )
    .bind(settings.lease.as_secs_f64())
    .bind(settings.batch)
    .fetch_all(db)
    .await?;
    for row in &rows {
        match apple.revoke(&row.client_id, row.subject.as_deref(), &row.refresh_token).await {
            RevokeOutcome::Revoked => {
                sqlx::query(
                    // A revoked grant is worth nothing to keep: its sealed token goes.
                    "UPDATE apple_revocations SET status = 'revoked', done_at = now(), lease_until = NULL,
                            last_error = NULL, refresh_token = NULL WHERE id = $1",
                )
                .bind(row.id)
                .execute(db)
                .await?;
                tracing::info!(revocation_id = row.id, "Apple grant revoked");
            }
            RevokeOutcome::Retry(error) => {
                let gave_up = row.attempts >= settings.max_attempts;
                let wait = 2u64.saturating_pow(row.attempts.clamp(1, 12) as u32).min(3600);
                sqlx::query(
                    "UPDATE apple_revocations SET lease_until = NULL, last_error = $2,
                            status = CASE WHEN $3 THEN 'failed' ELSE status END,
                            next_attempt_at = now() + make_interval(secs => $4)
                     WHERE id = $1",
                )
                .bind(row.id)
                .bind(&error)
                .bind(gave_up)
                .bind(wait as f64)
                .execute(db)
                .await?;
                tracing::warn!(revocation_id = row.id, gave_up, error, "Apple grant not revoked");
            }
        }
    }
    Ok(rows.len())
}

/// Drains the revocation outbox until the task is aborted.
pub async fn run(db: PgPool, apple: std::sync::Arc<AppleClient>, settings: WorkerSettings) {
    loop {
        match drain_once(&db, &apple, &settings).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "Apple revocation worker could not reach the database"),
        }
        tokio::time::sleep(settings.poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../../../services/public-gateway/tests/fixtures/apple-es256.p8");

    fn client() -> AppleClient {
        let settings = AppleSettings {
            team_id: "TEAM".into(),
            key_id: "KEY".into(),
            private_key: PEM.to_owned().into(),
            token_url: String::new(),
            revoke_url: String::new(),
        };
        AppleClient::new(settings, reqwest::Client::new()).unwrap()
    }

    #[test]
    fn a_grant_sealed_under_the_legacy_scheme_still_opens_and_new_ones_are_bound() {
        let apple = client();
        let mut nonce = [0u8; aead::NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).unwrap();
        let mut legacy = b"old-refresh-token".to_vec();
        apple.legacy.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut legacy).unwrap();
        let legacy = [nonce.as_slice(), &legacy].concat();
        assert_eq!(apple.open(&legacy, "app", None).unwrap(), "old-refresh-token");
        assert_eq!(apple.open(&legacy, "app", Some("sub")).unwrap(), "old-refresh-token");

        let bound = apple.seal(b"new-refresh-token", "app", "sub").unwrap();
        assert_eq!(apple.open(&bound, "app", Some("sub")).unwrap(), "new-refresh-token");
        assert!(apple.open(&bound, "app", None).is_err(), "never opens under the legacy key");
        assert!(apple.open(&bound, "app", Some("other")).is_err());
    }

    #[test]
    fn the_exchanged_codes_subject_is_read_from_its_id_token() {
        let claims = serde_json::json!({ "sub": "001234.abcd", "aud": "app", "iss": "https://appleid.apple.com" });
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"k")).unwrap();
        assert_eq!(code_subject(&token).unwrap(), "001234.abcd");
        assert!(code_subject("not a jwt").is_err());
    }
}
