//! The payment provider's client: Xendit (`super::xendit`) or the local stub, the
//! callback token, and the invoice lifetime. What an order does with a payment is the
//! `payments` domain module's service, which holds one of these.

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::xendit::{AmountLimits, PayoutChannel, XenditClient};

pub const XENDIT_BASE_URL: &str = "https://api.xendit.co";

/// Which provider takes payments.
#[derive(Debug, Clone)]
pub enum PaymentProvider {
    /// Invoices made locally; paid by the documented callback request.
    Stub,
    Xendit {
        secret_key: SecretString,
        base_url: String,
    },
}

/// `PAYMENT_PROVIDER`, `XENDIT_*`, `INVOICE_DURATION_SECONDS`.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    pub provider: PaymentProvider,
    /// `XENDIT_CALLBACK_TOKEN`; the stub ignores it and makes a random one (which it
    /// logs in its pay command), so the real token never reaches a log line.
    pub callback_token: Option<SecretString>,
    pub invoice_duration_secs: u32,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self { provider: PaymentProvider::Stub, callback_token: None, invoice_duration_secs: 3600 }
    }
}

pub(crate) enum Backend {
    Stub,
    Xendit(XenditClient),
}

/// The configured provider, the callback token, and the invoice lifetime.
pub struct PaymentClient {
    pub(crate) backend: Backend,
    pub(crate) callback_token: SecretString,
    pub(crate) invoice_duration_secs: u32,
    /// The WARN for refused (unauthenticated) callbacks: one line per route per 10 s.
    pub(crate) refused_log: crate::telemetry::SampledLog,
    /// Xendit's payout channels and when they were read (kept up to a day).
    channels: Mutex<Option<(Instant, Arc<Vec<PayoutChannel>>)>>,
}

/// How long the payout channel list is kept before Xendit is asked again (§12: a day).
const CHANNELS_FOR: Duration = Duration::from_secs(6 * 3600);

/// The stub's channels (§12: a fixed list with at least these).
fn stub_channels() -> Vec<PayoutChannel> {
    let bank = AmountLimits { minimum: 10_000, maximum: 100_000_000, minimum_increment: 1 };
    let wallet = AmountLimits { minimum: 10_000, maximum: 20_000_000, minimum_increment: 1 };
    [
        ("ID_BCA", "BANK", "Bank Central Asia (BCA)", bank),
        ("ID_BRI", "BANK", "Bank Rakyat Indonesia (BRI)", bank),
        ("ID_MANDIRI", "BANK", "Bank Mandiri", bank),
        ("ID_BNI", "BANK", "Bank Negara Indonesia (BNI)", bank),
        ("ID_BSI", "BANK", "Bank Syariah Indonesia (BSI)", bank),
        ("ID_PERMATA", "BANK", "Bank Permata", bank),
        ("ID_DANA", "EWALLET", "DANA", wallet),
        ("ID_OVO", "EWALLET", "OVO", wallet),
        ("ID_GOPAY", "EWALLET", "GoPay", wallet),
        ("ID_SHOPEEPAY", "EWALLET", "ShopeePay", wallet),
    ]
    .into_iter()
    .map(|(code, category, name, limits)| PayoutChannel {
        channel_code: code.to_owned(),
        channel_category: category.to_owned(),
        currency: Some("IDR".to_owned()),
        channel_name: name.to_owned(),
        amount_limits: limits,
    })
    .collect()
}

/// How often a refused callback's WARN may be written per route.
pub const REFUSED_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl PaymentClient {
    pub fn new(settings: &PaymentSettings, http: reqwest::Client) -> Self {
        let backend = match &settings.provider {
            PaymentProvider::Stub => Backend::Stub,
            PaymentProvider::Xendit { secret_key, base_url } => {
                Backend::Xendit(XenditClient::new(base_url, secret_key.clone(), http))
            }
        };
        let callback_token = match (&settings.provider, &settings.callback_token) {
            (PaymentProvider::Xendit { .. }, Some(token)) => token.clone(),
            _ => SecretString::from(Uuid::new_v4().simple().to_string()),
        };
        Self {
            backend,
            callback_token,
            invoice_duration_secs: settings.invoice_duration_secs,
            refused_log: crate::telemetry::SampledLog::new(REFUSED_LOG_EVERY),
            channels: Mutex::new(None),
        }
    }

    /// The IDR payout channels: Xendit's `GET /payouts_channels`, kept for a few hours
    /// (the stub's fixed list locally). Only bank and e-wallet channels are offered.
    pub async fn payout_channels(&self) -> anyhow::Result<Arc<Vec<PayoutChannel>>> {
        let cached = self.channels.lock().ok().and_then(|c| c.clone());
        if let Some((_, list)) = cached.filter(|(at, _)| at.elapsed() < CHANNELS_FOR) {
            return Ok(list);
        }
        let list = match &self.backend {
            Backend::Stub => stub_channels(),
            Backend::Xendit(xendit) => xendit.payout_channels().await?,
        };
        let list: Vec<PayoutChannel> = list
            .into_iter()
            .filter(|c| matches!(c.channel_category.as_str(), "BANK" | "EWALLET"))
            .filter(|c| c.currency.as_deref().is_none_or(|cur| cur == "IDR"))
            .collect();
        let list = Arc::new(list);
        if let Ok(mut cache) = self.channels.lock() {
            *cache = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }

    /// The callback token the stub made up (its commands carry it); `None` with Xendit.
    pub fn stub_callback_token(&self) -> Option<&str> {
        self.is_stub().then(|| self.callback_token.expose_secret())
    }

    pub fn is_stub(&self) -> bool {
        matches!(self.backend, Backend::Stub)
    }

    pub(crate) fn xendit(&self) -> Option<&XenditClient> {
        match &self.backend {
            Backend::Xendit(client) => Some(client),
            Backend::Stub => None,
        }
    }

    /// Whether `presented` is the configured callback token, in constant time.
    pub fn callback_token_matches(&self, presented: &str) -> bool {
        // Comparing HMACs under a fresh key takes the same time wherever they differ.
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new());
        let Ok(key) = key else { return false };
        let expected = ring::hmac::sign(&key, self.callback_token.expose_secret().as_bytes());
        ring::hmac::verify(&key, presented.as_bytes(), expected.as_ref()).is_ok()
    }
}
