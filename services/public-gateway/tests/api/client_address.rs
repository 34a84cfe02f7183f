//! Who the client is, for per-IP limits: the attacks that used to escape them.

use halo_shared::http::EdgeConfig;
use halo_shared::state::GatewaySettings;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::json;

use crate::helpers::{relaxed, send, spawn_app_with};

fn limited_to(n: u32) -> GatewaySettings {
    GatewaySettings { anon_signins_per_ip_per_hour: n, ..halo_shared::testing::gateway_settings() }
}

#[tokio::test]
async fn rotating_ipv6_addresses_inside_one_64_does_not_escape_the_anonymous_limit() {
    let app = spawn_app_with(limited_to(3)).await;
    for i in 1..=3 {
        assert_eq!(app.anonymous_from(&format!("2001:db8:1:2::{i:x}")).await.status, StatusCode::OK);
    }
    let limited = app.anonymous_from("2001:db8:1:2:ffff:ffff:ffff:fffe").await;
    assert_eq!((limited.status, limited.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert_eq!(app.anonymous_from("2001:db8:1:3::1").await.status, StatusCode::OK, "the next /64 is someone else");
    let key: String = sqlx::query_scalar("SELECT key FROM rate_limits WHERE key LIKE 'anon:ip:2001:db8:1:2:%'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(key, "anon:ip:2001:db8:1:2::/64");
}

#[tokio::test]
async fn rotating_ipv6_addresses_does_not_escape_the_otp_send_limit_per_ip() {
    let mut settings = relaxed();
    settings.otp.sends_per_ip_per_hour = 2;
    let app = spawn_app_with(settings).await;
    let request = |phone: &'static str, ip: &'static str| {
        send(
            app.client
                .post("/api/client/auth/otp/request")
                .header("x-forwarded-for", ip)
                .body_json(&json!({ "phone": phone })),
        )
    };
    assert_eq!(request("+6281200000001", "2001:db8:9:9::1").await.status, StatusCode::ACCEPTED);
    assert_eq!(request("+6281200000002", "2001:db8:9:9::2").await.status, StatusCode::ACCEPTED);
    let limited = request("+6281200000003", "2001:db8:9:9::3").await;
    assert_eq!((limited.status, limited.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
}

#[tokio::test]
async fn a_second_forwarded_for_line_cannot_hide_the_address_our_front_end_appended() {
    let app = spawn_app_with(limited_to(2)).await;
    for i in 1..=3 {
        let reply = send(
            app.client
                .post("/api/shared/auth/anonymous")
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .header("x-forwarded-for", "203.0.113.9")
                .body_json(&json!({})),
        )
        .await;
        let expected = if i <= 2 { StatusCode::OK } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(reply.status, expected, "attempt {i}: {}", reply.body);
    }
    let ips: Vec<Option<String>> =
        sqlx::query_scalar("SELECT ip FROM auth_sessions").fetch_all(&app.db.pool).await.unwrap();
    assert_eq!(ips, vec![Some("203.0.113.9".to_owned()); 2], "sessions record the trusted entry");
}

#[tokio::test]
async fn with_more_hops_than_entries_the_client_written_address_is_ignored() {
    let app = spawn_app_with(limited_to(2)).await;
    let edge = EdgeConfig { trusted_proxy_hops: 2, ..EdgeConfig::default() };
    let client = TestClient::new(public_gateway::app(app.state.clone(), edge));
    for i in 1..=3 {
        let forged = format!("6.6.6.{i}");
        let reply =
            send(client.post("/api/shared/auth/anonymous").header("x-forwarded-for", forged).body_json(&json!({})))
                .await;
        let expected = if i <= 2 { StatusCode::OK } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(reply.status, expected, "attempt {i}: every forged address counts as one client");
    }
    let forged: i64 = sqlx::query_scalar("SELECT count(*) FROM rate_limits WHERE key LIKE 'anon:ip:6.6.6.%'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(forged, 0);
}
