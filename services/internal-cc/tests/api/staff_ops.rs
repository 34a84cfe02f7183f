//! Control-center operations (contract §10): the role matrix, search and detail,
//! suspension, verification decisions, session revocation, staff management and the
//! append-only audit log, against the real service and database.

use std::time::{Duration, Instant};

use halo_shared::testing::fixtures::{Customer, StaffMember};
use halo_shared::users::staff::Role;
use poem::http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use halo_shared::testing;
use halo_shared::tokens::Keys;

use crate::helpers::{app_with_keys, send, spawn_app, Reply, TestApp, PASSWORD};

impl TestApp {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let req = match method {
            "GET" => self.client.get(path),
            "POST" => self.client.post(path),
            "PATCH" => self.client.patch(path),
            "DELETE" => self.client.delete(path),
            other => panic!("no {other}"),
        };
        let req = req.header("authorization", format!("Bearer {token}")).header("x-forwarded-for", "10.1.2.3");
        match body {
            Some(body) => send(req.body_json(&body)).await,
            None => send(req).await,
        }
    }

    async fn audit(&self, action: &str) -> Vec<(Option<Uuid>, Option<String>, Option<String>, Value, Option<String>)> {
        sqlx::query_as(
            "SELECT actor_id, actor_email, target_id, details, ip FROM audit_log WHERE action = $1 ORDER BY id",
        )
        .bind(action)
        .fetch_all(&self.db.pool)
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn agents_run_user_operations_and_only_admins_manage_staff_refund_and_read_the_audit_log() {
    let app = spawn_app().await;
    let admin = app.fixtures().staff(Role::Admin).await.access_token;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let customer = app.fixtures().customer_with_phone("+6281200000001").await.id;

    for path in ["/internal/customers", "/internal/mitras", &format!("/internal/customers/{customer}")] {
        assert_eq!(app.get_with(path, &agent).await.status, StatusCode::OK, "{path}");
    }
    let staff_ops = [
        ("GET", "/internal/staff".to_owned(), None),
        ("GET", "/internal/audit-log".to_owned(), None),
        (
            "POST",
            "/internal/staff".to_owned(),
            Some(json!({ "email": "x@halobestie.id", "role": "agent", "password": "long enough pw" })),
        ),
        ("PATCH", format!("/internal/staff/{}", Uuid::new_v4()), Some(json!({ "display_name": "X" }))),
    ];
    for (method, path, body) in staff_ops {
        let refused = app.call(method, &path, &agent, body.clone()).await;
        assert_eq!((refused.status, refused.error_code()), (StatusCode::FORBIDDEN, "forbidden"), "{method} {path}");
        let allowed = app.call(method, &path, &admin, body).await;
        assert_ne!(allowed.status, StatusCode::FORBIDDEN, "{method} {path}: {}", allowed.body);
    }
}

#[tokio::test]
async fn search_finds_customers_by_phone_in_any_form_email_name_prefix_and_id() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    // One customer with a phone and an email, which no sign-in makes (a phone and a Google
    // or Apple account each sign in a customer of their own).
    let (ayu, budi) = (Uuid::new_v4(), Uuid::new_v4());
    sqlx::query(
        "INSERT INTO customers (id, is_anonymous, phone, email, display_name)
         VALUES ($1, false, '+6281234567001', 'ayu@gmail.com', 'Ayu Lestari'),
                ($2, false, '+6285700000002', 'budi@yahoo.co.id', 'Budi')",
    )
    .bind(ayu)
    .bind(budi)
    .execute(&app.db.pool)
    .await
    .unwrap();

    let found = |query: &str| {
        let app = &app;
        let agent = agent.clone();
        let query = query.to_owned();
        async move {
            let reply = app.get_with(&format!("/internal/customers?query={}", urlencode(&query)), &agent).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            reply.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let ayu_only = vec![ayu.to_string()];
    for query in
        ["0812-3456-7001", "+62 812 3456 7001", "6281234567001", "0812", "AYU@gmail.com", "ayu l", &ayu.to_string()]
    {
        assert_eq!(found(query).await, ayu_only, "{query}");
    }
    assert_eq!(found("085").await, vec![budi.to_string()]);
    assert_eq!(found("").await.len(), 2);
    assert!(found("nobody").await.is_empty());

    let item = app.get_with(&format!("/internal/customers?query={ayu}"), &agent).await.body["items"][0].clone();
    assert_eq!(item["status"], "active");
    assert_eq!(item["phone"], "+6281234567001");
    for bad in ["/internal/customers?cursor=garbage", "/internal/customers?limit=0", "/internal/customers/not-a-uuid"] {
        let reply = app.get_with(bad, &agent).await;
        assert_eq!((reply.status, reply.error_code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad}");
    }
    let unknown = app.get_with(&format!("/internal/customers/{}", Uuid::new_v4()), &agent).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn paging_customers_never_skips_or_repeats_while_new_ones_arrive() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let mut existing = Vec::new();
    for i in 0..5 {
        existing.push(app.fixtures().customer_with_phone(&format!("+62812000000{i}")).await.id.to_string());
    }
    let first = app.get_with("/internal/customers?limit=2", &agent).await;
    app.fixtures().customer_with_phone("+6281299999999").await;
    let mut seen: Vec<String> =
        first.body["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = app.get_with(&format!("/internal/customers?limit=2&cursor={c}"), &agent).await;
        seen.extend(page.body["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    existing.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, existing, "every customer there at the start, once each");
}

#[tokio::test]
async fn a_customer_detail_shows_live_sessions_and_identities() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let customer = app.fixtures().customer_with_phone("+6281234567002").await;
    app.fixtures().name_customer(&customer, "Ayu").await;
    let Customer { id, session_id: session, .. } = customer;
    // A Google account linked to a customer who has a phone, which no sign-in makes
    // (Google signs in a customer of its own unless the bearer is anonymous).
    sqlx::query("INSERT INTO customer_identities (provider, subject, customer_id) VALUES ('google', 'g-1', $1)")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();

    let detail = app.get_with(&format!("/internal/customers/{id}"), &agent).await;

    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.body["identities"], json!(["phone", "google"]));
    assert_eq!(detail.body["sessions"][0]["id"], session.to_string());
    assert_eq!(detail.body["sessions"][0]["user_agent"], "HaloClient/1.0");
    assert_eq!(detail.body["display_name"], "Ayu");
}

#[tokio::test]
async fn suspending_ends_every_session_on_another_instance_at_once_and_is_audited_and_reinstating_lifts_it() {
    let app = spawn_app().await;
    let StaffMember { id: agent_id, access_token: agent, .. } =
        app.fixtures().staff_with_email("agent@halobestie.id", Role::Agent).await;
    let Customer { id: customer, access_token: token, session_id: session, .. } =
        app.fixtures().customer_with_phone("+6281234567003").await;
    assert_eq!(app.get_with("/internal/auth/me", &token).await.error_code(), "forbidden", "a live customer token");
    // A second instance of internal-cc on the same database.
    let other =
        app_with_keys(app.db.clone(), Keys::new(testing::JWT_SECRET), halo_shared::testing::control_center_settings())
            .await;

    let path = format!("/internal/customers/{customer}/suspend");
    for bad in [json!({}), json!({ "reason": "  " })] {
        let refused = app.call("POST", &path, &agent, Some(bad)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    }
    let suspended = app.call("POST", &path, &agent, Some(json!({ "reason": "chargeback fraud" }))).await;

    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    assert_eq!(suspended.body["status"], "suspended");
    let started = Instant::now();
    loop {
        let reply = other.get_with("/internal/auth/me", &token).await;
        if reply.error_code() == "session_revoked" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "still accepted after a second: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reason: Option<String> = sqlx::query_scalar("SELECT revoked_reason FROM auth_sessions WHERE id = $1")
        .bind(session)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(reason.as_deref(), Some("suspended"));
    let entries = app.audit("user.suspend").await;
    assert_eq!(entries.len(), 1);
    let (actor, email, target, details, ip) = &entries[0];
    assert_eq!(
        (*actor, email.as_deref(), target.as_deref()),
        (Some(agent_id), Some("agent@halobestie.id"), Some(customer.to_string().as_str()))
    );
    assert_eq!((details["reason"].as_str(), ip.as_deref()), (Some("chargeback fraud"), Some("10.1.2.3")));

    let reinstated = app.call("POST", &format!("/internal/customers/{customer}/reinstate"), &agent, None).await;
    assert_eq!(reinstated.body["status"], "active");
    assert_eq!(app.audit("user.reinstate").await.len(), 1);
    assert_eq!(
        app.get_with("/internal/auth/me", &token).await.error_code(),
        "session_revoked",
        "old sessions stay ended"
    );
    let unknown = app
        .call("POST", &format!("/internal/mitras/{}/suspend", Uuid::new_v4()), &agent, Some(json!({ "reason": "x" })))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_pending_mitra_is_approved_once_and_told_by_socket_event_and_push() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let pending = app.fixtures().pending_mitra("Sari").await;
    let unsubmitted = app.fixtures().mitra("Sari").await.id;
    app.fixtures().device(&pending.access_token, "fcm-m").await;
    let pending = pending.id;

    let queue = app.get_with("/internal/mitras?verification_status=pending", &agent).await;
    assert_eq!(queue.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(queue.body["items"][0]["id"], pending.to_string());
    let path = format!("/internal/mitras/{pending}/verification");
    let approved = app.call("POST", &path, &agent, Some(json!({ "decision": "approve", "note": "KTP cocok" }))).await;

    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["verification_status"], "approved");
    let event: (String, Value) = sqlx::query_as("SELECT type, data FROM user_events WHERE user_id = $1")
        .bind(pending)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(event.0, "mitra.verification");
    assert_eq!(event.1, json!({ "verification_status": "approved", "note": "KTP cocok" }));
    let pushes: i64 = sqlx::query_scalar("SELECT count(*) FROM push_outbox WHERE fcm_token = 'fcm-m'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(pushes, 1);
    assert_eq!(app.audit("mitra.verification").await.len(), 1);

    let again = app.call("POST", &path, &agent, Some(json!({ "decision": "reject" }))).await;
    assert_eq!((again.status, again.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    let not_pending = app
        .call(
            "POST",
            &format!("/internal/mitras/{unsubmitted}/verification"),
            &agent,
            Some(json!({ "decision": "approve" })),
        )
        .await;
    assert_eq!(not_pending.error_code(), "invalid_state");
    let bad = app.call("POST", &path, &agent, Some(json!({ "decision": "maybe" }))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn staff_end_any_session_once_and_it_is_audited() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let Customer { id: customer, session_id: session, .. } = app.fixtures().customer_with_phone("+6281234567006").await;

    let ended = app.call("DELETE", &format!("/internal/sessions/{session}"), &agent, None).await;
    let again = app.call("DELETE", &format!("/internal/sessions/{session}"), &agent, None).await;
    let malformed = app.call("DELETE", "/internal/sessions/nope", &agent, None).await;

    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.body);
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let entries = app.audit("session.revoke").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].3["user_id"], customer.to_string());
}

#[tokio::test]
async fn admins_manage_staff_but_never_leave_the_control_center_without_an_admin() {
    let app = spawn_app().await;
    let StaffMember { id: admin_id, access_token: admin, .. } = app.fixtures().staff(Role::Admin).await;

    let short = app
        .call(
            "POST",
            "/internal/staff",
            &admin,
            Some(json!({ "email": "a@halobestie.id", "role": "agent", "password": "short" })),
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let created = app
        .call("POST", "/internal/staff", &admin, Some(json!({ "email": "Dewi@HaloBestie.id", "role": "agent", "display_name": "Dewi", "password": "a long passphrase" })))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        (created.body["email"].as_str(), created.body["disabled"].as_bool()),
        (Some("dewi@halobestie.id"), Some(false))
    );
    let dup = app
        .call(
            "POST",
            "/internal/staff",
            &admin,
            Some(json!({ "email": "DEWI@halobestie.id", "role": "agent", "password": "a long passphrase" })),
        )
        .await;
    assert_eq!((dup.status, dup.error_code()), (StatusCode::CONFLICT, "conflict"));

    let self_demote =
        app.call("PATCH", &format!("/internal/staff/{admin_id}"), &admin, Some(json!({ "role": "agent" }))).await;
    assert_eq!((self_demote.status, self_demote.error_code()), (StatusCode::CONFLICT, "conflict"));
    let self_disable =
        app.call("PATCH", &format!("/internal/staff/{admin_id}"), &admin, Some(json!({ "disabled": true }))).await;
    assert_eq!(self_disable.status, StatusCode::CONFLICT);

    // Dewi is promoted: her session (whose tokens say `agent`) ends, and her next sign-in
    // carries the new role.
    let dewi = created.str("id");
    let dewi_login = app.login("dewi@halobestie.id", "a long passphrase").await;
    let dewi_token = dewi_login.str("access_token");
    assert_eq!(app.get_with("/internal/staff", &dewi_token).await.status, StatusCode::FORBIDDEN);
    let promoted = app
        .call(
            "PATCH",
            &format!("/internal/staff/{dewi}"),
            &admin,
            Some(json!({ "role": "admin", "display_name": "Dewi A." })),
        )
        .await;
    assert_eq!(
        (promoted.body["role"].as_str(), promoted.body["display_name"].as_str()),
        (Some("admin"), Some("Dewi A."))
    );
    let refreshed = app.refresh_with_cookie(&crate::helpers::refresh_cookie(&dewi_login)).await;
    assert_eq!((refreshed.status, refreshed.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
    let relogin = app.login("dewi@halobestie.id", "a long passphrase").await;
    let refreshed = app.refresh_with_cookie(&crate::helpers::refresh_cookie(&relogin)).await;
    assert_eq!(app.get_with("/internal/staff", &refreshed.str("access_token")).await.status, StatusCode::OK);

    // Dewi (now the other admin) disables the first admin: their sessions end at once.
    let disabled = app
        .call(
            "PATCH",
            &format!("/internal/staff/{admin_id}"),
            &refreshed.str("access_token"),
            Some(json!({ "disabled": true })),
        )
        .await;
    assert_eq!(disabled.body["disabled"], true, "{}", disabled.body);
    assert_eq!(app.session_revoked_reason(admin_id).await.as_deref(), Some("disabled"));
    // Dewi is now the last active admin and cannot be demoted by anyone.
    let last = app
        .call(
            "PATCH",
            &format!("/internal/staff/{dewi}"),
            &refreshed.str("access_token"),
            Some(json!({ "role": "agent" })),
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    let list = app.get_with("/internal/staff", &refreshed.str("access_token")).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(app.audit("staff.create").await.len(), 1);
    assert_eq!(app.audit("staff.change").await.len(), 2);
}

#[tokio::test]
async fn logins_logouts_and_notifications_are_audited_and_the_log_pages_newest_first() {
    let app = spawn_app().await;
    let StaffMember { id: admin_id, access_token: admin, .. } = app.fixtures().staff(Role::Admin).await;
    let customer = app.fixtures().customer_with_phone("+6281234567007").await.id;
    let sent = app
        .call(
            "POST",
            "/internal/notifications",
            &admin,
            Some(json!({ "user_type": "customer", "user_id": customer, "title": "Hai", "body": "Promo" })),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let other = app.fixtures().staff(Role::Agent).await.access_token;
    assert_eq!(app.call("POST", "/internal/auth/logout", &other, None).await.status, StatusCode::NO_CONTENT);

    let page = app.get_with("/internal/audit-log?limit=2", &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let actions: Vec<&str> =
        page.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["staff.logout", "staff.login"]);
    let rest = app
        .get_with(&format!("/internal/audit-log?cursor={}", page.body["next_cursor"].as_str().unwrap()), &admin)
        .await;
    let actions: Vec<&str> =
        rest.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["notification.send", "staff.login"]);
    let mine = app.get_with(&format!("/internal/audit-log?actor_id={admin_id}&action=notification.send"), &admin).await;
    assert_eq!(mine.body["items"][0]["target_id"], customer.to_string());
    assert!(!mine.body.to_string().contains(PASSWORD), "no secret in the log");
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_audit_entries() {
    let app = spawn_app().await;
    app.fixtures().staff(Role::Admin).await;

    // Tampering, which no API offers: the database itself must refuse it.
    for sql in ["UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
        let refused = sqlx::raw_sql(sql).execute(&app.db.pool).await.unwrap_err();
        assert!(refused.to_string().contains("append-only"), "{sql}: {refused}");
    }
    assert_eq!(app.audit("staff.login").await.len(), 1);
}

#[tokio::test]
async fn phone_email_and_name_search_use_their_indexes() {
    let app = spawn_app().await;
    // 5,000 customers with phones, emails and names in one statement: signing that many
    // in would take minutes, and no sign-in gives one customer both a phone and an email.
    sqlx::raw_sql(
        "INSERT INTO customers (id, is_anonymous, phone, email, display_name, created_at)
         SELECT gen_random_uuid(), false, '+628' || lpad(i::text, 10, '0'), 'user' || i || '@mail.test', 'Name ' || i,
                now() - make_interval(secs => i)
         FROM generate_series(1, 5000) i;
         ANALYZE customers;",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let mut conn = app.db.pool.acquire().await.unwrap();
    // The search's own statement, planned generically as a prepared statement would be.
    sqlx::query("SET plan_cache_mode = force_generic_plan").execute(&mut *conn).await.unwrap();
    for (search, index) in [
        (halo_shared::users::directory::Search::PhonePrefix("+6280000012".into()), "customers_phone_prefix_idx"),
        (halo_shared::users::directory::Search::Email("user42@mail.test".into()), "customers_email_prefix_idx"),
        (halo_shared::users::directory::Search::NamePrefix("name 42".into()), "customers_name_prefix_idx"),
    ] {
        let plan = halo_shared::users::directory::explain_customer_search(&mut conn, &search).await.unwrap();
        assert!(plan.contains(index), "{search:?}:\n{plan}");
    }
}

#[tokio::test]
async fn staff_find_orders_with_their_payment_callbacks_and_only_admins_refund_them() {
    let app = spawn_app().await;
    let agent = app.fixtures().staff(Role::Agent).await.access_token;
    let StaffMember { id: admin_id, access_token: admin, .. } = app.fixtures().staff(Role::Admin).await;
    let f = app.fixtures();
    let mitra = f.listed_mitra("Sari").await;
    let (customer, other) = (f.verified_customer().await, f.verified_customer().await);
    let (paid, unpaid) = (f.order(&customer, mitra.service_id).await, f.order(&other, mitra.service_id).await);
    let callback = f.pay(paid).await;

    let mine = app.get_with(&format!("/internal/orders?customer_id={}", customer.id), &agent).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    let by_status = app.get_with("/internal/orders?status=pending_payment", &agent).await;
    assert_eq!(by_status.body["items"][0]["id"], unpaid.to_string());
    let detail = app.get_with(&format!("/internal/orders/{paid}"), &agent).await;
    assert_eq!((detail.body["status"].as_str(), detail.body["amount"].as_i64()), (Some("paid"), Some(150000)));
    assert_eq!(detail.body["payment_events"][0]["body"], callback);
    assert_eq!(detail.body["payment_events"][0]["outcome"], "changed");

    let path = format!("/internal/orders/{paid}/refund");
    let by_agent = app.call("POST", &path, &agent, Some(json!({ "reason": "mitra no-show" }))).await;
    assert_eq!((by_agent.status, by_agent.error_code()), (StatusCode::FORBIDDEN, "forbidden"));
    let refunded = app.call("POST", &path, &admin, Some(json!({ "reason": "mitra no-show" }))).await;
    assert_eq!(refunded.status, StatusCode::OK, "{}", refunded.body);
    assert_eq!(refunded.body["status"], "refunded", "the stub provider refunds at once");
    let again = app.call("POST", &path, &admin, Some(json!({ "reason": "twice" }))).await;
    assert_eq!((again.status, again.error_code()), (StatusCode::CONFLICT, "invalid_state"));
    let unpaid_refund =
        app.call("POST", &format!("/internal/orders/{unpaid}/refund"), &admin, Some(json!({ "reason": "x" }))).await;
    assert_eq!(unpaid_refund.error_code(), "invalid_state");
    let entries = app.audit("order.refund").await;
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].0, entries[0].3["reason"].as_str()), (Some(admin_id), Some("mitra no-show")));
    // The moves since it was paid (placing and paying it made the two before).
    let moves: Vec<(Option<String>, String, String)> = sqlx::query_as(
        "SELECT from_status, to_status, actor_type FROM order_events WHERE order_id = $1 AND from_status <> 'pending_payment'
         ORDER BY id",
    )
    .bind(paid)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        moves,
        vec![
            (Some("paid".into()), "refund_pending".into(), "cc_user".into()),
            (Some("refund_pending".into()), "refunded".into(), "system".into())
        ]
    );
    let unknown = app.get_with(&format!("/internal/orders/{}", Uuid::new_v4()), &agent).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
