//! The "bare grammers" contender: grammers-client 0.11 (what telegate's runtime is built on)
//! called directly, one `Client` + `SenderPool` per account, all in one process — the floor of
//! what the gateway adds. It runs as `telegate-bench peer-grammers JOB_FILE`, a child process like
//! the Telethon and GramJS drivers, so its RSS is its own, and speaks their protocol
//! (bench/README.md): JSON lines on stdout, a line on stdin to go on after each phase.
//!
//! Settings: grammers' defaults (`ConnectionParams::default()`, a multi-thread tokio runtime with
//! one worker per core). Its update stream is not consumed (the receiver is dropped, so
//! grammers stops forwarding updates), since the benchmark never reads updates.

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use grammers_client::Client;
use grammers_mtsender::SenderPool;
use grammers_session::storages::MemorySession;
use grammers_session::types::{DcOption, PeerRef};
use grammers_session::SessionData;
use grammers_tl_types as tl;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct Job {
    pub scenario: String,
    pub dc: JobDc,
    pub accounts: Vec<JobAccount>,
    #[serde(default)]
    pub send: Option<SendParams>,
    #[serde(default)]
    pub scale: Option<ScaleParams>,
}

#[derive(Deserialize, Clone)]
pub struct JobDc {
    pub id: i32,
    pub host: Ipv4Addr,
    pub port: u16,
}

#[derive(Deserialize, Clone)]
pub struct JobAccount {
    pub auth_key: String,
    #[serde(default)]
    pub peer: Option<String>,
}

#[derive(Deserialize)]
pub struct SendParams {
    pub concurrency: Vec<usize>,
    pub secs: f64,
    pub latency_sends: usize,
    pub text: String,
}

#[derive(Deserialize)]
pub struct ScaleParams {
    pub connect_concurrency: usize,
    pub settle_secs: f64,
    pub timeout_secs: f64,
}

fn emit(value: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Tells the harness where we are and waits for its go-ahead.
fn phase(name: &str, extra: Value) -> anyhow::Result<()> {
    let mut event = json!({ "event": "phase", "phase": name });
    if let (Some(e), Value::Object(x)) = (event.as_object_mut(), extra) {
        e.extend(x);
    }
    emit(event);
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("harness closed stdin at phase {name}");
    }
    Ok(())
}

/// Entry point of `telegate-bench peer-grammers JOB_FILE`.
pub fn main(job_file: &std::path::Path) -> anyhow::Result<()> {
    let job: Job = serde_json::from_slice(&std::fs::read(job_file)?)
        .with_context(|| format!("read job {}", job_file.display()))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async {
        match job.scenario.as_str() {
            "send" => send(&job).await,
            "scale" => scale(&job).await,
            other => bail!("unknown scenario {other:?}"),
        }
    });
    match result {
        Ok(mut value) => {
            value["event"] = json!("result");
            value["client"] = json!("grammers");
            value["version"] = json!("0.11.0");
            emit(value);
            // Skip tearing down thousands of pools: the process ends here anyway.
            std::process::exit(0);
        }
        Err(e) => {
            emit(json!({ "event": "error", "step": "driver", "error": format!("{e:#}") }));
            std::process::exit(1);
        }
    }
}

struct Connected {
    client: Client,
    _pool: tokio::task::JoinHandle<()>,
}

async fn connect(dc: &JobDc, account: &JobAccount) -> anyhow::Result<Connected> {
    let key: [u8; 256] = hex::decode(&account.auth_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .context("auth_key is not 512 hex characters")?;
    let mut data = SessionData {
        home_dc: dc.id,
        ..SessionData::default()
    };
    // Only the mock's DC: no test may reach the internet.
    data.dc_options.clear();
    let ipv4 = SocketAddrV4::new(dc.host, dc.port);
    data.dc_options.insert(
        dc.id,
        DcOption {
            id: dc.id,
            ipv4,
            ipv6: SocketAddrV6::new(dc.host.to_ipv6_mapped(), dc.port, 0, 0),
            auth_key: Some(key),
        },
    );
    let SenderPool { runner, handle, .. } = SenderPool::new(Arc::new(MemorySession::from(data)), 1);
    let client = Client::new(handle);
    let pool = tokio::spawn(runner.run());
    // One round trip, as every contender does: the account is then connected and receiving.
    client
        .invoke(&tl::functions::updates::GetState {})
        .await
        .context("updates.getState")?;
    Ok(Connected {
        client,
        _pool: pool,
    })
}

/// Connects every account with at most `limit` connecting at once.
async fn connect_all(job: &Job, limit: usize) -> anyhow::Result<Vec<Connected>> {
    let job_dc = Arc::new(job.dc.clone());
    let keys = Arc::new(job.accounts.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..limit.clamp(1, keys.len().max(1)) {
        let (dc, keys, next) = (job_dc.clone(), keys.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(account) = keys.get(i) else { break };
                mine.push((i, connect(&dc, account).await?));
            }
            anyhow::Ok(mine)
        }));
    }
    let mut all = Vec::with_capacity(keys.len());
    for worker in workers {
        all.extend(worker.await.context("connect task panicked")??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, c)| c).collect())
}

async fn send(job: &Job) -> anyhow::Result<Value> {
    let params = job.send.as_ref().context("send job without send params")?;
    let clients = connect_all(job, 64).await?;
    let mut peers: Vec<PeerRef> = Vec::with_capacity(clients.len());
    for (c, account) in clients.iter().zip(&job.accounts) {
        let username = account
            .peer
            .as_deref()
            .context("send account without a peer")?;
        let peer = c
            .client
            .resolve_username(username)
            .await?
            .with_context(|| format!("@{username} not found"))?;
        let peer = peer
            .to_ref()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_context(|| format!("@{username} has no access hash"))?;
        peers.push(peer);
    }
    for (c, peer) in clients.iter().zip(&peers) {
        c.client
            .send_message(*peer, params.text.as_str())
            .await
            .context("warm-up send")?;
    }

    let clients: Arc<Vec<Client>> = Arc::new(clients.iter().map(|c| c.client.clone()).collect());
    let peers = Arc::new(peers);
    let mut throughput = Vec::new();
    for &concurrency in &params.concurrency {
        tokio::task::block_in_place(|| phase(&format!("send.{concurrency}.start"), json!({})))?;
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(params.secs);
        let counter = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (clients, peers, counter, sent, errors) = (
                clients.clone(),
                peers.clone(),
                counter.clone(),
                sent.clone(),
                errors.clone(),
            );
            let text = params.text.clone();
            workers.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = counter.fetch_add(1, Ordering::Relaxed) % clients.len();
                    match clients[i].send_message(peers[i], text.as_str()).await {
                        Ok(_) if Instant::now() <= deadline => {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("send failed: {e}");
                            }
                        }
                    }
                }
            }));
        }
        for worker in workers {
            worker.await.context("send task panicked")?;
        }
        tokio::task::block_in_place(|| phase(&format!("send.{concurrency}.end"), json!({})))?;
        throughput.push(json!({
            "concurrency": concurrency,
            "sent": sent.load(Ordering::Relaxed),
            "errors": errors.load(Ordering::Relaxed),
            "secs": (deadline - start).as_secs_f64(),
        }));
    }

    let mut latencies = Vec::with_capacity(params.latency_sends);
    for _ in 0..params.latency_sends {
        let t0 = Instant::now();
        clients[0]
            .send_message(peers[0], params.text.as_str())
            .await
            .context("latency send")?;
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(json!({ "throughput": throughput, "latency_ms": latencies }))
}

async fn scale(job: &Job) -> anyhow::Result<Value> {
    let params = job
        .scale
        .as_ref()
        .context("scale job without scale params")?;
    tokio::task::block_in_place(|| phase("baseline", json!({})))?;
    let start = Instant::now();
    let clients = tokio::time::timeout(
        Duration::from_secs_f64(params.timeout_secs),
        connect_all(job, params.connect_concurrency),
    )
    .await
    .context("connecting timed out")??;
    let connect_secs = start.elapsed().as_secs_f64();
    tokio::task::block_in_place(|| phase("connected", json!({ "secs": connect_secs })))?;
    tokio::time::sleep(Duration::from_secs_f64(params.settle_secs)).await;
    tokio::task::block_in_place(|| phase("idle", json!({})))?;
    Ok(json!({ "connect_secs": connect_secs, "accounts": clients.len() }))
}
