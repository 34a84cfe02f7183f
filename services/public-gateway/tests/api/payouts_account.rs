//! Payout accounts (§12, §16): channels, the step-up code, validation, cooldown, masking,
//! history; and the mitra's own payouts.

use halo_shared::testing::fixtures::{stub_code, Mitra};
use halo_shared::testing::{self, Reply};
use poem::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::payouts_support::*;

impl TestApp {
    /// Asks for a payout-account code and reads it from the stub's line.
    async fn account_code(&self, mitra: &Mitra) -> String {
        let (guard, logs) = testing::capture_logs();
        let reply = self.bearer_send("POST", "/api/mitra/payout-account/otp", &mitra.access_token, None).await;
        drop(guard);
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        assert!(logs.lines().iter().any(|l| l.contains(&format!("phone={}", mitra.phone))), "to the mitra's own phone");
        stub_code(&logs.lines()).expect("the stub logged a code")
    }

    async fn put_account(&self, mitra: &Mitra, body: Value) -> Reply {
        self.bearer_send("PUT", "/api/mitra/payout-account", &mitra.access_token, Some(body)).await
    }
}

fn bca(code: Option<&str>) -> Value {
    json!({ "channel_code": "ID_BCA", "account_number": "0123456789", "account_holder_name": "Sari Dewi",
            "otp_code": code })
}

#[tokio::test]
async fn the_channel_list_comes_from_xendit_once_a_day_with_only_banks_and_e_wallets() {
    let w = payout_world().await;
    let mitra = w.app.fixtures().mitra("Sari").await;

    let first = w.app.get_with("/api/mitra/payout-channels", &mitra.access_token).await;
    let second = w.app.get_with("/api/mitra/payout-channels", &mitra.access_token).await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body, second.body);
    let codes: Vec<&str> =
        first.body["items"].as_array().unwrap().iter().map(|c| c["channel_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["ID_BCA", "ID_BRI", "ID_DANA"]);
    assert_eq!(
        first.body["items"][0],
        json!({ "channel_code": "ID_BCA", "channel_name": "Bank Central Asia", "category": "BANK",
                "minimum": 10000, "maximum": 5000000 })
    );
    let asked = w.xendit.received("/payouts_channels").await;
    assert_eq!(asked.len(), 1, "cached");
    assert_eq!(asked[0].url.query(), Some("currency=IDR"));
}

#[tokio::test]
async fn the_stub_serves_a_fixed_channel_list() {
    let app = crate::helpers::spawn_app_with(crate::helpers::relaxed()).await;
    let mitra = app.fixtures().mitra("Sari").await;

    let reply = app.get_with("/api/mitra/payout-channels", &mitra.access_token).await;

    let codes: Vec<&str> =
        reply.body["items"].as_array().unwrap().iter().map(|c| c["channel_code"].as_str().unwrap()).collect();
    for code in ["ID_BCA", "ID_BRI", "ID_MANDIRI", "ID_DANA", "ID_OVO"] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
}

#[tokio::test]
async fn changing_the_payout_account_needs_a_fresh_code_from_the_mitras_own_phone() {
    let w = payout_world().await;
    let mitra = w.app.fixtures().mitra("Sari").await;

    let missing = w.app.put_account(&mitra, bca(None)).await;
    assert_eq!((missing.status, missing.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    let code = w.app.account_code(&mitra).await;
    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let wrong = w.app.put_account(&mitra, bca(Some(wrong_code))).await;
    assert_eq!((wrong.status, wrong.error_code()), (StatusCode::FORBIDDEN, "invalid_otp"));
    let sign_in_code = w.app.otp_code("mitra", &mitra.phone).await;
    let sign_in = w.app.put_account(&mitra, bca(Some(&sign_in_code))).await;
    assert_eq!(
        (sign_in.status, sign_in.error_code()),
        (StatusCode::FORBIDDEN, "invalid_otp"),
        "a sign-in code is not a step-up"
    );
    assert_eq!(w.app.get_with("/api/mitra/payout-account", &mitra.access_token).await.status, StatusCode::NOT_FOUND);

    let set = w.app.put_account(&mitra, bca(Some(&code))).await;

    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(
        (
            &set.body["channel_code"],
            &set.body["channel_name"],
            &set.body["account_number_masked"],
            &set.body["account_holder_name"],
            &set.body["status"]
        ),
        (&json!("ID_BCA"), &json!("Bank Central Asia"), &json!("******6789"), &json!("Sari Dewi"), &json!("active"))
    );
    let from: chrono::DateTime<chrono::Utc> = set.body["payouts_allowed_from"].as_str().unwrap().parse().unwrap();
    let hours = (from - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "PAYOUT_ACCOUNT_COOLDOWN_HOURS: {hours}");
    let reused = w.app.put_account(&mitra, bca(Some(&code))).await;
    assert_eq!((reused.status, reused.error_code()), (StatusCode::FORBIDDEN, "invalid_otp"), "a code works once");

    let late = w.app.account_code(&mitra).await;
    sqlx::query("UPDATE otp_challenges SET expires_at = now() - interval '1 second' WHERE purpose = 'payout_account'")
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    let expired = w.app.put_account(&mitra, bca(Some(&late))).await;
    assert_eq!((expired.status, expired.error_code()), (StatusCode::FORBIDDEN, "otp_expired"));
    let read = w.app.get_with("/api/mitra/payout-account", &mitra.access_token).await;
    assert_eq!(read.body, set.body);
}

#[tokio::test]
async fn a_bad_channel_number_or_name_is_refused_without_spending_the_code() {
    let w = payout_world().await;
    let mitra = w.app.fixtures().mitra("Sari").await;
    let code = w.app.account_code(&mitra).await;
    let with = |channel: &str, number: &str, name: &str| json!({ "channel_code": channel, "account_number": number, "account_holder_name": name, "otp_code": code });
    for (body, field) in [
        (with("ID_NOPE", "0123456789", "Sari Dewi"), "channel_code"),
        (with("ID_CARD", "0123456789", "Sari Dewi"), "channel_code"),
        (with("ID_BCA", "0123-456", "Sari Dewi"), "account_number"),
        (with("ID_BCA", "1234", "Sari Dewi"), "account_number"),
        (with("ID_BCA", "123456789012345678901", "Sari Dewi"), "account_number"),
        (with("ID_DANA", "0123456789", "Sari Dewi"), "account_number"),
        (with("ID_BCA", "0123456789", "S"), "account_holder_name"),
        (with("ID_BCA", "0123456789", &"x".repeat(101)), "account_holder_name"),
    ] {
        let reply = w.app.put_account(&mitra, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{field}: {}", reply.body);
        assert!(reply.body["error"]["message"].as_str().unwrap().contains(field), "{}", reply.body);
    }

    let wallet = w.app.put_account(&mitra, with("ID_DANA", "+62 812-3456-7890", "Sari Dewi")).await;

    assert_eq!(wallet.status, StatusCode::OK, "the code still works: {}", wallet.body);
    let stored: String = sqlx::query_scalar("SELECT account_number FROM payout_accounts WHERE mitra_id = $1")
        .bind(mitra.id)
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, "081234567890", "an e-wallet takes the mobile number, stored whole");
    assert_eq!(wallet.body["account_number_masked"], "********7890");
}

#[tokio::test]
async fn a_change_restarts_the_cooldown_tells_the_mitra_and_is_kept_in_the_history_with_no_whole_number_logged() {
    let w = payout_world().await;
    let mitra = w.app.fixtures().mitra("Sari").await;
    w.app.give_available(mitra.id, 100_000).await;
    // An invalid account from an earlier failure…
    w.app.give_account(mitra.id, "ID_BCA", "1234567890").await;
    sqlx::query("UPDATE payout_accounts SET status = 'invalid' WHERE mitra_id = $1")
        .bind(mitra.id)
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    let code = w.app.account_code(&mitra).await;

    let (guard, logs) = testing::capture_logs();
    let changed = w.app.put_account(&mitra, bca(Some(&code))).await;
    let read = w.app.get_with("/api/mitra/payout-account", &mitra.access_token).await;
    drop(guard);

    assert_eq!(changed.body["status"], "active", "…is active again once changed");
    for reply in [&changed, &read] {
        assert!(!reply.body.to_string().contains("0123456789"), "{}", reply.body);
    }
    assert!(!logs.lines().iter().any(|l| l.contains("0123456789")), "the whole number is in no log line");
    let events: Vec<Value> =
        sqlx::query_scalar("SELECT data FROM user_events WHERE user_id = $1 AND type = 'payout_account.changed'")
            .bind(mitra.id)
            .fetch_all(&w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(events, std::slice::from_ref(&changed.body), "the socket event carries the masked account");
    let pushes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND title = 'Rekening pencairan diubah'",
    )
    .bind(mitra.id)
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(pushes, 1);
    let history = halo_shared::payouts::accounts::history(&w.app.db.pool, mitra.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].change.as_str(), history[0].account_number_masked.as_str()), ("set", "******6789"));
    let report = w.app.run_payouts().await;
    assert_eq!((report.created, report.skipped), (0, 1), "nothing is paid during the cooldown");
}

#[tokio::test]
async fn a_mitra_reads_only_its_own_payouts_newest_first_in_pages() {
    let w = payout_world().await;
    let (mitra, first) = w.app.paid_out(60_000).await;
    w.app.xendit_callback("payout", &payout_body("payout.succeeded", first, "SUCCEEDED", 60_000, None)).await;
    w.app.give_available(mitra.id, 70_000).await;
    w.app.run_payouts().await;
    let second = w.app.payout_rows(mitra.id).await[1].0;
    let other = w.app.fixtures().mitra("Other").await;

    let page1 = w.app.get_with("/api/mitra/payouts?limit=1", &mitra.access_token).await;
    let cursor = page1.body["next_cursor"].as_str().unwrap().to_owned();
    let page2 = w.app.get_with(&format!("/api/mitra/payouts?limit=1&cursor={cursor}"), &mitra.access_token).await;
    let one = w.app.get_with(&format!("/api/mitra/payouts/{first}"), &mitra.access_token).await;
    let theirs = w.app.get_with(&format!("/api/mitra/payouts/{first}"), &other.access_token).await;
    let their_list = w.app.get_with("/api/mitra/payouts", &other.access_token).await;

    assert_eq!(page1.body["items"][0]["id"], json!(second));
    assert_eq!(page2.body["items"][0]["id"], json!(first));
    assert_eq!(page2.body["next_cursor"], Value::Null);
    assert_eq!(one.status, StatusCode::OK);
    let keys: Vec<&String> = one.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "account_number_masked",
            "amount",
            "channel_code",
            "created_at",
            "currency",
            "estimated_arrival_at",
            "failure_code",
            "id",
            "status",
            "updated_at"
        ]
    );
    assert_eq!(
        (&one.body["status"], &one.body["amount"], &one.body["account_number_masked"]),
        (&json!("succeeded"), &json!(60_000), &json!("******7890"))
    );
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(their_list.body["items"], json!([]));
}

#[tokio::test]
async fn a_deleted_mitra_keeps_no_payout_account_and_its_available_money_stays_in_the_ledger() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(90_000).await;

    let deleted = w.app.bearer_send("DELETE", "/api/mitra/me", &mitra.access_token, None).await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM payout_accounts WHERE mitra_id = $1")
        .bind(mitra.id)
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(accounts, 0, "the account number and holder name are erased");
    assert_eq!(w.app.run_payouts().await.created, 0);
    assert_eq!(w.app.mitra_balances(mitra.id).await.available, 90_000, "left for staff to settle");
    w.app.ledger_holds().await;
}
