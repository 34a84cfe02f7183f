use chrono::{DateTime, Utc};
use halo_shared::audit::StaffActor;
use halo_shared::auth::scheme::StaffAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::notifications::{self, NewNotification, Notification};
use halo_shared::tokens::UserType;
use halo_shared::AppState;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct NotificationsApi;

/// Who can receive notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Recipient {
    Customer,
    Mitra,
}

#[derive(Debug, Object)]
pub struct SendNotification {
    pub user_type: Recipient,
    pub user_id: Uuid,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: JsonString,
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub body: JsonString,
    /// String pairs handed to the app (deep links and the like).
    pub data: Option<std::collections::BTreeMap<String, JsonString>>,
}

/// How many of the user's devices the push reached, so far.
#[derive(Debug, Object)]
pub struct PushDelivery {
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    /// Devices whose token FCM no longer accepts (they were removed).
    pub dead_token: i64,
}

/// A notification and its delivery state.
#[derive(Debug, Object)]
pub struct NotificationView {
    pub id: Uuid,
    pub user_type: Recipient,
    pub user_id: Uuid,
    pub title: String,
    pub body: String,
    /// The string pairs sent with it.
    pub data: std::collections::BTreeMap<String, String>,
    #[oai(nullable)]
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// When it first reached an open socket of the user (null: no socket was open).
    #[oai(nullable)]
    pub ws_delivered_at: Option<DateTime<Utc>>,
    pub push: PushDelivery,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            user_type: if n.user_type == "mitra" { Recipient::Mitra } else { Recipient::Customer },
            user_id: n.user_id,
            title: n.title,
            body: n.body,
            data: serde_json::from_value(n.data).unwrap_or_default(),
            created_by: n.created_by,
            created_at: n.created_at,
            ws_delivered_at: n.ws_delivered_at,
            push: PushDelivery {
                pending: n.push_pending,
                sent: n.push_sent,
                failed: n.push_failed,
                dead_token: n.push_dead_token,
            },
        }
    }
}

#[derive(ApiResponse)]
pub enum SentResponse {
    /// Recorded; delivered to open sockets now and queued for push.
    #[oai(status = 201)]
    Created(Json<NotificationView>),
}

#[derive(ApiResponse)]
pub enum ListResponse {
    /// Newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<NotificationView>>),
}

#[OpenApi(tag = "Tag::Notifications")]
impl NotificationsApi {
    /// Sends a notification to a customer or mitra.
    ///
    /// A `notification` event goes to their open sockets (on any instance) and a push to
    /// each registered device. 404 when the user does not exist.
    #[oai(path = "/internal/notifications", method = "post", operation_id = "ccNotificationsSend")]
    async fn send(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        body: JsonBody<SendNotification>,
    ) -> Result<SentResponse, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        let user_type = match body.user_type {
            Recipient::Customer => UserType::Customer,
            Recipient::Mitra => UserType::Mitra,
        };
        let pairs: std::collections::BTreeMap<&str, &str> =
            body.data.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let data = serde_json::to_value(pairs).unwrap_or_default();
        let new = NewNotification { user_type, user_id: body.user_id, title: &body.title, body: &body.body, data };
        let actor = StaffActor::new(auth.0.sub, &client_info_of(req));
        let sent = notifications::send(&state, &actor, new).await?;
        Ok(SentResponse::Created(Json(sent.into())))
    }

    /// The latest notifications sent to a user, with delivery state.
    ///
    /// At most 100, newest first: when each reached an open socket and how its pushes fared.
    #[oai(path = "/internal/notifications", method = "get", operation_id = "ccNotificationsList")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        user_id: Query<Uuid>,
    ) -> Result<ListResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let list = notifications::list(&state, None, Some(user_id.0)).await?;
        Ok(ListResponse::Ok(Json(list.into_iter().map(Into::into).collect())))
    }
}
