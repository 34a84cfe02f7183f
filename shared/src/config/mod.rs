//! Configuration: command-line flags that are also environment variables (clap), checked
//! once at start-up into typed settings. Secrets are wrapped so they never print.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub mod stubs;

use crate::db::{BadDatabaseUrl, DatabaseSettings};
use crate::http::EdgeConfig;
use crate::providers::apple::{AppleSettings, APPLE_REVOKE_URL, APPLE_TOKEN_URL};
use crate::providers::oidc::{OidcSettings, APPLE_JWKS_URL, GOOGLE_JWKS_URL};
use crate::providers::payments::{PaymentProvider, PaymentSettings, XENDIT_BASE_URL};
use crate::providers::sms::ProviderConfig;
use crate::push::fcm::{Credentials, FcmSettings};
use crate::push::WorkerSettings;
use crate::state::OtpSettings;
use crate::state::{BookingSettings, ChatSettings, MoneySettings, Settings};

/// Why the process refuses to start. Each message names the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("DATABASE_URL is not set: give the Postgres URL, e.g. postgres://user:pass@127.0.0.1:5432/halo")]
    MissingDatabaseUrl,
    #[error(transparent)]
    BadDatabaseUrl(#[from] BadDatabaseUrl),
    #[error("AUTH_JWT_SECRET is not set: give at least 32 random bytes, e.g. `openssl rand -base64 48`")]
    MissingJwtSecret,
    #[error("AUTH_JWT_SECRET is too short ({0} bytes): it must be at least 32 bytes, e.g. `openssl rand -base64 48`")]
    WeakJwtSecret(usize),
    #[error("AUTH_JWT_PREVIOUS_SECRETS entry {position} is too short ({len} bytes): each earlier secret must be at least 32 bytes, entries separated by commas only")]
    WeakPreviousJwtSecret { position: usize, len: usize },
    #[error("OTP_HTTP_URL is not set: OTP_PROVIDER=http needs the SMS gateway's URL")]
    MissingOtpUrl,
    #[error("APPLE_TEAM_ID, APPLE_KEY_ID and APPLE_PRIVATE_KEY go together: set all three (to revoke Apple grants on account deletion) or none")]
    PartialAppleCredentials,
    #[error("APPLE_PRIVATE_KEY is not usable: {0}")]
    BadApplePrivateKey(String),
    #[error("PAYMENT_PROVIDER=xendit needs XENDIT_SECRET_KEY (the API key) and XENDIT_CALLBACK_TOKEN (the dashboard's callback verification token)")]
    MissingXenditCredentials,
    #[error("{0} on Cloud Run (K_SERVICE or CLOUD_RUN_JOB is set): stubs are for local development; configure the real provider, or for a throwaway staging project only set ALLOW_STUB_PROVIDERS_IN_PRODUCTION=true")]
    StubInProduction(&'static str),
    #[error("reconcile-payments would use the payment stub, which moves no money and would mark refunds done: set XENDIT_SECRET_KEY and XENDIT_CALLBACK_TOKEN, or PAYMENT_PROVIDER=stub explicitly for a local database")]
    ImplicitStubReconcile,
}

// Each default is written once, in the settings' `Default` impl (which the tests use);
// the flags below read it from there. Only what nothing else needs lives here.
const DB_MAX_CONNECTIONS: u32 = 10;
const DB_ACQUIRE_TIMEOUT_SECONDS: u64 = 5;

/// Secrets are wrapped the moment they are parsed, so no `Debug` of the arguments (or of
/// anything built from them) can print one: `SecretString` prints `[REDACTED]`.
fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value.to_owned()))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Where the database is.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Postgres URL; a unix-socket host such as `?host=/cloudsql/PROJECT:REGION:INSTANCE` works.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = secret)]
    pub database_url: Option<SecretString>,
    /// Most connections this instance opens.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = DB_MAX_CONNECTIONS)]
    pub db_max_connections: u32,
    /// Longest a request waits for a free connection before failing.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECONDS", default_value_t = DB_ACQUIRE_TIMEOUT_SECONDS)]
    pub db_acquire_timeout_seconds: u64,
}

impl DatabaseArgs {
    pub fn settings(&self) -> Result<DatabaseSettings, ConfigError> {
        let url = self.database_url.clone().filter(|u| !u.expose_secret().trim().is_empty());
        Ok(DatabaseSettings {
            url: url.ok_or(ConfigError::MissingDatabaseUrl)?,
            max_connections: self.db_max_connections.max(1),
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout_seconds.max(1)),
        })
    }
}

/// Options every `serve` has, whichever service it is.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// HS256 key that signs access tokens (and, derived from it, new refresh-token
    /// secrets); ≥ 32 bytes.
    #[arg(long, env = "AUTH_JWT_SECRET", hide_env_values = true, value_parser = secret)]
    pub auth_jwt_secret: Option<SecretString>,
    /// Earlier values of AUTH_JWT_SECRET, comma-separated, each ≥ 32 bytes: they verify
    /// tokens but never sign (key rotation).
    #[arg(long, env = "AUTH_JWT_PREVIOUS_SECRETS", hide_env_values = true, value_parser = secret)]
    pub auth_jwt_previous_secrets: Option<SecretString>,
    /// Listen address (the service's default when unset).
    #[arg(long, env = "HOST")]
    pub host: Option<IpAddr>,
    /// Listen port (the service's default when unset).
    #[arg(long, env = "PORT")]
    pub port: Option<u16>,
    /// Apply pending migrations before serving.
    #[arg(long, env = "RUN_MIGRATIONS", default_value_t = false, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub run_migrations: bool,
    /// bcrypt cost for refresh-token hashes.
    #[arg(long, env = "REFRESH_TOKEN_BCRYPT_COST", default_value_t = Settings::default().refresh_token_bcrypt_cost,
          value_parser = clap::value_parser!(u32).range(4..=31))]
    pub refresh_token_bcrypt_cost: u32,
    /// Refreshes of one session per minute that may reach bcrypt (0: no limit). A real
    /// app refreshes about once an hour; a burst of parallel retries stays far below.
    #[arg(long, env = "REFRESH_PER_SESSION_PER_MINUTE", default_value_t = Settings::default().refresh_per_session_per_minute)]
    pub refresh_per_session_per_minute: u32,
    /// Refresh requests per client IP per minute (0: no limit). Room for thousands of
    /// devices behind one carrier NAT, each refreshing hourly.
    #[arg(long, env = "REFRESH_PER_IP_PER_MINUTE", default_value_t = Settings::default().refresh_per_ip_per_minute)]
    pub refresh_per_ip_per_minute: u32,
    /// Longest a request may run before it is answered 504.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value_t = EdgeConfig::default().request_timeout.as_secs())]
    pub request_timeout_seconds: u64,
    /// How many proxies in front of the service append to X-Forwarded-For (Cloud Run: 1;
    /// 0 trusts only the socket address).
    #[arg(long, env = "TRUSTED_PROXY_HOPS", default_value_t = EdgeConfig::default().trusted_proxy_hops)]
    pub trusted_proxy_hops: usize,
    /// Lets stub providers (`OTP_PROVIDER=stub`, …) run on Cloud Run. Never in production.
    #[arg(long, env = "ALLOW_STUB_PROVIDERS_IN_PRODUCTION", default_value_t = false, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_stub_providers_in_production: bool,
    /// Google Cloud project id, used to link log lines to traces.
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT")]
    pub google_cloud_project: Option<String>,
    /// Per-IP limits count IPv6 clients by this prefix length (one subscriber holds a /64).
    #[arg(long, env = "IPV6_RATE_LIMIT_PREFIX", default_value_t = EdgeConfig::default().ipv6_rate_limit_prefix,
          value_parser = clap::value_parser!(u8).range(1..=128))]
    pub ipv6_rate_limit_prefix: u8,
    /// While the database cannot be reached at all, authenticated requests trust the
    /// revoked sessions as last synced for this many seconds after the last sync, then
    /// fail closed (503). 0: fail closed at once.
    #[arg(long, env = "REVOCATION_STALE_TRUST_SECONDS",
          default_value_t = Settings::default().revocation_stale_trust.as_secs())]
    pub revocation_stale_trust_seconds: u64,
    #[command(flatten)]
    pub money: MoneyArgs,
    #[command(flatten)]
    pub booking: BookingArgs,
    #[command(flatten)]
    pub chat: ChatArgs,
}

/// The booking rules (contract §13).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct BookingArgs {
    /// Slots start on this grid of minutes from local midnight (must divide 1440).
    #[arg(long, env = "SLOT_STEP_MINUTES", default_value_t = BookingSettings::default().slot_step_minutes,
          value_parser = slot_step)]
    pub slot_step_minutes: u32,
    /// The earliest bookable start, in minutes from now.
    #[arg(long, env = "BOOKING_LEAD_MINUTES", default_value_t = BookingSettings::default().lead_minutes)]
    pub booking_lead_minutes: u32,
    /// The latest bookable local date, in days from today (Asia/Jakarta).
    #[arg(long, env = "BOOKING_HORIZON_DAYS", default_value_t = BookingSettings::default().horizon_days,
          value_parser = clap::value_parser!(u32).range(0..=366))]
    pub booking_horizon_days: u32,
    /// A paid order not accepted this many seconds after payment (or by its start) is
    /// declined and refunded.
    #[arg(long, env = "ACCEPT_TIMEOUT_SECONDS", default_value_t = BookingSettings::default().accept_timeout_secs)]
    pub accept_timeout_seconds: u32,
    /// Seconds between this instance's runs of the timed moves (0: never in this instance).
    #[arg(long, env = "SWEEP_INTERVAL_SECONDS", default_value_t = BookingSettings::default().sweep_interval_secs)]
    pub sweep_interval_seconds: u32,
    /// Cancelling is free until this many hours before the start (snapshotted per order).
    #[arg(long, env = "CANCEL_FREE_HOURS", default_value_t = BookingSettings::default().cancel_free_hours)]
    pub cancel_free_hours: u32,
    /// Once accepted, cancelling stays free at least this many minutes after acceptance.
    #[arg(long, env = "CANCEL_GRACE_MINUTES", default_value_t = BookingSettings::default().cancel_grace_minutes)]
    pub cancel_grace_minutes: u32,
    /// The percentage of the amount a late cancellation refunds (the rest is the mitra's).
    #[arg(long, env = "LATE_CANCEL_REFUND_PERCENT", default_value_t = BookingSettings::default().late_cancel_refund_percent,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub late_cancel_refund_percent: u32,
    /// Minutes before the start when both parties get a reminder push.
    #[arg(long, env = "REMINDER_MINUTES", default_value_t = BookingSettings::default().reminder_minutes)]
    pub reminder_minutes: u32,
}

fn slot_step(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(step) if step > 0 && 1440 % step == 0 => Ok(step),
        _ => Err("must be a number of minutes that divides 1440 (e.g. 15, 30, 60)".into()),
    }
}

impl BookingArgs {
    pub fn settings(&self) -> BookingSettings {
        BookingSettings {
            slot_step_minutes: self.slot_step_minutes,
            lead_minutes: self.booking_lead_minutes,
            horizon_days: self.booking_horizon_days,
            accept_timeout_secs: self.accept_timeout_seconds,
            sweep_interval_secs: self.sweep_interval_seconds,
            cancel_free_hours: self.cancel_free_hours,
            cancel_grace_minutes: self.cancel_grace_minutes,
            late_cancel_refund_percent: self.late_cancel_refund_percent,
            reminder_minutes: self.reminder_minutes,
        }
    }
}

/// The conversation and review rules (contract §14).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ChatArgs {
    /// Days after an order ended during which its conversation still takes messages.
    #[arg(long, env = "CHAT_OPEN_DAYS_AFTER_END", default_value_t = ChatSettings::default().open_days_after_end)]
    pub chat_open_days_after_end: u32,
    /// Messages one sender may post per minute (0: no limit); one more is 429.
    #[arg(long, env = "CHAT_MESSAGES_PER_MINUTE", default_value_t = ChatSettings::default().messages_per_minute)]
    pub chat_messages_per_minute: u32,
    /// Days after completion during which each side of an order may review it.
    #[arg(long, env = "REVIEW_WINDOW_DAYS", default_value_t = ChatSettings::default().review_window_days)]
    pub review_window_days: u32,
}

impl ChatArgs {
    pub fn settings(&self) -> ChatSettings {
        ChatSettings {
            open_days_after_end: self.chat_open_days_after_end,
            messages_per_minute: self.chat_messages_per_minute,
            review_window_days: self.review_window_days,
        }
    }
}

/// The money rules (contract §11).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct MoneyArgs {
    /// The platform's commission in basis points (2000 = 20 %), snapshotted on each new order.
    #[arg(long, env = "PLATFORM_COMMISSION_BPS", default_value_t = MoneySettings::default().commission_bps,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub platform_commission_bps: u32,
    /// Hours a completed order's earnings stay pending (the customer may dispute) before
    /// they become available.
    #[arg(long, env = "EARNINGS_HOLD_HOURS", default_value_t = MoneySettings::default().earnings_hold_hours)]
    pub earnings_hold_hours: u32,
    /// Unpaid orders one customer may hold; one more is 409 conflict.
    #[arg(long, env = "MAX_PENDING_ORDERS_PER_CUSTOMER",
          default_value_t = MoneySettings::default().max_pending_orders_per_customer,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending_orders_per_customer: u32,
    /// The smallest available balance (whole rupiah) that run-payouts pays out.
    #[arg(long, env = "PAYOUT_MINIMUM", default_value_t = MoneySettings::default().payout_minimum,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub payout_minimum: i64,
    /// Hours after a payout account is set or changed during which nothing is paid to it.
    #[arg(long, env = "PAYOUT_ACCOUNT_COOLDOWN_HOURS",
          default_value_t = MoneySettings::default().payout_account_cooldown_hours)]
    pub payout_account_cooldown_hours: u32,
}

impl MoneyArgs {
    pub fn settings(&self) -> MoneySettings {
        MoneySettings {
            commission_bps: self.platform_commission_bps,
            earnings_hold_hours: self.earnings_hold_hours,
            max_pending_orders_per_customer: self.max_pending_orders_per_customer,
            payout_minimum: self.payout_minimum,
            payout_account_cooldown_hours: self.payout_account_cooldown_hours,
        }
    }
}

impl CommonServeArgs {
    pub fn jwt_secret(&self) -> Result<SecretString, ConfigError> {
        let secret = self.auth_jwt_secret.clone().ok_or(ConfigError::MissingJwtSecret)?;
        match secret.expose_secret().len() {
            len if len < 32 => Err(ConfigError::WeakJwtSecret(len)),
            _ => Ok(secret),
        }
    }

    /// The earlier secrets, in order; empty entries (a trailing comma) are skipped.
    pub fn jwt_previous_secrets(&self) -> Result<Vec<SecretString>, ConfigError> {
        let list = self.auth_jwt_previous_secrets.as_ref().map(ExposeSecret::expose_secret).unwrap_or_default();
        let entries = list.split(',').filter(|s| !s.is_empty()).enumerate();
        entries
            .map(|(at, secret)| match secret.len() {
                len if len < 32 => Err(ConfigError::WeakPreviousJwtSecret { position: at + 1, len }),
                _ => Ok(SecretString::from(secret.to_owned())),
            })
            .collect()
    }

    /// The settings both services share, with the payment provider's (parsed by the
    /// service, which owns its payment flags).
    pub fn shared_settings(&self, payments: PaymentSettings) -> Settings {
        Settings {
            refresh_token_bcrypt_cost: self.refresh_token_bcrypt_cost,
            refresh_per_session_per_minute: self.refresh_per_session_per_minute,
            refresh_per_ip_per_minute: self.refresh_per_ip_per_minute,
            payments,
            money: self.money.settings(),
            revocation_stale_trust: std::time::Duration::from_secs(self.revocation_stale_trust_seconds),
            booking: self.booking.settings(),
            chat: self.chat.settings(),
        }
    }

    pub fn listen(&self, default: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.host.unwrap_or(default.ip()), self.port.unwrap_or(default.port()))
    }

    pub fn edge(&self) -> EdgeConfig {
        EdgeConfig {
            request_timeout: Duration::from_secs(self.request_timeout_seconds.max(1)),
            trusted_proxy_hops: self.trusted_proxy_hops,
            gcp_project: self.google_cloud_project.clone().filter(|p| !p.is_empty()),
            ipv6_rate_limit_prefix: self.ipv6_rate_limit_prefix,
            ..EdgeConfig::default()
        }
    }
}

/// Which OTP provider sends the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OtpProviderKind {
    /// Log the code (`[OTP STUB] phone=… code=…`); never in production.
    Stub,
    /// POST to a JSON SMS gateway at `OTP_HTTP_URL`.
    Http,
}

/// Phone sign-in options (public gateway).
#[derive(Debug, Clone, clap::Args)]
pub struct OtpArgs {
    /// `stub` logs codes instead of sending them.
    #[arg(long, env = "OTP_PROVIDER", value_enum, default_value = "stub")]
    pub otp_provider: OtpProviderKind,
    /// With `OTP_PROVIDER=http`: the gateway's URL.
    #[arg(long, env = "OTP_HTTP_URL")]
    pub otp_http_url: Option<String>,
    /// With `OTP_PROVIDER=http`: bearer token for the gateway.
    #[arg(long, env = "OTP_HTTP_TOKEN", hide_env_values = true, value_parser = secret)]
    pub otp_http_token: Option<SecretString>,
    /// Seconds a code stays valid.
    #[arg(long, env = "OTP_TTL_SECONDS", default_value_t = OtpSettings::default().ttl_secs)]
    pub otp_ttl_seconds: u32,
    /// Seconds before another code may be sent to the same number.
    #[arg(long, env = "OTP_RESEND_SECONDS", default_value_t = OtpSettings::default().resend_secs)]
    pub otp_resend_seconds: u32,
    /// Wrong tries per code before it is dead.
    #[arg(long, env = "OTP_MAX_ATTEMPTS", default_value_t = OtpSettings::default().max_attempts)]
    pub otp_max_attempts: u32,
    #[arg(long, env = "OTP_SENDS_PER_PHONE_PER_HOUR", default_value_t = OtpSettings::default().sends_per_phone_per_hour)]
    pub otp_sends_per_phone_per_hour: u32,
    #[arg(long, env = "OTP_SENDS_PER_PHONE_PER_DAY", default_value_t = OtpSettings::default().sends_per_phone_per_day)]
    pub otp_sends_per_phone_per_day: u32,
    #[arg(long, env = "OTP_SENDS_PER_IP_PER_HOUR", default_value_t = OtpSettings::default().sends_per_ip_per_hour)]
    pub otp_sends_per_ip_per_hour: u32,
    /// Comma-separated ISO country codes whose numbers get codes (empty: any country).
    #[arg(long, env = "OTP_ALLOWED_COUNTRIES", value_delimiter = ',', default_values_t = OtpSettings::default().allowed_countries)]
    pub otp_allowed_countries: Vec<String>,
}

impl OtpArgs {
    pub fn settings(&self) -> Result<OtpSettings, ConfigError> {
        let provider = match self.otp_provider {
            OtpProviderKind::Stub => ProviderConfig::Stub,
            OtpProviderKind::Http => ProviderConfig::Http {
                url: self.otp_http_url.clone().filter(|u| !u.is_empty()).ok_or(ConfigError::MissingOtpUrl)?,
                token: self.otp_http_token.clone(),
            },
        };
        Ok(OtpSettings {
            ttl_secs: self.otp_ttl_seconds.max(1),
            resend_secs: self.otp_resend_seconds,
            max_attempts: self.otp_max_attempts.max(1),
            sends_per_phone_per_hour: self.otp_sends_per_phone_per_hour,
            sends_per_phone_per_day: self.otp_sends_per_phone_per_day,
            sends_per_ip_per_hour: self.otp_sends_per_ip_per_hour,
            provider,
            allowed_countries: non_empty(&self.otp_allowed_countries),
        })
    }
}

/// Google and Apple sign-in (public gateway). With no client ids a provider answers 503
/// `provider_not_configured`.
#[derive(Debug, Clone, clap::Args)]
pub struct OidcArgs {
    /// Comma-separated OAuth client ids accepted as `aud` of Google ID tokens.
    #[arg(long, env = "GOOGLE_CLIENT_IDS", value_delimiter = ',', default_value = "")]
    pub google_client_ids: Vec<String>,
    #[arg(long, env = "GOOGLE_JWKS_URL", default_value = GOOGLE_JWKS_URL)]
    pub google_jwks_url: String,
    /// Comma-separated Services/App ids accepted as `aud` of Apple ID tokens.
    #[arg(long, env = "APPLE_CLIENT_IDS", value_delimiter = ',', default_value = "")]
    pub apple_client_ids: Vec<String>,
    #[arg(long, env = "APPLE_JWKS_URL", default_value = APPLE_JWKS_URL)]
    pub apple_jwks_url: String,
    /// Apple developer team id; with APPLE_KEY_ID and APPLE_PRIVATE_KEY, lets account
    /// deletion revoke the customer's Sign in with Apple grant.
    #[arg(long, env = "APPLE_TEAM_ID")]
    pub apple_team_id: Option<String>,
    /// Id of the Sign in with Apple key (the .p8 file's key id).
    #[arg(long, env = "APPLE_KEY_ID")]
    pub apple_key_id: Option<String>,
    /// The .p8 key's contents (PKCS#8 PEM; `\n` escapes are accepted).
    #[arg(long, env = "APPLE_PRIVATE_KEY", hide_env_values = true, value_parser = secret)]
    pub apple_private_key: Option<SecretString>,
    #[arg(long, env = "APPLE_TOKEN_URL", default_value = APPLE_TOKEN_URL)]
    pub apple_token_url: String,
    #[arg(long, env = "APPLE_REVOKE_URL", default_value = APPLE_REVOKE_URL)]
    pub apple_revoke_url: String,
}

impl OidcArgs {
    pub fn google(&self) -> OidcSettings {
        OidcSettings { client_ids: non_empty(&self.google_client_ids), jwks_url: self.google_jwks_url.clone() }
    }

    pub fn apple(&self) -> OidcSettings {
        OidcSettings { client_ids: non_empty(&self.apple_client_ids), jwks_url: self.apple_jwks_url.clone() }
    }

    /// The Apple team credentials, when all three are set; the key is checked now so a
    /// bad one stops the start, not the first deletion.
    pub fn apple_grants(&self) -> Result<Option<AppleSettings>, ConfigError> {
        let set = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let private_key = self.apple_private_key.clone().filter(|v| !v.expose_secret().trim().is_empty());
        match (set(&self.apple_team_id), set(&self.apple_key_id), private_key) {
            (None, None, None) => Ok(None),
            (Some(team_id), Some(key_id), Some(private_key)) => {
                let pem = private_key.expose_secret().replace("\\n", "\n");
                jsonwebtoken::EncodingKey::from_ec_pem(pem.trim().as_bytes())
                    .map_err(|e| ConfigError::BadApplePrivateKey(e.to_string()))?;
                Ok(Some(AppleSettings {
                    team_id,
                    key_id,
                    private_key,
                    token_url: self.apple_token_url.clone(),
                    revoke_url: self.apple_revoke_url.clone(),
                }))
            }
            _ => Err(ConfigError::PartialAppleCredentials),
        }
    }
}

/// The trimmed, non-empty entries of a comma-separated list.
pub fn non_empty(items: &[String]) -> Vec<String> {
    items.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

/// Push notifications through FCM (public gateway, which runs the outbox worker).
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// Firebase project id; unset turns the push worker off (pushes wait in the outbox).
    #[arg(long, env = "FCM_PROJECT_ID")]
    pub fcm_project_id: Option<String>,
    #[arg(long, env = "FCM_BASE_URL", default_value = "https://fcm.googleapis.com")]
    pub fcm_base_url: String,
    /// Where OAuth tokens come from on Cloud Run.
    #[arg(long, env = "GCP_METADATA_URL", default_value = "http://metadata.google.internal")]
    pub gcp_metadata_url: String,
    /// A service-account key file, for local runs; used instead of the metadata server.
    #[arg(long, env = "GOOGLE_APPLICATION_CREDENTIALS")]
    pub google_application_credentials: Option<String>,
    /// How often an idle push worker looks for due messages.
    #[arg(long, env = "PUSH_POLL_MS", default_value_t = millis(WorkerSettings::default().poll))]
    pub push_poll_ms: u64,
    /// Tries before a push is marked failed.
    #[arg(long, env = "PUSH_MAX_ATTEMPTS", default_value_t = WorkerSettings::default().max_attempts)]
    pub push_max_attempts: i32,
}

impl PushArgs {
    /// The FCM settings, or `None` when push is off.
    pub fn fcm(&self) -> Option<FcmSettings> {
        let project_id = self.fcm_project_id.clone().filter(|p| !p.trim().is_empty())?;
        let credentials = match self.google_application_credentials.clone().filter(|p| !p.is_empty()) {
            Some(path) => Credentials::KeyFile { path },
            None => Credentials::Metadata { base_url: self.gcp_metadata_url.trim_end_matches('/').to_owned() },
        };
        Some(FcmSettings { project_id, base_url: self.fcm_base_url.trim_end_matches('/').to_owned(), credentials })
    }

    pub fn worker(&self) -> WorkerSettings {
        WorkerSettings {
            poll: std::time::Duration::from_millis(self.push_poll_ms.max(10)),
            max_attempts: self.push_max_attempts.max(1),
            ..WorkerSettings::default()
        }
    }
}

/// Which payment provider takes the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PaymentProviderKind {
    Xendit,
    /// Local development only: invoices are made locally and paid by a documented request.
    Stub,
}

/// Payments (public gateway): Xendit invoices, callbacks and refunds.
#[derive(Debug, Clone, clap::Args)]
pub struct PaymentArgs {
    /// `xendit`, or `stub` for local development; default: xendit when XENDIT_SECRET_KEY
    /// is set, else stub.
    #[arg(long, env = "PAYMENT_PROVIDER", value_enum)]
    pub payment_provider: Option<PaymentProviderKind>,
    /// Xendit secret API key (basic-auth user).
    #[arg(long, env = "XENDIT_SECRET_KEY", hide_env_values = true, value_parser = secret)]
    pub xendit_secret_key: Option<SecretString>,
    /// The callback verification token from Xendit's dashboard.
    #[arg(long, env = "XENDIT_CALLBACK_TOKEN", hide_env_values = true, value_parser = secret)]
    pub xendit_callback_token: Option<SecretString>,
    #[arg(long, env = "XENDIT_BASE_URL", default_value = XENDIT_BASE_URL)]
    pub xendit_base_url: String,
    /// Seconds a customer has to pay an order's invoice.
    #[arg(long, env = "INVOICE_DURATION_SECONDS", default_value_t = PaymentSettings::default().invoice_duration_secs,
          value_parser = clap::value_parser!(u32).range(60..=31_536_000))]
    pub invoice_duration_seconds: u32,
}

impl PaymentArgs {
    /// For `reconcile-payments`: the stub only when `PAYMENT_PROVIDER=stub` is set
    /// explicitly (never by default for want of a key), and never on Cloud Run.
    pub fn reconcile_settings(&self) -> Result<PaymentSettings, ConfigError> {
        let settings = self.settings(&crate::config::stubs::StubPolicy::from_env(false))?;
        if matches!(settings.provider, PaymentProvider::Stub)
            && self.payment_provider != Some(PaymentProviderKind::Stub)
        {
            return Err(ConfigError::ImplicitStubReconcile);
        }
        Ok(settings)
    }

    /// The payment settings; the stub only where `stubs` allows it (never on Cloud Run
    /// without the opt-in).
    pub fn settings(&self, stubs: &crate::config::stubs::StubPolicy) -> Result<PaymentSettings, ConfigError> {
        let set = |v: &Option<SecretString>| v.clone().filter(|v| !v.expose_secret().trim().is_empty());
        let key = set(&self.xendit_secret_key);
        let callback_token = set(&self.xendit_callback_token);
        let kind = self.payment_provider.unwrap_or(if key.is_some() {
            PaymentProviderKind::Xendit
        } else {
            PaymentProviderKind::Stub
        });
        let provider = match kind {
            PaymentProviderKind::Xendit => match (key, &callback_token) {
                (Some(secret_key), Some(_)) => {
                    PaymentProvider::Xendit { secret_key, base_url: self.xendit_base_url.clone() }
                }
                _ => return Err(ConfigError::MissingXenditCredentials),
            },
            PaymentProviderKind::Stub => {
                stubs.allow("PAYMENT_PROVIDER=stub")?;
                PaymentProvider::Stub
            }
        };
        Ok(PaymentSettings { provider, callback_token, invoice_duration_secs: self.invoice_duration_seconds })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::state::GatewaySettings;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        common: CommonServeArgs,
        #[command(flatten)]
        otp: OtpArgs,
        #[command(flatten)]
        oidc: OidcArgs,
        #[command(flatten)]
        payments: PaymentArgs,
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let secrets = [
            ("--database-url", "postgres://halo:db-password-1@127.0.0.1/halo"),
            ("--auth-jwt-secret", "jwt-secret-jwt-secret-jwt-secret-0001"),
            ("--auth-jwt-previous-secrets", "jwt-previous-jwt-previous-jwt-previous-2"),
            ("--otp-http-token", "otp-gateway-token-3"),
            ("--apple-private-key", "apple-private-key-4"),
            ("--xendit-secret-key", "xendit-secret-key-5"),
            ("--xendit-callback-token", "xendit-callback-token-6"),
        ];
        let args = secrets.iter().flat_map(|(flag, value)| [*flag, *value]);
        let flags = Flags::try_parse_from(std::iter::once("serve").chain(args)).expect("the flags parse");
        let printed = format!("{flags:?}");
        for (flag, value) in secrets {
            assert!(!printed.contains(value), "{flag}'s value is in the Debug output: {printed}");
        }
        assert_eq!(flags.common.jwt_secret().expect("long enough").expose_secret(), secrets[1].1, "still usable");
    }

    #[test]
    fn the_flags_default_to_the_settings_the_tests_use() {
        // Read from the command's definition, so no environment variable can interfere.
        let command = <Flags as clap::CommandFactory>::command();
        let default = |id: &str| {
            let arg = command.get_arguments().find(|a| a.get_id() == id).expect("a flag");
            arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>().join(",")
        };
        let (defaults, edge) = (Settings::default(), EdgeConfig::default());
        assert_eq!(default("refresh_token_bcrypt_cost"), defaults.refresh_token_bcrypt_cost.to_string());
        assert_eq!(default("request_timeout_seconds"), edge.request_timeout.as_secs().to_string());
        assert_eq!(default("otp_ttl_seconds"), GatewaySettings::default().otp.ttl_secs.to_string());
        assert_eq!(default("otp_allowed_countries"), GatewaySettings::default().otp.allowed_countries.join(","));
        assert_eq!(default("invoice_duration_seconds"), defaults.payments.invoice_duration_secs.to_string());
        assert_eq!(default("platform_commission_bps"), "2000", "contract §11");
        assert_eq!(default("earnings_hold_hours"), "72");
        assert_eq!(default("max_pending_orders_per_customer"), "5");
        assert_eq!(default("chat_open_days_after_end"), "7", "contract §14");
        assert_eq!(default("chat_messages_per_minute"), "30");
        assert_eq!(default("review_window_days"), "7");
    }
}
