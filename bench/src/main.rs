//! Drivers for the benchmark scenarios that need more than wrk: closed loops of anonymous
//! sign-ins and of refreshes (each carrying the token the previous one returned), counted
//! so that no round of bcrypt-bound calls is dropped at the deadline, idle WebSockets by
//! the thousand, publish-to-receipt latency across instances, chat messages posted on
//! one instance and timed to a socket on another (`chat`), raw bcrypt speed, start-up
//! timing, a bare hyper server doing the gateway's JWT verification, the poem-openapi
//! floors for `session` and `me`, the hyper + tokio-postgres floor for `me`, a fake
//! Xendit Payouts API, and a wall-time and peak-memory wrapper for one-shot jobs.
//! `bench/run` orchestrates them; see BENCHMARKS.md.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};

mod bare;
mod chat;
mod fakexendit;
mod floor;
mod load;
mod pgfloor;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GET /api/shared/auth/session with hyper and nothing else.
    BareSession {
        #[arg(long, default_value_t = 3999)]
        port: u16,
    },
    /// Serve `session` and `me` with poem-openapi and nothing else (their floors).
    Floor {
        #[arg(long, default_value_t = 3998)]
        port: u16,
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// sqlx's default pool options (a ping before every acquire) instead of the
        /// gateway's.
        #[arg(long)]
        sqlx_defaults: bool,
    },
    /// Serve `me` with hyper and tokio-postgres and nothing else (the true floor).
    PgFloor {
        #[arg(long, default_value_t = 3997)]
        port: u16,
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
    },
    /// Raw bcrypt hashes per second on one thread.
    Bcrypt {
        #[arg(long, default_value_t = 10)]
        cost: u32,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Waits for the first 200 from a URL; prints milliseconds since `--since-ns`.
    WaitReady {
        #[arg(long)]
        url: String,
        /// Start time in nanoseconds since the epoch (`date +%s%N`).
        #[arg(long)]
        since_ns: i128,
    },
    /// Signs in anonymously and prints the access token.
    SignIn {
        #[arg(long)]
        base: String,
    },
    /// Anonymous sign-ins in a closed loop, each from its own client address.
    Anonymous {
        #[arg(long)]
        base: String,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Independent sessions each refreshing in a loop.
    Refresh {
        #[arg(long)]
        base: String,
        #[arg(long, default_value_t = 16)]
        sessions: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Opens idle WebSockets and reports the server's RSS growth per connection.
    Ws {
        #[arg(long)]
        base: String,
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// The server's process id, to read its RSS.
        #[arg(long)]
        pid: u32,
    },
    /// Publishes events from this process (a third instance) and times their arrival on
    /// a socket held by the server.
    WsLatency {
        #[arg(long)]
        base: String,
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 500)]
        events: usize,
    },
    /// Sends `count` GETs with a bearer token over `connections` keep-alive connections
    /// and prints how long they took and, given `--pid`, the CPU the server and every
    /// PostgreSQL process spent per request (for `bench/profile`).
    Hit {
        #[arg(long)]
        url: String,
        #[arg(long, env = "TOKEN")]
        token: String,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// The server's process id, to read its CPU time.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Chat messages posted on `--posts-on` at `--rate` per second (0: as fast as
    /// `--in-flight` callers go) for `--seconds`, over the first `--orders` seeded paid
    /// orders; with `--sockets-on`, both parties' sockets there time each message's
    /// arrival at its recipient.
    Chat {
        #[command(flatten)]
        seed: ChatSeed,
        #[arg(long)]
        posts_on: String,
        #[arg(long)]
        sockets_on: Option<String>,
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
        /// The name the line starts with.
        #[arg(long, default_value = "chat")]
        name: String,
    },
    /// A socket for both parties of each of the first `--orders` seeded orders (each its
    /// own user and session): the server's RSS per socket, idle and after one message each.
    ChatIdle {
        #[command(flatten)]
        seed: ChatSeed,
        #[arg(long)]
        base: String,
        /// The server's process id, to read its RSS.
        #[arg(long)]
        pid: u32,
    },
    /// Prints a process's resident set size in KiB.
    Rss {
        #[arg(long)]
        pid: u32,
    },
    /// Serves a fake Xendit Payouts API (channels, create, lookup) for `run-payouts`.
    FakeXendit {
        #[arg(long, default_value_t = 3920)]
        port: u16,
    },
    /// Runs a command to its end and prints its wall time and peak memory (VmRSS sampled
    /// every 10 ms, and the kernel's VmHWM).
    Measure {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(clap::Args)]
struct ChatSeed {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, env = "AUTH_JWT_SECRET")]
    jwt_secret: String,
    #[arg(long, default_value_t = 1000)]
    orders: usize,
}

impl ChatSeed {
    fn seed(self) -> chat::Seed {
        chat::Seed { database_url: self.database_url, jwt_secret: self.jwt_secret, orders: self.orders }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::BareSession { port } => bare::serve(port).await,
        Command::Floor { port, database_url, sqlx_defaults } => floor::serve(port, &database_url, sqlx_defaults).await,
        Command::PgFloor { port, database_url } => pgfloor::serve(port, &database_url).await,
        Command::Bcrypt { cost, seconds } => {
            let until = Instant::now() + Duration::from_secs(seconds);
            let mut hashes = 0u64;
            let started = Instant::now();
            while Instant::now() < until {
                bcrypt::hash("bench-secret-bench-secret-bench-secret", cost)?;
                hashes += 1;
            }
            println!("{:.1}", hashes as f64 / started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::WaitReady { url, since_ns } => {
            let client = reqwest::Client::new();
            let give_up = Instant::now() + Duration::from_secs(10);
            loop {
                anyhow::ensure!(Instant::now() < give_up, "{url} did not answer 200 within 10 s");
                if let Ok(resp) = client.get(&url).send().await {
                    if resp.status().is_success() {
                        let now = chrono::Utc::now().timestamp_nanos_opt().context("clock")? as i128;
                        println!("{:.1}", (now - since_ns) as f64 / 1e6);
                        return Ok(());
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        Command::SignIn { base } => {
            let pair = load::sign_in(&reqwest::Client::new(), &base, 0).await?;
            println!("{}", pair["access_token"].as_str().context("access token")?);
            Ok(())
        }
        Command::Anonymous { base, connections, seconds } => {
            load::anonymous(&base, connections, Duration::from_secs(seconds)).await
        }
        Command::Refresh { base, sessions, seconds } => {
            load::refresh(&base, sessions, Duration::from_secs(seconds)).await
        }
        Command::Ws { base, connections, pid } => load::idle_sockets(&base, connections, pid).await,
        Command::WsLatency { base, database_url, events } => load::ws_latency(&base, &database_url, events).await,
        Command::Hit { url, token, count, connections, pid } => load::hit(&url, &token, count, connections, pid).await,
        Command::Chat { seed, posts_on, sockets_on, rate, seconds, in_flight, name } => {
            chat::run(&name, &seed.seed(), &posts_on, sockets_on.as_deref(), rate, seconds, in_flight).await
        }
        Command::ChatIdle { seed, base, pid } => chat::idle(&seed.seed(), &base, pid).await,
        Command::Rss { pid } => {
            println!("{}", load::rss_kib(pid)?);
            Ok(())
        }
        Command::FakeXendit { port } => fakexendit::serve(port).await,
        Command::Measure { command } => load::measure(&command),
    }
}
