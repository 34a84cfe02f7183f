//! WebSocket abuse: too many sockets per session, user or address; a client that stops
//! reading; a revocation that lands between the handshake and the registration.

use std::time::Duration;

use halo_shared::auth::scheme::authenticate;
use halo_shared::auth::scheme::open_socket;
use halo_shared::auth::AuthError;
use halo_shared::http::ClientInfo;
use halo_shared::realtime::hub::Caps;
use halo_shared::state::GatewaySettings;
use halo_shared::testing::fixtures::Customer;
use halo_shared::tokens::UserType;
use uuid::Uuid;

use crate::helpers::ws::{connect, next_event, Socket};
use crate::helpers::{spawn_app_with, TestApp};

fn with_caps(caps: Caps) -> GatewaySettings {
    GatewaySettings { ws_caps: caps, ..halo_shared::testing::gateway_settings() }
}

/// An access token for `user` and `session` (neither needs a row: no query authenticates).
fn token(app: &TestApp, user: Uuid, session: Uuid) -> String {
    app.state.keys.mint(user, UserType::Customer, session, chrono::Utc::now().timestamp()).0
}

async fn open_ready(addr: std::net::SocketAddr, token: &str) -> Socket {
    let mut socket = connect(addr, Some(token), "").await.expect("upgraded");
    assert_eq!(next_event(&mut socket).await["type"], "connection.ready");
    socket
}

async fn until_connections(app: &TestApp, n: usize) {
    for _ in 0..1500 {
        if app.state.realtime.hub.connections() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} sockets, the hub holds {}", app.state.realtime.hub.connections());
}

#[tokio::test]
async fn the_sixth_socket_of_one_session_gets_429_json_before_any_upgrade() {
    let app = spawn_app_with(with_caps(Caps::default())).await;
    let addr = app.addr();
    let Customer { access_token: token, .. } = app.fixtures().anonymous_customer().await;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(open_ready(addr, &token).await);
    }
    let (status, body) = connect(addr, Some(&token), "").await.expect_err("over the cap");
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")));
    assert_eq!(app.state.realtime.hub.connections(), 5);

    drop(open.pop());
    until_connections(&app, 4).await;
    open.push(open_ready(addr, &token).await);
}

#[tokio::test]
async fn sockets_are_capped_per_user_across_sessions_and_per_client_address_across_users() {
    let app = spawn_app_with(with_caps(Caps { per_session: 0, per_user: 2, per_ip: 3 })).await;
    let addr = app.addr();
    let user = Uuid::new_v4();
    let _a = open_ready(addr, &token(&app, user, Uuid::new_v4())).await;
    let _b = open_ready(addr, &token(&app, user, Uuid::new_v4())).await;
    let (status, _) = connect(addr, Some(&token(&app, user, Uuid::new_v4())), "").await.expect_err("user cap");
    assert_eq!(status, 429);

    let _c = open_ready(addr, &token(&app, Uuid::new_v4(), Uuid::new_v4())).await;
    let (status, body) =
        connect(addr, Some(&token(&app, Uuid::new_v4(), Uuid::new_v4())), "").await.expect_err("address cap");
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_instead_of_buffered() {
    let mut settings = with_caps(Caps::default());
    settings.ws_heartbeat = Duration::from_secs(1);
    let app = spawn_app_with(settings).await;
    let addr = app.addr();
    let Customer { access_token: token, id: user, .. } = app.fixtures().anonymous_customer().await;
    let _never_read = open_ready(addr, &token).await;

    let big: std::sync::Arc<str> = "x".repeat(64 * 1024).into();
    for _ in 0..3000 {
        if app.state.realtime.hub.connections() == 0 {
            break;
        }
        app.state.realtime.hub.send_to_user(UserType::Customer, user, big.clone());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    until_connections(&app, 0).await;
}

#[tokio::test]
async fn a_revocation_between_the_handshake_and_the_registration_still_refuses_the_socket() {
    let app = spawn_app_with(with_caps(Caps::default())).await;
    app.listening().await;
    let Customer { access_token: token, session_id: session, .. } = app.fixtures().anonymous_customer().await;
    // The handshake authenticated this token ...
    let claims = authenticate(&app.state, &token, &[UserType::Customer]).await.expect("valid before logout");
    // ... then the logout lands (on any instance) before the socket registers.
    assert_eq!(app.logout(&token).await.status, poem::http::StatusCode::NO_CONTENT);
    for _ in 0..500 {
        if app.state.realtime.revoked.contains(session, chrono::Utc::now().timestamp()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let opened = open_socket(&app.state, &claims, &ClientInfo::default());
    assert!(matches!(opened, Err(AuthError::SessionRevoked)), "the socket must not outlive the revocation");
    assert_eq!(app.state.realtime.hub.connections(), 0);
}
