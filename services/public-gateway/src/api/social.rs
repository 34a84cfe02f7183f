use halo_shared::auth::identity;
use halo_shared::auth::scheme::OptionalCustomer;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::http::json::{JsonBody, JsonString};
use halo_shared::providers::oidc::IdProvider;
use halo_shared::AppState;
use poem::web::Data;
use poem::Request;
use poem_openapi::{Object, OpenApi};

use super::schemas::TokenPairResponse;
use super::Tag;

/// A bad ID token (401), a bearer of the wrong kind or a disabled account (403), the
/// provider not configured or unreachable (503).
type SocialErrors = ApiErrors<{ WITH_BODY | BEARER | E429 }>;

#[derive(Default)]
pub struct SocialApi;

#[derive(Debug, Object)]
pub struct GoogleSignIn {
    /// The ID token from Google Sign-In.
    #[oai(validator(min_length = 1, max_length = 8192))]
    pub id_token: JsonString,
    /// The nonce the app set on the Google request; the token must carry it (as set, or
    /// its hex SHA-256). Required when the token carries a nonce.
    #[oai(validator(max_length = 256))]
    pub nonce: Option<JsonString>,
}

#[derive(Debug, Object)]
pub struct AppleSignIn {
    /// The identity token from Sign in with Apple.
    #[oai(validator(min_length = 1, max_length = 8192))]
    pub id_token: JsonString,
    /// The raw nonce the app generated; the token must carry its hex SHA-256.
    #[oai(validator(max_length = 256))]
    pub nonce: Option<JsonString>,
    /// The user's name; Apple gives it to the app only on the first authorization.
    #[oai(validator(max_length = 256))]
    pub full_name: Option<JsonString>,
    /// The authorization code from the same authorization. When the server has Apple
    /// credentials it exchanges the code, so that deleting the account later revokes the
    /// Apple grant (App Store requirement). Send it whenever the app has one.
    #[oai(validator(max_length = 1024))]
    pub authorization_code: Option<JsonString>,
}

#[OpenApi(tag = "Tag::Auth")]
impl SocialApi {
    /// Sign in with Google.
    ///
    /// Public, or with an anonymous customer's bearer to upgrade or merge it, as for
    /// phone sign-in. Send `nonce` when the app set one. 401 `invalid_id_token` (also
    /// for a token already used); 429 `rate_limited` (per client address); 503
    /// `provider_not_configured` or `provider_unavailable`.
    #[oai(path = "/api/client/auth/google", method = "post", operation_id = "authGoogle")]
    async fn google(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: OptionalCustomer,
        body: JsonBody<GoogleSignIn>,
    ) -> Result<TokenPairResponse, SocialErrors> {
        let client = client_info_of(req);
        let issued = identity::sign_in_with_id_token(
            &state,
            IdProvider::Google,
            &body.id_token,
            body.nonce.as_ref().map(|s| s.as_str()),
            None,
            auth.0.as_ref(),
            &client,
        )
        .await?;
        Ok(issued.into())
    }

    /// Sign in with Apple.
    ///
    /// Public, or with an anonymous customer's bearer to upgrade or merge it. Send
    /// `nonce` when the app set one on the request; send `full_name` on the first
    /// authorization (it is stored once and never blanked).
    #[oai(path = "/api/client/auth/apple", method = "post", operation_id = "authApple")]
    async fn apple(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: OptionalCustomer,
        body: JsonBody<AppleSignIn>,
    ) -> Result<TokenPairResponse, SocialErrors> {
        let client = client_info_of(req);
        let issued = identity::sign_in_with_apple(
            &state,
            &body.id_token,
            body.nonce.as_ref().map(|s| s.as_str()),
            body.full_name.as_ref().map(|s| s.as_str()),
            body.authorization_code.as_ref().map(|s| s.as_str()),
            auth.0.as_ref(),
            &client,
        )
        .await?;
        Ok(issued.into())
    }
}
