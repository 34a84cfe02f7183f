//! The state every handler shares, built once at start-up.

use std::ops::Deref;
use std::sync::Arc;

use sqlx::PgPool;

use crate::providers::apple::{AppleClient, AppleSettings};
use crate::providers::oidc::{IdProvider, IdTokenVerifier, OidcSettings, APPLE_JWKS_URL, GOOGLE_JWKS_URL};
use crate::providers::payments::{PaymentClient, PaymentSettings};
use crate::providers::sms::{OtpSender, ProviderConfig};
use crate::push::fcm::FcmSettings;
use crate::push::WorkerSettings;
use crate::realtime::Realtime;
use crate::tokens::{Audience, Keys};

/// Everything a request may need beyond its own input: the database pool, the token
/// keys (built once), the tunables, and one client per provider the service talks to.
/// Cheap to clone (one `Arc`). Per-request data does not belong here; it travels in the
/// request's extensions. Each service builds only what it uses ([`Service`]).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: PgPool,
    pub keys: Keys,
    /// One HTTP client for every third party, so connections are pooled.
    pub http: reqwest::Client,
    /// Xendit, or the local stub (both services: the control center refunds).
    pub payments: Arc<PaymentClient>,
    /// This instance's sockets and revoked sessions, shared with the realtime listener.
    pub realtime: Arc<Realtime>,
    /// What only this service has.
    pub service: Service,
}

/// The part of the state only one service has.
pub enum Service {
    Gateway(Box<Gateway>),
    ControlCenter(Box<ControlCenter>),
}

/// The public gateway's own: its settings and the sign-in providers' clients.
pub struct Gateway {
    pub settings: GatewaySettings,
    pub otp: OtpSender,
    /// `None` when `GOOGLE_CLIENT_IDS` is empty.
    pub google: Option<IdTokenVerifier>,
    /// `None` when `APPLE_CLIENT_IDS` is empty.
    pub apple: Option<IdTokenVerifier>,
    /// Apple's token and revoke endpoints; `None` unless `APPLE_TEAM_ID`, `APPLE_KEY_ID`
    /// and `APPLE_PRIVATE_KEY` are set.
    pub apple_grants: Option<Arc<AppleClient>>,
}

/// The control center's own: its settings.
pub struct ControlCenter {
    pub settings: ControlCenterSettings,
}

/// What a service is configured with: the shared part inside each.
#[derive(Debug, Clone)]
pub enum ServiceSettings {
    Gateway(Box<GatewaySettings>),
    ControlCenter(ControlCenterSettings),
}

impl ServiceSettings {
    /// The part both services share.
    pub fn shared(&self) -> &Settings {
        match self {
            ServiceSettings::Gateway(gateway) => &gateway.shared,
            ServiceSettings::ControlCenter(cc) => &cc.shared,
        }
    }
}

impl From<GatewaySettings> for ServiceSettings {
    fn from(settings: GatewaySettings) -> Self {
        ServiceSettings::Gateway(Box::new(settings))
    }
}

impl From<ControlCenterSettings> for ServiceSettings {
    fn from(settings: ControlCenterSettings) -> Self {
        ServiceSettings::ControlCenter(settings)
    }
}

impl AppState {
    /// A service's state whose key ring is just `jwt_secret` (no rotation in progress).
    pub fn new(db: PgPool, jwt_secret: &[u8], settings: impl Into<ServiceSettings>) -> Self {
        Self::with_keys(db, Keys::new(jwt_secret), settings.into())
    }

    /// A service's state with a full key ring (`AUTH_JWT_SECRET` and
    /// `AUTH_JWT_PREVIOUS_SECRETS`), building the clients that service uses. The ring is
    /// bound here to the service's audience: the gateway mints and accepts only
    /// `halo-mobile`, the control center only `halo-cc`.
    pub fn with_keys(db: PgPool, keys: Keys, settings: ServiceSettings) -> Self {
        let keys = keys.for_audience(match settings {
            ServiceSettings::Gateway(_) => Audience::Mobile,
            ServiceSettings::ControlCenter(_) => Audience::ControlCenter,
        });
        let http = http_client();
        let payments = Arc::new(PaymentClient::new(&settings.shared().payments, http.clone()));
        let service = match settings {
            ServiceSettings::Gateway(settings) => {
                let otp = OtpSender::new(&settings.otp.provider, http.clone());
                let google = IdTokenVerifier::new(IdProvider::Google, &settings.google, http.clone());
                let apple = IdTokenVerifier::new(IdProvider::Apple, &settings.apple, http.clone());
                let apple_grants = settings.apple_grants.clone().map(|apple| {
                    Arc::new(
                        AppleClient::new(apple, http.clone())
                            .expect("APPLE_PRIVATE_KEY is checked when the settings are parsed"),
                    )
                });
                Service::Gateway(Box::new(Gateway { settings: *settings, otp, google, apple, apple_grants }))
            }
            ServiceSettings::ControlCenter(settings) => Service::ControlCenter(Box::new(ControlCenter { settings })),
        };
        Self(Arc::new(Inner { db, keys, http, payments, realtime: Arc::default(), service }))
    }

    /// The tunables both services share.
    pub fn settings(&self) -> &Settings {
        match &self.service {
            Service::Gateway(gateway) => &gateway.settings.shared,
            Service::ControlCenter(cc) => &cc.settings.shared,
        }
    }

    /// The gateway's own part; an error in the control center, whose routes never ask.
    pub fn gateway(&self) -> anyhow::Result<&Gateway> {
        match &self.service {
            Service::Gateway(gateway) => Ok(gateway),
            Service::ControlCenter(_) => anyhow::bail!("a public-gateway operation ran in the control center"),
        }
    }

    /// The control center's own part; an error in the gateway, whose routes never ask.
    pub fn control_center(&self) -> anyhow::Result<&ControlCenter> {
        match &self.service {
            Service::ControlCenter(cc) => Ok(cc),
            Service::Gateway(_) => anyhow::bail!("a control-center operation ran in the public gateway"),
        }
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

/// The tunables both services share, with the contract's defaults. Each `Default` below
/// is the one place a tunable's default is written; the flags read it from there.
#[derive(Debug, Clone)]
pub struct Settings {
    /// bcrypt cost for refresh-token hashes (`REFRESH_TOKEN_BCRYPT_COST`).
    pub refresh_token_bcrypt_cost: u32,
    /// `REFRESH_PER_SESSION_PER_MINUTE`: refreshes that reach bcrypt, per session.
    pub refresh_per_session_per_minute: u32,
    /// `REFRESH_PER_IP_PER_MINUTE`: refresh requests per client IP.
    pub refresh_per_ip_per_minute: u32,
    /// `PAYMENT_PROVIDER`, `XENDIT_*`, `INVOICE_DURATION_SECONDS`.
    pub payments: PaymentSettings,
    /// `PLATFORM_COMMISSION_BPS`, `EARNINGS_HOLD_HOURS`, `MAX_PENDING_ORDERS_PER_CUSTOMER`.
    pub money: MoneySettings,
    /// `REVOCATION_STALE_TRUST_SECONDS`: while the database cannot be reached at all, how
    /// long after the last sync the revoked set alone is trusted (see `auth::scheme`).
    pub revocation_stale_trust: std::time::Duration,
    /// `SLOT_STEP_MINUTES`, `BOOKING_*`, `ACCEPT_TIMEOUT_SECONDS`, `SWEEP_INTERVAL_SECONDS`,
    /// `CANCEL_*`, `LATE_CANCEL_REFUND_PERCENT`, `REMINDER_MINUTES` (contract §13).
    pub booking: BookingSettings,
    /// `CHAT_OPEN_DAYS_AFTER_END`, `CHAT_MESSAGES_PER_MINUTE`, `REVIEW_WINDOW_DAYS`.
    pub chat: ChatSettings,
}

/// The conversation and review rules (contract §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatSettings {
    /// `CHAT_OPEN_DAYS_AFTER_END`: a conversation takes messages until this many days
    /// after its order ended.
    pub open_days_after_end: u32,
    /// `CHAT_MESSAGES_PER_MINUTE`: messages one sender may post per minute (0: no limit).
    pub messages_per_minute: u32,
    /// `REVIEW_WINDOW_DAYS`: days after completion during which each side may review.
    pub review_window_days: u32,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self { open_days_after_end: 7, messages_per_minute: 30, review_window_days: 7 }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            refresh_token_bcrypt_cost: 10,
            refresh_per_session_per_minute: 30,
            refresh_per_ip_per_minute: 120,
            payments: PaymentSettings::default(),
            money: MoneySettings::default(),
            revocation_stale_trust: std::time::Duration::from_secs(60),
            booking: BookingSettings::default(),
            chat: ChatSettings::default(),
        }
    }
}

/// What the money rules are tuned by (contract §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoneySettings {
    /// `PLATFORM_COMMISSION_BPS`: the platform's share in basis points, snapshotted on
    /// each order when it is created.
    pub commission_bps: u32,
    /// `EARNINGS_HOLD_HOURS`: how long completed earnings stay pending (the dispute window).
    pub earnings_hold_hours: u32,
    /// `MAX_PENDING_ORDERS_PER_CUSTOMER`: unpaid orders one customer may hold.
    pub max_pending_orders_per_customer: u32,
    /// `PAYOUT_MINIMUM`: the smallest available balance that is paid out (§12).
    pub payout_minimum: i64,
    /// `PAYOUT_ACCOUNT_COOLDOWN_HOURS`: a new or changed payout account receives nothing
    /// until this long after the change.
    pub payout_account_cooldown_hours: u32,
}

impl Default for MoneySettings {
    fn default() -> Self {
        Self {
            commission_bps: 2000,
            earnings_hold_hours: 72,
            max_pending_orders_per_customer: 5,
            payout_minimum: 50_000,
            payout_account_cooldown_hours: 24,
        }
    }
}

/// What booking is tuned by (contract §13, §16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingSettings {
    /// `SLOT_STEP_MINUTES`: slots start on this grid from local midnight (divides 1440).
    pub slot_step_minutes: u32,
    /// `BOOKING_LEAD_MINUTES`: the earliest bookable start, from now.
    pub lead_minutes: u32,
    /// `BOOKING_HORIZON_DAYS`: the latest bookable local date, from today's.
    pub horizon_days: u32,
    /// `ACCEPT_TIMEOUT_SECONDS`: a paid order not accepted this long after payment (or by
    /// its start, if sooner) is declined and refunded.
    pub accept_timeout_secs: u32,
    /// `SWEEP_INTERVAL_SECONDS`: how often each gateway instance runs the timed moves
    /// (0: not in this instance; `sweep-orders` still runs them).
    pub sweep_interval_secs: u32,
    /// `CANCEL_FREE_HOURS`: cancelling is free until this long before the start.
    pub cancel_free_hours: u32,
    /// `CANCEL_GRACE_MINUTES`: once accepted, free at least this long after acceptance.
    pub cancel_grace_minutes: u32,
    /// `LATE_CANCEL_REFUND_PERCENT`: what a late cancellation refunds.
    pub late_cancel_refund_percent: u32,
    /// `REMINDER_MINUTES`: the reminder push goes out this long before the start.
    pub reminder_minutes: u32,
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            slot_step_minutes: 30,
            lead_minutes: 60,
            horizon_days: 30,
            accept_timeout_secs: 1800,
            sweep_interval_secs: 15,
            cancel_free_hours: 24,
            cancel_grace_minutes: 60,
            late_cancel_refund_percent: 50,
            reminder_minutes: 60,
        }
    }
}

/// The public gateway's tunables, with the shared part.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub shared: Settings,
    /// `ANON_SIGNINS_PER_IP_PER_HOUR`.
    pub anon_signins_per_ip_per_hour: u32,
    /// `ID_TOKEN_SIGNINS_PER_IP_PER_HOUR`: Google and Apple sign-ins per client address.
    pub id_token_signins_per_ip_per_hour: u32,
    /// `SERVICE_WRITES_PER_MITRA_PER_HOUR`: service creates and edits per mitra.
    pub service_writes_per_mitra_per_hour: u32,
    pub otp: OtpSettings,
    pub google: OidcSettings,
    pub apple: OidcSettings,
    /// `APPLE_TEAM_ID`, `APPLE_KEY_ID`, `APPLE_PRIVATE_KEY`, …: revoking Apple grants.
    pub apple_grants: Option<AppleSettings>,
    /// `WS_HEARTBEAT_SECONDS`: ping interval; a socket silent for two is closed.
    pub ws_heartbeat: std::time::Duration,
    /// `WS_MAX_PER_SESSION`, `WS_MAX_PER_USER`, `WS_MAX_PER_IP`: sockets per instance.
    pub ws_caps: crate::realtime::hub::Caps,
    /// `FCM_PROJECT_ID`, `FCM_BASE_URL`, …: where the push worker sends; `None` turns the
    /// worker off (pushes wait in the outbox).
    pub fcm: Option<FcmSettings>,
    /// `PUSH_POLL_MS`, `PUSH_MAX_ATTEMPTS`: the outbox workers (push and Apple grant
    /// revocations).
    pub workers: WorkerSettings,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            shared: Settings::default(),
            anon_signins_per_ip_per_hour: 30,
            id_token_signins_per_ip_per_hour: 60,
            service_writes_per_mitra_per_hour: 120,
            otp: OtpSettings::default(),
            google: OidcSettings { client_ids: Vec::new(), jwks_url: GOOGLE_JWKS_URL.into() },
            apple: OidcSettings { client_ids: Vec::new(), jwks_url: APPLE_JWKS_URL.into() },
            apple_grants: None,
            ws_heartbeat: std::time::Duration::from_secs(30),
            ws_caps: crate::realtime::hub::Caps::default(),
            fcm: None,
            workers: WorkerSettings::default(),
        }
    }
}

/// The control center's tunables, with the shared part.
#[derive(Debug, Clone)]
pub struct ControlCenterSettings {
    pub shared: Settings,
    /// bcrypt cost for staff passwords (`PASSWORD_BCRYPT_COST`).
    pub password_bcrypt_cost: u32,
    /// `LOGIN_FAILURES_PER_EMAIL`, per 15 minutes.
    pub login_failures_per_email: u32,
    /// `LOGIN_FAILURES_PER_IP`, per 15 minutes.
    pub login_failures_per_ip: u32,
    /// `COOKIE_SECURE`: false only for plain-HTTP local development.
    pub cookie_secure: bool,
    /// `CC_ALLOWED_ORIGINS`: origins of the control-center SPA (CORS with credentials).
    pub cc_allowed_origins: Vec<String>,
}

impl Default for ControlCenterSettings {
    fn default() -> Self {
        Self {
            shared: Settings::default(),
            password_bcrypt_cost: 12,
            login_failures_per_email: 5,
            login_failures_per_ip: 20,
            cookie_secure: true,
            cc_allowed_origins: Vec::new(),
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
