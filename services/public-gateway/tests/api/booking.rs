//! Booking (contract §13, §16): schedules and slots, a time on every order held by the
//! database, the sweep's timed moves, the cancellation policy through the ledger, and
//! service areas with near-me browse.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use halo_shared::marketplace::schedule::jakarta;
use halo_shared::testing::fixtures::ListedMitra;
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{app_on, relaxed, spawn_app_with, Reply, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_public-gateway");

/// A local (Asia/Jakarta) time on `date`.
fn local(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    date.and_hms_opt(hour, minute, 0).unwrap().and_local_timezone(jakarta()).single().unwrap().with_timezone(&Utc)
}

/// Today's local date, plus `days`.
fn day(days: i64) -> NaiveDate {
    Utc::now().with_timezone(&jakarta()).date_naive() + Duration::days(days)
}

fn weekday(date: NaiveDate) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][chrono::Datelike::weekday(&date).num_days_from_monday() as usize]
}

fn at(reply: &Value) -> DateTime<Utc> {
    reply.as_str().unwrap().parse().unwrap()
}

impl TestApp {
    async fn put_schedule(&self, mitra: &str, body: Value) -> Reply {
        self.bearer_send("PUT", "/api/mitra/schedule", mitra, Some(body)).await
    }

    async fn slots(&self, customer: &str, mitra: &ListedMitra, date: &str) -> Reply {
        let path = format!("/api/client/mitras/{}/slots?service_id={}&date={date}", mitra.id, mitra.service_id);
        self.get_with(&path, customer).await
    }

    async fn slot_starts(&self, customer: &str, mitra: &ListedMitra, date: NaiveDate) -> Vec<DateTime<Utc>> {
        let reply = self.slots(customer, mitra, &date.to_string()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["slots"].as_array().unwrap().iter().map(|s| at(&s["starts_at"])).collect()
    }

    async fn book(
        &self,
        customer: &str,
        mitra: &ListedMitra,
        starts_at: DateTime<Utc>,
        address: Option<Value>,
    ) -> Reply {
        let mut body = json!({ "service_id": mitra.service_id, "starts_at": starts_at });
        if let Some(address) = address {
            body["address"] = address;
        }
        self.bearer_send("POST", "/api/client/orders", customer, Some(body)).await
    }

    async fn booked(&self, customer: &str, mitra: &ListedMitra, starts_at: DateTime<Utc>) -> String {
        let reply = self.book(customer, mitra, starts_at, None).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.str("id")
    }

    /// A paid and accepted order of `mitra`'s at `starts_at`.
    async fn accepted_at(&self, customer: &str, mitra: &ListedMitra, starts_at: DateTime<Utc>) -> String {
        let id = self.booked(customer, mitra, starts_at).await;
        self.fixtures().pay(id.parse().unwrap()).await;
        let accepted = self.bearer_send("POST", &format!("/api/mitra/orders/{id}/accept"), &mitra.token, None).await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
        id
    }

    async fn booking_row(&self, id: &str) -> (String, Option<String>, i64) {
        sqlx::query_as("SELECT status, decline_reason, refunded_amount FROM orders WHERE id = $1")
            .bind(Uuid::parse_str(id).unwrap())
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    async fn postings_of(&self, id: &str) -> Vec<(String, String, i64)> {
        sqlx::query_as("SELECT kind, account, amount FROM ledger_postings WHERE order_id = $1 ORDER BY id")
            .bind(Uuid::parse_str(id).unwrap())
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_mitras_schedule_is_normalised_and_bad_ones_are_400_and_change_nothing() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().mitra("Sari").await.access_token;
    let empty = app.get_with("/api/mitra/schedule", &mitra).await;
    assert_eq!(empty.body, json!({ "weekly": [], "closed_dates": [], "timezone": "Asia/Jakarta" }));

    let set = app
        .put_schedule(
            &mitra,
            json!({ "weekly": [
                { "day": "mon", "start": "13:00", "end": "17:00" },
                { "day": "mon", "start": "09:00", "end": "13:00" },
                { "day": "sun", "start": "20:00", "end": "24:00" },
            ], "closed_dates": ["2027-01-02", "2027-01-01", "2027-01-02"] }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let expected = json!({ "weekly": [
        { "day": "mon", "start": "09:00", "end": "17:00" },
        { "day": "sun", "start": "20:00", "end": "24:00" },
    ], "closed_dates": ["2027-01-01", "2027-01-02"], "timezone": "Asia/Jakarta" });
    assert_eq!(set.body, expected, "touching intervals merge, dates sort and dedupe");
    assert_eq!(app.get_with("/api/mitra/schedule", &mitra).await.body, expected);

    let five: Vec<Value> = (0..5)
        .map(|i| json!({ "day": "tue", "start": format!("{:02}:00", i * 2), "end": format!("{:02}:00", i * 2 + 1) }))
        .collect();
    let many_dates: Vec<String> = (0..101).map(|i| (day(0) + Duration::days(i)).to_string()).collect();
    for bad in [
        json!({ "weekly": [{ "day": "tue", "start": "09:00", "end": "12:00" }, { "day": "tue", "start": "11:00", "end": "13:00" }] }),
        json!({ "weekly": [{ "day": "tue", "start": "12:00", "end": "09:00" }] }),
        json!({ "weekly": [{ "day": "tue", "start": "09:10", "end": "12:00" }] }),
        json!({ "weekly": [{ "day": "tue", "start": "09:00", "end": "24:30" }] }),
        json!({ "weekly": [{ "day": "someday", "start": "09:00", "end": "10:00" }] }),
        json!({ "weekly": five }),
        json!({ "weekly": [], "closed_dates": many_dates }),
        json!({ "weekly": [], "closed_dates": ["2027-02-30"] }),
    ] {
        let refused = app.put_schedule(&mitra, bad.clone()).await;
        assert_eq!((refused.status, refused.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad}");
    }
    assert_eq!(app.get_with("/api/mitra/schedule", &mitra).await.body, expected, "nothing changed");
}

#[tokio::test]
async fn slots_lie_on_the_grid_inside_the_hours_and_skip_held_time_until_it_is_freed() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let (d, closed) = (day(3), day(4));
    let hours = json!({ "weekly": [
        { "day": weekday(d), "start": "09:00", "end": "12:00" },
        { "day": weekday(d), "start": "14:00", "end": "14:30" },
        { "day": weekday(closed), "start": "09:00", "end": "12:00" },
    ], "closed_dates": [closed.to_string()] });
    assert_eq!(app.put_schedule(&mitra.token, hours).await.status, StatusCode::OK);

    let all = [local(d, 9, 0), local(d, 9, 30), local(d, 10, 0), local(d, 10, 30), local(d, 11, 0)];
    let reply = app.slots(&customer, &mitra, &d.to_string()).await;
    assert_eq!(reply.body["date"], d.to_string());
    assert_eq!(at(&reply.body["slots"][0]["ends_at"]), local(d, 10, 0), "a slot ends when the service does");
    assert_eq!(app.slot_starts(&customer, &mitra, d).await, all, "the 30-minute interval is too short for an hour");

    let held = app.booked(&customer, &mitra, local(d, 10, 0)).await;
    assert_eq!(app.slot_starts(&customer, &mitra, d).await, [local(d, 9, 0), local(d, 11, 0)], "held while unpaid");
    let other = app.fixtures().verified_customer().await.access_token;
    for (start, why) in [
        (local(d, 9, 30), "overlaps the held order"),
        (local(d, 10, 15), "off the grid"),
        (local(d, 11, 30), "does not fit"),
        (local(d, 13, 0), "outside the hours"),
    ] {
        let refused = app.book(&other, &mitra, start, None).await;
        assert_eq!((refused.status, refused.error_code()), (StatusCode::CONFLICT, "slot_unavailable"), "{why}");
    }
    let back_to_back = app.booked(&other, &mitra, local(d, 11, 0)).await;
    let cancelled = app.bearer_send("POST", &format!("/api/client/orders/{held}/cancel"), &customer, None).await;
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(
        app.slot_starts(&customer, &mitra, d).await,
        all[..3],
        "freed by the cancel; 10:30 and 11:00 overlap the 11:00 booking"
    );
    assert!(!back_to_back.is_empty());

    assert!(app.slot_starts(&customer, &mitra, closed).await.is_empty(), "a closed date");
    assert!(app.slot_starts(&customer, &mitra, day(-1)).await.is_empty(), "the past");
    assert!(app.slot_starts(&customer, &mitra, day(31)).await.is_empty(), "past the horizon");
    let bad_date = app.slots(&customer, &mitra, "2027-13-01").await;
    assert_eq!(bad_date.status, StatusCode::BAD_REQUEST);
    let stranger = app.fixtures().listed_mitra("Dewi").await;
    let path = format!("/api/client/mitras/{}/slots?service_id={}&date={d}", stranger.id, mitra.service_id);
    assert_eq!(app.get_with(&path, &customer).await.status, StatusCode::NOT_FOUND, "not this mitra's service");
}

#[tokio::test]
async fn an_order_needs_a_free_start_and_carries_its_end_its_policy_and_an_invoice_ending_before_it() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;

    let old_client =
        app.bearer_send("POST", "/api/client/orders", &customer, Some(json!({ "service_id": mitra.service_id }))).await;
    assert_eq!((old_client.status, old_client.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert!(old_client.body["error"]["message"].as_str().unwrap().contains("starts_at"), "{}", old_client.body);

    let mut first = app.slot_starts(&customer, &mitra, day(0)).await;
    first.extend(app.slot_starts(&customer, &mitra, day(1)).await);
    let starts_at = first[0];
    assert!(starts_at >= Utc::now() + Duration::minutes(59), "the lead");
    let too_soon = app.book(&customer, &mitra, starts_at - Duration::minutes(30), None).await;
    assert_eq!(too_soon.error_code(), "slot_unavailable", "inside the lead");

    let order = app.book(&customer, &mitra, starts_at, None).await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    assert_eq!(at(&order.body["starts_at"]), starts_at);
    assert_eq!(at(&order.body["ends_at"]), starts_at + Duration::minutes(60));
    assert!(order.body.get("address").is_none(), "no area, no address");
    assert_eq!(order.body["decline_reason"], Value::Null);
    assert_eq!(at(&order.body["cancellation"]["free_until"]), starts_at - Duration::hours(24));
    assert_eq!(order.body["cancellation"]["late_refund_percent"], 50);
    let expires = at(&order.body["payment"]["expires_at"]);
    assert!(expires <= starts_at - Duration::minutes(30) + Duration::seconds(1), "{expires} vs {starts_at}");
}

#[tokio::test]
async fn of_twenty_concurrent_orders_for_overlapping_times_with_one_mitra_exactly_one_is_created() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let mut customers = Vec::new();
    for _ in 0..20 {
        customers.push(app.fixtures().verified_customer().await.access_token);
    }
    let d = day(5);
    let replies = futures_util::future::join_all(
        customers
            .iter()
            .enumerate()
            .map(|(i, c)| app.book(c, &mitra, local(d, 9, 0) + Duration::minutes(30 * (i as i64 % 2)), None)),
    )
    .await;
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused =
        replies.iter().filter(|r| (r.status, r.error_code()) == (StatusCode::CONFLICT, "slot_unavailable")).count();
    let others: Vec<_> = replies
        .iter()
        .filter(|r| r.status != StatusCode::CREATED && r.error_code() != "slot_unavailable")
        .map(|r| (r.status, r.body.to_string()))
        .collect();
    assert_eq!((created, refused), (1, 19), "every other reply: {others:?}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(rows, 1, "no other order was left behind");
}

#[tokio::test]
async fn the_sweep_on_two_instances_declines_an_unaccepted_paid_order_once_and_refunds_it_in_full() {
    let mut settings = relaxed();
    settings.shared.booking.accept_timeout_secs = 1;
    settings.shared.booking.sweep_interval_secs = 1;
    let a = spawn_app_with(settings.clone()).await;
    let b = app_on(a.db.clone(), settings).await;
    let mitra = a.fixtures().listed_mitra("Sari").await;
    let customer = a.fixtures().verified_customer().await.access_token;
    let id = a.booked(&customer, &mitra, local(day(2), 9, 0)).await;
    a.fixtures().pay(id.parse().unwrap()).await;

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while a.booking_row(&id).await.0 != "refunded" {
        assert!(std::time::Instant::now() < deadline, "the sweep never declined it: {:?}", a.booking_row(&id).await);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Another round of both instances' loops changes nothing.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(a.booking_row(&id).await, ("refunded".to_owned(), Some("timeout".to_owned()), 150_000));
    let order: Uuid = id.parse().unwrap();
    let declines: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM order_events WHERE order_id = $1 AND to_status = 'declined' AND actor_type = 'system'",
    )
    .bind(order)
    .fetch_one(&b.db.pool)
    .await
    .unwrap();
    let refunds: Vec<i64> = sqlx::query_scalar("SELECT amount FROM refunds WHERE order_id = $1")
        .bind(order)
        .fetch_all(&b.db.pool)
        .await
        .unwrap();
    let told: Vec<String> = sqlx::query_scalar(
        "SELECT user_type FROM notifications WHERE data->>'order_id' = $1 AND data->>'status' = 'declined' ORDER BY user_type",
    )
    .bind(&id)
    .fetch_all(&b.db.pool)
    .await
    .unwrap();
    assert_eq!((declines, refunds, told), (1, vec![150_000], vec!["customer".to_owned(), "mitra".to_owned()]));
    let seen = a.get_with(&format!("/api/client/orders/{id}"), &customer).await;
    assert_eq!(seen.body["decline_reason"], "timeout");
    assert!(a.slot_starts(&customer, &mitra, day(2)).await.contains(&local(day(2), 9, 0)), "its time is free again");
    a.ledger_holds().await;
}

#[tokio::test]
async fn sweep_orders_reminds_accepted_orders_once_expires_overdue_invoices_and_drops_stale_creating_orders() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let d = day(2);
    let accepted = app.accepted_at(&customer, &mitra, local(d, 9, 0)).await;
    let paid_only = app.booked(&customer, &mitra, local(d, 11, 0)).await;
    app.fixtures().pay(paid_only.parse().unwrap()).await;
    let overdue = app.booked(&customer, &mitra, local(d, 13, 0)).await;
    let stale = app.booked(&customer, &mitra, local(d, 15, 0)).await;
    // Raw SQL for states no API makes: an invoice past its expiry, a creating order whose
    // invoice step died three minutes ago.
    sqlx::query("UPDATE orders SET invoice_expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(Uuid::parse_str(&overdue).unwrap())
        .execute(&app.db.pool)
        .await
        .unwrap();
    for sql in [
        "DELETE FROM order_events WHERE order_id = $1",
        "UPDATE orders SET status = 'creating', created_at = now() - interval '3 minutes' WHERE id = $1",
    ] {
        sqlx::query(sql).bind(Uuid::parse_str(&stale).unwrap()).execute(&app.db.pool).await.unwrap();
    }
    let run = || {
        std::process::Command::new(BIN)
            .env_clear()
            .env("DATABASE_URL", app.db.url())
            .env("PAYMENT_PROVIDER", "stub")
            // Every accepted order in the next ~70 days is due for its reminder.
            .env("REMINDER_MINUTES", "100000")
            .arg("sweep-orders")
            .output()
            .unwrap()
    };
    let printed = |out: &std::process::Output| -> String {
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('{')).collect::<Vec<_>>().join("\n")
    };
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(printed(&first), "3", "one reminder, one expiry, one stale order");
    let second = run();
    assert_eq!(printed(&second), "0", "nothing twice");

    let reminders: Vec<String> = sqlx::query_scalar(
        "SELECT user_type FROM notifications WHERE data->>'kind' = 'order_reminder' AND data->>'order_id' = $1
         ORDER BY user_type",
    )
    .bind(&accepted)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(reminders, ["customer", "mitra"], "one reminder per party, once");
    let pushes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE data->>'kind' = 'order_reminder' AND data->>'order_id' = $1",
    )
    .bind(&paid_only)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(pushes, 0, "reminders go only to accepted orders");
    assert_eq!(app.booking_row(&overdue).await.0, "expired");
    let gone: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = $1")
        .bind(Uuid::parse_str(&stale).unwrap())
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(gone, 0);
    let free = app.slot_starts(&customer, &mitra, d).await;
    assert!(free.contains(&local(d, 13, 0)) && free.contains(&local(d, 15, 0)), "both times are free again");
}

#[tokio::test]
async fn a_customer_cancels_free_before_free_until_and_pays_the_late_fee_after_it_through_the_ledger() {
    let mut settings = relaxed();
    settings.shared.booking.cancel_grace_minutes = 0;
    let app = spawn_app_with(settings).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let d = day(3);

    // Free: before free_until (three days ahead, 24 hours before the start).
    let free = app.accepted_at(&customer, &mitra, local(d, 9, 0)).await;
    let preview = app.get_with(&format!("/api/client/orders/{free}/cancellation"), &customer).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!((preview.body["refund_amount"].as_i64(), preview.body["fee"].as_i64()), (Some(150_000), Some(0)));
    assert_eq!(at(&preview.body["free_until"]), local(d, 9, 0) - Duration::hours(24));
    let cancelled = app.bearer_send("POST", &format!("/api/client/orders/{free}/cancel"), &customer, None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(app.booking_row(&free).await, ("refunded".to_owned(), None, 150_000));

    // Late: free_until has passed (raw SQL: a policy deadline in the past).
    let late = app.accepted_at(&customer, &mitra, local(d, 11, 0)).await;
    sqlx::query("UPDATE orders SET cancel_free_until = now() - interval '1 hour' WHERE id = $1")
        .bind(Uuid::parse_str(&late).unwrap())
        .execute(&app.db.pool)
        .await
        .unwrap();
    let preview = app.get_with(&format!("/api/client/orders/{late}/cancellation"), &customer).await;
    assert_eq!((preview.body["refund_amount"].as_i64(), preview.body["fee"].as_i64()), (Some(75_000), Some(75_000)));
    let cancelled = app.bearer_send("POST", &format!("/api/client/orders/{late}/cancel"), &customer, None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(app.booking_row(&late).await, ("refunded".to_owned(), None, 75_000));
    let postings = app.postings_of(&late).await;
    let fee: Vec<(String, i64)> =
        postings.iter().filter(|p| p.0 == "cancellation_fee").map(|p| (p.1.clone(), p.2)).collect();
    assert_eq!(
        fee,
        [("escrow".to_owned(), -75_000), ("commission".to_owned(), 15_000), ("mitra_pending".to_owned(), 60_000)]
    );
    let earnings = app.get_with("/api/mitra/earnings", &mitra.token).await;
    assert_eq!(earnings.body["pending"], 60_000);
    let entries = app.get_with("/api/mitra/earnings/entries", &mitra.token).await;
    assert_eq!(entries.body["items"][0]["kind"], "cancellation_fee", "{}", entries.body);

    // From the start on: no cancel, no preview.
    let started = app.accepted_at(&customer, &mitra, local(d, 13, 0)).await;
    app.fixtures().time_passes(started.parse().unwrap()).await;
    let preview = app.get_with(&format!("/api/client/orders/{started}/cancellation"), &customer).await;
    assert_eq!((preview.status, preview.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    let refused = app.bearer_send("POST", &format!("/api/client/orders/{started}/cancel"), &customer, None).await;
    assert_eq!((refused.status, refused.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    app.ledger_holds().await;
}

#[tokio::test]
async fn a_mitra_cancels_an_accepted_order_with_a_full_refund_and_completes_only_from_the_start() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let d = day(2);

    let early = app.accepted_at(&customer, &mitra, local(d, 9, 0)).await;
    let complete = app.bearer_send("POST", &format!("/api/mitra/orders/{early}/complete"), &mitra.token, None).await;
    assert_eq!((complete.status, complete.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    let cancelled = app.bearer_send("POST", &format!("/api/mitra/orders/{early}/cancel"), &mitra.token, None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(app.booking_row(&early).await, ("refunded".to_owned(), None, 150_000));
    assert!(app.postings_of(&early).await.iter().all(|p| p.0 != "cancellation_fee"));

    let paid = app.booked(&customer, &mitra, local(d, 11, 0)).await;
    app.fixtures().pay(paid.parse().unwrap()).await;
    let not_accepted = app.bearer_send("POST", &format!("/api/mitra/orders/{paid}/cancel"), &mitra.token, None).await;
    assert_eq!((not_accepted.status, not_accepted.error_code()), (StatusCode::CONFLICT, "invalid_state"));

    let on_time = app.accepted_at(&customer, &mitra, local(d, 13, 0)).await;
    app.fixtures().time_passes(on_time.parse().unwrap()).await;
    let too_late = app.bearer_send("POST", &format!("/api/mitra/orders/{on_time}/cancel"), &mitra.token, None).await;
    assert_eq!(too_late.error_code(), "invalid_state", "no cancel after the start");
    let complete = app.bearer_send("POST", &format!("/api/mitra/orders/{on_time}/complete"), &mitra.token, None).await;
    assert_eq!(complete.body["status"], "completed", "{}", complete.body);
    app.ledger_holds().await;
}

#[tokio::test]
async fn an_order_of_a_mitra_with_a_service_area_needs_an_address_inside_it() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;
    for bad in [
        json!({ "lat": -6.2, "lng": 106.8, "radius_km": 0 }),
        json!({ "lat": -6.2, "lng": 106.8, "radius_km": 51 }),
        json!({ "lat": -91, "lng": 106.8, "radius_km": 5 }),
    ] {
        let refused = app.bearer_send("PUT", "/api/mitra/service-area", &mitra.token, Some(bad.clone())).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let area = json!({ "lat": -6.2, "lng": 106.8, "radius_km": 5 });
    let set = app.bearer_send("PUT", "/api/mitra/service-area", &mitra.token, Some(area.clone())).await;
    assert_eq!((set.status, &set.body), (StatusCode::OK, &area));
    let d = day(2);

    let missing = app.book(&customer, &mitra, local(d, 9, 0), None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.body["error"]["message"].as_str().unwrap().contains("address"));
    let far = json!({ "text": "Bogor", "lat": -6.6, "lng": 106.8 });
    let outside = app.book(&customer, &mitra, local(d, 9, 0), Some(far.clone())).await;
    assert_eq!((outside.status, outside.error_code()), (StatusCode::CONFLICT, "outside_service_area"));
    let near = json!({ "text": "Jl. Sudirman 1", "lat": -6.21, "lng": 106.81, "notes": "Lantai 3" });
    let inside = app.book(&customer, &mitra, local(d, 9, 0), Some(near.clone())).await;
    assert_eq!(inside.status, StatusCode::CREATED, "{}", inside.body);
    assert_eq!(inside.body["address"], near);

    let deleted = app.bearer_send("DELETE", "/api/mitra/service-area", &mitra.token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let anywhere = app.book(&customer, &mitra, local(d, 11, 0), Some(far)).await;
    assert_eq!(anywhere.status, StatusCode::CREATED, "without an area any address (or none) will do");
}

#[tokio::test]
async fn near_me_lists_covering_mitra_nearest_first_pages_by_distance_and_never_shows_exact_coordinates() {
    let app = spawn_app_with(relaxed()).await;
    let f = app.fixtures();
    let (close, farther, far_away, no_area) = (
        f.listed_mitra("Dekat").await,
        f.listed_mitra("Agak").await,
        f.listed_mitra("Jauh").await,
        f.listed_mitra("Rumah").await,
    );
    let customer = f.verified_customer().await.access_token;
    for (mitra, lat, lng, radius) in
        [(&close, -6.2012, 106.8007, 5), (&farther, -6.2301, 106.8, 10), (&far_away, -6.5, 106.8, 5)]
    {
        let body = json!({ "lat": lat, "lng": lng, "radius_km": radius });
        assert_eq!(
            app.bearer_send("PUT", "/api/mitra/service-area", &mitra.token, Some(body)).await.status,
            StatusCode::OK
        );
    }

    let first = app.get_with("/api/client/mitras?near=-6.2,106.8&limit=1", &customer).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["items"][0]["id"], close.id.to_string());
    assert_eq!(first.body["items"][0]["distance_km"], 0.0, "from the centre snapped to 0.01°");
    let text = first.body.to_string();
    assert!(!text.contains("-6.2012") && !text.contains("106.8007") && !text.contains("\"lat\""), "{text}");
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.get_with(&format!("/api/client/mitras?near=-6.2,106.8&limit=1&cursor={cursor}"), &customer).await;
    assert_eq!(second.body["items"][0]["id"], farther.id.to_string());
    assert_eq!(second.body["items"][0]["distance_km"], 3.3, "one decimal");
    assert_eq!(second.body["next_cursor"], Value::Null, "the far area does not cover the point");

    let elsewhere =
        app.get_with(&format!("/api/client/mitras?near=-6.21,106.8&limit=1&cursor={cursor}"), &customer).await;
    assert_eq!((elsewhere.status, elsewhere.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"));
    let bad = app.get_with("/api/client/mitras?near=north", &customer).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let plain = app.get_with("/api/client/mitras", &customer).await;
    assert_eq!(plain.body["items"].as_array().unwrap().len(), 4, "without near every listed mitra, {}", no_area.id);
    assert!(plain.body["items"][0].get("distance_km").is_none());
}

#[tokio::test]
async fn near_me_browse_walks_the_gist_index_on_the_snapped_centres() {
    let app = spawn_app_with(relaxed()).await;
    // 5,000 listed mitra with a service and an area in one statement: signing that many
    // in would take minutes.
    sqlx::raw_sql(
        "INSERT INTO mitras (id, phone, display_name, listed_name, verification_status)
         SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, '+628' || lpad(i::text, 10, '0'),
                'Mitra ' || i, 'Mitra ' || i, 'approved'
         FROM generate_series(1, 5000) i;
         INSERT INTO mitra_services (id, mitra_id, title, description, price, duration_minutes, active)
         SELECT gen_random_uuid(), id, 'Pijat', '', 150000, 60, true FROM mitras;
         INSERT INTO mitra_service_areas (mitra_id, lat, lng, snapped_lat, snapped_lng, radius_km)
         SELECT id, -6 - random() * 2, 106 + random() * 2, 0, 0, 10 FROM mitras;
         UPDATE mitra_service_areas SET snapped_lat = round(lat::numeric, 2), snapped_lng = round(lng::numeric, 2);
         ANALYZE mitras; ANALYZE mitra_services; ANALYZE mitra_service_areas;",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let mut conn = app.db.pool.acquire().await.unwrap();
    sqlx::query("SET plan_cache_mode = force_generic_plan").execute(&mut *conn).await.unwrap();
    let plan = halo_shared::marketplace::browse::explain_near(&mut conn, (-6.9, 106.9)).await.unwrap();
    assert!(plan.contains("mitra_service_areas_earth_idx"), "{plan}");
    let customer = app.fixtures().verified_customer().await.access_token;
    let page = app.get_with("/api/client/mitras?near=-6.9,106.9&limit=100", &customer).await;
    let distances: Vec<f64> =
        page.body["items"].as_array().unwrap().iter().map(|m| m["distance_km"].as_f64().unwrap()).collect();
    assert!(!distances.is_empty() && distances.iter().all(|d| *d <= 10.0), "{distances:?}");
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "nearest first");
}

#[tokio::test]
async fn near_me_pages_through_a_dense_city_in_exactly_the_order_of_every_covering_mitra_by_distance() {
    let app = spawn_app_with(relaxed()).await;
    // 600 listed mitra over ~10 km, radii 1-6 km (many do not reach the point), one of them
    // renamed and waiting for review, some unlisted: the rings that bound each page must
    // give the pages the full ordering gives, page after page.
    sqlx::raw_sql(
        "INSERT INTO mitras (id, phone, display_name, listed_name, verification_status, is_online)
         SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, '+628' || lpad(i::text, 10, '0'),
                'Mitra ' || i, CASE WHEN i % 50 <> 0 THEN 'Mitra ' || i END,
                CASE WHEN i % 50 <> 0 THEN 'approved' ELSE 'rejected' END, i % 3 = 0
         FROM generate_series(1, 600) i;
         INSERT INTO mitra_services (id, mitra_id, title, description, price, duration_minutes, active)
         SELECT gen_random_uuid(), id, 'Pijat', '', 150000, 60, true FROM mitras;
         INSERT INTO mitra_service_areas (mitra_id, lat, lng, snapped_lat, snapped_lng, radius_km)
         SELECT id, -6.25 + random() * 0.1, 106.8 + random() * 0.1, 0, 0, 1 + (random() * 5)::int FROM mitras;
         UPDATE mitra_service_areas SET snapped_lat = round(lat::numeric, 2), snapped_lng = round(lng::numeric, 2);
         UPDATE mitras SET display_name = 'Nama Baru', verification_status = 'pending'
         WHERE id = '00000000-0000-4000-8000-000000000007';
         UPDATE mitra_service_areas SET lat = -6.2, lng = 106.85, snapped_lat = -6.2, snapped_lng = 106.85, radius_km = 5
         WHERE mitra_id = '00000000-0000-4000-8000-000000000007';
         ANALYZE mitras; ANALYZE mitra_services; ANALYZE mitra_service_areas;",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (lat, lng) = (-6.2, 106.85);
    let expected = |online: bool| {
        let pool = app.db.pool.clone();
        async move {
            let rows: Vec<(Uuid, i64)> = sqlx::query_as(
                "SELECT m.id, round(earth_distance(ll_to_earth(a.snapped_lat, a.snapped_lng), ll_to_earth($1, $2)) / 100)::bigint AS d
                 FROM mitra_service_areas a JOIN mitras m ON m.id = a.mitra_id
                 WHERE m.listed_name IS NOT NULL AND ($3 = false OR m.is_online)
                   AND earth_distance(ll_to_earth(a.snapped_lat, a.snapped_lng), ll_to_earth($1, $2)) <= a.radius_km * 1000
                 ORDER BY d, m.id",
            )
            .bind(lat)
            .bind(lng)
            .bind(online)
            .fetch_all(&pool)
            .await
            .unwrap();
            rows
        }
    };
    let customer = app.fixtures().verified_customer().await.access_token;
    for online in [false, true] {
        let want = expected(online).await;
        assert!(want.len() > 60, "enough covering mitra for several pages: {}", want.len());
        let renamed: Uuid = "00000000-0000-4000-8000-000000000007".parse().unwrap();
        assert_eq!(want.iter().any(|w| w.0 == renamed), !online, "the renamed mitra is offline, at the point");
        let mut got: Vec<(Uuid, i64)> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/client/mitras?near={lat},{lng}&limit=20");
            if online {
                path.push_str("&online=true");
            }
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = app.get_with(&path, &customer).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            for item in page.body["items"].as_array().unwrap() {
                let id: Uuid = item["id"].as_str().unwrap().parse().unwrap();
                let km = item["distance_km"].as_f64().unwrap();
                got.push((id, (km * 10.0).round() as i64));
                if id == renamed {
                    assert_eq!(item["display_name"], "Mitra 7", "the approved name, not the one under review");
                }
            }
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(got, want, "online only: {online}");
    }
}

#[tokio::test]
async fn a_payment_that_arrives_after_the_start_is_unmatched_and_refunded_in_full() {
    let app = spawn_app_with(relaxed()).await;
    let mitra = app.fixtures().listed_mitra("Sari").await;
    let customer = app.fixtures().verified_customer().await.access_token;
    let id = app.booked(&customer, &mitra, local(day(2), 9, 0)).await;
    app.fixtures().time_passes(id.parse().unwrap()).await;
    app.fixtures().pay(id.parse().unwrap()).await;

    let order: (String, Option<String>, i64) = sqlx::query_as(
        "SELECT status, payment_issue, (SELECT coalesce(sum(amount), 0)::bigint FROM refunds WHERE order_id = $1)
         FROM orders WHERE id = $1",
    )
    .bind(Uuid::parse_str(&id).unwrap())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(order, ("expired".to_owned(), Some("paid_after_start".to_owned()), 150_000));
    let kinds: Vec<String> = app.postings_of(&id).await.into_iter().map(|p| format!("{}:{}", p.0, p.1)).collect();
    assert!(
        kinds.contains(&"unmatched:unmatched".to_owned()) && !kinds.iter().any(|k| k.contains("escrow")),
        "{kinds:?}"
    );
    app.ledger_holds().await;
}
