//! Logging. `LOG_FORMAT=json` writes one JSON object per line in the shape Cloud Logging
//! reads (`severity`, `message`, `time`, `logging.googleapis.com/trace`, `httpRequest`);
//! `pretty` is for people at a terminal.
//!
//! Two conventions tie the request middleware to this layer: a span field named `trace`
//! becomes the event's `logging.googleapis.com/trace`, and event fields named
//! `httpRequest.<name>` are gathered into the `httpRequest` object.

use std::fmt;
use std::io::Write;

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

/// Keeps the background log writer alive; dropping it flushes what is queued.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// Installs the global subscriber, filtered by `RUST_LOG` (default `info`). Lines are
/// written by a background thread in batches, so a request never waits for a write
/// syscall; the queue blocks rather than drops when full. Keep the guard until exit.
pub fn init(format: LogFormat) -> Option<LogGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => {
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(false)
                .buffered_lines_limit(16 * 1024)
                // Batched: the worker drains the queue into the buffer, then flushes.
                .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()));
            registry.with(CloudJsonLayer::new(writer)).try_init().ok().map(|()| guard)
        }
        LogFormat::Pretty => {
            let _ = registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init();
            None
        }
    }
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
        out.push(b'{');
        member(&mut out, "severity", &Value::from(severity(meta.level())));
        let message = fields.iter().position(|(k, _)| *k == "message").map(|i| fields.swap_remove(i).1);
        member(&mut out, "message", &message.unwrap_or(Value::from("")));
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        member(&mut out, "time", &Value::from(time));
        member(&mut out, "target", &Value::from(meta.target()));
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
}
