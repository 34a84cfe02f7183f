//! Payouts in reconcile-payments (§12, §16): accepted payouts read back after ten minutes,
//! pending ones resubmitted with their own key, eligibility re-checked first.

use crate::payouts_support::*;

impl crate::helpers::TestApp {
    async fn age_payouts(&self, minutes: i32) {
        sqlx::query(
            "UPDATE payouts SET created_at = created_at - make_interval(mins => $1),
                                accepted_at = accepted_at - make_interval(mins => $1)",
        )
        .bind(minutes)
        .execute(&self.db.pool)
        .await
        .unwrap();
    }

    async fn hold(&self, mitra: uuid::Uuid) {
        let admin = self.admin().await;
        halo_shared::payouts::holds::put(&self.db.pool, &admin, mitra, "looking into it").await.unwrap();
    }
}

#[tokio::test]
async fn reconciliation_reads_back_payouts_accepted_for_ten_minutes_and_applies_what_xendit_says() {
    let w = payout_world().await;
    let (old, old_id) = w.app.paid_out(80_000).await;
    w.payouts.set_status(old_id, "SUCCEEDED");
    w.app.age_payouts(11).await;
    let (fresh, fresh_id) = w.app.paid_out(70_000).await;
    w.payouts.set_status(fresh_id, "FAILED");

    let changed = w.app.payouts().reconcile().await.unwrap();

    assert_eq!(changed, 1);
    assert_eq!(w.app.payout_rows(old.id).await[0].1, "succeeded");
    assert_eq!(w.app.payout_rows(fresh.id).await[0].1, "accepted", "younger than ten minutes: left to its callback");
    let reads: Vec<String> = w.xendit.received("/v2/payouts/").await.iter().map(|r| r.url.path().to_owned()).collect();
    assert_eq!(reads, [format!("/v2/payouts/disb-{old_id}")]);
    assert_eq!(w.app.mitra_balances(old.id).await.in_payout, 0);
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn reconciliation_resubmits_pending_payouts_and_cancels_one_whose_mitra_may_no_longer_be_paid() {
    let w = payout_world().await;
    let still = w.app.payable_mitra(60_000).await;
    let held = w.app.payable_mitra(90_000).await;
    w.payouts.answer(CreateMode::SlowNothing);
    w.app.run_payouts().await;
    w.app.hold(held.id).await;
    w.app.age_payouts(2).await;
    w.payouts.answer(CreateMode::Accept);
    let posts_before = w.xendit.received("/v2/payouts").await.iter().filter(|r| r.method.as_str() == "POST").count();

    let changed = w.app.payouts().reconcile().await.unwrap();

    assert_eq!(changed, 2);
    assert_eq!(w.app.payout_rows(still.id).await[0].1, "accepted");
    let (held_payout, status, _, _) = w.app.payout_rows(held.id).await[0].clone();
    assert_eq!(status, "cancelled", "not eligible and unknown to Xendit: cancelled, money back");
    assert_eq!(w.app.mitra_balances(held.id).await.available, 90_000);
    let posts: Vec<_> =
        w.xendit.received("/v2/payouts").await.into_iter().filter(|r| r.method.as_str() == "POST").collect();
    assert_eq!(posts.len(), posts_before + 1, "only the eligible one is sent again");
    let key = posts.last().unwrap().headers.get("idempotency-key").unwrap().to_str().unwrap().to_owned();
    assert_eq!(key, w.app.payout_rows(still.id).await[0].0.to_string(), "with its own key");
    assert_ne!(key, held_payout.to_string());
    w.app.ledger_holds().await;
}

#[tokio::test]
async fn a_payout_xendit_holds_accepted_for_a_mitra_no_longer_eligible_is_cancelled_at_xendit() {
    let w = payout_world().await;
    let mitra = w.app.payable_mitra(75_000).await;
    w.payouts.answer(CreateMode::SlowButMade);
    w.app.run_payouts().await;
    w.app.fixtures().suspend(halo_shared::tokens::UserType::Mitra, mitra.id).await;
    w.app.age_payouts(2).await;

    w.app.payouts().reconcile().await.unwrap();

    let (id, status, _, _) = w.app.payout_rows(mitra.id).await[0].clone();
    assert_eq!(status, "cancelled");
    let cancels: Vec<String> = w
        .xendit
        .received("/v2/payouts/")
        .await
        .iter()
        .filter(|r| r.url.path().ends_with("/cancel"))
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(cancels, [format!("/v2/payouts/disb-{id}/cancel")]);
    assert_eq!(w.app.mitra_balances(mitra.id).await.available, 75_000, "a suspended mitra's money stays in the ledger");
    w.app.ledger_holds().await;
}
