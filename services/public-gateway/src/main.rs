use std::process::ExitCode;

use clap::Subcommand;
use halo_shared::cli::{self, Cli};
use halo_shared::config::stubs::StubPolicy;
use halo_shared::config::{
    BookingArgs, CommonServeArgs, DatabaseArgs, MoneyArgs, OidcArgs, OtpArgs, OtpProviderKind, PaymentArgs, PushArgs,
};
use halo_shared::providers::payments::PaymentClient;
use halo_shared::state::GatewaySettings;
use halo_shared::telemetry;

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve(Box<ServeArgs>),
    /// Apply migrations to DATABASE_URL, then exit.
    Migrate(DatabaseArgs),
    /// Print this service's OpenAPI document as JSON.
    Openapi,
    /// End every live session created before --issued-before (emergency key rotation).
    RevokeSessions(cli::RevokeSessionsArgs),
    /// Ask Xendit about unpaid orders and open refunds whose callbacks never came, apply
    /// the answers, print how many orders changed.
    ReconcilePayments(ReconcileArgs),
    /// Move completed orders' earnings past EARNINGS_HOLD_HOURS (and with no open dispute)
    /// from pending to available; print how many orders were released.
    ReleaseEarnings(DatabaseArgs),
    /// Check the ledger's invariants: print one summary line and exit 0, or every
    /// violation and exit 1.
    LedgerCheck(DatabaseArgs),
    /// Pay every eligible mitra's available balance through Xendit Payouts (weekly);
    /// print `payouts: created=N failed=M skipped=K`.
    RunPayouts(ReconcileArgs),
    /// Local development only (PAYMENT_PROVIDER=stub): mark a stub payout succeeded
    /// through the payout callback's path.
    StubPayoutSucceed(StubPayoutArgs),
    /// Delete expired data (old OTP codes and sends, sessions ended 30 days ago, events
    /// and finished pushes older than 7 days, expired tickets and ID-token records);
    /// print `table=count` per table.
    Purge(DatabaseArgs),
    /// Run the timed order moves once (stale creating orders, expired invoices, accept
    /// timeouts with their refunds, start reminders); print how many orders moved.
    SweepOrders(SweepArgs),
}

/// What reconciliation takes, and the booking rules its timed moves apply.
#[derive(clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    jobs: ReconcileArgs,
    #[command(flatten)]
    booking: BookingArgs,
}

#[derive(clap::Args)]
struct ReconcileArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    payments: PaymentArgs,
    #[command(flatten)]
    money: MoneyArgs,
}

#[derive(clap::Args)]
struct StubPayoutArgs {
    /// The payout's id, as the `[PAYOUT STUB]` line names it.
    payout_id: uuid::Uuid,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    payments: PaymentArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    common: CommonServeArgs,
    #[command(flatten)]
    otp: OtpArgs,
    #[command(flatten)]
    oidc: OidcArgs,
    #[command(flatten)]
    push: PushArgs,
    #[command(flatten)]
    payments: PaymentArgs,
    /// Seconds between WebSocket pings; a socket silent for two is closed.
    #[arg(long, env = "WS_HEARTBEAT_SECONDS", default_value_t = GatewaySettings::default().ws_heartbeat.as_secs())]
    ws_heartbeat_seconds: u64,
    /// WebSockets one instance holds per session (0: no cap).
    #[arg(long, env = "WS_MAX_PER_SESSION", default_value_t = GatewaySettings::default().ws_caps.per_session)]
    ws_max_per_session: usize,
    /// WebSockets one instance holds per user (0: no cap).
    #[arg(long, env = "WS_MAX_PER_USER", default_value_t = GatewaySettings::default().ws_caps.per_user)]
    ws_max_per_user: usize,
    /// WebSockets one instance holds per client address (IPv6: per prefix; 0: no cap).
    #[arg(long, env = "WS_MAX_PER_IP", default_value_t = GatewaySettings::default().ws_caps.per_ip)]
    ws_max_per_ip: usize,
    /// Anonymous sign-ins allowed per client IP per hour (0: no limit).
    #[arg(long, env = "ANON_SIGNINS_PER_IP_PER_HOUR", default_value_t = GatewaySettings::default().anon_signins_per_ip_per_hour)]
    anon_signins_per_ip_per_hour: u32,
    /// Google and Apple sign-ins allowed per client IP per hour (0: no limit).
    #[arg(long, env = "ID_TOKEN_SIGNINS_PER_IP_PER_HOUR", default_value_t = GatewaySettings::default().id_token_signins_per_ip_per_hour)]
    id_token_signins_per_ip_per_hour: u32,
    /// Service creates and edits allowed per mitra per hour (0: no limit).
    #[arg(long, env = "SERVICE_WRITES_PER_MITRA_PER_HOUR", default_value_t = GatewaySettings::default().service_writes_per_mitra_per_hour)]
    service_writes_per_mitra_per_hour: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let about = "Halo Bestie public gateway: the client and mitra apps' API.";
    let cli = Cli::<Command>::parse_for("public-gateway", about, env!("CARGO_PKG_VERSION"));
    let _log_guard = telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Openapi => {
            println!("{}", public_gateway::openapi().spec());
            Ok(())
        }
        Command::Migrate(db) => cli::migrate(&db).await,
        Command::RevokeSessions(args) => cli::revoke_sessions(&args).await,
        Command::ReconcilePayments(args) => reconcile(args).await,
        Command::ReleaseEarnings(db) => release_earnings(&db).await,
        Command::LedgerCheck(db) => return ledger_check(&db).await,
        Command::RunPayouts(args) => run_payouts(args).await,
        Command::StubPayoutSucceed(args) => stub_payout_succeed(args).await,
        Command::Purge(db) => cli::purge(&db).await,
        Command::SweepOrders(args) => sweep_orders(args).await,
        Command::Serve(args) => serve(*args).await,
    };
    cli::exit_code(result)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let stubs = StubPolicy::from_env(args.common.allow_stub_providers_in_production);
    if args.otp.otp_provider == OtpProviderKind::Stub {
        stubs.allow("OTP_PROVIDER=stub")?;
    }
    let settings = GatewaySettings {
        shared: args.common.shared_settings(args.payments.settings(&stubs)?),
        anon_signins_per_ip_per_hour: args.anon_signins_per_ip_per_hour,
        id_token_signins_per_ip_per_hour: args.id_token_signins_per_ip_per_hour,
        service_writes_per_mitra_per_hour: args.service_writes_per_mitra_per_hour,
        otp: args.otp.settings()?,
        google: args.oidc.google(),
        apple: args.oidc.apple(),
        apple_grants: args.oidc.apple_grants()?,
        ws_heartbeat: std::time::Duration::from_secs(args.ws_heartbeat_seconds.max(1)),
        ws_caps: halo_shared::realtime::hub::Caps {
            per_session: args.ws_max_per_session,
            per_user: args.ws_max_per_user,
            per_ip: args.ws_max_per_ip,
        },
        fcm: args.push.fcm(),
        workers: args.push.worker(),
    };
    let startup = cli::startup("public-gateway", &args.common, settings, public_gateway::DEFAULT_LISTEN).await?;
    cli::serve(public_gateway::build(startup).await?).await
}

async fn reconcile(args: ReconcileArgs) -> anyhow::Result<()> {
    let pool = halo_shared::db::lazy_pool(&args.database.settings()?)?;
    let http = halo_shared::state::http_client();
    let client = PaymentClient::new(&args.payments.reconcile_settings()?, http);
    let client = std::sync::Arc::new(client);
    let money = args.money.settings();
    let booking = halo_shared::state::BookingSettings::default();
    let payments = halo_shared::payments::Payments::new(pool.clone(), client.clone(), money, booking);
    let changed = halo_shared::payments::reconcile::run(&payments).await?;
    let payouts = halo_shared::payouts::Payouts::new(pool, client, money).reconcile().await?;
    let changed = changed + payouts;
    println!("{changed}");
    tracing::info!(changed, payouts, "payments reconciled");
    Ok(())
}

async fn run_payouts(args: ReconcileArgs) -> anyhow::Result<()> {
    let pool = halo_shared::db::lazy_pool(&args.database.settings()?)?;
    let client = PaymentClient::new(&args.payments.reconcile_settings()?, halo_shared::state::http_client());
    let payouts = halo_shared::payouts::Payouts::new(pool, std::sync::Arc::new(client), args.money.settings());
    let report = payouts.run().await?;
    println!("{}", report.line());
    Ok(())
}

async fn stub_payout_succeed(args: StubPayoutArgs) -> anyhow::Result<()> {
    let settings = args.payments.reconcile_settings()?;
    anyhow::ensure!(
        matches!(settings.provider, halo_shared::providers::payments::PaymentProvider::Stub),
        "stub-payout-succeed works only with PAYMENT_PROVIDER=stub"
    );
    let pool = halo_shared::db::lazy_pool(&args.database.settings()?)?;
    let client = PaymentClient::new(&settings, halo_shared::state::http_client());
    let money = halo_shared::state::MoneySettings::default();
    let outcome = halo_shared::payouts::Payouts::new(pool, std::sync::Arc::new(client), money)
        .stub_succeed(args.payout_id)
        .await?;
    println!("{}", outcome.as_str());
    Ok(())
}

async fn sweep_orders(args: SweepArgs) -> anyhow::Result<()> {
    let pool = halo_shared::db::lazy_pool(&args.jobs.database.settings()?)?;
    let http = halo_shared::state::http_client();
    let client = PaymentClient::new(&args.jobs.payments.reconcile_settings()?, http);
    let (money, booking) = (args.jobs.money.settings(), args.booking.settings());
    let payments = halo_shared::payments::Payments::new(pool, std::sync::Arc::new(client), money, booking);
    let swept = payments.sweep().await?;
    println!("{}", swept.total());
    tracing::info!(?swept, "orders swept");
    Ok(())
}

async fn release_earnings(db: &DatabaseArgs) -> anyhow::Result<()> {
    let pool = halo_shared::db::lazy_pool(&db.settings()?)?;
    let released = halo_shared::payments::money::release_due(&pool).await?;
    println!("{released}");
    tracing::info!(released, "earnings released");
    Ok(())
}

async fn ledger_check(db: &DatabaseArgs) -> ExitCode {
    let report = async {
        let pool = halo_shared::db::lazy_pool(&db.settings()?)?;
        anyhow::Ok(halo_shared::ledger::check::run(&pool).await?)
    };
    match report.await {
        Ok(report) if report.holds() => {
            println!("{}", report.summary());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            for violation in &report.violations {
                println!("{violation}");
            }
            ExitCode::FAILURE
        }
        Err(err) => cli::exit_code(Err(err)),
    }
}
