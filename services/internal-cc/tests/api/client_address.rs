//! Per-IP login throttling counts an IPv6 client by its /64, so rotating addresses
//! inside it does not buy more guesses.

use halo_shared::state::ControlCenterSettings;
use poem::http::StatusCode;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn failed_logins_from_one_ipv6_64_are_counted_together() {
    let app = spawn_app_with(ControlCenterSettings {
        login_failures_per_email: 100,
        login_failures_per_ip: 3,
        ..halo_shared::testing::control_center_settings()
    })
    .await;
    for i in 1..=3 {
        let reply =
            app.login_from(&format!("user{i}@halobestie.id"), "wrong-password", &format!("2001:db8:7:7::{i}")).await;
        assert_eq!(reply.error_code(), "invalid_credentials");
    }
    let limited = app.login_from("user9@halobestie.id", "wrong-password", "2001:db8:7:7:abcd::9").await;
    assert_eq!((limited.status, limited.error_code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let other = app.login_from("user9@halobestie.id", "wrong-password", "2001:db8:7:8::1").await;
    assert_eq!(other.error_code(), "invalid_credentials", "another /64 is another client");
}
