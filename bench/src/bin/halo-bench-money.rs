//! The money scenarios' load driver (`bench/money` seeds the database and runs it
//! against a release gateway): order creation, order completion (its ledger transaction
//! included) and `GET /api/mitra/earnings`, each a closed loop over HTTP with access
//! tokens minted from `AUTH_JWT_SECRET` for the seeded users. Prints one line per
//! scenario: throughput, p50 and p99.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use halo_shared::tokens::{Keys, UserType};
use uuid::Uuid;

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// `POST /api/client/orders`, each call by another customer (so none nears the
    /// unpaid cap).
    Create,
    /// `POST /api/mitra/orders/{id}/complete` over seeded accepted orders, each once.
    Complete,
    /// `GET /api/mitra/earnings` of the seeded mitra with the most postings.
    Earnings,
}

#[derive(Parser)]
struct Args {
    #[arg(value_enum)]
    scenario: Scenario,
    #[arg(long)]
    base: String,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, env = "AUTH_JWT_SECRET")]
    jwt_secret: String,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = sqlx::PgPool::connect(&args.database_url).await.context("connecting")?;
    let keys = Keys::new(args.jwt_secret.as_bytes());
    let now = chrono::Utc::now().timestamp();
    let token = |id: Uuid, kind: UserType| format!("Bearer {}", keys.mint(id, kind, Uuid::new_v4(), now).0);
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).build()?;
    // Each caller's requests, in turn: (authorization, method, URL, body).
    type Call = (String, reqwest::Method, String, Option<serde_json::Value>);
    let (name, calls): (&str, Vec<Vec<Call>>) = match args.scenario {
        Scenario::Create => {
            // Each create books a slot of its own (§13): customer i takes the seeded
            // around-the-clock services in turn, two-hourly from tomorrow's local midnight.
            let services: Vec<Uuid> = sqlx::query_scalar(
                "SELECT s.id FROM mitra_services s JOIN mitra_schedules sc ON sc.mitra_id = s.mitra_id ORDER BY s.id",
            )
            .fetch_all(&db)
            .await?;
            anyhow::ensure!(!services.is_empty(), "no service with a schedule seeded");
            let customers: Vec<Uuid> =
                sqlx::query_scalar("SELECT id FROM customers WHERE NOT is_anonymous").fetch_all(&db).await?;
            let jakarta = halo_shared::marketplace::schedule::jakarta();
            let tomorrow = chrono::Utc::now().with_timezone(&jakarta).date_naive() + chrono::Duration::days(1);
            let midnight = tomorrow.and_hms_opt(0, 0, 0).context("midnight")?.and_local_timezone(jakarta).single();
            let midnight = midnight.context("one local midnight")?.with_timezone(&chrono::Utc);
            let url = format!("{}/api/client/orders", args.base);
            let per_call: Vec<Call> = customers
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let starts_at = midnight + chrono::Duration::hours(2 * ((i / services.len()) % 300) as i64);
                    let body =
                        serde_json::json!({ "service_id": services[i % services.len()], "starts_at": starts_at });
                    (token(*c, UserType::Customer), reqwest::Method::POST, url.clone(), Some(body))
                })
                .collect();
            let calls =
                per_call.chunks(per_call.len().div_ceil(args.connections).max(1)).map(<[Call]>::to_vec).collect();
            ("orders.create", calls)
        }
        Scenario::Complete => {
            let orders: Vec<(Uuid, Uuid)> =
                sqlx::query_as("SELECT id, mitra_id FROM orders WHERE status = 'accepted' ORDER BY id")
                    .fetch_all(&db)
                    .await?;
            let auth = token(orders.first().context("no accepted orders seeded")?.1, UserType::Mitra);
            let calls = orders
                .chunks(orders.len().div_ceil(args.connections).max(1))
                .map(|chunk| {
                    chunk
                        .iter()
                        .map(|(id, _)| {
                            let url = format!("{}/api/mitra/orders/{id}/complete", args.base);
                            (auth.clone(), reqwest::Method::POST, url, None)
                        })
                        .collect()
                })
                .collect();
            ("orders.complete", calls)
        }
        Scenario::Earnings => {
            let mitra: Uuid = sqlx::query_scalar(
                    "SELECT mitra_id FROM ledger_postings WHERE mitra_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
                )
                .fetch_one(&db)
                .await?;
            let url = format!("{}/api/mitra/earnings", args.base);
            let auth = token(mitra, UserType::Mitra);
            let calls =
                (0..args.connections).map(|_| vec![(auth.clone(), reqwest::Method::GET, url.clone(), None)]).collect();
            ("mitra.earnings", calls)
        }
    };
    // Earnings repeats its one request; the others make each of theirs once.
    let repeat = matches!(args.scenario, Scenario::Earnings);
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let mut callers = tokio::task::JoinSet::new();
    for requests in calls {
        let (client, errors) = (client.clone(), errors.clone());
        callers.spawn(async move {
            let mut latencies = Vec::new();
            let mut next = 0;
            while Instant::now() < until && (repeat || next < requests.len()) {
                let (auth, method, url, body) = &requests[next % requests.len()];
                next += 1;
                let mut req = client.request(method.clone(), url).header("authorization", auth);
                if let Some(body) = body {
                    req = req.json(body);
                }
                let at = Instant::now();
                match req.send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        latencies.push(at.elapsed());
                    }
                    Ok(resp) => {
                        if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("{name}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
                        }
                    }
                    Err(err) => {
                        if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("{name}: {err}");
                        }
                    }
                }
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = callers.join_next().await {
        latencies.extend(done?);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "{name} rps={:.1} p50={:.2}ms p99={:.2}ms calls={} errors={}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.len(),
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}
