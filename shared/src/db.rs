//! The Postgres pool and the schema's migrations (`migrations/`, embedded at build time).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::{ConfigError, DatabaseSettings};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A pool that connects on first use, so start-up never waits for the database.
pub fn lazy_pool(settings: &DatabaseSettings) -> Result<PgPool, ConfigError> {
    let options = connect_options(settings.url.expose_secret())?.application_name("halo-bestie");
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_lazy_with(options))
}

/// Parses a libpq-style Postgres URL, including the unix-socket forms sqlx's own parser
/// refuses. libpq (and the Cloud SQL docs) write a socket as an empty host plus
/// `?host=/dir` (`postgres://u:p@/db?host=/cloudsql/P:R:I`); the `url` crate rejects a
/// user-info followed by an empty host ("empty host"), so an empty host is filled with
/// `localhost` before parsing and the `host` parameter then replaces it with the socket.
/// `postgres:///db?host=/dir` and a percent-encoded socket directory as the host
/// (`postgres://u@%2Fvar%2Frun%2Fpostgresql/db`) go through the same path.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, ConfigError> {
    PgConnectOptions::from_str(&with_placeholder_host(url)).map_err(|e| ConfigError::BadDatabaseUrl(e.to_string()))
}

/// `url` with `localhost` written into an empty host; any other URL unchanged.
fn with_placeholder_host(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return url.into();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host_start = rest[..authority_len].rfind('@').map_or(0, |at| at + 1);
    let host_and_port = &rest[host_start..authority_len];
    if !host_and_port.is_empty() && !host_and_port.starts_with(':') {
        return url.into();
    }
    let at = authority_start + host_start;
    format!("{}localhost{}", &url[..at], &url[at..]).into()
}

/// Applies every pending migration; applied ones are skipped, so running it twice is fine.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying migrations")?;
    Ok(())
}

/// Whether the database answers a trivial query within `within`.
pub async fn is_ready(pool: &PgPool, within: Duration) -> bool {
    let probe = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
    matches!(tokio::time::timeout(within, probe).await, Ok(Ok(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket_of(url: &str) -> Option<String> {
        let options = connect_options(url).expect("parses");
        options.get_socket().map(|p| p.display().to_string())
    }

    #[test]
    fn an_empty_host_with_a_host_parameter_is_the_unix_socket_directory() {
        let options =
            connect_options("postgres://halo:pa%40ss@/halo?host=/cloudsql/proj:asia-southeast2:db").expect("parses");
        assert_eq!(
            options.get_socket().map(|p| p.display().to_string()).as_deref(),
            Some("/cloudsql/proj:asia-southeast2:db")
        );
        assert_eq!(options.get_username(), "halo");
        assert_eq!(options.get_database(), Some("halo"));
    }

    #[test]
    fn every_libpq_socket_form_names_the_socket_directory() {
        assert_eq!(socket_of("postgres:///halo?host=/var/run/postgresql").as_deref(), Some("/var/run/postgresql"));
        assert_eq!(socket_of("postgresql://u@/halo?host=%2Ftmp").as_deref(), Some("/tmp"));
        assert_eq!(socket_of("postgres://u@%2Fvar%2Frun%2Fpostgresql/halo").as_deref(), Some("/var/run/postgresql"));
        assert_eq!(socket_of("postgres://u@:5433/halo?host=/tmp").as_deref(), Some("/tmp"));
    }

    #[test]
    fn ordinary_urls_are_not_rewritten() {
        let url = "postgres://u:p@db.internal:5432/halo?sslmode=require";
        assert_eq!(with_placeholder_host(url), url);
        assert_eq!(connect_options(url).expect("parses").get_host(), "db.internal");
        assert!(connect_options("not a url").is_err());
    }
}
