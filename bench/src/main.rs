//! `telegate-bench`: throughput and latency of the in-process mock DC, next to the cost of its
//! crypto alone on the same machine in the same run.
//!
//! `telegate-bench mockdc` starts the mock DC on its own tokio runtime (its worker threads are
//! named `mockdc-server`, `--server-threads` of them), drives it with lean raw MTProto clients on
//! another runtime (`bench-client`, `--client-threads`), and reports each figure as the median
//! of `--runs` runs of `--secs` seconds, with min and max. Runs of the different scenarios are
//! interleaved (run 1 of everything, then run 2...) so a noisy neighbour hurts all of them alike.
//!
//! The `send-message` scenarios create users in the mock's world in-process, give every
//! connection a key already logged in as one of them, and measure `messages.sendMessage`.

mod client;
mod stats;
mod suite;

/// jemalloc, as in the shipped `telegate` binary (crates/cli): the `peer-grammers` contender runs
/// in this binary, so the suite measures grammers with the allocator telegate ships
/// (`peer-grammers-system-alloc` is the same driver on glibc's malloc).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use sha2::{Digest, Sha256};
use telegate_mockdc::server::{MockDc, MockDcConfig};
use telegate_mockdc::world::NewUser;
use tokio::sync::watch;

use client::{Client, RunStats, Stop, Workload};
use stats::{
    quantile_us, this_thread_times, CpuMeter, CpuUse, Summary, CLIENT_THREAD, SERVER_THREAD,
};

#[derive(Parser)]
#[command(name = "telegate-bench", about = "Benchmarks for telegate")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encrypted RPC round trips and payload throughput through the in-process mock DC.
    Mockdc(MockdcArgs),
    /// telegate vs GramJS, Telethon+cryptg and bare grammers on one mock DC (bench/README.md).
    Suite(Box<suite::SuiteArgs>),
    /// The bare-grammers driver process the suite spawns (not for direct use).
    #[command(hide = true)]
    PeerGrammers { job_file: std::path::PathBuf },
}

#[derive(Parser, Clone)]
struct MockdcArgs {
    /// Runs per figure; each figure is reported as the median (with min/max) over the runs.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Worker threads of the mock DC's own runtime. 0: share the clients' runtime.
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// Worker threads of the clients' runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Requests kept in flight on the single pipelined ping connection.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Connections of the many-connections ping figure (each with its own pre-shared key).
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Most requests per packet (container). With `--window 64`, 16 keeps four packets in flight
    /// so client and server work in parallel instead of taking turns.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Pings in flight per connection in the many-connections figure.
    #[arg(long, default_value_t = 8)]
    connection_window: usize,
    /// Payload of each upload request, in KiB.
    #[arg(long, default_value_t = 512)]
    payload_kib: usize,
    /// Connections of the multi-connection upload figure.
    #[arg(long, default_value_t = 4)]
    upload_connections: usize,
    /// Upload requests in flight per connection (2: the client encrypts the next request while
    /// the server decrypts the current one).
    #[arg(long, default_value_t = 2)]
    upload_window: usize,
    /// Sender connections of the send-message figures, each logged in as its own user and
    /// sending to its own recipient (send-message-online: plus one connection per recipient).
    #[arg(long, default_value_t = 100)]
    send_connections: usize,
    /// messages.sendMessage calls in flight per sender connection.
    #[arg(long, default_value_t = 8)]
    send_window: usize,
    /// send-message-online: a recipient acknowledges pushed updates (along with a ping) once
    /// this many wait for their ack.
    #[arg(long, default_value_t = 32)]
    ack_every: u64,
    /// Only these scenarios (comma-separated); all by default.
    #[arg(long, alias = "scenario", value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Print the report as JSON on stdout (the table then goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Scenario {
    /// Pings on one connection, `--window` in flight.
    PingPipelined,
    /// Pings on one connection, one at a time (latency).
    PingSequential,
    /// Pings across `--connections` connections.
    PingConnections,
    /// 512 KiB uploads on one connection.
    Upload,
    /// 512 KiB uploads on `--upload-connections` connections.
    UploadConnections,
    /// messages.sendMessage from `--send-connections` logged-in users, recipients offline.
    SendMessage,
    /// The same with every recipient online: its own connection reads and acks the pushes.
    SendMessageOnline,
    /// AES-256-IGE decrypt + SHA-256 of 512 KiB buffers, one thread, no server.
    Ceiling,
}

fn main() -> anyhow::Result<()> {
    let args = match Cli::parse().command {
        Command::Mockdc(args) => args,
        Command::Suite(args) => return suite::run(*args),
        Command::PeerGrammers { job_file } => return suite::grammers_peer::main(&job_file),
    };
    if args.runs == 0 || args.secs <= 0.0 {
        bail!("--runs and --secs must be positive");
    }
    let report = mockdc(&args)?;
    let table = report.table();
    if args.json {
        eprint!("{table}");
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{table}");
    }
    Ok(())
}

/// One connection and the requests it sends.
struct Slot {
    client: Client,
    work: Workload,
}

/// A scenario's connections, between runs.
struct Group {
    scenario: Scenario,
    slots: Vec<Slot>,
    /// Connections that only listen for pushed updates (send-message-online's recipients).
    listeners: Vec<Slot>,
    window: usize,
    latency: bool,
}

/// A sender and the recipient it writes to, both users of the mock's world.
struct Pair {
    sender: i64,
    recipient: i64,
    /// The access hash the sender sees for the recipient.
    access_hash: i64,
    /// Their home DC (both users get the world's default one).
    dc_id: i32,
}

/// Short, like most chat messages.
const MESSAGE_TEXT: &str = "hello from telegate-bench";
/// The issue's target for messages.sendMessage on one server core.
const SEND_TARGET_PER_SEC: f64 = 20_000.0;

/// Creates `count` sender/recipient pairs in the mock's world; `first` numbers them so phones
/// and usernames stay unique across calls.
fn create_pairs(dc: &MockDc, first: usize, count: usize) -> anyhow::Result<Vec<Pair>> {
    let dc_count = dc.ready_info().dcs.len() as i32;
    let mut world = dc.cluster().world();
    let mut user = |role: &str, index: usize| -> anyhow::Result<(i64, i32)> {
        let user = world
            .create_user(
                NewUser {
                    // 11 digits; 1 for senders, 2 for recipients.
                    phone: format!("99{}{index:08}", if role == "s" { 1 } else { 2 }),
                    first_name: format!("Bench {role}{index}"),
                    username: Some(format!("bench_{role}{index}")),
                    ..Default::default()
                },
                dc_count,
            )
            .map_err(|e| anyhow::anyhow!("create user {role}{index}: {e}"))?;
        Ok((user.id, user.dc_id))
    };
    let mut pairs = Vec::with_capacity(count);
    for index in first..first + count {
        let (sender, dc_id) = user("s", index)?;
        let (recipient, _) = user("r", index)?;
        pairs.push(Pair {
            sender,
            recipient,
            access_hash: 0,
            dc_id,
        });
    }
    for pair in &mut pairs {
        pair.access_hash = world.access_hash(pair.sender, pair.recipient);
    }
    Ok(pairs)
}

/// Per-run values of one reported figure.
#[derive(Default)]
struct Series {
    values: Vec<f64>,
    /// The value per second of CPU the measured side actually got (the server's threads; the
    /// ceiling's own thread): steadier than wall-clock rates on a shared machine.
    per_cpu_second: Vec<f64>,
    server_busy: Vec<f64>,
    server_wait: Vec<f64>,
    client_busy: Vec<f64>,
    client_wait: Vec<f64>,
}

/// What one run of a figure measured.
struct Sample {
    value: f64,
    per_cpu_second: Option<f64>,
    server: Option<CpuUse>,
    client: Option<CpuUse>,
}

impl Sample {
    fn plain(value: f64) -> Self {
        Self {
            value,
            per_cpu_second: None,
            server: None,
            client: None,
        }
    }

    /// A rate through the server, with the CPU both sides used meanwhile.
    fn through_server(value: f64, (server, client): (Option<CpuUse>, Option<CpuUse>)) -> Self {
        Self {
            value,
            per_cpu_second: server
                .filter(|s| s.busy_pct > 0.0)
                .map(|s| value / (s.busy_pct / 100.0)),
            server,
            client,
        }
    }
}

#[derive(serde::Serialize)]
struct Figure {
    key: String,
    what: String,
    unit: String,
    #[serde(flatten)]
    summary: Summary,
    runs: Vec<f64>,
    /// The figure per second of CPU used by the server's threads (the ceiling: by its thread).
    per_cpu_second: Option<Summary>,
    /// CPU of the mock DC's threads and of the clients' threads during the runs, % of one core:
    /// on a CPU, and runnable but waiting for one (other processes on the machine).
    server_cpu_pct: Option<Summary>,
    server_wait_pct: Option<Summary>,
    client_cpu_pct: Option<Summary>,
    client_wait_pct: Option<Summary>,
}

#[derive(serde::Serialize)]
struct Ratio {
    name: String,
    value: f64,
}

#[derive(serde::Serialize)]
struct Report {
    machine_cores: usize,
    runs: usize,
    secs_per_run: f64,
    server_threads: usize,
    client_threads: usize,
    payload_bytes: usize,
    figures: Vec<Figure>,
    /// Median upload MB/s over median ceiling MB/s, by wall clock and per CPU-second.
    ratios: Vec<Ratio>,
    notes: Vec<String>,
}

fn mockdc(args: &MockdcArgs) -> anyhow::Result<Report> {
    let wants = |s: Scenario| args.only.is_empty() || args.only.contains(&s);
    let payload = args.payload_kib * 1024;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()?;
    let server_rt = if args.server_threads > 0 {
        Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.server_threads)
                .thread_name(SERVER_THREAD)
                .enable_all()
                .build()?,
        )
    } else {
        None
    };
    // Two DCs: users get the world's default home DC, 2, as on Telegram; pings and uploads go
    // to DC 1.
    let config = MockDcConfig {
        dcs: 2,
        ..Default::default()
    };
    // MockDc::start spawns its listeners on the runtime it is started from.
    let dc = server_rt
        .as_ref()
        .unwrap_or(&client_rt)
        .block_on(MockDc::start(config))
        .context("start the mock DC")?;
    let info = &dc.ready_info().dcs[0];
    let addr = SocketAddr::from((info.host, info.port));
    eprintln!(
        "mock DC on {addr}; server runtime: {}; client runtime: {} thread(s); {cores} cores",
        match args.server_threads {
            0 => "shared with the clients".to_string(),
            n => format!("{n} thread(s)"),
        },
        args.client_threads.max(1),
    );

    // Each send-message figure gets users of its own: the offline figure's recipients must
    // have no connection, and the online figure's recipients stay connected between its runs.
    let mut pairs_of = Vec::new();
    for (i, scenario) in [Scenario::SendMessage, Scenario::SendMessageOnline]
        .into_iter()
        .enumerate()
    {
        if wants(scenario) {
            let pairs = create_pairs(&dc, i * args.send_connections, args.send_connections)?;
            pairs_of.push((scenario, pairs));
        }
    }
    let dc_addr = |dc_id: i32| {
        dc.ready_info()
            .dcs
            .iter()
            .find(|d| d.id == dc_id)
            .map(|d| SocketAddr::from((d.host, d.port)))
            .with_context(|| format!("no DC {dc_id} in the mock"))
    };

    let mut notes = Vec::new();
    let result = client_rt.block_on(async {
        let mut groups = Vec::new();
        let mut plan = vec![
            (Scenario::PingPipelined, 1, args.window, false),
            (Scenario::PingSequential, 1, 1, true),
            (Scenario::PingConnections, args.connections, args.connection_window, false),
            (Scenario::Upload, 1, args.upload_window, false),
            (Scenario::UploadConnections, args.upload_connections, args.upload_window, false),
            (Scenario::SendMessage, args.send_connections, args.send_window, false),
            (Scenario::SendMessageOnline, args.send_connections, args.send_window, false),
        ];
        plan.retain(|p| wants(p.0));
        for (scenario, connections, window, latency) in plan {
            let mut slots = Vec::with_capacity(connections);
            let mut listeners = Vec::new();
            let pairs = pairs_of.iter().find(|(s, _)| *s == scenario).map(|(_, p)| p.as_slice());
            if let Some(pairs) = pairs {
                for pair in pairs {
                    let key = dc.register_authorized_key(pair.dc_id, pair.sender);
                    let client = Client::connect(dc_addr(pair.dc_id)?, key).await?;
                    let work = Workload::send_message(pair.recipient, pair.access_hash, MESSAGE_TEXT);
                    slots.push(Slot { client, work });
                    if scenario == Scenario::SendMessageOnline {
                        let key = dc.register_authorized_key(pair.dc_id, pair.recipient);
                        let client = Client::connect(dc_addr(pair.dc_id)?, key).await?;
                        listeners.push(Slot { client, work: Workload::listen() });
                    }
                }
            } else {
                for _ in 0..connections {
                    let client = Client::connect(addr, dc.register_auth_key(info.id)).await?;
                    let work = match scenario {
                        Scenario::Upload | Scenario::UploadConnections => Workload::save_file_part(payload),
                        _ => Workload::ping(),
                    };
                    slots.push(Slot { client, work });
                }
            }
            // Warm up: the salt dance (bad_server_salt, get_future_salts) and one real request.
            // Recipients go first, so that their sessions are online (subscribed to their
            // updates) before anything is sent to them.
            let warm = || Stop {
                deadline: Instant::now() + Duration::from_secs(30),
                max_completions: Some(2),
            };
            if !listeners.is_empty() {
                let (warmed, stats) = run_group(listeners, 1, 1, warm(), false).await?;
                if stats.completed < 2 * warmed.len() as u64 || stats.rpc_errors > 0 {
                    bail!(
                        "{scenario:?}: recipients' warm-up got {} answers, {} errors (first: {:?})",
                        stats.completed,
                        stats.rpc_errors,
                        stats.first_error
                    );
                }
                listeners = warmed;
            }
            let (warmed, stats) = run_group(slots, 1, 1, warm(), false).await?;
            if stats.completed < 2 * warmed.len() as u64 {
                bail!("{scenario:?}: warm-up got {} answers", stats.completed);
            }
            if pairs.is_some() && (stats.rpc_errors > 0 || stats.unexpected > 0) {
                bail!(
                    "{scenario:?}: warm-up got {} rpc_errors (first: {:?}) and {} unexpected results (first constructor: {:08x?})",
                    stats.rpc_errors,
                    stats.first_error,
                    stats.unexpected,
                    stats.first_unexpected
                );
            }
            if matches!(scenario, Scenario::Upload | Scenario::UploadConnections) && notes.is_empty() {
                notes.push(match &stats.first_error {
                    Some(error) => format!(
                        "upload.saveFilePart is answered with rpc_error {error}; the server still \
                         receives, reassembles, decrypts and authenticates (msg_key SHA-256) every \
                         payload byte before dispatching the call"
                    ),
                    None => "upload.saveFilePart is answered with a result (not an rpc_error)".into(),
                });
            }
            groups.push(Group {
                scenario,
                slots: warmed,
                listeners,
                window,
                latency,
            });
        }

        let mut series: Vec<(Scenario, &'static str, Series)> = Vec::new();
        let mut record = |scenario, key: &'static str, sample: Sample| {
            let index = match series.iter().position(|(s, k, _)| *s == scenario && *k == key) {
                Some(i) => i,
                None => {
                    series.push((scenario, key, Series::default()));
                    series.len() - 1
                }
            };
            let s = &mut series[index].2;
            s.values.push(sample.value);
            s.per_cpu_second.extend(sample.per_cpu_second);
            s.server_busy.extend(sample.server.map(|c| c.busy_pct));
            s.server_wait.extend(sample.server.map(|c| c.waiting_pct));
            s.client_busy.extend(sample.client.map(|c| c.busy_pct));
            s.client_wait.extend(sample.client.map(|c| c.waiting_pct));
        };
        // Successful sendMessage answers counted over all runs, per scenario.
        let mut sent_ok: Vec<(Scenario, u64)> = Vec::new();
        for run in 1..=args.runs {
            eprintln!("run {run}/{}", args.runs);
            for group in &mut groups {
                let slots = std::mem::take(&mut group.slots);
                let start = Instant::now();
                let stop = Stop {
                    deadline: start + Duration::from_secs_f64(args.secs),
                    max_completions: None,
                };
                let meter = CpuMeter::start();
                let (done, listening) = watch::channel(false);
                let listen_tasks = start_listening(
                    std::mem::take(&mut group.listeners),
                    args.ack_every.max(1),
                    stop.deadline,
                    listening,
                );
                let sent = run_group(slots, group.window, args.batch.max(1), stop, group.latency).await;
                let _ = done.send(true);
                let (listeners, heard) = finish_listening(listen_tasks).await?;
                let (slots, mut stats) = sent?;
                let cpu = meter.stop();
                group.slots = slots;
                group.listeners = listeners;
                let rate = stats.completed as f64 / args.secs;
                match group.scenario {
                    Scenario::PingPipelined | Scenario::PingConnections => {
                        record(group.scenario, "rps", Sample::through_server(rate, cpu));
                    }
                    Scenario::PingSequential => {
                        record(group.scenario, "rps", Sample::through_server(rate, cpu));
                        let p50 = quantile_us(&mut stats.latencies, 0.50);
                        let p99 = quantile_us(&mut stats.latencies, 0.99);
                        record(group.scenario, "p50", Sample::plain(p50));
                        record(group.scenario, "p99", Sample::plain(p99));
                    }
                    Scenario::Upload | Scenario::UploadConnections => {
                        let mbps = rate * payload as f64 / 1e6;
                        record(group.scenario, "mbps", Sample::through_server(mbps, cpu));
                    }
                    Scenario::SendMessage | Scenario::SendMessageOnline => {
                        let ok = stats.completed - stats.rpc_errors - stats.unexpected;
                        match sent_ok.iter_mut().find(|(s, _)| *s == group.scenario) {
                            Some((_, total)) => *total += ok,
                            None => sent_ok.push((group.scenario, ok)),
                        }
                        let rps = ok as f64 / args.secs;
                        record(group.scenario, "rps", Sample::through_server(rps, cpu));
                        let errors = stats.rpc_errors + stats.unexpected;
                        record(group.scenario, "errors", Sample::plain(errors as f64));
                        if group.scenario == Scenario::SendMessageOnline {
                            let updates = heard.updates as f64 / args.secs;
                            record(group.scenario, "updates", Sample::through_server(updates, cpu));
                        }
                        if errors > 0 {
                            eprintln!(
                                "  {:?}: {} rpc_errors (first: {:?}), {} unexpected results (first constructor: {:08x?})",
                                group.scenario,
                                stats.rpc_errors,
                                stats.first_error,
                                stats.unexpected,
                                stats.first_unexpected
                            );
                        }
                    }
                    Scenario::Ceiling => unreachable!("not a client scenario"),
                }
                eprintln!(
                    "  {:<18} {:>10.1} req/s  server cpu {} (waiting {})  client cpu {} (waiting {}){}",
                    format!("{:?}", group.scenario),
                    rate,
                    pct(cpu.0.map(|c| c.busy_pct)),
                    pct(cpu.0.map(|c| c.waiting_pct)),
                    pct(cpu.1.map(|c| c.busy_pct)),
                    pct(cpu.1.map(|c| c.waiting_pct)),
                    if stats.resent > 0 {
                        format!("  ({} re-sent)", stats.resent)
                    } else {
                        String::new()
                    }
                );
            }
            if wants(Scenario::Ceiling) {
                let (mbps, per_cpu_second) = ceiling(payload, Duration::from_secs_f64(args.secs));
                eprintln!(
                    "  {:<18} {mbps:>10.1} MB/s  ({} MB per CPU-second)",
                    "Ceiling",
                    per_cpu_second.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
                );
                record(
                    Scenario::Ceiling,
                    "mbps",
                    Sample {
                        per_cpu_second,
                        ..Sample::plain(mbps)
                    },
                );
            }
        }
        // The answers were not made up: every call counted left a message in its recipient's
        // box (warm-up and drained calls add a few more).
        for (scenario, counted) in &sent_ok {
            let Some((_, pairs)) = pairs_of.iter().find(|(s, _)| s == scenario) else { continue };
            let world = dc.cluster().world();
            let stored: usize = pairs
                .iter()
                .filter_map(|p| world.mailbox(p.recipient))
                .map(|b| b.messages.len())
                .sum();
            if (stored as u64) < *counted {
                bail!("{scenario:?}: {counted} messages counted as sent but only {stored} stored");
            }
            notes.push(format!(
                "{}: {counted} sendMessage answers counted over the runs; the recipients' boxes \
                 hold {stored} messages (warm-up and drained calls included)",
                scenario_name(*scenario)
            ));
        }
        let clients: Vec<Slot> = groups
            .into_iter()
            .flat_map(|g| g.slots.into_iter().chain(g.listeners))
            .collect();
        drop(clients);
        anyhow::Ok(series)
    });
    let shutdown = dc.shutdown();
    server_rt.as_ref().unwrap_or(&client_rt).block_on(shutdown);
    let series = result?;

    let mut figures = Vec::new();
    for (scenario, key, s) in &series {
        let (what, unit) = describe(*scenario, key, args, payload);
        let cpu = |v: &Vec<f64>| (!v.is_empty()).then(|| Summary::of(v));
        figures.push(Figure {
            key: format!("{}.{key}", scenario_name(*scenario)),
            what,
            unit: unit.into(),
            summary: Summary::of(&s.values),
            runs: s.values.clone(),
            per_cpu_second: cpu(&s.per_cpu_second),
            server_cpu_pct: cpu(&s.server_busy),
            server_wait_pct: cpu(&s.server_wait),
            client_cpu_pct: cpu(&s.client_busy),
            client_wait_pct: cpu(&s.client_wait),
        });
    }
    let find = |key: &str| figures.iter().find(|f| f.key == key);
    let mut ratios = Vec::new();
    if let Some(ceiling) = find("ceiling.mbps") {
        for key in ["upload.mbps", "upload-connections.mbps"] {
            let Some(server) = find(key) else { continue };
            ratios.push(Ratio {
                name: format!("{key} / ceiling.mbps (wall clock)"),
                value: server.summary.median / ceiling.summary.median,
            });
            if let (Some(s), Some(c)) = (server.per_cpu_second, ceiling.per_cpu_second) {
                ratios.push(Ratio {
                    name: format!(
                        "{key} / ceiling.mbps (per CPU-second: server threads vs ceiling thread)"
                    ),
                    value: s.median / c.median,
                });
            }
        }
    }
    for key in ["send-message.rps", "send-message-online.rps"] {
        let Some(f) = find(key) else { continue };
        let verdict = |v: f64| {
            if v >= SEND_TARGET_PER_SEC {
                "met"
            } else {
                "NOT met"
            }
        };
        let per_cpu = f
            .per_cpu_second
            .map(|p| {
                format!(
                    "{:.0} per server CPU-second: {}",
                    p.median,
                    verdict(p.median)
                )
            })
            .unwrap_or_else(|| "per server CPU-second: unknown".into());
        notes.push(format!(
            "{key}: target {SEND_TARGET_PER_SEC:.0}/s on one server core; wall clock {:.0}/s: {}; {per_cpu}{}",
            f.summary.median,
            verdict(f.summary.median),
            if args.server_threads == 1 { "" } else { " (server threads is not 1: not the one-core figure)" }
        ));
    }
    if args.server_threads == 0 {
        notes.push(
            "--server-threads 0: server and clients share one runtime; CPU is not split".into(),
        );
    }
    notes.push(format!(
        "clients run in the same process on the same {cores} cores: each upload costs the client an \
         AES-256-IGE encrypt + SHA-256 of the same size as the server's decrypt + SHA-256"
    ));
    Ok(Report {
        machine_cores: cores,
        runs: args.runs,
        secs_per_run: args.secs,
        server_threads: args.server_threads,
        client_threads: args.client_threads.max(1),
        payload_bytes: payload,
        figures,
        ratios,
        notes,
    })
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}%")).unwrap_or_else(|| "-".into())
}

fn scenario_name(s: Scenario) -> String {
    s.to_possible_value()
        .expect("no skipped variants")
        .get_name()
        .to_string()
}

fn describe(
    scenario: Scenario,
    key: &str,
    args: &MockdcArgs,
    payload: usize,
) -> (String, &'static str) {
    let kib = payload / 1024;
    match (scenario, key) {
        (Scenario::PingPipelined, _) => (
            format!(
                "ping round trips, 1 connection, {} in flight ({}/packet)",
                args.window,
                args.batch.min(args.window)
            ),
            "req/s",
        ),
        (Scenario::PingSequential, "rps") => (
            "ping round trips, 1 connection, 1 in flight".into(),
            "req/s",
        ),
        (Scenario::PingSequential, "p50") => ("ping latency p50, 1 in flight".into(), "us"),
        (Scenario::PingSequential, _) => ("ping latency p99, 1 in flight".into(), "us"),
        (Scenario::PingConnections, _) => (
            format!(
                "ping round trips, {} connections x {} in flight",
                args.connections, args.connection_window
            ),
            "req/s",
        ),
        (Scenario::Upload, _) => (
            format!(
                "{kib} KiB saveFilePart payload, 1 connection, {} in flight",
                args.upload_window
            ),
            "MB/s",
        ),
        (Scenario::UploadConnections, _) => (
            format!(
                "{kib} KiB saveFilePart payload, {} connections x {} in flight",
                args.upload_connections, args.upload_window
            ),
            "MB/s",
        ),
        (Scenario::SendMessage | Scenario::SendMessageOnline, key) => {
            let recipients = if scenario == Scenario::SendMessage {
                "recipients offline"
            } else {
                "recipients online"
            };
            let (n, w) = (args.send_connections, args.send_window);
            match key {
                "rps" => (
                    format!("sendMessage, {n} conns x {w} in flight, {recipients}"),
                    "req/s",
                ),
                "updates" => (
                    format!("updates pushed, {n} conns x {w} in flight, {recipients}"),
                    "upd/s",
                ),
                _ => (
                    format!("sendMessage errors/run, {n} conns x {w}, {recipients}"),
                    "calls",
                ),
            }
        }
        (Scenario::Ceiling, _) => (
            format!("ceiling: AES-256-IGE decrypt + SHA-256 of {kib} KiB, 1 thread"),
            "MB/s",
        ),
    }
}

/// Runs every slot of a group concurrently (one task each, on the clients' runtime) and adds up
/// what they did. The slots come back for the next run.
async fn run_group(
    slots: Vec<Slot>,
    window: usize,
    batch: usize,
    stop: Stop,
    latency: bool,
) -> anyhow::Result<(Vec<Slot>, RunStats)> {
    let tasks: Vec<_> = slots
        .into_iter()
        .map(|mut slot| {
            tokio::spawn(async move {
                let stats = slot
                    .client
                    .run(&mut slot.work, window, batch, stop, latency)
                    .await;
                (slot, stats)
            })
        })
        .collect();
    let mut slots = Vec::with_capacity(tasks.len());
    let mut total = RunStats::default();
    for task in tasks {
        let (slot, stats) = task.await.context("client task panicked")?;
        let stats = stats?;
        total.completed += stats.completed;
        total.rpc_errors += stats.rpc_errors;
        total.unexpected += stats.unexpected;
        total.updates += stats.updates;
        total.resent += stats.resent;
        if total.first_error.is_none() {
            total.first_error = stats.first_error;
        }
        if total.first_unexpected.is_none() {
            total.first_unexpected = stats.first_unexpected;
        }
        total.latencies.extend(stats.latencies);
        slots.push(slot);
    }
    Ok((slots, total))
}

/// Starts every listener of a group on its own task until `done`.
fn start_listening(
    listeners: Vec<Slot>,
    ack_every: u64,
    deadline: Instant,
    done: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<(Slot, anyhow::Result<RunStats>)>> {
    listeners
        .into_iter()
        .map(|mut slot| {
            let done = done.clone();
            tokio::spawn(async move {
                let stats = slot
                    .client
                    .listen(&mut slot.work, ack_every, deadline, done)
                    .await;
                (slot, stats)
            })
        })
        .collect()
}

/// Waits for the listeners (once `done` was sent) and adds up what they heard.
async fn finish_listening(
    tasks: Vec<tokio::task::JoinHandle<(Slot, anyhow::Result<RunStats>)>>,
) -> anyhow::Result<(Vec<Slot>, RunStats)> {
    let mut slots = Vec::with_capacity(tasks.len());
    let mut total = RunStats::default();
    for task in tasks {
        let (slot, stats) = task.await.context("listener task panicked")?;
        total.updates += stats?.updates;
        slots.push(slot);
    }
    Ok((slots, total))
}

/// MB/s (10^6 bytes) of AES-256-IGE decryption plus SHA-256 over `len`-byte buffers on this
/// thread: what the server must at least do to every received encrypted byte. Also MB per
/// second of CPU this thread got.
fn ceiling(len: usize, duration: Duration) -> (f64, Option<f64>) {
    let mut buffer = vec![0u8; len];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut buffer);
    let key: [u8; 32] = rand::random();
    let iv: [u8; 32] = rand::random();
    let before = this_thread_times();
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < duration {
        grammers_crypto::aes::ige_decrypt(&mut buffer, &key, &iv);
        std::hint::black_box(Sha256::digest(&buffer));
        rounds += 1;
    }
    let wall = start.elapsed();
    let megabytes = (rounds * len as u64) as f64 / 1e6;
    let cpu = CpuUse::between(before, this_thread_times(), wall);
    let per_cpu_second = cpu
        .filter(|c| c.busy_pct > 0.0)
        .map(|c| megabytes / (wall.as_secs_f64() * c.busy_pct / 100.0));
    (megabytes / wall.as_secs_f64(), per_cpu_second)
}

impl Report {
    fn table(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\ntelegate mock DC benchmark: median of {} runs x {}s; {} cores; server threads {}, client threads {}",
            self.runs,
            self.secs_per_run,
            self.machine_cores,
            match self.server_threads {
                0 => "shared".into(),
                n => n.to_string(),
            },
            self.client_threads
        );
        let _ = writeln!(
            out,
            "{:<58} {:>10} {:>10} {:>10} {:<6} {:>11} {:>9} {:>9}",
            "figure", "median", "min", "max", "unit", "per CPU-s", "srv cpu", "cli cpu"
        );
        for f in &self.figures {
            let cpu = |busy: &Option<Summary>, wait: &Option<Summary>| match (busy, wait) {
                (Some(b), Some(w)) => format!("{:.0}/{:.0}%", b.median, w.median),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<58} {:>10.1} {:>10.1} {:>10.1} {:<6} {:>11} {:>9} {:>9}",
                f.what,
                f.summary.median,
                f.summary.min,
                f.summary.max,
                f.unit,
                f.per_cpu_second
                    .map(|s| format!("{:.1}", s.median))
                    .unwrap_or_default(),
                cpu(&f.server_cpu_pct, &f.server_wait_pct),
                cpu(&f.client_cpu_pct, &f.client_wait_pct)
            );
        }
        let _ = writeln!(
            out,
            "per CPU-s: the median divided by the CPU the server's threads got (ceiling: its own thread's).\n\
             srv/cli cpu: busy/waiting % of one core (waiting = runnable but another process had the CPU)."
        );
        for ratio in &self.ratios {
            let _ = writeln!(out, "ratio {}: {:.2}", ratio.name, ratio.value);
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}
