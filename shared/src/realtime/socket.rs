//! One client's WebSocket: registered with the hub, fed events, pinged, and closed when
//! its access token expires, its session is revoked, or it stops answering.
//!
//! `auth::scheme::open_socket` registers before the upgrade, so a socket over a cap is refused with 429 JSON
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
use super::hub::Connection;
use crate::tokens::Claims;

pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
pub const CLOSE_HEARTBEAT_TIMEOUT: u16 = 4008;
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// A write may take a heartbeat interval, but never less than this (a busy host is not a
/// slow client).
const MIN_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Small buffers: an idle socket should cost a few kilobytes, not the library's 128 KiB
/// defaults. Clients send little; their messages are capped at 16 KiB.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(16 * 1024))
        .max_frame_size(Some(16 * 1024))
}

/// Serves one upgraded socket, registered by `auth::scheme::open_socket`, until it closes.
/// `heartbeat` is `WS_HEARTBEAT_SECONDS`.
pub async fn serve(heartbeat: Duration, claims: Claims, connection: Connection, socket: WebSocketStream) {
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
