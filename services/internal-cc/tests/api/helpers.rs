//! What the control center's tests share: a running instance per test ([`TestApp`]), the
//! fixture builder over it ([`TestApp::fixtures`]) and request helpers. Test files import
//! only from here, never from each other.

use std::sync::Arc;

use halo_shared::state::ControlCenterSettings;
use halo_shared::testing::fixtures::{Fixtures, STAFF_PASSWORD};
use halo_shared::testing::{self, Running, TestDb};
pub use halo_shared::testing::{send, Reply};
use halo_shared::tokens::Keys;
use halo_shared::users::staff::Role;
use halo_shared::AppState;
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use serde_json::json;
use uuid::Uuid;

/// The password of every staff account the fixtures make.
pub const PASSWORD: &str = STAFF_PASSWORD;
pub const SPA: &str = "https://cc.halobestie.test";

/// One control-center instance for a test, started as `serve` starts it (on port 0).
pub struct TestApp {
    pub client: TestClient<Arc<BoxEndpoint<'static>>>,
    pub state: AppState,
    pub db: TestDb,
    _running: Running,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(ControlCenterSettings { cc_allowed_origins: vec![SPA.into()], ..testing::control_center_settings() })
        .await
}

pub async fn spawn_app_with(settings: ControlCenterSettings) -> TestApp {
    app_with_keys(testing::fresh_database().await, Keys::new(testing::JWT_SECRET), settings).await
}

/// An instance over an existing database with its own key ring: the same deployment
/// after a key rotation.
pub async fn app_with_keys(db: TestDb, keys: Keys, settings: ControlCenterSettings) -> TestApp {
    let startup = testing::startup("internal-cc", db.another_pool(), keys, settings);
    let running = testing::start(internal_cc::build(startup).await).await;
    let state = running.state.clone();
    // As in production, where /internal/readyz holds traffic back until this is done.
    assert!(state.realtime.wait_loaded(std::time::Duration::from_secs(10)).await, "the listener did not start");
    TestApp { client: TestClient::new(running.endpoint.clone()), state, db, _running: running }
}

/// The value of the `cc_refresh_token` cookie in a reply's `Set-Cookie`.
pub fn refresh_cookie(reply: &Reply) -> String {
    let header = reply.headers["set-cookie"].to_str().expect("ascii");
    let (pair, _) = header.split_once(';').expect("attributes");
    pair.strip_prefix("cc_refresh_token=").expect("cookie name").to_owned()
}

impl TestApp {
    /// The fixture builder over this instance: state made through its API, or the
    /// library's domain path where the control center serves none (app users' sign-in).
    pub fn fixtures(&self) -> Fixtures<'_, Arc<BoxEndpoint<'static>>> {
        Fixtures::new(&self.state, &self.client)
    }

    /// A GET (or, for any other method, a POST) to `path` with a staff bearer token.
    pub async fn as_staff(&self, method: &str, path: &str, token: &str, body: Option<serde_json::Value>) -> Reply {
        let req = match method {
            "GET" => self.client.get(path),
            _ => self.client.post(path),
        };
        let req = req.header("authorization", format!("Bearer {token}"));
        match body {
            Some(body) => send(req.body_json(&body)).await,
            None => send(req).await,
        }
    }

    /// A staff account named "Staff Member" with [`PASSWORD`], not signed in.
    pub async fn create_staff(&self, email: &str, role: Role) -> Uuid {
        self.fixtures().staff_account(email, role).await
    }

    pub async fn login_from(&self, email: &str, password: &str, ip: &str) -> Reply {
        send(
            self.client
                .post("/internal/auth/login")
                .header("x-forwarded-for", ip)
                .body_json(&json!({ "email": email, "password": password })),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.login_from(email, password, "10.9.8.7").await
    }

    pub async fn refresh_with_cookie(&self, token: &str) -> Reply {
        send(self.client.post("/internal/auth/refresh").header("cookie", format!("cc_refresh_token={token}"))).await
    }

    pub async fn get_with(&self, path: &str, access_token: &str) -> Reply {
        send(self.client.get(path).header("authorization", format!("Bearer {access_token}"))).await
    }

    pub async fn session_revoked_reason(&self, user_id: Uuid) -> Option<String> {
        sqlx::query_scalar(
            "SELECT revoked_reason FROM auth_sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(user_id)
        .fetch_one(&self.db.pool)
        .await
        .expect("session row")
    }
}
