//! `GET /api/shared/ws`: the realtime socket. A plain handler beside the OpenAPI
//! service (an upgrade is not an OpenAPI operation); its messages are schemas in the
//! spec (`ServerEvent` and the `data` shapes), registered by `RealtimeSchemas`.

use std::collections::HashMap;

use halo_shared::auth::scheme::open_socket;
use halo_shared::auth::scheme::{authenticate, bearer_token};
use halo_shared::auth::ticket;
use halo_shared::auth::AuthError;
use halo_shared::error::statuses::*;
use halo_shared::error::ApiErrors;
use halo_shared::http::client_info_of;
use halo_shared::realtime::socket;
use halo_shared::tokens::UserType;
use halo_shared::{ApiError, AppState};
use poem::http::Method;
use poem::web::websocket::WebSocket;
use poem::web::{Data, Query};
use poem::{handler, IntoResponse, Request, Response};
use poem_openapi::registry::{
    MetaApi, MetaMediaType, MetaOperation, MetaOperationParam, MetaParamIn, MetaPath, MetaResponse, MetaResponses,
    Registry,
};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;
use serde::Deserialize;

use super::events::ServerEvent;

#[derive(Debug, Deserialize)]
pub struct WsParams {
    /// For clients that cannot set headers on the upgrade request.
    access_token: Option<String>,
    /// A single-use ticket from `POST /api/shared/ws/ticket` (keeps tokens out of URLs).
    ticket: Option<String>,
}

const APP_USERS: &[UserType] = &[UserType::Customer, UserType::Mitra];

/// Authenticates the upgrade (bearer header, `?access_token=` or `?ticket=`) before
/// accepting it: a bad token gets the usual 401 JSON and no upgrade.
#[handler]
pub async fn ws(
    req: &Request,
    state: Data<&AppState>,
    params: Query<WsParams>,
    upgrade: Option<WebSocket>,
) -> Response {
    let token = bearer_token(req).map(str::to_owned).or_else(|| params.0.access_token.clone());
    let claims = match (token, &params.0.ticket) {
        (Some(token), _) => authenticate(&state, &token, APP_USERS).await,
        (None, Some(ticket)) => ticket::redeem(&state, ticket, APP_USERS).await,
        (None, None) => Err(AuthError::InvalidToken),
    };
    let claims = match claims {
        Ok(claims) => claims,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let Some(upgrade) = upgrade else {
        return ApiError::invalid_request("expected a WebSocket upgrade request").into_response();
    };
    let connection = match open_socket(&state, &claims, &client_info_of(req)) {
        Ok(connection) => connection,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let heartbeat = match state.gateway() {
        Ok(gateway) => gateway.settings.ws_heartbeat,
        Err(err) => return ApiError::internal(&err).into_response(),
    };
    upgrade
        .config(socket::config())
        .on_upgrade(move |stream| socket::serve(heartbeat, claims, connection, stream))
        .into_response()
}

/// Documents the socket in the spec (the route itself is the plain handler above).
#[derive(Default)]
pub struct RealtimeSchemas;

/// A request that is not an upgrade (400), a bad token (401) or a staff token (403).
type WsErrors = ApiErrors<{ WITH_PARAMS | BEARER }>;

const WS_DESCRIPTION: &str = "The realtime socket for both apps (WebSocket upgrade). Authenticate with \
`Authorization: Bearer <access token>` or, where headers cannot be set, a single-use `?ticket=` from \
`POST /api/shared/ws/ticket` (valid 30 s). `?access_token=` still works but puts the token in URLs that \
platform request logs keep; prefer the header or a ticket. A bad token or ticket gets the usual 401 JSON \
and no upgrade. Each instance holds at most a few sockets per session, per user and per client \
address; one more gets 429 `rate_limited` JSON (with `Retry-After`) and no upgrade. After the upgrade every server message is a `ServerEvent` as JSON \
text, starting with `connection.ready`. The server pings every 30 s; a socket silent for two intervals is \
closed. Close codes: 4001 token_expired (reconnect with a fresh token), 4003 session_revoked (sign in \
again), 4008 heartbeat_timeout, 1013 too slow (the client did not read its events) and 1001 going_away \
(reconnect).";

impl poem_openapi::OpenApi for RealtimeSchemas {
    fn meta() -> Vec<MetaApi> {
        let mut responses = vec![MetaResponse {
            description: "Switching Protocols; each message that follows is a ServerEvent",
            status: Some(101),
            status_range: None,
            content: vec![MetaMediaType { content_type: "application/json", schema: ServerEvent::schema_ref() }],
            headers: vec![],
        }];
        responses.extend(WsErrors::meta().responses);
        let operation = MetaOperation {
            tags: vec!["Realtime"],
            method: Method::GET,
            summary: Some("Realtime events (WebSocket)"),
            description: Some(WS_DESCRIPTION),
            external_docs: None,
            params: vec![
                MetaOperationParam {
                    name: "access_token".into(),
                    schema: String::schema_ref(),
                    in_type: MetaParamIn::Query,
                    description: Some(
                        "The access token, for clients that cannot set the Authorization header (prefer `ticket`)"
                            .into(),
                    ),
                    required: false,
                    deprecated: false,
                    explode: true,
                    style: None,
                },
                MetaOperationParam {
                    name: "ticket".into(),
                    schema: String::schema_ref(),
                    in_type: MetaParamIn::Query,
                    description: Some("A single-use ticket from `POST /api/shared/ws/ticket`".into()),
                    required: false,
                    deprecated: false,
                    explode: true,
                    style: None,
                },
            ],
            request: None,
            responses: MetaResponses { responses },
            deprecated: false,
            security: vec![HashMap::from([("bearerAuth", Vec::new())])],
            operation_id: Some("realtimeConnect"),
            code_samples: Vec::new(),
        };
        vec![MetaApi { paths: vec![MetaPath { path: "/api/shared/ws".into(), operations: vec![operation] }] }]
    }

    fn register(registry: &mut Registry) {
        WsErrors::register(registry);
        ServerEvent::register(registry);
    }

    fn add_routes(self, _: &mut HashMap<String, HashMap<Method, poem::endpoint::BoxEndpoint<'static>>>) {}
}
