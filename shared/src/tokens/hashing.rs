//! bcrypt, always on the blocking pool: one hash costs tens of milliseconds of CPU and
//! must never stall a runtime thread. At most one hash per core runs at once; the rest
//! wait as tasks, not as blocking threads, so a flood of sign-ins queues instead of
//! growing the blocking pool towards its 512 threads (and their stacks) for no more
//! throughput (review 3, the residual of audit-2 H1).
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

/// One permit per core this process may run on.
static CORES: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
});

/// Runs `work` on the blocking pool once a core is free.
async fn on_a_core<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let _permit = CORES.acquire().await.context("bcrypt semaphore")?;
    tokio::task::spawn_blocking(work).await.context("bcrypt task")
}

pub async fn hash(secret: String, cost: u32) -> anyhow::Result<String> {
    counted();
    on_a_core(move || bcrypt::hash(secret.as_bytes(), cost)).await?.context("bcrypt hash")
}

/// Whether `secret` matches `hash`. A malformed hash counts as no match.
pub async fn verify(secret: String, hash: String) -> anyhow::Result<bool> {
    counted();
    on_a_core(move || bcrypt::verify(secret.as_bytes(), &hash).unwrap_or(false)).await
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_there_are_cores_and_every_one_finishes() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let calls = (0..cores * 4).map(|i| {
            let (running, most) = (running.clone(), most.clone());
            tokio::spawn(on_a_core(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }))
        });
        let mut done = Vec::new();
        for call in calls.collect::<Vec<_>>() {
            done.push(call.await.unwrap().unwrap());
        }
        assert_eq!(done, (0..cores * 4).collect::<Vec<_>>(), "every queued hash ran");
        assert!(most.load(Ordering::SeqCst) <= cores, "{} ran at once on {cores} cores", most.load(Ordering::SeqCst));
    }
}
