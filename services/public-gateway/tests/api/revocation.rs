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

#[tokio::test]
async fn during_a_listener_outage_revoked_tokens_are_refused_and_the_revocation_is_replayed_on_reconnect() {
    let a = spawn_app().await;
    let url = a.db.url();
    let target: SocketAddr = url.split('@').nth(1).unwrap().split('/').next().unwrap().parse().unwrap();
    let (proxy, up, _proxy_task) = cuttable_proxy(target).await;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(&url.replace(&target.to_string(), &proxy.to_string()))
        .unwrap();
    let startup = testing::startup("public-gateway", pool, Keys::new(testing::JWT_SECRET), testing::gateway_settings());
    let running = testing::start(public_gateway::build(startup).await).await;
    let (b, client) = (running.state.clone(), TestClient::new(running.endpoint.clone()));
    until("b listens", || b.realtime.is_listening()).await;

    let token = a.anonymous().await.str("access_token");
    assert_eq!(session_of(&client, &token).await.status, StatusCode::OK);

    up.send_replace(false);
    until("b notices the outage", || !b.realtime.is_listening()).await;
    assert_eq!(a.logout(&token).await.status, StatusCode::NO_CONTENT, "revoked while b cannot hear it");
    tokio::time::sleep(Duration::from_millis(STALE_AFTER_MS as u64 + 300)).await;
    let during = session_of(&client, &token).await;
    assert_eq!((during.status, during.error_code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "fail closed");

    up.send_replace(true);
    until("b reconnects", || b.realtime.is_listening()).await;
    let after = session_of(&client, &token).await;
    assert_eq!((after.status, after.error_code()), (StatusCode::UNAUTHORIZED, "session_revoked"));
    let fresh = a.anonymous().await.str("access_token");
    assert_eq!(session_of(&client, &fresh).await.status, StatusCode::OK);
}
