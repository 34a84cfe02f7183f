//! What both binaries' command lines share: `serve` as the default verb, `migrate`,
//! `revoke-sessions`, and the serve loop itself.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use poem::Endpoint;
use secrecy::ExposeSecret;

use crate::auth::sessions::{self, RevokeReason};
use crate::auth::tokens::Keys;
use crate::config::{CommonServeArgs, DatabaseArgs};
use crate::http::{shutdown_signal, EdgeConfig, Server};
use crate::state::{AppState, Settings};
use crate::{db, ratelimit, realtime};

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
    let revoked = sessions::revoke_issued_before(&pool, args.issued_before, RevokeReason::KeyRotation).await?;
    println!("{revoked}");
    Ok(())
}

/// `serve`: builds the state, binds, and serves `build(state, edge)` until SIGTERM/SIGINT.
pub async fn serve<E, F>(
    service: &'static str,
    common: &CommonServeArgs,
    settings: Settings,
    default_listen: SocketAddr,
    build: F,
) -> anyhow::Result<()>
where
    F: FnOnce(AppState, EdgeConfig) -> E,
    E: Endpoint + 'static,
{
    let pool = db::lazy_pool(&common.database.settings()?)?;
    let secret = common.jwt_secret()?;
    let previous = common.jwt_previous_secrets()?;
    if common.run_migrations {
        db::migrate(&pool).await?;
        tracing::info!("migrations applied (RUN_MIGRATIONS=true)");
    }
    let previous: Vec<&[u8]> = previous.iter().map(|s| s.expose_secret().as_bytes()).collect();
    let keys = Keys::with_previous(secret.expose_secret().as_bytes(), &previous);
    tracing::info!(kid = keys.current_kid(), verify_only = previous.len(), "access-token keys loaded");
    let state = AppState::with_keys(pool.clone(), keys, settings);
    let listener = realtime::listener::spawn(&state);
    let app = build(state.clone(), common.edge());
    let listen = common.listen(default_listen);
    let server = Server::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(service, addr = %server.addr(), "listening");

    let janitor = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(err) = ratelimit::purge_expired(&pool).await {
                tracing::warn!(error = %err, "purging expired rate-limit counters failed");
            }
            if let Err(err) = realtime::ticket::purge_expired(&pool).await {
                tracing::warn!(error = %err, "purging expired WebSocket tickets failed");
            }
            if let Err(err) = crate::oidc::replay::purge_expired(&pool).await {
                tracing::warn!(error = %err, "purging expired ID-token records failed");
            }
        }
    });
    let stop = async {
        shutdown_signal().await;
        // Sockets are not requests the server waits for: tell their apps to reconnect.
        state.realtime.hub.close_all(realtime::socket::CLOSE_GOING_AWAY, "going_away");
    };
    let served = server.run_until_stopped(app, stop).await;
    janitor.abort();
    listener.abort();
    served.context("serving")?;
    tracing::info!(service, "stopped");
    Ok(())
}
