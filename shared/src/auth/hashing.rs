//! bcrypt, always on the blocking pool: one hash costs tens of milliseconds of CPU and
//! must never stall a runtime thread.

use anyhow::Context;

pub async fn hash(secret: String, cost: u32) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || bcrypt::hash(secret.as_bytes(), cost))
        .await
        .context("bcrypt task")?
        .context("bcrypt hash")
}

/// Whether `secret` matches `hash`. A malformed hash counts as no match.
pub async fn verify(secret: String, hash: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || bcrypt::verify(secret.as_bytes(), &hash).unwrap_or(false))
        .await
        .context("bcrypt task")
}
