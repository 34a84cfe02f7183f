//! The control center's money (contract §11): the ledger's balances, a mitra's earnings,
//! an admin's partial refund and dispute resolution, each through its route.

use halo_shared::marketplace::orders::{Actor, OrderStatus};
use halo_shared::payments::Payments;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};

const PRICE: i64 = halo_shared::testing::fixtures::SERVICE.1;

impl TestApp {
    /// A paid order of a new customer with a listed mitra, moved on to `to` (accepted or
    /// completed) by the mitra: its id and the mitra's.
    async fn paid_order(&self, to: &[OrderStatus]) -> (Uuid, Uuid) {
        let f = self.fixtures();
        let mitra = f.listed_mitra("Sari").await;
        let customer = f.verified_customer().await;
        let order = f.order(&customer, mitra.service_id).await;
        f.pay(order).await;
        for step in to {
            if *step == OrderStatus::Completed {
                f.time_passes(order).await;
            }
            Payments::of(&self.state).move_order(order, *step, Actor::Mitra(mitra.id)).await.unwrap();
        }
        (order, mitra.id)
    }
}

#[tokio::test]
async fn admins_read_the_ledgers_balances_and_agents_read_a_mitras_earnings() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let admin = app.fixtures().staff(Role::Admin).await.access_token;
    let (_, mitra) = app.paid_order(&[OrderStatus::Accepted, OrderStatus::Completed]).await;
    app.paid_order(&[]).await;

    let balances = app.as_staff("GET", "/internal/ledger/balances", &admin, None).await;
    let by_agent = app.as_staff("GET", "/internal/ledger/balances", &agent, None).await;
    let earnings = app.as_staff("GET", &format!("/internal/mitras/{mitra}/earnings"), &agent, None).await;

    assert_eq!(balances.status, StatusCode::OK, "{}", balances.body);
    assert_eq!(
        balances.body,
        json!({ "currency": "IDR", "cash": 2 * PRICE, "escrow": PRICE, "commission": 30_000, "unmatched": 0,
                "refunds_in_flight": 0, "mitra_pending": 120_000, "mitra_available": 0, "mitra_in_payout": 0 })
    );
    assert_eq!((by_agent.status, by_agent.error_code()), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(earnings.status, StatusCode::OK, "{}", earnings.body);
    assert_eq!((&earnings.body["pending"], &earnings.body["available"]), (&json!(120_000), &json!(0)));
    assert!(earnings.body["next_release_at"].is_string());
}

#[tokio::test]
async fn an_admin_refunds_part_of_a_completed_order_and_staff_see_where_the_money_went() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let admin = app.fixtures().staff(Role::Admin).await.access_token;
    let (order, _) = app.paid_order(&[OrderStatus::Accepted, OrderStatus::Completed]).await;
    let path = format!("/internal/orders/{order}/refund");

    let too_much = app.as_staff("POST", &path, &admin, Some(json!({ "reason": "x", "amount": PRICE + 1 }))).await;
    let partial =
        app.as_staff("POST", &path, &admin, Some(json!({ "reason": "late by an hour", "amount": 50_000 }))).await;
    let detail = app.as_staff("GET", &format!("/internal/orders/{order}"), &agent, None).await;

    assert_eq!((too_much.status, too_much.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert_eq!(partial.status, StatusCode::OK, "{}", partial.body);
    assert_eq!((&partial.body["status"], &partial.body["refunded_amount"]), (&json!("completed"), &json!(50_000)));
    assert_eq!(partial.body["refunds"][0]["status"], "succeeded", "the stub refunds at once");
    assert_eq!(
        (&detail.body["commission"], &detail.body["mitra_earnings"]),
        (&json!(20_000), &json!(80_000)),
        "floor(50 000 × 2000 / 10000) came back from the commission, the rest from the mitra"
    );
    let accounts: Vec<(String, String, i64)> = detail.body["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (l["kind"].as_str().unwrap().into(), l["account"].as_str().unwrap().into(), l["amount"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(accounts.len(), 2 + 3 + 3 + 2, "paid, completed, the refund asked, the refund succeeded");
    assert_eq!(
        accounts[5..8],
        [
            ("refund".into(), "refunds_in_flight".into(), 50_000),
            ("refund".into(), "commission".into(), -10_000),
            ("refund".into(), "mitra_pending".into(), -40_000),
        ]
    );
    let audit: Value = sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'order.refund'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        (&audit["amount"], &audit["source"], &audit["reason"]),
        (&json!(50_000), &json!("order"), &json!("late by an hour"))
    );
}

#[tokio::test]
async fn an_admin_resolves_a_dispute_by_refund_and_the_resolution_is_audited() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let admin = app.fixtures().staff(Role::Admin).await.access_token;
    let (order, _) = app.paid_order(&[OrderStatus::Accepted, OrderStatus::Completed]).await;
    let row = halo_shared::payments::records::payment_state(&app.db.pool, order).await.unwrap().unwrap();
    Payments::of(&app.state).open_dispute(row.customer_id, order, "never came").await.unwrap();
    let path = format!("/internal/orders/{order}/dispute/resolve");

    let by_agent = app.as_staff("POST", &path, &agent, Some(json!({ "outcome": "refund", "note": "x" }))).await;
    let resolved = app.as_staff("POST", &path, &admin, Some(json!({ "outcome": "refund", "note": "no-show" }))).await;
    let again = app.as_staff("POST", &path, &admin, Some(json!({ "outcome": "release", "note": "twice" }))).await;

    assert_eq!(by_agent.status, StatusCode::FORBIDDEN);
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(
        (&resolved.body["status"], &resolved.body["dispute"]["status"], &resolved.body["dispute"]["outcome"]),
        (&json!("refunded"), &json!("resolved"), &json!("refund")),
        "all of it: the order is refunded (the stub refunds at once)"
    );
    assert_eq!((again.status, again.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    let audit: Value = sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'order.dispute_resolved'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        (&audit["outcome"], &audit["note"], &audit["refund"]["amount"]),
        (&json!("refund"), &json!("no-show"), &json!(PRICE))
    );
    let balances = halo_shared::ledger::read::balances(&app.db.pool).await.unwrap();
    assert_eq!(balances, Default::default(), "everything went back to the customer");
}
