//! Test support for the services' integration tests: a fresh, migrated database per
//! test, copied from a template database that is migrated once per set of migrations.
//!
//! The server is `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! the role needs CREATEDB. Test databases are named `halo_test_*`; the test script
//! drops leftovers before each run.
//!
//! [`fixtures`] is how tests build the state they start from: typed customers, mitra,
//! staff and orders, made through the service's API or the library's domain path.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;

use crate::db::MIGRATOR;
use crate::startup::{Application, Startup};
use crate::tokens::Keys;
use crate::AppState;

pub mod fixtures;

static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn options_for(database: &str) -> PgConnectOptions {
    crate::db::connect_options(&server_url())
        .expect("DATABASE_URL must be a Postgres URL")
        .database(database)
        .log_statements(tracing::log::LevelFilter::Trace)
}

/// A database of its own for one test.
#[derive(Clone)]
pub struct TestDb {
    pub name: String,
    pub pool: PgPool,
    pub options: PgConnectOptions,
}

impl TestDb {
    /// The database's URL, for running the binaries against it.
    pub fn url(&self) -> String {
        let server = server_url();
        let (base, query) = server.split_once('?').map_or((server.as_str(), ""), |(b, q)| (b, q));
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        if query.is_empty() {
            format!("{base}/{}", self.name)
        } else {
            format!("{base}/{}?{query}", self.name)
        }
    }

    /// A second, independent pool on the same database (a second app instance).
    pub fn another_pool(&self) -> PgPool {
        PgPoolOptions::new().max_connections(5).connect_lazy_with(self.options.clone())
    }
}

/// Creates a fresh database with every migration applied.
pub async fn fresh_database() -> TestDb {
    let template = TEMPLATE.get_or_init(migrated_template).await;
    let name = format!("halo_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&options_for("postgres")).await.expect("connect to the test server");
    sqlx::query(&format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let _ = admin.close().await;
    let options = options_for(&name);
    let pool = PgPoolOptions::new().max_connections(10).connect_lazy_with(options.clone());
    TestDb { name, pool, options }
}

/// `halo_tmpl_<hash of the migrations>`, created and migrated once across all test
/// processes (an advisory lock keeps concurrent runs from racing).
async fn migrated_template() -> String {
    let checksums: Vec<u8> = MIGRATOR.iter().flat_map(|m| m.checksum.to_vec()).collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, &checksums);
    let hash: String = digest.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("halo_tmpl_{hash}");

    let mut admin = PgConnection::connect_with(&options_for("postgres")).await.expect("connect to the test server");
    sqlx::query("SELECT pg_advisory_lock(727274)").execute(&mut admin).await.expect("lock");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("look up template");
    if !exists {
        let building = format!("{name}_building");
        sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{building}""#)).execute(&mut admin).await.expect("drop");
        sqlx::query(&format!(r#"CREATE DATABASE "{building}""#)).execute(&mut admin).await.expect("create template");
        let mut conn = PgConnection::connect_with(&options_for(&building)).await.expect("connect to template");
        MIGRATOR.run(&mut conn).await.expect("migrate template");
        conn.close().await.expect("close template connection");
        sqlx::query(&format!(r#"ALTER DATABASE "{building}" RENAME TO "{name}""#))
            .execute(&mut admin)
            .await
            .expect("publish template");
    }
    sqlx::query("SELECT pg_advisory_unlock(727274)").execute(&mut admin).await.expect("unlock");
    let _ = admin.close().await;
    name
}

/// What a test instance is built from: `serve`'s inputs with the test key ring's
/// `keys`, the default edge, and 127.0.0.1 port 0.
pub fn startup(
    service: &'static str,
    db: PgPool,
    keys: Keys,
    settings: impl Into<crate::state::ServiceSettings>,
) -> Startup {
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    Startup { service, db, keys, settings: settings.into(), edge: crate::http::EdgeConfig::default(), listen }
}

/// A service built by its own `build` (what `serve` runs: the routes, the realtime
/// listener, the janitor, the service's workers), served on its port in the background.
/// Dropping it stops the server and every task the build started.
pub struct Running {
    /// Where it listens (for WebSocket and raw-TCP tests).
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    /// The routes it serves, for an in-process `TestClient` (log capture needs that).
    pub endpoint: Arc<BoxEndpoint<'static>>,
    /// The background tasks the build started, by name.
    pub tasks: Vec<&'static str>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Serves a built application until the returned handle stops or drops.
pub async fn start(app: anyhow::Result<Application>) -> Running {
    let app = app.expect("the application builds");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, state, endpoint, tasks) = (app.addr(), app.state().clone(), app.endpoint(), app.task_names());
    let serving = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Running { addr, state, endpoint, tasks, stop: Some(stop), serving }
}

impl Running {
    /// Stops as SIGTERM would (drain, then stop the tasks) and returns how serving ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.serving).await.expect("the server task ran to its end")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Dropping the serving future drops the application, whose tasks abort with it.
        self.serving.abort();
    }
}

/// The payment callback token test settings name: Xendit's, when a test configures the
/// Xendit provider (the stub always makes its own, which `fixtures::Fixtures::pay` reads
/// from the payment client).
pub const CALLBACK_TOKEN: &str = "test-callback-token";

/// The shared settings for tests: the contract's defaults with the cheapest bcrypt cost
/// and a known payment callback token ([`CALLBACK_TOKEN`]).
pub fn settings() -> crate::Settings {
    let mut settings = crate::Settings { refresh_token_bcrypt_cost: 4, ..crate::Settings::default() };
    settings.payments.callback_token = Some(CALLBACK_TOKEN.to_owned().into());
    // No sweep loop in tests unless one asks for it: it would move other tests' orders.
    settings.booking.sweep_interval_secs = 0;
    settings
}

/// The gateway's settings for tests: its defaults over [`settings`].
pub fn gateway_settings() -> crate::state::GatewaySettings {
    crate::state::GatewaySettings { shared: settings(), ..Default::default() }
}

/// The control center's settings for tests: its defaults over [`settings`], and the
/// cheapest bcrypt cost for passwords too.
pub fn control_center_settings() -> crate::state::ControlCenterSettings {
    crate::state::ControlCenterSettings { shared: settings(), password_bcrypt_cost: 4, ..Default::default() }
}

/// The JWT secret tests sign with.
pub const JWT_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// What an endpoint answered: status, headers and the JSON body (`Null` when empty).
pub struct Reply {
    pub status: poem::http::StatusCode,
    pub headers: poem::http::HeaderMap,
    pub body: serde_json::Value,
}

impl Reply {
    /// The contract's `error.code`, or a marker when the body has none.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no error code>")
    }

    /// A string field of the body; panics with the body when it is missing.
    pub fn str(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_else(|| panic!("no string {field} in {}", self.body)).to_owned()
    }
}

/// Sends a request built on a `TestClient` and collects the reply.
pub async fn send<E: poem::Endpoint>(req: poem::test::TestRequestBuilder<'_, E>) -> Reply {
    let resp = req.send().await.0;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().into_bytes().await.expect("body");
    let body =
        if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
    Reply { status, headers, body }
}

/// Log lines written while the guard lives, on this thread, in the production JSON shape.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every event (all levels) logged on the current thread until the guard drops.
/// With `#[tokio::test]`, that is everything a request handled in-process logs.
pub fn capture_logs() -> (tracing::subscriber::DefaultGuard, CapturedLogs) {
    use tracing_subscriber::layer::SubscriberExt;
    static ASK_EVERY_TIME: std::sync::Once = std::sync::Once::new();
    ASK_EVERY_TIME.call_once(|| {
        // Without a global subscriber, a callsite first reached on a thread that is not
        // capturing can be cached as "never" and then skip a capturing thread's event.
        let _ = tracing::subscriber::set_global_default(AskEveryTime);
    });
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::registry().with(crate::telemetry::CloudJsonLayer::new(move || writer.clone()));
    (tracing::subscriber::set_default(subscriber), logs)
}

/// A global subscriber that records nothing but keeps every callsite's interest at
/// "sometimes", so each event asks the current thread's (capturing) subscriber.
struct AskEveryTime;

impl tracing::Subscriber for AskEveryTime {
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The operations of an OpenAPI document that need no bearer token: no security
/// requirement, or an empty one among the alternatives. As `METHOD /path`.
pub fn public_operations(spec: &str) -> std::collections::BTreeSet<String> {
    let spec: serde_json::Value = serde_json::from_str(spec).expect("the spec is JSON");
    let mut public = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let requirements = op.get("security").and_then(|s| s.as_array()).cloned().unwrap_or_default();
            let secured =
                !requirements.is_empty() && requirements.iter().all(|r| r.as_object().is_some_and(|o| !o.is_empty()));
            if !secured {
                public.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    public
}

/// Runs `binary openapi` with an empty environment and compares what it prints with the
/// committed file; the failure says how to regenerate it.
pub fn assert_committed_spec_is_current(binary: &str, committed: &str, package: &str) {
    let out = std::process::Command::new(binary).env_clear().arg("openapi").output().expect("run the binary");
    assert!(out.status.success(), "`openapi` failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).expect("utf8");
    let on_disk = std::fs::read_to_string(committed).unwrap_or_default();
    assert!(
        printed.trim() == on_disk.trim(),
        "{committed} is out of date; regenerate it with\n  cargo run -q -p {package} -- openapi > openapi/{package}.json"
    );
}

/// Holds specs to what client generators need; panics listing every violation:
/// an operation without a unique lowerCamelCase `operationId` (unique across all the
/// `specs` given), a summary of more than one line, an `allOf` around a single schema
/// (generators drop such schemas), an operation that accepts credentials but declares no
/// 401, a free-form object schema (generators make it untyped), and a request media type
/// with parameters (Dart and Kotlin generators then drop the body's type).
pub fn assert_generator_friendly(specs: &[(&str, &serde_json::Value)]) {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for (name, spec) in specs {
        for (path, item) in spec["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let at = format!("{name}: {} {path}", method.to_uppercase());
                match op["operationId"].as_str() {
                    None => problems.push(format!("{at}: no operationId")),
                    Some(id) => {
                        if !id.starts_with(|c: char| c.is_ascii_lowercase())
                            || !id.chars().all(|c| c.is_ascii_alphanumeric())
                        {
                            problems.push(format!("{at}: operationId {id} is not lowerCamelCase"));
                        }
                        if let Some(other) = seen.insert(id.to_owned(), at.clone()) {
                            problems.push(format!("{at}: operationId {id} is also {other}"));
                        }
                    }
                }
                if op["summary"].as_str().is_none_or(|s| s.contains('\n') || s.trim().is_empty()) {
                    problems.push(format!("{at}: the summary must be one line"));
                }
                for content_type in op["requestBody"]["content"].as_object().into_iter().flat_map(|c| c.keys()) {
                    if content_type.contains(';') {
                        problems.push(format!("{at}: request media type {content_type} has parameters (use JsonBody)"));
                    }
                }
                let takes_credentials = op["security"]
                    .as_array()
                    .is_some_and(|reqs| reqs.iter().any(|r| r.as_object().is_some_and(|o| !o.is_empty())));
                if takes_credentials && op["responses"].get("401").is_none() {
                    problems.push(format!("{at}: accepts credentials but declares no 401"));
                }
            }
        }
        walk_schemas(name, "#", spec, &mut problems);
    }
    assert!(problems.is_empty(), "the spec is not generator-friendly:\n  {}", problems.join("\n  "));
}

fn walk_schemas(name: &str, at: &str, value: &serde_json::Value, problems: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("allOf").and_then(|a| a.as_array()).is_some_and(|a| a.len() == 1) {
                problems.push(format!("{name}: {at}: allOf around a single schema"));
            }
            let composed = ["oneOf", "anyOf", "allOf"].iter().any(|k| map.contains_key(*k));
            let free_form = map.get("type").and_then(|t| t.as_str()) == Some("object")
                && !composed
                && map.get("properties").and_then(|p| p.as_object()).is_none_or(|p| p.is_empty())
                && map
                    .get("additionalProperties")
                    .is_none_or(|a| a == &serde_json::json!(true) || a == &serde_json::json!({}));
            if free_form {
                problems.push(format!("{name}: {at}: free-form object schema"));
            }
            if map.get("type").is_none()
                && map.contains_key("description")
                && map.len() == 1
                && at.contains("/properties/")
            {
                problems.push(format!("{name}: {at}: untyped property"));
            }
            for (key, child) in map {
                walk_schemas(name, &format!("{at}/{key}"), child, problems);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk_schemas(name, &format!("{at}/{i}"), child, problems);
            }
        }
        _ => {}
    }
}
