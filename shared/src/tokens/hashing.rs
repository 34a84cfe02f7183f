//! bcrypt, always on the blocking pool: one hash costs tens of milliseconds of CPU and
//! must never stall a runtime thread.
//!
//! Every run is counted on the calling task when a [`count_runs`] scope is active, so a
//! test can prove that a path (a dead refresh token, a throttled login) refuses before
//! any bcrypt, without relying on timings.

use std::cell::Cell;
use std::future::Future;

use anyhow::Context;

tokio::task_local! {
    static RUNS: Cell<u32>;
}

pub async fn hash(secret: String, cost: u32) -> anyhow::Result<String> {
    counted();
    tokio::task::spawn_blocking(move || bcrypt::hash(secret.as_bytes(), cost))
        .await
        .context("bcrypt task")?
        .context("bcrypt hash")
}

/// Whether `secret` matches `hash`. A malformed hash counts as no match.
pub async fn verify(secret: String, hash: String) -> anyhow::Result<bool> {
    counted();
    tokio::task::spawn_blocking(move || bcrypt::verify(secret.as_bytes(), &hash).unwrap_or(false))
        .await
        .context("bcrypt task")
}

/// Runs `work` and returns its output with the number of bcrypt hashes and checks it ran
/// on this task (an in-process request handled by a `TestClient` runs on it).
pub async fn count_runs<F: Future>(work: F) -> (F::Output, u32) {
    RUNS.scope(Cell::new(0), async {
        let out = work.await;
        (out, RUNS.with(Cell::get))
    })
    .await
}

fn counted() {
    let _ = RUNS.try_with(|runs| runs.set(runs.get() + 1));
}
