//! What the gateway's tests share: a running gateway per test ([`TestApp`]), the fixture
//! builder over it ([`TestApp::fixtures`]), request helpers, and the fakes of what the
//! gateway talks to (a WebSocket client, FCM, Google's and Apple's keys). Test files
//! import only from here, never from each other.

pub mod fcm;
pub mod oidc;
pub mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use halo_shared::state::GatewaySettings;
use halo_shared::testing::fixtures::Fixtures;
pub use halo_shared::testing::fixtures::{next_start, stub_code};
use halo_shared::testing::{self, Running, TestDb};
pub use halo_shared::testing::{send, Reply};
use halo_shared::tokens::{Claims, Keys};
use halo_shared::AppState;
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{json, Value};

/// One gateway instance for a test, started as `serve` starts it (on port 0).
pub struct TestApp {
    pub client: TestClient<Arc<BoxEndpoint<'static>>>,
    pub state: AppState,
    pub db: TestDb,
    pub running: Running,
}

/// Anonymous sign-ins, OTP sends and their limits, for tests that do many of them.
pub fn relaxed() -> GatewaySettings {
    let mut settings = testing::gateway_settings();
    settings.otp.resend_secs = 0;
    settings.otp.sends_per_phone_per_hour = 100;
    settings.otp.sends_per_phone_per_day = 100;
    settings.otp.sends_per_ip_per_hour = 100;
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(testing::gateway_settings()).await
}

pub async fn spawn_app_with(settings: GatewaySettings) -> TestApp {
    let db = testing::fresh_database().await;
    app_on(db, settings).await
}

/// An app over an existing database, as a second instance would be.
pub async fn app_on(db: TestDb, settings: GatewaySettings) -> TestApp {
    app_with_keys(db, Keys::new(testing::JWT_SECRET), settings).await
}

/// An instance over an existing database with its own key ring: the same deployment
/// after a key rotation.
pub async fn app_with_keys(db: TestDb, keys: Keys, settings: GatewaySettings) -> TestApp {
    let startup = testing::startup("public-gateway", db.another_pool(), keys, settings);
    let running = testing::start(public_gateway::build(startup).await).await;
    let client = TestClient::new(running.endpoint.clone());
    TestApp { client, state: running.state.clone(), db, running }
}

/// Stops a background task when the test goes away.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TestApp {
    /// The fixture builder over this instance: state made through its API, or the
    /// library's domain path where the gateway serves none (staff decisions).
    pub fn fixtures(&self) -> Fixtures<'_, Arc<BoxEndpoint<'static>>> {
        Fixtures::new(&self.state, &self.client)
    }
}

impl TestApp {
    pub async fn anonymous_from(&self, ip: &str) -> Reply {
        send(self.client.post("/api/shared/auth/anonymous").header("x-forwarded-for", ip).body_json(&json!({}))).await
    }

    /// Signs in a new anonymous customer and returns the token pair.
    pub async fn anonymous(&self) -> Reply {
        let reply = self.anonymous_from("198.51.100.1").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        send(self.client.post("/api/shared/auth/refresh").body_json(&json!({ "refresh_token": refresh_token }))).await
    }

    pub async fn refresh_from(&self, refresh_token: &str, ip: &str) -> Reply {
        send(
            self.client
                .post("/api/shared/auth/refresh")
                .header("x-forwarded-for", ip)
                .body_json(&json!({ "refresh_token": refresh_token })),
        )
        .await
    }

    pub async fn get_with(&self, path: &str, access_token: &str) -> Reply {
        send(self.client.get(path).header("authorization", format!("Bearer {access_token}"))).await
    }

    pub async fn logout(&self, access_token: &str) -> Reply {
        send(self.client.post("/api/shared/auth/logout").header("authorization", format!("Bearer {access_token}")))
            .await
    }

    pub fn claims(&self, access_token: &str) -> Claims {
        self.state.keys.verify(access_token, chrono::Utc::now().timestamp()).expect("valid access token")
    }

    pub async fn session_row(&self, session_id: uuid::Uuid) -> (i64, Option<String>) {
        sqlx::query_as("SELECT counter, revoked_reason FROM auth_sessions WHERE id = $1")
            .bind(session_id)
            .fetch_one(&self.db.pool)
            .await
            .expect("session row")
    }
}

impl TestApp {
    /// Asks for a code; `app` is `client` or `mitra`.
    pub async fn request_otp(&self, app: &str, phone: &str) -> Reply {
        send(self.client.post(format!("/api/{app}/auth/otp/request")).body_json(&json!({ "phone": phone }))).await
    }

    /// Asks for a code and reads it from the stub's log line.
    pub async fn otp_code(&self, app: &str, phone: &str) -> String {
        let (guard, logs) = testing::capture_logs();
        let reply = self.request_otp(app, phone).await;
        drop(guard);
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        stub_code(&logs.lines()).expect("the stub logged a code")
    }

    pub async fn verify_otp(&self, app: &str, phone: &str, code: &str, bearer: Option<&str>) -> Reply {
        let mut req =
            self.client.post(format!("/api/{app}/auth/otp/verify")).body_json(&json!({ "phone": phone, "code": code }));
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        send(req).await
    }

    /// Signs in by phone from scratch and returns the token pair.
    pub async fn sign_in_by_phone(&self, app: &str, phone: &str, bearer: Option<&str>) -> Reply {
        let code = self.otp_code(app, phone).await;
        let reply = self.verify_otp(app, phone, &code, bearer).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply
    }
}

impl TestApp {
    /// Waits (up to 5 s) until this instance's realtime listener is connected and caught up.
    pub async fn listening(&self) {
        for _ in 0..500 {
            if self.state.realtime.is_listening() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the realtime listener did not start");
    }

    /// Where this instance listens (for WebSockets).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.running.addr
    }
}

impl TestApp {
    /// Sends `method path` with the bearer token and an optional JSON body.
    pub async fn bearer_send(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let req = match method {
            "GET" => self.client.get(path),
            "POST" => self.client.post(path),
            "PATCH" => self.client.patch(path),
            "PUT" => self.client.put(path),
            "DELETE" => self.client.delete(path),
            other => panic!("no {other} helper"),
        };
        let req = req.header("authorization", format!("Bearer {token}"));
        match body {
            Some(body) => send(req.body_json(&body)).await,
            None => send(req).await,
        }
    }

    /// Signs in by phone from a known user agent and address; returns the access token.
    pub async fn signed_in(&self, app: &str, phone: &str, user_agent: &str) -> String {
        let code = self.otp_code(app, phone).await;
        let reply = send(
            self.client
                .post(format!("/api/{app}/auth/otp/verify"))
                .header("user-agent", user_agent)
                .header("x-forwarded-for", "203.0.113.9")
                .body_json(&json!({ "phone": phone, "code": code })),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.str("access_token")
    }

    /// Polls `GET /api/shared/auth/session` until it is refused, for up to a second.
    pub async fn refused_within_a_second(&self, token: &str) -> Reply {
        let started = Instant::now();
        loop {
            let reply = self.get_with("/api/shared/auth/session", token).await;
            if reply.status == StatusCode::UNAUTHORIZED {
                return reply;
            }
            assert!(started.elapsed() < Duration::from_secs(1), "still accepted after a second");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
