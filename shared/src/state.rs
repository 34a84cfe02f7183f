//! The state every handler shares, built once at start-up.

use std::ops::Deref;
use std::sync::Arc;

use sqlx::PgPool;

use crate::providers::apple::{AppleClient, AppleSettings};
use crate::providers::oidc::{IdTokenVerifier, OidcSettings, Provider, APPLE_JWKS_URL, GOOGLE_JWKS_URL};
use crate::providers::payments::{PaymentSettings, Payments};
use crate::providers::sms::{OtpSender, ProviderConfig};
use crate::push::fcm::FcmSettings;
use crate::push::WorkerSettings;
use crate::realtime::Realtime;
use crate::tokens::Keys;

/// Everything a request may need beyond its own input: the database pool, the token
/// keys (built once), and the tunable limits. Cheap to clone (one `Arc`). Per-request
/// data does not belong here; it travels in the request's extensions.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: PgPool,
    pub keys: Keys,
    pub settings: Settings,
    /// One HTTP client for every third party, so connections are pooled.
    pub http: reqwest::Client,
    pub otp: OtpSender,
    /// `None` when `GOOGLE_CLIENT_IDS` is empty.
    pub google: Option<IdTokenVerifier>,
    /// `None` when `APPLE_CLIENT_IDS` is empty.
    pub apple: Option<IdTokenVerifier>,
    /// Apple's token and revoke endpoints; `None` unless `APPLE_TEAM_ID`, `APPLE_KEY_ID`
    /// and `APPLE_PRIVATE_KEY` are set.
    pub apple_grants: Option<Arc<AppleClient>>,
    /// Xendit, or the local stub.
    pub payments: Payments,
    /// This instance's sockets and revoked sessions, shared with the realtime listener.
    pub realtime: Arc<Realtime>,
}

impl AppState {
    /// State whose key ring is just `jwt_secret` (no rotation in progress).
    pub fn new(db: PgPool, jwt_secret: &[u8], settings: Settings) -> Self {
        Self::with_keys(db, Keys::new(jwt_secret), settings)
    }

    /// State with a full key ring (`AUTH_JWT_SECRET` and `AUTH_JWT_PREVIOUS_SECRETS`).
    pub fn with_keys(db: PgPool, keys: Keys, settings: Settings) -> Self {
        let http = http_client();
        let otp = OtpSender::new(&settings.otp.provider, http.clone());
        let google = IdTokenVerifier::new(Provider::Google, &settings.google, http.clone());
        let apple = IdTokenVerifier::new(Provider::Apple, &settings.apple, http.clone());
        let apple_grants = settings.apple_grants.clone().map(|apple| {
            Arc::new(
                AppleClient::new(apple, http.clone())
                    .expect("APPLE_PRIVATE_KEY is checked when the settings are parsed"),
            )
        });
        let payments = Payments::new(&settings.payments, http.clone());
        Self(Arc::new(Inner {
            db,
            keys,
            settings,
            http,
            otp,
            google,
            apple,
            apple_grants,
            payments,
            realtime: Arc::default(),
        }))
    }
}

/// The one HTTP client for third parties: pooled connections, our user agent, a connect
/// timeout (each call sets its own overall timeout).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("halo-bestie/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("the HTTP client's TLS roots load")
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Tunables, with the contract's defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// bcrypt cost for refresh-token hashes (`REFRESH_TOKEN_BCRYPT_COST`).
    pub refresh_token_bcrypt_cost: u32,
    /// bcrypt cost for control-center passwords (`PASSWORD_BCRYPT_COST`).
    pub password_bcrypt_cost: u32,
    /// `ANON_SIGNINS_PER_IP_PER_HOUR`.
    pub anon_signins_per_ip_per_hour: u32,
    /// `ID_TOKEN_SIGNINS_PER_IP_PER_HOUR`: Google and Apple sign-ins per client address.
    pub id_token_signins_per_ip_per_hour: u32,
    /// `LOGIN_FAILURES_PER_EMAIL`, per 15 minutes.
    pub login_failures_per_email: u32,
    /// `LOGIN_FAILURES_PER_IP`, per 15 minutes.
    pub login_failures_per_ip: u32,
    /// `REFRESH_PER_SESSION_PER_MINUTE`: refreshes that reach bcrypt, per session.
    pub refresh_per_session_per_minute: u32,
    /// `REFRESH_PER_IP_PER_MINUTE`: refresh requests per client IP.
    pub refresh_per_ip_per_minute: u32,
    /// `COOKIE_SECURE`: false only for plain-HTTP local development.
    pub cookie_secure: bool,
    /// `CC_ALLOWED_ORIGINS`: origins of the control-center SPA (CORS with credentials).
    pub cc_allowed_origins: Vec<String>,
    pub otp: OtpSettings,
    pub google: OidcSettings,
    pub apple: OidcSettings,
    /// `APPLE_TEAM_ID`, `APPLE_KEY_ID`, `APPLE_PRIVATE_KEY`, …: revoking Apple grants.
    pub apple_grants: Option<AppleSettings>,
    /// `PAYMENT_PROVIDER`, `XENDIT_*`, `INVOICE_DURATION_SECONDS`.
    pub payments: PaymentSettings,
    /// `WS_HEARTBEAT_SECONDS`: ping interval; a socket silent for two is closed.
    pub ws_heartbeat: std::time::Duration,
    /// `WS_MAX_PER_SESSION`, `WS_MAX_PER_USER`, `WS_MAX_PER_IP`: sockets per instance.
    pub ws_caps: crate::realtime::hub::Caps,
    /// `FCM_PROJECT_ID`, `FCM_BASE_URL`, …: where the gateway's push worker sends; `None`
    /// turns the worker off (pushes wait in the outbox).
    pub fcm: Option<FcmSettings>,
    /// `PUSH_POLL_MS`, `PUSH_MAX_ATTEMPTS`: the gateway's outbox workers (push and Apple
    /// grant revocations).
    pub workers: WorkerSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            refresh_token_bcrypt_cost: 10,
            password_bcrypt_cost: 12,
            anon_signins_per_ip_per_hour: 30,
            id_token_signins_per_ip_per_hour: 60,
            login_failures_per_email: 5,
            login_failures_per_ip: 20,
            refresh_per_session_per_minute: 30,
            refresh_per_ip_per_minute: 120,
            cookie_secure: true,
            cc_allowed_origins: Vec::new(),
            otp: OtpSettings::default(),
            google: OidcSettings { client_ids: Vec::new(), jwks_url: GOOGLE_JWKS_URL.into() },
            apple: OidcSettings { client_ids: Vec::new(), jwks_url: APPLE_JWKS_URL.into() },
            apple_grants: None,
            payments: PaymentSettings::default(),
            ws_heartbeat: std::time::Duration::from_secs(30),
            ws_caps: crate::realtime::hub::Caps::default(),
            fcm: None,
            workers: WorkerSettings::default(),
        }
    }
}

/// OTP tunables (`OTP_*` variables), with the contract's defaults.
#[derive(Debug, Clone)]
pub struct OtpSettings {
    pub ttl_secs: u32,
    pub resend_secs: u32,
    pub max_attempts: u32,
    pub sends_per_phone_per_hour: u32,
    pub sends_per_phone_per_day: u32,
    pub sends_per_ip_per_hour: u32,
    pub provider: ProviderConfig,
    /// `OTP_ALLOWED_COUNTRIES`: ISO codes of the countries codes are sent to (empty: any).
    pub allowed_countries: Vec<String>,
}

impl Default for OtpSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            resend_secs: 60,
            max_attempts: 5,
            sends_per_phone_per_hour: 5,
            sends_per_phone_per_day: 10,
            sends_per_ip_per_hour: 20,
            provider: ProviderConfig::Stub,
            allowed_countries: vec!["ID".to_owned()],
        }
    }
}
