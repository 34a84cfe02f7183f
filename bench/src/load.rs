//! The stateful drivers: refresh chains, idle sockets, cross-instance latency.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A distinct client address per caller, so the per-IP limit sees many clients.
fn fake_ip(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

pub async fn sign_in(client: &reqwest::Client, base: &str, n: u64) -> anyhow::Result<Value> {
    let resp = client
        .post(format!("{base}/api/shared/auth/anonymous"))
        .header("x-forwarded-for", fake_ip(n))
        .json(&serde_json::json!({}))
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "anonymous sign-in answered {}", resp.status());
    Ok(resp.json().await?)
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

fn report(name: &str, mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) {
    latencies.sort();
    println!(
        "{name} rps={:.1} p50={:.2}ms p99={:.2}ms errors={errors}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
}

/// `states.len()` callers in a closed loop for `length`: each makes its next call as soon
/// as the last one answered (`step` takes the caller's state and gives it back, with
/// whether the call succeeded). A call in flight when time is up is finished and
/// counted, and throughput is every call over the whole time taken. That matters for
/// the bcrypt-bound calls: sharing one core fairly, the callers finish in step, so
/// counting only the calls done by the deadline (as `wrk` does) drops up to a whole
/// round of them: 16 sign-ins a round, 9 % of a 10 s run.
async fn closed_loop<S, F, Fut>(name: &str, states: Vec<S>, length: Duration, step: F) -> anyhow::Result<()>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (S, bool)> + Send,
{
    let started = Instant::now();
    let until = started + length;
    let mut callers = tokio::task::JoinSet::new();
    for mut state in states {
        let step = step.clone();
        callers.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < until {
                let sent = Instant::now();
                let (next, ok) = step(state).await;
                state = next;
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        });
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    while let Some(done) = callers.join_next().await {
        let (latencies, errs) = done?;
        all.extend(latencies);
        errors += errs;
    }
    report(name, all, errors, started.elapsed());
    Ok(())
}

/// `callers` anonymous sign-ins in a closed loop, each from a new client address (the
/// per-IP limit is counted, one upsert per sign-in, and refuses no one).
pub async fn anonymous(base: &str, callers: usize, length: Duration) -> anyhow::Result<()> {
    let (client, base) = (reqwest::Client::new(), base.to_owned());
    // Caller n signs in from address numbers 2,000,000 + n + callers·k: all distinct, and
    // apart from the refresh chains'.
    let states = (0..callers as u64).map(|n| 2_000_000 + n).collect();
    closed_loop("anonymous", states, length, move |address| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let ok = sign_in(&client, &base, address).await.is_ok();
            (address + callers as u64, ok)
        }
    })
    .await
}

/// `sessions` chains, each refreshing with the token its previous refresh returned.
pub async fn refresh(base: &str, sessions: usize, length: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut states = Vec::new();
    for n in 0..sessions as u64 {
        let pair = sign_in(&client, base, 1_000_000 + n).await?;
        let token = pair["refresh_token"].as_str().context("refresh token")?.to_owned();
        // Each chain is one device with its own address, as the per-IP limit expects.
        states.push((token, fake_ip(1_000_000 + n)));
    }
    let url = format!("{base}/api/shared/auth/refresh");
    closed_loop("refresh", states, length, move |(token, address)| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let body = serde_json::json!({ "refresh_token": token });
            let resp = client.post(&url).header("x-forwarded-for", &address).json(&body).send().await;
            let next = match resp {
                Ok(resp) if resp.status().is_success() => {
                    let pair: Value = resp.json().await.unwrap_or_default();
                    pair["refresh_token"].as_str().map(str::to_owned)
                }
                _ => None,
            };
            match next {
                Some(next) => ((next, address), true),
                None => ((token, address), false),
            }
        }
    })
    .await
}

pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// A `/proc/PID/status` size field (`VmRSS:`, `VmHWM:`) in KiB.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(field)).with_context(|| field.to_owned())?;
    Ok(line.split_whitespace().nth(1).context("status value")?.parse()?)
}

/// Runs `command` to its end, reading its `VmRSS` every 10 ms and its `VmHWM` (the
/// kernel's own peak, which no sampling gap misses) with the last sample; prints its
/// output, then `seconds=… rss_max=…KiB hwm=…KiB samples=…`. Fails when it fails.
pub fn measure(command: &[String]) -> anyhow::Result<()> {
    let (program, args) = command.split_first().context("a command to run")?;
    let started = Instant::now();
    let mut child = std::process::Command::new(program).args(args).spawn().with_context(|| program.clone())?;
    let (mut rss_max, mut hwm, mut samples) = (0, 0, 0u64);
    let status = loop {
        // A read that races the exit finds no file: the samples before it stand.
        if let (Ok(rss), Ok(peak)) = (rss_kib(child.id()), status_kib(child.id(), "VmHWM:")) {
            rss_max = rss_max.max(rss);
            hwm = hwm.max(peak);
            samples += 1;
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "{program} failed: {status}");
    println!("seconds={seconds:.2} rss_max={rss_max}KiB hwm={hwm}KiB samples={samples}");
    Ok(())
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn open_socket(base: &str, token: &str) -> anyhow::Result<Socket> {
    let url = format!("{}/api/shared/ws", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    // The first message says the socket is subscribed.
    socket.next().await.context("closed before ready")??;
    Ok(socket)
}

/// Opens `connections` idle sockets (one session, so the hub holds them all) and
/// reports the server's RSS before and after.
pub async fn idle_sockets(base: &str, connections: usize, pid: u32) -> anyhow::Result<()> {
    let pair = sign_in(&reqwest::Client::new(), base, 2_000_000).await?;
    let token = pair["access_token"].as_str().context("access token")?.to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid)?;
    let mut sockets = Vec::with_capacity(connections);
    let mut opening = tokio::task::JoinSet::new();
    for chunk in 0..connections.div_ceil(100) {
        for _ in 0..100.min(connections - chunk * 100) {
            let (base, token) = (base.to_owned(), token.clone());
            opening.spawn(async move { open_socket(&base, &token).await });
        }
        while let Some(socket) = opening.join_next().await {
            sockets.push(socket??);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    println!(
        "ws connections={} rss_before={}KiB rss_after={}KiB per_connection={:.2}KiB",
        sockets.len(),
        before,
        after,
        (after.saturating_sub(before)) as f64 / sockets.len() as f64
    );
    Ok(())
}

/// Publishes `events` events one after another from this process and times each from
/// before its INSERT to its arrival on a socket the server holds.
pub async fn ws_latency(base: &str, database_url: &str, events: usize) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(database_url).await?;
    let pair = sign_in(&reqwest::Client::new(), base, 3_000_000).await?;
    let token = pair["access_token"].as_str().context("access token")?;
    let user_id: uuid::Uuid = pair["user"]["id"].as_str().context("user id")?.parse()?;
    let mut socket = open_socket(base, token).await?;
    let mut latencies = Vec::with_capacity(events);
    let started = Instant::now();
    for n in 0..events {
        let sent = Instant::now();
        halo_shared::realtime::publish(
            &pool,
            halo_shared::tokens::UserType::Customer,
            user_id,
            "bench",
            &serde_json::json!({ "n": n }),
        )
        .await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), socket.next()).await?.context("socket closed")?? {
                Message::Text(_) => break,
                _ => continue,
            }
        }
        latencies.push(sent.elapsed());
    }
    report("ws-latency", latencies, 0, started.elapsed());
    Ok(())
}

/// CPU time (user + system) of a process and its threads, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces), from the state on.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks of every PostgreSQL process (its backends come and go; the bench's stay).
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("postgres")))
        .filter_map(cpu_ticks)
        .sum()
}

/// `count` GETs over `connections` connections, each waiting for its answer before the
/// next; any non-2xx is an error.
pub async fn hit(url: &str, token: &str, count: usize, connections: usize, pid: Option<u32>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(connections).build()?;
    let (server_before, pg_before) = (pid.and_then(cpu_ticks), postgres_ticks());
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for n in 0..connections {
        let (client, url, auth) = (client.clone(), url.to_owned(), format!("Bearer {token}"));
        let mine = count / connections + usize::from(n < count % connections);
        callers.spawn(async move {
            for _ in 0..mine {
                let resp = client.get(&url).header("authorization", &auth).send().await?;
                anyhow::ensure!(resp.status().is_success(), "{url} answered {}", resp.status());
                resp.bytes().await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = callers.join_next().await {
        done??;
    }
    let elapsed = started.elapsed();
    // Clock ticks are 10 ms (USER_HZ 100): meaningful over thousands of requests.
    let per_request_us = |ticks: u64| ticks as f64 * 10_000.0 / count as f64;
    let server = match (server_before, pid.and_then(cpu_ticks)) {
        (Some(a), Some(b)) => format!(" server_cpu={:.1}us", per_request_us(b - a)),
        _ => String::new(),
    };
    println!(
        "hit requests={count} rps={:.1}{server} postgres_cpu={:.1}us",
        count as f64 / elapsed.as_secs_f64(),
        per_request_us(postgres_ticks().saturating_sub(pg_before))
    );
    Ok(())
}
