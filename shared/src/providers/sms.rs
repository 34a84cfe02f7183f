//! Where one-time codes go. `stub` writes them to the log (development, and until the
//! SMS vendor is chosen); `http` posts them to a JSON SMS gateway, the shape a real
//! vendor adapter will take.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::phone::Phone;

/// `OTP_PROVIDER` and what it needs.
#[derive(Debug, Clone, Default)]
pub enum ProviderConfig {
    /// Log each code at INFO: `[OTP STUB] phone=… code=…`.
    #[default]
    Stub,
    /// POST `{"to", "message"}` to `url` with `Authorization: Bearer <token>`.
    Http { url: String, token: Option<SecretString> },
}

/// Sends codes; built once at start-up.
pub enum OtpSender {
    Stub,
    Http { client: reqwest::Client, url: String, token: Option<SecretString> },
}

impl OtpSender {
    pub fn new(config: &ProviderConfig, client: reqwest::Client) -> Self {
        match config {
            ProviderConfig::Stub => OtpSender::Stub,
            ProviderConfig::Http { url, token } => OtpSender::Http { client, url: url.clone(), token: token.clone() },
        }
    }

    pub fn is_stub(&self) -> bool {
        matches!(self, OtpSender::Stub)
    }

    /// Delivers `code` to `phone`. The code appears in no log line but the stub's.
    pub async fn send(&self, phone: &Phone, code: &str) -> anyhow::Result<()> {
        match self {
            OtpSender::Stub => {
                tracing::info!("[OTP STUB] phone={phone} code={code}");
                Ok(())
            }
            OtpSender::Http { client, url, token } => {
                let message = format!(
                    "{code} adalah kode verifikasi Halo Bestie Anda. Berlaku 5 menit. Jangan berikan kode ini kepada siapa pun."
                );
                let mut req = client
                    .post(url)
                    .timeout(Duration::from_secs(10))
                    .json(&serde_json::json!({ "to": phone.as_str(), "message": message }));
                if let Some(token) = token {
                    req = req.bearer_auth(token.expose_secret());
                }
                // Errors carry the status only: a vendor's body may echo the message.
                let resp =
                    req.send().await.map_err(|e| anyhow::anyhow!("SMS gateway unreachable: {}", e.without_url()))?;
                let status = resp.status();
                if !status.is_success() {
                    anyhow::bail!("SMS gateway answered {status}");
                }
                Ok(())
            }
        }
    }
}
