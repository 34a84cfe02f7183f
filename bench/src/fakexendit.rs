//! A fake Xendit Payouts API for `bench/scenarios/payouts.sh`: what `run-payouts` asks
//! through production's client (`XENDIT_BASE_URL` pointed here), answered at once.
//!
//! - `GET /payouts_channels`: one bank channel, `ID_BCA`.
//! - `POST /v2/payouts`: `ACCEPTED`, the amount and `reference_id` echoed, the id derived
//!   from the `Idempotency-key` (so a repeated key gets the same payout back).
//! - `GET /v2/payouts?reference_id=`: nothing (no payout was ever made before the run).
//! - `GET /bench/count`: how many payouts were created and how many of them carried an
//!   `Idempotency-key` equal to their `reference_id`, for the scenario to check.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

#[derive(Default)]
struct Counts {
    created: AtomicU64,
    keyed: AtomicU64,
}

pub async fn serve(port: u16) -> anyhow::Result<()> {
    let counts: &'static Counts = Box::leak(Box::default());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(counts, req));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

const CHANNELS: &str = r#"[{"channel_code":"ID_BCA","channel_category":"BANK","currency":"IDR",
"channel_name":"Bank Central Asia (BCA)","amount_limits":{"minimum":10000,"maximum":100000000,"minimum_increment":1}}]"#;

async fn handle(counts: &Counts, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let (status, body) = match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/payouts_channels") => (StatusCode::OK, CHANNELS.to_owned()),
        (&Method::GET, "/v2/payouts") => (StatusCode::OK, "[]".to_owned()),
        (&Method::GET, "/bench/count") => (
            StatusCode::OK,
            format!(
                r#"{{"created":{},"keyed":{}}}"#,
                counts.created.load(Ordering::Relaxed),
                counts.keyed.load(Ordering::Relaxed)
            ),
        ),
        (&Method::POST, "/v2/payouts") => {
            let key = parts.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(sent) if sent["amount"].is_i64() && sent["reference_id"].is_string() => {
                    counts.created.fetch_add(1, Ordering::Relaxed);
                    if sent["reference_id"].as_str() == Some(key.as_str()) {
                        counts.keyed.fetch_add(1, Ordering::Relaxed);
                    }
                    let answer = serde_json::json!({
                        "id": format!("disb-{key}"),
                        "reference_id": sent["reference_id"],
                        "channel_code": sent["channel_code"],
                        "amount": sent["amount"],
                        "currency": "IDR",
                        "status": "ACCEPTED",
                    });
                    (StatusCode::OK, answer.to_string())
                }
                _ => (StatusCode::BAD_REQUEST, r#"{"error_code":"API_VALIDATION_ERROR"}"#.to_owned()),
            }
        }
        _ => (StatusCode::NOT_FOUND, r#"{"error_code":"NOT_FOUND"}"#.to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert("content-type", "application/json".parse().expect("static header"));
    Ok(resp)
}
