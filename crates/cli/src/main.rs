//! `telegate`: the thin binary. Each subcommand parses its flags and hands over to a library crate.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use telegate_mockdc::server::{MockDc, MockDcConfig};

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
    /// Run the mock Telegram datacenters (MTProto 2.0 on loopback) for tests and CI.
    MockDc(MockDcArgs),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries the machine-readable ready line.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TELEGATE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::MockDc(args) => run_mock_dc(args).await,
    }
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

async fn shutdown_signal() {
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
