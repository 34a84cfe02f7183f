//! A WebSocket client of `/api/shared/ws`, for the tests of the socket and its caps.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `/api/shared/ws{query}` on `addr`, with the bearer token if given; a refused
/// handshake is its status and JSON body.
pub async fn connect(addr: std::net::SocketAddr, bearer: Option<&str>, query: &str) -> Result<Socket, (u16, Value)> {
    let mut request = format!("ws://{addr}/api/shared/ws{query}").into_client_request().unwrap();
    if let Some(token) = bearer {
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().as_ref().map(|b| serde_json::from_slice(b).unwrap()).unwrap_or(Value::Null);
            Err((resp.status().as_u16(), body))
        }
        Err(other) => panic!("unexpected handshake error: {other}"),
    }
}

/// The next JSON event, skipping pings; panics after 5 s.
pub async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("an event in time");
        match message.expect("socket open").expect("frame") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// The close code the server sends next, skipping events and pings.
pub async fn close_code(socket: &mut Socket, within: Duration) -> u16 {
    loop {
        let message = tokio::time::timeout(within, socket.next()).await.expect("a close in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(err)) => panic!("socket error: {err}"),
        }
    }
}
