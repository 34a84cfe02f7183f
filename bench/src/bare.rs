//! The ceiling for the `session` scenario: hyper with no framework, verifying the token
//! with the very same `Keys::verify` the gateway uses and answering the same JSON.

use std::convert::Infallible;

use halo_shared::tokens::Keys;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

pub async fn serve(port: u16) -> anyhow::Result<()> {
    let secret = std::env::var("AUTH_JWT_SECRET")?;
    let keys: &'static Keys = Box::leak(Box::new(Keys::new(secret.as_bytes())));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(keys, req));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(keys: &Keys, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let (status, body) = match keys.verify(token, chrono::Utc::now().timestamp()) {
        Ok(claims) => (
            StatusCode::OK,
            serde_json::json!({
                "user_id": claims.sub, "user_type": claims.user_type, "session_id": claims.session_id,
                "expires_at": chrono::DateTime::from_timestamp(claims.exp, 0),
            })
            .to_string(),
        ),
        Err(_) => (StatusCode::UNAUTHORIZED, r#"{"error":{"code":"invalid_token","message":"invalid"}}"#.to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert("content-type", "application/json; charset=utf-8".parse().expect("static header"));
    Ok(resp)
}
