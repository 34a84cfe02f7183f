//! The marketplace (contract §8): mitra profile and services, browsing, and orders with
//! their state machine, against real services and a real database.

use std::collections::HashSet;

use halo_shared::marketplace::orders::{self, Actor, OrderStatus};
use halo_shared::testing::fixtures::fresh_phone;
use halo_shared::tokens::UserType;
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::ws::{connect, next_event};
use crate::helpers::{app_on, next_start, relaxed, send, spawn_app_with, Reply, TestApp};

impl TestApp {
    async fn add_service(&self, token: &str, body: Value) -> Reply {
        self.bearer_send("POST", "/api/mitra/services", token, Some(body)).await
    }

    async fn order(&self, customer: &str, service: Uuid, key: Option<&str>) -> Reply {
        let mut req = self
            .client
            .post("/api/client/orders")
            .header("authorization", format!("Bearer {customer}"))
            .body_json(&json!({ "service_id": service, "note": "Tolong datang jam 7",
                                "starts_at": next_start(key.map(|k| format!("{customer}{k}")).as_deref()) }));
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        send(req).await
    }

    /// Payment confirmation as the provider's paid callback brings it.
    async fn pay(&self, order: &str) {
        self.fixtures().pay(order.parse().unwrap()).await;
    }

    async fn listed_ids(&self, customer: &str, query: &str) -> Vec<String> {
        let reply = self.get_with(&format!("/api/client/mitras{query}"), customer).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    }
}

#[tokio::test]
async fn a_mitra_submits_for_verification_once_and_only_with_a_display_name() {
    let app = spawn_app_with(relaxed()).await;
    let token = app.signed_in("mitra", &fresh_phone(), "a").await;

    let nameless = app.bearer_send("POST", "/api/mitra/verification", &token, None).await;
    assert_eq!((nameless.status, nameless.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    app.bearer_send("PATCH", "/api/mitra/me", &token, Some(json!({ "display_name": "Sari" }))).await;
    let submitted = app.bearer_send("POST", "/api/mitra/verification", &token, None).await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    assert_eq!(submitted.body["verification_status"], "pending");
    let again = app.bearer_send("POST", "/api/mitra/verification", &token, None).await;
    assert_eq!((again.status, again.error_code()), (StatusCode::CONFLICT, "invalid_state"));

    app.fixtures().decide_verification(app.claims(&token).sub, false).await;
    let resubmitted = app.bearer_send("POST", "/api/mitra/verification", &token, None).await;
    assert_eq!(resubmitted.body["verification_status"], "pending", "a rejected mitra may submit again");

    let online = app.bearer_send("PUT", "/api/mitra/availability", &token, Some(json!({ "online": true }))).await;
    assert_eq!(online.body["is_online"], true);
}

#[tokio::test]
async fn a_mitra_creates_edits_and_deactivates_services_within_the_limits() {
    let app = spawn_app_with(relaxed()).await;
    let token = app.fixtures().mitra("Sari").await.access_token;
    let other = app.fixtures().mitra("Dewi").await.access_token;

    let created = app
        .add_service(
            &token,
            json!({ "title": " Pijat ", "description": "Refleksi", "price": 1000, "duration_minutes": 5 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body,
        json!({ "id": created.body["id"], "title": "Pijat", "description": "Refleksi", "price": 1000,
                "currency": "IDR", "duration_minutes": 5, "active": true })
    );
    for (body, field) in [
        (json!({ "title": "x", "price": 999, "duration_minutes": 60 }), "price"),
        (json!({ "title": "x", "price": 100_000_001, "duration_minutes": 60 }), "price"),
        (json!({ "title": "x", "price": 5000, "duration_minutes": 4 }), "duration_minutes"),
        (json!({ "title": "x", "price": 5000, "duration_minutes": 1441 }), "duration_minutes"),
        (json!({ "title": "  ", "price": 5000, "duration_minutes": 60 }), "title"),
    ] {
        let refused = app.add_service(&token, body.clone()).await;
        assert_eq!((refused.status, refused.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{body}");
        assert!(refused.body["error"]["message"].as_str().unwrap().contains(field), "{}", refused.body);
    }

    let id = created.str("id");
    let path = format!("/api/mitra/services/{id}");
    let edited = app.bearer_send("PATCH", &path, &token, Some(json!({ "price": 2500, "active": false }))).await;
    assert_eq!((edited.body["price"].as_i64(), edited.body["active"].as_bool()), (Some(2500), Some(false)));
    let theirs = app.bearer_send("PATCH", &path, &other, Some(json!({ "price": 3000 }))).await;
    assert_eq!((theirs.status, theirs.error_code()), (StatusCode::NOT_FOUND, "not_found"));
    let listed = app.get_with("/api/mitra/services", &token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "the other mitra's edit changed nothing");
    assert_eq!(listed.body["items"][0]["price"], 2500);
    let statuses: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mitra_services").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(statuses, 1, "refused creates wrote nothing");
}

#[tokio::test]
async fn customers_see_only_approved_unsuspended_mitra_with_an_active_service() {
    let app = spawn_app_with(relaxed()).await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let listed = app.fixtures().listed_mitra("Listed").await;
    let unapproved = app.fixtures().mitra("Unapproved").await.id;
    let suspended = app.fixtures().listed_mitra("Suspended").await;
    app.fixtures().suspend(UserType::Mitra, suspended.id).await;
    let inactive = app.fixtures().listed_mitra("Inactive").await;
    app.bearer_send(
        "PATCH",
        &format!("/api/mitra/services/{}", inactive.service_id),
        &inactive.token,
        Some(json!({ "active": false })),
    )
    .await;
    app.bearer_send("PUT", "/api/mitra/availability", &listed.token, Some(json!({ "online": true }))).await;
    // The listed mitra also has a second active service and a deactivated third.
    app.add_service(&listed.token, json!({ "title": "Refleksi", "price": 90000, "duration_minutes": 45 })).await;
    let retired =
        app.add_service(&listed.token, json!({ "title": "Lama", "price": 5000, "duration_minutes": 30 })).await;
    let retired = format!("/api/mitra/services/{}", retired.str("id"));
    app.bearer_send("PATCH", &retired, &listed.token, Some(json!({ "active": false }))).await;
    let titles = |listing: &Value| -> Vec<String> {
        listing["services"].as_array().unwrap().iter().map(|s| s["title"].as_str().unwrap().to_owned()).collect()
    };

    let page = app.get_with("/api/client/mitras", &customer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["items"][0]["id"], listed.id.to_string());
    assert_eq!(titles(&page.body["items"][0]), ["Pijat 60 menit", "Refleksi"], "active services, oldest first");
    assert_eq!(page.body["next_cursor"], Value::Null);
    assert_eq!(app.listed_ids(&customer, "?online=true").await, vec![listed.id.to_string()]);
    assert!(app.listed_ids(&customer, "?online=false").await.is_empty());

    let one = app.get_with(&format!("/api/client/mitras/{}", listed.id), &customer).await;
    assert_eq!(one.body["display_name"], "Listed");
    assert_eq!(titles(&one.body), ["Pijat 60 menit", "Refleksi"]);
    for hidden in [unapproved, suspended.id, inactive.id] {
        let reply = app.get_with(&format!("/api/client/mitras/{hidden}"), &customer).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
    let mitra_token = app.get_with("/api/client/mitras", &listed.token).await;
    assert_eq!(mitra_token.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn paging_never_skips_or_repeats_a_mitra_while_others_join_and_leave() {
    let app = spawn_app_with(relaxed()).await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let (mut throughout, mut tokens) = (Vec::new(), Vec::new());
    for i in 0..5 {
        let mitra = app.fixtures().listed_mitra(&format!("M{i}")).await;
        throughout.push(mitra.id.to_string());
        tokens.push(mitra.token);
    }
    let leaving = app.fixtures().listed_mitra("Leaving").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let reply = app.get_with(&format!("/api/client/mitras{query}"), &customer).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        seen.extend(reply.body["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        pages += 1;
        if pages == 1 {
            // Between pages: one mitra joins, one leaves.
            app.fixtures().listed_mitra("Joined").await;
            app.fixtures().suspend(UserType::Mitra, leaving.id).await;
        }
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no mitra twice: {seen:?}");
    assert!(throughout.iter().all(|id| seen.contains(id)), "every mitra listed throughout was seen");

    // The online filter pages the same way, cursor and filter together.
    for token in [&tokens[1], &tokens[3]] {
        let online = app.bearer_send("PUT", "/api/mitra/availability", token, Some(json!({ "online": true }))).await;
        assert_eq!(online.status, StatusCode::OK, "{}", online.body);
    }
    let first = app.get_with("/api/client/mitras?limit=1&online=true", &customer).await;
    assert_eq!(first.body["items"][0]["id"], throughout[1].as_str());
    let cursor = first.body["next_cursor"].as_str().expect("a second online mitra");
    let second = app.listed_ids(&customer, &format!("?limit=1&online=true&cursor={cursor}")).await;
    assert_eq!(second, [throughout[3].clone()]);
    let offline = app.listed_ids(&customer, &format!("?limit=100&online=false&cursor={cursor}")).await;
    assert!(!offline.contains(&throughout[3]) && offline.contains(&throughout[4]), "{offline:?}");

    for bad in ["?limit=0", "?limit=101", "?cursor=not-a-cursor", "?online=maybe"] {
        let reply = app.get_with(&format!("/api/client/mitras{bad}"), &customer).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad}");
    }
}

#[tokio::test]
async fn an_anonymous_customer_must_upgrade_before_ordering() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let anonymous = app.anonymous().await.str("access_token");

    let reply = app.order(&anonymous, mitra.service_id, None).await;

    assert_eq!((reply.status, reply.error_code()), (StatusCode::FORBIDDEN, "upgrade_required"));
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(orders, 0);
}

#[tokio::test]
async fn an_order_goes_from_payment_to_completion_and_keeps_what_it_copied() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;

    let created = app.order(&customer, mitra.service_id, None).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.str("id");
    assert_eq!(created.body["status"], "pending_payment");
    assert_eq!(created.body["amount"], 150000);
    assert_eq!(created.body["currency"], "IDR");
    assert_eq!(created.body["note"], "Tolong datang jam 7");
    assert_eq!(created.body["mitra_id"], mitra.id.to_string());
    assert_eq!(
        created.body["service"],
        json!({ "id": mitra.service_id, "title": "Pijat 60 menit", "duration_minutes": 60 })
    );
    let price = json!({ "price": 99000, "title": "Pijat murah" });
    app.bearer_send("PATCH", &format!("/api/mitra/services/{}", mitra.service_id), &mitra.token, Some(price)).await;

    app.pay(&id).await;
    let accepted = app.bearer_send("POST", &format!("/api/mitra/orders/{id}/accept"), &mitra.token, None).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "accepted");
    assert!(accepted.body["payment"]["paid_at"].is_string());
    app.fixtures().time_passes(id.parse().unwrap()).await;
    let completed = app.bearer_send("POST", &format!("/api/mitra/orders/{id}/complete"), &mitra.token, None).await;
    assert_eq!(completed.body["status"], "completed");

    let seen = app.get_with(&format!("/api/client/orders/{id}"), &customer).await;
    assert_eq!((seen.body["status"].as_str(), seen.body["amount"].as_i64()), (Some("completed"), Some(150000)));
    assert_eq!(seen.body["service"]["title"], "Pijat 60 menit");
    let events: Vec<(Option<String>, String, String)> =
        sqlx::query_as("SELECT from_status, to_status, actor_type FROM order_events WHERE order_id = $1 ORDER BY id")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let step = |from: Option<&str>, to: &str, actor: &str| (from.map(str::to_owned), to.to_owned(), actor.to_owned());
    assert_eq!(
        events,
        vec![
            step(None, "pending_payment", "customer"),
            step(Some("pending_payment"), "paid", "system"),
            step(Some("paid"), "accepted", "mitra"),
            step(Some("accepted"), "completed", "mitra"),
        ]
    );
    let mine = app.get_with("/api/mitra/orders?status=completed", &mitra.token).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    let listed = app.get_with("/api/client/orders", &customer).await;
    assert_eq!(listed.body["items"][0]["id"], id);
}

#[tokio::test]
async fn moves_the_state_machine_forbids_are_409_and_other_peoples_orders_are_404() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let other_mitra = app.fixtures().listed_mitra("Dewi").await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let stranger = app.fixtures().verified_customer().await.access_token;
    let id = app.order(&customer, mitra.service_id, None).await.str("id");
    let post = |who: &str, path: String| {
        let who = who.to_owned();
        let app = &app;
        async move { app.bearer_send("POST", &path, &who, None).await }
    };

    let early_accept = post(&mitra.token, format!("/api/mitra/orders/{id}/accept")).await;
    assert_eq!((early_accept.status, early_accept.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    let early_complete = post(&mitra.token, format!("/api/mitra/orders/{id}/complete")).await;
    assert_eq!(early_complete.error_code(), "invalid_state");
    let stranger_cancel = post(&stranger, format!("/api/client/orders/{id}/cancel")).await;
    assert_eq!((stranger_cancel.status, stranger_cancel.error_code()), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(app.get_with(&format!("/api/client/orders/{id}"), &stranger).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_with(&format!("/api/mitra/orders/{id}"), &other_mitra.token).await.status,
        StatusCode::NOT_FOUND
    );
    let other_accept = post(&other_mitra.token, format!("/api/mitra/orders/{id}/accept")).await;
    assert_eq!(other_accept.status, StatusCode::NOT_FOUND);

    app.pay(&id).await;
    assert_eq!(post(&mitra.token, format!("/api/mitra/orders/{id}/accept")).await.status, StatusCode::OK);
    // §13: an accepted order may be cancelled by the customer only before its start.
    app.fixtures().time_passes(id.parse().unwrap()).await;
    let late_cancel = post(&customer, format!("/api/client/orders/{id}/cancel")).await;
    assert_eq!((late_cancel.status, late_cancel.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    let decline_accepted = post(&mitra.token, format!("/api/mitra/orders/{id}/decline")).await;
    assert_eq!(decline_accepted.error_code(), "invalid_state");
    let repaid = orders::apply(&app.db.pool, id.parse().unwrap(), OrderStatus::Paid, Actor::System).await;
    assert!(repaid.is_err(), "a payment confirmation never moves an accepted order back");

    let unpaid = app.order(&customer, mitra.service_id, None).await.str("id");
    let cancelled = post(&customer, format!("/api/client/orders/{unpaid}/cancel")).await;
    assert_eq!(cancelled.body["status"], "cancelled");
    let malformed = post(&customer, "/api/client/orders/not-an-id/cancel".into()).await;
    assert_eq!((malformed.status, malformed.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
}

#[tokio::test]
async fn of_racing_moves_on_one_order_exactly_one_wins() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let id = app.order(&customer, mitra.service_id, None).await.str("id");
    app.pay(&id).await;

    let (accept, decline, cancel) = (
        format!("/api/mitra/orders/{id}/accept"),
        format!("/api/mitra/orders/{id}/decline"),
        format!("/api/client/orders/{id}/cancel"),
    );
    let accept = app.bearer_send("POST", &accept, &mitra.token, None);
    let decline = app.bearer_send("POST", &decline, &mitra.token, None);
    let cancel = app.bearer_send("POST", &cancel, &customer, None);
    let (a, d, c) = tokio::join!(accept, decline, cancel);

    // Exactly one move leaves `paid`; a customer's cancel may still follow an accept
    // (§13: an accepted order is cancellable before its start), never a decline.
    let statuses = [a.status, d.status, c.status];
    let ok = |s: StatusCode| s == StatusCode::OK;
    assert!(!(ok(a.status) && ok(d.status)), "{statuses:?}");
    assert!(!(ok(d.status) && ok(c.status)), "{statuses:?}");
    assert!(ok(a.status) || ok(d.status) || ok(c.status), "{statuses:?}");
    assert!(statuses.iter().all(|s| ok(*s) || *s == StatusCode::CONFLICT), "{statuses:?}");
    let moves_from_paid: i64 =
        sqlx::query_scalar("SELECT count(*) FROM order_events WHERE order_id = $1 AND from_status = 'paid'")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(moves_from_paid, 1);
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_returns_the_same_order() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;

    let first = app.order(&customer, mitra.service_id, Some("order-key-1")).await;
    let retry = app.order(&customer, mitra.service_id, Some("order-key-1")).await;
    let racing: Vec<Reply> =
        futures_util::future::join_all((0..8).map(|_| app.order(&customer, mitra.service_id, Some("order-key-2"))))
            .await;
    let other = app.fixtures().verified_customer().await.access_token;
    let same_key_other_customer = app.order(&other, mitra.service_id, Some("order-key-1")).await;

    assert_eq!((first.status, retry.status), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(first.str("id"), retry.str("id"));
    let raced: HashSet<String> = racing.iter().map(|r| r.str("id")).collect();
    assert_eq!(raced.len(), 1, "eight racing retries made one order");
    assert_eq!(racing.iter().filter(|r| r.status == StatusCode::CREATED).count(), 1);
    assert_ne!(same_key_other_customer.str("id"), first.str("id"), "keys are per customer");
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(orders, 3);
}

#[tokio::test]
async fn orders_for_missing_or_inactive_services_and_bad_notes_are_refused() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;

    let unknown = app.order(&customer, Uuid::new_v4(), None).await;
    assert_eq!((unknown.status, unknown.error_code()), (StatusCode::NOT_FOUND, "not_found"));
    let long_note =
        send(app.client.post("/api/client/orders").header("authorization", format!("Bearer {customer}")).body_json(
            &json!({ "service_id": mitra.service_id, "note": "n".repeat(1001), "starts_at": next_start(None) }),
        ))
        .await;
    assert_eq!((long_note.status, long_note.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    app.bearer_send(
        "PATCH",
        &format!("/api/mitra/services/{}", mitra.service_id),
        &mitra.token,
        Some(json!({ "active": false })),
    )
    .await;
    let inactive = app.order(&customer, mitra.service_id, None).await;
    assert_eq!(inactive.status, StatusCode::NOT_FOUND);
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(orders, 0);
}

#[tokio::test]
async fn an_order_update_reaches_a_socket_on_another_instance_and_pushes_only_the_party_without_one() {
    let a = spawn_app_with(relaxed()).await;
    let b = app_on(a.db.clone(), relaxed()).await;
    b.listening().await;
    let addr_b = b.addr();
    let mitra = a.fixtures().listed_mitra("Sari").await;
    let customer = a.fixtures().verified_customer().await.access_token;
    for (token, fcm) in [(&customer, "fcm-customer"), (&mitra.token, "fcm-mitra")] {
        let device = json!({ "fcm_token": fcm, "platform": "android" });
        let put = send(
            a.client.put("/api/shared/devices").header("authorization", format!("Bearer {token}")).body_json(&device),
        )
        .await;
        assert_eq!(put.status, StatusCode::NO_CONTENT);
    }
    let mut socket = connect(addr_b, Some(&customer), "").await.expect("upgraded");
    assert_eq!(next_event(&mut socket).await["type"], "connection.ready");
    let id = a.order(&customer, mitra.service_id, None).await.str("id");

    a.pay(&id).await;

    let event = next_event(&mut socket).await;
    assert_eq!(event["type"], "order.updated");
    assert_eq!((event["data"]["id"].as_str(), event["data"]["status"].as_str()), (Some(id.as_str()), Some("paid")));
    // The socket took the customer's event; the mitra had none. Once both pushes are due
    // (brought forward: no API makes a push due sooner):
    sqlx::query("UPDATE push_outbox SET next_attempt_at = now()").execute(&a.db.pool).await.unwrap();
    let mut skipped = 0;
    for _ in 0..100 {
        skipped += halo_shared::notifications::outbox::skip_seen(&a.db.pool).await.unwrap();
        if skipped > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let outbox: Vec<(String, String)> = sqlx::query_as("SELECT fcm_token, status FROM push_outbox ORDER BY fcm_token")
        .fetch_all(&a.db.pool)
        .await
        .unwrap();
    assert_eq!(
        outbox,
        vec![("fcm-customer".to_owned(), "seen".to_owned()), ("fcm-mitra".to_owned(), "pending".to_owned())]
    );
}

#[tokio::test]
async fn a_mitra_with_a_paid_or_accepted_order_cannot_delete_the_account_and_orders_outlive_a_deleted_customer() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let id = app.order(&customer, mitra.service_id, None).await.str("id");
    app.pay(&id).await;

    let refused = app.bearer_send("DELETE", "/api/mitra/me", &mitra.token, None).await;
    assert_eq!((refused.status, refused.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    assert_eq!(app.get_with("/api/mitra/me", &mitra.token).await.status, StatusCode::OK, "nothing was deleted");

    // A paid order waiting for the mitra holds the customer (account_erasure tests it);
    // once accepted, the customer may go.
    app.bearer_send("POST", &format!("/api/mitra/orders/{id}/accept"), &mitra.token, None).await;
    let deleted = app.bearer_send("DELETE", "/api/client/me", &customer, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let kept = app.get_with(&format!("/api/mitra/orders/{id}"), &mitra.token).await;
    assert_eq!((kept.status, kept.body["amount"].as_i64()), (StatusCode::OK, Some(150000)), "kept for accounting");
    let still = app.bearer_send("DELETE", "/api/mitra/me", &mitra.token, None).await;
    assert_eq!(still.status, StatusCode::CONFLICT, "an accepted order holds the mitra");

    app.fixtures().time_passes(id.parse().unwrap()).await;
    app.bearer_send("POST", &format!("/api/mitra/orders/{id}/complete"), &mitra.token, None).await;
    let gone = app.bearer_send("DELETE", "/api/mitra/me", &mitra.token, None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "a completed order no longer holds the mitra");
}

#[tokio::test]
async fn a_suspended_user_is_refused_everywhere_at_once_and_a_reinstated_one_signs_in_again() {
    use halo_shared::staffops::app_users as users;
    use halo_shared::users::staff::Role;

    let a = spawn_app_with(relaxed()).await;
    let b = app_on(a.db.clone(), relaxed()).await;
    b.listening().await;
    let mitra = a.fixtures().listed_mitra("Sari").await;
    let customer_phone = fresh_phone();
    let signed_in = a.sign_in_by_phone("client", &customer_phone, None).await;
    let (customer_token, refresh_token) = (signed_in.str("access_token"), signed_in.str("refresh_token"));
    let customer = a.claims(&customer_token).sub;
    let actor = a.fixtures().staff_actor(Role::Agent).await;

    // What internal-cc does on POST /internal/customers/{id}/suspend, on the same database.
    users::suspend(&a.db.pool, &actor, UserType::Customer, customer, "chargeback fraud").await.unwrap();
    users::suspend(&a.db.pool, &actor, UserType::Mitra, mitra.id, "fake documents").await.unwrap();

    assert_eq!(b.refused_within_a_second(&customer_token).await.error_code(), "session_revoked");
    assert_eq!(b.refused_within_a_second(&mitra.token).await.error_code(), "session_revoked");
    let refresh = a.refresh(&refresh_token).await;
    assert_eq!((refresh.status, refresh.error_code()), (StatusCode::FORBIDDEN, "account_suspended"));
    let code = a.otp_code("client", &customer_phone).await;
    let otp = a.verify_otp("client", &customer_phone, &code, None).await;
    assert_eq!((otp.status, otp.error_code()), (StatusCode::FORBIDDEN, "account_suspended"));
    let other = a.fixtures().verified_customer().await.access_token;
    assert!(a.listed_ids(&other, "").await.is_empty(), "a suspended mitra is not listed");

    users::reinstate(&a.db.pool, &actor, UserType::Customer, customer).await.unwrap();
    let again = a.sign_in_by_phone("client", &customer_phone, None).await;
    assert_eq!(a.claims(&again.str("access_token")).sub, customer, "the same customer, signed in anew");
    let old = a.refresh(&refresh_token).await;
    assert_eq!(old.error_code(), "session_revoked", "old sessions stay ended");
}
