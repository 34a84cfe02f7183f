//! Firebase Cloud Messaging over its HTTP v1 API, with no Firebase SDK: an OAuth access
//! token from the Cloud Run metadata server (or, for local runs, a service-account key
//! file), cached until shortly before it expires, and one POST per message.

use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use tokio::sync::Mutex;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// A cached token is replaced this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// `FCM_*` settings. Push is off while `project_id` is unset.
#[derive(Debug, Clone)]
pub struct FcmSettings {
    pub project_id: String,
    /// `FCM_BASE_URL`, `https://fcm.googleapis.com` in production.
    pub base_url: String,
    pub credentials: Credentials,
}

/// Where the OAuth access token comes from.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// The metadata server at this base URL (`GCP_METADATA_URL`; Cloud Run's by default).
    Metadata { base_url: String },
    /// A service-account key file (`GOOGLE_APPLICATION_CREDENTIALS`), for local runs.
    KeyFile { path: String },
}

#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    token_uri: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

struct CachedToken {
    value: String,
    refresh_at: Instant,
}

/// How one send went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// The registration token is no longer valid; drop the device.
    DeadToken(String),
    /// Try again later, not before `retry_after` if FCM said so.
    Retry {
        retry_after: Option<Duration>,
        error: String,
    },
    /// Will not succeed as sent.
    Failed(String),
}

/// A message for one device.
pub struct PushMessage<'a> {
    pub token: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub data: &'a serde_json::Value,
}

pub struct FcmClient {
    settings: FcmSettings,
    http: reqwest::Client,
    token: Mutex<Option<CachedToken>>,
}

impl FcmClient {
    pub fn new(settings: FcmSettings, http: reqwest::Client) -> Self {
        Self { settings, http, token: Mutex::new(None) }
    }

    async fn access_token(&self) -> anyhow::Result<String> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(token.value.clone());
        }
        let fresh = match &self.settings.credentials {
            Credentials::Metadata { base_url } => self
                .http
                .get(format!("{base_url}/computeMetadata/v1/instance/service-accounts/default/token"))
                .header("Metadata-Flavor", "Google")
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .context("metadata server")?
                .error_for_status()
                .context("metadata server")?
                .json::<TokenResponse>()
                .await
                .context("metadata token")?,
            Credentials::KeyFile { path } => self.token_from_key_file(path).await?,
        };
        let lifetime = Duration::from_secs(fresh.expires_in).saturating_sub(REFRESH_MARGIN);
        *cached = Some(CachedToken { value: fresh.access_token.clone(), refresh_at: Instant::now() + lifetime });
        Ok(fresh.access_token)
    }

    /// The OAuth 2.0 JWT-bearer grant with a service account's key.
    async fn token_from_key_file(&self, path: &str) -> anyhow::Result<TokenResponse> {
        let file: KeyFile =
            serde_json::from_slice(&tokio::fs::read(path).await.with_context(|| format!("reading {path}"))?)
                .context("parsing the service-account key file")?;
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "iss": file.client_email, "scope": SCOPE, "aud": file.token_uri, "iat": now, "exp": now + 3600,
        });
        let key = EncodingKey::from_rsa_pem(file.private_key.as_bytes()).context("the key file's private key")?;
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)?;
        self.http
            .post(&file.token_uri)
            .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())])
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .context("token endpoint")?
            .error_for_status()
            .context("token endpoint")?
            .json()
            .await
            .context("token response")
    }

    /// Sends one message and classifies the answer.
    pub async fn send(&self, message: &PushMessage<'_>) -> SendOutcome {
        let token = match self.access_token().await {
            Ok(token) => token,
            Err(err) => return SendOutcome::Retry { retry_after: None, error: format!("{err:#}") },
        };
        // FCM wants data values as strings.
        let data: serde_json::Map<String, serde_json::Value> = message
            .data
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (k.clone(), serde_json::Value::String(v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            })
            .collect();
        let body = serde_json::json!({ "message": {
            "token": message.token,
            "notification": { "title": message.title, "body": message.body },
            "data": data,
        }});
        let url = format!("{}/v1/projects/{}/messages:send", self.settings.base_url, self.settings.project_id);
        let resp =
            match self.http.post(url).bearer_auth(token).json(&body).timeout(Duration::from_secs(10)).send().await {
                Ok(resp) => resp,
                Err(err) => return SendOutcome::Retry { retry_after: None, error: err.without_url().to_string() },
            };
        let status = resp.status();
        if status.is_success() {
            return SendOutcome::Sent;
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let error: serde_json::Value = resp.json().await.unwrap_or_default();
        let message = error["error"]["message"].as_str().unwrap_or_default().to_owned();
        let fcm_code = error["error"]["details"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|d| d["errorCode"].as_str())
            .or_else(|| error["error"]["status"].as_str())
            .unwrap_or_default()
            .to_owned();
        let summary = format!("{status} {fcm_code} {message}").trim().to_owned();
        if status.as_u16() == 429 || status.is_server_error() {
            return SendOutcome::Retry { retry_after, error: summary };
        }
        let invalid_token = fcm_code == "INVALID_ARGUMENT" && message.to_ascii_lowercase().contains("token");
        if fcm_code == "UNREGISTERED" || invalid_token {
            return SendOutcome::DeadToken(summary);
        }
        if status.as_u16() == 401 {
            // Our access token was refused: drop it and retry with a fresh one.
            *self.token.lock().await = None;
            return SendOutcome::Retry { retry_after: None, error: summary };
        }
        SendOutcome::Failed(summary)
    }
}
