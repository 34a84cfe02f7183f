//! A fake FCM and a fake metadata server (for the OAuth token), for the push tests.

use halo_shared::push::fcm::{Credentials, FcmClient, FcmSettings};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::TestApp;

const SEND_PATH: &str = "/v1/projects/halo-test/messages:send";

pub struct Fakes {
    pub fcm: MockServer,
    pub metadata: MockServer,
}

/// A metadata server that hands out `ya29.test-token`, and an FCM that answers nothing
/// until [`fcm_answers`] says what.
pub async fn fakes() -> Fakes {
    let metadata = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/computeMetadata/v1/instance/service-accounts/default/token"))
        .and(header("metadata-flavor", "Google"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"
        })))
        .mount(&metadata)
        .await;
    Fakes { fcm: MockServer::start().await, metadata }
}

/// An FCM client of project `halo-test` against the fakes.
pub fn client(app: &TestApp, fakes: &Fakes) -> FcmClient {
    let settings = FcmSettings {
        project_id: "halo-test".into(),
        base_url: fakes.fcm.uri(),
        credentials: Credentials::Metadata { base_url: fakes.metadata.uri() },
    };
    FcmClient::new(settings, app.state.http.clone())
}

/// From now on the fake FCM answers every send with `response`.
pub async fn fcm_answers(fakes: &Fakes, response: ResponseTemplate) {
    fakes.fcm.reset().await;
    Mock::given(method("POST")).and(path(SEND_PATH)).respond_with(response).mount(&fakes.fcm).await;
}
