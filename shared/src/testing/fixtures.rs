//! The one way integration tests build state: typed fixtures (a verified customer, a
//! listed mitra, a signed-in staff member, a paid order …) made the way production makes
//! them, from either service's tests.
//!
//! Each step goes through the API where the service under test serves it (phone codes
//! read from the OTP stub's log line, `PATCH /api/mitra/me`, `POST /api/mitra/services`,
//! `POST /internal/auth/login` …), and otherwise through the library's domain path that
//! the other service's route calls: the control center serves no sign-in for app users,
//! so its customers come from `auth::identity`; the gateway serves no staff decisions, so
//! its mitra are approved by `staffops::app_users::decide_verification`, audited, with a
//! staff actor made by `users::staff::create`.
//!
//! Raw SQL in a test is for a state no API can make (a timestamp in the past, a
//! sabotaged table); each such statement says why in a comment.

use std::sync::atomic::{AtomicU32, Ordering};

use poem::http::StatusCode;
use poem::test::TestClient;
use poem::Endpoint;
use secrecy::ExposeSecret;
use serde_json::json;
use uuid::Uuid;

use super::{capture_logs, send, Reply};
use crate::audit::StaffActor;
use crate::auth::identity::{self, CustomerIdentity};
use crate::auth::issue::Issued;
use crate::http::ClientInfo;
use crate::marketplace::orders::{self, NewOrder};
use crate::marketplace::services::{self, ServiceInput};
use crate::notifications::devices::{self, Platform};
use crate::payments::callbacks::CallbackOutcome;
use crate::payments::Payments;
use crate::phone::Phone;
use crate::staffops::app_users;
use crate::state::Service;
use crate::tokens::{Claims, UserType};
use crate::users::staff::{self, Role};
use crate::users::{mitras, profile};
use crate::{marketplace, AppState};

/// The password of every staff member a fixture makes.
pub const STAFF_PASSWORD: &str = "correct horse battery";
/// The display name of every staff member a fixture makes.
pub const STAFF_NAME: &str = "Staff Member";
/// The user agent app users' fixture sessions are signed in from.
pub const USER_AGENT: &str = "HaloClient/1.0";
/// The client address app users' fixture sessions are signed in from.
pub const CLIENT_IP: &str = "203.0.113.5";
/// The one service a listed mitra offers: its title, price (rupiah) and minutes.
pub const SERVICE: (&str, i64, i32) = ("Pijat 60 menit", 150_000, 60);

/// A start for an order of a mitra open around the clock ([`Fixtures::open_all_week`]),
/// bookable with the default lead and horizon and never overlapping another fixture
/// start of a service up to two hours: two-hourly from the local midnight after
/// tomorrow's (tomorrow's is within the lead during the last hour of a Jakarta day), a
/// new one per call, the same one again for the same `key` (a retry with an idempotency
/// key must send the same body; pass the customer's token with the key, since another
/// customer's same key is another order).
pub fn next_start(key: Option<&str>) -> chrono::DateTime<chrono::Utc> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static KEYED: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    let index = match key {
        Some(key) => {
            let mut keyed = KEYED.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
            *keyed.entry(key.to_owned()).or_insert_with(|| NEXT.fetch_add(1, Ordering::Relaxed))
        }
        None => NEXT.fetch_add(1, Ordering::Relaxed),
    };
    let jakarta = marketplace::schedule::jakarta();
    let first = chrono::Utc::now().with_timezone(&jakarta).date_naive() + chrono::Duration::days(2);
    let midnight = first.and_hms_opt(0, 0, 0).expect("midnight").and_local_timezone(jakarta).single();
    let midnight = midnight.expect("a fixed offset has one midnight").with_timezone(&chrono::Utc);
    midnight + chrono::Duration::hours(2 * i64::from(index % 300))
}

/// A customer with a live session.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: Uuid,
    /// The E.164 phone it signed in with; `None` for an anonymous customer.
    pub phone: Option<String>,
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: Uuid,
}

/// A mitra with a display name and a live session.
#[derive(Debug, Clone)]
pub struct Mitra {
    pub id: Uuid,
    /// The E.164 phone it signed in with.
    pub phone: String,
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: Uuid,
}

/// A mitra customers can find and order from: approved by staff, with one active
/// [`SERVICE`].
#[derive(Debug, Clone)]
pub struct ListedMitra {
    pub id: Uuid,
    /// Its access token.
    pub token: String,
    pub service_id: Uuid,
}

/// A staff member signed in to the control center.
#[derive(Debug, Clone)]
pub struct StaffMember {
    pub id: Uuid,
    pub email: String,
    pub access_token: String,
}

/// Phones are unique within a test process (so within every test's database).
static NEXT_PHONE: AtomicU32 = AtomicU32::new(0);

/// A phone number no fixture has used yet, in E.164 (`+628127…`).
pub fn fresh_phone() -> String {
    format!("+628127{:06}", NEXT_PHONE.fetch_add(1, Ordering::Relaxed))
}

/// The code in the OTP stub's `[OTP STUB] phone=… code=…` log line.
pub fn stub_code(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|line| {
        let line: serde_json::Value = serde_json::from_str(line).ok()?;
        let message = line["message"].as_str()?;
        let code = message.strip_prefix("[OTP STUB] ")?.split(" code=").nth(1)?;
        Some(code.to_owned())
    })
}

/// The fixture builder over one running service: its state and an in-process client of
/// its routes (log capture, and so the OTP stub's code, needs the request in-process).
pub struct Fixtures<'a, E> {
    state: &'a AppState,
    client: &'a TestClient<E>,
}

impl<'a, E: Endpoint> Fixtures<'a, E> {
    pub fn new(state: &'a AppState, client: &'a TestClient<E>) -> Self {
        Self { state, client }
    }

    /// Whether the service under test is the gateway, which serves the app users' API.
    fn is_gateway(&self) -> bool {
        matches!(self.state.service, Service::Gateway(_))
    }

    fn claims(&self, access_token: &str) -> Claims {
        self.state.keys.verify(access_token, chrono::Utc::now().timestamp()).expect("a fixture's access token verifies")
    }

    /// The client app users' fixture sessions come from, for the domain paths.
    fn client_info() -> ClientInfo {
        ClientInfo {
            ip: Some(CLIENT_IP.parse().expect("an address")),
            user_agent: Some(USER_AGENT.to_owned()),
            ..ClientInfo::default()
        }
    }

    async fn bearer(&self, method: &str, path: &str, token: &str, body: serde_json::Value) -> Reply {
        let req = match method {
            "POST" => self.client.post(path),
            "PUT" => self.client.put(path),
            "PATCH" => self.client.patch(path),
            other => panic!("no fixture sends {other}"),
        };
        send(req.header("authorization", format!("Bearer {token}")).body_json(&body)).await
    }

    // --- Customers -------------------------------------------------------------------

    /// A new anonymous customer (`POST /api/shared/auth/anonymous`; the gateway only).
    pub async fn anonymous_customer(&self) -> Customer {
        assert!(self.is_gateway(), "only the gateway signs customers in anonymously");
        let reply = send(
            self.client
                .post("/api/shared/auth/anonymous")
                .header("x-forwarded-for", "198.51.100.1")
                .body_json(&json!({})),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "anonymous sign-in: {}", reply.body);
        let (access_token, refresh_token) = (reply.str("access_token"), reply.str("refresh_token"));
        let claims = self.claims(&access_token);
        Customer { id: claims.sub, phone: None, access_token, refresh_token, session_id: claims.session_id }
    }

    /// A customer signed in by a phone no fixture has used.
    pub async fn verified_customer(&self) -> Customer {
        self.customer_with_phone(&fresh_phone()).await
    }

    /// The customer owning `phone` (created on first sign-in), signed in by that phone:
    /// the OTP request and verify on the gateway, `auth::identity::sign_in_customer`
    /// elsewhere.
    pub async fn customer_with_phone(&self, phone: &str) -> Customer {
        let phone = Phone::parse(phone).expect("a fixture phone is valid");
        let (access_token, refresh_token) = if self.is_gateway() {
            self.signed_in_by_phone("client", phone.as_str()).await
        } else {
            let issued =
                identity::sign_in_customer(self.state, CustomerIdentity::Phone(&phone), None, &Self::client_info())
                    .await
                    .expect("the customer signs in");
            (issued.access_token, issued.refresh_token)
        };
        let claims = self.claims(&access_token);
        let phone = Some(phone.as_str().to_owned());
        Customer { id: claims.sub, phone, access_token, refresh_token, session_id: claims.session_id }
    }

    /// Sets the customer's display name: `PATCH /api/client/me` on the gateway,
    /// `users::profile::rename_customer` elsewhere.
    pub async fn name_customer(&self, customer: &Customer, name: &str) {
        if self.is_gateway() {
            let reply =
                self.bearer("PATCH", "/api/client/me", &customer.access_token, json!({ "display_name": name })).await;
            assert_eq!(reply.status, StatusCode::OK, "renaming the customer: {}", reply.body);
        } else {
            profile::rename_customer(&self.state.db, customer.id, name).await.expect("the customer is renamed");
        }
    }

    // --- Mitra -----------------------------------------------------------------------

    /// A mitra named `name`, signed in by a phone no fixture has used, not yet submitted
    /// for verification.
    pub async fn mitra(&self, name: &str) -> Mitra {
        self.mitra_with_phone(&fresh_phone(), name).await
    }

    /// The mitra owning `phone`, signed in by it and named `name`: the OTP request and
    /// verify and `PATCH /api/mitra/me` on the gateway, `auth::identity::sign_in_mitra`
    /// and `users::mitras::edit` elsewhere.
    pub async fn mitra_with_phone(&self, phone: &str, name: &str) -> Mitra {
        let phone = Phone::parse(phone).expect("a fixture phone is valid");
        let (access_token, refresh_token) = if self.is_gateway() {
            let (access, refresh) = self.signed_in_by_phone("mitra", phone.as_str()).await;
            let named = self.bearer("PATCH", "/api/mitra/me", &access, json!({ "display_name": name })).await;
            assert_eq!(named.status, StatusCode::OK, "naming the mitra: {}", named.body);
            (access, refresh)
        } else {
            let Issued { access_token, refresh_token, account, .. } =
                identity::sign_in_mitra(self.state, &phone, &Self::client_info()).await.expect("the mitra signs in");
            mitras::edit(&self.state.db, account.id, Some(name), None).await.expect("the mitra is named");
            (access_token, refresh_token)
        };
        let claims = self.claims(&access_token);
        let phone = phone.as_str().to_owned();
        Mitra { id: claims.sub, phone, access_token, refresh_token, session_id: claims.session_id }
    }

    /// A mitra named `name` waiting for staff's decision: `POST /api/mitra/verification`
    /// on the gateway, `marketplace::profile::submit_for_verification` elsewhere.
    pub async fn pending_mitra(&self, name: &str) -> Mitra {
        let mitra = self.mitra(name).await;
        if self.is_gateway() {
            let reply = self.bearer("POST", "/api/mitra/verification", &mitra.access_token, json!({})).await;
            assert_eq!(reply.status, StatusCode::OK, "submitting for verification: {}", reply.body);
        } else {
            marketplace::profile::submit_for_verification(&self.state.db, mitra.id).await.expect("submitted");
        }
        mitra
    }

    /// A mitra named `name` that customers see: submitted, given one active
    /// [`SERVICE`], bookable around the clock ([`Self::open_all_week`]) and approved by
    /// staff.
    pub async fn listed_mitra(&self, name: &str) -> ListedMitra {
        let mitra = self.pending_mitra(name).await;
        let service_id = self.service(&mitra).await;
        self.open_all_week(&mitra).await;
        self.decide_verification(mitra.id, true).await;
        ListedMitra { id: mitra.id, token: mitra.access_token, service_id }
    }

    /// Adds a [`SERVICE`] to the mitra's offer: `POST /api/mitra/services` on the
    /// gateway, `marketplace::services::create` elsewhere.
    pub async fn service(&self, mitra: &Mitra) -> Uuid {
        let (title, price, duration_minutes) = SERVICE;
        if self.is_gateway() {
            let body = json!({ "title": title, "price": price, "duration_minutes": duration_minutes });
            let reply = self.bearer("POST", "/api/mitra/services", &mitra.access_token, body).await;
            assert_eq!(reply.status, StatusCode::CREATED, "adding a service: {}", reply.body);
            reply.str("id").parse().expect("a service id")
        } else {
            let input = ServiceInput {
                title: Some(title),
                price: Some(price),
                duration_minutes: Some(duration_minutes),
                ..ServiceInput::default()
            };
            services::create(&self.state.db, mitra.id, &input).await.expect("the service is created").id
        }
    }

    /// Gives the mitra a schedule of 00:00–24:00 every day: `PUT /api/mitra/schedule` on
    /// the gateway, `marketplace::schedule::put` elsewhere.
    pub async fn open_all_week(&self, mitra: &Mitra) {
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let weekly: Vec<serde_json::Value> =
            days.iter().map(|day| json!({ "day": day, "start": "00:00", "end": "24:00" })).collect();
        if self.is_gateway() {
            let body = json!({ "weekly": weekly, "closed_dates": [] });
            let reply = self.bearer("PUT", "/api/mitra/schedule", &mitra.access_token, body).await;
            assert_eq!(reply.status, StatusCode::OK, "setting the schedule: {}", reply.body);
        } else {
            let weekly: Vec<marketplace::schedule::WeeklyHours> =
                serde_json::from_value(serde_json::Value::Array(weekly)).expect("weekly hours");
            let step = self.state.settings().booking.slot_step_minutes;
            marketplace::schedule::put(&self.state.db, mitra.id, &weekly, &[], step)
                .await
                .expect("the schedule is set");
        }
    }

    /// Staff's decision on a pending mitra, as the control center records it: audited,
    /// and the mitra told (`staffops::app_users::decide_verification`).
    pub async fn decide_verification(&self, mitra_id: Uuid, approve: bool) {
        let actor = self.staff_actor(Role::Agent).await;
        app_users::decide_verification(&self.state.db, &actor, mitra_id, approve, None)
            .await
            .expect("staff decide the verification");
    }

    // --- What staff do to app users --------------------------------------------------

    /// Suspends a customer or mitra as staff do (`staffops::app_users::suspend`): audited,
    /// and every session of theirs ended.
    pub async fn suspend(&self, user_type: UserType, id: Uuid) {
        let actor = self.staff_actor(Role::Agent).await;
        app_users::suspend(&self.state.db, &actor, user_type, id, "suspended by a test fixture")
            .await
            .expect("staff suspend the user");
    }

    // --- Devices ---------------------------------------------------------------------

    /// Registers an Android push device for the session of `access_token`:
    /// `PUT /api/shared/devices` on the gateway, `notifications::devices::register`
    /// elsewhere.
    pub async fn device(&self, access_token: &str, fcm_token: &str) {
        if self.is_gateway() {
            let body = json!({ "fcm_token": fcm_token, "platform": "android" });
            let reply = self.bearer("PUT", "/api/shared/devices", access_token, body).await;
            assert_eq!(reply.status, StatusCode::NO_CONTENT, "registering the device: {}", reply.body);
        } else {
            let claims = self.claims(access_token);
            devices::register(self.state, &claims, fcm_token, Platform::Android).await.expect("the device registers");
        }
    }

    // --- Orders ----------------------------------------------------------------------

    /// An order of `customer`'s for `service_id`, waiting for payment:
    /// `POST /api/client/orders` on the gateway, `Payments::checkout` elsewhere.
    pub async fn order(&self, customer: &Customer, service_id: Uuid) -> Uuid {
        let starts_at = next_start(None);
        if self.is_gateway() {
            let body = json!({ "service_id": service_id, "starts_at": starts_at });
            let reply = self.bearer("POST", "/api/client/orders", &customer.access_token, body).await;
            assert_eq!(reply.status, StatusCode::CREATED, "placing the order: {}", reply.body);
            reply.str("id").parse().expect("an order id")
        } else {
            let money = self.state.settings().money;
            let new = NewOrder {
                service_id,
                note: None,
                idempotency_key: None,
                commission_bps: money.commission_bps,
                max_pending: money.max_pending_orders_per_customer,
                starts_at,
                address: None,
                booking: self.state.settings().booking,
            };
            let (order, _) = Payments::of(self.state).checkout(customer.id, &new).await.expect("the order is placed");
            order.id
        }
    }

    /// Lets an order's start pass (raw SQL: no API waits for a start): its booked time
    /// moves 40 days back, past every fixture start, keeping fixture orders apart.
    pub async fn time_passes(&self, order_id: Uuid) {
        sqlx::query(
            "UPDATE orders SET starts_at = starts_at - interval '40 days', ends_at = ends_at - interval '40 days'
             WHERE id = $1 AND starts_at IS NOT NULL",
        )
        .bind(order_id)
        .execute(&self.state.db)
        .await
        .expect("moving the start back");
    }

    /// Pays an order's own invoice in full as the provider's paid callback does,
    /// authenticated with the callback token the payment client checks (the configured one
    /// for Xendit, `testing::CALLBACK_TOKEN`; the stub's own otherwise):
    /// `POST /api/webhooks/xendit/invoice` on the gateway, `Payments::invoice_callback`
    /// elsewhere. Returns the callback's body, as stored.
    pub async fn pay(&self, order_id: Uuid) -> String {
        self.pay_with(order_id, json!({})).await
    }

    /// [`Self::pay`] with more fields in the callback's body (the payer's details Xendit
    /// sends, say).
    pub async fn pay_with(&self, order_id: Uuid, extra: serde_json::Value) -> String {
        let order = orders::get_any(&self.state.db, order_id).await.expect("reading the order").expect("the order");
        let payment = crate::payments::records::payment_state(&self.state.db, order_id).await.expect("reading it");
        let invoice = payment.and_then(|p| p.invoice_id).expect("the order's invoice");
        let mut body = json!({ "id": invoice, "external_id": order_id, "status": "PAID", "currency": "IDR",
                               "amount": order.amount, "paid_amount": order.amount });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let body = body.to_string();
        let token = &self.state.payments.callback_token;
        if self.is_gateway() {
            let reply = send(
                self.client
                    .post("/api/webhooks/xendit/invoice")
                    .header("content-type", "application/json")
                    .header("x-callback-token", token.expose_secret())
                    .body(body.clone()),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "the paid callback: {}", reply.body);
        } else {
            let outcome = Payments::of(self.state)
                .invoice_callback(Some(token.expose_secret()), body.as_bytes())
                .await
                .expect("the paid callback is accepted");
            assert_eq!(outcome, CallbackOutcome::Changed, "the callback paid the order");
        }
        body
    }

    // --- Staff -----------------------------------------------------------------------

    /// A staff account (`users::staff::create`, what `create-cc-user` runs) named
    /// [`STAFF_NAME`] with [`STAFF_PASSWORD`]; returns its id.
    pub async fn staff_account(&self, email: &str, role: Role) -> Uuid {
        staff::create(&self.state.db, email, role, Some(STAFF_NAME), STAFF_PASSWORD, 4)
            .await
            .expect("the staff account is created")
    }

    /// A new staff account as the actor of an audited library call (any service).
    pub async fn staff_actor(&self, role: Role) -> StaffActor {
        let email = format!("{}-{}@halobestie.test", role.as_str(), Uuid::new_v4().simple());
        StaffActor { id: self.staff_account(&email, role).await, ip: None }
    }

    /// A new staff member in `role`, signed in to the control center.
    pub async fn staff(&self, role: Role) -> StaffMember {
        let email = format!("{}-{}@halobestie.test", role.as_str(), Uuid::new_v4().simple());
        self.staff_with_email(&email, role).await
    }

    /// A staff member with `email` in `role`, signed in through `POST /internal/auth/login`
    /// (the control center only).
    pub async fn staff_with_email(&self, email: &str, role: Role) -> StaffMember {
        assert!(!self.is_gateway(), "only the control center signs staff in");
        let id = self.staff_account(email, role).await;
        let reply = send(
            self.client
                .post("/internal/auth/login")
                .header("x-forwarded-for", "10.9.8.7")
                .body_json(&json!({ "email": email, "password": STAFF_PASSWORD })),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "staff login: {}", reply.body);
        StaffMember { id, email: staff::normalize_email(email), access_token: reply.str("access_token") }
    }

    // --- Phone sign-in through the gateway ---------------------------------------------

    /// Asks for a code for `phone` in `app` (`client` or `mitra`), reads it from the
    /// stub's log line and verifies it; returns the access and refresh tokens.
    async fn signed_in_by_phone(&self, app: &str, phone: &str) -> (String, String) {
        let (guard, logs) = capture_logs();
        let requested = send(
            self.client
                .post(format!("/api/{app}/auth/otp/request"))
                .header("x-forwarded-for", CLIENT_IP)
                .body_json(&json!({ "phone": phone })),
        )
        .await;
        drop(guard);
        assert_eq!(requested.status, StatusCode::ACCEPTED, "asking for a code: {}", requested.body);
        let code = stub_code(&logs.lines()).expect("the OTP stub logged the code");
        let verified = send(
            self.client
                .post(format!("/api/{app}/auth/otp/verify"))
                .header("user-agent", USER_AGENT)
                .header("x-forwarded-for", CLIENT_IP)
                .body_json(&json!({ "phone": phone, "code": code })),
        )
        .await;
        assert_eq!(verified.status, StatusCode::OK, "verifying the code: {}", verified.body);
        (verified.str("access_token"), verified.str("refresh_token"))
    }
}
