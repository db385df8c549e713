//! Bench: sessions restored per second at start-up, on SQLite and PostgreSQL.
//!
//! Why: issue 5 asks for the start-up restore rate at 10,000 accounts, each with auth keys on 2
//! DCs and 1,000 cached peers. The data is generated at run time through the store's own API
//! (keys sealed by the vault), then three start-ups are timed per mode and the median reported:
//!
//! - `bulk`: [`Store::load_all_sessions`] (a few bulk queries) + building every [`StoreSession`];
//! - `per-account`: [`StoreSession::load`] per account, 16 at a time (what a runtime restoring
//!   accounts concurrently with a bound does), peers lazy;
//! - `per-account+peers`: the same, preloading all 1,000 peers of each account.
//!
//! ```text
//! cargo run --release -p telegate-store --example restore_bench -- \
//!     [--accounts 10000] [--peers 1000] [--runs 3] [--concurrency 16] [--backend both|sqlite|postgres]
//! ```
//! PostgreSQL: `TELEGATE_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! the bench uses its own schema and drops it at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grammers_session::types::{ChannelState, UpdateState, UpdatesState};
use telegate_store::*;

struct Args {
    accounts: usize,
    peers: usize,
    runs: usize,
    concurrency: usize,
    backends: Vec<Backend>,
}

fn parse_args() -> Args {
    let mut a = Args {
        accounts: 10_000,
        peers: 1_000,
        runs: 3,
        concurrency: 16,
        backends: vec![Backend::Sqlite, Backend::Postgres],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--accounts" => a.accounts = val().parse().unwrap(),
            "--peers" => a.peers = val().parse().unwrap(),
            "--runs" => a.runs = val().parse().unwrap(),
            "--concurrency" => a.concurrency = val().parse().unwrap(),
            "--backend" => {
                a.backends = match val().as_str() {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    _ => vec![Backend::Sqlite, Backend::Postgres],
                }
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// xorshift64*: deterministic, fast, good enough for fake ids and hashes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn auth_key(rng: &mut Rng) -> AuthKey {
    let mut k = [0u8; 256];
    for c in k.chunks_mut(8) {
        c.copy_from_slice(&rng.next().to_le_bytes());
    }
    AuthKey::new(&k)
}

async fn populate(store: Arc<dyn Store>, args: &Args) -> Duration {
    let t = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let store = store.clone();
        let next = next.clone();
        let (n, peers) = (args.accounts, args.peers);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w + 1));
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let acc = store
                    .create_account(NewAccount::user(format!("+1555{i:07}")), "bench")
                    .await
                    .unwrap();
                for (dc_id, port) in [(2, 443), (4, 443)] {
                    store
                        .put_dc_session(
                            acc.id,
                            &DcSession {
                                dc_id,
                                ipv4: Some(
                                    format!("149.154.167.{}:{port}", 40 + dc_id)
                                        .parse()
                                        .unwrap(),
                                ),
                                ipv6: None,
                                auth_key: Some(auth_key(&mut rng)),
                                revoked_at: None,
                            },
                        )
                        .await
                        .unwrap();
                }
                let self_id = 5_000_000_000 + i as i64;
                let mut batch = Vec::with_capacity(peers);
                for j in 0..peers {
                    let r = rng.next();
                    let (peer_id, kind) = match j % 10 {
                        0 => (
                            -1_000_000_000_000 - (r % 900_000_000_000) as i64,
                            PeerKind::Channel,
                        ),
                        1 => (-((r % 900_000_000) as i64) - 1, PeerKind::Chat),
                        _ if j == 2 => (self_id, PeerKind::User),
                        _ => ((r % 7_000_000_000) as i64 + 1, PeerKind::User),
                    };
                    batch.push(CachedPeer {
                        peer_id,
                        kind,
                        access_hash: (kind != PeerKind::Chat).then_some(rng.next() as i64),
                        is_bot: (kind == PeerKind::User).then_some(r.is_multiple_of(17)),
                        is_self: peer_id == self_id,
                        channel_kind: (kind == PeerKind::Channel).then_some(2),
                        username: r.is_multiple_of(3).then(|| format!("user{r:x}")),
                        phone: None,
                        display_name: Some(format!("Peer {j}")),
                    });
                }
                store.upsert_peers(acc.id, &batch).await.unwrap();
                store
                    .set_update_state(
                        acc.id,
                        UpdateState::All(UpdatesState {
                            pts: 1000 + i as i32,
                            qts: 7,
                            date: 1_700_000_000,
                            seq: 3,
                            channels: (0..5)
                                .map(|c| ChannelState {
                                    id: 100 + c,
                                    pts: 50,
                                })
                                .collect(),
                        }),
                    )
                    .await
                    .unwrap();
                if (i + 1).is_multiple_of(1000) {
                    eprintln!("  populated {} accounts ({:.0?})", i + 1, t.elapsed());
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    t.elapsed()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bulk,
    PerAccount,
    PerAccountPeers,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Bulk => "bulk",
            Mode::PerAccount => "per-account",
            Mode::PerAccountPeers => "per-account+peers",
        }
    }
}

/// One start-up: returns (open time, restore time, sessions, peers in memory).
async fn startup(
    open: &dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>>>>,
    mode: Mode,
    concurrency: usize,
) -> (Duration, Duration, usize, usize) {
    let t_open = Instant::now();
    let store = open().await;
    let open_time = t_open.elapsed();
    let t = Instant::now();
    let sessions: Vec<StoreSession> = match mode {
        Mode::Bulk => store
            .load_all_sessions()
            .await
            .unwrap()
            .into_iter()
            .map(|s| StoreSession::from_snapshot(store.clone(), s, SessionOptions::default()))
            .collect(),
        Mode::PerAccount | Mode::PerAccountPeers => {
            let ids: Vec<i64> = store
                .accounts()
                .await
                .unwrap()
                .iter()
                .map(|a| a.id)
                .collect();
            let opts = SessionOptions {
                peer_cache_capacity: 4096,
                preload: if mode == Mode::PerAccountPeers {
                    PeerPreload::All
                } else {
                    PeerPreload::Lazy
                },
            };
            let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
            let mut tasks = Vec::with_capacity(ids.len());
            for id in ids {
                let store = store.clone();
                let sem = sem.clone();
                tasks.push(tokio::spawn(async move {
                    let _permit = sem.acquire().await.unwrap();
                    StoreSession::load(store, id, opts).await.unwrap()
                }));
            }
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }
    };
    let elapsed = t.elapsed();
    let peers = sessions.iter().map(|s| s.cached_peers()).sum();
    let n = sessions.len();
    drop(sessions);
    store.close().await;
    (open_time, elapsed, n, peers)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    // The master key lives in memory only; every simulated start-up re-opens with it.
    let master_bytes: Arc<Vec<u8>> = {
        let mut b = vec![0u8; 32];
        getrandom::fill(&mut b).unwrap();
        Arc::new(b)
    };
    println!(
        "restore_bench: {} accounts × 2 DC keys × {} peers, {} runs, concurrency {}",
        args.accounts, args.peers, args.runs, args.concurrency
    );
    let pg_url = std::env::var("TELEGATE_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    for backend in &args.backends {
        let dir = tempfile::tempdir().unwrap();
        let schema = format!("tg_bench_{}", std::process::id());
        let (url, pg_schema) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("bench.db").display()
                ),
                None,
            ),
            Backend::Postgres => (pg_url.clone(), Some(schema.clone())),
        };
        let mk = {
            let url = url.clone();
            let pg_schema = pg_schema.clone();
            let master_bytes = master_bytes.clone();
            move || {
                let mut o =
                    OpenOptions::new(url.clone(), MasterKey::from_bytes(&master_bytes).unwrap());
                o.pg_schema = pg_schema.clone();
                o.max_connections = 16;
                o
            }
        };
        let first = match SqlStore::open(mk()).await {
            Ok(s) => Arc::new(s) as Arc<dyn Store>,
            Err(e) => {
                println!("{backend:?}: skipped ({e})");
                continue;
            }
        };
        eprintln!("{backend:?}: populating…");
        let pop = populate(first.clone(), &args).await;
        let peers_total = args.accounts * args.peers;
        println!(
            "{backend:?}: populated in {:.1} s ({:.0} peer rows/s incl. accounts and sealed keys)",
            pop.as_secs_f64(),
            peers_total as f64 / pop.as_secs_f64()
        );
        first.close().await;
        drop(first);
        let open = move || {
            let o = mk();
            Box::pin(async move { Arc::new(SqlStore::open(o).await.unwrap()) as Arc<dyn Store> })
                as std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>>>>
        };
        for mode in [Mode::Bulk, Mode::PerAccount, Mode::PerAccountPeers] {
            let mut rates = Vec::new();
            let mut times = Vec::new();
            let mut opens = Vec::new();
            let mut last_peers = 0;
            for _ in 0..args.runs {
                let (o, t, n, peers) = startup(&open, mode, args.concurrency).await;
                assert_eq!(n, args.accounts);
                rates.push(n as f64 / t.as_secs_f64());
                times.push(t.as_secs_f64());
                opens.push(o.as_secs_f64() * 1000.0);
                last_peers = peers;
            }
            println!(
                "{backend:?} {:<18} median {:>9.0} sessions/s  (restore {:.3} s; runs {:?} s; open {:.0} ms; peers in memory {})",
                mode.name(),
                median(rates),
                median(times.clone()),
                times.iter().map(|t| (t * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
                median(opens),
                last_peers
            );
        }
        if let Some(schema) = pg_schema {
            if let Ok(pool) = sqlx::PgPool::connect(&pg_url).await {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        }
        if let Backend::Sqlite = backend {
            let size: u64 = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum();
            println!("Sqlite: database size {:.0} MiB", size as f64 / 1048576.0);
        }
    }
}
