//! One client's WebSocket: registered with the hub, fed events, pinged, and closed when
//! its access token expires, its session is revoked, or it stops answering.
//!
//! [`open`] registers before the upgrade, so a socket over a cap is refused with 429 JSON
//! instead of being upgraded, and then looks at the revoked set once more: a revocation
//! that landed after the handshake's check but before registration found no socket to
//! close, so it must be caught here. Every write is bounded (a heartbeat interval, at
//! least 5 s): a client that stops reading is dropped instead of pinning the loop (and
//! its memory).
//!
//! Close codes the apps act on:
//! - 4001 `token_expired`: reconnect with a fresh access token.
//! - 4003 `session_revoked`: the session is over; sign in again.
//! - 4008 `heartbeat_timeout`: the connection looked dead; reconnect.
//! - 1001 `going_away`: the instance is stopping; reconnect.
//! - 1013 `too slow`: the client did not read its events; reconnect.

use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocketConfig, WebSocketStream};
use tokio::time::Instant;

use super::event_json;
use super::hub::{CapExceeded, Connection};
use crate::auth::tokens::Claims;
use crate::auth::AuthError;
use crate::http::ClientInfo;
use crate::state::AppState;

pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
pub const CLOSE_HEARTBEAT_TIMEOUT: u16 = 4008;
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// A write may take a heartbeat interval, but never less than this (a busy host is not a
/// slow client).
const MIN_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a refused socket is told to wait before trying again.
const CAP_RETRY_AFTER_SECS: u64 = 30;

/// Small buffers: an idle socket should cost a few kilobytes, not the library's 128 KiB
/// defaults. Clients send little; their messages are capped at 16 KiB.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(16 * 1024))
        .max_frame_size(Some(16 * 1024))
}

/// Registers a socket for `claims` (authenticated already) within this instance's caps,
/// then re-checks the revoked set (see the module docs).
pub fn open(state: &AppState, claims: &Claims, client: &ClientInfo) -> Result<Connection, AuthError> {
    let caps = state.settings.ws_caps;
    let connection = state
        .realtime
        .hub
        .register(claims.user_type, claims.sub, claims.session_id, client.rate_limit_key(), caps)
        .map_err(|cap| {
            let which = match cap {
                CapExceeded::Session => "session",
                CapExceeded::User => "user",
                CapExceeded::Ip => "address",
            };
            tracing::info!(cap = which, "WebSocket refused: too many open");
            AuthError::RateLimited { retry_after_secs: CAP_RETRY_AFTER_SECS }
        })?;
    if state.realtime.revoked.contains(claims.session_id, chrono::Utc::now().timestamp()) {
        return Err(AuthError::SessionRevoked);
    }
    Ok(connection)
}

/// Serves one upgraded socket, registered by [`open`], until it closes.
pub async fn serve(state: AppState, claims: Claims, connection: Connection, socket: WebSocketStream) {
    let heartbeat = state.settings.ws_heartbeat;
    let write_timeout = heartbeat.max(MIN_WRITE_TIMEOUT);
    let Connection { registration, events: mut outbound, close: mut close_requested } = connection;
    let (mut sink, mut incoming) = socket.split();
    // A write that cannot finish within a heartbeat means the client stopped reading.

    let now = chrono::Utc::now();
    let ready = event_json(
        "connection.ready",
        0,
        now,
        &serde_json::json!({
            "session_id": claims.session_id,
            "expires_at": chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
        }),
    );
    if !bounded_send(&mut sink, Message::Text(ready.to_string()), write_timeout).await {
        return;
    }

    let expires_in = Duration::from_secs(u64::try_from(claims.exp - now.timestamp()).unwrap_or(0));
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let mut last_heard = Instant::now();

    let close = loop {
        tokio::select! {
            biased;
            changed = close_requested.changed() => match changed {
                Ok(()) => break *close_requested.borrow(),
                Err(_) => break Some((CLOSE_GOING_AWAY, "going_away")),
            },
            () = &mut expiry => break Some((CLOSE_TOKEN_EXPIRED, "token_expired")),
            message = outbound.recv() => match message {
                Some(text) => {
                    if !bounded_send(&mut sink, Message::Text(text.to_string()), write_timeout).await {
                        break None;
                    }
                }
                None => break Some((CLOSE_GOING_AWAY, "going_away")),
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat * 2 {
                    break Some((CLOSE_HEARTBEAT_TIMEOUT, "heartbeat_timeout"));
                }
                if !bounded_send(&mut sink, Message::Ping(Vec::new()), write_timeout).await {
                    break None;
                }
            }
            received = incoming.next() => match received {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                // Pongs, and anything else the client says, prove it is alive.
                Some(Ok(_)) => last_heard = Instant::now(),
            },
        }
    };
    drop(registration);
    if let Some((code, reason)) = close {
        bounded_send(&mut sink, Message::close_with(code, reason), write_timeout).await;
    }
    let _ = tokio::time::timeout(write_timeout, sink.close()).await;
}

/// Sends one message, giving up after `within`; true when it was sent.
async fn bounded_send(sink: &mut SplitSink<WebSocketStream, Message>, message: Message, within: Duration) -> bool {
    matches!(tokio::time::timeout(within, sink.send(message)).await, Ok(Ok(())))
}
