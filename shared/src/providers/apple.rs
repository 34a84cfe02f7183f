//! Sign in with Apple's server-to-server side: exchanging the app's authorization code
//! for a refresh token, and revoking that grant when the customer deletes the account
//! (App Store rule 5.1.1(v)). Apple authenticates us with a short-lived ES256 JWT (the
//! "client secret") signed with the team's key.
//!
//! The refresh token is stored encrypted (AES-256-GCM) with a key derived from
//! `APPLE_PRIVATE_KEY`: a database leak alone yields nothing, and whoever holds the
//! private key can mint Apple client secrets anyway. Rotating the Apple key makes grants
//! stored under the old one undecryptable; their revocations then fail and are logged.
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
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct TokenResponse {
    refresh_token: Option<String>,
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
        let master = hmac::Key::new(hmac::HMAC_SHA256, pem.trim().as_bytes());
        let derived = hmac::sign(&master, b"halo-bestie apple-refresh-token v1");
        let unbound =
            UnboundKey::new(&aead::AES_256_GCM, derived.as_ref()).map_err(|_| anyhow::anyhow!("AES key length"))?;
        Ok(Self { settings, signing, sealing: LessSafeKey::new(unbound), http })
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
    /// token, returned sealed for storage.
    pub async fn exchange_code(&self, client_id: &str, code: &str) -> anyhow::Result<Vec<u8>> {
        let secret = self.client_secret(client_id)?;
        let form = [
            ("client_id", client_id),
            ("client_secret", secret.as_str()),
            ("code", code),
            ("grant_type", "authorization_code"),
        ];
        let resp = self.post_form(&self.settings.token_url, "token", &form).await?;
        let body: TokenResponse = resp.json().await.context("Apple token response")?;
        let token = body.refresh_token.context("Apple returned no refresh token")?;
        self.seal(token.as_bytes())
    }

    /// Revokes a sealed refresh token. Apple answers 200 also for a token that is already
    /// revoked, so only a failure to get an answer (or an error status) is retried.
    pub async fn revoke(&self, client_id: &str, sealed: &[u8]) -> RevokeOutcome {
        let attempt = async {
            let token = self.open(sealed)?;
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

    fn seal(&self, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| anyhow::anyhow!("the OS random source failed"))?;
        let mut sealed = plaintext.to_vec();
        self.sealing
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut sealed)
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, sealed: &[u8]) -> anyhow::Result<String> {
        anyhow::ensure!(sealed.len() > aead::NONCE_LEN, "sealed token too short");
        let (nonce, rest) = sealed.split_at(aead::NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("nonce"))?;
        let mut buf = rest.to_vec();
        let plain = self
            .sealing
            .open_in_place(nonce, Aad::empty(), &mut buf)
            .map_err(|_| anyhow::anyhow!("the stored Apple token does not open with this APPLE_PRIVATE_KEY"))?;
        String::from_utf8(plain.to_vec()).context("stored Apple token")
    }
}

/// Queues the revocation of Apple grants (the app's client id and the sealed refresh
/// token of each), in the caller's transaction; the worker sends them after it commits.
pub async fn queue_revocations(conn: &mut sqlx::PgConnection, grants: &[(&str, &[u8])]) -> sqlx::Result<()> {
    for (client_id, refresh_token) in grants {
        sqlx::query("INSERT INTO apple_revocations (client_id, refresh_token) VALUES ($1, $2)")
            .bind(client_id)
            .bind(refresh_token)
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
         RETURNING id, client_id, refresh_token, attempts",
    )
    .bind(settings.lease.as_secs_f64())
    .bind(settings.batch)
    .fetch_all(db)
    .await?;
    for row in &rows {
        match apple.revoke(&row.client_id, &row.refresh_token).await {
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
