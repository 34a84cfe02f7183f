//! What both binaries' command lines share: `serve` as the default verb, `migrate`,
//! `revoke-sessions`, and the serve loop itself.

use std::ffi::OsString;
use std::net::SocketAddr;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::config::{CommonServeArgs, DatabaseArgs};
use crate::db;
use crate::http::shutdown_signal;
use crate::sessions::{self, RevokeReason, Scope};
use crate::startup::{Application, Startup};
use crate::state::ServiceSettings;
use crate::telemetry::LogFormat;
use crate::tokens::Keys;

/// A service's command line: the global `--log-format` and one of its verbs (`C`).
#[derive(Debug, Parser)]
pub struct Cli<C: Subcommand> {
    /// `json` (Cloud Logging) or `pretty`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json", global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: C,
}

impl<C: Subcommand> Cli<C> {
    /// Parses the process arguments for the binary `name` (`about` is its `--help` line;
    /// `version` its crate's), with `serve` as the verb when none is given. Exits with
    /// clap's message on bad arguments, as `Parser::parse` does.
    pub fn parse_for(name: &'static str, about: &'static str, version: &'static str) -> Self {
        let command = Self::command().name(name).bin_name(name).about(about).version(version);
        let verbs: Vec<String> = command.get_subcommands().map(|verb| verb.get_name().to_owned()).collect();
        let verbs: Vec<&str> = verbs.iter().map(String::as_str).collect();
        let mut matches = command.get_matches_from(args_with_default_verb(&verbs));
        Self::from_arg_matches_mut(&mut matches).unwrap_or_else(|err| err.exit())
    }
}

/// The process arguments, with `serve` inserted when no verb was given (`public-gateway`
/// alone, or followed only by serve's flags).
pub fn args_with_default_verb(verbs: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let first = args.get(1).and_then(|a| a.to_str()).map(str::to_owned);
    let needs_verb = match first.as_deref() {
        None => true,
        Some("-h" | "--help" | "-V" | "--version" | "help") => false,
        Some(arg) => !verbs.contains(&arg),
    };
    if needs_verb {
        args.insert(1.min(args.len()), "serve".into());
    }
    args
}

/// The process exit status for a verb's result; an error is printed on one line.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `migrate`: applies pending migrations to `DATABASE_URL`.
pub async fn migrate(args: &DatabaseArgs) -> anyhow::Result<()> {
    let pool = db::lazy_pool(&args.settings()?)?;
    db::migrate(&pool).await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// `revoke-sessions`: the emergency half of a key rotation.
#[derive(Debug, Clone, clap::Args)]
pub struct RevokeSessionsArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Every live session created before this RFC 3339 time ends (e.g. 2026-12-01T08:00:00Z).
    #[arg(long, value_parser = parse_rfc3339)]
    pub issued_before: DateTime<Utc>,
}

fn parse_rfc3339(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|err| format!("not an RFC 3339 time such as 2026-12-01T08:00:00Z ({err})"))
}

/// Ends every live session created before the given time and prints how many (only the
/// number, so scripts can read it; a Cloud Run job's log keeps the line). The
/// revocations go through the same trigger as a logout, so every instance refuses those
/// sessions' access tokens at once.
pub async fn revoke_sessions(args: &RevokeSessionsArgs) -> anyhow::Result<()> {
    let pool = db::lazy_pool(&args.database.settings()?)?;
    let scope = Scope::IssuedBefore(args.issued_before);
    let revoked = sessions::revoke(&pool, scope, RevokeReason::KeyRotation).await.context("revoking sessions")?;
    println!("{}", revoked.count);
    Ok(())
}

/// What one `purge` run deleted, per table, in the order it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged(pub Vec<(&'static str, u64)>);

impl std::fmt::Display for Purged {
    /// `table=count` pairs on one line, for the job's log and for scripts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<String> = self.0.iter().map(|(table, n)| format!("{table}={n}")).collect();
        f.write_str(&pairs.join(" "))
    }
}

/// Deletes what no one needs any more, each table by its owner and in batches of
/// `db::PURGE_BATCH` rows (each its own short transaction, so no hot table is locked for
/// long): OTP codes a day past expiry and sends past the daily cap's 24 hours, sessions
/// ended or expired more than 30 days ago (with their devices and tickets), events and
/// finished pushes older than 7 days, expired WebSocket tickets, ID-token records and
/// limiter counters. Money records (orders, callbacks, refunds, the ledger) and the
/// audit log are kept; README.md's retention table lists every table.
pub async fn purge_expired_data(pool: &sqlx::PgPool) -> anyhow::Result<Purged> {
    use crate::{auth, notifications, ratelimit, realtime};
    Ok(Purged(vec![
        ("otp_challenges", auth::otp::purge_expired(pool).await.context("purging OTP codes")?),
        ("otp_phone_sends", auth::otp::purge_sends(pool).await.context("purging OTP sends")?),
        ("auth_sessions", sessions::purge_ended(pool).await.context("purging sessions")?),
        ("user_events", realtime::purge_delivered(pool).await.context("purging events")?),
        ("push_outbox", notifications::purge_finished_pushes(pool).await.context("purging pushes")?),
        ("ws_tickets", auth::ticket::purge_expired(pool).await.context("purging tickets")?),
        ("id_token_uses", auth::replay::purge_expired(pool).await.context("purging ID-token records")?),
        ("rate_limits", ratelimit::purge_expired(pool).await.context("purging limiter counters")?),
    ]))
}

/// `purge`: [`purge_expired_data`] on `DATABASE_URL`; prints what it deleted per table.
pub async fn purge(args: &DatabaseArgs) -> anyhow::Result<()> {
    let pool = db::lazy_pool(&args.settings()?)?;
    let purged = purge_expired_data(&pool).await?;
    println!("{purged}");
    tracing::info!(purged = %purged, "expired data purged");
    Ok(())
}

/// `serve`'s first half: the database pool, the key ring (`AUTH_JWT_SECRET` and
/// `AUTH_JWT_PREVIOUS_SECRETS`, checked here) and the migrations when `RUN_MIGRATIONS`
/// asks for them; the service's builder does the rest.
pub async fn startup(
    service: &'static str,
    common: &CommonServeArgs,
    settings: impl Into<ServiceSettings>,
    default_listen: SocketAddr,
) -> anyhow::Result<Startup> {
    let db = db::lazy_pool(&common.database.settings()?)?;
    let secret = common.jwt_secret()?;
    let previous = common.jwt_previous_secrets()?;
    if common.run_migrations {
        db::migrate(&db).await?;
        tracing::info!("migrations applied (RUN_MIGRATIONS=true)");
    }
    let previous: Vec<&[u8]> = previous.iter().map(|s| s.expose_secret().as_bytes()).collect();
    let keys = Keys::with_previous(secret.expose_secret().as_bytes(), &previous);
    tracing::info!(kid = keys.current_kid(), verify_only = previous.len(), "access-token keys loaded");
    let settings = settings.into();
    Ok(Startup { service, db, keys, settings, edge: common.edge(), listen: common.listen(default_listen) })
}

/// `serve`'s second half: runs the built application until SIGTERM or SIGINT.
pub async fn serve(app: Application) -> anyhow::Result<()> {
    app.run_until_stopped(shutdown_signal()).await
}
