use halo_shared::auth::tokens::Claims;
use halo_shared::http::EdgeConfig;
use halo_shared::testing::{self, TestDb};
pub use halo_shared::testing::{send, Reply};
use halo_shared::{AppState, Settings};
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::json;

pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static>>,
    pub state: AppState,
    pub db: TestDb,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(testing::settings()).await
}

pub async fn spawn_app_with(settings: Settings) -> TestApp {
    let db = testing::fresh_database().await;
    app_on(db, settings)
}

/// An app over an existing database, as a second instance would be.
pub fn app_on(db: TestDb, settings: Settings) -> TestApp {
    let state = AppState::new(db.another_pool(), testing::JWT_SECRET, settings);
    let client = TestClient::new(public_gateway::app(state.clone(), EdgeConfig::default()));
    TestApp { client, state, db }
}

impl TestApp {
    pub async fn anonymous_from(&self, ip: &str) -> Reply {
        send(
            self.client
                .post("/api/shared/auth/anonymous")
                .header("x-forwarded-for", ip)
                .body_json(&json!({})),
        )
        .await
    }

    /// Signs in a new anonymous customer and returns the token pair.
    pub async fn anonymous(&self) -> Reply {
        let reply = self.anonymous_from("198.51.100.1").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        send(
            self.client
                .post("/api/shared/auth/refresh")
                .body_json(&json!({ "refresh_token": refresh_token })),
        )
        .await
    }

    pub async fn get_with(&self, path: &str, access_token: &str) -> Reply {
        send(
            self.client
                .get(path)
                .header("authorization", format!("Bearer {access_token}")),
        )
        .await
    }

    pub async fn logout(&self, access_token: &str) -> Reply {
        send(
            self.client
                .post("/api/shared/auth/logout")
                .header("authorization", format!("Bearer {access_token}")),
        )
        .await
    }

    pub fn claims(&self, access_token: &str) -> Claims {
        self.state
            .keys
            .verify(access_token, chrono::Utc::now().timestamp())
            .expect("valid access token")
    }

    pub async fn session_row(&self, session_id: uuid::Uuid) -> (i64, Option<String>) {
        sqlx::query_as("SELECT counter, revoked_reason FROM auth_sessions WHERE id = $1")
            .bind(session_id)
            .fetch_one(&self.db.pool)
            .await
            .expect("session row")
    }
}
