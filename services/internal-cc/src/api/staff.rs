//! Staff management and the audit log (admins only).

use chrono::{DateTime, Utc};
use halo_shared::audit::{self, StaffActor};
use halo_shared::auth::scheme::AdminAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::staffops::team::{self, NewStaff, StaffChange};
use halo_shared::staffops::StaffError;
use halo_shared::tokens::Role;
use halo_shared::users::staff::{self, Staff};
use halo_shared::AppState;
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct StaffApi;

/// A staff member as admins see them.
#[derive(Debug, Object)]
pub struct StaffMember {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    #[oai(nullable)]
    pub display_name: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Staff> for StaffMember {
    fn from(s: Staff) -> Self {
        Self {
            id: s.id,
            email: s.email,
            role: s.role,
            display_name: s.display_name,
            disabled: s.disabled_at.is_some(),
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct StaffList {
    pub items: Vec<StaffMember>,
}

/// A new staff member.
#[derive(Debug, Object)]
pub struct StaffCreate {
    /// Unique, compared case-insensitively.
    pub email: JsonString,
    pub role: Role,
    pub display_name: Option<JsonString>,
    /// At least 12 characters.
    pub password: JsonString,
}

/// A change to a staff member; fields left out stay as they are.
#[derive(Debug, Object)]
pub struct StaffUpdate {
    pub role: Option<Role>,
    /// True ends their sessions at once.
    pub disabled: Option<bool>,
    pub display_name: Option<JsonString>,
}

/// One audit entry.
#[derive(Debug, Object)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    #[oai(nullable)]
    pub actor_id: Option<Uuid>,
    #[oai(nullable)]
    pub actor_email: Option<String>,
    /// What was done, as `<thing>.<verb>` (for example `user.suspend`); filter on it with
    /// `action`.
    pub action: String,
    #[oai(nullable)]
    pub target_type: Option<String>,
    #[oai(nullable)]
    pub target_id: Option<String>,
    /// What changed, as text (never a secret). A field stored as null (a decision
    /// without a note, a change that left a field alone) is left out, never `"null"`.
    pub details: std::collections::BTreeMap<String, String>,
    #[oai(nullable)]
    pub ip: Option<String>,
}

#[derive(Debug, Object)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum StaffListResponse {
    #[oai(status = 200)]
    Ok(Json<StaffList>),
}

#[derive(ApiResponse)]
pub enum StaffCreated {
    #[oai(status = 201)]
    Created(Json<StaffMember>),
}

#[derive(ApiResponse)]
pub enum StaffResponse {
    #[oai(status = 200)]
    Ok(Json<StaffMember>),
}

#[derive(ApiResponse)]
pub enum AuditPageResponse {
    #[oai(status = 200)]
    Ok(Json<AuditPage>),
}

fn actor(req: &Request, auth: &AdminAuth) -> StaffActor {
    StaffActor::new(auth.0.sub, &client_info_of(req))
}

#[OpenApi(tag = "Tag::Staff")]
impl StaffApi {
    /// Every staff member.
    ///
    /// Admins only; disabled members included.
    #[oai(path = "/internal/staff", method = "get", operation_id = "ccStaffList")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> Result<StaffListResponse, ApiErrors<{ EDGE | BEARER }>> {
        let items = staff::list(&state.db).await.map_err(StaffError::from)?;
        Ok(StaffListResponse::Ok(Json(StaffList { items: items.into_iter().map(StaffMember::from).collect() })))
    }

    /// Adds a staff member. 409 `conflict` when the email is taken.
    ///
    /// Admins only. Password at least 12 characters; 409 `conflict` when the email is taken
    /// (case-insensitively).
    #[oai(path = "/internal/staff", method = "post", operation_id = "ccStaffCreate")]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: AdminAuth,
        body: JsonBody<StaffCreate>,
    ) -> Result<StaffCreated, ApiErrors<{ WITH_BODY | BEARER | E409 }>> {
        let new = NewStaff {
            email: &body.email,
            role: body.role,
            display_name: body.display_name.as_ref().map(|s| s.as_str()),
            password: &body.password,
        };
        let cost = state.control_center()?.settings.password_bcrypt_cost;
        let member = team::create(&state.db, &actor(req, &auth), &new, cost).await?;
        Ok(StaffCreated::Created(Json(member.into())))
    }

    /// Changes a staff member's role, name or disabled flag.
    ///
    /// Disabling ends their sessions at once; a new role reaches their token at its next
    /// refresh. 409 `conflict` when it would leave no active admin, or when admins would
    /// demote or disable themselves.
    #[oai(path = "/internal/staff/:id", method = "patch", operation_id = "ccStaffUpdate")]
    async fn update(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: AdminAuth,
        id: Path<Uuid>,
        body: JsonBody<StaffUpdate>,
    ) -> Result<StaffResponse, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 }>> {
        let change = StaffChange {
            role: body.role,
            disabled: body.disabled,
            display_name: body.display_name.as_ref().map(|s| s.as_str()),
        };
        let member = team::change(&state.db, &actor(req, &auth), id.0, &change).await?;
        Ok(StaffResponse::Ok(Json(member.into())))
    }

    /// The audit log, newest first.
    ///
    /// Admins only. Filter by actor, target or action; paged with `cursor`.
    #[oai(path = "/internal/audit-log", method = "get", operation_id = "ccAuditLogList")]
    // Each query parameter is its own extractor argument in poem-openapi.
    #[allow(clippy::too_many_arguments)]
    async fn audit_log(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        actor_id: Query<Option<Uuid>>,
        target_id: Query<Option<String>>,
        action: Query<Option<String>>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<AuditPageResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let filter =
            audit::Filter { actor_id: actor_id.0, target_id: target_id.0.as_deref(), action: action.0.as_deref() };
        let (entries, next_cursor) = audit::list(&state.db, &filter, limit.0, cursor.0.as_deref()).await?;
        let items = entries
            .into_iter()
            .map(|e| AuditEntry {
                id: e.id,
                at: e.at,
                actor_id: e.actor_id,
                actor_email: e.actor_email,
                action: e.action,
                target_type: e.target_type,
                target_id: e.target_id,
                details: details_text(e.details),
                ip: e.ip,
            })
            .collect();
        Ok(AuditPageResponse::Ok(Json(AuditPage { items, next_cursor })))
    }
}

/// An entry's details as string pairs: strings as they are, other values as JSON text,
/// and JSON null (stored for an absent value) left out rather than shown as `"null"`.
fn details_text(details: serde_json::Value) -> std::collections::BTreeMap<String, String> {
    let serde_json::Value::Object(fields) = details else { return Default::default() };
    fields
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect()
}
