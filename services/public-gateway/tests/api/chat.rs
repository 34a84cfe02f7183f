//! An order's conversation (contract §14, §16): who may read and post, the opening and
//! closing of the conversation, idempotent sends under racing retries, the per-sender
//! limit, delivery to both parties' sockets on every instance with the push fallback,
//! read receipts and unread counts, reports and their moderation, and erasure.

use std::time::Duration;

use halo_shared::marketplace::chat::{self, ReportAction};
use halo_shared::notifications::outbox::{self, PushOutbox};
use halo_shared::push::{self, WorkerSettings};
use halo_shared::testing::fixtures::{Customer, ListedMitra};
use halo_shared::tokens::UserType;
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::ResponseTemplate;

use crate::helpers::fcm::{client, fakes, fcm_answers};
use crate::helpers::ws::{connect, next_event, Socket};
use crate::helpers::{app_on, relaxed, send, spawn_app_with, Reply, TestApp};

/// A paid order between a verified customer and a listed mitra.
pub struct Deal {
    pub customer: Customer,
    pub mitra: ListedMitra,
    pub order: Uuid,
}

impl Deal {
    pub fn client(&self, rest: &str) -> String {
        format!("/api/client/orders/{}{rest}", self.order)
    }

    pub fn mitra_path(&self, rest: &str) -> String {
        format!("/api/mitra/orders/{}{rest}", self.order)
    }
}

impl TestApp {
    pub async fn deal_unpaid(&self, mitra: &ListedMitra) -> Deal {
        let customer = self.fixtures().verified_customer().await;
        let order = self.fixtures().order(&customer, mitra.service_id).await;
        Deal { customer, mitra: mitra.clone(), order }
    }

    pub async fn paid_deal(&self) -> Deal {
        let mitra = self.fixtures().listed_mitra("Sari").await;
        self.paid_deal_with(&mitra).await
    }

    pub async fn paid_deal_with(&self, mitra: &ListedMitra) -> Deal {
        let deal = self.deal_unpaid(mitra).await;
        self.fixtures().pay(deal.order).await;
        deal
    }

    /// Accepts the deal's order as its mitra and, once its start has passed, completes it.
    pub async fn complete(&self, deal: &Deal) {
        for step in ["/accept", "/complete"] {
            if step == "/complete" {
                self.fixtures().time_passes(deal.order).await;
            }
            let reply = self.bearer_send("POST", &deal.mitra_path(step), &deal.mitra.token, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{step}: {}", reply.body);
        }
    }

    pub async fn say_as_customer(&self, deal: &Deal, body: &str, client_id: &str) -> Reply {
        let message = json!({ "body": body, "client_message_id": client_id });
        self.bearer_send("POST", &deal.client("/messages"), &deal.customer.access_token, Some(message)).await
    }

    pub async fn say_as_mitra(&self, deal: &Deal, body: &str, client_id: &str) -> Reply {
        let message = json!({ "body": body, "client_message_id": client_id });
        self.bearer_send("POST", &deal.mitra_path("/messages"), &deal.mitra.token, Some(message)).await
    }

    /// A staff access token (the control center's kind), for app routes that refuse it.
    pub fn staff_token(&self) -> String {
        self.state.keys.mint(Uuid::new_v4(), UserType::Staff, Uuid::new_v4(), chrono::Utc::now().timestamp()).0
    }
}

/// The next event of `kind`, skipping others (order updates and the like).
pub async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let event = next_event(socket).await;
        if event["type"] == kind {
            return event;
        }
    }
}

fn items(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn only_the_orders_customer_and_mitra_reach_its_conversation() {
    let app = spawn_app_with(relaxed()).await;
    let deal = app.paid_deal().await;
    let posted = app.say_as_customer(&deal, "Halo", "c-1").await;
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.body);
    let message_id = posted.str("id");
    let stranger = app.fixtures().verified_customer().await.access_token;
    let other_mitra = app.fixtures().listed_mitra("Dewi").await.token;
    let staff = app.staff_token();
    let message = json!({ "body": "Hai", "client_message_id": "x-1" });
    let report = json!({ "reason": "kasar" });
    let read = json!({ "up_to": message_id });
    let review = json!({ "rating": 5 });
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/messages".into(), None),
        ("POST", "/messages".into(), Some(message)),
        ("POST", "/messages/read".into(), Some(read)),
        ("POST", format!("/messages/{message_id}/report"), Some(report)),
        ("POST", "/review".into(), Some(review)),
    ];
    for (method, rest, body) in &routes {
        for (path, token, expected) in [
            (deal.client(rest), stranger.as_str(), StatusCode::NOT_FOUND),
            (deal.mitra_path(rest), other_mitra.as_str(), StatusCode::NOT_FOUND),
            (deal.client(rest), other_mitra.as_str(), StatusCode::FORBIDDEN),
            (deal.mitra_path(rest), deal.customer.access_token.as_str(), StatusCode::FORBIDDEN),
            (deal.client(rest), staff.as_str(), StatusCode::FORBIDDEN),
            (deal.mitra_path(rest), staff.as_str(), StatusCode::FORBIDDEN),
        ] {
            let reply = app.bearer_send(method, &path, token, body.clone()).await;
            assert_eq!(reply.status, expected, "{method} {path}: {}", reply.body);
        }
        let req = match *method {
            "GET" => app.client.get(deal.client(rest)),
            _ => app.client.post(deal.client(rest)).body_json(body.as_ref().unwrap()),
        };
        let anonymous = send(req).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {rest} without a token");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&app.db.pool).await.unwrap();
    let reports: i64 =
        sqlx::query_scalar("SELECT count(*) FROM message_reports").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!((count, reports), (1, 0), "nobody else wrote anything");
    let history = items(&app.get_with(&deal.mitra_path("/messages"), &deal.mitra.token).await);
    assert_eq!(history.len(), 1, "the mitra of the order reads it");
}

#[tokio::test]
async fn the_conversation_opens_when_paid_and_closes_days_after_the_order_ended() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let deal = app.deal_unpaid(&mitra).await;
    let early = app.say_as_customer(&deal, "Halo", "early").await;
    assert_eq!((early.status, early.error_code()), (StatusCode::CONFLICT, "invalid_state"));

    app.fixtures().pay(deal.order).await;
    assert_eq!(app.say_as_customer(&deal, "Halo", "paid").await.status, StatusCode::CREATED);
    app.complete(&deal).await;
    let view = app.get_with(&deal.client(""), &deal.customer.access_token).await;
    assert!(view.body["ended_at"].is_string(), "the order shows when it ended: {}", view.body);
    assert_eq!(app.say_as_mitra(&deal, "Terima kasih", "after").await.status, StatusCode::CREATED, "still open");

    // Six days on it is still open; eight days on it is closed.
    sqlx::query("UPDATE orders SET ended_at = now() - interval '6 days' WHERE id = $1")
        .bind(deal.order)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(app.say_as_customer(&deal, "Satu lagi", "day-6").await.status, StatusCode::CREATED);
    sqlx::query("UPDATE orders SET ended_at = now() - interval '8 days' WHERE id = $1")
        .bind(deal.order)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let late = app.say_as_customer(&deal, "Halo?", "day-8").await;
    assert_eq!((late.status, late.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    let replay = app.say_as_customer(&deal, "Satu lagi", "day-6").await;
    assert_eq!(replay.status, StatusCode::OK, "a retry of an earlier send still answers");
    assert_eq!(items(&app.get_with(&deal.client("/messages"), &deal.customer.access_token).await).len(), 3);
}

#[tokio::test]
async fn racing_retries_of_one_send_make_one_message_and_a_different_body_is_refused() {
    let app = spawn_app_with(relaxed()).await;
    let deal = app.paid_deal().await;
    let tries = (0..8).map(|_| app.say_as_customer(&deal, "Saya di lobi", "retry-me"));
    let replies = futures_util::future::join_all(tries).await;
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let same = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!((created, same), (1, 7), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let ids: std::collections::HashSet<String> = replies.iter().map(|r| r.str("id")).collect();
    assert_eq!(ids.len(), 1, "every retry answers with the same message");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(rows, 1);

    let reused = app.say_as_customer(&deal, "Sesuatu yang lain", "retry-me").await;
    assert_eq!((reused.status, reused.error_code()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    let mitra_same_id = app.say_as_mitra(&deal, "Oke", "retry-me").await;
    assert_eq!(mitra_same_id.status, StatusCode::CREATED, "client ids are per sender");
}

#[tokio::test]
async fn bad_bodies_and_client_ids_are_refused_and_nothing_is_written() {
    let app = spawn_app_with(relaxed()).await;
    let deal = app.paid_deal().await;
    let long_id = "i".repeat(65);
    for (body, id) in [
        ("   ", "a"),
        (&*"x".repeat(2001), "b"),
        ("bell \u{7}", "c"),
        ("tab\there", "d"),
        ("fine", ""),
        ("fine", long_id.as_str()),
    ] {
        let reply = app.say_as_customer(&deal, body, id).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{body:?} {id:?}");
    }
    let numeric = app
        .bearer_send(
            "POST",
            &deal.client("/messages"),
            &deal.customer.access_token,
            Some(json!({ "body": 12, "client_message_id": "n" })),
        )
        .await;
    assert_eq!(numeric.status, StatusCode::BAD_REQUEST);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(rows, 0);
    let ok = app.say_as_customer(&deal, "  baris satu\nbaris dua  ", &"i".repeat(64)).await;
    assert_eq!((ok.status, ok.body["body"].as_str()), (StatusCode::CREATED, Some("baris satu\nbaris dua")));
}

#[tokio::test]
async fn a_sender_over_chat_messages_per_minute_gets_429() {
    let mut settings = relaxed();
    settings.shared.chat.messages_per_minute = 3;
    let app = spawn_app_with(settings).await;
    let deal = app.paid_deal().await;
    for n in 0..3 {
        assert_eq!(app.say_as_customer(&deal, "Halo", &format!("m-{n}")).await.status, StatusCode::CREATED);
    }
    let limited = app.say_as_customer(&deal, "Halo", "m-3").await;
    assert_eq!((limited.status, limited.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(limited.headers.get("retry-after").is_some());
    assert_eq!(app.say_as_customer(&deal, "Halo", "m-0").await.status, StatusCode::OK, "a replay is not a new send");
    assert_eq!(app.say_as_mitra(&deal, "Halo", "m-0").await.status, StatusCode::CREATED, "the limit is per sender");
}

#[tokio::test]
async fn history_is_paged_newest_first_without_repeats() {
    let app = spawn_app_with(relaxed()).await;
    let deal = app.paid_deal().await;
    for n in 0..5 {
        assert_eq!(
            app.say_as_customer(&deal, &format!("pesan {n}"), &format!("p-{n}")).await.status,
            StatusCode::CREATED
        );
    }
    let first = app.get_with(&deal.client("/messages?limit=3"), &deal.customer.access_token).await;
    let bodies: Vec<String> = items(&first).iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    assert_eq!(bodies, ["pesan 4", "pesan 3", "pesan 2"]);
    let cursor = first.str("next_cursor");
    let second = app.get_with(&deal.mitra_path(&format!("/messages?limit=3&cursor={cursor}")), &deal.mitra.token).await;
    let bodies: Vec<String> = items(&second).iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    assert_eq!(bodies, ["pesan 1", "pesan 0"]);
    assert!(second.body["next_cursor"].is_null());
    let message = &items(&second)[0];
    assert_eq!((message["sender"].as_str(), message["hidden"].as_bool()), (Some("customer"), Some(false)));
    assert_eq!(message["client_message_id"], "p-1");
}

#[tokio::test]
async fn a_message_reaches_every_socket_of_both_parties_on_both_instances_and_pushes_only_without_one() {
    let a = spawn_app_with(relaxed()).await;
    let b = app_on(a.db.clone(), relaxed()).await;
    a.listening().await;
    b.listening().await;
    let deal = a.paid_deal().await;
    // The sender's other device on A, the recipient on B; the recipient has a phone too.
    let mut customer_socket = connect(a.addr(), Some(&deal.customer.access_token), "").await.expect("upgraded");
    let mut mitra_socket = connect(b.addr(), Some(&deal.mitra.token), "").await.expect("upgraded");
    next_of(&mut customer_socket, "connection.ready").await;
    next_of(&mut mitra_socket, "connection.ready").await;
    a.fixtures().device(&deal.mitra.token, "fcm-mitra").await;

    let posted = a.say_as_customer(&deal, "Saya sudah sampai", "live-1").await;
    assert_eq!(posted.status, StatusCode::CREATED);
    for socket in [&mut customer_socket, &mut mitra_socket] {
        let event = next_of(socket, "message.created").await;
        assert_eq!(event["data"], posted.body, "the event carries the message");
    }
    // The mitra's socket took it: its push is dropped once due (brought forward here).
    sqlx::query("UPDATE push_outbox SET next_attempt_at = now()").execute(&a.db.pool).await.unwrap();
    let mut skipped = 0;
    for _ in 0..200 {
        skipped += outbox::skip_seen(&a.db.pool).await.unwrap();
        if skipped > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(skipped, 1, "the push of a message a socket took is dropped");

    // With the mitra's socket gone, the next message is pushed, after three seconds.
    drop(mitra_socket);
    for _ in 0..500 {
        if !b.state.realtime.hub.has_user(UserType::Mitra, deal.mitra.id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = a.say_as_customer(&deal, "Pintu depan ya", "live-2").await;
    assert_eq!(second.status, StatusCode::CREATED);
    let (status, due_in): (String, f64) = sqlx::query_as(
        "SELECT o.status, EXTRACT(EPOCH FROM o.next_attempt_at - now())::float8 FROM push_outbox o
         JOIN notifications n ON n.id = o.notification_id WHERE n.data->>'message_id' = $1",
    )
    .bind(second.str("id"))
    .fetch_one(&a.db.pool)
    .await
    .unwrap();
    assert_eq!(status, "pending");
    assert!(due_in > 2.0 && due_in <= 3.0, "due three seconds after the send: {due_in}");
    let fakes = fakes().await;
    fcm_answers(&fakes, ResponseTemplate::new(200).set_body_json(json!({ "name": "projects/halo-test/messages/1" })))
        .await;
    sqlx::query("UPDATE push_outbox SET next_attempt_at = now() WHERE status = 'pending'")
        .execute(&a.db.pool)
        .await
        .unwrap();
    let fcm = client(&a, &fakes);
    let outbox = PushOutbox::new(a.db.pool.clone());
    assert_eq!(outbox::skip_seen(&a.db.pool).await.unwrap(), 0, "no socket took the second");
    assert_eq!(push::drain_once(&outbox, &fcm, &WorkerSettings::default()).await.unwrap(), 1);
    let received = fakes.fcm.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["message"]["token"], "fcm-mitra");
    assert_eq!(body["message"]["notification"]["body"], "Pintu depan ya");
    assert_eq!(body["message"]["data"]["order_id"], deal.order.to_string());
    assert_eq!(next_of(&mut customer_socket, "message.created").await["data"]["id"], second.body["id"]);
}

#[tokio::test]
async fn read_receipts_reach_the_other_party_and_unread_counts_follow_them() {
    let app = spawn_app_with(relaxed()).await;
    app.listening().await;
    let deal = app.paid_deal().await;
    let first = app.say_as_mitra(&deal, "Saya berangkat", "r-1").await.str("id");
    let second = app.say_as_mitra(&deal, "Lima menit lagi", "r-2").await.str("id");
    app.say_as_customer(&deal, "Oke", "r-3").await;
    let unread = |reply: Reply| reply.body["unread_messages"].as_i64();
    assert_eq!(unread(app.get_with(&deal.client(""), &deal.customer.access_token).await), Some(2));
    assert_eq!(unread(app.get_with(&deal.mitra_path(""), &deal.mitra.token).await), Some(1));
    let listed = app.get_with("/api/client/orders", &deal.customer.access_token).await;
    assert_eq!(listed.body["items"][0]["unread_messages"], 2, "lists show it too");

    let mut mitra_socket = connect(app.addr(), Some(&deal.mitra.token), "").await.expect("upgraded");
    next_of(&mut mitra_socket, "connection.ready").await;
    let read_path = deal.client("/messages/read");
    let read = |up_to: &str| {
        let body = json!({ "up_to": up_to });
        app.bearer_send("POST", &read_path, &deal.customer.access_token, Some(body))
    };
    assert_eq!(read(&first).await.status, StatusCode::NO_CONTENT);
    let event = next_of(&mut mitra_socket, "message.read").await;
    assert_eq!(event["data"], json!({ "order_id": deal.order, "reader": "customer", "up_to": first }));
    assert_eq!(unread(app.get_with(&deal.client(""), &deal.customer.access_token).await), Some(1));
    assert_eq!(read(&second).await.status, StatusCode::NO_CONTENT);
    assert_eq!(read(&first).await.status, StatusCode::NO_CONTENT, "an older receipt is accepted");
    assert_eq!(unread(app.get_with(&deal.client(""), &deal.customer.access_token).await), Some(0), "never moves back");
    let unknown = read(&Uuid::new_v4().to_string()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "a message of no such order");
}

#[tokio::test]
async fn a_reported_message_hidden_by_staff_shows_no_body_to_either_party_and_both_hear_of_it() {
    let app = spawn_app_with(relaxed()).await;
    app.listening().await;
    let deal = app.paid_deal().await;
    let rude = app.say_as_mitra(&deal, "kata kasar", "h-1").await.str("id");
    let token = deal.customer.access_token.clone();
    let report = |path: String| {
        let (app, token) = (&app, token.clone());
        async move { app.bearer_send("POST", &path, &token, Some(json!({ "reason": "bahasa kasar" }))).await }
    };
    let path = deal.client(&format!("/messages/{rude}/report"));
    assert_eq!(report(path.clone()).await.status, StatusCode::ACCEPTED);
    assert_eq!(report(path).await.status, StatusCode::ACCEPTED, "again: no change");
    let missing = report(deal.client(&format!("/messages/{}/report", Uuid::new_v4()))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let page = halo_shared::pagination::Page::parse(None, None).unwrap();
    let (open, _) = chat::reports(&app.db.pool, Some(chat::ReportStatus::Open), page).await.unwrap();
    assert_eq!(open.len(), 1, "one report however often it was sent");

    let mut sockets = Vec::new();
    for token in [&deal.customer.access_token, &deal.mitra.token] {
        let mut socket = connect(app.addr(), Some(token), "").await.expect("upgraded");
        next_of(&mut socket, "connection.ready").await;
        sockets.push(socket);
    }
    let staff = app.fixtures().staff_actor(Role::Agent).await;
    let resolved = chat::resolve(&app.db.pool, &staff, open[0].id, ReportAction::HideMessage, Some("kasar")).await;
    let resolved = resolved.unwrap();
    assert_eq!((resolved.status, resolved.message.hidden), (chat::ReportStatus::Resolved, true));
    assert_eq!(resolved.message.body.as_deref(), Some("kata kasar"), "staff still see the body");
    for socket in &mut sockets {
        let event = next_of(socket, "message.updated").await;
        assert_eq!(
            (event["data"]["id"].as_str(), event["data"]["hidden"].as_bool()),
            (Some(rude.as_str()), Some(true))
        );
        assert!(event["data"]["body"].is_null());
    }
    for (path, token) in
        [(deal.client("/messages"), &deal.customer.access_token), (deal.mitra_path("/messages"), &deal.mitra.token)]
    {
        let message = items(&app.get_with(&path, token).await)[0].clone();
        assert_eq!((message["body"].clone(), message["hidden"].clone()), (Value::Null, json!(true)));
    }
    let again = chat::resolve(&app.db.pool, &staff, open[0].id, ReportAction::Dismiss, None).await;
    assert!(matches!(again, Err(halo_shared::marketplace::MarketError::InvalidState(_))), "resolved once");
    let audited: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE target_type = 'message_report'")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(audited, ["report.resolve"]);
}

#[tokio::test]
async fn deleting_an_account_erases_its_message_bodies_and_review_comments_and_keeps_its_ratings() {
    let app = spawn_app_with(relaxed()).await;
    let deal = app.paid_deal().await;
    app.say_as_customer(&deal, "Nomor saya 0812", "d-1").await;
    app.say_as_mitra(&deal, "Baik", "d-2").await;
    app.complete(&deal).await;
    let review = json!({ "rating": 4, "comment": "Ramah sekali" });
    let reviewed = app.bearer_send("POST", &deal.client("/review"), &deal.customer.access_token, Some(review)).await;
    assert_eq!(reviewed.status, StatusCode::CREATED, "{}", reviewed.body);
    let review = json!({ "rating": 5, "comment": "Pelanggan baik" });
    app.bearer_send("POST", &deal.mitra_path("/review"), &deal.mitra.token, Some(review)).await;

    let deleted = app.bearer_send("DELETE", "/api/client/me", &deal.customer.access_token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let bodies: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT sender, body FROM messages ORDER BY created_at").fetch_all(&app.db.pool).await.unwrap();
    assert_eq!(bodies, [("customer".into(), None), ("mitra".into(), Some("Baik".into()))]);
    let reviews: Vec<(String, i16, Option<String>)> =
        sqlx::query_as("SELECT reviewer, rating, comment FROM reviews ORDER BY reviewer")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(reviews, [("customer".into(), 4, None), ("mitra".into(), 5, Some("Pelanggan baik".into()))]);
    let viewer = app.fixtures().verified_customer().await.access_token;
    let listed = app.get_with(&format!("/api/client/mitras/{}/reviews", deal.mitra.id), &viewer).await;
    let listed = items(&listed);
    assert_eq!((listed[0]["rating"].as_i64(), listed[0]["reviewer_name"].clone()), (Some(4), Value::Null));
    let detail = app.get_with(&format!("/api/client/mitras/{}", deal.mitra.id), &viewer).await;
    assert_eq!(detail.body["rating"], json!({ "average": 4.0, "count": 1 }), "the rating stays");

    // A mitra's deletion erases its side the same way.
    let deleted = app.bearer_send("DELETE", "/api/mitra/me", &deal.mitra.token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE body IS NOT NULL")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let comments: i64 = sqlx::query_scalar("SELECT count(*) FROM reviews WHERE comment IS NOT NULL")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((left, comments), (0, 0));
}
