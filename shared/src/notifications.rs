//! Messages staff send to a customer or mitra: delivered as a `notification` event to
//! the user's open sockets and as a push to each of their devices, and recorded with
//! their delivery state.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::auth::tokens::UserType;
use crate::realtime;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no such user")]
    UnknownUser,
    #[error(transparent)]
    Unexpected(#[from] sqlx::Error),
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
pub async fn send(state: &AppState, staff_id: Uuid, new: NewNotification<'_>) -> Result<Notification, NotifyError> {
    let exists_sql = match new.user_type {
        UserType::Customer => {
            "SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1 AND merged_into IS NULL AND deleted_at IS NULL)"
        }
        UserType::Mitra => "SELECT EXISTS (SELECT 1 FROM mitras WHERE id = $1 AND deleted_at IS NULL)",
        UserType::CcUser => return Err(NotifyError::UnknownUser),
    };
    let mut tx = state.db.begin().await?;
    let exists: bool = sqlx::query_scalar(exists_sql).bind(new.user_id).fetch_one(&mut *tx).await?;
    if !exists {
        return Err(NotifyError::UnknownUser);
    }
    let id = Uuid::new_v4();
    let event = json!({ "notification_id": id, "title": new.title, "body": new.body, "data": new.data });
    let event_id = realtime::publish(&mut *tx, new.user_type, new.user_id, "notification", &event).await?;
    sqlx::query(
        "INSERT INTO notifications (id, user_type, user_id, title, body, data, created_by, event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(new.user_type.as_str())
    .bind(new.user_id)
    .bind(new.title)
    .bind(new.body)
    .bind(&new.data)
    .bind(staff_id)
    .bind(event_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO push_outbox (notification_id, fcm_token)
         SELECT $1, fcm_token FROM devices WHERE user_type = $2 AND user_id = $3",
    )
    .bind(id)
    .bind(new.user_type.as_str())
    .bind(new.user_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(list(state, Some(id), None).await?.into_iter().next().ok_or(sqlx::Error::RowNotFound)?)
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
