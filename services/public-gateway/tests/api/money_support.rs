//! What the money tests share: a fake Xendit that records what it receives and answers
//! refunds as a test tells it to, a shop (an approved mitra with a service and a verified
//! customer), and readers of the ledger.

use std::sync::{Arc, Mutex};

use halo_shared::ledger;
use halo_shared::providers::payments::{PaymentProvider, PaymentSettings};
use halo_shared::state::GatewaySettings;
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{next_start, relaxed, send, spawn_app_with, Reply, TestApp};

pub const CALLBACK_TOKEN: &str = "money-callback-token";
/// The fixtures' service price.
pub const PRICE: i64 = halo_shared::testing::fixtures::SERVICE.1;

/// How the fake answers `POST /refunds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefundMode {
    /// 200, status PENDING: the result comes by callback.
    #[default]
    Pending,
    /// 400 `REFUND_NOT_SUPPORTED`: a channel that cannot refund.
    Rejected,
    /// 503: try again later.
    Down,
}

/// A fake Xendit over wiremock.
pub struct FakeXendit {
    pub server: MockServer,
    pub refunds: Arc<Mutex<RefundMode>>,
    pub expire_fails: Arc<Mutex<bool>>,
}

impl FakeXendit {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let refunds = Arc::new(Mutex::new(RefundMode::Pending));
        let expire_fails = Arc::new(Mutex::new(false));
        Mock::given(method("POST"))
            .and(path("/v2/invoices"))
            .respond_with(|req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let external_id = body["external_id"].as_str().unwrap();
                ResponseTemplate::new(200).set_body_json(invoice(external_id, body["amount"].as_i64().unwrap()))
            })
            .mount(&server)
            .await;
        // No earlier attempt made an invoice (a keyed create looks first).
        Mock::given(method("GET"))
            .and(path("/v2/invoices"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&server)
            .await;
        let fails = expire_fails.clone();
        Mock::given(method("POST"))
            .and(path_regex(r"^/invoices/[^/]+/expire!$"))
            .respond_with(move |_: &Request| match *fails.lock().unwrap() {
                true => ResponseTemplate::new(503),
                false => ResponseTemplate::new(200).set_body_json(json!({ "status": "EXPIRED" })),
            })
            .mount(&server)
            .await;
        let mode = refunds.clone();
        Mock::given(method("POST"))
            .and(path("/refunds"))
            .respond_with(move |req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let status = match *mode.lock().unwrap() {
                    RefundMode::Pending => "PENDING",
                    RefundMode::Rejected => {
                        return ResponseTemplate::new(400)
                            .set_body_json(json!({ "error_code": "REFUND_NOT_SUPPORTED", "message": "no" }))
                    }
                    RefundMode::Down => return ResponseTemplate::new(503),
                };
                ResponseTemplate::new(200).set_body_json(json!({
                    "id": format!("rfd-{}", body["reference_id"].as_str().unwrap()),
                    "invoice_id": body["invoice_id"], "reference_id": body["reference_id"],
                    "amount": body["amount"], "currency": "IDR", "status": status
                }))
            })
            .mount(&server)
            .await;
        Self { server, refunds, expire_fails }
    }

    pub fn refunds_answer(&self, mode: RefundMode) {
        *self.refunds.lock().unwrap() = mode;
    }

    /// The requests it received at `path` (a prefix), in order.
    pub async fn received(&self, prefix: &str) -> Vec<Request> {
        let all = self.server.received_requests().await.unwrap();
        all.into_iter().filter(|r| r.url.path().starts_with(prefix)).collect()
    }

    /// The JSON bodies of the refunds it was asked for.
    pub async fn refund_bodies(&self) -> Vec<Value> {
        self.received("/refunds").await.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
    }

    pub fn settings(&self) -> GatewaySettings {
        let mut settings = relaxed();
        settings.shared.payments = PaymentSettings {
            provider: PaymentProvider::Xendit { secret_key: "xnd_test".to_owned().into(), base_url: self.server.uri() },
            callback_token: Some(CALLBACK_TOKEN.to_owned().into()),
            invoice_duration_secs: 1800,
        };
        settings
    }
}

pub fn invoice(external_id: &str, amount: i64) -> Value {
    json!({
        "id": format!("inv-{external_id}"), "external_id": external_id, "status": "PENDING", "amount": amount,
        "invoice_url": format!("https://checkout.xendit.test/{external_id}"),
        "expiry_date": "2026-12-01T10:00:00.000Z", "currency": "IDR"
    })
}

/// An invoice callback body: `PAID` of `amount` for invoice `invoice_id` of `order`.
pub fn paid_body(order: &str, invoice_id: &str, amount: i64) -> String {
    json!({ "id": invoice_id, "external_id": order, "status": "PAID", "amount": amount, "paid_amount": amount,
            "currency": "IDR", "paid_at": "2026-12-06T10:00:00.000Z", "payment_method": "EWALLET" })
    .to_string()
}

pub fn refund_body(event: &str, refund_id: &str, xendit_id: &str, amount: i64) -> String {
    json!({ "event": event, "business_id": "biz", "created": "2026-12-06T10:00:00Z",
            "data": { "id": xendit_id, "reference_id": refund_id, "amount": amount,
                      "status": if event == "refund.succeeded" { "SUCCEEDED" } else { "FAILED" },
                      "failure_code": if event == "refund.failed" { json!("REFUND_FAILED") } else { Value::Null } } })
    .to_string()
}

/// A customer and an approved mitra with one service.
pub struct Shop {
    pub customer: String,
    pub mitra: String,
    pub service: Uuid,
}

pub async fn money_app(xendit: &FakeXendit) -> TestApp {
    spawn_app_with(xendit.settings()).await
}

impl TestApp {
    pub async fn open_shop(&self) -> Shop {
        let f = self.fixtures();
        let mitra = f.listed_mitra("Sari").await;
        let customer = f.verified_customer().await;
        Shop { customer: customer.access_token, mitra: mitra.token, service: mitra.service_id }
    }

    pub async fn place_order(&self, shop: &Shop, key: Option<&str>, note: Option<&str>) -> Reply {
        let mut req = self
            .client
            .post("/api/client/orders")
            .header("authorization", format!("Bearer {}", shop.customer))
            .body_json(&json!({ "service_id": shop.service, "note": note,
                                "starts_at": next_start(key.map(|k| format!("{}{k}", shop.customer)).as_deref()) }));
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        send(req).await
    }

    /// A new order of `shop`, unpaid; its id.
    pub async fn unpaid(&self, shop: &Shop) -> String {
        let reply = self.place_order(shop, None, None).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.str("id")
    }

    pub async fn xendit_callback(&self, kind: &str, body: &str) -> Reply {
        let req = self
            .client
            .post(format!("/api/webhooks/xendit/{kind}"))
            .header("content-type", "application/json")
            .header("x-callback-token", CALLBACK_TOKEN)
            .body(body.to_owned());
        send(req).await
    }

    /// Pays `order`'s own invoice in full.
    pub async fn pay_in_full(&self, order: &str) -> Reply {
        let reply = self.xendit_callback("invoice", &paid_body(order, &format!("inv-{order}"), PRICE)).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply
    }

    /// A paid, accepted order; its id.
    pub async fn accepted(&self, shop: &Shop) -> String {
        let id = self.unpaid(shop).await;
        self.pay_in_full(&id).await;
        let reply = self.mitra_does(shop, &id, "accept").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        id
    }

    /// A mitra's move; `complete` first lets the booked start pass (completion needs it).
    pub async fn mitra_does(&self, shop: &Shop, order: &str, step: &str) -> Reply {
        if step == "complete" {
            if let Ok(id) = order.parse() {
                self.fixtures().time_passes(id).await;
            }
        }
        self.bearer_send("POST", &format!("/api/mitra/orders/{order}/{step}"), &shop.mitra, None).await
    }

    pub async fn customer_does(&self, shop: &Shop, order: &str, step: &str, body: Option<Value>) -> Reply {
        self.bearer_send("POST", &format!("/api/client/orders/{order}/{step}"), &shop.customer, body).await
    }

    /// `(account, amount)` of every posting of `order`, in order.
    pub async fn postings(&self, order: &str) -> Vec<(String, String, i64)> {
        sqlx::query_as("SELECT kind, account, amount FROM ledger_postings WHERE order_id = $1 ORDER BY id")
            .bind(Uuid::parse_str(order).unwrap())
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }

    pub async fn balances(&self) -> ledger::read::Balances {
        ledger::read::balances(&self.db.pool).await.unwrap()
    }

    /// Asserts that ledger-check holds and cash equals the sum of the other balances.
    pub async fn ledger_holds(&self) {
        let report = ledger::check::run(&self.db.pool).await.unwrap();
        assert!(report.holds(), "ledger-check: {:?}", report.violations);
        assert_eq!(report.balances.cash, report.balances.others());
    }

    pub async fn order_row(&self, order: &str) -> (String, Option<String>, i64) {
        sqlx::query_as("SELECT status, payment_issue, refunded_amount FROM orders WHERE id = $1")
            .bind(Uuid::parse_str(order).unwrap())
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// `(id, amount, source, status)` of each refund of `order`, oldest first.
    pub async fn refund_rows(&self, order: &str) -> Vec<(Uuid, i64, String, String)> {
        sqlx::query_as("SELECT id, amount, source, status FROM refunds WHERE order_id = $1 ORDER BY created_at, id")
            .bind(Uuid::parse_str(order).unwrap())
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }

    /// Pretends the hold has passed for `order`.
    pub async fn hold_passed(&self, order: &str) {
        // A release time in the past: no API moves the clock.
        sqlx::query("UPDATE orders SET release_at = now() - interval '1 second' WHERE id = $1")
            .bind(Uuid::parse_str(order).unwrap())
            .execute(&self.db.pool)
            .await
            .unwrap();
    }

    pub fn payments(&self) -> halo_shared::payments::Payments {
        halo_shared::payments::Payments::of(&self.state)
    }
}

/// `(kind, account, amount)`, for comparing postings.
pub fn lines(expected: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    expected.iter().map(|(k, a, n)| (k.to_string(), a.to_string(), *n)).collect()
}

impl TestApp {
    /// An admin for library calls (the control center's own tests cover its routes).
    pub async fn admin(&self) -> halo_shared::audit::StaffActor {
        self.fixtures().staff_actor(halo_shared::users::staff::Role::Admin).await
    }
}
