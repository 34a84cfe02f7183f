//! Payouts (contract §12, §16): run-payouts against a fake Xendit Payouts v2 that records
//! every request, with the ledger checked after each flow.

use halo_shared::tokens::UserType;
use serde_json::json;

use crate::payouts_support::*;

fn lines_of(expected: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    lines(expected)
}

#[tokio::test]
async fn a_run_pays_the_available_balance_with_the_payout_id_as_idempotency_key_and_reference() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(120_000).await;

    let report = w.app.run_payouts().await;

    assert_eq!(report.line(), "payouts: created=1 failed=0 skipped=0");
    let rows = w.app.payout_rows(mitra.id).await;
    assert_eq!(rows.len(), 1);
    let (id, status, amount, attempts) = rows[0].clone();
    assert_eq!((status.as_str(), amount, attempts), ("accepted", 120_000, 1));
    let sent = w.xendit.received("/v2/payouts").await;
    let posts: Vec<_> = sent.iter().filter(|r| r.method.as_str() == "POST").collect();
    assert_eq!(posts.len(), 1, "one create, no lookup before a first send");
    assert_eq!(posts[0].headers.get("idempotency-key").unwrap().to_str().unwrap(), id.to_string());
    assert!(posts[0].headers.get("authorization").unwrap().to_str().unwrap().starts_with("Basic "));
    let body: serde_json::Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(
        body,
        json!({ "reference_id": id.to_string(), "channel_code": "ID_BCA",
                "channel_properties": { "account_number": "1234567890", "account_holder_name": "Sari Dewi" },
                "amount": 120_000, "currency": "IDR", "description": format!("Halo Bestie payout {id}") })
    );
    assert_eq!(
        w.app.payout_postings(id).await,
        lines_of(&[("payout", "mitra_available", -120_000), ("payout", "mitra_in_payout", 120_000)])
    );
    let balances = w.app.mitra_balances(mitra.id).await;
    assert_eq!((balances.available, balances.in_payout), (0, 120_000));
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn a_repeated_run_pays_nothing_twice() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(80_000).await;

    let first = w.app.run_payouts().await;
    let second = w.app.run_payouts().await;

    assert_eq!((first.created, second.created, second.skipped), (1, 0, 1));
    assert_eq!(w.payouts.made_count(), 1);
    assert_eq!(w.app.payout_rows(mitra.id).await.len(), 1);
    assert_eq!(w.app.mitra_balances(mitra.id).await.in_payout, 80_000);
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn two_concurrent_runs_never_pay_the_same_money_twice() {
    let w = payout_world().await;
    let mut mitras = Vec::new();
    for _ in 0..6 {
        mitras.push(w.app.payable_mitra(100_000).await);
    }

    let a = w.app.payouts();
    let b = w.app.payouts();
    let (ra, rb) = tokio::join!(a.run(), b.run());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());

    assert_eq!(ra.created + rb.created, 6, "{ra:?} {rb:?}");
    assert_eq!(w.payouts.made_count(), 6, "one payout per mitra at Xendit");
    assert_eq!(w.payouts.made_total(), 600_000);
    let posts = w.xendit.received("/v2/payouts").await.into_iter().filter(|r| r.method.as_str() == "POST").count();
    assert_eq!(posts, 6, "each payout sent once");
    for mitra in &mitras {
        assert_eq!(w.app.payout_rows(mitra.id).await.len(), 1);
        let balances = w.app.mitra_balances(mitra.id).await;
        assert_eq!((balances.available, balances.in_payout), (0, 100_000));
    }
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn a_timeout_leaves_the_payout_pending_and_the_next_run_resubmits_it_with_the_same_key() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(70_000).await;
    w.payouts.answer(CreateMode::SlowButMade);

    let first = w.app.run_payouts().await;

    assert_eq!(first.line(), "payouts: created=1 failed=0 skipped=0");
    let (id, status, _, _) = w.app.payout_rows(mitra.id).await[0].clone();
    assert_eq!(status, "pending", "a timeout is not a failure");
    assert_eq!(w.app.mitra_balances(mitra.id).await.in_payout, 70_000, "the money waits in payout");

    w.payouts.answer(CreateMode::Accept);
    let second = w.app.run_payouts().await;

    assert_eq!((second.created, second.resubmitted), (0, 1));
    let requests = w.xendit.received("/v2/payouts").await;
    let lookups: Vec<_> = requests.iter().filter(|r| r.method.as_str() == "GET").collect();
    assert_eq!(lookups.len(), 1, "a resubmission looks the payout up first");
    assert_eq!(lookups[0].url.query(), Some(format!("reference_id={id}").as_str()));
    assert_eq!(w.payouts.made_count(), 1, "Xendit made it once");
    assert_eq!(w.app.payout_rows(mitra.id).await[0].1, "accepted");
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn a_timeout_xendit_never_saw_is_sent_again_with_the_same_key_and_the_same_body() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(70_000).await;
    w.payouts.answer(CreateMode::SlowNothing);
    w.app.run_payouts().await;
    // The mitra changes the account meanwhile (and is past its cooldown again).
    sqlx::query("UPDATE payout_accounts SET account_number = '5555555555' WHERE mitra_id = $1")
        .bind(mitra.id)
        .execute(&w.app.db.pool)
        .await
        .unwrap();

    w.payouts.answer(CreateMode::Accept);
    w.app.run_payouts().await;

    let posts: Vec<_> =
        w.xendit.received("/v2/payouts").await.into_iter().filter(|r| r.method.as_str() == "POST").collect();
    assert_eq!(posts.len(), 2);
    let keys: Vec<_> = posts.iter().map(|r| r.headers.get("idempotency-key").unwrap().clone()).collect();
    assert_eq!(keys[0], keys[1], "the same key");
    assert_eq!(posts[0].body, posts[1].body, "the body snapshotted on the payout, not the account as it is now");
    assert_eq!(w.app.payout_rows(mitra.id).await[0].1, "accepted");
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn a_final_create_error_fails_the_payout_returns_the_money_and_marks_the_account_invalid() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(90_000).await;
    w.payouts.answer(CreateMode::Reject("RECIPIENT_ACCOUNT_NUMBER_ERROR".into()));

    let report = w.app.run_payouts().await;

    assert_eq!(report.line(), "payouts: created=1 failed=1 skipped=0");
    let (id, status, _, _) = w.app.payout_rows(mitra.id).await[0].clone();
    assert_eq!(status, "failed");
    let lookups = w.xendit.received("/v2/payouts").await.into_iter().filter(|r| r.method.as_str() == "GET").count();
    assert_eq!(lookups, 1, "looked up before failing");
    assert_eq!(
        w.app.payout_postings(id).await,
        lines_of(&[
            ("payout", "mitra_available", -90_000),
            ("payout", "mitra_in_payout", 90_000),
            ("payout_returned", "mitra_in_payout", -90_000),
            ("payout_returned", "mitra_available", 90_000)
        ])
    );
    assert_eq!(w.app.account_status(mitra.id).await, "invalid");
    let again = w.app.run_payouts().await;
    assert_eq!((again.created, again.skipped), (0, 1), "an invalid account is not paid");
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn other_create_errors_leave_the_payout_pending() {
    for (status, code) in [
        (409, "DUPLICATE_TRANSACTION_ERROR"),
        (429, "RATE_LIMIT_EXCEEDED"),
        (401, "INVALID_API_KEY"),
        (403, "REQUEST_FORBIDDEN_ERROR"),
        (500, "SERVER_ERROR"),
        (400, "SOMETHING_NEW"),
    ] {
        let w = payout_world().await;
        let mitra = w.app.payable_mitra(60_000).await;
        w.payouts.answer(CreateMode::Fail(status, code.into()));

        let report = w.app.run_payouts().await;

        assert_eq!((report.created, report.failed), (1, 0), "{code}");
        assert_eq!(w.app.payout_rows(mitra.id).await[0].1, "pending", "{code}");
        assert_eq!(w.app.mitra_balances(mitra.id).await.in_payout, 60_000, "{code}");
        w.app.ledger_holds().await;
    }
}

#[tokio::test]
async fn eligibility_exactly_the_minimum_is_paid_and_everyone_else_waits() {
    let w = payout_world().await;
    let exact = w.app.payable_mitra(50_000).await;
    let below = w.app.payable_mitra(49_999).await;
    let owes = w.app.payable_mitra(0).await;
    w.app.give_available(owes.id, -20_000).await;
    let suspended = w.app.payable_mitra(100_000).await;
    w.app.fixtures().suspend(UserType::Mitra, suspended.id).await;
    let held = w.app.payable_mitra(100_000).await;
    let admin = w.app.admin().await;
    halo_shared::payouts::holds::put(&w.app.db.pool, &admin, held.id, "checking identity").await.unwrap();
    let cooling = w.app.payable_mitra(100_000).await;
    sqlx::query("UPDATE payout_accounts SET payouts_allowed_from = now() + interval '1 hour' WHERE mitra_id = $1")
        .bind(cooling.id)
        .execute(&w.app.db.pool)
        .await
        .unwrap();
    // ID_BRI's own minimum is 60,000.
    let bri = w.app.fixtures().mitra("Bri").await;
    w.app.give_account(bri.id, "ID_BRI", "99887766").await;
    w.app.give_available(bri.id, 55_000).await;
    // ID_BCA: rounded down to 1,000, at most 5,000,000.
    let rich = w.app.payable_mitra(6_123_456).await;

    let report = w.app.run_payouts().await;

    assert_eq!(report.line(), "payouts: created=2 failed=0 skipped=6");
    assert_eq!(w.app.payout_rows(exact.id).await[0].2, 50_000);
    assert_eq!(w.app.payout_rows(rich.id).await[0].2, 5_000_000, "capped at the channel maximum");
    assert_eq!(w.app.mitra_balances(rich.id).await.available, 1_123_456, "the rest waits for the next run");
    for nobody in [&below, &owes, &suspended, &held, &cooling, &bri] {
        assert!(w.app.payout_rows(nobody.id).await.is_empty());
    }
    // In flight: the exact one has a payout accepted, so a new run skips it.
    w.app.give_available(exact.id, 60_000).await;
    let again = w.app.run_payouts().await;
    assert_eq!(w.app.payout_rows(exact.id).await.len(), 1, "one payout in flight at a time: {again:?}");
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn the_rounding_to_the_channel_increment_never_pays_below_the_minimum() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(123_456).await;

    w.app.run_payouts().await;

    assert_eq!(w.app.payout_rows(mitra.id).await[0].2, 123_000);
    assert_eq!(w.app.mitra_balances(mitra.id).await.available, 456);
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn the_database_allows_one_payout_in_flight_per_mitra() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(100_000).await;
    w.app.run_payouts().await;

    let second = sqlx::query(
        "INSERT INTO payouts (id, mitra_id, amount, channel_code, account_number, account_holder_name, description)
         VALUES ($1, $2, 1000, 'ID_BCA', '1', 'x', 'x')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(mitra.id)
    .execute(&w.app.db.pool)
    .await;

    assert!(second.unwrap_err().to_string().contains("payouts_one_in_flight_idx"));
}
