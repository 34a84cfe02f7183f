//! Moderation through the control center's routes (contract §14): the report queue,
//! resolving by dismissing or hiding (audited), reading a conversation (each read
//! audited), and hiding a review; and who may call them.

use halo_shared::marketplace::chat::{self, Rules, Sent};
use halo_shared::marketplace::orders::{Actor, OrderStatus};
use halo_shared::marketplace::reviews::{self, NewReview};
use halo_shared::marketplace::Party;
use halo_shared::payments::Payments;
use halo_shared::tokens::UserType;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{send, spawn_app, TestApp};

const RULES: Rules = Rules { open_days_after_end: 7, messages_per_minute: 30 };

impl TestApp {
    /// A completed order with one message each way, the mitra's reported by the
    /// customer: (order, customer, mitra, the reported message).
    async fn reported_conversation(&self) -> (Uuid, Uuid, Uuid, Uuid) {
        let f = self.fixtures();
        let mitra = f.listed_mitra("Sari").await;
        let customer = f.verified_customer().await;
        let order = f.order(&customer, mitra.service_id).await;
        f.pay(order).await;
        let say =
            |party, body: &'static str, id: &'static str| chat::post(&self.state.db, party, order, body, id, RULES);
        say(Party::Customer(customer.id), "Halo", "c-1").await.unwrap();
        let Sent::New(rude) = say(Party::Mitra(mitra.id), "kata kasar", "m-1").await.unwrap() else {
            panic!("a new message")
        };
        chat::report(&self.state.db, Party::Customer(customer.id), order, rude.id, "bahasa kasar").await.unwrap();
        let payments = Payments::of(&self.state);
        payments.move_order(order, OrderStatus::Accepted, Actor::Mitra(mitra.id)).await.unwrap();
        f.time_passes(order).await;
        payments.move_order(order, OrderStatus::Completed, Actor::Mitra(mitra.id)).await.unwrap();
        (order, customer.id, mitra.id, rude.id)
    }

    async fn audit_actions(&self, target: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id")
            .bind(target)
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn an_agent_lists_open_reports_and_hides_the_message_for_both_parties_audited() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let (order, customer, mitra, rude) = app.reported_conversation().await;

    let open = app.as_staff("GET", "/internal/reports?status=open", &agent, None).await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.body);
    let report = open.body["items"][0].clone();
    assert_eq!(
        (
            report["order_id"].as_str(),
            report["reporter"].as_str(),
            report["reason"].as_str(),
            report["status"].as_str()
        ),
        (Some(order.to_string().as_str()), Some("customer"), Some("bahasa kasar"), Some("open"))
    );
    assert_eq!(
        (report["message"]["id"].as_str(), report["message"]["body"].as_str()),
        (Some(rude.to_string().as_str()), Some("kata kasar"))
    );
    let id = report["id"].as_str().unwrap().to_owned();

    let bad = app
        .as_staff("POST", &format!("/internal/reports/{id}/resolve"), &agent, Some(json!({ "action": "delete" })))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let body = json!({ "action": "hide_message", "note": "melanggar aturan" });
    let resolved = app.as_staff("POST", &format!("/internal/reports/{id}/resolve"), &agent, Some(body.clone())).await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(
        (resolved.body["status"].as_str(), resolved.body["action"].as_str()),
        (Some("resolved"), Some("hide_message"))
    );
    assert_eq!(resolved.body["message"]["hidden"], true);
    let again = app.as_staff("POST", &format!("/internal/reports/{id}/resolve"), &agent, Some(body)).await;
    assert_eq!((again.status, again.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    let unknown = app
        .as_staff(
            "POST",
            &format!("/internal/reports/{}/resolve", Uuid::new_v4()),
            &agent,
            Some(json!({ "action": "dismiss" })),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.audit_actions(&id).await, ["report.resolve"]);
    let open = app.as_staff("GET", "/internal/reports?status=open", &agent, None).await;
    assert_eq!(open.body["items"], json!([]));

    let page = halo_shared::pagination::Page::parse(None, None).unwrap();
    for party in [Party::Customer(customer), Party::Mitra(mitra)] {
        let (messages, _) = chat::history(&app.state.db, party, order, page).await.unwrap();
        let hidden = messages.iter().find(|m| m.id == rude).unwrap();
        assert_eq!((hidden.body.clone(), hidden.hidden), (None, true), "hidden from both");
    }
    let events: Vec<(String, Uuid, Value)> = sqlx::query_as(
        "SELECT user_type, user_id, data FROM user_events WHERE type = 'message.updated' ORDER BY user_type",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(events.len(), 2, "both parties hear of it");
    assert_eq!(
        (events[0].0.as_str(), events[0].1, events[1].0.as_str(), events[1].1),
        ("customer", customer, "mitra", mitra)
    );
    assert_eq!(
        (events[0].2["id"].as_str(), events[0].2["body"].clone()),
        (Some(rude.to_string().as_str()), Value::Null)
    );
}

#[tokio::test]
async fn every_staff_read_of_a_conversation_is_an_audit_entry() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let (order, _, _, _) = app.reported_conversation().await;
    for _ in 0..2 {
        let read = app.as_staff("GET", &format!("/internal/orders/{order}/messages?limit=1"), &agent, None).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        assert_eq!(read.body["items"][0]["body"], "kata kasar", "newest first");
        assert!(read.body["next_cursor"].is_string());
    }
    let viewed: Vec<String> =
        app.audit_actions(&order.to_string()).await.into_iter().filter(|a| a == "order.messages_viewed").collect();
    assert_eq!(viewed.len(), 2);
    let missing = app.as_staff("GET", &format!("/internal/orders/{}/messages", Uuid::new_v4()), &agent, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_agent_hides_a_review_through_its_route_and_it_is_audited() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let (order, customer, mitra, _) = app.reported_conversation().await;
    let review = NewReview { rating: 1, comment: Some("kata kasar") };
    let written = reviews::create(&app.state.db, Party::Customer(customer), order, &review, 7).await.unwrap();
    let hide = app
        .as_staff(
            "POST",
            &format!("/internal/reviews/{}/hide", written.id),
            &agent,
            Some(json!({ "reason": "abusive" })),
        )
        .await;
    assert_eq!(hide.status, StatusCode::OK, "{}", hide.body);
    assert_eq!(hide.body["id"], written.id.to_string());
    assert_eq!(app.audit_actions(&written.id.to_string()).await, ["review.hide"]);
    let hidden: bool = sqlx::query_scalar("SELECT hidden_at IS NOT NULL FROM reviews WHERE id = $1")
        .bind(written.id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(hidden);
    let ratings = reviews::ratings(&app.state.db, halo_shared::marketplace::Side::Mitra, &[mitra], 0).await.unwrap();
    assert_eq!(ratings[0].1.count, 0, "a hidden review counts nowhere, even once published");
    let missing = app
        .as_staff("POST", &format!("/internal/reviews/{}/hide", Uuid::new_v4()), &agent, Some(json!({ "reason": "x" })))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn moderation_routes_refuse_anonymous_callers_and_app_tokens() {
    let app = spawn_app().await;
    let (order, _, _, _) = app.reported_conversation().await;
    let (customer, _) =
        app.state.keys.mint(Uuid::new_v4(), UserType::Customer, Uuid::new_v4(), chrono::Utc::now().timestamp());
    let id = Uuid::new_v4();
    let routes = [
        ("GET", "/internal/reports".to_owned(), None),
        ("POST", format!("/internal/reports/{id}/resolve"), Some(json!({ "action": "dismiss" }))),
        ("GET", format!("/internal/orders/{order}/messages"), None),
        ("POST", format!("/internal/reviews/{id}/hide"), Some(json!({ "reason": "x" }))),
    ];
    for (method, path, body) in routes {
        let app_token = app.as_staff(method, &path, &customer, body.clone()).await;
        assert!(
            matches!(app_token.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
            "{method} {path}: {}",
            app_token.status
        );
        let req = match method {
            "GET" => app.client.get(&path),
            _ => app.client.post(&path).body_json(body.as_ref().unwrap()),
        };
        assert_eq!(send(req).await.status, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
    }
    let viewed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'order.messages_viewed'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(viewed, 0, "a refused read is not audited as a read");
}
