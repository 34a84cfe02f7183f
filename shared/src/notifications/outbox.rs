//! The push outbox's rows (`push_outbox`, with the `devices` they go to): what is due,
//! leasing it for the worker (`push::run`), and recording how each send went.

use sqlx::PgPool;

use crate::push::fcm::SendOutcome;
use crate::push::{backoff, Claimed, Outbox, WorkerSettings};

/// The outbox of one database, as the push worker drains it.
#[derive(Clone)]
pub struct PushOutbox {
    db: PgPool,
}

impl PushOutbox {
    pub fn new(db: PgPool) -> Self {
        Self { db }
    }
}

impl Outbox for PushOutbox {
    async fn claim(&self, settings: &WorkerSettings) -> sqlx::Result<Vec<Claimed>> {
        skip_seen(&self.db).await?;
        claim(&self.db, settings).await
    }

    async fn complete(&self, row: &Claimed, outcome: &SendOutcome, settings: &WorkerSettings) -> sqlx::Result<()> {
        complete(&self.db, row, outcome, settings).await
    }
}

/// Leases up to `batch` due rows. A row is sent only while its token still belongs to a
/// device of the notification's user: after a logout (the device row is gone) or a
/// hand-over (another user's session registered the same token) the due row is marked
/// failed instead, so the next user of a shared phone never sees the previous one's push.
async fn claim(db: &PgPool, settings: &WorkerSettings) -> sqlx::Result<Vec<Claimed>> {
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

/// Records how a claimed row's send went.
async fn complete(db: &PgPool, row: &Claimed, outcome: &SendOutcome, settings: &WorkerSettings) -> sqlx::Result<()> {
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
