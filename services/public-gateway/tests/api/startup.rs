//! The binary's command line, the committed spec, and graceful shutdown over a real listener.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use halo_shared::http::{EdgeConfig, Server};
use halo_shared::push::fcm::{Credentials, FcmSettings};
use halo_shared::tokens::Keys;
use halo_shared::{testing, AppState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_public-gateway");

fn run(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new(BIN).env_clear().envs(env.iter().copied()).args(args).output().expect("run binary")
}

#[test]
fn serve_refuses_to_start_without_database_url() {
    let out = run(&[("AUTH_JWT_SECRET", "x".repeat(40).as_str())], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn serve_refuses_a_jwt_secret_under_32_bytes() {
    let out = run(&[("DATABASE_URL", "postgres://localhost/x"), ("AUTH_JWT_SECRET", "too-short")], &["serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AUTH_JWT_SECRET is too short (9 bytes)"), "{stderr}");
}

#[test]
fn on_cloud_run_serve_refuses_the_otp_stub_unless_explicitly_allowed() {
    let secret = "x".repeat(40);
    // Unreachable on purpose: a start that gets past the check fails at the migration instead.
    let base = [
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        ("AUTH_JWT_SECRET", secret.as_str()),
        ("RUN_MIGRATIONS", "true"),
        ("DB_ACQUIRE_TIMEOUT_SECONDS", "1"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let env: Vec<(&str, &str)> = base.iter().copied().chain(extra.iter().copied()).collect();
        let out = run(&env, &["serve"]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for refused in
        [with(&[("K_SERVICE", "public-gateway")]), with(&[("K_SERVICE", "public-gateway"), ("OTP_PROVIDER", "stub")])]
    {
        assert!(refused.contains("OTP_PROVIDER=stub on Cloud Run"), "{refused}");
        assert!(refused.contains("ALLOW_STUB_PROVIDERS_IN_PRODUCTION"), "{refused}");
    }
    let allowed = with(&[("K_SERVICE", "public-gateway"), ("ALLOW_STUB_PROVIDERS_IN_PRODUCTION", "true")]);
    assert!(!allowed.contains("on Cloud Run"), "the opt-in lets it past the check: {allowed}");
    let local = with(&[]);
    assert!(!local.contains("on Cloud Run"), "outside Cloud Run the stub is fine: {local}");
}

#[test]
fn openapi_needs_no_database_and_no_secret_and_matches_the_committed_file() {
    halo_shared::testing::assert_committed_spec_is_current(
        env!("CARGO_BIN_EXE_public-gateway"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/public-gateway.json"),
        "public-gateway",
    );
}

#[test]
fn every_operation_requires_a_bearer_token_unless_listed_as_public() {
    let public = halo_shared::testing::public_operations(&public_gateway::openapi().spec());
    let expected: BTreeSet<String> = public_gateway::PUBLIC_OPERATIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(public, expected);
}

#[test]
fn migrate_applies_the_schema_and_is_idempotent() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(testing::fresh_database());
    // A fresh database from the template is already migrated; migrating again must be a no-op.
    let url = db.url();
    for _ in 0..2 {
        let out = run(&[("DATABASE_URL", &url)], &["migrate"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let applied: i64 =
        rt.block_on(sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&db.pool)).expect("count");
    assert_eq!(applied as usize, halo_shared::db::MIGRATOR.iter().count());
}

#[tokio::test]
async fn an_in_flight_request_completes_after_the_stop_signal() {
    let db = testing::fresh_database().await;
    let mut settings = testing::gateway_settings();
    // Every worker the build can start, so stopping has all of them to stop.
    settings.fcm = Some(FcmSettings {
        project_id: "halo-test".into(),
        base_url: "http://127.0.0.1:9".into(),
        credentials: Credentials::Metadata { base_url: "http://127.0.0.1:9".into() },
    });
    let startup = testing::startup("public-gateway", db.pool.clone(), Keys::new(testing::JWT_SECRET), settings);
    let running = testing::start(public_gateway::build(startup).await).await;
    assert_eq!(running.tasks, ["realtime listener", "push worker", "janitor"], "what serve starts");
    let addr = running.addr;

    // Start a request and leave its body unsent, so it is in flight when the stop comes.
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    conn.write_all(
        b"POST /api/shared/auth/anonymous HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n",
    )
    .await
    .expect("write head");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let serving = tokio::spawn(running.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "no new connections after the stop signal");

    conn.write_all(b"{}").await.expect("write body");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("refresh_token"), "{response}");
    tokio::time::timeout(Duration::from_secs(11), serving)
        .await
        .expect("server and tasks stop")
        .expect("join")
        .expect("clean exit");
}

#[tokio::test]
async fn a_request_that_outlives_the_timeout_gets_504_json() {
    let db = testing::fresh_database().await;
    let state = AppState::new(db.pool.clone(), testing::JWT_SECRET, testing::gateway_settings());
    let edge = EdgeConfig { request_timeout: Duration::from_millis(200), ..EdgeConfig::default() };
    let server = Server::bind("127.0.0.1:0".parse().unwrap()).await.expect("bind");
    let addr = server.addr();
    let serving = tokio::spawn(server.run_until_stopped(public_gateway::app(state, edge), std::future::pending()));

    // The body never comes, so the request cannot finish in time.
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    conn.write_all(
        b"POST /api/shared/auth/anonymous HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n",
    )
    .await
    .expect("write head");
    let mut response = vec![0u8; 4096];
    let n =
        tokio::time::timeout(Duration::from_secs(5), conn.read(&mut response)).await.expect("answered").expect("read");
    let response = String::from_utf8_lossy(&response[..n]);
    assert!(response.starts_with("HTTP/1.1 504"), "{response}");
    assert!(response.contains(r#""code":"timeout""#), "{response}");
    serving.abort();
}
