//! One LISTEN connection per instance. It delivers events to this instance's sockets,
//! records revocations, and after every (re)connection catches up from the tables:
//! revocations from `auth_sessions`, events from `user_events` by id, so news raised
//! while it was disconnected is not lost.
//!
//! Revocations are replayed from the last one this instance knows about (the newest
//! `revoked_at` seen, or the database's clock at the last catch-up), less a margin for
//! transactions that committed late: `revoked_at` is the revoking transaction's start.
//! Until the first catch-up, and while the connection is down for more than a few
//! seconds, authentication does not trust the set (see `Realtime::revocations_current`).

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use std::sync::Arc;

use sqlx::PgPool;

use super::revoked::REMEMBER_SECS;
use super::{event_json, Realtime};
use crate::tokens::UserType;

pub const CHANNEL: &str = "halo_realtime";
/// Close code for sockets of a revoked session.
pub const CLOSE_SESSION_REVOKED: u16 = 4003;

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Notice {
    Event {
        id: i64,
        user_type: UserType,
        user_id: Uuid,
        #[serde(rename = "type")]
        event_type: String,
        at: DateTime<Utc>,
        data: Option<serde_json::Value>,
    },
    Revoked {
        session_id: Uuid,
        revoked_at: DateTime<Utc>,
    },
}

/// A `user_events` row the listener missed while it was disconnected.
#[derive(sqlx::FromRow)]
struct MissedEvent {
    id: i64,
    user_type: UserType,
    user_id: Uuid,
    #[sqlx(rename = "type")]
    event_type: String,
    created_at: DateTime<Utc>,
    data: serde_json::Value,
}

/// Event ids already delivered, so catch-up and live notifications never deliver twice.
struct Delivered {
    order: VecDeque<i64>,
    set: HashSet<i64>,
    max: i64,
}

impl Delivered {
    const KEEP: usize = 4096;

    /// False when `id` was delivered before.
    fn first_time(&mut self, id: i64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::KEEP {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.max = self.max.max(id);
        true
    }
}

/// How far before the last revocation seen a reconnect's replay starts.
const REPLAY_MARGIN_SECS: i64 = 120;

/// Called when an event reached at least one of this instance's sockets, with its type
/// and id: the domain records what that means (`notifications::on_delivered`), so this
/// transport writes no table of its own.
pub type OnDelivered = fn(&PgPool, &str, i64);

/// What the listener works with: the pool, this instance's sockets and revoked set, and
/// the delivery hook.
#[derive(Clone)]
pub struct Context {
    pub db: PgPool,
    pub realtime: Arc<Realtime>,
    pub on_delivered: OnDelivered,
}

/// Where the listener stands: events delivered, and revocations known up to when.
struct Progress {
    delivered: Delivered,
    /// The newest revocation time this instance knows it has seen everything before.
    revoked_up_to: Option<DateTime<Utc>>,
}

/// Runs until the task is aborted, reconnecting with backoff (0.5 s doubling to 30 s).
pub async fn run(state: Context) {
    let delivered = Delivered { order: VecDeque::new(), set: HashSet::new(), max: -1 };
    let mut progress = Progress { delivered, revoked_up_to: None };
    let mut backoff = Duration::from_millis(500);
    loop {
        match listen_once(&state, &mut progress).await {
            Ok(()) => backoff = Duration::from_millis(500),
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    retry_in_ms = backoff.as_millis() as u64,
                    "realtime listener down"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// One connection's life: LISTEN, catch up, then deliver until the connection drops.
async fn listen_once(state: &Context, progress: &mut Progress) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(&state.db).await?;
    listener.listen(CHANNEL).await?;
    catch_up(state, progress).await?;
    state.realtime.mark_caught_up();
    let result = deliver(state, progress, &mut listener).await;
    state.realtime.mark_down(Utc::now().timestamp_millis());
    result
}

async fn deliver(state: &Context, progress: &mut Progress, listener: &mut PgListener) -> anyhow::Result<()> {
    let mut purge = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            notice = listener.try_recv() => match notice? {
                Some(notification) => match serde_json::from_str::<Notice>(notification.payload()) {
                    Ok(notice) => handle(state, progress, notice).await,
                    Err(err) => tracing::warn!(error = %err, "unreadable realtime notice"),
                },
                // The connection dropped; a new one catches up on what was missed.
                None => anyhow::bail!("connection lost"),
            },
            _ = purge.tick() => state.realtime.revoked.purge(Utc::now().timestamp()),
        }
    }
}

async fn catch_up(state: &Context, progress: &mut Progress) -> anyhow::Result<()> {
    // Taken first: whatever is revoked after this moment arrives by NOTIFY (we listen
    // already) or by the next catch-up, which starts from here less the margin.
    let db_now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&state.db).await?;
    let since = progress.revoked_up_to.map(|t| t - chrono::Duration::seconds(REPLAY_MARGIN_SECS));
    let revoked: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, revoked_at FROM auth_sessions
         WHERE revoked_at > GREATEST(now() - make_interval(secs => $1), COALESCE($2, '-infinity'))",
    )
    .bind(REMEMBER_SECS as f64)
    .bind(since)
    .fetch_all(&state.db)
    .await?;
    if progress.revoked_up_to.is_some() && !revoked.is_empty() {
        tracing::info!(sessions = revoked.len(), "realtime listener replayed revocations");
    }
    for (session_id, revoked_at) in revoked {
        revoke(state, session_id, revoked_at);
    }
    progress.revoked_up_to = progress.revoked_up_to.max(Some(db_now));
    let delivered = &mut progress.delivered;

    if delivered.max < 0 {
        // First start: nothing of the past is owed to sockets that did not exist yet.
        delivered.max = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM user_events").fetch_one(&state.db).await?;
        return Ok(());
    }
    // Ids are taken before commit, so a little overlap covers late committers.
    let missed: Vec<MissedEvent> = sqlx::query_as(
        "SELECT id, user_type, user_id, type, created_at, data FROM user_events WHERE id > $1 ORDER BY id LIMIT 10000",
    )
    .bind(delivered.max - 64)
    .fetch_all(&state.db)
    .await?;
    if !missed.is_empty() {
        tracing::info!(events = missed.len(), "realtime listener catching up");
    }
    for MissedEvent { id, user_type, user_id, event_type, created_at: at, data } in missed {
        handle(state, progress, Notice::Event { id, user_type, user_id, event_type, at, data: Some(data) }).await;
    }
    Ok(())
}

fn revoke(state: &Context, session_id: Uuid, revoked_at: DateTime<Utc>) {
    state.realtime.revoked.insert(session_id, revoked_at.timestamp());
    state.realtime.hub.close_session(session_id, CLOSE_SESSION_REVOKED, "session_revoked");
}

async fn handle(state: &Context, progress: &mut Progress, notice: Notice) {
    let delivered = &mut progress.delivered;
    match notice {
        Notice::Revoked { session_id, revoked_at } => {
            revoke(state, session_id, revoked_at);
            progress.revoked_up_to = progress.revoked_up_to.max(Some(revoked_at));
        }
        Notice::Event { id, user_type, user_id, event_type, at, data } => {
            if !delivered.first_time(id) || !state.realtime.hub.has_user(user_type, user_id) {
                return;
            }
            let data = match data {
                Some(data) => data,
                None => match sqlx::query_scalar("SELECT data FROM user_events WHERE id = $1")
                    .bind(id)
                    .fetch_one(&state.db)
                    .await
                {
                    Ok(data) => data,
                    Err(err) => {
                        tracing::warn!(error = %err, event_id = id, "reading a large event failed");
                        return;
                    }
                },
            };
            let sent = state.realtime.hub.send_to_user(user_type, user_id, event_json(&event_type, id, at, &data));
            if sent > 0 {
                (state.on_delivered)(&state.db, &event_type, id);
            }
        }
    }
}

/// Spawns the listener; the handle aborts it.
pub fn spawn(state: Context) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(state))
}
