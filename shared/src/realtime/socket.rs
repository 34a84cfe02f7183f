//! One client's WebSocket: registered with the hub, fed events, pinged, and closed when
//! its access token expires, its session is revoked, or it stops answering.
//!
//! Close codes the apps act on:
//! - 4001 `token_expired`: reconnect with a fresh access token.
//! - 4003 `session_revoked`: the session is over; sign in again.
//! - 4008 `heartbeat_timeout`: the connection looked dead; reconnect.
//! - 1001 `going_away`: the instance is stopping; reconnect.
//! - 1013 `too slow`: the client did not read its events; reconnect.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocketConfig, WebSocketStream};
use tokio::time::Instant;

use super::event_json;
use super::hub::Outbound;
use crate::auth::tokens::Claims;
use crate::state::AppState;

pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
pub const CLOSE_HEARTBEAT_TIMEOUT: u16 = 4008;
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Small buffers: an idle socket should cost a few kilobytes, not the library's 128 KiB
/// defaults. Clients send little; their messages are capped at 16 KiB.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(16 * 1024))
        .max_frame_size(Some(16 * 1024))
}

/// Serves one upgraded socket until it closes.
pub async fn serve(state: AppState, claims: Claims, socket: WebSocketStream) {
    let heartbeat = state.settings.ws_heartbeat;
    let (registration, mut outbound) = state.realtime.hub.register(claims.user_type, claims.sub, claims.session_id);
    let (mut sink, mut incoming) = socket.split();

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
    if sink.send(Message::Text(ready.to_string())).await.is_err() {
        return;
    }

    let expires_in = Duration::from_secs(u64::try_from(claims.exp - now.timestamp()).unwrap_or(0));
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let mut last_heard = Instant::now();

    let close = loop {
        tokio::select! {
            () = &mut expiry => break Some((CLOSE_TOKEN_EXPIRED, "token_expired")),
            message = outbound.recv() => match message {
                Some(Outbound::Event(text)) => {
                    if sink.send(Message::Text(text.to_string())).await.is_err() {
                        break None;
                    }
                }
                Some(Outbound::Close(code, reason)) => break Some((code, reason)),
                None => break Some((CLOSE_GOING_AWAY, "going_away")),
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat * 2 {
                    break Some((CLOSE_HEARTBEAT_TIMEOUT, "heartbeat_timeout"));
                }
                if sink.send(Message::Ping(Vec::new())).await.is_err() {
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
        let _ = sink.send(Message::close_with(code, reason)).await;
    }
    let _ = sink.close().await;
}
