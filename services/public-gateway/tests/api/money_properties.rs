//! A property test of the money rules: random sequences of order moves, callbacks
//! (duplicated and out of order), admin refunds, disputes and releases against the real
//! database and the fake Xendit; after every step `ledger-check` holds and cash equals
//! the sum of the other balances. Few cases, each a fresh sequence over one database.

use halo_shared::marketplace::MarketError;
use halo_shared::payments::staff::{RefundFrom, StaffRefund};
use halo_shared::payments::PaymentError;
use poem::http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::money_support::*;

#[derive(Debug, Clone)]
enum Step {
    Create,
    /// The order's own invoice paid in full, delivered `copies` times.
    Pay {
        order: usize,
        copies: u8,
    },
    PayWrongAmount {
        order: usize,
    },
    PaySecondInvoice {
        order: usize,
    },
    Expire {
        order: usize,
    },
    Cancel {
        order: usize,
    },
    Decline {
        order: usize,
    },
    Accept {
        order: usize,
    },
    Complete {
        order: usize,
    },
    /// An admin refund of `quarters`/4 of the price (0: all that is refundable), from the
    /// order or its unmatched money.
    Refund {
        order: usize,
        quarters: u8,
        unmatched: bool,
    },
    /// The result of the `refund`-th refund ever asked, delivered once or twice.
    RefundResult {
        refund: usize,
        succeeded: bool,
        twice: bool,
    },
    XenditRejectsRefunds(bool),
    Dispute {
        order: usize,
    },
    Resolve {
        order: usize,
        refund: bool,
    },
    Release {
        order: usize,
    },
    Reconcile,
}

fn step() -> impl Strategy<Value = Step> {
    let order = 0usize..4;
    prop_oneof![
        3 => Just(Step::Create),
        3 => (order.clone(), 1u8..4).prop_map(|(order, copies)| Step::Pay { order, copies }),
        1 => order.clone().prop_map(|order| Step::PayWrongAmount { order }),
        1 => order.clone().prop_map(|order| Step::PaySecondInvoice { order }),
        1 => order.clone().prop_map(|order| Step::Expire { order }),
        1 => order.clone().prop_map(|order| Step::Cancel { order }),
        1 => order.clone().prop_map(|order| Step::Decline { order }),
        2 => order.clone().prop_map(|order| Step::Accept { order }),
        2 => order.clone().prop_map(|order| Step::Complete { order }),
        2 => (order.clone(), 0u8..4, any::<bool>()).prop_map(|(order, quarters, unmatched)| Step::Refund { order, quarters, unmatched }),
        3 => (0usize..6, any::<bool>(), any::<bool>()).prop_map(|(refund, succeeded, twice)| Step::RefundResult { refund, succeeded, twice }),
        1 => any::<bool>().prop_map(Step::XenditRejectsRefunds),
        1 => order.clone().prop_map(|order| Step::Dispute { order }),
        1 => (order.clone(), any::<bool>()).prop_map(|(order, refund)| Step::Resolve { order, refund }),
        1 => order.prop_map(|order| Step::Release { order }),
        1 => Just(Step::Reconcile),
    ]
}

/// A library call may refuse (bad amount, wrong state); it may never fail unexpectedly.
fn refused_or_done<T>(result: Result<T, PaymentError>) {
    match result {
        Ok(_) => {}
        Err(PaymentError::Market(
            MarketError::Invalid(_) | MarketError::InvalidState(_) | MarketError::NotFound(_),
        )) => {}
        Err(other) => panic!("unexpected failure: {other:?}"),
    }
}

fn no_500(reply: &crate::helpers::Reply) {
    assert!(reply.status != StatusCode::INTERNAL_SERVER_ERROR, "{}", reply.body);
}

async fn drive(app: &TestApp, shop: &Shop, xendit: &FakeXendit, steps: Vec<Step>) {
    let admin = app.admin().await;
    let mut orders: Vec<String> = Vec::new();
    xendit.refunds_answer(RefundMode::Pending);
    for step in steps {
        let pick = |i: usize| orders.get(i % orders.len().max(1)).cloned();
        match step {
            Step::Create => {
                let reply = app.place_order(shop, None, None).await;
                no_500(&reply);
                if reply.status == StatusCode::CREATED {
                    orders.push(reply.str("id"));
                }
            }
            Step::Pay { order, copies } => {
                if let Some(id) = pick(order) {
                    for _ in 0..copies {
                        no_500(&app.xendit_callback("invoice", &paid_body(&id, &format!("inv-{id}"), PRICE)).await);
                    }
                }
            }
            Step::PayWrongAmount { order } => {
                if let Some(id) = pick(order) {
                    no_500(&app.xendit_callback("invoice", &paid_body(&id, &format!("inv-{id}"), PRICE - 1)).await);
                }
            }
            Step::PaySecondInvoice { order } => {
                if let Some(id) = pick(order) {
                    no_500(&app.xendit_callback("invoice", &paid_body(&id, &format!("inv2-{id}"), PRICE)).await);
                }
            }
            Step::Expire { order } => {
                if let Some(id) = pick(order) {
                    let body =
                        json!({ "id": format!("inv-{id}"), "external_id": id, "status": "EXPIRED", "amount": PRICE });
                    no_500(&app.xendit_callback("invoice", &body.to_string()).await);
                }
            }
            Step::Cancel { order } => {
                if let Some(id) = pick(order) {
                    no_500(&app.customer_does(shop, &id, "cancel", None).await);
                }
            }
            Step::Decline { order } | Step::Accept { order } | Step::Complete { order } => {
                let what = match step {
                    Step::Decline { .. } => "decline",
                    Step::Accept { .. } => "accept",
                    _ => "complete",
                };
                if let Some(id) = pick(order) {
                    no_500(&app.mitra_does(shop, &id, what).await);
                }
            }
            Step::Refund { order, quarters, unmatched } => {
                if let Some(id) = pick(order) {
                    let amount = (quarters > 0).then(|| PRICE * i64::from(quarters) / 4);
                    let source = Some(if unmatched { RefundFrom::Unmatched } else { RefundFrom::Order });
                    let req = StaffRefund { reason: "property", amount, source, outside_xendit: false };
                    refused_or_done(app.payments().refund_by_staff(&admin, id.parse().unwrap(), &req).await);
                }
            }
            Step::RefundResult { refund, succeeded, twice } => {
                let all: Vec<(Uuid, i64)> = sqlx::query_as("SELECT id, amount FROM refunds ORDER BY created_at, id")
                    .fetch_all(&app.db.pool)
                    .await
                    .unwrap();
                if let Some((id, amount)) = all.get(refund % all.len().max(1)) {
                    let event = if succeeded { "refund.succeeded" } else { "refund.failed" };
                    let body = refund_body(event, &id.to_string(), &format!("rfd-{id}"), *amount);
                    for _ in 0..(1 + u8::from(twice)) {
                        no_500(&app.xendit_callback("refund", &body).await);
                    }
                }
            }
            Step::XenditRejectsRefunds(rejects) => {
                xendit.refunds_answer(if rejects { RefundMode::Rejected } else { RefundMode::Pending });
            }
            Step::Dispute { order } => {
                if let Some(id) = pick(order) {
                    no_500(&app.customer_does(shop, &id, "dispute", Some(json!({ "reason": "property" }))).await);
                }
            }
            Step::Resolve { order, refund } => {
                if let Some(id) = pick(order) {
                    let resolved =
                        app.payments().resolve_dispute(&admin, id.parse().unwrap(), refund, None, "property").await;
                    refused_or_done(resolved);
                }
            }
            Step::Release { order } => {
                if let Some(id) = pick(order) {
                    app.hold_passed(&id).await;
                }
                halo_shared::payments::money::release_due(&app.db.pool).await.unwrap();
            }
            Step::Reconcile => {
                halo_shared::payments::reconcile::run(&app.payments()).await.unwrap();
            }
        }
        app.ledger_holds().await;
    }
    // Whatever happened, no order's money exceeds what was paid for it.
    let over: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refunds r JOIN orders o ON o.id = r.order_id
         WHERE r.status <> 'failed' AND r.source <> 'unmatched'
         GROUP BY o.id, o.amount HAVING sum(r.amount) > o.amount",
    )
    .fetch_optional(&app.db.pool)
    .await
    .unwrap()
    .unwrap_or(0);
    assert_eq!(over, 0, "refunds of an order's own money never exceed what it was paid");
}

#[test]
fn random_sequences_of_moves_callbacks_refunds_and_releases_keep_the_ledger_whole() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (xendit, app, shop) = rt.block_on(async {
        let xendit = FakeXendit::start().await;
        let mut settings = xendit.settings();
        settings.shared.money.max_pending_orders_per_customer = 1_000;
        let app = crate::helpers::spawn_app_with(settings).await;
        let shop = app.open_shop().await;
        (xendit, app, shop)
    });
    let config = Config { cases: 8, max_shrink_iters: 16, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&proptest::collection::vec(step(), 1..28), |steps| {
        rt.block_on(drive(&app, &shop, &xendit, steps));
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
