//! What the payout tests share: Xendit's Payouts v2 faked on the money tests' fake Xendit
//! (it records every request; payouts are kept by idempotency key, so the same key gets
//! the first payout back, as Xendit does), mitra with money and a payout account, and
//! readers of the payout rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use halo_shared::ledger::{self, About, Account, Entry};
use halo_shared::payouts::run::RunReport;
use halo_shared::payouts::Payouts;
use halo_shared::testing::fixtures::Mitra;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, Request, ResponseTemplate};

pub use crate::money_support::*;

/// How the fake answers `POST /v2/payouts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateMode {
    /// 200 `ACCEPTED` (the first payout again for a key it has seen).
    Accept,
    /// 400 with this `error_code`.
    Reject(String),
    /// This status with this `error_code`, nothing made.
    Fail(u16, String),
    /// Takes longer than the client waits, but makes the payout.
    SlowButMade,
    /// Takes longer than the client waits, and makes nothing.
    SlowNothing,
}

/// A payout the fake holds.
#[derive(Debug, Clone)]
pub struct Held {
    pub id: String,
    pub reference_id: String,
    pub amount: i64,
    pub status: String,
}

impl Held {
    fn json(&self) -> Value {
        json!({ "id": self.id, "reference_id": self.reference_id, "status": self.status, "amount": self.amount,
                "channel_code": "ID_BCA", "currency": "IDR", "estimated_arrival_time": "2026-12-08T10:00:00Z",
                "business_id": "biz" })
    }
}

pub struct FakePayouts {
    pub mode: Arc<Mutex<CreateMode>>,
    /// Payouts made, by idempotency key.
    pub made: Arc<Mutex<HashMap<String, Held>>>,
}

/// The fake's channels: a bank with a 1,000 increment and a 5,000,000 maximum.
pub fn channels() -> Value {
    json!([
        { "channel_code": "ID_BCA", "channel_category": "BANK", "currency": "IDR", "channel_name": "Bank Central Asia",
          "amount_limits": { "minimum": 10000, "maximum": 5000000, "minimum_increment": 1000 } },
        { "channel_code": "ID_BRI", "channel_category": "BANK", "currency": "IDR", "channel_name": "Bank BRI",
          "amount_limits": { "minimum": 60000, "maximum": 100000000, "minimum_increment": 1 } },
        { "channel_code": "ID_DANA", "channel_category": "EWALLET", "currency": "IDR", "channel_name": "DANA",
          "amount_limits": { "minimum": 10000, "maximum": 20000000, "minimum_increment": 1 } },
        { "channel_code": "ID_CARD", "channel_category": "CARD", "currency": "IDR", "channel_name": "A card",
          "amount_limits": { "minimum": 1, "maximum": 2, "minimum_increment": 1 } }
    ])
}

impl FakePayouts {
    pub async fn mount(xendit: &FakeXendit) -> Self {
        let mode = Arc::new(Mutex::new(CreateMode::Accept));
        let made: Arc<Mutex<HashMap<String, Held>>> = Arc::default();
        let (m, held) = (mode.clone(), made.clone());
        Mock::given(method("POST"))
            .and(path("/v2/payouts"))
            .respond_with(move |req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let key = req.headers.get("idempotency-key").unwrap().to_str().unwrap().to_owned();
                let mode = m.lock().unwrap().clone();
                let make = || {
                    let mut made = held.lock().unwrap();
                    made.entry(key.clone())
                        .or_insert_with(|| Held {
                            id: format!("disb-{key}"),
                            reference_id: body["reference_id"].as_str().unwrap().to_owned(),
                            amount: body["amount"].as_i64().unwrap(),
                            status: "ACCEPTED".into(),
                        })
                        .json()
                };
                match mode {
                    CreateMode::Accept => ResponseTemplate::new(200).set_body_json(make()),
                    CreateMode::Reject(code) => {
                        ResponseTemplate::new(400).set_body_json(json!({ "error_code": code, "message": "no" }))
                    }
                    CreateMode::Fail(status, code) => {
                        ResponseTemplate::new(status).set_body_json(json!({ "error_code": code, "message": "later" }))
                    }
                    CreateMode::SlowButMade => {
                        ResponseTemplate::new(200).set_body_json(make()).set_delay(Duration::from_secs(6))
                    }
                    CreateMode::SlowNothing => ResponseTemplate::new(504).set_delay(Duration::from_secs(6)),
                }
            })
            .mount(&xendit.server)
            .await;
        let held = made.clone();
        Mock::given(method("GET"))
            .and(path("/v2/payouts"))
            .respond_with(move |req: &Request| {
                let reference = req.url.query_pairs().find(|(k, _)| k == "reference_id").unwrap().1.into_owned();
                let made = held.lock().unwrap();
                let found: Vec<Value> = made.values().filter(|p| p.reference_id == reference).map(Held::json).collect();
                ResponseTemplate::new(200).set_body_json(json!({ "data": found, "has_more": false }))
            })
            .mount(&xendit.server)
            .await;
        let held = made.clone();
        Mock::given(method("GET"))
            .and(path_regex(r"^/v2/payouts/[^/]+$"))
            .respond_with(move |req: &Request| {
                let id = req.url.path().rsplit('/').next().unwrap().to_owned();
                let made = held.lock().unwrap();
                match made.values().find(|p| p.id == id) {
                    Some(p) => ResponseTemplate::new(200).set_body_json(p.json()),
                    None => ResponseTemplate::new(404).set_body_json(json!({ "error_code": "DATA_NOT_FOUND" })),
                }
            })
            .mount(&xendit.server)
            .await;
        let held = made.clone();
        Mock::given(method("POST"))
            .and(path_regex(r"^/v2/payouts/[^/]+/cancel$"))
            .respond_with(move |req: &Request| {
                let id = req.url.path().split('/').nth(3).unwrap().to_owned();
                let mut made = held.lock().unwrap();
                match made.values_mut().find(|p| p.id == id) {
                    Some(p) => {
                        p.status = "CANCELLED".into();
                        ResponseTemplate::new(200).set_body_json(p.json())
                    }
                    None => ResponseTemplate::new(404),
                }
            })
            .mount(&xendit.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/payouts_channels"))
            .respond_with(ResponseTemplate::new(200).set_body_json(channels()))
            .mount(&xendit.server)
            .await;
        Self { mode, made }
    }

    pub fn answer(&self, mode: CreateMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Sets the status Xendit holds for payout `reference_id`.
    pub fn set_status(&self, reference_id: Uuid, status: &str) {
        let mut made = self.made.lock().unwrap();
        let held = made.values_mut().find(|p| p.reference_id == reference_id.to_string()).unwrap();
        held.status = status.into();
    }

    /// How many distinct payouts the fake made (one per idempotency key).
    pub fn made_count(&self) -> usize {
        self.made.lock().unwrap().len()
    }

    pub fn made_total(&self) -> i64 {
        self.made.lock().unwrap().values().map(|p| p.amount).sum()
    }
}

pub struct PayoutWorld {
    pub xendit: FakeXendit,
    pub payouts: FakePayouts,
    pub app: crate::helpers::TestApp,
}

pub async fn payout_world() -> PayoutWorld {
    let xendit = FakeXendit::start().await;
    let payouts = FakePayouts::mount(&xendit).await;
    let app = money_app(&xendit).await;
    PayoutWorld { xendit, payouts, app }
}

impl crate::helpers::TestApp {
    pub fn payouts(&self) -> Payouts {
        Payouts::of(&self.state)
    }

    pub async fn run_payouts(&self) -> RunReport {
        self.payouts().run().await.unwrap()
    }

    /// Gives the mitra `amount` of available money (as released earnings would; cash on
    /// the other side, so the ledger holds).
    pub async fn give_available(&self, mitra: Uuid, amount: i64) {
        let mut conn = self.db.pool.acquire().await.unwrap();
        let reference = format!("test:{}", Uuid::new_v4());
        let about = About { mitra_id: Some(mitra), ..About::default() };
        let legs = vec![(Account::Cash, -amount), (Account::MitraAvailable(mitra), amount)];
        let entry = Entry { reference: &reference, kind: "released", about, legs };
        assert!(ledger::post(&mut conn, &entry).await.unwrap());
    }

    /// A payout account for the mitra, its cooldown already over (`PUT` is tested on its own).
    pub async fn give_account(&self, mitra: Uuid, channel: &str, number: &str) {
        sqlx::query(
            "INSERT INTO payout_accounts (mitra_id, channel_code, channel_name, category, account_number,
                                          account_holder_name, payouts_allowed_from)
             VALUES ($1, $2, $2, 'BANK', $3, 'Sari Dewi', now() - interval '1 hour')",
        )
        .bind(mitra)
        .bind(channel)
        .bind(number)
        .execute(&self.db.pool)
        .await
        .unwrap();
    }

    /// A mitra with `available` money and an account at ID_BCA past its cooldown.
    pub async fn payable_mitra(&self, available: i64) -> Mitra {
        let mitra = self.fixtures().mitra("Sari").await;
        self.give_account(mitra.id, "ID_BCA", "1234567890").await;
        self.give_available(mitra.id, available).await;
        mitra
    }

    pub async fn mitra_balances(&self, mitra: Uuid) -> ledger::read::MitraBalances {
        ledger::read::mitra_balances(&self.db.pool, mitra).await.unwrap()
    }

    /// `(id, status, amount, attempts)` of the mitra's payouts, oldest first.
    pub async fn payout_rows(&self, mitra: Uuid) -> Vec<(Uuid, String, i64, i32)> {
        sqlx::query_as("SELECT id, status, amount, attempts FROM payouts WHERE mitra_id = $1 ORDER BY created_at, id")
            .bind(mitra)
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }

    pub async fn account_status(&self, mitra: Uuid) -> String {
        sqlx::query_scalar("SELECT status FROM payout_accounts WHERE mitra_id = $1")
            .bind(mitra)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// `(kind, account, amount)` of every posting of `payout`, in order.
    pub async fn payout_postings(&self, payout: Uuid) -> Vec<(String, String, i64)> {
        sqlx::query_as("SELECT kind, account, amount FROM ledger_postings WHERE payout_id = $1 ORDER BY id")
            .bind(payout)
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

/// A payout callback body.
pub fn payout_body(event: &str, payout: Uuid, status: &str, amount: i64, failure: Option<&str>) -> String {
    json!({ "event": event, "business_id": "biz", "created": "2026-12-07T10:00:00Z",
            "data": { "id": format!("disb-{payout}"), "reference_id": payout.to_string(), "status": status,
                      "amount": amount, "channel_code": "ID_BCA", "failure_code": failure,
                      "estimated_arrival_time": "2026-12-08T10:00:00Z" } })
    .to_string()
}

impl crate::helpers::TestApp {
    /// The `data` of every `payout.updated` event the mitra was sent, oldest first.
    pub async fn payout_events(&self, mitra: Uuid) -> Vec<Value> {
        sqlx::query_scalar("SELECT data FROM user_events WHERE user_id = $1 AND type = 'payout.updated' ORDER BY id")
            .bind(mitra)
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }

    /// `(payout_id, outcome)` of every payout callback stored, in order.
    pub async fn payout_callbacks(&self) -> Vec<(Option<Uuid>, String)> {
        sqlx::query_as("SELECT payout_id, outcome FROM payout_callbacks ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }

    /// A mitra paid by a run (its payout `accepted`); `(mitra, payout id)`.
    pub async fn paid_out(&self, amount: i64) -> (Mitra, Uuid) {
        let mitra = self.payable_mitra(amount).await;
        self.run_payouts().await;
        let id = self.payout_rows(mitra.id).await[0].0;
        (mitra, id)
    }
}
