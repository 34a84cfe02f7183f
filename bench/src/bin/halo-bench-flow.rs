//! The many-instance simulation's driver (`bench/flow` starts three gateways, one
//! internal-cc and this): customer and mitra pairs walking the product for a bounded time
//! (phone sign-in, browse, a mitra, its slots, book, pay by Xendit's callback, accept,
//! chat both ways, complete, review both ways), idle sockets, and a prober that revokes
//! sessions (by logout on a gateway or by staff on internal-cc) and times their refusal
//! on every gateway. It serves the fakes the gateways call: the SMS gateway
//! (`OTP_PROVIDER=http`, whose codes it reads) and Xendit's invoice API.
//!
//! Every request of pair `p` goes to gateway `p+2`, while its customer's socket is held
//! by gateway `p` and its mitra's by gateway `p+1` (mod 3): every event a socket receives
//! was written by another instance, and its delay is the arrival time minus the event's
//! `at` (the row's `created_at`). Alongside, `pg_stat_activity` is sampled every 200 ms
//! for the gateways' connections and lock waits. Prints one line per step and one each
//! for delivery, revocation and the database.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// The driver's own database connections carry this name, so the sampler leaves them out.
const APPLICATION_NAME: &str = "halo-bench-flow";

#[derive(Parser)]
struct Args {
    /// The gateways' base URLs, comma-separated (three).
    #[arg(long, value_delimiter = ',')]
    bases: Vec<String>,
    /// internal-cc's base URL.
    #[arg(long)]
    cc: String,
    #[arg(long, env = "CC_EMAIL")]
    cc_email: String,
    #[arg(long, env = "CC_PASSWORD", hide_env_values = true)]
    cc_password: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[arg(long, env = "XENDIT_CALLBACK_TOKEN", hide_env_values = true)]
    callback_token: String,
    /// Where the fake SMS gateway and Xendit listen (OTP_HTTP_URL=…/sms, XENDIT_BASE_URL).
    #[arg(long, default_value_t = 3960)]
    fake_port: u16,
    /// Customer and mitra pairs walking the product at once (mitra seeded with phones
    /// +6281310000000 + n, as `bench/flow` does).
    #[arg(long, default_value_t = 24)]
    pairs: usize,
    /// Idle sockets, spread over the gateways.
    #[arg(long, default_value_t = 3000)]
    idle_sockets: usize,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

/// What the fake providers received: the last code sent to each phone.
#[derive(Default)]
struct Fakes {
    codes: Mutex<HashMap<String, String>>,
}

async fn serve_fakes(port: u16, fakes: Arc<Fakes>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.context("binding the fakes' port")?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let fakes = fakes.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| fake(fakes.clone(), req));
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(())
}

/// The SMS gateway (`POST /sms {to, message}`, the code first in the message) and
/// Xendit's invoices (made as asked, id `inv-<order id>`; none found by a lookup).
async fn fake(fakes: Arc<Fakes>, req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let body: Value = match req.into_body().collect().await {
        Ok(body) => serde_json::from_slice(&body.to_bytes()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let answer = match (method.as_str(), path.as_str()) {
        ("POST", "/sms") => {
            let to = body["to"].as_str().unwrap_or_default().to_owned();
            let code: String = body["message"].as_str().unwrap_or_default().chars().take(6).collect();
            fakes.codes.lock().expect("codes").insert(to, code);
            json!({})
        }
        ("POST", "/v2/invoices") => {
            let order = body["external_id"].as_str().unwrap_or_default();
            json!({
                "id": format!("inv-{order}"), "external_id": order, "status": "PENDING", "amount": body["amount"],
                "invoice_url": format!("http://127.0.0.1/invoice/{order}"),
                "expiry_date": chrono::Utc::now() + chrono::Duration::hours(1),
            })
        }
        ("GET", "/v2/invoices") => json!([]),
        _ => json!({}),
    };
    let mut resp = hyper::Response::new(Full::new(Bytes::from(answer.to_string())));
    resp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// Latencies and errors per step, merged from every caller.
#[derive(Default)]
struct Steps {
    steps: Mutex<HashMap<&'static str, Step>>,
}

#[derive(Default)]
struct Step {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Steps {
    fn ok(&self, name: &'static str, took: Duration) {
        self.steps.lock().expect("steps").entry(name).or_default().latencies.push(took);
    }

    fn failed(&self, name: &'static str, why: String) {
        let mut steps = self.steps.lock().expect("steps");
        let step = steps.entry(name).or_default();
        step.errors += 1;
        step.first_error.get_or_insert(why);
    }
}

fn percentile_ms(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

struct Ctx {
    bases: Vec<String>,
    http: reqwest::Client,
    steps: Steps,
    fakes: Arc<Fakes>,
    /// (event type, ms from the event's `at` to its arrival) for every event received.
    deliveries: Mutex<Vec<(String, f64)>>,
    db: sqlx::PgPool,
    callback_token: String,
    /// Set when the run is over: the sockets stop reading.
    stop: tokio::sync::watch::Sender<bool>,
}

/// A distinct client address per simulated device (the per-IP limits count them apart).
fn fake_ip(n: usize) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

impl Ctx {
    /// One timed request: the body of a 2xx answer, else an error (counted for `name`).
    async fn call(&self, name: &'static str, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let sent = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status();
            let text = resp.text().await?;
            anyhow::ensure!(status.is_success(), "{status} {}", text.chars().take(200).collect::<String>());
            anyhow::Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
        }
        .await;
        match result {
            Ok(value) => {
                self.steps.ok(name, sent.elapsed());
                Ok(value)
            }
            Err(err) => {
                self.steps.failed(name, err.to_string());
                Err(err.context(name))
            }
        }
    }

    /// Phone sign-in through the fake SMS gateway: (access token, user id).
    async fn sign_in(&self, base: &str, app: &str, phone: &str, ip: &str) -> anyhow::Result<(String, Uuid)> {
        self.fakes.codes.lock().expect("codes").remove(phone);
        let request = self.http.post(format!("{base}/api/{app}/auth/otp/request")).header("x-forwarded-for", ip);
        self.call("sign-in.request", request.json(&json!({ "phone": phone }))).await?;
        let give_up = Instant::now() + Duration::from_secs(10);
        let code = loop {
            if let Some(code) = self.fakes.codes.lock().expect("codes").get(phone).cloned() {
                break code;
            }
            anyhow::ensure!(Instant::now() < give_up, "no code reached the fake SMS gateway for {phone}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let verify = self.http.post(format!("{base}/api/{app}/auth/otp/verify")).header("x-forwarded-for", ip);
        let pair = self.call("sign-in.verify", verify.json(&json!({ "phone": phone, "code": code }))).await?;
        let token = pair["access_token"].as_str().context("access token")?.to_owned();
        Ok((token, pair["user"]["id"].as_str().context("user id")?.parse()?))
    }

    /// Opens a socket and reads it until the run ends, recording each event's delay.
    async fn hold_socket(self: &Arc<Self>, base: &str, token: &str) -> anyhow::Result<()> {
        let url = format!("{}/api/shared/ws", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request()?;
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        socket.next().await.context("closed before ready")??;
        let ctx = self.clone();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            // Reading also answers the server's pings.
            loop {
                let message = tokio::select! {
                    message = socket.next() => message,
                    _ = stop.changed() => break,
                };
                let Some(Ok(message)) = message else { break };
                let Message::Text(text) = message else { continue };
                let arrived = chrono::Utc::now();
                let Ok(event) = serde_json::from_str::<Value>(&text) else { continue };
                let at = event["at"].as_str().and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
                if let (Some(at), Some(kind)) = (at, event["type"].as_str()) {
                    let ms = (arrived - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                    ctx.deliveries.lock().expect("deliveries").push((kind.to_owned(), ms));
                }
            }
        });
        Ok(())
    }
}

/// One customer and one mitra (seeded), walking orders from browse to reviews.
struct Pair {
    n: usize,
    customer: String,
    mitra: String,
    mitra_id: Uuid,
}

impl Pair {
    async fn start(ctx: &Arc<Ctx>, n: usize) -> anyhow::Result<Pair> {
        let base = &ctx.bases[(n + 2) % 3];
        let (customer, _) =
            ctx.sign_in(base, "client", &format!("+62812{:08}", 10_000_000 + n), &fake_ip(10_000 + n)).await?;
        let (mitra, mitra_id) =
            ctx.sign_in(base, "mitra", &format!("+62813{:08}", 10_000_000 + n), &fake_ip(20_000 + n)).await?;
        ctx.hold_socket(&ctx.bases[n % 3], &customer).await?;
        ctx.hold_socket(&ctx.bases[(n + 1) % 3], &mitra).await?;
        Ok(Pair { n, customer: format!("Bearer {customer}"), mitra: format!("Bearer {mitra}"), mitra_id })
    }

    /// One order, from browsing to both reviews.
    async fn walk(&self, ctx: &Ctx, round: usize) -> anyhow::Result<()> {
        let base = &ctx.bases[(self.n + 2) % 3];
        let (http, customer, mitra) = (&ctx.http, self.customer.as_str(), self.mitra.as_str());
        let get = |url: String, auth: &str| http.get(url).header("authorization", auth);
        let post = |url: String, auth: &str| http.post(url).header("authorization", auth);
        ctx.call("browse", get(format!("{base}/api/client/mitras?limit=20"), customer)).await?;
        let listing = ctx.call("mitra", get(format!("{base}/api/client/mitras/{}", self.mitra_id), customer)).await?;
        let service = listing["services"][0]["id"].as_str().context("a service")?.to_owned();
        // The day after tomorrow in Jakarta: never inside the booking lead. Each order's
        // time is moved into the past once accepted, so the first slot is free again.
        let date = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive() + chrono::Duration::days(2);
        let slots = ctx
            .call(
                "slots",
                get(
                    format!("{base}/api/client/mitras/{}/slots?service_id={service}&date={date}", self.mitra_id),
                    customer,
                ),
            )
            .await?;
        let starts_at = slots["slots"][0]["starts_at"].as_str().context("a free slot")?.to_owned();
        let body = json!({ "service_id": service, "starts_at": starts_at, "note": "Tolong bawa minyak" });
        let order = ctx.call("book", post(format!("{base}/api/client/orders"), customer).json(&body)).await?;
        let (id, amount) = (order["id"].as_str().context("order id")?.to_owned(), order["amount"].clone());
        let paid = json!({
            "id": format!("inv-{id}"), "external_id": id, "status": "PAID", "amount": amount, "paid_amount": amount,
            "currency": "IDR", "payment_method": "EWALLET", "payment_channel": "OVO",
        });
        let callback =
            http.post(format!("{base}/api/webhooks/xendit/invoice")).header("x-callback-token", &ctx.callback_token);
        ctx.call("pay.callback", callback.json(&paid)).await?;
        ctx.call("accept", post(format!("{base}/api/mitra/orders/{id}/accept"), mitra)).await?;
        for turn in 0..2 {
            let said = |who: &str| json!({ "body": format!("{who} {turn}: sampai jam berapa?"), "client_message_id": Uuid::new_v4() });
            let url = format!("{base}/api/client/orders/{id}/messages");
            ctx.call("chat.customer", post(url, customer).json(&said("customer"))).await?;
            let url = format!("{base}/api/mitra/orders/{id}/messages");
            ctx.call("chat.mitra", post(url, mitra).json(&said("mitra"))).await?;
        }
        // The appointment comes: the order's time moves 60 + `round` days back (outside
        // every bookable slot, and apart from the pair's earlier orders, which reused
        // the same slot), so it can be completed.
        let shifted = sqlx::query(
            "UPDATE orders SET starts_at = starts_at - make_interval(days => $2), ends_at = ends_at - make_interval(days => $2)
             WHERE id = $1::uuid",
        )
        .bind(&id)
        .bind(60 + i32::try_from(round)?)
        .execute(&ctx.db)
        .await;
        if let Err(err) = shifted {
            ctx.steps.failed("appointment.shift", err.to_string());
            return Err(err.into());
        }
        ctx.call("complete", post(format!("{base}/api/mitra/orders/{id}/complete"), mitra)).await?;
        let review = json!({ "rating": 1 + (round % 5), "comment": "Terima kasih" });
        ctx.call("review.customer", post(format!("{base}/api/client/orders/{id}/review"), customer).json(&review))
            .await?;
        ctx.call("review.mitra", post(format!("{base}/api/mitra/orders/{id}/review"), mitra).json(&review)).await?;
        ctx.call("orders", get(format!("{base}/api/client/orders?limit=10"), customer)).await?;
        Ok(())
    }
}

/// Revokes a fresh session every half second, alternately by logout on one gateway and
/// by staff on internal-cc, and times until every gateway refuses it: (ms until the
/// last gateway refused, per revocation).
async fn probe_revocations(ctx: Arc<Ctx>, cc: String, staff: String, until: Instant) -> Vec<f64> {
    let mut worst = Vec::new();
    for k in 0.. {
        if Instant::now() >= until {
            break;
        }
        match revoke_once(&ctx, &cc, &staff, k).await {
            Ok(ms) => worst.push(ms),
            Err(err) => ctx.steps.failed("revocation", format!("{err:#}")),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    worst
}

async fn revoke_once(ctx: &Ctx, cc: &str, staff: &str, k: usize) -> anyhow::Result<f64> {
    let base = &ctx.bases[k % 3];
    let anonymous =
        ctx.http.post(format!("{base}/api/shared/auth/anonymous")).header("x-forwarded-for", fake_ip(30_000 + k));
    let pair = ctx.call("revocation.sign-in", anonymous.json(&json!({}))).await?;
    let auth = format!("Bearer {}", pair["access_token"].as_str().context("access token")?);
    let mut session = None;
    for base in &ctx.bases {
        let answer = ctx
            .call(
                "revocation.check",
                ctx.http.get(format!("{base}/api/shared/auth/session")).header("authorization", &auth),
            )
            .await?;
        session = answer["session_id"].as_str().map(str::to_owned);
    }
    let session = session.context("session id")?;
    if k % 2 == 0 {
        let logout = ctx.http.post(format!("{base}/api/shared/auth/logout")).header("authorization", &auth);
        ctx.call("revocation.logout", logout).await?;
    } else {
        let end = ctx.http.delete(format!("{cc}/internal/sessions/{session}")).header("authorization", staff);
        ctx.call("revocation.staff", end).await?;
    }
    let revoked = Instant::now();
    let mut waits = Vec::new();
    for base in &ctx.bases {
        let (http, auth, url) = (ctx.http.clone(), auth.clone(), format!("{base}/api/shared/auth/session"));
        waits.push(tokio::spawn(async move {
            loop {
                let resp = http.get(&url).header("authorization", &auth).send().await;
                if resp.is_ok_and(|r| r.status() == reqwest::StatusCode::UNAUTHORIZED) {
                    return revoked.elapsed();
                }
                if revoked.elapsed() > Duration::from_secs(10) {
                    return revoked.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    let mut last = Duration::ZERO;
    for wait in waits {
        last = last.max(wait.await?);
    }
    Ok(last.as_secs_f64() * 1000.0)
}

/// Samples of the gateways' and internal-cc's connections (the driver's own left out).
#[derive(Default)]
struct DbSamples {
    total: Vec<i64>,
    active: Vec<i64>,
    lock_waits: Vec<i64>,
    /// Lock waits by `wait_event` and by the first words of the waiting query.
    lock_kinds: HashMap<String, usize>,
}

async fn sample_database(db: sqlx::PgPool, until: Instant) -> anyhow::Result<DbSamples> {
    let mut samples = DbSamples::default();
    while Instant::now() < until {
        let rows: Vec<(String, Option<String>, Option<String>, String)> = sqlx::query_as(
            "SELECT coalesce(state, ''), wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 60)
             FROM pg_stat_activity
             WHERE datname = current_database() AND application_name <> $1 AND backend_type = 'client backend'",
        )
        .bind(APPLICATION_NAME)
        .fetch_all(&db)
        .await?;
        samples.total.push(rows.len() as i64);
        samples.active.push(rows.iter().filter(|r| r.0 == "active").count() as i64);
        let locked: Vec<_> = rows.iter().filter(|r| r.1.as_deref() == Some("Lock")).collect();
        samples.lock_waits.push(locked.len() as i64);
        for (_, _, event, query) in locked {
            *samples.lock_kinds.entry(format!("{} [{query}]", event.as_deref().unwrap_or("?"))).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(samples)
}

fn summary(values: &[i64]) -> String {
    let max = values.iter().max().copied().unwrap_or(0);
    let mean = values.iter().sum::<i64>() as f64 / values.len().max(1) as f64;
    format!("max={max} mean={mean:.1}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.bases.len() == 3, "--bases takes three gateways");
    let fakes = Arc::new(Fakes::default());
    serve_fakes(args.fake_port, fakes.clone()).await?;
    let options: PgConnectOptions = args.database_url.parse()?;
    let options = options.application_name(APPLICATION_NAME);
    let db = PgPoolOptions::new().max_connections(4).connect_with(options).await.context("connecting")?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(30)).build()?;
    let login = json!({ "email": args.cc_email, "password": args.cc_password });
    let staff: Value = http
        .post(format!("{}/internal/auth/login", args.cc))
        .json(&login)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let staff = format!("Bearer {}", staff["access_token"].as_str().context("staff access token")?);

    // Sign-ins and sockets first, then the clock starts.
    let ctx = Arc::new(Ctx {
        bases: args.bases.clone(),
        http,
        steps: Steps::default(),
        fakes,
        deliveries: Mutex::default(),
        db: db.clone(),
        callback_token: args.callback_token,
        stop: tokio::sync::watch::Sender::new(false),
    });
    let started_setup = Instant::now();
    let mut starting = tokio::task::JoinSet::new();
    for n in 0..args.pairs {
        let ctx = ctx.clone();
        starting.spawn(async move { Pair::start(&ctx, n).await });
    }
    let mut pairs = Vec::new();
    while let Some(pair) = starting.join_next().await {
        pairs.push(pair??);
    }
    // Idle sockets: one anonymous session per gateway, its sockets all on that gateway.
    let idle = AtomicUsize::new(0);
    for (g, base) in args.bases.iter().enumerate() {
        let anonymous =
            ctx.http.post(format!("{base}/api/shared/auth/anonymous")).header("x-forwarded-for", fake_ip(40_000 + g));
        let pair = ctx.call("idle.sign-in", anonymous.json(&json!({}))).await?;
        let token = pair["access_token"].as_str().context("access token")?.to_owned();
        let share = args.idle_sockets / 3 + usize::from(g < args.idle_sockets % 3);
        for chunk in (0..share).collect::<Vec<_>>().chunks(100) {
            let opened = futures_util::future::join_all(chunk.iter().map(|_| ctx.hold_socket(base, &token))).await;
            for socket in opened {
                socket?;
                idle.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    eprintln!(
        "flow: {} pairs signed in, {} idle sockets open in {:.1}s; walking for {}s",
        pairs.len(),
        idle.load(Ordering::Relaxed),
        started_setup.elapsed().as_secs_f64(),
        args.seconds
    );
    // The walk's deadline (the sockets read until `ctx.stop`, a little after).
    let walk_started = Instant::now();
    let walk_until = walk_started + Duration::from_secs(args.seconds);
    let since = chrono::Utc::now();
    let sampler = tokio::spawn(sample_database(db.clone(), walk_until));
    let prober = tokio::spawn(probe_revocations(ctx.clone(), args.cc.clone(), staff.clone(), walk_until));
    let flows = Arc::new(AtomicUsize::new(0));
    let mut walkers = tokio::task::JoinSet::new();
    for pair in pairs {
        let (ctx, flows) = (ctx.clone(), flows.clone());
        walkers.spawn(async move {
            for round in 0.. {
                if Instant::now() >= walk_until {
                    break;
                }
                match pair.walk(&ctx, round).await {
                    Ok(()) => {
                        flows.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
    }
    while let Some(done) = walkers.join_next().await {
        done?;
    }
    let walked = walk_started.elapsed();
    let revocations = prober.await?;
    let db_samples = sampler.await??;
    // Let the last events arrive, then compare with what was raised.
    tokio::time::sleep(Duration::from_secs(2)).await;
    ctx.stop.send_replace(true);
    let raised: i64 = sqlx::query_scalar("SELECT count(*) FROM user_events WHERE created_at >= $1")
        .bind(since)
        .fetch_one(&db)
        .await?;

    let report = |steps: &Steps| {
        let steps = steps.steps.lock().expect("steps");
        let mut names: Vec<_> = steps.keys().copied().collect();
        names.sort();
        for name in names {
            let step = &steps[name];
            let ms = sorted(step.latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect());
            println!(
                "flow-step {name} n={} p50={:.1}ms p99={:.1}ms max={:.1}ms errors={}{}",
                ms.len(),
                percentile_ms(&ms, 0.50),
                percentile_ms(&ms, 0.99),
                ms.last().copied().unwrap_or(f64::NAN),
                step.errors,
                step.first_error.as_deref().map(|e| format!(" first_error=\"{e}\"")).unwrap_or_default()
            );
        }
    };
    let done = flows.load(Ordering::Relaxed);
    println!(
        "flow-orders completed={done} per_s={:.1} seconds={:.0}",
        done as f64 / walked.as_secs_f64(),
        walked.as_secs_f64()
    );
    report(&ctx.steps);
    let deliveries = ctx.deliveries.lock().expect("deliveries");
    let all = sorted(deliveries.iter().map(|d| d.1).collect());
    println!(
        "flow-delivery cross-instance events={} raised={raised} p50={:.1}ms p99={:.1}ms max={:.1}ms",
        all.len(),
        percentile_ms(&all, 0.50),
        percentile_ms(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN)
    );
    let mut kinds: Vec<_> = deliveries.iter().map(|d| d.0.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let ms = sorted(deliveries.iter().filter(|d| d.0 == kind).map(|d| d.1).collect());
        println!(
            "flow-delivery {kind} n={} p50={:.1}ms p99={:.1}ms",
            ms.len(),
            percentile_ms(&ms, 0.5),
            percentile_ms(&ms, 0.99)
        );
    }
    let revoked = sorted(revocations);
    println!(
        "flow-revocation revocations={} refused_everywhere_p50={:.1}ms p99={:.1}ms max={:.1}ms over_1s={}",
        revoked.len(),
        percentile_ms(&revoked, 0.5),
        percentile_ms(&revoked, 0.99),
        revoked.last().copied().unwrap_or(f64::NAN),
        revoked.iter().filter(|ms| **ms > 1000.0).count()
    );
    println!(
        "flow-db connections {} active {} lock_waits {} samples={} samples_with_lock_waits={}",
        summary(&db_samples.total),
        summary(&db_samples.active),
        summary(&db_samples.lock_waits),
        db_samples.total.len(),
        db_samples.lock_waits.iter().filter(|n| **n > 0).count()
    );
    let mut kinds: Vec<_> = db_samples.lock_kinds.into_iter().collect();
    kinds.sort_by_key(|kind| std::cmp::Reverse(kind.1));
    for (kind, seen) in kinds.into_iter().take(5) {
        println!("flow-db lock_wait seen={seen} {kind}");
    }
    Ok(())
}
