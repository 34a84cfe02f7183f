//! Customers and mitra, as agents find and help them.

use chrono::{DateTime, Utc};
use halo_shared::audit::StaffActor;
use halo_shared::auth::scheme::StaffAuth;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::marketplace::services;
use halo_shared::pagination::Page;
use halo_shared::payouts::views::{AccountChangeView, PayoutAccountView, PayoutHoldView};
use halo_shared::payouts::Payouts;
use halo_shared::sessions::live::{self as live, SessionView};
use halo_shared::staffops::app_users;
use halo_shared::tokens::{Role, UserType};
use halo_shared::users::customers;
use halo_shared::users::directory::{self, CustomerItem, MitraItem, Search};
use halo_shared::users::mitras::VerificationStatus;
use halo_shared::{ApiError, AppState, ErrorCode};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::Tag;

#[derive(Default)]
pub struct UsersApi;

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Suspended,
    Deleted,
}

fn status(s: &str) -> AccountStatus {
    match s {
        "suspended" => AccountStatus::Suspended,
        "deleted" => AccountStatus::Deleted,
        _ => AccountStatus::Active,
    }
}

/// A customer in staff lists.
#[derive(Debug, Object)]
pub struct Customer {
    pub id: Uuid,
    #[oai(nullable)]
    pub phone: Option<String>,
    #[oai(nullable)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub display_name: Option<String>,
    pub is_anonymous: bool,
    pub status: AccountStatus,
    pub created_at: DateTime<Utc>,
}

impl From<CustomerItem> for Customer {
    fn from(c: CustomerItem) -> Self {
        Self {
            id: c.id,
            phone: c.phone,
            email: c.email,
            display_name: c.display_name,
            is_anonymous: c.is_anonymous,
            status: status(&c.status),
            created_at: c.created_at,
        }
    }
}

/// A mitra in staff lists.
#[derive(Debug, Object)]
pub struct Mitra {
    pub id: Uuid,
    #[oai(nullable)]
    pub phone: Option<String>,
    #[oai(nullable)]
    pub display_name: Option<String>,
    /// The name customers see: the last display name staff approved. While a renamed
    /// mitra waits in `pending`, it differs from `display_name` (the proposed name); null
    /// while the mitra is not listed.
    #[oai(nullable)]
    pub listed_name: Option<String>,
    pub status: AccountStatus,
    pub verification_status: VerificationStatus,
    pub is_online: bool,
    pub created_at: DateTime<Utc>,
}

impl From<MitraItem> for Mitra {
    fn from(m: MitraItem) -> Self {
        Self {
            id: m.id,
            phone: m.phone,
            display_name: m.display_name,
            listed_name: m.listed_name,
            status: status(&m.status),
            verification_status: m.verification_status,
            is_online: m.is_online,
            created_at: m.created_at,
        }
    }
}

/// How a customer signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Identity {
    Phone,
    Google,
    Apple,
}

/// A customer with live sessions and sign-in identities.
#[derive(Debug, Object)]
pub struct CustomerDetail {
    #[oai(flatten)]
    pub customer: Customer,
    pub sessions: Vec<SessionView>,
    pub identities: Vec<Identity>,
}

/// A mitra with live sessions, the latest edits of its services and its payouts setup.
#[derive(Debug, Object)]
pub struct MitraDetail {
    #[oai(flatten)]
    pub mitra: Mitra,
    pub sessions: Vec<SessionView>,
    /// The latest 50 changes of its services' titles, descriptions and prices, newest first.
    pub service_changes: Vec<ServiceChange>,
    // No doc comments and no `nullable` on the two options (a described or nullable
    // `$ref` becomes an `allOf` wrapper generators refuse): absent when there is none.
    pub payout_account: Option<PayoutAccountView>,
    /// Every change of the payout account, newest first (masked).
    pub payout_account_history: Vec<AccountChangeView>,
    pub payout_hold: Option<PayoutHoldView>,
}

/// A mitra as `GET /internal/mitras/{id}` shows it.
pub(super) async fn mitra_detail(state: &AppState, id: Uuid) -> Result<MitraDetail, ApiError> {
    let mitra = mitra(state, id).await?;
    let sessions = live::live(&state.db, UserType::Mitra, id).await?;
    let changes = services::recent_changes(&state.db, id, SERVICE_CHANGES_SHOWN).await?;
    let setup = Payouts::of(state).mitra_setup(id).await?;
    Ok(MitraDetail {
        mitra,
        sessions: sessions.into_iter().map(|s| s.view(None)).collect(),
        service_changes: changes.into_iter().map(ServiceChange::from).collect(),
        payout_account: setup.account,
        payout_account_history: setup.history,
        payout_hold: setup.hold,
    })
}

/// A field of a mitra's service that the mitra changed.
#[derive(Debug, Object)]
pub struct ServiceChange {
    pub service_id: Uuid,
    pub field: ServiceField,
    /// The value before, as text (price in whole rupiah).
    pub before: String,
    /// The value after, as text.
    pub after: String,
    pub changed_at: DateTime<Utc>,
}

/// Which field of a service changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ServiceField {
    Title,
    Description,
    Price,
}

impl From<services::ServiceChange> for ServiceChange {
    fn from(c: services::ServiceChange) -> Self {
        let field = match c.field.as_str() {
            "title" => ServiceField::Title,
            "description" => ServiceField::Description,
            _ => ServiceField::Price,
        };
        Self { service_id: c.service_id, field, before: c.before, after: c.after, changed_at: c.changed_at }
    }
}

/// How many service changes the mitra detail shows.
const SERVICE_CHANGES_SHOWN: i64 = 50;

#[derive(Debug, Object)]
pub struct CustomerPage {
    pub items: Vec<Customer>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
pub struct MitraPage {
    pub items: Vec<Mitra>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Why a user is suspended (kept, and shown in the audit log).
#[derive(Debug, Object)]
pub struct Suspension {
    pub reason: JsonString,
}

/// Staff's decision on a pending mitra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Debug, Object)]
pub struct VerificationDecision {
    pub decision: Decision,
    /// Shown to the mitra; up to 1000 characters.
    pub note: Option<JsonString>,
}

#[derive(ApiResponse)]
pub enum CustomerPageResponse {
    #[oai(status = 200)]
    Ok(Json<CustomerPage>),
}

#[derive(ApiResponse)]
pub enum MitraPageResponse {
    #[oai(status = 200)]
    Ok(Json<MitraPage>),
}

#[derive(ApiResponse)]
pub enum CustomerDetailResponse {
    #[oai(status = 200)]
    Ok(Json<CustomerDetail>),
}

#[derive(ApiResponse)]
pub enum MitraDetailResponse {
    #[oai(status = 200)]
    Ok(Json<MitraDetail>),
}

#[derive(ApiResponse)]
pub enum CustomerResponse {
    #[oai(status = 200)]
    Ok(Json<Customer>),
}

#[derive(ApiResponse)]
pub enum MitraResponse {
    #[oai(status = 200)]
    Ok(Json<Mitra>),
}

#[derive(ApiResponse)]
pub enum SessionEndedResponse {
    /// The session has ended on every instance.
    #[oai(status = 204)]
    Ended,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such user")
}

fn actor(req: &Request, auth: &StaffAuth) -> StaffActor {
    StaffActor::new(auth.0.sub, &client_info_of(req))
}

async fn customer(state: &AppState, id: Uuid) -> Result<Customer, ApiError> {
    Ok(directory::customer(&state.db, id).await?.ok_or_else(not_found)?.into())
}

async fn mitra(state: &AppState, id: Uuid) -> Result<Mitra, ApiError> {
    Ok(directory::mitra(&state.db, id).await?.ok_or_else(not_found)?.into())
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// Finds customers.
    ///
    /// `query` matches an id, an email, a phone in any written form (or its first
    /// digits), or the start of a name. Newest first, paged with `cursor`.
    #[oai(path = "/internal/customers", method = "get", operation_id = "ccCustomersList")]
    async fn customers(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        query: Query<Option<String>>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<CustomerPageResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let (items, next_cursor) = directory::customers(&state.db, &Search::parse(query.0.as_deref()), page).await?;
        let items = items.into_iter().map(Customer::from).collect();
        Ok(CustomerPageResponse::Ok(Json(CustomerPage { items, next_cursor })))
    }

    /// One customer, with live sessions and sign-in identities.
    ///
    /// Sessions are the live ones, newest first; identities list how the customer signs in.
    #[oai(path = "/internal/customers/:id", method = "get", operation_id = "ccCustomersGet")]
    async fn customer(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        id: Path<Uuid>,
    ) -> Result<CustomerDetailResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let customer = customer(&state, id.0).await?;
        let sessions = live::live(&state.db, UserType::Customer, id.0).await?;
        let identities = customers::identities(&state.db, id.0).await?;
        let identities = identities
            .iter()
            .filter_map(|i| match i.as_str() {
                "phone" => Some(Identity::Phone),
                "google" => Some(Identity::Google),
                "apple" => Some(Identity::Apple),
                _ => None,
            })
            .collect();
        let sessions = sessions.into_iter().map(|s| s.view(None)).collect();
        Ok(CustomerDetailResponse::Ok(Json(CustomerDetail { customer, sessions, identities })))
    }

    /// Finds mitra (same `query` rules as customers), optionally by verification status.
    ///
    /// Use `verification_status=pending` for the verification queue.
    #[oai(path = "/internal/mitras", method = "get", operation_id = "ccMitrasList")]
    async fn mitras(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        query: Query<Option<String>>,
        verification_status: Query<Option<VerificationStatus>>,
        /// 1–100, default 20.
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<MitraPageResponse, ApiErrors<{ WITH_PARAMS | BEARER }>> {
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let search = Search::parse(query.0.as_deref());
        let (items, next_cursor) = directory::mitras(&state.db, &search, verification_status.0, page).await?;
        Ok(MitraPageResponse::Ok(Json(MitraPage { items: items.into_iter().map(Mitra::from).collect(), next_cursor })))
    }

    /// One mitra, with live sessions.
    ///
    /// Includes verification status and availability.
    #[oai(path = "/internal/mitras/:id", method = "get", operation_id = "ccMitrasGet")]
    async fn mitra(
        &self,
        state: Data<&AppState>,
        _auth: StaffAuth,
        id: Path<Uuid>,
    ) -> Result<MitraDetailResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        Ok(MitraDetailResponse::Ok(Json(mitra_detail(&state, id.0).await?)))
    }

    /// Suspends a customer.
    ///
    /// Every session ends at once; sign-in and refresh answer 403 `account_suspended`
    /// until reinstated.
    #[oai(path = "/internal/customers/:id/suspend", method = "post", operation_id = "ccCustomersSuspend")]
    async fn suspend_customer(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        id: Path<Uuid>,
        body: JsonBody<Suspension>,
    ) -> Result<CustomerResponse, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        app_users::suspend(&state.db, &actor(req, &auth), UserType::Customer, id.0, &body.reason).await?;
        Ok(CustomerResponse::Ok(Json(customer(&state, id.0).await?)))
    }

    /// Lifts a customer's suspension (their old sessions stay ended).
    ///
    /// Sign-in works again; the sessions the suspension ended stay ended.
    #[oai(path = "/internal/customers/:id/reinstate", method = "post", operation_id = "ccCustomersReinstate")]
    async fn reinstate_customer(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        id: Path<Uuid>,
    ) -> Result<CustomerResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        app_users::reinstate(&state.db, &actor(req, &auth), UserType::Customer, id.0).await?;
        Ok(CustomerResponse::Ok(Json(customer(&state, id.0).await?)))
    }

    /// Suspends a mitra.
    ///
    /// As for customers, and the mitra disappears from customers' lists.
    #[oai(path = "/internal/mitras/:id/suspend", method = "post", operation_id = "ccMitrasSuspend")]
    async fn suspend_mitra(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        id: Path<Uuid>,
        body: JsonBody<Suspension>,
    ) -> Result<MitraResponse, ApiErrors<{ WITH_BODY | BEARER | E404 }>> {
        app_users::suspend(&state.db, &actor(req, &auth), UserType::Mitra, id.0, &body.reason).await?;
        Ok(MitraResponse::Ok(Json(mitra(&state, id.0).await?)))
    }

    /// Lifts a mitra's suspension.
    ///
    /// Sign-in works again and the mitra is listed again; old sessions stay ended.
    #[oai(path = "/internal/mitras/:id/reinstate", method = "post", operation_id = "ccMitrasReinstate")]
    async fn reinstate_mitra(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        id: Path<Uuid>,
    ) -> Result<MitraResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        app_users::reinstate(&state.db, &actor(req, &auth), UserType::Mitra, id.0).await?;
        Ok(MitraResponse::Ok(Json(mitra(&state, id.0).await?)))
    }

    /// Approves or rejects a pending mitra; the mitra is told by socket and push.
    ///
    /// 409 `invalid_state` unless the mitra's verification is `pending`.
    #[oai(path = "/internal/mitras/:id/verification", method = "post", operation_id = "ccMitrasDecideVerification")]
    async fn decide(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        id: Path<Uuid>,
        body: JsonBody<VerificationDecision>,
    ) -> Result<MitraResponse, ApiErrors<{ WITH_BODY | BEARER | E404 | E409 }>> {
        let approve = body.decision == Decision::Approve;
        app_users::decide_verification(
            &state.db,
            &actor(req, &auth),
            id.0,
            approve,
            body.note.as_ref().map(|s| s.as_str()),
        )
        .await?;
        Ok(MitraResponse::Ok(Json(mitra(&state, id.0).await?)))
    }

    /// Ends one session, instantly on every instance.
    ///
    /// Agents may end customers' and mitra's sessions, admins also staff sessions; 404
    /// when the session is unknown, already ended, or a staff session and the caller an
    /// agent.
    #[oai(path = "/internal/sessions/:id", method = "delete", operation_id = "ccSessionsRevoke")]
    async fn end_session(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: StaffAuth,
        id: Path<Uuid>,
    ) -> Result<SessionEndedResponse, ApiErrors<{ WITH_PARAMS | BEARER | E404 }>> {
        let role = auth.0.role.unwrap_or(Role::Agent);
        app_users::end_session(&state.db, &actor(req, &auth), role, id.0).await?;
        Ok(SessionEndedResponse::Ended)
    }
}
