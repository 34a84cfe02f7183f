//! Logging. `LOG_FORMAT=json` writes one JSON object per line in the shape Cloud Logging
//! reads (`severity`, `message`, `time`, `logging.googleapis.com/trace`, `httpRequest`);
//! `pretty` is for people at a terminal.
//!
//! Two conventions tie the request middleware to this layer: a span field named `trace`
//! becomes the event's `logging.googleapis.com/trace`, and event fields named
//! `httpRequest.<name>` are gathered into the `httpRequest` object.

use std::fmt;
use std::io::Write;

use serde_json::{Map, Value};
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

/// Installs the global subscriber, filtered by `RUST_LOG` (default `info`).
/// Calling it twice is harmless: the second call leaves the first in place.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry.with(CloudJsonLayer::new(std::io::stdout)).try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init(),
    };
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

/// Fields recorded on a span, kept in the span's extensions for its events.
struct SpanFields(Map<String, Value>);

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), Value::from(format!("{value:?}")));
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

impl<S, W> Layer<S> for CloudJsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut fields = Map::new();
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
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(span_fields) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.0.clone());
                }
            }
        }
        event.record(&mut JsonVisitor(&mut fields));

        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("severity".into(), severity(meta.level()).into());
        line.insert("message".into(), fields.remove("message").unwrap_or(Value::from("")));
        line.insert("time".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into());
        line.insert("target".into(), meta.target().into());
        if let Some(trace) = fields.remove("trace") {
            line.insert("logging.googleapis.com/trace".into(), trace);
        }
        let mut http = Map::new();
        for (name, value) in fields {
            match name.strip_prefix("httpRequest.") {
                Some(inner) => {
                    http.insert(inner.to_owned(), value);
                }
                None => {
                    line.insert(name, value);
                }
            }
        }
        if !http.is_empty() {
            line.insert("httpRequest".into(), Value::Object(http));
        }

        let mut buf = serde_json::to_vec(&Value::Object(line)).unwrap_or_default();
        buf.push(b'\n');
        let _ = self.make_writer.make_writer().write_all(&buf);
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
