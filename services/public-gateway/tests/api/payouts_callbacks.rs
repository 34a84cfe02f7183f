//! Payout callbacks (§12, §16): authenticated, stored raw, applied once and forward only,
//! matched on reference and amount, each change told to the mitra; and the stub's command.

use poem::http::StatusCode;
use serde_json::json;

use crate::payouts_support::*;

#[tokio::test]
async fn a_payout_callback_without_the_right_token_is_refused_and_changes_nothing() {
    let w = payout_world().await;
    let (mitra, id) = w.app.paid_out(80_000).await;
    let body = payout_body("payout.succeeded", id, "SUCCEEDED", 80_000, None);
    for token in [None, Some("wrong-token")] {
        let mut req = w.app.client.post("/api/webhooks/xendit/payout").header("content-type", "application/json");
        if let Some(token) = token {
            req = req.header("x-callback-token", token);
        }
        let reply = crate::helpers::send(req.body(body.clone())).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(reply.error_code(), "invalid_token");
    }
    assert!(w.app.payout_callbacks().await.is_empty(), "nothing stored");
    assert_eq!(w.app.payout_rows(mitra.id).await[0].1, "accepted");
}

#[tokio::test]
async fn a_succeeded_callback_takes_the_money_out_of_cash_once_and_tells_the_mitra() {
    let w = payout_world().await;
    let (mitra, id) = w.app.paid_out(80_000).await;
    let cash_before = w.app.balances().await.cash;
    let body = payout_body("payout.succeeded", id, "SUCCEEDED", 80_000, None);

    for _ in 0..2 {
        let reply = w.app.xendit_callback("payout", &body).await;
        assert_eq!(reply.status, StatusCode::OK);
    }

    assert_eq!(w.app.payout_rows(mitra.id).await[0].1, "succeeded");
    assert_eq!(
        w.app.payout_postings(id).await[2..],
        lines(&[("payout", "mitra_in_payout", -80_000), ("payout", "cash", 80_000)])[..]
    );
    assert_eq!(w.app.balances().await.cash, cash_before - 80_000, "paid out of the platform's cash");
    assert_eq!(w.app.payout_callbacks().await, [(Some(id), "changed".into()), (Some(id), "unchanged".into())]);
    let events = w.app.payout_events(mitra.id).await;
    let statuses: Vec<_> = events.iter().map(|e| e["status"].as_str().unwrap().to_owned()).collect();
    assert_eq!(statuses, ["pending", "accepted", "succeeded"], "each change, once");
    let last = events.last().unwrap();
    assert_eq!(last["id"], json!(id));
    assert_eq!(last["account_number_masked"], "******7890");
    assert!(!last.to_string().contains("1234567890"), "never the whole number");
    let pushes: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = $1")
        .bind(mitra.id)
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(pushes, 3, "each change is also a push notification");
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn failed_and_cancelled_callbacks_return_the_money_and_only_account_failures_invalidate_the_account() {
    for (event, status, failure, account) in [
        ("payout.failed", "FAILED", Some("INSUFFICIENT_BALANCE"), "active"),
        ("payout.failed", "FAILED", Some("INVALID_DESTINATION"), "invalid"),
        ("payout.failed", "CANCELLED", None, "active"),
    ] {
        let w = payout_world().await;
        let (mitra, id) = w.app.paid_out(75_000).await;

        let reply = w.app.xendit_callback("payout", &payout_body(event, id, status, 75_000, failure)).await;

        assert_eq!(reply.status, StatusCode::OK);
        let expected = if status == "FAILED" { "failed" } else { "cancelled" };
        assert_eq!(w.app.payout_rows(mitra.id).await[0].1, expected);
        let balances = w.app.mitra_balances(mitra.id).await;
        assert_eq!((balances.available, balances.in_payout), (75_000, 0), "{status} {failure:?}");
        assert_eq!(
            w.app.payout_postings(id).await[2..],
            lines(&[("payout_returned", "mitra_in_payout", -75_000), ("payout_returned", "mitra_available", 75_000)])[..]
        );
        assert_eq!(w.app.account_status(mitra.id).await, account, "{failure:?}");
        w.app.ledger_holds().await;
    }
}

#[tokio::test]
async fn a_reversal_after_success_returns_the_money_and_nothing_moves_backwards() {
    let w = payout_world().await;
    let (mitra, id) = w.app.paid_out(90_000).await;
    w.app.xendit_callback("payout", &payout_body("payout.succeeded", id, "SUCCEEDED", 90_000, None)).await;

    let reversed = payout_body("payout.reversed", id, "REVERSED", 90_000, Some("REJECTED_BY_CHANNEL"));
    w.app.xendit_callback("payout", &reversed).await;
    w.app.xendit_callback("payout", &payout_body("payout.failed", id, "FAILED", 90_000, None)).await;
    w.app.xendit_callback("payout", &payout_body("payout.succeeded", id, "SUCCEEDED", 90_000, None)).await;

    assert_eq!(w.app.payout_rows(mitra.id).await[0].1, "reversed");
    assert_eq!(
        w.app.payout_postings(id).await[4..],
        lines(&[("payout_returned", "cash", -90_000), ("payout_returned", "mitra_available", 90_000)])[..]
    );
    assert_eq!(w.app.mitra_balances(mitra.id).await.available, 90_000);
    assert_eq!(w.app.account_status(mitra.id).await, "invalid", "the bank bounced it: the account is blamed");
    let outcomes: Vec<_> = w.app.payout_callbacks().await.into_iter().map(|(_, o)| o).collect();
    assert_eq!(outcomes, ["changed", "changed", "unchanged", "unchanged"]);
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn a_callback_for_another_amount_an_unknown_payout_or_a_malformed_body_moves_nothing_but_is_stored() {
    let w = payout_world().await;
    let (mitra, id) = w.app.paid_out(80_000).await;

    let wrong_amount =
        w.app.xendit_callback("payout", &payout_body("payout.succeeded", id, "SUCCEEDED", 8_000, None)).await;
    let unknown = uuid::Uuid::new_v4();
    let stranger =
        w.app.xendit_callback("payout", &payout_body("payout.succeeded", unknown, "SUCCEEDED", 80_000, None)).await;
    let malformed = w.app.xendit_callback("payout", "{\"event\":").await;

    for reply in [&wrong_amount, &stranger, &malformed] {
        assert_eq!(reply.status, StatusCode::OK, "authentic callbacks are always answered 200");
    }
    assert_eq!(
        w.app.payout_callbacks().await,
        [(Some(id), "mismatch".into()), (None, "unknown_payout".into()), (None, "malformed".into())]
    );
    assert_eq!(w.app.payout_rows(mitra.id).await[0].1, "accepted");
    assert_eq!(w.app.mitra_balances(mitra.id).await.in_payout, 80_000);
    let stored: String = sqlx::query_scalar("SELECT body FROM payout_callbacks ORDER BY id DESC LIMIT 1")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, "{\"event\":", "stored as it came");
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn a_terminal_callback_applies_to_a_payout_still_pending() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(65_000).await;
    w.payouts.answer(CreateMode::SlowButMade);
    w.app.run_payouts().await;
    let id = w.app.payout_rows(mitra.id).await[0].0;

    w.app.xendit_callback("payout", &payout_body("payout.succeeded", id, "SUCCEEDED", 65_000, None)).await;

    assert_eq!(w.app.payout_rows(mitra.id).await[0].1, "succeeded");
    let xendit_id: Option<String> = sqlx::query_scalar("SELECT xendit_payout_id FROM payouts WHERE id = $1")
        .bind(id)
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(xendit_id, Some(format!("disb-{id}")));
    w.payouts.set_status(id, "SUCCEEDED");
    w.payouts.answer(CreateMode::Accept);
    let again = w.app.run_payouts().await;
    assert_eq!((again.created, again.resubmitted), (0, 0), "nothing pending to send again");
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn the_payout_stub_logs_a_command_that_succeeds_the_payout_through_the_callback_path() {
    let app = crate::helpers::spawn_app_with(crate::helpers::relaxed()).await;
    let mitra = app.payable_mitra(100_000).await;
    let (guard, logs) = halo_shared::testing::capture_logs();
    let report = app.run_payouts().await;
    drop(guard);
    assert_eq!(report.created, 1);
    let id = app.payout_rows(mitra.id).await[0].0;
    let line = logs
        .lines()
        .into_iter()
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(&l).ok()?["message"]
                .as_str()
                .map(str::to_owned)
                .filter(|m| m.starts_with("[PAYOUT STUB]"))
        })
        .expect("the stub logged its line");
    let command = format!("public-gateway stub-payout-succeed {id}");
    assert_eq!(line, format!("[PAYOUT STUB] payout={id} amount=100000 succeed: {command}"));
    assert!(!logs.lines().iter().any(|l| l.contains("1234567890")), "the account number is in no log line");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_public-gateway"))
        .env_clear()
        .env("DATABASE_URL", app.db.url())
        .env("PAYMENT_PROVIDER", "stub")
        .args(["stub-payout-succeed", &id.to_string()])
        .output()
        .unwrap();

    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(app.payout_rows(mitra.id).await[0].1, "succeeded");
    assert_eq!(app.payout_callbacks().await, [(Some(id), "changed".into())], "through the callback path");
    app.ledger_holds().await;
}
