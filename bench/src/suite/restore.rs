//! The restore scenario (issue 5): how fast telegate's store gives back every account's sealed
//! sessions at start-up, on SQLite and on PostgreSQL.
//!
//! Seeding happens once per run, through the store's own API (so every auth key is sealed by the
//! vault as in production): `--restore-accounts` accounts, each with auth keys on 2 DCs, its self
//! peer plus `--restore-peers` cached peers, and update state — into a fresh SQLite file under the
//! cache directory and a fresh PostgreSQL database `bench_<random>` (dropped at the end). Each
//! round then times one start-up per backend, as `telegate serve` does it: `telegate_store::open`
//! (pool, migrations check, key ring) and `Store::load_all_sessions` (every account's DC options
//! and auth keys, opened by the vault, update state and self peer; the peer cache stays lazy).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use grammers_session::types::{ChannelState, UpdateState, UpdatesState};
use sqlx::Connection;
use telegate_store::{
    AccountState, AuthKey, CachedPeer, DcSession, MasterKey, NewAccount, PeerKind, Store,
};

/// A seeded database.
pub struct Seeded {
    pub backend: &'static str,
    url: String,
    /// PostgreSQL: the server's admin URL and the database to drop at the end.
    drop: Option<(String, String)>,
    pub seed_secs: f64,
}

/// One timed start-up.
pub struct Restore {
    pub open_secs: f64,
    pub load_secs: f64,
    pub sessions: usize,
}

pub struct World {
    runtime: tokio::runtime::Runtime,
    master: Vec<u8>,
    pub accounts: usize,
    pub peers: usize,
    pub seeded: Vec<Seeded>,
}

/// xorshift64*: deterministic fake ids, hashes and keys.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn auth_key(&mut self) -> AuthKey {
        let mut k = [0u8; 256];
        for c in k.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        AuthKey::new(&k)
    }
}

fn master_key(bytes: &[u8]) -> anyhow::Result<MasterKey> {
    MasterKey::from_bytes(bytes).map_err(|e| anyhow::anyhow!("master key: {e}"))
}

impl World {
    /// Seeds every backend in `backends` ("sqlite", "postgres").
    pub fn seed(
        cache: &std::path::Path,
        backends: &[String],
        postgres_url: &str,
        accounts: usize,
        peers: usize,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut master = vec![0u8; 32];
        rand::fill(&mut master[..]);
        let mut world = World {
            runtime,
            master,
            accounts,
            peers,
            seeded: Vec::new(),
        };
        let tag = format!("{:08x}", rand::random::<u32>());
        for backend in backends {
            let (url, drop) = match backend.as_str() {
                "sqlite" => {
                    let dir = cache.join("restore");
                    std::fs::create_dir_all(&dir)?;
                    let path = dir.join(format!("bench_{tag}.db"));
                    (format!("sqlite://{}?mode=rwc", path.display()), None)
                }
                "postgres" => {
                    let admin = postgres_url.trim_end_matches('/').to_string();
                    let db = format!("bench_{tag}");
                    world
                        .runtime
                        .block_on(admin_sql(&admin, &format!("CREATE DATABASE {db}")))
                        .with_context(|| {
                            format!(
                                "PostgreSQL at {admin} (--restore-postgres-url; \
                                 --restore-backends sqlite skips it)"
                            )
                        })?;
                    (format!("{admin}/{db}"), Some((admin, db)))
                }
                other => bail!("unknown restore backend {other:?} (sqlite, postgres)"),
            };
            let name = if drop.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            };
            let mut seeded = Seeded {
                backend: name,
                url,
                drop,
                seed_secs: 0.0,
            };
            let t = Instant::now();
            let result = world.runtime.block_on(populate(
                &seeded.url,
                master_key(&world.master)?,
                accounts,
                peers,
            ));
            seeded.seed_secs = t.elapsed().as_secs_f64();
            world.seeded.push(seeded);
            result.with_context(|| format!("seeding {name}"))?;
            eprintln!(
                "restore: seeded {accounts} accounts x (2 DC keys, {peers} peers) into {name} in {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        Ok(world)
    }

    /// One start-up from the `i`-th seeded database.
    pub fn restore(&self, i: usize) -> anyhow::Result<Restore> {
        let seeded = &self.seeded[i];
        let key = master_key(&self.master)?;
        self.runtime.block_on(async {
            let t = Instant::now();
            let store = telegate_store::open(&seeded.url, key).await?;
            let open_secs = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let sessions = store.load_all_sessions().await?;
            let load_secs = t.elapsed().as_secs_f64();
            let keys = sessions
                .iter()
                .filter(|s| s.dcs.len() == 2 && s.dcs.iter().all(|d| d.auth_key.is_some()))
                .count();
            let n = sessions.len();
            drop(sessions);
            store.close().await;
            if n != self.accounts || keys != n {
                bail!(
                    "{}: {n} sessions restored ({keys} with both keys), expected {}",
                    seeded.backend,
                    self.accounts
                );
            }
            Ok(Restore {
                open_secs,
                load_secs,
                sessions: n,
            })
        })
    }

    /// Deletes the SQLite files and drops the PostgreSQL databases.
    pub fn cleanup(self) {
        for seeded in &self.seeded {
            match &seeded.drop {
                Some((admin, db)) => {
                    if let Err(e) = self.runtime.block_on(admin_sql(
                        admin,
                        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
                    )) {
                        eprintln!("restore: could not drop database {db}: {e:#}");
                    }
                }
                None => {
                    if let Some(path) = seeded
                        .url
                        .strip_prefix("sqlite://")
                        .and_then(|p| p.split('?').next())
                    {
                        for suffix in ["", "-wal", "-shm"] {
                            let _ = std::fs::remove_file(format!("{path}{suffix}"));
                        }
                    }
                }
            }
        }
    }
}

/// One administrative statement (CREATE/DROP DATABASE) on the server's `postgres` database.
async fn admin_sql(admin_url: &str, statement: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(&format!("{admin_url}/postgres")).await?;
    sqlx::raw_sql(statement).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Creates the accounts through the store's API, 8 at a time.
async fn populate(
    url: &str,
    master: MasterKey,
    accounts: usize,
    peers: usize,
) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = telegate_store::open(url, master).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let (store, next) = (store.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w + 1));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= accounts {
                    return Ok::<_, anyhow::Error>(());
                }
                seed_account(&*store, &mut rng, i, peers).await?;
                if (i + 1).is_multiple_of(2000) {
                    eprintln!(
                        "restore: {} accounts seeded ({:.0?})",
                        i + 1,
                        started.elapsed()
                    );
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    store.close().await;
    Ok(())
}

async fn seed_account(
    store: &dyn Store,
    rng: &mut Rng,
    i: usize,
    peers: usize,
) -> anyhow::Result<()> {
    let mut new = NewAccount::user(format!("+1555{i:07}"));
    new.state = AccountState::Connected;
    new.home_dc = 2;
    let account = store.create_account(new, "bench").await?;
    for dc_id in [2, 4] {
        store
            .put_dc_session(
                account.id,
                &DcSession {
                    dc_id,
                    ipv4: Some(format!("127.0.0.1:{}", 40000 + dc_id).parse()?),
                    ipv6: None,
                    auth_key: Some(rng.auth_key()),
                    revoked_at: None,
                },
            )
            .await?;
    }
    let self_id = 5_000_000_000 + i as i64;
    store
        .set_account_user(account.id, self_id, Some(&format!("+1555{i:07}")))
        .await?;
    let mut batch = Vec::with_capacity(peers + 1);
    batch.push(CachedPeer {
        peer_id: self_id,
        kind: PeerKind::User,
        access_hash: Some(rng.next() as i64),
        is_bot: Some(false),
        is_self: true,
        channel_kind: None,
        username: Some(format!("bench_self{i}")),
        phone: Some(format!("1555{i:07}")),
        display_name: Some(format!("Bench {i}")),
    });
    for j in 0..peers {
        let r = rng.next();
        let (peer_id, kind) = match j % 10 {
            0 => (
                -1_000_000_000_000 - (r % 900_000_000_000) as i64,
                PeerKind::Channel,
            ),
            1 => (-((r % 900_000_000) as i64) - 1, PeerKind::Chat),
            _ => ((r % 4_000_000_000) as i64 + 1, PeerKind::User),
        };
        batch.push(CachedPeer {
            peer_id,
            kind,
            access_hash: (kind != PeerKind::Chat).then_some(rng.next() as i64),
            is_bot: (kind == PeerKind::User).then_some(r.is_multiple_of(17)),
            is_self: false,
            channel_kind: (kind == PeerKind::Channel).then_some(2),
            username: r.is_multiple_of(3).then(|| format!("user{r:x}")),
            phone: None,
            display_name: Some(format!("Peer {j}")),
        });
    }
    store.upsert_peers(account.id, &batch).await?;
    store
        .set_update_state(
            account.id,
            UpdateState::All(UpdatesState {
                pts: 1000 + i as i32,
                qts: 7,
                date: 1_700_000_000,
                seq: 3,
                channels: (0..3)
                    .map(|c| ChannelState {
                        id: 100 + c,
                        pts: 50,
                    })
                    .collect(),
            }),
        )
        .await?;
    Ok(())
}

/// Sessions per second (NaN for a zero time).
pub fn per_second(n: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        f64::NAN
    }
}
