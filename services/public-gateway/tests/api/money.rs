//! Money (contract §11, §16): every flow with the postings it makes, against the real
//! database and a fake Xendit that records what it receives.

use halo_shared::payments::staff::StaffRefund;
use poem::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::money_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_public-gateway");

fn refund_of(amount: Option<i64>) -> StaffRefund<'static> {
    StaffRefund { reason: "customer asked", amount, source: None, outside_xendit: false }
}

#[tokio::test]
async fn a_paid_order_is_held_in_escrow_and_completion_splits_it_into_commission_and_the_mitras_pending_earnings() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.unpaid(&shop).await;

    app.pay_in_full(&id).await;
    assert_eq!(app.postings(&id).await, lines(&[("paid", "cash", -PRICE), ("paid", "escrow", PRICE)]));
    app.mitra_does(&shop, &id, "accept").await;
    let completed = app.mitra_does(&shop, &id, "complete").await;

    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    assert_eq!(completed.body["mitra_earnings"], 120_000, "what the mitra gets: E − floor(E × 2000 / 10000)");
    assert_eq!(
        app.postings(&id).await[2..],
        lines(&[
            ("order_completed", "escrow", -PRICE),
            ("order_completed", "commission", 30_000),
            ("order_completed", "mitra_pending", 120_000)
        ])[..]
    );
    let earnings = app.get_with("/api/mitra/earnings", &shop.mitra).await;
    assert_eq!(earnings.status, StatusCode::OK, "{}", earnings.body);
    assert_eq!(
        (
            &earnings.body["currency"],
            &earnings.body["pending"],
            &earnings.body["available"],
            &earnings.body["in_payout"]
        ),
        (&json!("IDR"), &json!(120_000), &json!(0), &json!(0))
    );
    let release_at: chrono::DateTime<chrono::Utc> = earnings.body["next_release_at"].as_str().unwrap().parse().unwrap();
    let hours = (release_at - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((71.9..=72.0).contains(&hours), "EARNINGS_HOLD_HOURS after completion: {hours}");
    let entries = app.get_with("/api/mitra/earnings/entries", &shop.mitra).await;
    assert_eq!(entries.body["items"].as_array().unwrap().len(), 1, "{}", entries.body);
    let entry = &entries.body["items"][0];
    assert_eq!(
        (&entry["kind"], &entry["amount"], &entry["balance"], &entry["order_id"]),
        (&json!("order_completed"), &json!(120_000), &json!("pending"), &json!(id))
    );
    let customer_view = app.get_with(&format!("/api/client/orders/{id}"), &shop.customer).await;
    assert!(customer_view.body.get("mitra_earnings").is_none(), "only the mitra and staff see it");
    assert_eq!(
        (&customer_view.body["refunded_amount"], &customer_view.body["payment_issue"]),
        (&json!(0), &json!(null))
    );
    app.ledger_holds().await;
}

#[tokio::test]
async fn fifty_concurrent_duplicate_paid_callbacks_post_one_ledger_transaction() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.unpaid(&shop).await;
    let body = paid_body(&id, &format!("inv-{id}"), PRICE);

    let replies = futures_util::future::join_all((0..50).map(|_| app.xendit_callback("invoice", &body))).await;

    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let transactions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger_transactions").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(transactions, 1);
    assert_eq!(app.postings(&id).await, lines(&[("paid", "cash", -PRICE), ("paid", "escrow", PRICE)]));
    assert_eq!((app.balances().await.cash, app.balances().await.escrow), (PRICE, PRICE));
    assert!(app.refund_rows(&id).await.is_empty(), "a duplicate of the paying invoice is no unmatched money");
    app.ledger_holds().await;
}

#[tokio::test]
async fn release_earnings_moves_pending_to_available_after_the_hold_and_two_concurrent_runs_release_once() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let due = app.accepted(&shop).await;
    let held = app.accepted(&shop).await;
    for id in [&due, &held] {
        app.mitra_does(&shop, id, "complete").await;
    }
    app.hold_passed(&due).await;

    let (a, b) = tokio::join!(
        halo_shared::payments::money::release_due(&app.db.pool),
        halo_shared::payments::money::release_due(&app.db.pool)
    );

    assert_eq!(a.unwrap() + b.unwrap(), 1, "the due order, once; the other is still in its hold");
    let released: Vec<_> = app.postings(&due).await.into_iter().filter(|(kind, _, _)| kind == "released").collect();
    assert_eq!(released, lines(&[("released", "mitra_pending", -120_000), ("released", "mitra_available", 120_000)]));
    let earnings = app.get_with("/api/mitra/earnings", &shop.mitra).await;
    assert_eq!((&earnings.body["pending"], &earnings.body["available"]), (&json!(120_000), &json!(120_000)));
    let out = std::process::Command::new(BIN)
        .env_clear()
        .env("DATABASE_URL", app.db.url())
        .arg("release-earnings")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('{')).map(str::to_owned).collect();
    assert_eq!(printed, ["0"], "a repeated run releases nothing");
    app.ledger_holds().await;
}

#[tokio::test]
async fn a_dispute_within_the_hold_keeps_the_earnings_pending_until_an_admin_resolves_it() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.accepted(&shop).await;
    let early = app.customer_does(&shop, &id, "dispute", Some(json!({ "reason": "not done" }))).await;
    assert_eq!((early.status, early.error_code()), (StatusCode::CONFLICT, "invalid_state"), "not completed yet");
    app.mitra_does(&shop, &id, "complete").await;

    let opened = app.customer_does(&shop, &id, "dispute", Some(json!({ "reason": "she left after 20 minutes" }))).await;
    let twice = app.customer_does(&shop, &id, "dispute", Some(json!({ "reason": "again" }))).await;
    app.hold_passed(&id).await;
    let while_open = halo_shared::payments::money::release_due(&app.db.pool).await.unwrap();

    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    assert_eq!(
        (&opened.body["dispute"]["status"], &opened.body["dispute"]["reason"]),
        (&json!("open"), &json!("she left after 20 minutes"))
    );
    assert_eq!(twice.error_code(), "invalid_state", "one open dispute at a time");
    assert_eq!(while_open, 0, "release waits for staff");
    let admin = app.admin().await;
    let resolved =
        app.payments().resolve_dispute(&admin, id.parse().unwrap(), false, None, "mitra was right").await.unwrap();
    assert_eq!(resolved.status.as_str(), "completed");
    assert_eq!(halo_shared::payments::money::release_due(&app.db.pool).await.unwrap(), 1);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'order.dispute_resolved'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(audited, 1);
    let view = app.get_with(&format!("/api/client/orders/{id}"), &shop.customer).await;
    assert_eq!(
        (&view.body["dispute"]["status"], &view.body["dispute"]["outcome"]),
        (&json!("resolved"), &json!("release"))
    );
    app.ledger_holds().await;
}

#[tokio::test]
async fn a_dispute_resolved_as_a_refund_takes_the_commission_and_the_mitras_pending_share() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.accepted(&shop).await;
    app.mitra_does(&shop, &id, "complete").await;
    app.customer_does(&shop, &id, "dispute", Some(json!({ "reason": "half done" }))).await;

    let admin = app.admin().await;
    let order = app.payments().resolve_dispute(&admin, id.parse().unwrap(), true, Some(50_000), "half").await.unwrap();

    assert_eq!(order.status.as_str(), "completed", "a partial refund keeps the status");
    assert_eq!(
        app.postings(&id).await[5..],
        lines(&[
            ("dispute_refund", "refunds_in_flight", 50_000),
            ("dispute_refund", "commission", -10_000),
            ("dispute_refund", "mitra_pending", -40_000)
        ])[..]
    );
    let entries = app.get_with("/api/mitra/earnings/entries", &shop.mitra).await;
    assert_eq!(
        (&entries.body["items"][0]["kind"], &entries.body["items"][0]["amount"]),
        (&json!("dispute_refund"), &json!(-40_000))
    );
    app.ledger_holds().await;
}

#[tokio::test]
async fn the_h1_story_a_late_payment_for_a_cancelled_order_is_refunded_automatically_and_shown_to_staff() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.unpaid(&shop).await;

    let cancelled = app.customer_does(&shop, &id, "cancel", None).await;
    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    let expired = xendit.received("/invoices/").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].url.path(), format!("/invoices/inv-{id}/expire!"), "the invoice is expired at Xendit");

    // The customer's bank app paid anyway, while the cancel was in flight.
    let late = app.pay_in_full(&id).await;

    assert_eq!(late.status, StatusCode::OK);
    let (status, issue, _) = app.order_row(&id).await;
    assert_eq!((status.as_str(), issue.as_deref()), ("cancelled", Some("paid_after_cancel")));
    let refunds = app.refund_rows(&id).await;
    assert_eq!(refunds.len(), 1);
    let (refund_id, amount, source, state) = &refunds[0];
    assert_eq!((*amount, source.as_str(), state.as_str()), (PRICE, "unmatched", "pending"));
    let asked = xendit.received("/refunds").await;
    assert_eq!(asked[0].headers.get("idempotency-key").unwrap().to_str().unwrap(), refund_id.to_string());
    let body: serde_json::Value = serde_json::from_slice(&asked[0].body).unwrap();
    assert_eq!(
        (body["invoice_id"].as_str(), body["amount"].as_i64(), body["reference_id"].as_str(), body["reason"].as_str()),
        (Some(format!("inv-{id}").as_str()), Some(PRICE), Some(refund_id.to_string().as_str()), Some("DUPLICATE"))
    );
    assert_eq!(app.balances().await.refunds_in_flight, PRICE, "held apart until Xendit says it succeeded");

    let done = refund_body("refund.succeeded", &refund_id.to_string(), &format!("rfd-{refund_id}"), PRICE);
    assert_eq!(app.xendit_callback("refund", &done).await.status, StatusCode::OK);

    assert_eq!(app.order_row(&id).await, ("cancelled".into(), Some("paid_after_cancel".into()), PRICE));
    assert_eq!(
        app.postings(&id).await,
        lines(&[
            ("unmatched", "cash", -PRICE),
            ("unmatched", "unmatched", PRICE),
            ("refund", "refunds_in_flight", PRICE),
            ("refund", "unmatched", -PRICE),
            ("refund_succeeded", "refunds_in_flight", -PRICE),
            ("refund_succeeded", "cash", PRICE)
        ])
    );
    let staff = halo_shared::payments::views::staff_one(&app.db.pool, id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(staff.order.payment_issue.as_deref(), Some("paid_after_cancel"), "visible to staff");
    assert_eq!(staff.order.refunds[0].status, halo_shared::marketplace::orders::RefundStatus::Succeeded);
    assert_eq!(staff.ledger.len(), 6);
    assert_eq!(app.balances().await, Default::default(), "the money came in and went back out");
    app.ledger_holds().await;
}

#[tokio::test]
async fn a_cancel_still_succeeds_when_xendit_cannot_expire_the_invoice() {
    let xendit = FakeXendit::start().await;
    *xendit.expire_fails.lock().unwrap() = true;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.unpaid(&shop).await;

    let cancelled = app.customer_does(&shop, &id, "cancel", None).await;

    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    assert_eq!(xendit.received("/invoices/").await.len(), 1, "asked once");
}

#[tokio::test]
async fn a_second_paid_invoice_is_unmatched_money_refunded_in_full_as_a_duplicate_payment() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.accepted(&shop).await;

    let second = app.xendit_callback("invoice", &paid_body(&id, "inv-second", PRICE)).await;

    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(app.order_row(&id).await, ("accepted".into(), Some("duplicate_payment".into()), 0));
    let bodies = xendit.refund_bodies().await;
    assert_eq!(
        (bodies.len(), bodies[0]["invoice_id"].as_str(), bodies[0]["amount"].as_i64()),
        (1, Some("inv-second"), Some(PRICE))
    );
    let b = app.balances().await;
    assert_eq!((b.escrow, b.unmatched, b.refunds_in_flight, b.cash), (PRICE, 0, PRICE, 2 * PRICE));
    app.ledger_holds().await;
}

#[tokio::test]
async fn an_amount_mismatch_expires_the_order_and_waits_for_an_admin_to_refund_the_unmatched_money() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.unpaid(&shop).await;

    app.xendit_callback("invoice", &paid_body(&id, &format!("inv-{id}"), 15_000)).await;

    assert_eq!(app.order_row(&id).await, ("expired".into(), Some("amount_mismatch".into()), 0));
    assert!(xendit.received("/refunds").await.is_empty(), "flagged for an admin, not refunded by itself");
    assert_eq!(app.balances().await.unmatched, 15_000);
    let admin = app.admin().await;
    let too_much = app.payments().refund_by_staff(&admin, id.parse().unwrap(), &refund_of(Some(15_001))).await;
    assert!(too_much.is_err(), "more than the unmatched money is refused");
    let refunded = app.payments().refund_by_staff(&admin, id.parse().unwrap(), &refund_of(None)).await.unwrap();
    assert_eq!(refunded.status.as_str(), "expired", "refunding unmatched money never moves the order");
    let bodies = xendit.refund_bodies().await;
    assert_eq!((bodies.len(), bodies[0]["amount"].as_i64()), (1, Some(15_000)));
    let nothing_left = app.payments().refund_by_staff(&admin, id.parse().unwrap(), &refund_of(None)).await;
    assert!(matches!(
        nothing_left,
        Err(halo_shared::payments::PaymentError::Market(halo_shared::marketplace::MarketError::InvalidState(_)))
    ));
    app.ledger_holds().await;
}

#[tokio::test]
async fn a_rejected_refund_returns_the_money_flags_the_order_and_is_never_retried_by_itself() {
    let xendit = FakeXendit::start().await;
    xendit.refunds_answer(RefundMode::Rejected);
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.unpaid(&shop).await;
    app.pay_in_full(&id).await;

    let declined = app.mitra_does(&shop, &id, "decline").await;
    halo_shared::payments::reconcile::run(&app.payments()).await.unwrap();

    assert_eq!(declined.body["status"], "refund_pending");
    assert_eq!(declined.body["refunds"][0]["status"], "failed", "{}", declined.body);
    assert_eq!(app.order_row(&id).await, ("refund_pending".into(), Some("refund_rejected".into()), 0));
    assert_eq!(xendit.received("/refunds").await.len(), 1, "reconciliation does not ask again");
    assert_eq!(app.balances().await.escrow, PRICE, "the money went back to escrow");
    // An admin retries it as a new refund; this channel cannot refund, so it is recorded
    // as made outside Xendit.
    let admin = app.admin().await;
    let outside =
        StaffRefund { reason: "paid back by bank transfer", amount: None, source: None, outside_xendit: true };
    let order = app.payments().refund_by_staff(&admin, id.parse().unwrap(), &outside).await.unwrap();
    assert_eq!((order.status.as_str(), order.refunded_amount), ("refunded", PRICE));
    assert_eq!(xendit.received("/refunds").await.len(), 1, "outside Xendit: nothing sent");
    app.ledger_holds().await;
}

#[tokio::test]
async fn a_rejected_refund_of_a_late_cancellation_returns_to_escrow_and_leaves_the_fee_split() {
    let xendit = FakeXendit::start().await;
    xendit.refunds_answer(RefundMode::Rejected);
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.accepted(&shop).await;
    // Raw SQL: the policy's free_until already passed (no API moves time on).
    sqlx::query(
        "UPDATE orders SET cancel_free_until = now() - interval '1 hour', cancel_grace_minutes = 0 WHERE id = $1",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .execute(&app.db.pool)
    .await
    .unwrap();

    let cancelled = app.customer_does(&shop, &id, "cancel", None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["refunds"][0]["status"], "failed", "{}", cancelled.body);
    let balances = app.balances().await;
    assert_eq!(balances.escrow, PRICE / 2, "the refused half is back in escrow, not earned");
    assert_eq!((balances.commission, balances.mitra_pending), (PRICE / 10, PRICE / 2 - PRICE / 10));
    app.ledger_holds().await;
}

#[tokio::test]
async fn a_failed_refund_of_an_order_that_completed_meanwhile_is_split_as_at_completion() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.accepted(&shop).await;
    let admin = app.admin().await;
    let partial = app.payments().refund_by_staff(&admin, id.parse().unwrap(), &refund_of(Some(50_000))).await.unwrap();
    assert_eq!(partial.status.as_str(), "accepted");
    app.mitra_does(&shop, &id, "complete").await;
    let refund_id = app.refund_rows(&id).await[0].0;

    let failed = refund_body("refund.failed", &refund_id.to_string(), &format!("rfd-{refund_id}"), 50_000);
    app.xendit_callback("refund", &failed).await;

    let lines_now = app.postings(&id).await;
    assert_eq!(
        lines_now[lines_now.len() - 3..],
        lines(&[
            ("refund_failed", "refunds_in_flight", -50_000),
            ("refund_failed", "commission", 10_000),
            ("refund_failed", "mitra_pending", 40_000)
        ])[..]
    );
    let earnings = app.get_with("/api/mitra/earnings", &shop.mitra).await;
    assert_eq!(earnings.body["pending"], 120_000, "80 000 at completion + 40 000 returned");
    assert_eq!(app.order_row(&id).await.1.as_deref(), Some("refund_rejected"));
    app.ledger_holds().await;
}

#[tokio::test]
async fn partial_refunds_after_completion_give_back_commission_cumulatively_and_the_last_takes_what_remains() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.accepted(&shop).await;
    app.mitra_does(&shop, &id, "complete").await;
    app.hold_passed(&id).await;
    halo_shared::payments::money::release_due(&app.db.pool).await.unwrap();
    let admin = app.admin().await;
    let order: Uuid = id.parse().unwrap();

    for amount in [33_333, 33_333] {
        let moved = app.payments().refund_by_staff(&admin, order, &refund_of(Some(amount))).await.unwrap();
        assert_eq!(moved.status.as_str(), "completed");
    }
    let last = app.payments().refund_by_staff(&admin, order, &refund_of(None)).await.unwrap();

    assert_eq!(last.status.as_str(), "refund_pending", "the refund that empties the order");
    let commission: Vec<i64> = app
        .postings(&id)
        .await
        .into_iter()
        .filter(|(kind, account, _)| kind == "refund" && account == "commission")
        .map(|(_, _, n)| n)
        .collect();
    assert_eq!(commission, [-6_666, -6_667, -16_667], "floor(C×R/E) cumulative; the last takes exactly what remains");
    let b = app.balances().await;
    assert_eq!((b.commission, b.mitra_pending, b.mitra_available, b.refunds_in_flight), (0, 0, 0, PRICE));
    let bodies = xendit.refund_bodies().await;
    assert_eq!(bodies.iter().map(|b| b["amount"].as_i64().unwrap()).sum::<i64>(), PRICE);
    for (refund, amount, _, _) in app.refund_rows(&id).await {
        let ok = refund_body("refund.succeeded", &refund.to_string(), &format!("rfd-{refund}"), amount);
        app.xendit_callback("refund", &ok).await;
    }
    assert_eq!(app.order_row(&id).await, ("refunded".into(), None, PRICE));
    app.ledger_holds().await;
}

#[tokio::test]
async fn concurrent_admin_refunds_never_exceed_what_was_paid() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id: Uuid = app.accepted(&shop).await.parse().unwrap();
    let admin = app.admin().await;
    let payments = app.payments();

    let each = refund_of(Some(40_000));
    let results = futures_util::future::join_all((0..8).map(|_| payments.refund_by_staff(&admin, id, &each))).await;

    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3, "3 × 40 000 fit in 150 000; the rest are refused");
    let asked: i64 = xendit.refund_bodies().await.iter().map(|b| b["amount"].as_i64().unwrap()).sum();
    assert_eq!(asked, 120_000);
    let rows: i64 = app.refund_rows(&id.to_string()).await.iter().map(|r| r.1).sum();
    assert_eq!(rows, 120_000);
    app.ledger_holds().await;
}

#[tokio::test]
async fn a_refund_callback_for_another_refund_id_or_amount_flags_the_order_and_moves_nothing() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.unpaid(&shop).await;
    app.pay_in_full(&id).await;
    app.mitra_does(&shop, &id, "decline").await;
    let refund = app.refund_rows(&id).await[0].0.to_string();

    let other_id = refund_body("refund.succeeded", &refund, "rfd-someone-else", PRICE);
    let other_amount = refund_body("refund.succeeded", &refund, &format!("rfd-{refund}"), 1_000);
    for body in [other_id, other_amount] {
        assert_eq!(app.xendit_callback("refund", &body).await.status, StatusCode::OK);
    }

    assert_eq!(app.order_row(&id).await, ("refund_pending".into(), Some("refund_mismatch".into()), 0));
    assert_eq!(app.refund_rows(&id).await[0].3, "pending");
    assert_eq!(app.balances().await.refunds_in_flight, PRICE);
    let outcomes: Vec<String> = sqlx::query_scalar("SELECT outcome FROM payment_callbacks WHERE kind = 'refund'")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(outcomes, ["flagged", "flagged"]);
}

#[tokio::test]
async fn the_database_refuses_an_unbalanced_transaction_and_any_change_to_a_posting() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.unpaid(&shop).await;
    app.pay_in_full(&id).await;
    let pool = &app.db.pool;

    let mut tx = pool.begin().await.unwrap();
    let txn: i64 =
        sqlx::query_scalar("INSERT INTO ledger_transactions (reference, kind) VALUES ('bad', 'x') RETURNING id")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    sqlx::query("INSERT INTO ledger_postings (transaction_id, account, amount, kind) VALUES ($1, 'cash', -5, 'x')")
        .bind(txn)
        .execute(&mut *tx)
        .await
        .unwrap();
    let commit = tx.commit().await;
    let update = sqlx::query("UPDATE ledger_postings SET amount = amount + 1").execute(pool).await;
    let delete = sqlx::query("DELETE FROM ledger_postings").execute(pool).await;
    let truncate = sqlx::query("TRUNCATE ledger_postings CASCADE").execute(pool).await;
    let retitle = sqlx::query("UPDATE ledger_transactions SET reference = 'x'").execute(pool).await;

    let message = commit.expect_err("an unbalanced transaction cannot commit").to_string();
    assert!(message.contains("does not balance"), "{message}");
    for (what, result) in [("update", update), ("delete", delete), ("truncate", truncate), ("retitle", retitle)] {
        let message = result.expect_err(what).to_string();
        assert!(message.contains("insert-only"), "{what}: {message}");
    }
    assert_eq!(app.postings(&id).await.len(), 2, "untouched");
    app.ledger_holds().await;
}

#[tokio::test]
async fn ledger_check_prints_one_summary_line_or_lists_each_violation_and_exits_1() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.accepted(&shop).await;
    app.mitra_does(&shop, &id, "complete").await;
    let run = || {
        std::process::Command::new(BIN)
            .env_clear()
            .env("DATABASE_URL", app.db.url())
            .arg("ledger-check")
            .output()
            .unwrap()
    };
    let fine = run();
    let printed = |out: &std::process::Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('{')).map(str::to_owned).collect()
    };
    assert!(fine.status.success(), "{}", String::from_utf8_lossy(&fine.stderr));
    assert_eq!(printed(&fine).len(), 1);
    assert!(printed(&fine)[0]
        .starts_with("ledger ok: 2 transactions, 5 postings; cash 150000 = escrow 0 + commission 30000"));

    // A balanced but wrong transaction: money put back into a completed order's escrow.
    let mut conn = app.db.pool.acquire().await.unwrap();
    let order: Uuid = id.parse().unwrap();
    let legs = vec![(halo_shared::ledger::Account::Cash, -7), (halo_shared::ledger::Account::Escrow(order), 7)];
    let entry = halo_shared::ledger::Entry { reference: "test:wrong", kind: "paid", about: Default::default(), legs };
    halo_shared::ledger::post(&mut conn, &entry).await.unwrap();
    let broken = run();

    assert_eq!(broken.status.code(), Some(1));
    assert_eq!(printed(&broken), [format!("order {id} is completed but its escrow holds 7")]);
}

#[tokio::test]
async fn the_same_idempotency_key_with_another_body_is_422_and_unpaid_orders_are_capped() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;

    let first = app.place_order(&shop, Some("k-1"), Some("jam 10")).await;
    let retry = app.place_order(&shop, Some("k-1"), Some("jam 10")).await;
    let reused = app.place_order(&shop, Some("k-1"), Some("jam 11")).await;

    assert_eq!((first.status, retry.status), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(retry.str("id"), first.str("id"));
    assert_eq!((reused.status, reused.error_code()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    for _ in 0..4 {
        assert_eq!(app.place_order(&shop, None, None).await.status, StatusCode::CREATED);
    }
    let sixth = app.place_order(&shop, None, None).await;
    assert_eq!(
        (sixth.status, sixth.error_code()),
        (StatusCode::CONFLICT, "conflict"),
        "MAX_PENDING_ORDERS_PER_CUSTOMER is 5"
    );
    let paid = first.str("id");
    app.pay_in_full(&paid).await;
    assert_eq!(app.place_order(&shop, None, None).await.status, StatusCode::CREATED, "a paid order frees a place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creating_an_order_commits_it_before_xendit_is_called_and_holds_no_transaction_meanwhile() {
    use wiremock::matchers::{method, path};
    let server = wiremock::MockServer::start().await;
    let (reached, wait_reached) = std::sync::mpsc::channel::<()>();
    let (release, wait_release) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new((reached, wait_release));
    wiremock::Mock::given(method("POST"))
        .and(path("/v2/invoices"))
        .respond_with(move |req: &wiremock::Request| {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            let gate = gate.lock().unwrap();
            gate.0.send(()).unwrap();
            gate.1.recv().unwrap();
            let external_id = body["external_id"].as_str().unwrap();
            wiremock::ResponseTemplate::new(200).set_body_json(invoice(external_id, body["amount"].as_i64().unwrap()))
        })
        .mount(&server)
        .await;
    let fake = FakeXendit { server, refunds: Default::default(), expire_fails: Default::default() };
    let app = money_app(&fake).await;
    let shop = app.open_shop().await;

    let (bought, (during, in_transaction, listed)) = tokio::join!(app.place_order(&shop, None, None), async {
        tokio::task::spawn_blocking(move || wait_reached.recv().unwrap()).await.unwrap();
        let during: Vec<String> =
            sqlx::query_scalar("SELECT status FROM orders").fetch_all(&app.db.pool).await.unwrap();
        let in_transaction: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        let listed = app.get_with("/api/client/orders", &shop.customer).await;
        release.send(()).unwrap();
        (during, in_transaction, listed)
    });

    assert_eq!(during, ["creating"], "committed before Xendit answers");
    assert_eq!(in_transaction, 0, "no transaction waits on Xendit");
    assert_eq!(listed.body["items"], json!([]), "a creating order is not listed");
    assert_eq!((bought.status, bought.body["status"].as_str()), (StatusCode::CREATED, Some("pending_payment")));
}

#[tokio::test]
async fn a_refund_xendit_could_not_take_is_asked_again_by_reconciliation_under_the_same_key() {
    let xendit = FakeXendit::start().await;
    xendit.refunds_answer(RefundMode::Down);
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;
    let id = app.unpaid(&shop).await;
    app.pay_in_full(&id).await;

    let cancelled = app.customer_does(&shop, &id, "cancel", None).await;
    assert_eq!(cancelled.body["refunds"][0]["status"], "requested", "{}", cancelled.body);
    xendit.refunds_answer(RefundMode::Pending);
    let changed = halo_shared::payments::reconcile::run(&app.payments()).await.unwrap();

    assert_eq!(changed, 1);
    let keys: Vec<String> = xendit
        .received("/refunds")
        .await
        .iter()
        .map(|r| r.headers.get("idempotency-key").unwrap().to_str().unwrap().to_owned())
        .collect();
    let refund = app.refund_rows(&id).await[0].0.to_string();
    assert_eq!(keys, [refund.clone(), refund], "one refund, asked twice under its own key");
    assert_eq!(app.refund_rows(&id).await[0].3, "pending");
    app.ledger_holds().await;
}

#[tokio::test]
async fn reconciliation_pages_through_every_stale_order_and_open_refund_past_any_backlog() {
    use wiremock::matchers::{method, path};
    let xendit = FakeXendit::start().await;
    let mut settings = xendit.settings();
    settings.shared.money.max_pending_orders_per_customer = 10;
    let app = crate::helpers::spawn_app_with(settings).await;
    let shop = app.open_shop().await;
    let mut unpaid = Vec::new();
    for _ in 0..5 {
        unpaid.push(app.unpaid(&shop).await);
    }
    // Older than a minute: no API sets the clock back.
    sqlx::query("UPDATE orders SET created_at = now() - interval '2 minutes'").execute(&app.db.pool).await.unwrap();
    xendit.refunds_answer(RefundMode::Down);
    let refunded = app.accepted(&shop).await;
    let admin = app.admin().await;
    for _ in 0..3 {
        app.payments().refund_by_staff(&admin, refunded.parse().unwrap(), &refund_of(Some(10_000))).await.unwrap();
    }
    xendit.refunds_answer(RefundMode::Pending);
    // Xendit now reports every stale invoice paid.
    wiremock::Mock::given(method("GET"))
        .and(path("/v2/invoices"))
        .respond_with(|req: &wiremock::Request| {
            let id = req.url.query_pairs().find(|(k, _)| k == "external_id").unwrap().1.into_owned();
            let mut paid = invoice(&id, PRICE);
            paid["status"] = json!("PAID");
            paid["paid_amount"] = json!(PRICE);
            wiremock::ResponseTemplate::new(200).set_body_json(json!([paid]))
        })
        .with_priority(1)
        .mount(&xendit.server)
        .await;

    let changed = halo_shared::payments::reconcile::run_paged(&app.payments(), 2).await.unwrap();

    assert_eq!(changed, 5 + 3, "five orders paid, three refunds accepted, two at a time");
    for id in &unpaid {
        assert_eq!(app.order_row(id).await.0, "paid");
    }
    assert!(app.refund_rows(&refunded).await.iter().all(|r| r.3 == "pending"));
    app.ledger_holds().await;
}

#[test]
fn reconcile_payments_refuses_the_stub_unless_asked_for_and_a_cloud_run_job_counts_as_cloud_run() {
    let run = |env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(BIN);
        command.env_clear().env("DATABASE_URL", "postgres://127.0.0.1:9/nothing").arg("reconcile-payments");
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    };

    let implicit = run(&[]);
    let in_a_job = run(&[("PAYMENT_PROVIDER", "stub"), ("CLOUD_RUN_JOB", "halo-reconcile-payments")]);

    assert!(!implicit.status.success());
    assert!(String::from_utf8_lossy(&implicit.stderr).contains("PAYMENT_PROVIDER=stub explicitly"));
    assert!(!in_a_job.status.success());
    assert!(String::from_utf8_lossy(&in_a_job.stderr).contains("PAYMENT_PROVIDER=stub on Cloud Run"));
}

#[tokio::test]
async fn of_concurrent_creates_by_one_customer_only_the_unpaid_cap_succeed() {
    let xendit = FakeXendit::start().await;
    let app = money_app(&xendit).await;
    let shop = app.open_shop().await;

    let replies = futures_util::future::join_all((0..12).map(|_| app.place_order(&shop, None, None))).await;

    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");
    let unpaid: i64 = sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(unpaid, 5);
}
