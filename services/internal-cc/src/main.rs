use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use halo_shared::cli::{self, Cli};
use halo_shared::config::stubs::StubPolicy;
use halo_shared::config::{non_empty, CommonServeArgs, DatabaseArgs, PaymentArgs};
use halo_shared::db;
use halo_shared::state::ControlCenterSettings;
use halo_shared::telemetry;
use halo_shared::users::staff::{self, Role};

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve(Box<ServeArgs>),
    /// Apply migrations to DATABASE_URL, then exit.
    Migrate(DatabaseArgs),
    /// Print this service's OpenAPI document as JSON.
    Openapi,
    /// Create a staff user; the password comes from CC_USER_PASSWORD or, if unset, stdin.
    CreateCcUser(CreateCcUserArgs),
    /// End every live session created before --issued-before (emergency key rotation).
    RevokeSessions(cli::RevokeSessionsArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    common: CommonServeArgs,
    #[command(flatten)]
    password: PasswordArgs,
    /// Staff refunds go to the same payment provider as the gateway's orders.
    #[command(flatten)]
    payments: PaymentArgs,
    /// Failed logins allowed per email per 15 minutes (0: no limit).
    #[arg(long, env = "LOGIN_FAILURES_PER_EMAIL", default_value_t = ControlCenterSettings::default().login_failures_per_email)]
    login_failures_per_email: u32,
    /// Failed logins allowed per client IP per 15 minutes (0: no limit).
    #[arg(long, env = "LOGIN_FAILURES_PER_IP", default_value_t = ControlCenterSettings::default().login_failures_per_ip)]
    login_failures_per_ip: u32,
    /// Comma-separated origins of the control-center SPA (CORS with credentials).
    #[arg(long, env = "CC_ALLOWED_ORIGINS", value_delimiter = ',', default_value = "")]
    cc_allowed_origins: Vec<String>,
    /// Mark the refresh cookie `Secure`; false only for plain-HTTP local development.
    #[arg(long, env = "COOKIE_SECURE", default_value_t = ControlCenterSettings::default().cookie_secure, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    cookie_secure: bool,
}

#[derive(clap::Args)]
struct PasswordArgs {
    /// bcrypt cost for staff passwords.
    #[arg(long, env = "PASSWORD_BCRYPT_COST", default_value_t = ControlCenterSettings::default().password_bcrypt_cost,
          value_parser = clap::value_parser!(u32).range(4..=31))]
    password_bcrypt_cost: u32,
}

#[derive(clap::Args)]
struct CreateCcUserArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    password: PasswordArgs,
    #[arg(long)]
    email: String,
    #[arg(long, value_enum)]
    role: Role,
    #[arg(long)]
    display_name: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let about = "Halo Bestie control-center service (`/internal/...`).";
    let cli = Cli::<Command>::parse_for("internal-cc", about, env!("CARGO_PKG_VERSION"));
    let _log_guard = telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Openapi => {
            println!("{}", internal_cc::openapi().spec());
            Ok(())
        }
        Command::Migrate(db) => cli::migrate(&db).await,
        Command::CreateCcUser(args) => create_cc_user(args).await,
        Command::RevokeSessions(args) => cli::revoke_sessions(&args).await,
        Command::Serve(args) => serve(*args).await,
    };
    cli::exit_code(result)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let stubs = StubPolicy::from_env(args.common.allow_stub_providers_in_production);
    let payments = args.payments.settings(&stubs)?;
    let settings = ControlCenterSettings {
        shared: args.common.shared_settings(payments),
        password_bcrypt_cost: args.password.password_bcrypt_cost,
        login_failures_per_email: args.login_failures_per_email,
        login_failures_per_ip: args.login_failures_per_ip,
        cc_allowed_origins: non_empty(&args.cc_allowed_origins),
        cookie_secure: args.cookie_secure,
    };
    let startup = cli::startup("internal-cc", &args.common, settings, internal_cc::DEFAULT_LISTEN).await?;
    cli::serve(internal_cc::build(startup).await?).await
}

async fn create_cc_user(args: CreateCcUserArgs) -> anyhow::Result<()> {
    let password = match std::env::var("CC_USER_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let pool = db::lazy_pool(&args.database.settings()?)?;
    let id = staff::create(
        &pool,
        &args.email,
        args.role,
        args.display_name.as_deref(),
        &password,
        args.password.password_bcrypt_cost,
    )
    .await?;
    println!("{id}");
    Ok(())
}
