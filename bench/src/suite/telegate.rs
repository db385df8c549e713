//! telegate itself, measured through its HTTP API (`telegate serve`), as its users meet it.
//!
//! The binary is the one built beside this one (or `--telegate-bin`). Each job starts a fresh
//! `telegate serve` on a free loopback port against the suite's mock DC (`--mock-dc`), with a
//! fresh SQLite data directory (a temp dir beside the job's log), a random master key (`TELEGATE_MASTER_KEY`) and an admin token
//! (`TELEGATE_BOOTSTRAP_TOKEN`), every other setting at its default. The accounts go in through
//! the real interface: `POST /v1/sessions/import` with each account's pre-shared key as a
//! Telethon `StringSession`, then the suite waits until `GET /v1/accounts` shows them all
//! `connected`. The load comes from this process over HTTP/1.1 keep-alive (a reqwest pool on a
//! tokio runtime of its own, threads `bench-http`), so the HTTP costs are in the figures.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use serde_json::{json, Value};

use super::mock::{self, Account, Mock};
use super::peers::{DriverRun, Phase};
use crate::stats::{self, ThreadTimes};

pub enum Availability {
    Available(PathBuf),
    Unavailable(String),
}

/// Finds the `telegate` binary (given, or beside this one, built with the same profile when the
/// suite runs under cargo) and asks it for `serve`.
pub fn detect(given: Option<&Path>) -> Availability {
    let binary = match given {
        Some(path) => path.to_path_buf(),
        None => match beside_this_binary() {
            Ok(path) => path,
            Err(reason) => return Availability::Unavailable(reason),
        },
    };
    let serve = Command::new(&binary)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match serve {
        Ok(status) if status.success() => Availability::Available(binary),
        Ok(_) => Availability::Unavailable(format!(
            "not available on this build: `{} serve` does not exist yet",
            binary.display()
        )),
        Err(e) => Availability::Unavailable(format!("cannot run {}: {e}", binary.display())),
    }
}

fn beside_this_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("no directory for this binary")?;
    let binary = dir.join("telegate");
    // Under `cargo run`, build it with the same profile (a no-op when up to date): `cargo run`
    // builds only the binary it runs, and a stale telegate would be measured otherwise.
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "telegate"]);
        if release {
            build.arg("--release");
        }
        eprintln!("building the telegate binary ({})", dir.display());
        let _ = build.stdin(Stdio::null()).status();
    }
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!(
            "not available on this build: no telegate binary at {}",
            binary.display()
        ))
    }
}

/// Thread name of the HTTP load generator's runtime.
pub const HTTP_THREAD: &str = "bench-http";

/// The parameters of a send job (the same as the peers' `send` job section).
pub struct SendPlan<'a> {
    pub concurrency: &'a [usize],
    pub secs: f64,
    pub latency_sends: usize,
    pub text: &'a str,
}

/// What a scale job found.
pub struct ScaleRun {
    /// VmRSS of the fresh process with its empty database, listening.
    pub baseline_kib: u64,
    /// VmRSS once every imported account is connected, then after `settle`.
    pub connected_kib: u64,
    pub idle_kib: u64,
    /// Import (HTTP) of every account until all connected, in the first process.
    pub import_secs: f64,
    /// The restart over the same data directory: process spawn to all accounts connected, and
    /// from listening to all connected (the runtime's restore loop as seen from outside).
    pub startup_secs: f64,
    pub restore_connect_secs: f64,
    /// VmRSS of the restarted process, all accounts connected and idle.
    pub restarted_idle_kib: u64,
}

/// One driver of telegate: the binary, a runtime for the HTTP client, and where logs go.
pub struct Telegate {
    binary: PathBuf,
    runtime: tokio::runtime::Runtime,
}

/// A running `telegate serve`.
struct Serve {
    child: Child,
    pid: u32,
    base: String,
    spawned: Instant,
    listening: Duration,
}

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Everything a serve process needs besides its mock: data dir, secrets, log.
struct Setup {
    data_dir: tempfile::TempDir,
    master_key: String,
    token: String,
    log: PathBuf,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    b
}

impl Setup {
    fn new(log: &Path) -> anyhow::Result<Self> {
        Ok(Setup {
            // Beside the job's log (under the cache dir, on disk: not a tmpfs /tmp, which would
            // make SQLite's fsyncs free); deleted with the job.
            data_dir: tempfile::Builder::new()
                .prefix("telegate-data-")
                .tempdir_in(log.parent().unwrap_or(Path::new(".")))
                .context("a data directory for telegate serve")?,
            master_key: base64::engine::general_purpose::STANDARD.encode(random_bytes::<32>()),
            token: format!("bench-{}", hex::encode(random_bytes::<16>())),
            log: log.to_path_buf(),
        })
    }
}

impl Telegate {
    pub fn new(binary: PathBuf) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(HTTP_THREAD)
            .enable_all()
            .build()?;
        Ok(Telegate { binary, runtime })
    }

    /// Starts `telegate serve` on a free port and waits for its "listening" line.
    fn serve(&self, mock: &Mock, setup: &Setup) -> anyhow::Result<Serve> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&setup.log)?;
        let spawned = Instant::now();
        let mut child = Command::new(&self.binary)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--mock-dc"])
            .arg(&mock.info.control_url)
            .arg("--data-dir")
            .arg(setup.data_dir.path())
            .env("TELEGATE_MASTER_KEY", &setup.master_key)
            .env("TELEGATE_BOOTSTRAP_TOKEN", &setup.token)
            .env_remove("TELEGATE_CONFIG")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .spawn()
            .with_context(|| format!("start {} serve", self.binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut log = log;
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if let Some(base) = line.strip_prefix("telegate listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(base.trim().to_string());
                    }
                }
            }
        });
        let mut serve = Serve {
            child,
            pid,
            base: String::new(),
            spawned,
            listening: Duration::ZERO,
        };
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base) => {
                serve.listening = spawned.elapsed();
                serve.base = base;
                Ok(serve)
            }
            Err(_) => bail!(
                "telegate serve did not say it was listening within 120 s\n--- last lines of {} ---\n{}",
                setup.log.display(),
                tail(&setup.log)
            ),
        }
    }

    /// SIGTERM and wait: telegate drains, persists update state and closes the database.
    fn stop(&self, mut serve: Serve) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &serve.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = serve.child.try_wait()? {
                if !status.success() {
                    bail!("telegate serve exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("telegate serve did not exit within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The send scenario: throughput at each concurrency, then sequential latency. Returns the
    /// figures as a driver run (phases with the telegate process's CPU), as the peers' are.
    pub fn send(
        &self,
        mock: &Mock,
        accounts: &[Account],
        plan: &SendPlan,
        log: &Path,
    ) -> anyhow::Result<DriverRun> {
        let setup = Setup::new(log)?;
        let serve = self.serve(mock, &setup)?;
        let result = self
            .runtime
            .block_on(send_job(&serve, &setup, mock, accounts, plan));
        let stopped = self.stop(serve);
        let run = result.map_err(|e| {
            anyhow::anyhow!(
                "{e:#}\n--- last lines of {} ---\n{}",
                log.display(),
                tail(log)
            )
        })?;
        stopped?;
        Ok(run)
    }

    /// The scale scenario at `accounts.len()` accounts: RSS of one serve process before and
    /// after importing them (all connected, idle), then start-up over the same database.
    pub fn scale(
        &self,
        mock: &Mock,
        accounts: &[Account],
        settle: Duration,
        log: &Path,
    ) -> anyhow::Result<ScaleRun> {
        let setup = Setup::new(log)?;
        let run = (|| {
            let serve = self.serve(mock, &setup)?;
            let http = Http::new(&serve.base, &setup.token)?;
            // Empty database, listening, runtime up: what the accounts are measured against.
            std::thread::sleep(settle);
            let baseline_kib = super::peers::rss_kib(serve.pid)?;
            let t = Instant::now();
            let ids = self
                .runtime
                .block_on(import_all(&http, mock, accounts, 32))?;
            self.runtime
                .block_on(wait_connected(&http, ids.len(), Duration::from_secs(900)))?;
            let import_secs = t.elapsed().as_secs_f64();
            let connected_kib = super::peers::rss_kib(serve.pid)?;
            std::thread::sleep(settle);
            let idle_kib = super::peers::rss_kib(serve.pid)?;
            self.stop(serve)?;

            // Start-up from the stored database.
            let serve = self.serve(mock, &setup)?;
            let http = Http::new(&serve.base, &setup.token)?;
            self.runtime
                .block_on(wait_connected(&http, ids.len(), Duration::from_secs(900)))?;
            let startup = serve.spawned.elapsed();
            let restore_connect_secs = (startup - serve.listening).as_secs_f64();
            std::thread::sleep(settle);
            let restarted_idle_kib = super::peers::rss_kib(serve.pid)?;
            self.stop(serve)?;
            anyhow::Ok(ScaleRun {
                baseline_kib,
                connected_kib,
                idle_kib,
                import_secs,
                startup_secs: startup.as_secs_f64(),
                restore_connect_secs,
                restarted_idle_kib,
            })
        })();
        run.map_err(|e| {
            anyhow::anyhow!(
                "{e:#}\n--- last lines of {} ---\n{}",
                log.display(),
                tail(log)
            )
        })
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A keep-alive HTTP/1.1 client of one serve process, with its admin token.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
    auth: String,
}

/// Idempotency keys unique across the whole run (each request gets its own).
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

fn idempotency_key() -> String {
    format!("bench-{}", NEXT_KEY.fetch_add(1, Ordering::Relaxed))
}

impl Http {
    fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Http {
            client: reqwest::Client::builder()
                .http1_only()
                .tcp_nodelay(true)
                .pool_idle_timeout(Duration::from_secs(300))
                .timeout(Duration::from_secs(60))
                .build()?,
            base: base.trim_end_matches('/').to_string(),
            auth: format!("Bearer {token}"),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header("authorization", &self.auth);
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = request.send().await?;
        let status = answer.status();
        let bytes = answer.bytes().await?;
        if !status.is_success() {
            bail!(
                "{method} {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// `POST /v1/accounts/{account}/chats/{peer}/messages` with an `Idempotency-Key`.
    async fn send(&self, account: i64, peer: &str, body: &[u8]) -> anyhow::Result<()> {
        let answer = self
            .client
            .post(format!(
                "{}/v1/accounts/{account}/chats/{peer}/messages",
                self.base
            ))
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .header("idempotency-key", idempotency_key())
            .body(body.to_vec())
            .send()
            .await?;
        let status = answer.status();
        let bytes = answer.bytes().await?;
        if status != reqwest::StatusCode::CREATED {
            bail!("send: HTTP {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(())
    }

    /// Accounts by id with their state, from `GET /v1/accounts` (every page).
    async fn account_states(&self) -> anyhow::Result<BTreeMap<i64, String>> {
        let mut states = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/accounts?limit=500&cursor={c}"),
                None => "/v1/accounts?limit=500".to_string(),
            };
            let page = self.call(reqwest::Method::GET, &path, None).await?;
            for item in page["items"]
                .as_array()
                .context("GET /v1/accounts: no items")?
            {
                states.insert(
                    item["id"].as_i64().context("account without id")?,
                    item["state"].as_str().unwrap_or("?").to_string(),
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(states),
            }
        }
    }

    /// The `telegate_accounts{state="connected"}` gauge of `/metrics` (no token, in memory).
    async fn connected_gauge(&self) -> anyhow::Result<f64> {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("telegate_accounts{state=\"connected\"}"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0))
    }
}

/// Imports every account as a Telethon `StringSession`, `parallel` requests at once; their ids
/// in the order of `accounts`.
async fn import_all(
    http: &Http,
    mock: &Mock,
    accounts: &[Account],
    parallel: usize,
) -> anyhow::Result<Vec<i64>> {
    let sessions: Arc<Vec<String>> = Arc::new(
        accounts
            .iter()
            .map(|a| mock::telethon_session(mock.home(), &a.key))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..parallel.clamp(1, sessions.len().max(1)) {
        let (http, sessions, next) = (http.clone(), sessions.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(session) = sessions.get(i) else {
                    break;
                };
                let answer = http
                    .call(
                        reqwest::Method::POST,
                        "/v1/sessions/import",
                        Some(&json!({ "format": "telethon", "session": session, "label": format!("bench{i}") })),
                    )
                    .await
                    .context("POST /v1/sessions/import")?;
                mine.push((i, answer["id"].as_i64().context("import answered no id")?));
            }
            anyhow::Ok(mine)
        }));
    }
    let mut ids = Vec::with_capacity(sessions.len());
    for worker in workers {
        ids.extend(worker.await.context("import task panicked")??);
    }
    ids.sort_by_key(|(i, _)| *i);
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// Waits until `n` accounts are `connected`. Polls the in-memory `/metrics` gauge (listing
/// 10,000 accounts reads them all from the database, too heavy to poll during a start-up
/// being timed) and confirms with `GET /v1/accounts`; should the gauge undercount (it may miss
/// transitions made before the server installed its recorder), polls the listing itself.
async fn wait_connected(http: &Http, n: usize, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last_gauge = -1.0;
    let mut last_change = Instant::now();
    loop {
        let gauge = http.connected_gauge().await.unwrap_or(0.0);
        if gauge != last_gauge {
            last_gauge = gauge;
            last_change = Instant::now();
        }
        let stalled = last_change.elapsed() > Duration::from_secs(3);
        if gauge >= n as f64 || stalled {
            let states = http.account_states().await?;
            let connected = states.values().filter(|s| *s == "connected").count();
            if connected >= n {
                return Ok(());
            }
            let failed: Vec<String> = states
                .iter()
                .filter(|(_, s)| *s == "failed" || *s == "logged_out" || *s == "banned")
                .take(5)
                .map(|(id, s)| format!("{id}: {s}"))
                .collect();
            if !failed.is_empty() {
                bail!("accounts will not connect: {}", failed.join(", "));
            }
            last_change = Instant::now();
        }
        if Instant::now() > deadline {
            let states = http.account_states().await.unwrap_or_default();
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for s in states.values() {
                *counts.entry(s).or_default() += 1;
            }
            bail!("{n} accounts not connected within {timeout:?}: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn phase(name: &str, pid: u32, spawned: Instant) -> anyhow::Result<Phase> {
    Ok(Phase {
        name: name.to_string(),
        rss_kib: super::peers::rss_kib(pid)?,
        at: spawned.elapsed(),
        event: json!({}),
        client_cpu: stats::process_times(pid),
        mock_cpu: stats::threads_times(stats::SERVER_THREAD),
    })
}

/// The load generator's own CPU (this process's `bench-http` threads).
pub fn http_times() -> Option<ThreadTimes> {
    stats::threads_times(HTTP_THREAD)
}

async fn send_job(
    serve: &Serve,
    setup: &Setup,
    mock: &Mock,
    accounts: &[Account],
    plan: &SendPlan<'_>,
) -> anyhow::Result<DriverRun> {
    let http = Http::new(&serve.base, &setup.token)?;
    let ids = import_all(&http, mock, accounts, 8).await?;
    wait_connected(&http, ids.len(), Duration::from_secs(300)).await?;
    let targets: Vec<(i64, String)> = ids
        .iter()
        .zip(accounts)
        .map(|(id, a)| {
            let peer = a.peer.as_deref().context("send account without a peer")?;
            Ok((*id, format!("@{peer}")))
        })
        .collect::<anyhow::Result<_>>()?;
    let body = serde_json::to_vec(&json!({ "text": plan.text }))?;
    // Warm-up: one send per account (resolves and caches the peer, as the peers resolve theirs
    // before the timed part).
    for (id, peer) in &targets {
        http.send(*id, peer, &body).await.context("warm-up send")?;
    }

    let targets = Arc::new(targets);
    let body: Arc<[u8]> = body.into();
    let mut phases = Vec::new();
    let mut throughput = Vec::new();
    for &concurrency in plan.concurrency {
        let mut start_phase = phase(
            &format!("send.{concurrency}.start"),
            serve.pid,
            serve.spawned,
        )?;
        start_phase.event = json!({ "http_cpu": http_times().map(|t| t.on_cpu.as_secs_f64()) });
        phases.push(start_phase);
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(plan.secs);
        let counter = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (http, targets, body, counter, sent, errors) = (
                http.clone(),
                targets.clone(),
                body.clone(),
                counter.clone(),
                sent.clone(),
                errors.clone(),
            );
            workers.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = counter.fetch_add(1, Ordering::Relaxed) % targets.len();
                    let (id, peer) = &targets[i];
                    match http.send(*id, peer, &body).await {
                        Ok(()) if Instant::now() <= deadline => {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(()) => {}
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("telegate: send failed: {e:#}");
                            }
                        }
                    }
                }
            }));
        }
        for worker in workers {
            worker.await.context("send task panicked")?;
        }
        let mut end_phase = phase(&format!("send.{concurrency}.end"), serve.pid, serve.spawned)?;
        end_phase.event = json!({ "http_cpu": http_times().map(|t| t.on_cpu.as_secs_f64()) });
        phases.push(end_phase);
        throughput.push(json!({
            "concurrency": concurrency,
            "sent": sent.load(Ordering::Relaxed),
            "errors": errors.load(Ordering::Relaxed),
            "secs": (deadline - start).as_secs_f64(),
        }));
    }

    let (id, peer) = &targets[0];
    let mut latencies = Vec::with_capacity(plan.latency_sends);
    for _ in 0..plan.latency_sends {
        let t0 = Instant::now();
        http.send(*id, peer, &body).await.context("latency send")?;
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(DriverRun {
        result: json!({
            "event": "result",
            "client": "telegate",
            "throughput": throughput,
            "latency_ms": latencies,
        }),
        phases,
    })
}

/// What one transfer job measured (MB = 10^6 bytes).
pub struct TransferRun {
    pub upload_mb_s: f64,
    pub download_mb_s: f64,
}

impl Telegate {
    /// Upload (tus: create, one streamed PATCH, then `POST …/messages` with the upload) and
    /// download (`parallel` ranged GETs of `…/messages/{id}/media`) of `data` by one account,
    /// to its Saved Messages; the downloaded bytes must equal the uploaded ones.
    pub fn transfer(
        &self,
        mock: &Mock,
        account: &Account,
        data: bytes::Bytes,
        parallel: usize,
        log: &Path,
    ) -> anyhow::Result<TransferRun> {
        let setup = Setup::new(log)?;
        let serve = self.serve(mock, &setup)?;
        let result = self.runtime.block_on(async {
            let http = Http::new(&serve.base, &setup.token)?;
            let ids = import_all(&http, mock, std::slice::from_ref(account), 1).await?;
            wait_connected(&http, 1, Duration::from_secs(120)).await?;
            transfer_job(&http, ids[0], data, parallel).await
        });
        let stopped = self.stop(serve);
        let run = result.map_err(|e| {
            anyhow::anyhow!(
                "{e:#}\n--- last lines of {} ---\n{}",
                log.display(),
                tail(log)
            )
        })?;
        stopped?;
        Ok(run)
    }
}

async fn transfer_job(
    http: &Http,
    account: i64,
    data: bytes::Bytes,
    parallel: usize,
) -> anyhow::Result<TransferRun> {
    let size = data.len();
    let started = Instant::now();
    let created = http
        .client
        .post(format!("{}/v1/accounts/{account}/uploads", http.base))
        .header("authorization", &http.auth)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", size.to_string())
        .header(
            "upload-metadata",
            format!(
                "filename {},filetype {}",
                base64::engine::general_purpose::STANDARD.encode("bench.bin"),
                base64::engine::general_purpose::STANDARD.encode("application/octet-stream")
            ),
        )
        .send()
        .await?;
    let status = created.status();
    let created: Value = serde_json::from_slice(&created.bytes().await?).unwrap_or(Value::Null);
    if status != reqwest::StatusCode::CREATED {
        bail!("POST uploads: HTTP {status}: {created}");
    }
    let upload = created["id"]
        .as_str()
        .context("POST uploads answered no id")?
        .to_string();
    let patched = http
        .client
        .patch(format!(
            "{}/v1/accounts/{account}/uploads/{upload}",
            http.base
        ))
        .header("authorization", &http.auth)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .timeout(Duration::from_secs(3600))
        .body(data.clone())
        .send()
        .await?;
    let status = patched.status();
    let offset = patched
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if !status.is_success() || offset != Some(size) {
        bail!(
            "PATCH upload: HTTP {status}, Upload-Offset {offset:?} of {size}: {}",
            String::from_utf8_lossy(&patched.bytes().await.unwrap_or_default())
        );
    }
    let sent = http
        .client
        .post(format!(
            "{}/v1/accounts/{account}/chats/me/messages",
            http.base
        ))
        .header("authorization", &http.auth)
        .header("idempotency-key", idempotency_key())
        .json(&json!({ "text": "bench file", "media": { "upload": upload } }))
        .timeout(Duration::from_secs(3600))
        .send()
        .await?;
    let status = sent.status();
    let sent: Value = serde_json::from_slice(&sent.bytes().await?).unwrap_or(Value::Null);
    if status != reqwest::StatusCode::CREATED {
        bail!("send the upload: HTTP {status}: {sent}");
    }
    let upload_secs = started.elapsed().as_secs_f64();
    let message = sent["id"].as_i64().context("the send answered no id")?;

    // Download: `parallel` ranges at once, in chunks of at most 8 MiB.
    let url = format!(
        "{}/v1/accounts/{account}/chats/me/messages/{message}/media",
        http.base
    );
    let chunk = size.div_ceil(parallel.max(1)).clamp(1, 8 << 20);
    let ranges: Vec<(usize, usize)> = (0..size)
        .step_by(chunk)
        .map(|s| (s, (s + chunk).min(size)))
        .collect();
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let ranges = Arc::new(ranges);
    let mut workers = Vec::new();
    for _ in 0..parallel.clamp(1, ranges.len().max(1)) {
        let (http, url, ranges, next) = (http.clone(), url.clone(), ranges.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(start, end)) = ranges.get(i) else {
                    break;
                };
                let answer = http
                    .client
                    .get(&url)
                    .header("authorization", &http.auth)
                    .header("range", format!("bytes={start}-{}", end - 1))
                    .timeout(Duration::from_secs(3600))
                    .send()
                    .await?;
                let status = answer.status();
                let bytes = answer.bytes().await?;
                if status != reqwest::StatusCode::PARTIAL_CONTENT || bytes.len() != end - start {
                    bail!(
                        "GET media bytes={start}-{}: HTTP {status}, {} bytes",
                        end - 1,
                        bytes.len()
                    );
                }
                mine.push((start, bytes));
            }
            anyhow::Ok(mine)
        }));
    }
    let mut got = Vec::new();
    for worker in workers {
        got.extend(worker.await.context("download task panicked")??);
    }
    let download_secs = started.elapsed().as_secs_f64();
    for (start, bytes) in &got {
        if data[*start..*start + bytes.len()] != bytes[..] {
            bail!("downloaded bytes at {start} differ from the uploaded ones");
        }
    }
    Ok(TransferRun {
        upload_mb_s: size as f64 / 1e6 / upload_secs,
        download_mb_s: size as f64 / 1e6 / download_secs,
    })
}
