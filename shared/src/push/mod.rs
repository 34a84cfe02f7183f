//! Push notifications: the FCM client, and the worker every public-gateway instance runs
//! over an [`Outbox`] (the notifications module's `push_outbox`, whose rows are leased
//! with `FOR UPDATE SKIP LOCKED`, so instances never send the same row together). No
//! database connection is held while FCM answers. A worker that dies mid-send leaves its
//! lease to run out; the row is then sent again (FCM may see a duplicate, the user never
//! misses one).

pub mod fcm;

use std::future::Future;
use std::time::Duration;

use uuid::Uuid;

use self::fcm::{FcmClient, PushMessage, SendOutcome};

/// Worker tunables.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How often an idle worker looks for due rows.
    pub poll: Duration,
    /// How long a claimed row is reserved for the worker that claimed it.
    pub lease: Duration,
    /// Tries before a row is marked failed.
    pub max_attempts: i32,
    pub batch: i64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self { poll: Duration::from_secs(1), lease: Duration::from_secs(60), max_attempts: 8, batch: 16 }
    }
}

/// A message claimed for sending to one device.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub notification_id: Uuid,
    pub fcm_token: String,
    pub attempts: i32,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
}

/// Where the worker's messages wait: the owner of the outbox (the notifications module)
/// decides what is due and records what happened to each, so this transport writes no
/// table of its own.
pub trait Outbox: Send + Sync + 'static {
    /// Leases up to `settings.batch` due messages.
    fn claim(&self, settings: &WorkerSettings) -> impl Future<Output = sqlx::Result<Vec<Claimed>>> + Send;
    /// Records how a claimed message's send went.
    fn complete(
        &self,
        row: &Claimed,
        outcome: &SendOutcome,
        settings: &WorkerSettings,
    ) -> impl Future<Output = sqlx::Result<()>> + Send;
}

/// Exponential backoff: 2 s, 4 s, 8 s, … capped at an hour.
pub fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempts.clamp(1, 12) as u32).min(3600))
}

/// Claims and sends one batch; returns how many messages it handled.
pub async fn drain_once(outbox: &impl Outbox, fcm: &FcmClient, settings: &WorkerSettings) -> sqlx::Result<usize> {
    let rows = outbox.claim(settings).await?;
    for row in &rows {
        let message = PushMessage { token: &row.fcm_token, title: &row.title, body: &row.body, data: &row.data };
        let outcome = fcm.send(&message).await;
        if !matches!(outcome, SendOutcome::Sent) {
            tracing::warn!(outbox_id = row.id, outcome = ?outcome, "push not delivered");
        }
        outbox.complete(row, &outcome, settings).await?;
    }
    Ok(rows.len())
}

/// Drains the outbox until the task is aborted.
pub async fn run(outbox: impl Outbox, fcm: FcmClient, settings: WorkerSettings) {
    loop {
        match drain_once(&outbox, &fcm, &settings).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "push worker could not reach the database"),
        }
        tokio::time::sleep(settings.poll).await;
    }
}
