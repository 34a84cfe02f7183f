//! The chat scenarios (issue 29, `bench/scenarios/chat.sh` seeds the orders): messages
//! posted over HTTP at a fixed rate on one gateway instance, timed from their scheduled
//! send to their arrival on the recipient's socket on another instance; the same loop at
//! rising rates for one instance's sustained throughput; and idle sockets, one per
//! party of each order, before and after each took a message.
//!
//! The loop is open: message `i` is due at `start + i / rate` whatever the earlier ones
//! did, and its latencies count from then, so a server falling behind shows as latency
//! instead of a slower offer. At most `in_flight` posts wait for an answer at once (the
//! next waits for a place, its clock running).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use halo_shared::tokens::{Keys, UserType};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::load::{open_socket, percentile, rss_kib};

/// A seeded order whose conversation is open, with a token for each party.
struct Order {
    id: Uuid,
    customer: String,
    mitra: String,
}

/// Where the runs find their orders and how they sign their tokens.
pub struct Seed {
    pub database_url: String,
    pub jwt_secret: String,
    /// How many of the seeded orders to use.
    pub orders: usize,
}

/// The first `seed.orders` paid orders, each party with a token of its own session.
async fn orders(seed: &Seed) -> anyhow::Result<Vec<Order>> {
    let db = sqlx::PgPool::connect(&seed.database_url).await.context("connecting")?;
    let rows: Vec<(Uuid, Uuid, Uuid)> =
        sqlx::query_as("SELECT id, customer_id, mitra_id FROM orders WHERE status = 'paid' ORDER BY id LIMIT $1")
            .bind(i64::try_from(seed.orders)?)
            .fetch_all(&db)
            .await?;
    anyhow::ensure!(rows.len() == seed.orders, "{} paid orders seeded, {} wanted", rows.len(), seed.orders);
    let keys = Keys::new(seed.jwt_secret.as_bytes());
    let now = chrono::Utc::now().timestamp();
    let token = |id, kind| keys.mint(id, kind, Uuid::new_v4(), now).0;
    Ok(rows
        .into_iter()
        .map(|(id, customer, mitra)| Order {
            id,
            customer: token(customer, UserType::Customer),
            mitra: token(mitra, UserType::Mitra),
        })
        .collect())
}

/// When each message (by `client_message_id`) was due, and the recipients' arrivals.
#[derive(Default)]
struct Arrivals {
    due: Mutex<HashMap<String, Instant>>,
    /// Due to arrival on the recipient's socket.
    latencies: Mutex<Vec<Duration>>,
    /// Copies on the sender's own socket (its other devices).
    echoes: AtomicUsize,
}

impl Arrivals {
    fn arrived(&self, text: &str, side: &str) {
        let Ok(event) = serde_json::from_str::<Value>(text) else { return };
        if event["type"] != "message.created" {
            return;
        }
        let data = &event["data"];
        if data["sender"] == side {
            self.echoes.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(client_id) = data["client_message_id"].as_str() else { return };
        let due = self.due.lock().unwrap_or_else(|e| e.into_inner()).get(client_id).copied();
        if let Some(due) = due {
            self.latencies.lock().unwrap_or_else(|e| e.into_inner()).push(due.elapsed());
        }
    }
}

/// Opens a socket on `base` for both parties of every order (100 handshakes at a time);
/// each reports what it receives to `arrivals` until the returned tasks are aborted.
async fn open_sockets(
    base: &str,
    orders: &[Order],
    arrivals: &Arc<Arrivals>,
) -> anyhow::Result<tokio::task::JoinSet<()>> {
    let mut readers = tokio::task::JoinSet::new();
    let parties: Vec<(&str, &str)> =
        orders.iter().flat_map(|o| [("customer", o.customer.as_str()), ("mitra", o.mitra.as_str())]).collect();
    for chunk in parties.chunks(100) {
        let mut opening = tokio::task::JoinSet::new();
        for &(side, token) in chunk {
            let (base, token) = (base.to_owned(), token.to_owned());
            opening.spawn(async move { open_socket(&base, &token).await.map(|s| (side, s)) });
        }
        while let Some(opened) = opening.join_next().await {
            let (side, mut socket) = opened??;
            let arrivals = arrivals.clone();
            readers.spawn(async move {
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        arrivals.arrived(&text, side);
                    }
                }
            });
        }
    }
    Ok(readers)
}

/// What one run of the posting loop saw.
struct Posted {
    /// Due to the POST's answer, of each 2xx.
    answered: Vec<Duration>,
    errors: usize,
    /// Posts that had to wait for an in-flight place.
    waited: usize,
    /// From the first post due to the last answer.
    elapsed: Duration,
}

/// Posts `count` messages on `base` (message `i` to order `i % len`, customer and mitra
/// taking turns per round), one due every `1 / rate` s, or as fast as `in_flight` callers
/// go when `rate` is 0; none is sent after `until`.
async fn post_loop(
    base: &str,
    orders: &Arc<Vec<Order>>,
    count: usize,
    rate: f64,
    in_flight: usize,
    until: Option<Instant>,
    arrivals: &Arc<Arrivals>,
) -> anyhow::Result<Posted> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(in_flight).build()?;
    let places = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let errors = Arc::new(AtomicUsize::new(0));
    // Distinct per run, so runs on one database never replay each other's ids.
    let run = Uuid::new_v4().simple().to_string();
    let (mut waited, mut posts) = (0, tokio::task::JoinSet::new());
    let mut answered = Vec::with_capacity(count.min(1 << 20));
    let start = Instant::now();
    for i in 0..count {
        if until.is_some_and(|until| Instant::now() >= until) {
            break;
        }
        let due = if rate > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
            due
        } else {
            Instant::now()
        };
        let place = match places.clone().try_acquire_owned() {
            Ok(place) => place,
            Err(_) => {
                waited += 1;
                places.clone().acquire_owned().await?
            }
        };
        let order = &orders[i % orders.len()];
        let (side, token) = match (i / orders.len()) % 2 {
            0 => ("client", &order.customer),
            _ => ("mitra", &order.mitra),
        };
        let url = format!("{base}/api/{side}/orders/{}/messages", order.id);
        let client_id = format!("{run}-{i}");
        arrivals.due.lock().unwrap_or_else(|e| e.into_inner()).insert(client_id.clone(), due);
        let body = serde_json::json!({ "body": format!("Saya sampai jam {}", i % 24), "client_message_id": client_id });
        let request = client.post(url).bearer_auth(token).json(&body);
        let errors = errors.clone();
        posts.spawn(async move {
            let answered = match request.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let _ = resp.bytes().await;
                    Some(due.elapsed())
                }
                Ok(resp) => {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("chat post: {} {}", resp.status(), resp.text().await.unwrap_or_default());
                    }
                    None
                }
                Err(err) => {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("chat post: {err}");
                    }
                    None
                }
            };
            drop(place);
            answered
        });
        // Collect what finished, so the set stays small.
        while let Some(done) = posts.try_join_next() {
            answered.extend(done?);
        }
    }
    while let Some(done) = posts.join_next().await {
        answered.extend(done?);
    }
    Ok(Posted { answered, errors: errors.load(Ordering::Relaxed), waited, elapsed: start.elapsed() })
}

/// Waits until `expected` arrivals were recorded, or `within` passed.
async fn settle(arrivals: &Arrivals, expected: usize, within: Duration) {
    let until = Instant::now() + within;
    while Instant::now() < until && arrivals.latencies.lock().unwrap_or_else(|e| e.into_inner()).len() < expected {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Posts on `posts_on` at `rate` for `seconds` (or, with `rate` 0, `in_flight` callers for
/// `seconds`), with both parties' sockets open on `sockets_on` when given; prints the
/// achieved rate, the answers' p50/p99 and, with sockets, the recipients' arrivals.
pub async fn run(
    name: &str,
    seed: &Seed,
    posts_on: &str,
    sockets_on: Option<&str>,
    rate: f64,
    seconds: u64,
    in_flight: usize,
) -> anyhow::Result<()> {
    let orders = Arc::new(orders(seed).await?);
    let arrivals = Arc::new(Arrivals::default());
    let readers = match sockets_on {
        Some(base) => Some(open_sockets(base, &orders, &arrivals).await?),
        None => None,
    };
    // A run at a rate makes its count of posts; an unbounded one stops at the time.
    let (count, until) = match rate > 0.0 {
        true => ((rate * seconds as f64).round() as usize, None),
        false => (usize::MAX, Some(Instant::now() + Duration::from_secs(seconds))),
    };
    let posted = post_loop(posts_on, &orders, count, rate, in_flight, until, &arrivals).await?;
    let Posted { mut answered, errors, waited, elapsed } = posted;
    answered.sort();
    let mut line = format!(
        "{name} offered={} rps={:.1} p50={:.2}ms p99={:.2}ms errors={errors} waited={waited}",
        if rate > 0.0 { format!("{rate}/s") } else { format!("closed-{in_flight}") },
        answered.len() as f64 / elapsed.as_secs_f64(),
        percentile(&answered, 0.50),
        percentile(&answered, 0.99),
    );
    if let Some(readers) = readers {
        settle(&arrivals, answered.len(), Duration::from_secs(5)).await;
        let mut arrived = std::mem::take(&mut *arrivals.latencies.lock().unwrap_or_else(|e| e.into_inner()));
        arrived.sort();
        line.push_str(&format!(
            " delivered={} deliver_p50={:.2}ms deliver_p99={:.2}ms deliver_max={:.2}ms echoes={}",
            arrived.len(),
            percentile(&arrived, 0.50),
            percentile(&arrived, 0.99),
            arrived.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
            arrivals.echoes.load(Ordering::Relaxed),
        ));
        drop(readers);
    }
    println!("{line}");
    Ok(())
}

/// Opens a socket for both parties of each of `seed.orders` orders on `base` (every
/// socket its own user and session, as the apps hold them), prints the server's RSS
/// growth per socket, then after one message per order (both parties' sockets take it)
/// the growth again.
pub async fn idle(seed: &Seed, base: &str, pid: u32) -> anyhow::Result<()> {
    let orders = Arc::new(orders(seed).await?);
    let arrivals = Arc::new(Arrivals::default());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid)?;
    let readers = open_sockets(base, &orders, &arrivals).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(pid)?;
    let posted = post_loop(base, &orders, orders.len(), 500.0, 64, None, &arrivals).await?;
    settle(&arrivals, posted.answered.len(), Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    let sockets = readers.len();
    let per = |kib: u64| kib.saturating_sub(before) as f64 / sockets as f64;
    println!(
        "chat-idle sockets={sockets} rss_before={before}KiB rss_idle={idle}KiB per_socket={:.2}KiB \
         after_one_message_each={after}KiB per_socket_after={:.2}KiB delivered={} errors={}",
        per(idle),
        per(after),
        arrivals.latencies.lock().unwrap_or_else(|e| e.into_inner()).len(),
        posted.errors,
    );
    drop(readers);
    Ok(())
}
