//! Middleware wrapped around every route of both services, outermost first:
//! [`Entry`] (request id, client address, error mapper, request log line) → (CORS) →
//! [`Limits`] (body limit and timeout, error mapper).
//!
//! Both are plain endpoint types rather than `around` closures, and the stack is boxed
//! once: it runs on every request, so each layer, box and header read shows in the
//! throughput (see BENCHMARKS.md). The log line goes to [`telemetry::log_request`], which
//! builds it without `tracing`'s span machinery.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{client_ip, ClientInfo, DEFAULT_IPV6_PREFIX};
use crate::error::{render_error, ApiError, ErrorCode};
use crate::telemetry::{self, RequestContext, RequestRecord};
use futures_util::FutureExt;
use poem::http::header::HeaderName;
use poem::http::{header, HeaderValue};
use poem::middleware::Cors;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Result};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

// Header names read on every request, parsed once: a `&str` name is parsed and
// classified on each lookup.
const X_REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const X_CLOUD_TRACE_CONTEXT: HeaderName = HeaderName::from_static("x-cloud-trace-context");

/// Settings of the edge, fixed at start-up.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Largest request body accepted (bytes); larger → 413.
    pub body_limit: usize,
    /// Longest a request may take; longer → 504.
    pub request_timeout: Duration,
    /// How many proxies in front of us append to `X-Forwarded-For` (Cloud Run: 1).
    pub trusted_proxy_hops: usize,
    /// `GOOGLE_CLOUD_PROJECT`, to write trace ids in the form Cloud Logging links.
    pub gcp_project: Option<String>,
    /// IPv6 clients are counted by this prefix (`IPV6_RATE_LIMIT_PREFIX`, /64 by default).
    pub ipv6_rate_limit_prefix: u8,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            trusted_proxy_hops: 1,
            gcp_project: None,
            ipv6_rate_limit_prefix: DEFAULT_IPV6_PREFIX,
        }
    }
}

/// The client address the edge worked out for a request.
#[derive(Debug, Clone, Copy)]
struct ClientAddr {
    ip: Option<std::net::IpAddr>,
    ipv6_prefix: u8,
}

/// The client of a request that passed through the edge. The user agent is copied here,
/// for the few handlers that ask, rather than for every request.
pub fn client_info_of(req: &Request) -> ClientInfo {
    let addr = req.extensions().get::<ClientAddr>();
    ClientInfo {
        ip: addr.and_then(|a| a.ip),
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
        ipv6_prefix: addr.map_or(DEFAULT_IPV6_PREFIX, |a| a.ipv6_prefix),
    }
}

/// Wraps `routes` in the shared edge. `cors` is the control center's CORS policy; the
/// public gateway passes `None`.
pub fn with_edge<E>(routes: E, config: EdgeConfig, cors: Option<Cors>) -> poem::endpoint::BoxEndpoint<'static>
where
    E: Endpoint + 'static,
{
    let config = Arc::new(config);
    let limited = Limits { inner: routes, config: config.clone() };
    match cors {
        // Inside CORS, so a 413 or 504 still carries the CORS headers the browser needs.
        Some(cors) => Entry { inner: limited.with(cors), config }.boxed(),
        None => Entry { inner: limited, config }.boxed(),
    }
}

/// Gives the request its id (the caller's `X-Request-Id` when it is sane) and its
/// client, runs it with both attached to everything it logs, answers with the id (every
/// error rendered as the JSON error body), and writes the request line.
struct Entry<E> {
    inner: E,
    config: Arc<EdgeConfig>,
}

// The layers are plain functions returning futures, not `async fn`s: an `async fn`'s
// future keeps its arguments (the request, some 600 bytes) beside everything it awaits,
// and an `async` block awaiting a future it captured holds that future twice. Built with
// combinators instead, each layer's future holds the request once, inside the routes'
// call, and the work before it runs when the call is made.
impl<E: Endpoint> Endpoint for Entry<E> {
    type Output = Response;

    fn call(&self, mut req: Request) -> impl Future<Output = Result<Response>> + Send {
        let started = Instant::now();
        let config = &self.config;
        // A caller's id shares the request's header bytes; a generated one is one
        // allocation. The log context and the response header share either.
        let request_id = req
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(u8::is_ascii_graphic))
            .cloned()
            .unwrap_or_else(new_request_id);
        let trace = trace_id(&req).map(|t| match &config.gcp_project {
            Some(project) => format!("projects/{project}/traces/{t}"),
            None => t,
        });
        let remote_ip = client_ip(&req, config.trusted_proxy_hops);
        // Kept for the log line: cloning a header value or a URI shares its bytes.
        let user_agent = req.headers().get(header::USER_AGENT).cloned();
        let method = req.method().clone();
        let uri = req.uri().clone();
        req.extensions_mut().insert(ClientAddr { ip: remote_ip, ipv6_prefix: config.ipv6_rate_limit_prefix });

        let id_header = request_id.clone();
        let context = RequestContext { request_id, trace };
        let answered = self.inner.call(req).map(move |result| {
            let mut resp = match result {
                Ok(resp) => resp.into_response(),
                Err(err) => render_error(err),
            };
            resp.headers_mut().insert(X_REQUEST_ID, id_header);
            telemetry::log_request(&RequestRecord {
                method: method.as_str(),
                url: &redacted_url(&uri),
                status: resp.status().as_u16(),
                latency: started.elapsed(),
                user_agent: user_agent.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default(),
                remote_ip,
            });
            Ok(resp)
        });
        telemetry::in_request(context, answered)
    }
}

/// Refuses a body over the limit (413) and a request over the time limit (504), and
/// renders every error of the routes as the JSON error body.
struct Limits<E> {
    inner: E,
    config: Arc<EdgeConfig>,
}

impl<E: Endpoint> Endpoint for Limits<E> {
    type Output = Response;

    fn call(&self, req: Request) -> impl Future<Output = Result<Response>> + Send {
        limit_body_and_time(&self.inner, req, &self.config).map(|result| Ok(result.unwrap_or_else(render_error)))
    }
}

/// 32 hex digits: a random per-process prefix and a counter. Unique without a random
/// number per request (`getrandom` is a syscall on the hot path).
fn new_request_id() -> HeaderValue {
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut id = [0u8; 32];
    for (i, digit) in id.iter_mut().enumerate() {
        let (word, shift) = if i < 16 { (prefix, 60 - 4 * i) } else { (n, 60 - 4 * (i - 16)) };
        *digit = b"0123456789abcdef"[((word >> shift) & 0xf) as usize];
    }
    // `from_maybe_shared` keeps the `Bytes` as they are: no copy, and clones share them.
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(id)).expect("hex digits are a valid header value")
}

/// The routes' future is boxed here, once: it is about 3 KiB, and every layer that holds
/// a future by value copies it whenever the layer's own future is built or moved (the
/// `memmove` per layer per request that showed in `perf`).
async fn limit_body_and_time<E: Endpoint>(ep: &E, mut req: Request, config: &EdgeConfig) -> Result<Response> {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > config.body_limit as u64) {
        return Err(too_large(config.body_limit).into());
    }
    let timed_out = || ApiError::new(ErrorCode::Timeout, "the request took too long");
    let deadline = tokio::time::Instant::now() + config.request_timeout;
    // Buffer the body here, bounded, because the JSON extractors read it unbounded. A
    // body known to be empty (most requests) is left alone; the read, with its 4 KiB
    // buffer, is boxed for the same reason as the routes' future below.
    let body = req.take_body();
    if body.is_empty() {
        req.set_body(body);
    } else {
        let bytes = tokio::time::timeout_at(deadline, Box::pin(body.into_bytes_limit(config.body_limit)))
            .await
            .map_err(|_| timed_out())?
            .map_err(|err| match err {
                poem::error::ReadBodyError::PayloadTooLarge => too_large(config.body_limit),
                other => ApiError::invalid_request(format!("could not read the request body: {other}")),
            })?;
        req.set_body(bytes);
    }
    match tokio::time::timeout_at(deadline, Box::pin(ep.call(req))).await {
        Ok(result) => result.map(IntoResponse::into_response),
        Err(_) => Err(timed_out().into()),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, format!("request body is larger than {} KiB", limit / 1024))
}

fn header_str<'a>(req: &'a Request, name: &HeaderName) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Trace id from W3C `traceparent`, else from Google's `X-Cloud-Trace-Context`.
fn trace_id(req: &Request) -> Option<String> {
    if let Some(tp) = header_str(req, &TRACEPARENT) {
        let parts: Vec<&str> = tp.split('-').collect();
        if parts.len() == 4 && parts[1].len() == 32 && parts[1].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(parts[1].to_ascii_lowercase());
        }
    }
    let ctx = header_str(req, &X_CLOUD_TRACE_CONTEXT)?;
    let id = ctx.split('/').next()?;
    (!id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

/// Query parameters whose values must never reach a log line.
const SECRET_PARAMS: &[&str] = &["access_token", "refresh_token", "token", "code", "id_token", "ticket"];

/// The URL for the log line. Names are compared after percent-decoding, as the query
/// extractor decodes them: `?access%5Ftoken=` authenticates, so it must be redacted too.
fn redacted_url(uri: &poem::http::Uri) -> std::borrow::Cow<'_, str> {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.into();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&percent_decoded(name).as_str()) => format!("{name}=REDACTED"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&")).into()
}

/// `application/x-www-form-urlencoded` decoding of one name (`+` is a space).
fn percent_decoded(name: &str) -> String {
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'%' => match (hex(bytes.get(i)), hex(bytes.get(i + 1))) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)], uri: &str) -> Request {
        let mut builder = Request::builder().uri(uri.parse().expect("uri"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.finish()
    }

    #[test]
    fn generated_request_ids_are_32_hex_digits_and_differ_only_in_the_counter() {
        let (a, b) = (new_request_id(), new_request_id());
        let (a, b) = (a.to_str().expect("ascii"), b.to_str().expect("ascii"));
        assert!(a.len() == 32 && a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{a}");
        assert_eq!(a[..16], b[..16]);
        let (a, b) = (u64::from_str_radix(&a[16..], 16).unwrap(), u64::from_str_radix(&b[16..], 16).unwrap());
        assert!(b > a, "the counter counts up");
    }

    #[test]
    fn trace_id_comes_from_traceparent_or_cloud_trace_context() {
        let r = req(&[("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")], "/");
        assert_eq!(trace_id(&r).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        let r = req(&[("x-cloud-trace-context", "105445aa7843bc8bf206b12000100000/1;o=1")], "/");
        assert_eq!(trace_id(&r).as_deref(), Some("105445aa7843bc8bf206b12000100000"));
    }

    #[test]
    fn secret_query_parameters_are_redacted_from_logged_urls() {
        let r = req(&[], "/api/shared/ws?access_token=eyJ.secret&x=1");
        assert_eq!(redacted_url(r.uri()), "/api/shared/ws?access_token=REDACTED&x=1");
    }

    #[test]
    fn percent_encoded_secret_names_are_redacted_too() {
        let r = req(&[], "/api/shared/ws?access%5Ftoken=eyJ.secret&%61ccess_token=eyJ.two&ticket=t1&x=%");
        assert_eq!(
            redacted_url(r.uri()),
            "/api/shared/ws?access%5Ftoken=REDACTED&%61ccess_token=REDACTED&ticket=REDACTED&x=%"
        );
        assert_eq!(percent_decoded("a%2"), "a%2");
        assert_eq!(percent_decoded("a+b%41"), "a bA");
    }
}
