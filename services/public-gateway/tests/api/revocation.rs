//! The revocation promise holds through the gaps: a new instance before its first load,
//! a listener outage, and (in ws_caps) a revocation racing a WebSocket's registration.

use std::net::SocketAddr;
use std::time::Duration;

use halo_shared::realtime::STALE_AFTER_MS;
use halo_shared::tokens::Keys;
use halo_shared::{testing, AppState};
use poem::http::StatusCode;
use poem::test::TestClient;
use sqlx::postgres::PgPoolOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{send, spawn_app, AbortOnDrop, Reply};

async fn session_of<E: poem::Endpoint>(client: &TestClient<E>, token: &str) -> Reply {
    send(client.get("/api/shared/auth/session").header("authorization", format!("Bearer {token}"))).await
}

async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..3000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn a_new_instance_refuses_a_revoked_session_before_its_listener_has_caught_up() {
    let a = spawn_app().await;
    let revoked = a.anonymous().await.str("access_token");
    let live = a.anonymous().await.str("access_token");
    assert_eq!(a.logout(&revoked).await.status, StatusCode::NO_CONTENT);

    // A second instance whose listener has not loaded anything yet.
    let b = AppState::new(a.db.another_pool(), testing::JWT_SECRET, testing::gateway_settings());
    let client = TestClient::new(public_gateway::app(b.clone(), Default::default()));
    let ready = send(client.get("/readyz")).await;
    assert_eq!((ready.status, ready.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));

    let reply = session_of(&client, &revoked).await;
    assert_eq!((reply.status, reply.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
    assert_eq!(session_of(&client, &live).await.status, StatusCode::OK, "live sessions still work");

    let _listener = AbortOnDrop(halo_shared::realtime::listener::spawn(halo_shared::startup::listener(&b)));
    until("the listener catches up", || b.realtime.is_listening()).await;
    assert_eq!(send(client.get("/readyz")).await.status, StatusCode::OK);
    assert!(b.realtime.revoked.contains(a.claims(&revoked).session_id, chrono::Utc::now().timestamp()));
}

/// A TCP proxy to Postgres that the test can cut (every connection dropped, new ones
/// refused) and restore: a database outage as this instance sees it.
async fn cuttable_proxy(target: SocketAddr) -> (SocketAddr, watch::Sender<bool>, AbortOnDrop) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (up, _) = watch::channel(true);
    let switch = up.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else { continue };
            let mut up = switch.subscribe();
            if !*up.borrow() {
                continue;
            }
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = up.wait_for(|up| !*up) => {}
                }
            });
        }
    });
    (addr, up, AbortOnDrop(task))
}

/// An instance whose database connections all go through a proxy the test can cut, with
/// `stale_trust` as `REVOCATION_STALE_TRUST_SECONDS`; it is listening when this returns.
struct CutOff {
    b: AppState,
    client: TestClient<std::sync::Arc<poem::endpoint::BoxEndpoint<'static>>>,
    up: watch::Sender<bool>,
    _proxy: AbortOnDrop,
    _running: testing::Running,
}

async fn instance_behind_a_proxy(a: &crate::helpers::TestApp, stale_trust: Duration) -> CutOff {
    let url = a.db.url();
    let target: SocketAddr = url.split('@').nth(1).unwrap().split('/').next().unwrap().parse().unwrap();
    let (proxy, up, proxy_task) = cuttable_proxy(target).await;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(&url.replace(&target.to_string(), &proxy.to_string()))
        .unwrap();
    let mut settings = testing::gateway_settings();
    settings.shared.revocation_stale_trust = stale_trust;
    let startup = testing::startup("public-gateway", pool, Keys::new(testing::JWT_SECRET), settings);
    let running = testing::start(public_gateway::build(startup).await).await;
    let (b, client) = (running.state.clone(), TestClient::new(running.endpoint.clone()));
    until("b listens", || b.realtime.is_listening()).await;
    CutOff { b, client, up, _proxy: proxy_task, _running: running }
}

#[tokio::test]
async fn during_an_outage_longer_than_the_stale_trust_bound_token_checks_fail_closed_with_retry_after() {
    let a = spawn_app().await;
    let cut = instance_behind_a_proxy(&a, Duration::from_secs(1)).await;
    let token = a.anonymous().await.str("access_token");
    assert_eq!(session_of(&cut.client, &token).await.status, StatusCode::OK);

    cut.up.send_replace(false);
    until("b notices the outage", || !cut.b.realtime.is_listening()).await;
    assert_eq!(a.logout(&token).await.status, StatusCode::NO_CONTENT, "revoked while b cannot hear it");
    tokio::time::sleep(Duration::from_millis(STALE_AFTER_MS as u64 + 300)).await;
    let during = session_of(&cut.client, &token).await;
    assert_eq!((during.status, during.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "fail closed");
    assert_eq!(during.headers["retry-after"], "5", "every 503 says when to come back");

    cut.up.send_replace(true);
    until("b reconnects", || cut.b.realtime.is_listening()).await;
    let after = session_of(&cut.client, &token).await;
    assert_eq!((after.status, after.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
    let fresh = a.anonymous().await.str("access_token");
    assert_eq!(session_of(&cut.client, &fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn while_the_database_is_unreachable_token_checks_trust_the_last_synced_set_until_the_bound() {
    let a = spawn_app().await;
    let bound = Duration::from_secs(STALE_AFTER_MS as u64 / 1000 + 3);
    let cut = instance_behind_a_proxy(&a, bound).await;
    let live = a.anonymous().await.str("access_token");
    let revoked_before = a.anonymous().await.str("access_token");
    let revoked_during = a.anonymous().await.str("access_token");
    assert_eq!(a.logout(&revoked_before).await.status, StatusCode::NO_CONTENT);
    until("b hears of it", || {
        cut.b.realtime.revoked.contains(a.claims(&revoked_before).session_id, chrono::Utc::now().timestamp())
    })
    .await;

    cut.up.send_replace(false);
    let cut_at = std::time::Instant::now();
    until("b notices the outage", || !cut.b.realtime.is_listening()).await;
    assert_eq!(a.logout(&revoked_during).await.status, StatusCode::NO_CONTENT, "another instance still reaches the db");
    tokio::time::sleep(Duration::from_millis(STALE_AFTER_MS as u64 + 300)).await;

    // Past the listener's own grace, within the bound: answered from the set, at once.
    let started = std::time::Instant::now();
    assert_eq!(session_of(&cut.client, &live).await.status, StatusCode::OK);
    assert_eq!(session_of(&cut.client, &live).await.status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2), "no request waits out the pool's timeout");
    let known = session_of(&cut.client, &revoked_before).await;
    assert_eq!(known.error_code(), "session_revoked", "what the set knows is still refused");
    // The documented trade-off: a revocation this instance could not hear.
    assert_eq!(session_of(&cut.client, &revoked_during).await.status, StatusCode::OK);

    // After the bound: fail closed.
    tokio::time::sleep((bound + Duration::from_millis(300)).saturating_sub(cut_at.elapsed())).await;
    let after = session_of(&cut.client, &live).await;
    assert_eq!((after.status, after.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{}", after.body);
    assert!(after.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn when_the_database_comes_back_a_revocation_made_meanwhile_is_refused_within_a_second() {
    let a = spawn_app().await;
    let cut = instance_behind_a_proxy(&a, Duration::from_secs(60)).await;
    let token = a.anonymous().await.str("access_token");
    let live = a.anonymous().await.str("access_token");

    cut.up.send_replace(false);
    until("b notices the outage", || !cut.b.realtime.is_listening()).await;
    assert_eq!(a.logout(&token).await.status, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(STALE_AFTER_MS as u64 + 300)).await;
    assert_eq!(session_of(&cut.client, &token).await.status, StatusCode::OK, "trusted while cut off");

    cut.up.send_replace(true);
    let restored = std::time::Instant::now();
    loop {
        let reply = session_of(&cut.client, &token).await;
        if reply.error_code() == "session_revoked" {
            break;
        }
        assert!(restored.elapsed() < Duration::from_secs(1), "still accepted a second after reconnecting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(session_of(&cut.client, &live).await.status, StatusCode::OK);
}
