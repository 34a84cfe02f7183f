//! Payouts in the control center (§12): the list and detail with callbacks, the mitra's
//! payout account (masked) and hold, and admins' audited holds.

use halo_shared::ledger::{self, About, Account, Entry};
use halo_shared::payouts::Payouts;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{send, spawn_app, Reply, TestApp};

impl TestApp {
    async fn staff_send(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let req = match method {
            "GET" => self.client.get(path),
            "PUT" => self.client.put(path),
            "DELETE" => self.client.delete(path),
            _ => self.client.post(path),
        };
        let req = req.header("authorization", format!("Bearer {token}"));
        match body {
            Some(body) => send(req.body_json(&body)).await,
            None => send(req).await,
        }
    }

    /// A mitra with 100,000 available and an account past its cooldown; paid by a run
    /// (the payment stub accepts at once) and, with `succeed`, succeeded by the stub's
    /// callback. `(mitra, payout)`.
    async fn paid_mitra(&self, succeed: bool) -> (Uuid, Uuid) {
        let mitra = self.fixtures().mitra("Sari").await.id;
        sqlx::query(
            "INSERT INTO payout_accounts (mitra_id, channel_code, channel_name, category, account_number,
                                          account_holder_name, payouts_allowed_from)
             VALUES ($1, 'ID_BCA', 'BCA', 'BANK', '1234567890', 'Sari Dewi', now() - interval '1 hour')",
        )
        .bind(mitra)
        .execute(&self.db.pool)
        .await
        .unwrap();
        let mut conn = self.db.pool.acquire().await.unwrap();
        let reference = format!("test:{mitra}");
        let legs = vec![(Account::Cash, -100_000), (Account::MitraAvailable(mitra), 100_000)];
        let about = About { mitra_id: Some(mitra), ..About::default() };
        ledger::post(&mut conn, &Entry { reference: &reference, kind: "released", about, legs }).await.unwrap();
        let payouts = Payouts::of(&self.state);
        assert_eq!(payouts.run().await.unwrap().created, 1);
        let payout: Uuid = sqlx::query_scalar("SELECT id FROM payouts WHERE mitra_id = $1")
            .bind(mitra)
            .fetch_one(&self.db.pool)
            .await
            .unwrap();
        if succeed {
            payouts.stub_succeed(payout).await.unwrap();
        }
        (mitra, payout)
    }
}

#[tokio::test]
async fn agents_list_payouts_by_status_and_mitra_and_read_one_with_its_callbacks() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let (mitra, paid) = app.paid_mitra(true).await;
    let (_, waiting) = app.paid_mitra(false).await;

    let all = app.staff_send("GET", "/internal/payouts", &agent, None).await;
    let succeeded = app.staff_send("GET", "/internal/payouts?status=succeeded", &agent, None).await;
    let theirs = app.staff_send("GET", &format!("/internal/payouts?mitra_id={mitra}"), &agent, None).await;
    let one = app.staff_send("GET", &format!("/internal/payouts/{paid}"), &agent, None).await;
    let bad = app.staff_send("GET", "/internal/payouts?status=lost", &agent, None).await;
    let missing = app.staff_send("GET", &format!("/internal/payouts/{}", Uuid::new_v4()), &agent, None).await;

    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let ids: Vec<&Value> = all.body["items"].as_array().unwrap().iter().map(|p| &p["id"]).collect();
    assert_eq!(ids, [&json!(waiting), &json!(paid)], "newest first");
    assert_eq!(succeeded.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(theirs.body["items"][0]["id"], json!(paid));
    assert_eq!(
        (&one.body["mitra_id"], &one.body["status"], &one.body["amount"], &one.body["account_number_masked"]),
        (&json!(mitra), &json!("succeeded"), &json!(100_000), &json!("******7890"))
    );
    let events = one.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["outcome"], "changed");
    let raw: Value = serde_json::from_str(events[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(raw["event"], "payout.succeeded", "the callback as it came");
    assert!(!all.body.to_string().contains("1234567890") && !one.body.to_string().contains("1234567890"));
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admins_put_and_lift_an_audited_payout_hold_that_stops_payouts_and_agents_may_not() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let admin = app.fixtures().staff(Role::Admin).await;
    let (mitra, _) = app.paid_mitra(true).await;
    let path = format!("/internal/mitras/{mitra}/payout-hold");

    let refused = app.staff_send("PUT", &path, &agent, Some(json!({ "reason": "fraud check" }))).await;
    let empty = app.staff_send("PUT", &path, &admin.access_token, Some(json!({ "reason": " " }))).await;
    let unknown = app
        .staff_send(
            "PUT",
            &format!("/internal/mitras/{}/payout-hold", Uuid::new_v4()),
            &admin.access_token,
            Some(json!({ "reason": "x" })),
        )
        .await;
    let held = app.staff_send("PUT", &path, &admin.access_token, Some(json!({ "reason": "fraud check" }))).await;

    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(held.status, StatusCode::OK, "{}", held.body);
    assert_eq!(held.body["id"], json!(mitra));
    assert_eq!(held.body["payout_hold"]["reason"], "fraud check");
    assert_eq!(held.body["payout_account"]["account_number_masked"], "******7890");
    let detail = app.staff_send("GET", &format!("/internal/mitras/{mitra}"), &agent, None).await;
    assert_eq!(detail.body["payout_hold"], held.body["payout_hold"]);
    assert_eq!(
        (&detail.body["payout_account"]["channel_code"], &detail.body["payout_account"]["status"]),
        (&json!("ID_BCA"), &json!("active"))
    );
    assert!(!detail.body.to_string().contains("1234567890"), "masked for staff too");

    // Money that becomes available while held is not paid.
    let mut conn = app.db.pool.acquire().await.unwrap();
    let legs = vec![(Account::Cash, -80_000), (Account::MitraAvailable(mitra), 80_000)];
    let about = About { mitra_id: Some(mitra), ..About::default() };
    ledger::post(&mut conn, &Entry { reference: "test:more", kind: "released", about, legs }).await.unwrap();
    let while_held = Payouts::of(&app.state).run().await.unwrap();
    assert_eq!((while_held.created, while_held.skipped), (0, 1));

    let lifted = app.staff_send("DELETE", &path, &admin.access_token, None).await;
    assert_eq!(lifted.status, StatusCode::NO_CONTENT);
    let after = app.staff_send("GET", &format!("/internal/mitras/{mitra}"), &agent, None).await;
    assert_eq!(after.body["payout_hold"], Value::Null);
    assert_eq!(Payouts::of(&app.state).run().await.unwrap().created, 1, "paid once the hold is lifted");
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE target_id = $1 AND action LIKE 'mitra.payout_hold%' ORDER BY id",
    )
    .bind(mitra.to_string())
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(actions, ["mitra.payout_hold.put", "mitra.payout_hold.lift"]);
}

#[tokio::test]
async fn staff_see_the_history_of_a_mitras_payout_account_masked() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let (mitra, payout) = app.paid_mitra(false).await;
    // The bank refuses the destination: the account is marked invalid, in its history.
    let body = json!({ "event": "payout.failed", "data": { "id": format!("stub-{payout}"), "reference_id": payout,
                       "status": "FAILED", "amount": 100_000, "failure_code": "INVALID_DESTINATION" } });
    Payouts::of(&app.state).apply_callback(body.to_string().as_bytes()).await.unwrap();

    let detail = app.staff_send("GET", &format!("/internal/mitras/{mitra}"), &agent, None).await;

    assert_eq!(detail.body["payout_account"]["status"], "invalid");
    let history = detail.body["payout_account_history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (&history[0]["change"], &history[0]["account_number_masked"], &history[0]["reason"], &history[0]["payout_id"]),
        (&json!("invalidated"), &json!("******7890"), &json!("INVALID_DESTINATION"), &json!(payout))
    );
}
