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
    let options = PgConnectOptions::from_str(settings.url.expose_secret())
        .map_err(|e| ConfigError::BadDatabaseUrl(e.to_string()))?
        .application_name("halo-bestie");
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_lazy_with(options))
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
