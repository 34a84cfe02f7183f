//! Realtime: events to a user's open WebSockets on any instance, and instant session
//! revocation, both carried by Postgres LISTEN/NOTIFY (channel `halo_realtime`, raised
//! by triggers; see the realtime migration).

pub mod hub;
pub mod listener;
pub mod revoked;
pub mod socket;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::tokens::UserType;

/// This instance's share of realtime: its sockets and what it knows was revoked.
#[derive(Default)]
pub struct Realtime {
    pub hub: Arc<hub::Hub>,
    pub revoked: revoked::RevokedSessions,
    /// True while the listener is connected and caught up.
    pub listening: AtomicBool,
    /// True once the revoked set was loaded from the database the first time.
    loaded: AtomicBool,
    loaded_notify: tokio::sync::Notify,
    /// When the listener last lost its connection (ms since the epoch): the revoked set
    /// was in sync until then.
    down_since_ms: AtomicI64,
    /// When a fallback check last found the database out of reach (ms since the epoch;
    /// 0: never), so requests in the next moment do not each wait for it again.
    db_unreachable_at_ms: AtomicI64,
}

/// How long the revoked set is trusted after the listener's connection dropped (the
/// contract's "refused on every instance within one second"); after that,
/// authentication asks the database (see `auth::scheme`).
pub const STALE_AFTER_MS: i64 = 1000;

impl Realtime {
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Whether the revoked set has been loaded at least once (readiness).
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The listener is connected and has caught up (also at the first load).
    pub fn mark_caught_up(&self) {
        self.listening.store(true, Ordering::Release);
        if !self.loaded.swap(true, Ordering::AcqRel) {
            self.loaded_notify.notify_waiters();
        }
    }

    /// The listener lost its connection at `now_ms`.
    pub fn mark_down(&self, now_ms: i64) {
        self.down_since_ms.store(now_ms, Ordering::Release);
        self.listening.store(false, Ordering::Release);
    }

    /// Whether the revoked set alone can be trusted now: the listener is up, or went down
    /// less than [`STALE_AFTER_MS`] ago after a first load.
    pub fn revocations_current(&self, now_ms: i64) -> bool {
        self.is_listening()
            || (self.is_loaded() && now_ms - self.down_since_ms.load(Ordering::Acquire) < STALE_AFTER_MS)
    }

    /// How long ago (ms) the revoked set was last in sync with the database: 0 while the
    /// listener is up, `None` before the first load.
    pub fn since_last_sync_ms(&self, now_ms: i64) -> Option<i64> {
        match (self.is_listening(), self.is_loaded()) {
            (true, _) => Some(0),
            (false, true) => Some((now_ms - self.down_since_ms.load(Ordering::Acquire)).max(0)),
            (false, false) => None,
        }
    }

    /// A fallback check could not reach the database at `now_ms`.
    pub fn mark_db_unreachable(&self, now_ms: i64) {
        self.db_unreachable_at_ms.store(now_ms, Ordering::Release);
    }

    /// A fallback check reached the database.
    pub fn mark_db_reachable(&self) {
        self.db_unreachable_at_ms.store(0, Ordering::Release);
    }

    /// Whether a fallback check found the database out of reach less than `within_ms` ago.
    pub fn db_recently_unreachable(&self, now_ms: i64, within_ms: i64) -> bool {
        let at = self.db_unreachable_at_ms.load(Ordering::Acquire);
        at != 0 && now_ms - at < within_ms
    }

    /// Waits up to `within` for the first load; true when loaded.
    pub async fn wait_loaded(&self, within: std::time::Duration) -> bool {
        let notified = self.loaded_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_loaded() {
            return true;
        }
        tokio::time::timeout(within, notified).await.is_ok() || self.is_loaded()
    }
}

/// The JSON text of an event as the socket sends it.
pub fn event_json(event_type: &str, id: i64, at: DateTime<Utc>, data: &serde_json::Value) -> Arc<str> {
    serde_json::json!({
        "type": event_type,
        "id": id.to_string(),
        "at": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
    .into()
}

/// Raises an event for a user; every instance holding a socket of that user delivers
/// it once the caller's transaction commits. Returns the event id.
pub async fn publish<'e>(
    db: impl PgExecutor<'e>,
    user_type: UserType,
    user_id: Uuid,
    event_type: &str,
    data: &serde_json::Value,
) -> sqlx::Result<i64> {
    sqlx::query_scalar("INSERT INTO user_events (user_type, user_id, type, data) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(user_type.as_str())
        .bind(user_id)
        .bind(event_type)
        .bind(data)
        .fetch_one(db)
        .await
}

/// Gives the events raised for customer `from` to customer `into` (a merge), so a
/// reconnecting socket of `into` replays none of them and the history stays together.
pub async fn move_customer_events(conn: &mut sqlx::PgConnection, from: Uuid, into: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE user_events SET user_id = $2 WHERE user_type = 'customer' AND user_id = $1")
        .bind(from)
        .bind(into)
        .execute(conn)
        .await?;
    Ok(())
}

/// Erases a deleted user's events, in the caller's transaction (a notification that
/// pointed at one keeps its row, with no event).
pub async fn erase_user_events(conn: &mut sqlx::PgConnection, user_type: UserType, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM user_events WHERE user_type = $1 AND user_id = $2")
        .bind(user_type.as_str())
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Blanks the `note` in the copies of these orders that events carry (the other party's
/// `order.updated` events), in the caller's transaction. Events live 7 days (the purge),
/// so the scan this needs stays small.
pub async fn redact_order_notes(conn: &mut sqlx::PgConnection, order_ids: &[Uuid]) -> sqlx::Result<()> {
    if order_ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = order_ids.iter().map(Uuid::to_string).collect();
    sqlx::query(
        "UPDATE user_events SET data = jsonb_set(data, '{note}', 'null')
         WHERE data ? 'note' AND data->'note' <> 'null' AND data->>'id' = ANY($1)",
    )
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes events older than 7 days, a batch at a time: long delivered (a socket gets
/// its events live; the listener replays only a reconnect's gap of seconds).
pub async fn purge_delivered(db: &sqlx::PgPool) -> anyhow::Result<u64> {
    crate::db::delete_in_batches(
        db,
        "DELETE FROM user_events WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM user_events WHERE created_at < now() - interval '7 days' LIMIT $1))",
    )
    .await
}
