//! `telegate`: the thin binary. Each subcommand parses its flags and hands over to a library crate.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use telegate_mockdc::server::{MockDc, MockDcConfig};

mod remote;
mod serve;
mod tokens;

#[derive(Parser)]
#[command(
    name = "telegate",
    version,
    about = "A self-hosted Telegram account gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway's HTTP API (see docs/configuration.md; `--sandbox` to try it out).
    Serve(serve::ServeArgs),
    /// API tokens for applications: create (shown once), list, revoke.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Log an account in on a running gateway, interactively: phone, code, 2FA password
    /// (without echo), or a QR code drawn in the terminal (`--qr`), or a bot (`--bot`).
    Login(remote::LoginArgs),
    /// The accounts of a running gateway: list, show, logout.
    #[command(subcommand)]
    Accounts(remote::AccountsCommand),
    /// Move sessions in and out of a running gateway: import from Telethon/GramJS/Pyrogram,
    /// export to them (admin, audited).
    #[command(subcommand)]
    Sessions(remote::SessionsCommand),
    /// Run the mock Telegram datacenters (MTProto 2.0 on loopback) for tests and CI.
    MockDc(MockDcArgs),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// The master key and the data keys that seal every secret at rest.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(clap::Args)]
struct DatabaseArgs {
    /// sqlite://PATH?mode=rwc (default) or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", default_value = telegate_store::DEFAULT_DATABASE_URL)]
    database_url: String,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply pending migrations (they also run at start-up).
    Migrate(DatabaseArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new random master key (base64) to a file readable by its owner only.
    Generate {
        /// Where to write it; an existing file is never overwritten.
        #[arg(long)]
        key_file: PathBuf,
    },
    /// Re-encrypt every secret under a new data key, online, in batches; resumable and
    /// idempotent. Old keys stay readable until it finishes, then are retired.
    Rotate {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Master key file (otherwise TELEGATE_MASTER_KEY or TELEGATE_MASTER_KEY_FILE).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Rows re-encrypted per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: u32,
    },
}

#[derive(clap::Args)]
struct MockDcArgs {
    /// Number of datacenters (ids 1..=N, like Telegram's).
    #[arg(long, default_value_t = 5)]
    dcs: u8,
    /// Address to listen on.
    #[arg(long, default_value_t = Ipv4Addr::LOCALHOST)]
    host: Ipv4Addr,
    /// First DC port (DC n listens on PORT+n-1, the control API on PORT+N); 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Port of the JSON control API (default: after the DC ports, or free with --port 0).
    #[arg(long)]
    control_port: Option<u16>,
    /// Keep the RSA key and registered auth keys here across restarts.
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

/// jemalloc instead of glibc's malloc: grammers allocates a zeroed 1 MiB read buffer per
/// connection, and once glibc's dynamic mmap threshold has risen above that size, every new
/// buffer comes from the heap and is zeroed page by page: at 10,000 idle accounts RSS per account
/// was 273 KiB with glibc, 41 KiB with jemalloc (issue 6; bench/README.md has the measurements;
/// mimalloc was tried and made every buffer resident: 2.5 MiB per account).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // `serve` sets up logging from its configuration (format, level).
    if let Command::Serve(args) = cli.command {
        return serve::run(args).await;
    }
    // Logs go to stderr: stdout carries the machine-readable ready line.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TELEGATE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(_) => unreachable!("handled above"),
        Command::Tokens(cmd) => tokens::run(cmd).await,
        Command::Login(args) => remote::login(args).await,
        Command::Accounts(cmd) => remote::accounts(cmd).await,
        Command::Sessions(cmd) => remote::sessions(cmd).await,
        Command::MockDc(args) => run_mock_dc(args).await,
        Command::Db(DbCommand::Migrate(args)) => {
            telegate_store::migrate(&args.database_url)
                .await
                .context("migrating the database")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Keys(KeysCommand::Generate { key_file }) => {
            let key = telegate_store::generate_master_key_file(&key_file)
                .with_context(|| format!("writing {}", key_file.display()))?;
            // The fingerprint identifies the key without revealing it.
            println!(
                "master key written to {} (fingerprint {})",
                key_file.display(),
                key.fingerprint()
            );
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate {
            database,
            key_file,
            batch_size,
        }) => rotate_keys(&database.database_url, key_file.as_deref(), batch_size).await,
    }
}

async fn rotate_keys(
    database_url: &str,
    key_file: Option<&std::path::Path>,
    batch_size: u32,
) -> anyhow::Result<()> {
    let master =
        telegate_store::MasterKey::from_env_or_file(key_file).context("loading the master key")?;
    let store = telegate_store::open(database_url, master)
        .await
        .context("opening the database")?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} secrets")
            .expect("valid template"),
    );
    let mut progress = |p: telegate_store::RotationProgress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
        bar.set_message(format!("rotating to key {} ({})", p.target_key_id, p.table));
    };
    let report = store
        .rotate_keys(
            telegate_store::RotateOptions {
                batch_size,
                actor: "cli".into(),
                ..Default::default()
            },
            &mut progress,
        )
        .await
        .context("rotating keys")?;
    bar.finish_and_clear();
    match report.outcome {
        telegate_store::RotationOutcome::Finished { retired } => println!(
            "{} secrets now under key {}{}; retired keys: {:?}",
            report.rows_done,
            report.target_key_id,
            if report.resumed { " (resumed)" } else { "" },
            retired
        ),
        telegate_store::RotationOutcome::Interrupted => {
            println!(
                "rotation interrupted after {} secrets; run again to resume",
                report.rows_done
            )
        }
    }
    Ok(())
}

async fn run_mock_dc(args: MockDcArgs) -> anyhow::Result<()> {
    let dc = MockDc::start(MockDcConfig {
        dcs: args.dcs,
        host: args.host,
        port: args.port,
        control_port: args.control_port,
        state_dir: args.state_dir,
    })
    .await
    .context("starting the mock DC")?;
    println!("{}", serde_json::to_string(dc.ready_info())?);
    shutdown_signal().await;
    tracing::info!("shutting down");
    dc.shutdown().await;
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
