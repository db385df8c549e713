//! `telegate-bench suite`: telegate against the clients a user would otherwise pick (GramJS,
//! Telethon + cryptg) and against bare grammers, all against the same in-process mock DC in the
//! same run (issue 8). Contenders alternate within every round (A B C, A B C, …) and the rounds
//! repeat, so a noisy neighbour on this shared machine hurts all of them alike; every figure is
//! the median of the rounds with its min–max, and the raw ceilings (AES-IGE + SHA-256 per core,
//! one encrypted loopback pipe) are measured in the same rounds.
//!
//! `--smoke` runs every scenario at tiny sizes (part of `scripts/test`); the full run rewrites
//! `bench/RESULTS.md` and its charts.

mod ceiling;
mod control;
pub mod grammers_peer;
mod mock;
mod peers;
mod report;
mod restore;
mod telegate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::stats::CpuUse;
use mock::{Account, Mock};
pub use peers::Contender;
use report::{Figure, Report};

#[derive(clap::Parser, Clone, Debug)]
pub struct SuiteArgs {
    /// Every scenario at tiny sizes, results under the cache directory (bench/RESULTS.md is left
    /// alone). Fails if any contender cannot run.
    #[arg(long)]
    pub smoke: bool,
    /// Rounds (each contender once per scenario per round). Default: 5, smoke 2.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Rounds of the scale scenario (the slowest). Default: 3, smoke 1.
    #[arg(long)]
    pub scale_rounds: Option<usize>,
    /// Only these scenarios.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<Scenario>,
    /// Only these contenders (default: all).
    #[arg(long, value_delimiter = ',')]
    pub contenders: Vec<Contender>,
    /// Worker threads of the mock DC's runtime. 1 leaves the other core to the contender (Node
    /// and Python run their client on one thread).
    #[arg(long, default_value_t = 1)]
    pub mock_threads: usize,
    /// Accounts of the send scenario. Default: 100, smoke 8.
    #[arg(long)]
    pub send_accounts: Option<usize>,
    /// Sends in flight, one throughput figure each. Default: 1,8,64,256; smoke 1,8.
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Seconds per throughput figure. Default: 3, smoke 0.3.
    #[arg(long)]
    pub send_secs: Option<f64>,
    /// Sequential sends timed for the latency figures. Default: 1000, smoke 20.
    #[arg(long)]
    pub latency_sends: Option<usize>,
    /// Accounts in one process for the scale scenario. Default: 1000,10000; smoke 10,30.
    #[arg(long, value_delimiter = ',')]
    pub scale_accounts: Vec<usize>,
    /// Accounts seeded for the restore scenario. Default: 10000, smoke 50.
    #[arg(long)]
    pub restore_accounts: Option<usize>,
    /// Cached peers per account of the restore scenario (besides its self peer). Default: 100,
    /// smoke 5. Issue 5 asks for 1000: that is 10M peer rows, ~0.7 GB of SQLite and ~1.5 GB of
    /// PostgreSQL and ~4 min of seeding; `load_all_sessions` reads only the self peer (a partial
    /// index), so the cache's size barely moves the figure.
    #[arg(long)]
    pub restore_peers: Option<usize>,
    /// Backends of the restore scenario.
    #[arg(long, value_delimiter = ',', default_values_t = ["sqlite".to_string(), "postgres".to_string()])]
    pub restore_backends: Vec<String>,
    /// PostgreSQL server of the restore scenario (trust auth); the suite creates a database
    /// `bench_<random>` on it and drops it at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub restore_postgres_url: String,
    /// Bytes of the transfer scenario's file, in MB (10^6). Default: 512, smoke 1.
    #[arg(long)]
    pub transfer_mb: Option<usize>,
    /// Ranged GETs in flight when downloading the file back through telegate.
    #[arg(long, default_value_t = 4)]
    pub transfer_parallel: usize,
    /// Rounds of the transfer scenario. Default: 3, smoke 1.
    #[arg(long)]
    pub transfer_rounds: Option<usize>,
    /// Where the peers are installed and jobs, logs and smoke results go.
    /// Default: target/bench-peers.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Where RESULTS.md and the charts go. Default: bench/ (full run), the cache dir (smoke).
    #[arg(long)]
    pub results_dir: Option<PathBuf>,
    /// The telegate binary (default: beside this one).
    #[arg(long)]
    pub telegate_bin: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Scenario {
    /// AES-IGE + SHA-256 per core and one encrypted loopback pipe.
    Ceilings,
    /// Send throughput across many accounts at several concurrencies, then send latency.
    Send,
    /// RSS per idle connected account and start-up time, at several account counts.
    Scale,
    /// telegate's store: sessions restored per second at start-up, SQLite and PostgreSQL.
    Restore,
    /// A file through telegate's HTTP API: tus upload + send, then parallel ranged downloads.
    Transfer,
}

/// Sizes of one run.
#[derive(Debug, Clone, serde::Serialize)]
struct Plan {
    smoke: bool,
    rounds: usize,
    scale_rounds: usize,
    send_accounts: usize,
    concurrency: Vec<usize>,
    send_secs: f64,
    latency_sends: usize,
    scale_accounts: Vec<usize>,
    restore_accounts: usize,
    restore_peers: usize,
    ceiling_secs: f64,
    settle_secs: f64,
    transfer_bytes: usize,
    transfer_parallel: usize,
    transfer_rounds: usize,
}

impl Plan {
    fn from(args: &SuiteArgs) -> Self {
        let s = args.smoke;
        let or = |v: &Vec<usize>, d: &[usize]| if v.is_empty() { d.to_vec() } else { v.clone() };
        Plan {
            smoke: s,
            rounds: args.rounds.unwrap_or(if s { 2 } else { 5 }),
            scale_rounds: args.scale_rounds.unwrap_or(if s { 1 } else { 3 }),
            send_accounts: args.send_accounts.unwrap_or(if s { 8 } else { 100 }),
            concurrency: or(
                &args.concurrency,
                if s { &[1, 8] } else { &[1, 8, 64, 256] },
            ),
            send_secs: args.send_secs.unwrap_or(if s { 0.3 } else { 3.0 }),
            latency_sends: args.latency_sends.unwrap_or(if s { 20 } else { 1000 }),
            scale_accounts: or(
                &args.scale_accounts,
                if s { &[10, 30] } else { &[1000, 10000] },
            ),
            restore_accounts: args.restore_accounts.unwrap_or(if s { 50 } else { 10_000 }),
            restore_peers: args.restore_peers.unwrap_or(if s { 5 } else { 100 }),
            ceiling_secs: if s { 0.2 } else { 2.0 },
            settle_secs: if s { 0.2 } else { 2.0 },
            transfer_bytes: args.transfer_mb.unwrap_or(if s { 1 } else { 512 }) * 1_000_000,
            transfer_parallel: args.transfer_parallel.max(1),
            transfer_rounds: args.transfer_rounds.unwrap_or(if s { 1 } else { 3 }),
        }
    }
}

const TEXT: &str = "hello from telegate-bench";

pub fn run(args: SuiteArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let plan = Plan::from(&args);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?
        .to_path_buf();
    let peers_dir = root.join("bench/peers");
    let cache = args
        .cache_dir
        .clone()
        .unwrap_or_else(|| root.join("target/bench-peers"));
    let results_dir = args.results_dir.clone().unwrap_or_else(|| {
        if plan.smoke {
            cache.join("smoke")
        } else {
            root.join("bench")
        }
    });
    let wants = |s: Scenario| args.only.is_empty() || args.only.contains(&s);
    let mut contenders: Vec<Contender> = if args.contenders.is_empty() {
        Contender::ALL.to_vec()
    } else {
        args.contenders.clone()
    };
    contenders.sort();
    contenders.dedup();

    let mut report = Report::new(&plan, &contenders);
    report.load_start = report::load_average();
    if !plan.smoke && (!args.only.is_empty() || !args.contenders.is_empty()) {
        let argv: Vec<String> = std::env::args()
            .skip_while(|a| a != "suite")
            .skip(1)
            .collect();
        report.partial = Some(argv.join(" "));
    }

    // telegate: measured only when this build has `telegate serve`.
    let mut measured = Vec::new();
    let mut gateway = None;
    for &c in &contenders {
        if c == Contender::Telegate {
            match telegate::detect(args.telegate_bin.as_deref()) {
                telegate::Availability::Available(binary) => {
                    eprintln!("telegate: measuring {} serve", binary.display());
                    gateway = Some(telegate::Telegate::new(binary)?);
                    measured.push(c);
                }
                telegate::Availability::Unavailable(why) => {
                    eprintln!("telegate: {why}");
                    report.unavailable.push((c, why));
                }
            }
        } else {
            measured.push(c);
        }
    }
    let installed = peers::install(&cache, &peers_dir, &measured)?;
    report.versions = installed.versions.clone();
    let jobs = cache.join("jobs");
    std::fs::create_dir_all(&jobs)?;

    // The send scenario's world: senders and the recipients they write to (offline).
    let mut send_mock = None;
    let mut send_accounts: BTreeMap<Contender, Vec<Account>> = BTreeMap::new();
    // (The transfer scenario uses this world too: its first account.)
    if wants(Scenario::Send) || (wants(Scenario::Transfer) && gateway.is_some()) {
        let mut mock = Mock::start(args.mock_threads)?;
        let senders = mock.create_users("s", plan.send_accounts)?;
        let recipients = mock.create_users("r", plan.send_accounts)?;
        for &c in &measured {
            send_accounts.insert(c, mock.accounts(&senders, Some(&recipients))?);
        }
        send_mock = Some(mock);
    }
    // The scale scenario's world, in a mock of its own so its tens of thousands of keys do not
    // slow the send scenario's.
    let mut scale_mock = None;
    let mut scale_accounts: BTreeMap<Contender, Vec<Account>> = BTreeMap::new();
    if wants(Scenario::Scale) {
        let most = plan.scale_accounts.iter().copied().max().unwrap_or(0);
        let t = Instant::now();
        let mut mock = Mock::start(args.mock_threads)?;
        let users = mock.create_users("a", most)?;
        for &c in &measured {
            scale_accounts.insert(c, mock.accounts(&users, None)?);
        }
        eprintln!(
            "prepared {most} accounts x {} contenders through the control API in {:.1} s",
            measured.len(),
            t.elapsed().as_secs_f64()
        );
        scale_mock = Some(mock);
    }

    // The restore scenario's databases, seeded once.
    let restore_world = if wants(Scenario::Restore) {
        Some(restore::World::seed(
            &cache,
            &args.restore_backends,
            &args.restore_postgres_url,
            plan.restore_accounts,
            plan.restore_peers,
        )?)
    } else {
        None
    };

    let mut job_number = 0usize;
    // The job file and log of the next job (telegate's jobs have a log only).
    let mut next_paths = |c: Contender, scenario: &str| -> (PathBuf, PathBuf) {
        job_number += 1;
        let path = jobs.join(format!("{job_number:03}-{scenario}-{}.json", c.key()));
        (path.clone(), path.with_extension("log"))
    };
    let send_plan = telegate::SendPlan {
        concurrency: &plan.concurrency,
        secs: plan.send_secs,
        latency_sends: plan.latency_sends,
        text: TEXT,
    };

    // The transfer scenario's file: random bytes (incompressible), made once per run.
    let transfer_data = match (&gateway, wants(Scenario::Transfer)) {
        (Some(_), true) => {
            let mut data = vec![0u8; plan.transfer_bytes];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut data);
            Some(bytes::Bytes::from(data))
        }
        _ => None,
    };

    for round in 0..plan.rounds {
        eprintln!("round {}/{}", round + 1, plan.rounds);
        let mut pipe = None;
        if wants(Scenario::Ceilings) {
            let secs = Duration::from_secs_f64(plan.ceiling_secs);
            report.add_machine("ceiling.encrypt", ceiling::encrypt_per_core(secs));
            let mb_s = ceiling::loopback_pipe(secs)?;
            report.add_machine("ceiling.pipe", mb_s);
            pipe = Some(mb_s);
        }
        if let Some(world) = &restore_world {
            for i in 0..world.seeded.len() {
                let r = world.restore(i)?;
                let backend = world.seeded[i].backend;
                let secs = r.open_secs + r.load_secs;
                report.add_store(
                    Figure::restore_rate(backend, r.sessions),
                    restore::per_second(r.sessions, secs),
                );
                report.add_store(Figure::restore_secs(backend, r.sessions), secs);
                report.add_store(Figure::restore_open_ms(backend), r.open_secs * 1000.0);
            }
        }
        if let (Some(mock), true) = (&send_mock, wants(Scenario::Send)) {
            for &c in &measured {
                let (path, log) = next_paths(c, "send");
                if let (Contender::Telegate, Some(gateway)) = (c, &gateway) {
                    let run = gateway
                        .send(mock, &send_accounts[&c], &send_plan, &log)
                        .with_context(|| format!("{} send", c.label()))?;
                    record_send(&mut report, c, &run, &plan)?;
                    continue;
                }
                let job = send_job(c, mock, &send_accounts[&c], &plan);
                write_private(&path, &serde_json::to_vec(&job)?)?;
                let command = peers::driver_command(c, &installed, &peers_dir, &path)?;
                let run = peers::run_driver(command, &log, Duration::from_secs(600))
                    .with_context(|| format!("{} send", c.label()))?;
                let _ = std::fs::remove_file(&path);
                record_send(&mut report, c, &run, &plan)?;
            }
        }
        if let (Some(gateway), Some(data), Some(mock), true) = (
            &gateway,
            &transfer_data,
            &send_mock,
            round < plan.transfer_rounds,
        ) {
            let c = Contender::Telegate;
            let (_, log) = next_paths(c, "transfer");
            let run = gateway
                .transfer(
                    mock,
                    &send_accounts[&c][0],
                    data.clone(),
                    plan.transfer_parallel,
                    &log,
                )
                .with_context(|| format!("{} transfer", c.label()))?;
            let mb = plan.transfer_bytes / 1_000_000;
            report.add_store(Figure::telegate_upload(mb), run.upload_mb_s);
            report.add_store(
                Figure::telegate_download(mb, plan.transfer_parallel),
                run.download_mb_s,
            );
            if let Some(pipe) = pipe {
                report.add_store(
                    Figure::telegate_upload_vs_pipe(),
                    run.upload_mb_s / pipe * 100.0,
                );
            }
        }
        if round < plan.scale_rounds {
            if let Some(mock) = &scale_mock {
                for &n in &plan.scale_accounts {
                    for &c in &measured {
                        let (path, log) = next_paths(c, &format!("scale{n}"));
                        if let (Contender::Telegate, Some(gateway)) = (c, &gateway) {
                            let settle = Duration::from_secs_f64(plan.settle_secs);
                            let run = gateway
                                .scale(mock, &scale_accounts[&c][..n], settle, &log)
                                .with_context(|| format!("{} scale at {n} accounts", c.label()))?;
                            record_telegate_scale(&mut report, n, &run);
                            continue;
                        }
                        let job = scale_job(c, mock, &scale_accounts[&c][..n], &plan);
                        write_private(&path, &serde_json::to_vec(&job)?)?;
                        let command = peers::driver_command(c, &installed, &peers_dir, &path)?;
                        let run = peers::run_driver(command, &log, Duration::from_secs(900))
                            .with_context(|| format!("{} scale at {n} accounts", c.label()))?;
                        let _ = std::fs::remove_file(&path);
                        record_scale(&mut report, c, n, &run)?;
                    }
                }
            }
        }
    }
    if let Some(mock) = send_mock {
        mock.shutdown();
    }
    if let Some(mock) = scale_mock {
        mock.shutdown();
    }
    if let Some(world) = restore_world {
        for seeded in &world.seeded {
            report.add_store(
                Figure::restore_seed_secs(seeded.backend, world.accounts, world.peers),
                seeded.seed_secs,
            );
        }
        world.cleanup();
    }
    report.add_gateway_cost();
    report.load_end = report::load_average();
    report.wall_secs = started.elapsed().as_secs_f64();

    print!("{}", report.table());
    std::fs::create_dir_all(&results_dir)?;
    report.write(&results_dir)?;
    eprintln!(
        "wrote {} and its charts in {:.0} s",
        results_dir.join("RESULTS.md").display(),
        report.wall_secs
    );
    if plan.smoke {
        report.check_smoke(&measured)?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // The job holds auth keys (of a throwaway mock, but keys all the same).
    options.open(path)?.write_all(bytes)?;
    Ok(())
}

/// The accounts as the contender's driver takes them.
fn job_accounts(c: Contender, mock: &Mock, accounts: &[Account]) -> Vec<Value> {
    let home = mock.home();
    accounts
        .iter()
        .map(|a| {
            let mut v = match c {
                Contender::Telethon => json!({ "session": mock::telethon_session(home, &a.key) }),
                Contender::Gramjs => json!({ "session": mock::gramjs_session(home, &a.key) }),
                _ => json!({ "auth_key": hex::encode(a.key) }),
            };
            v["user_id"] = json!(a.user.id);
            if let Some(peer) = &a.peer {
                v["peer"] = json!(peer);
            }
            v
        })
        .collect()
}

fn job_dc(mock: &Mock) -> Value {
    let home = mock.home();
    json!({ "id": home.id, "host": home.host, "port": home.port })
}

fn send_job(c: Contender, mock: &Mock, accounts: &[Account], plan: &Plan) -> Value {
    json!({
        "scenario": "send",
        "require_cryptg": true,
        "dc": job_dc(mock),
        "accounts": job_accounts(c, mock, accounts),
        "send": {
            "concurrency": plan.concurrency,
            "secs": plan.send_secs,
            "latency_sends": plan.latency_sends,
            "text": TEXT,
        },
    })
}

fn scale_job(c: Contender, mock: &Mock, accounts: &[Account], plan: &Plan) -> Value {
    json!({
        "scenario": "scale",
        "require_cryptg": true,
        "dc": job_dc(mock),
        "accounts": job_accounts(c, mock, accounts),
        "scale": {
            // Bounded, as a careful client restoring many sessions would (and within the
            // mock's accept backlog).
            "connect_concurrency": 500,
            "settle_secs": plan.settle_secs,
            "timeout_secs": 600,
        },
    })
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn record_send(
    report: &mut Report,
    c: Contender,
    run: &peers::DriverRun,
    plan: &Plan,
) -> anyhow::Result<()> {
    let result = &run.result;
    let throughput = result["throughput"].as_array().context("no throughput")?;
    for entry in throughput {
        let concurrency = entry["concurrency"].as_u64().context("concurrency")? as usize;
        let sent = entry["sent"].as_f64().context("sent")?;
        let secs = entry["secs"].as_f64().context("secs")?;
        let errors = entry["errors"].as_u64().unwrap_or(0);
        if errors > 0 {
            report.errors.push(format!(
                "{}: {errors} failed sends at {concurrency} in flight",
                c.label()
            ));
        }
        if sent == 0.0 {
            bail!(
                "{}: no send succeeded at {concurrency} in flight",
                c.label()
            );
        }
        report.add(Figure::send_rate(concurrency), c, sent / secs);
        // Who had the CPU meanwhile: on this shared 2-core machine, wall-clock rates move with
        // other people's builds, sends per second of the client's own CPU much less.
        let (start, end) = (
            run.phase(&format!("send.{concurrency}.start"))?,
            run.phase(&format!("send.{concurrency}.end"))?,
        );
        let wall = end.at.saturating_sub(start.at);
        if let Some(client) = CpuUse::between(start.client_cpu, end.client_cpu, wall) {
            if client.busy_pct > 0.0 {
                let cpu_secs = wall.as_secs_f64() * client.busy_pct / 100.0;
                report.add(Figure::send_rate_per_cpu(concurrency), c, sent / cpu_secs);
            }
            report.add(
                Figure::cpu(concurrency, "client", "busy"),
                c,
                client.busy_pct,
            );
            report.add(
                Figure::cpu(concurrency, "client", "waiting"),
                c,
                client.waiting_pct,
            );
        }
        // telegate: the HTTP load generator (this process's threads) has its own CPU figure.
        if let (Some(a), Some(b)) = (
            start.event["http_cpu"].as_f64(),
            end.event["http_cpu"].as_f64(),
        ) {
            report.add_store(
                Figure::telegate_http_cpu(concurrency),
                (b - a) / wall.as_secs_f64() * 100.0,
            );
        }
        if let Some(mock) = CpuUse::between(start.mock_cpu, end.mock_cpu, wall) {
            report.add(
                Figure::cpu(concurrency, "mock DC", "busy"),
                c,
                mock.busy_pct,
            );
            report.add(
                Figure::cpu(concurrency, "mock DC", "waiting"),
                c,
                mock.waiting_pct,
            );
        }
    }
    let mut latencies: Vec<f64> = result["latency_ms"]
        .as_array()
        .context("no latency_ms")?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    if latencies.len() != plan.latency_sends {
        bail!(
            "{}: {} latency samples, expected {}",
            c.label(),
            latencies.len(),
            plan.latency_sends
        );
    }
    latencies.sort_by(f64::total_cmp);
    report.add(Figure::latency("p50"), c, percentile(&latencies, 0.50));
    report.add(Figure::latency("p99"), c, percentile(&latencies, 0.99));
    Ok(())
}

fn record_scale(
    report: &mut Report,
    c: Contender,
    n: usize,
    run: &peers::DriverRun,
) -> anyhow::Result<()> {
    let baseline = run.phase("baseline")?;
    let connected = run.phase("connected")?;
    let idle = run.phase("idle")?;
    let accounts = run.result["accounts"].as_u64().unwrap_or(0) as usize;
    if accounts != n {
        bail!("{}: {accounts} accounts connected, expected {n}", c.label());
    }
    let per_client_kib = idle.rss_kib.saturating_sub(baseline.rss_kib) as f64 / n as f64;
    report.add(Figure::rss_per_account(n), c, per_client_kib);
    report.add(Figure::rss_total(n), c, idle.rss_kib as f64 / 1024.0);
    report.add(
        Figure::connect_secs(n),
        c,
        connected.event["secs"]
            .as_f64()
            .context("connected phase without secs")?,
    );
    report.add(Figure::startup_secs(n), c, connected.at.as_secs_f64());
    Ok(())
}

/// telegate's scale figures: RSS of the serve process that imported the accounts (over its
/// own empty baseline), start-up of a second process over the same database.
fn record_telegate_scale(report: &mut Report, n: usize, run: &telegate::ScaleRun) {
    let c = Contender::Telegate;
    let per = |kib: u64| kib.saturating_sub(run.baseline_kib) as f64 / n as f64;
    report.add(Figure::rss_per_account(n), c, per(run.idle_kib));
    report.add(Figure::rss_total(n), c, run.idle_kib as f64 / 1024.0);
    report.add(Figure::connect_secs(n), c, run.restore_connect_secs);
    report.add(Figure::startup_secs(n), c, run.startup_secs);
    report.add_store(Figure::telegate_import_secs(n), run.import_secs);
    report.add_store(Figure::telegate_rss_connected(n), per(run.connected_kib));
    report.add_store(
        Figure::telegate_rss_restarted(n),
        per(run.restarted_idle_kib),
    );
    report.add_store(
        Figure::telegate_rss_baseline(n),
        run.baseline_kib as f64 / 1024.0,
    );
}
