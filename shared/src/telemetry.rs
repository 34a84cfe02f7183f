//! Logging. `LOG_FORMAT=json` writes one JSON object per line in the shape Cloud Logging
//! reads (`severity`, `message`, `time`, `logging.googleapis.com/trace`, `httpRequest`);
//! `pretty` is for people at a terminal.
//!
//! The request log line — one per request, the hot path — does not go through `tracing`'s
//! generic machinery: the edge hands [`log_request`] the facts, and in JSON mode the line
//! is written straight into a reused per-thread buffer and appended to the [`BatchWriter`]
//! (no span, no per-field `Value`, no channel message, no syscall). Everything else is an
//! ordinary `tracing` event, rendered by [`CloudJsonLayer`] into the same writer, so lines
//! keep their order. While a request runs, its id and trace are in a task-local
//! ([`RequestContext`]) and every event it logs carries them.
//!
//! Two conventions tie other spans and events to this layer: a span field named `trace`
//! becomes the event's `logging.googleapis.com/trace`, and event fields named
//! `httpRequest.<name>` are gathered into the `httpRequest` object.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, in Cloud Logging's structured shape.
    Json,
    /// Human-readable, for local development.
    Pretty,
}

/// Keeps the background log writer alive; dropping it writes out what is buffered.
pub struct LogGuard(BatchWriter);

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The JSON-mode writer every line goes to, once [`init`] has installed it.
static SINK: OnceLock<BatchWriter> = OnceLock::new();

/// Installs the global subscriber, filtered by `RUST_LOG` (default
/// `info,sqlx::postgres::notice=warn`). In JSON mode lines go to a [`BatchWriter`] on
/// stdout, so a request never waits for a write syscall. Keep the guard until exit.
pub fn init(format: LogFormat) -> Option<LogGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => {
            let writer = BatchWriter::spawn(std::io::stdout());
            registry.with(CloudJsonLayer::new(writer.clone())).try_init().ok()?;
            let _ = SINK.set(writer.clone());
            Some(LogGuard(writer))
        }
        LogFormat::Pretty => {
            let _ = registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init();
            None
        }
    }
}

/// How long a line may wait in the buffer before it is written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// A buffer this full is written at once.
const FLUSH_AT: usize = 256 * 1024;
/// A buffer this full makes writers wait for the disk: lines are never dropped.
const BUFFER_CAP: usize = 8 * 1024 * 1024;

/// Lines appended under a short lock to one buffer, which a background thread swaps out
/// and writes in batches: at most every [`FLUSH_INTERVAL`], or at once when it passes
/// [`FLUSH_AT`]. Appending costs a lock and a copy; only the first line of a batch and
/// the line that fills it wake the thread. If the output stalls, the buffer grows to [`BUFFER_CAP`] and then
/// appenders wait: a line is delayed, never dropped. On a crash, at most the last
/// interval's lines are lost; a normal exit (dropping the [`LogGuard`]) writes them all.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Batch>,
}

struct Batch {
    state: Mutex<BatchState>,
    /// Signals the writer thread: a batch started, filled up, or the writer is closing.
    wake: Condvar,
    /// Signals waiting appenders that the buffer was swapped out.
    room: Condvar,
    /// Held by the writer thread while it writes a batch.
    out: Mutex<Box<dyn Write + Send>>,
    done: Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[derive(Default)]
struct BatchState {
    buf: Vec<u8>,
    closed: bool,
}

impl BatchWriter {
    /// Starts the writer thread over `out`.
    pub fn spawn(out: impl Write + Send + 'static) -> Self {
        let shared = Arc::new(Batch {
            state: Mutex::new(BatchState { buf: Vec::with_capacity(FLUSH_AT), closed: false }),
            wake: Condvar::new(),
            room: Condvar::new(),
            out: Mutex::new(Box::new(out)),
            done: Mutex::new(None),
        });
        let batch = shared.clone();
        let handle = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || batch.write_until_closed())
            .expect("spawn the log writer thread");
        *shared.done.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Self { shared }
    }

    /// Appends whole lines.
    pub fn append(&self, lines: &[u8]) {
        let batch = &*self.shared;
        let mut state = batch.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.closed {
            drop(state);
            let mut out = batch.out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = out.write_all(lines).and_then(|()| out.flush());
            return;
        }
        while state.buf.len() >= BUFFER_CAP && !state.closed {
            state = batch.room.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        let before = state.buf.len();
        state.buf.extend_from_slice(lines);
        // Only the first line of a batch and the one that fills it wake the thread (each
        // notify is a syscall), not every line until the thread gets to run.
        let wake = before == 0 || (before < FLUSH_AT && state.buf.len() >= FLUSH_AT);
        drop(state);
        if wake {
            batch.wake.notify_one();
        }
    }

    /// Writes out what is buffered and stops the thread; later lines are written directly.
    fn close(&self) {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.shared.wake.notify_one();
        if let Some(handle) = self.shared.done.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

impl Batch {
    fn write_until_closed(&self) {
        let mut spare = Vec::with_capacity(FLUSH_AT);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while state.buf.is_empty() && !state.closed {
                state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.buf.is_empty() {
                break;
            }
            // A batch has started: give it the interval to fill, unless it is full already.
            if !state.closed && state.buf.len() < FLUSH_AT {
                state = self.wake.wait_timeout(state, FLUSH_INTERVAL).unwrap_or_else(|e| e.into_inner()).0;
            }
            std::mem::swap(&mut state.buf, &mut spare);
            drop(state);
            self.room.notify_all();
            {
                let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
                let _ = out.write_all(&spare).and_then(|()| out.flush());
            }
            spare.clear();
            state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        }
        // Closed and drained: `append` writes anything later straight out.
    }
}

impl Write for BatchWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.append(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// What every line logged while a request runs carries: set by the edge for the
/// request's task.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The caller's `X-Request-Id` or a generated one: the same bytes the response's
    /// header carries (cloning shares them).
    pub request_id: poem::http::HeaderValue,
    /// In the form Cloud Logging links (`projects/P/traces/T`) when the project is known.
    pub trace: Option<String>,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Runs `work` with `context` attached to every line it logs. A plain function, not an
/// `async fn`, so the future holds `work` once rather than also as its argument.
pub fn in_request<F: std::future::Future>(
    context: RequestContext,
    work: F,
) -> impl std::future::Future<Output = F::Output> {
    REQUEST.scope(context, work)
}

/// The facts of one finished request, for its log line.
#[derive(Debug)]
pub struct RequestRecord<'a> {
    pub method: &'a str,
    /// With secret query values already redacted.
    pub url: &'a str,
    pub status: u16,
    pub latency: Duration,
    pub user_agent: &'a str,
    pub remote_ip: Option<IpAddr>,
}

/// Where the request line is written from (its `target`).
const REQUEST_TARGET: &str = "halo_shared::http::edge";

/// Logs the request line: INFO, or WARNING for a 5xx. Call it inside [`in_request`].
pub fn log_request(record: &RequestRecord<'_>) {
    let warn = record.status >= 500;
    let enabled = if warn {
        tracing::enabled!(target: REQUEST_TARGET, Level::WARN)
    } else {
        tracing::enabled!(target: REQUEST_TARGET, Level::INFO)
    };
    if !enabled {
        return;
    }
    match SINK.get() {
        Some(sink) => LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            write_request_line(&mut line, record, now());
            sink.append(&line);
        }),
        // Pretty mode, and tests capturing events: the same facts as an ordinary event.
        None => {
            let latency = format_latency(record.latency);
            let remote_ip = record.remote_ip.map(|ip| ip.to_string()).unwrap_or_default();
            macro_rules! event {
                ($level:expr) => {
                    tracing::event!(
                        target: REQUEST_TARGET,
                        $level,
                        httpRequest.requestMethod = record.method,
                        httpRequest.requestUrl = record.url,
                        httpRequest.status = record.status,
                        httpRequest.latency = latency.as_str(),
                        httpRequest.userAgent = record.user_agent,
                        httpRequest.remoteIp = remote_ip.as_str(),
                        "{} {} {}",
                        record.method,
                        record.url,
                        record.status
                    )
                };
            }
            if warn {
                event!(Level::WARN);
            } else {
                event!(Level::INFO);
            }
        }
    }
}

thread_local! {
    /// The request line is built here, then copied into the writer's buffer.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    /// `YYYY-MM-DDTHH:MM:SS.` of the last second a line was stamped in.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The request line, byte for byte what [`CloudJsonLayer`] writes for the same event.
fn write_request_line(out: &mut Vec<u8>, r: &RequestRecord<'_>, at: Duration) {
    out.extend_from_slice(b"{\"severity\":\"");
    out.extend_from_slice(if r.status >= 500 { b"WARNING" } else { b"INFO" });
    out.extend_from_slice(b"\",\"message\":\"");
    let method = out.len()..{
        escape_into(out, r.method);
        out.len()
    };
    out.push(b' ');
    let url = out.len()..{
        escape_into(out, r.url);
        out.len()
    };
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(r.status).as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    write_time(out, at);
    out.extend_from_slice(b"\",\"target\":\"");
    out.extend_from_slice(REQUEST_TARGET.as_bytes());
    out.push(b'"');
    write_request_context(out);
    // The method and URL again, already escaped once for the message.
    out.extend_from_slice(b",\"httpRequest\":{\"requestMethod\":\"");
    out.extend_from_within(method);
    out.extend_from_slice(b"\",\"requestUrl\":\"");
    out.extend_from_within(url);
    out.extend_from_slice(b"\",\"status\":");
    out.extend_from_slice(itoa::Buffer::new().format(r.status).as_bytes());
    out.extend_from_slice(b",\"latency\":\"");
    write_latency(out, r.latency);
    out.extend_from_slice(b"\",\"userAgent\":\"");
    escape_into(out, r.user_agent);
    out.extend_from_slice(b"\",\"remoteIp\":\"");
    match r.remote_ip {
        // Without core::fmt, which costs more than the rest of the line.
        Some(IpAddr::V4(ip)) => {
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(octet).as_bytes());
            }
        }
        Some(ip) => {
            let _ = write!(out, "{ip}");
        }
        None => {}
    }
    out.extend_from_slice(b"\"}}\n");
}

/// `,"request_id":"…"` and `,"logging.googleapis.com/trace":"…"` of the running request.
fn write_request_context(out: &mut Vec<u8>) {
    let _ = REQUEST.try_with(|ctx| {
        out.extend_from_slice(b",\"request_id\":\"");
        escape_into(out, ctx.request_id.to_str().unwrap_or_default());
        out.push(b'"');
        if let Some(trace) = &ctx.trace {
            out.extend_from_slice(b",\"logging.googleapis.com/trace\":\"");
            escape_into(out, trace);
            out.push(b'"');
        }
    });
}

/// RFC 3339 in UTC with microseconds; the date part is formatted once per second.
fn write_time(out: &mut Vec<u8>, at: Duration) {
    let secs = at.as_secs();
    SECOND.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != secs {
            let stamp = chrono::DateTime::from_timestamp(secs as i64, 0).unwrap_or_default();
            *cell = (secs, stamp.format("%Y-%m-%dT%H:%M:%S.").to_string());
        }
        out.extend_from_slice(cell.1.as_bytes());
    });
    let micros = at.subsec_micros();
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(micros);
    out.extend(std::iter::repeat_n(b'0', 6 - digits.len()));
    out.extend_from_slice(digits.as_bytes());
    out.push(b'Z');
}

/// Cloud Logging's duration form with microseconds: `0.001234s`.
fn write_latency(out: &mut Vec<u8>, latency: Duration) {
    out.extend_from_slice(itoa::Buffer::new().format(latency.as_secs()).as_bytes());
    out.push(b'.');
    let micros = latency.subsec_micros();
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(micros);
    out.extend(std::iter::repeat_n(b'0', 6 - digits.len()));
    out.extend_from_slice(digits.as_bytes());
    out.push(b's');
}

fn format_latency(latency: Duration) -> String {
    let mut out = Vec::with_capacity(16);
    write_latency(&mut out, latency);
    String::from_utf8(out).unwrap_or_default()
}

/// The contents of a JSON string (without quotes), escaped as `serde_json` escapes them.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Writes each event as one Cloud Logging JSON line to `W`.
pub struct CloudJsonLayer<W> {
    make_writer: W,
}

impl<W> CloudJsonLayer<W> {
    pub fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

type Fields = Vec<(&'static str, Value)>;

/// Fields recorded on a span, kept in the span's extensions for its events.
struct SpanFields(Fields);

struct JsonVisitor<'a>(&'a mut Fields);

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.push((field.name(), value));
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// Appends `"key":value` (with a leading comma unless first) to a JSON object being built.
fn member(out: &mut Vec<u8>, key: &str, value: &Value) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
    let _ = serde_json::to_writer(&mut *out, value);
}

impl<S, W> Layer<S> for CloudJsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut fields = Fields::new();
            attrs.record(&mut JsonVisitor(&mut fields));
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<SpanFields>() {
                values.record(&mut JsonVisitor(&mut fields.0));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::with_capacity(8);
        event.record(&mut JsonVisitor(&mut fields));
        let meta = event.metadata();

        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"severity\":\"");
        out.extend_from_slice(severity(meta.level()).as_bytes());
        out.push(b'"');
        let message = fields.iter().position(|(k, _)| *k == "message").map(|i| fields.swap_remove(i).1);
        member(&mut out, "message", &message.unwrap_or(Value::from("")));
        out.extend_from_slice(b",\"time\":\"");
        write_time(&mut out, now());
        out.extend_from_slice(b"\",\"target\":\"");
        escape_into(&mut out, meta.target());
        out.push(b'"');
        write_request_context(&mut out);
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(span_fields) = span.extensions().get::<SpanFields>() {
                    for (name, value) in &span_fields.0 {
                        let name = if *name == "trace" { "logging.googleapis.com/trace" } else { name };
                        member(&mut out, name, value);
                    }
                }
            }
        }
        let mut http = Vec::new();
        for (name, value) in &fields {
            match name.strip_prefix("httpRequest.") {
                // Built without braces; its leading comma is dropped below.
                Some(inner) => member(&mut http, inner, value),
                None => member(&mut out, name, value),
            }
        }
        if !http.is_empty() {
            out.extend_from_slice(b",\"httpRequest\":{");
            out.extend_from_slice(http.strip_prefix(b",").unwrap_or(&http));
            out.push(b'}');
        }
        out.extend_from_slice(b"}\n");
        let _ = self.make_writer.make_writer().write_all(&out);
    }
}

/// A log line written at most once per interval for each key (a route, say), for events
/// anyone on the internet can cause at no cost (unauthenticated webhook posts): the
/// first occurrence is logged, the rest of the interval only counted, and the next line
/// says how many were left out.
pub struct SampledLog {
    every: Duration,
    seen: Mutex<std::collections::HashMap<&'static str, (std::time::Instant, u64)>>,
}

impl SampledLog {
    pub fn new(every: Duration) -> Self {
        Self { every, seen: Mutex::new(std::collections::HashMap::new()) }
    }

    /// `Some(n)` when this occurrence of `key` should be logged, `n` being how many were
    /// suppressed since the last line; `None` to suppress it.
    pub fn admit(&self, key: &'static str) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match seen.get_mut(key) {
            Some((last, suppressed)) if now.duration_since(*last) < self.every => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                *last = now;
                Some(std::mem::take(suppressed))
            }
            None => {
                seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod sampled_log_tests {
    use super::*;

    #[test]
    fn a_sampled_line_is_written_once_per_interval_per_key_and_then_counts_what_it_left_out() {
        let log = SampledLog::new(Duration::from_millis(200));
        assert_eq!(log.admit("invoice"), Some(0));
        assert_eq!(log.admit("invoice"), None);
        assert_eq!(log.admit("invoice"), None);
        assert_eq!(log.admit("refund"), Some(0), "each key has its own interval");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(log.admit("invoice"), Some(2));
        assert_eq!(log.admit("invoice"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_severity_trace_and_http_request() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::registry().with(CloudJsonLayer::new(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", trace = "projects/p/traces/abc");
            let _guard = span.enter();
            tracing::warn!(httpRequest.status = 200u64, httpRequest.latency = "0.012s", "done");
        });
        let out = String::from_utf8(buf.0.lock().expect("log buffer").clone()).expect("utf8");
        let line: Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(line["severity"], "WARNING");
        assert_eq!(line["message"], "done");
        assert_eq!(line["logging.googleapis.com/trace"], "projects/p/traces/abc");
        assert_eq!(line["httpRequest"]["status"], 200);
        assert_eq!(line["httpRequest"]["latency"], "0.012s");
        assert!(line["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    fn in_request_context<T>(work: impl std::future::Future<Output = T>) -> T {
        let context = RequestContext {
            request_id: poem::http::HeaderValue::from_static("req-1"),
            trace: Some("projects/p/traces/4bf92f35".into()),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(in_request(context, work))
    }

    #[test]
    fn every_event_logged_during_a_request_carries_its_id_and_trace() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::registry().with(CloudJsonLayer::new(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            in_request_context(async { tracing::info!(order = 7, "order created") });
            tracing::info!("outside any request");
        });
        let out = String::from_utf8(buf.0.lock().expect("log buffer").clone()).expect("utf8");
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
        assert_eq!(lines[0]["message"], "order created");
        assert_eq!(lines[0]["request_id"], "req-1");
        assert_eq!(lines[0]["logging.googleapis.com/trace"], "projects/p/traces/4bf92f35");
        assert_eq!(lines[0]["order"], 7);
        assert!(lines[1].get("request_id").is_none(), "{}", lines[1]);
    }

    /// The hand-built request line and the one an ordinary event gives must not drift
    /// apart: production writes the first, pretty mode and the tests' captures the second.
    #[test]
    fn the_fast_request_line_is_the_line_the_event_path_writes() {
        for (status, ip) in [(200, "2001:db8::1"), (503, "10.0.255.7")] {
            let record = RequestRecord {
                method: "GET",
                url: "/api/x?q=\"quoted\"\\back\u{1}&access_token=REDACTED",
                status,
                latency: Duration::from_micros(1_234_567),
                user_agent: "Dart/3.5 (dart:io) \t tab",
                remote_ip: Some(ip.parse().expect("ip")),
            };
            let buf = Buf::default();
            let writer = buf.clone();
            let subscriber = tracing_subscriber::registry().with(CloudJsonLayer::new(move || writer.clone()));
            let fast = tracing::subscriber::with_default(subscriber, || {
                in_request_context(async {
                    log_request(&record);
                    let mut fast = Vec::new();
                    write_request_line(&mut fast, &record, now());
                    fast
                })
            });
            let slow = buf.0.lock().expect("log buffer").clone();
            let parse = |bytes: &[u8]| -> Value {
                let text = std::str::from_utf8(bytes).expect("utf8");
                assert!(text.ends_with('\n') && text.matches('\n').count() == 1, "one line: {text}");
                let mut line: Value = serde_json::from_str(text).expect("JSON");
                assert!(line["time"].as_str().is_some_and(|t| t.len() == 27 && t.ends_with('Z')), "{line}");
                line["time"] = Value::Null;
                line
            };
            let (fast, slow) = (parse(&fast), parse(&slow));
            assert_eq!(fast, slow);
            assert_eq!(fast["httpRequest"]["latency"], "1.234567s");
            assert_eq!(fast["httpRequest"]["remoteIp"], ip);
            assert_eq!(fast["severity"], if status == 200 { "INFO" } else { "WARNING" });
            assert_eq!(fast["request_id"], "req-1");
        }
    }

    #[test]
    fn the_batch_writer_writes_every_line_in_order_soon_and_all_of_them_on_close() {
        let out = Buf::default();
        let writer = BatchWriter::spawn(out.clone());
        writer.append(b"first\n");
        // Written within the flush interval, without waiting for more lines or a close.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.0.lock().expect("out").is_empty() {
            assert!(std::time::Instant::now() < deadline, "the first line was never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        writer.append(format!("{t} {i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("appender");
        }
        drop(LogGuard(writer));
        let text = String::from_utf8(out.0.lock().expect("out").clone()).expect("utf8");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("first"));
        let mut next = [0; 4];
        let mut count = 0;
        for line in lines {
            let (t, i) = line.split_once(' ').expect("t i");
            let (t, i): (usize, usize) = (t.parse().expect("t"), i.parse().expect("i"));
            assert_eq!(i, next[t], "thread {t}'s lines are in order and none is missing");
            next[t] += 1;
            count += 1;
        }
        assert_eq!(count, 20_000);
    }
}
