//! Push notifications: an outbox table drained by a background worker on every
//! public-gateway instance. Rows are leased with `FOR UPDATE SKIP LOCKED`, so instances
//! never send the same row together, and no database connection is held while FCM
//! answers. A worker that dies mid-send leaves its lease to run out; the row is then
//! sent again (FCM may see a duplicate, the user never misses one).

pub mod fcm;

use std::time::Duration;

use sqlx::PgPool;
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

/// A row claimed for sending.
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

/// Leases up to `batch` due rows. A row is sent only while its token still belongs to a
/// device of the notification's user: after a logout (the device row is gone) or a
/// hand-over (another user's session registered the same token) the due row is marked
/// failed instead, so the next user of a shared phone never sees the previous one's push.
pub async fn claim(db: &PgPool, settings: &WorkerSettings) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as(
        "WITH due AS (
             SELECT o.id, EXISTS (SELECT 1 FROM devices d JOIN notifications n ON n.id = o.notification_id
                                  WHERE d.fcm_token = o.fcm_token
                                    AND d.user_type = n.user_type AND d.user_id = n.user_id) AS owned
             FROM push_outbox o
             WHERE o.status = 'pending' AND o.next_attempt_at <= now()
               AND (o.lease_until IS NULL OR o.lease_until < now())
             ORDER BY o.next_attempt_at LIMIT $2 FOR UPDATE OF o SKIP LOCKED),
         dropped AS (
             UPDATE push_outbox SET status = 'failed', lease_until = NULL,
                    last_error = 'device_gone: the session signed out or the token changed hands'
             WHERE id IN (SELECT id FROM due WHERE NOT owned)),
         claimed AS (
             UPDATE push_outbox SET lease_until = now() + make_interval(secs => $1), attempts = attempts + 1
             WHERE id IN (SELECT id FROM due WHERE owned)
             RETURNING id, notification_id, fcm_token, attempts)
         SELECT c.id, c.notification_id, c.fcm_token, c.attempts, n.title, n.body, n.data
         FROM claimed c JOIN notifications n ON n.id = c.notification_id ORDER BY c.id",
    )
    .bind(settings.lease.as_secs_f64())
    .bind(settings.batch)
    .fetch_all(db)
    .await
}

/// Exponential backoff: 2 s, 4 s, 8 s, … capped at an hour.
fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempts.clamp(1, 12) as u32).min(3600))
}

/// Records how a claimed row's send went.
pub async fn complete(
    db: &PgPool,
    row: &Claimed,
    outcome: &SendOutcome,
    settings: &WorkerSettings,
) -> sqlx::Result<()> {
    match outcome {
        SendOutcome::Sent => {
            sqlx::query("UPDATE push_outbox SET status = 'sent', sent_at = now(), lease_until = NULL, last_error = NULL WHERE id = $1")
                .bind(row.id)
                .execute(db)
                .await?;
        }
        SendOutcome::DeadToken(error) => {
            let mut tx = db.begin().await?;
            sqlx::query(
                "UPDATE push_outbox SET status = 'dead_token', lease_until = NULL, last_error = $2 WHERE id = $1",
            )
            .bind(row.id)
            .bind(error)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM devices WHERE fcm_token = $1").bind(&row.fcm_token).execute(&mut *tx).await?;
            tx.commit().await?;
        }
        SendOutcome::Retry { retry_after, error } if row.attempts < settings.max_attempts => {
            let wait = retry_after.unwrap_or_default().max(backoff(row.attempts));
            sqlx::query(
                "UPDATE push_outbox SET next_attempt_at = now() + make_interval(secs => $2), lease_until = NULL,
                        last_error = $3 WHERE id = $1",
            )
            .bind(row.id)
            .bind(wait.as_secs_f64())
            .bind(error)
            .execute(db)
            .await?;
        }
        SendOutcome::Retry { error, .. } | SendOutcome::Failed(error) => {
            sqlx::query("UPDATE push_outbox SET status = 'failed', lease_until = NULL, last_error = $2 WHERE id = $1")
                .bind(row.id)
                .bind(error)
                .execute(db)
                .await?;
        }
    }
    Ok(())
}

/// Drops due pushes that were only meant for a user with no open socket, when a socket
/// has taken the event meanwhile (order updates).
pub async fn skip_seen(db: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE push_outbox o SET status = 'seen', lease_until = NULL
         FROM notifications n
         WHERE o.status = 'pending' AND o.unless_seen AND o.next_attempt_at <= now()
           AND n.id = o.notification_id AND n.ws_delivered_at IS NOT NULL",
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Claims and sends one batch; returns how many rows it handled.
pub async fn drain_once(db: &PgPool, fcm: &FcmClient, settings: &WorkerSettings) -> sqlx::Result<usize> {
    skip_seen(db).await?;
    let rows = claim(db, settings).await?;
    for row in &rows {
        let message = PushMessage { token: &row.fcm_token, title: &row.title, body: &row.body, data: &row.data };
        let outcome = fcm.send(&message).await;
        if !matches!(outcome, SendOutcome::Sent) {
            tracing::warn!(outbox_id = row.id, outcome = ?outcome, "push not delivered");
        }
        complete(db, row, &outcome, settings).await?;
    }
    Ok(rows.len())
}

/// Drains the outbox until the task is aborted.
pub async fn run(db: PgPool, fcm: FcmClient, settings: WorkerSettings) {
    loop {
        match drain_once(&db, &fcm, &settings).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "push worker could not reach the database"),
        }
        tokio::time::sleep(settings.poll).await;
    }
}
