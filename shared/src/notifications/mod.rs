//! What to tell whom, and the one owner of `notifications`, `push_outbox` and `devices`:
//! a delivery (a socket event for the user's open sockets and, recorded as a
//! notification, a push to each of their devices), the messages staff send, the devices
//! pushes go to ([`devices`]), and the outbox the push worker drains ([`outbox`]).

pub mod devices;
pub mod outbox;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::{self, StaffActor, Target};
use crate::error::{ApiError, ErrorCode};
use crate::realtime;
use crate::state::AppState;
use crate::tokens::UserType;
use crate::users;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no such user")]
    UnknownUser,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The realtime listener's delivery hook: a notification (from staff, an order or payout
/// update, or a chat message) reached at least one open socket, so a push waiting only for
/// a user without one is dropped. Other event types need no record.
pub fn on_delivered(db: &PgPool, event_type: &str, event_id: i64) {
    if !matches!(
        event_type,
        "notification" | "order.updated" | "payout.updated" | "payout_account.changed" | "message.created"
    ) {
        return;
    }
    let db = db.clone();
    tokio::spawn(async move {
        let marked = sqlx::query(
            "UPDATE notifications SET ws_delivered_at = now() WHERE event_id = $1 AND ws_delivered_at IS NULL",
        )
        .bind(event_id)
        .execute(&db)
        .await;
        if let Err(err) = marked {
            tracing::warn!(error = %err, event_id, "recording socket delivery failed");
        }
    });
}

impl From<NotifyError> for ApiError {
    fn from(err: NotifyError) -> Self {
        match err {
            NotifyError::UnknownUser => ApiError::new(ErrorCode::NotFound, "no such user"),
            NotifyError::Unexpected(cause) => ApiError::internal(&cause),
        }
    }
}

/// What staff asked to send.
pub struct NewNotification<'a> {
    pub user_type: UserType,
    pub user_id: Uuid,
    pub title: &'a str,
    pub body: &'a str,
    /// String pairs for the app.
    pub data: serde_json::Value,
}

/// A notification and how far it got.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Notification {
    pub id: Uuid,
    pub user_type: String,
    pub user_id: Uuid,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// When it first reached an open socket of the user.
    pub ws_delivered_at: Option<DateTime<Utc>>,
    pub push_pending: i64,
    pub push_sent: i64,
    pub push_failed: i64,
    pub push_dead_token: i64,
}

/// Records the notification, raises its socket event and queues one push per device,
/// all in one transaction.
pub async fn send(state: &AppState, actor: &StaffActor, new: NewNotification<'_>) -> Result<Notification, NotifyError> {
    let mut tx = state.db.begin().await.context("starting the notification")?;
    if !users::exists(&mut tx, new.user_type, new.user_id).await.context("reading the user")? {
        return Err(NotifyError::UnknownUser);
    }
    let id = Uuid::new_v4();
    let event = json!({ "notification_id": id, "title": new.title, "body": new.body, "data": new.data });
    let delivery = Delivery {
        notification_id: id,
        user_type: new.user_type,
        user_id: new.user_id,
        event_type: "notification",
        event: &event,
        title: new.title,
        body: new.body,
        data: &new.data,
        created_by: Some(actor.id),
        push_unless_seen: false,
    };
    deliver(&mut tx, &delivery).await.context("delivering")?;
    let target = Target { kind: new.user_type.as_str(), id: new.user_id.to_string() };
    audit::append(
        &mut tx,
        actor,
        "notification.send",
        Some(target),
        json!({ "notification_id": id, "title": new.title }),
    )
    .await
    .context("auditing")?;
    tx.commit().await.context("committing the notification")?;
    let sent = list(state, Some(id), None).await.context("reading the notification back")?;
    Ok(sent.into_iter().next().context("the notification just sent is missing")?)
}

/// One message for one user: an event for their open sockets and, recorded as a
/// notification, a push to each of their devices.
pub struct Delivery<'a> {
    pub notification_id: Uuid,
    pub user_type: UserType,
    pub user_id: Uuid,
    /// The socket event's `type` and `data`.
    pub event_type: &'a str,
    pub event: &'a serde_json::Value,
    /// What the push shows, and its string pairs for the app.
    pub title: &'a str,
    pub body: &'a str,
    pub data: &'a serde_json::Value,
    /// The staff member who sent it; `None` for the system's own messages.
    pub created_by: Option<Uuid>,
    /// Push only if no socket took the event within a few seconds (for updates the app
    /// shows live anyway); otherwise push at once.
    pub push_unless_seen: bool,
}

/// How long a `push_unless_seen` delivery waits for a socket before it is pushed.
const PUSH_UNLESS_SEEN_AFTER_SECS: f64 = 3.0;

/// Writes a delivery in the caller's transaction; the socket event goes out and the
/// pushes become due when it commits.
pub async fn deliver(conn: &mut PgConnection, d: &Delivery<'_>) -> sqlx::Result<()> {
    let event_id = realtime::publish(&mut *conn, d.user_type, d.user_id, d.event_type, d.event).await?;
    sqlx::query(
        "INSERT INTO notifications (id, user_type, user_id, title, body, data, created_by, event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(d.notification_id)
    .bind(d.user_type.as_str())
    .bind(d.user_id)
    .bind(d.title)
    .bind(d.body)
    .bind(d.data)
    .bind(d.created_by)
    .bind(event_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO push_outbox (notification_id, fcm_token, unless_seen, next_attempt_at)
         SELECT $1, fcm_token, $4, now() + make_interval(secs => CASE WHEN $4 THEN $5 ELSE 0 END)
         FROM devices WHERE user_type = $2 AND user_id = $3",
    )
    .bind(d.notification_id)
    .bind(d.user_type.as_str())
    .bind(d.user_id)
    .bind(d.push_unless_seen)
    .bind(PUSH_UNLESS_SEEN_AFTER_SECS)
    .execute(conn)
    .await?;
    Ok(())
}

/// Notifications, newest first: one by id, or the latest 100 of a user.
pub async fn list(state: &AppState, id: Option<Uuid>, user_id: Option<Uuid>) -> sqlx::Result<Vec<Notification>> {
    sqlx::query_as(
        "SELECT n.id, n.user_type, n.user_id, n.title, n.body, n.data, n.created_by, n.created_at, n.ws_delivered_at,
                count(*) FILTER (WHERE o.status = 'pending') AS push_pending,
                count(*) FILTER (WHERE o.status = 'sent') AS push_sent,
                count(*) FILTER (WHERE o.status = 'failed') AS push_failed,
                count(*) FILTER (WHERE o.status = 'dead_token') AS push_dead_token
         FROM notifications n LEFT JOIN push_outbox o ON o.notification_id = n.id
         WHERE ($1::uuid IS NULL OR n.id = $1) AND ($2::uuid IS NULL OR n.user_id = $2)
         GROUP BY n.id ORDER BY n.created_at DESC LIMIT 100",
    )
    .bind(id)
    .bind(user_id)
    .fetch_all(&state.db)
    .await
}

/// Gives customer `from`'s notifications to customer `into` (a merge), in the caller's
/// transaction. Its devices are not moved: they belong to its sessions, which the merge
/// revokes.
pub async fn move_customer(conn: &mut PgConnection, from: Uuid, into: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE notifications SET user_id = $2 WHERE user_type = 'customer' AND user_id = $1")
        .bind(from)
        .bind(into)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets a deleted user's devices and notifications (and the pushes queued for them),
/// in the caller's transaction: nothing is pushed to them again. Staff sends stay in the
/// audit log.
pub async fn erase_user(conn: &mut PgConnection, user_type: UserType, user_id: Uuid) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM devices WHERE user_type = $1 AND user_id = $2")
        .bind(user_type)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .context("erasing devices")?;
    // The user's inbox, and the pushes (with their device tokens) still queued for it.
    sqlx::query(
        "DELETE FROM push_outbox WHERE notification_id IN
             (SELECT id FROM notifications WHERE user_type = $1 AND user_id = $2)",
    )
    .bind(user_type)
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .context("erasing queued pushes")?;
    sqlx::query("DELETE FROM notifications WHERE user_type = $1 AND user_id = $2")
        .bind(user_type)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .context("erasing notifications")?;
    Ok(())
}

/// Deletes finished pushes (sent, failed, dead token, seen) older than 7 days, a batch
/// at a time. The notifications themselves stay (staff's record of what was sent).
pub async fn purge_finished_pushes(db: &PgPool) -> anyhow::Result<u64> {
    crate::db::delete_in_batches(
        db,
        "DELETE FROM push_outbox WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM push_outbox WHERE status <> 'pending' AND created_at < now() - interval '7 days'
             LIMIT $1))",
    )
    .await
}
