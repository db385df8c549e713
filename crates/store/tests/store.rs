//! Acceptance tests of issue 5, run on both backends.
//!
//! Why one binary: every scenario runs against SQLite (a temp file) and PostgreSQL (a schema of
//! its own in `postgres://postgres@127.0.0.1:5432/test`, dropped at the end). Without PostgreSQL
//! the PostgreSQL variants print a skip line, unless `CI` or `TELEGATE_REQUIRE_POSTGRES` is set,
//! in which case they fail.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use grammers_session::types::{
    ChannelKind, ChannelState, DcOption, PeerAuth, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use grammers_session::Session as _;
use secrecy::{ExposeSecret, SecretString};
use telegate_store::session_formats::{self, encode_session_string, parse_session_string};
use telegate_store::*;

/// Override with `TELEGATE_TEST_POSTGRES_URL`.
fn pg_url() -> String {
    std::env::var("TELEGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

// ------------------------------------------------------------------------------------------------
// Harness

enum Raw {
    Sqlite { dir: tempfile::TempDir, url: String },
    Postgres { schema: String },
}

struct TestDb {
    store: Arc<SqlStore>,
    raw: Raw,
    master: [u8; 32],
}

impl TestDb {
    fn dyn_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    fn master(&self) -> MasterKey {
        MasterKey::from_bytes(&self.master).unwrap()
    }

    fn open_options(&self, master: MasterKey) -> OpenOptions {
        match &self.raw {
            Raw::Sqlite { url, .. } => OpenOptions::new(url.clone(), master),
            Raw::Postgres { schema } => {
                let mut o = OpenOptions::new(pg_url(), master);
                o.pg_schema = Some(schema.clone());
                o
            }
        }
    }

    /// Re-opens the same database (simulates a process restart).
    async fn reopen(&self) -> Arc<SqlStore> {
        Arc::new(
            SqlStore::open(self.open_options(self.master()))
                .await
                .unwrap(),
        )
    }

    /// Runs a raw statement against the database, bypassing the store (tampering).
    async fn raw_exec(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite { url, .. } => {
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Raw::Postgres { schema } => {
                let opts = sqlx::postgres::PgConnectOptions::from_str(&pg_url())
                    .unwrap()
                    .options([("search_path", schema.as_str())]);
                let pool = sqlx::PgPool::connect_with(opts).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    async fn raw_i64s(&self, sql: &str) -> Vec<i64> {
        match &self.raw {
            Raw::Sqlite { url, .. } => {
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                let v = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                v
            }
            Raw::Postgres { schema } => {
                let opts = sqlx::postgres::PgConnectOptions::from_str(&pg_url())
                    .unwrap()
                    .options([("search_path", schema.as_str())]);
                let pool = sqlx::PgPool::connect_with(opts).await.unwrap();
                let v = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                v
            }
        }
    }

    /// Everything the database holds, as bytes: the SQLite files (main, WAL, SHM) or a `pg_dump`
    /// of the test schema (bytea appears there as hex, which the searches account for).
    async fn raw_bytes(&self) -> Vec<u8> {
        match &self.raw {
            Raw::Sqlite { dir, .. } => {
                let mut all = Vec::new();
                for e in std::fs::read_dir(dir.path()).unwrap() {
                    let p = e.unwrap().path();
                    if p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with("store.db")
                    {
                        all.extend(std::fs::read(&p).unwrap());
                    }
                }
                all
            }
            Raw::Postgres { schema } => {
                match std::process::Command::new("pg_dump")
                    .args(["-d", pg_url().as_str()])
                    .args(["-n", schema.as_str(), "--no-owner"])
                    .output()
                {
                    Ok(out) if out.status.success() => out.stdout,
                    other => {
                        eprintln!(
                            "pg_dump unavailable ({other:?}); selecting every column as text"
                        );
                        self.pg_select_everything(schema).await
                    }
                }
            }
        }
    }

    async fn pg_select_everything(&self, schema: &str) -> Vec<u8> {
        let opts = sqlx::postgres::PgConnectOptions::from_str(&pg_url()).unwrap();
        let pool = sqlx::PgPool::connect_with(opts).await.unwrap();
        let cols: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = $1",
        )
        .bind(schema)
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut out = Vec::new();
        for (t, c) in cols {
            let vals: Vec<Option<String>> =
                sqlx::query_scalar(&format!("SELECT \"{c}\"::text FROM {schema}.\"{t}\""))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            for v in vals.into_iter().flatten() {
                out.extend_from_slice(v.as_bytes());
                out.push(b'\n');
            }
        }
        pool.close().await;
        out
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Raw::Postgres { schema } = &self.raw {
            let schema = schema.clone();
            // Drop the schema even when the test panicked; a fresh runtime on another thread
            // because Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&pg_url()).await {
                        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .execute(&pool)
                            .await;
                        pool.close().await;
                    }
                });
            })
            .join();
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn random_master() -> [u8; 32] {
    let mut m = [0u8; 32];
    getrandom::fill(&mut m).unwrap();
    m
}

async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("store.db").display()
    );
    let master = random_master();
    let store = SqlStore::open(OpenOptions::new(
        url.clone(),
        MasterKey::from_bytes(&master).unwrap(),
    ))
    .await
    .unwrap();
    TestDb {
        store: Arc::new(store),
        raw: Raw::Sqlite { dir, url },
        master,
    }
}

fn postgres_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("TELEGATE_REQUIRE_POSTGRES").is_some()
}

async fn postgres_db(test: &str) -> Option<TestDb> {
    use sqlx::Connection as _;
    let reachable = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sqlx::PgConnection::connect(&pg_url()),
    )
    .await;
    match reachable {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out".into(),
                Ok(Ok(_)) => unreachable!(),
            };
            if postgres_required() {
                panic!(
                    "PostgreSQL at {} is required (CI/TELEGATE_REQUIRE_POSTGRES) but unreachable: {why}",
                    pg_url()
                );
            }
            // Written to the real stderr (not captured by the test harness) so it is seen.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test} [postgres]: PostgreSQL at {} unreachable ({why})",
                pg_url()
            );
            return None;
        }
    }
    let schema = format!(
        "tg_test_{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
            % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let master = random_master();
    let mut opts = OpenOptions::new(pg_url(), MasterKey::from_bytes(&master).unwrap());
    opts.pg_schema = Some(schema.clone());
    let db = TestDb {
        store: Arc::new(SqlStore::open(opts).await.unwrap()),
        raw: Raw::Postgres { schema },
        master,
    };
    Some(db)
}

/// Declares `<name>_sqlite` and `<name>_postgres` tests running `async fn <name>(&TestDb)`.
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::sqlite_db().await;
                    super::$name(&db).await;
                    telegate_store::Store::close(&*db.store).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::postgres_db(stringify!($name)).await else { return };
                    super::$name(&db).await;
                    telegate_store::Store::close(&*db.store).await;
                }
            )+
        }
    };
}

both_backends!(
    storage_story,
    grammers_session_roundtrip,
    session_import_export,
    secrets_not_in_raw_database,
    sealed_value_moved_fails,
    rotation_interrupted_then_resumed,
    wrong_master_key_refused,
);

fn key(seed: u8) -> AuthKey {
    let mut k = [0u8; 256];
    for (i, b) in k.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seed) ^ 0x5a;
    }
    AuthKey::new(&k)
}

fn random_key() -> AuthKey {
    let mut k = [0u8; 256];
    getrandom::fill(&mut k).unwrap();
    AuthKey::new(&k)
}

fn dc(dc_id: i32, port: u16, k: Option<AuthKey>) -> DcSession {
    DcSession {
        dc_id,
        ipv4: Some(format!("127.0.0.1:{port}").parse().unwrap()),
        ipv6: None,
        auth_key: k,
        revoked_at: None,
    }
}

fn user_peer(id: i64, hash: Option<i64>) -> CachedPeer {
    CachedPeer {
        peer_id: id,
        kind: PeerKind::User,
        access_hash: hash,
        is_bot: None,
        is_self: false,
        channel_kind: None,
        username: None,
        phone: None,
        display_name: None,
    }
}

// ------------------------------------------------------------------------------------------------
// The storage story

async fn storage_story(db: &TestDb) {
    let store = db.dyn_store();
    let t0 = now_ms();

    // Accounts.
    let alice = store
        .create_account(NewAccount::user("+15550001"), "test")
        .await
        .unwrap();
    assert_eq!(alice.state, AccountState::LoginRequired);
    assert_eq!(alice.kind, AccountKind::User);
    let bot = store
        .create_account(NewAccount::bot(777), "test")
        .await
        .unwrap();
    assert_eq!(bot.kind, AccountKind::Bot);
    assert_eq!(bot.phone, None);
    assert_eq!(store.accounts().await.unwrap().len(), 2);
    store
        .set_account_state(alice.id, AccountState::Connected, None)
        .await
        .unwrap();
    store.set_account_user(alice.id, 1001, None).await.unwrap();
    store.set_home_dc(alice.id, 4).await.unwrap();
    store.touch_account(alice.id, t0 + 5).await.unwrap();
    store.mark_connected(alice.id, t0 + 6).await.unwrap();
    let a = store.account(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (
            a.state,
            a.user_id,
            a.home_dc,
            a.last_used_at,
            a.last_connected_at
        ),
        (
            AccountState::Connected,
            Some(1001),
            4,
            Some(t0 + 5),
            Some(t0 + 6)
        )
    );
    assert!(store
        .set_account_state(9999, AccountState::Connected, None)
        .await
        .is_err());

    // Per-DC keys (sealed), upsert semantics: address-only update keeps the key.
    store
        .put_dc_session(alice.id, &dc(2, 4430, Some(key(1))))
        .await
        .unwrap();
    store
        .put_dc_session(alice.id, &dc(4, 4431, Some(key(2))))
        .await
        .unwrap();
    store
        .put_dc_session(alice.id, &dc(4, 4432, None))
        .await
        .unwrap();
    let dcs = store.dc_sessions(alice.id).await.unwrap();
    assert_eq!(
        dcs,
        vec![dc(2, 4430, Some(key(1))), dc(4, 4432, Some(key(2)))]
    );

    // Peer cache with merge semantics.
    let mut peers: Vec<CachedPeer> = (1..=300)
        .map(|i| user_peer(10_000 + i, Some(i * 7)))
        .collect();
    peers[0].username = Some("bob".into());
    let mut me = user_peer(1001, Some(42));
    me.is_self = true;
    peers.push(me.clone());
    peers.push(CachedPeer {
        kind: PeerKind::Channel,
        channel_kind: Some(2),
        ..user_peer(-1_000_000_000_555, Some(-9))
    });
    store.upsert_peers(alice.id, &peers).await.unwrap();
    // An update without hash or name keeps both; duplicates in one call are merged.
    store
        .upsert_peers(
            alice.id,
            &[
                user_peer(10_001, None),
                user_peer(10_001, None),
                CachedPeer {
                    is_bot: Some(true),
                    ..user_peer(10_002, None)
                },
            ],
        )
        .await
        .unwrap();
    let p1 = store.peer(alice.id, 10_001).await.unwrap().unwrap();
    assert_eq!(
        (p1.access_hash, p1.username.as_deref()),
        (Some(7), Some("bob"))
    );
    let p2 = store.peer(alice.id, 10_002).await.unwrap().unwrap();
    assert_eq!((p2.access_hash, p2.is_bot), (Some(14), Some(true)));
    assert_eq!(store.self_peer(alice.id).await.unwrap().unwrap(), me);
    assert_eq!(
        store
            .peer_by_username(alice.id, "@bob")
            .await
            .unwrap()
            .unwrap()
            .peer_id,
        10_001
    );
    assert_eq!(store.peers(alice.id).await.unwrap().len(), 302);
    assert!(store.peers(bot.id).await.unwrap().is_empty());

    // Update state.
    store
        .set_update_state(
            alice.id,
            UpdateState::All(UpdatesState {
                pts: 10,
                qts: 3,
                date: 1_700_000_000,
                seq: 5,
                channels: vec![
                    ChannelState { id: 555, pts: 70 },
                    ChannelState { id: 556, pts: 1 },
                ],
            }),
        )
        .await
        .unwrap();
    store
        .set_update_state(
            alice.id,
            UpdateState::Primary {
                pts: 11,
                date: 1_700_000_001,
                seq: 6,
            },
        )
        .await
        .unwrap();
    store
        .set_update_state(alice.id, UpdateState::Secondary { qts: 4 })
        .await
        .unwrap();
    store
        .set_update_state(alice.id, UpdateState::Channel { id: 555, pts: 71 })
        .await
        .unwrap();
    store
        .set_update_state(alice.id, UpdateState::Channel { id: 557, pts: 9 })
        .await
        .unwrap();
    let st = store.updates_state(alice.id).await.unwrap();
    assert_eq!((st.pts, st.qts, st.date, st.seq), (11, 4, 1_700_000_001, 6));
    assert_eq!(
        st.channels,
        vec![
            ChannelState { id: 555, pts: 71 },
            ChannelState { id: 556, pts: 1 },
            ChannelState { id: 557, pts: 9 }
        ]
    );
    // An account with no state yet reads as zeros.
    assert_eq!(
        store.updates_state(bot.id).await.unwrap(),
        UpdatesState::default()
    );

    // Durable event log: ids are monotonic and contiguous even with concurrent appenders.
    let aid = alice.id;
    let ev = move |n: i64| NewEvent {
        account_id: Some(aid),
        kind: "message.new".into(),
        payload: serde_json::json!({ "n": n }),
    };
    let first = store.append_events(&[ev(0), ev(1), ev(2)]).await.unwrap();
    assert_eq!(first.len(), 3);
    let mut tasks = Vec::new();
    for t in 0..6 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for b in 0..10 {
                let batch: Vec<NewEvent> = (0..5).map(|i| ev(1000 * t + 10 * b + i)).collect();
                ids.extend(s.append_events(&batch).await.unwrap());
            }
            ids
        }));
    }
    let mut all_ids = first.clone();
    for t in tasks {
        all_ids.extend(t.await.unwrap());
    }
    all_ids.sort();
    let expected: Vec<i64> = (first[0]..first[0] + 303).collect();
    assert_eq!(all_ids, expected, "ids unique and gap-free");
    assert_eq!(store.last_event_id().await.unwrap(), first[0] + 302);
    // Resume after an id, page by page, in order.
    let mut cursor = first[1];
    let mut seen = Vec::new();
    loop {
        let page = store
            .events_after(cursor, Some(alice.id), 64)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        cursor = page.last().unwrap().id;
        seen.extend(page.into_iter().map(|e| e.id));
    }
    assert_eq!(seen, (first[2]..=first[0] + 302).collect::<Vec<_>>());
    assert!(store
        .events_after(0, Some(bot.id), 10)
        .await
        .unwrap()
        .is_empty());
    let e0 = &store.events_after(first[0] - 1, None, 1).await.unwrap()[0];
    assert_eq!(
        (e0.kind.as_str(), &e0.payload),
        ("message.new", &serde_json::json!({"n": 0}))
    );

    // One update batch: events + mirror + state atomically.
    let ids = store
        .apply_update_batch(UpdateBatch {
            account_id: alice.id,
            events: vec![ev(9)],
            chats: vec![
                Chat {
                    peer_id: 10_001,
                    kind: "user".into(),
                    title: Some("Bob".into()),
                    username: Some("bob".into()),
                    unread_count: 2,
                    last_message_id: Some(5),
                    last_message_at: Some(t0 + 100),
                    pinned: false,
                    archived: false,
                },
                Chat {
                    peer_id: -1_000_000_000_555,
                    kind: "channel".into(),
                    title: Some("News".into()),
                    username: None,
                    unread_count: 0,
                    last_message_id: Some(70),
                    last_message_at: Some(t0 + 200),
                    pinned: true,
                    archived: false,
                },
                Chat {
                    peer_id: 10_003,
                    kind: "user".into(),
                    title: None,
                    username: None,
                    unread_count: 0,
                    last_message_id: None,
                    last_message_at: None,
                    pinned: false,
                    archived: true,
                },
            ],
            messages: (1..=5)
                .map(|i| Message {
                    peer_id: 10_001,
                    message_id: i,
                    sender_id: Some(10_001),
                    date: t0 + i as i64,
                    text: Some(format!("hello {i}")),
                    entities: Some("[]".into()),
                    media: None,
                    reply_to_id: None,
                    outgoing: i % 2 == 0,
                    edit_date: None,
                    deleted: false,
                })
                .collect(),
            deleted: vec![],
            peers: vec![],
            state: vec![UpdateState::Primary {
                pts: 16,
                date: 1_700_000_002,
                seq: 6,
            }],
            chat_activity: vec![],
        })
        .await
        .unwrap();
    assert_eq!(ids, vec![first[0] + 303]);
    assert_eq!(store.updates_state(alice.id).await.unwrap().pts, 16);
    let chats = store.chats(alice.id, 10).await.unwrap();
    assert_eq!(
        chats.iter().map(|c| c.peer_id).collect::<Vec<_>>(),
        vec![-1_000_000_000_555, 10_001, 10_003],
        "sorted by last_message_at, unknown last"
    );
    // Keyset pages over the same order.
    let page1 = store.chats_page(alice.id, None, 2).await.unwrap();
    assert_eq!(page1.len(), 2);
    let last = page1.last().unwrap();
    let page2 = store
        .chats_page(
            alice.id,
            Some(ChatCursor {
                last_message_at: last.last_message_at,
                peer_id: last.peer_id,
            }),
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        page1
            .iter()
            .chain(&page2)
            .map(|c| c.peer_id)
            .collect::<Vec<_>>(),
        vec![-1_000_000_000_555, 10_001, 10_003]
    );

    // Group commit: two batches (one per account is typical; here both alice) and idempotency
    // outcomes in one transaction; chat activity merges instead of overwriting.
    let ev2 = |n: i32| NewEvent {
        account_id: Some(alice.id),
        kind: "message.new".into(),
        payload: serde_json::json!({ "g": n }),
    };
    let touch = |id: i32, at: i64, delta: i32| ChatActivity {
        peer_id: 10_001,
        kind: "user".into(),
        last_message_id: Some(id),
        last_message_at: Some(at),
        unread_delta: delta,
        ..Default::default()
    };
    let group = store
        .commit_group(
            &[
                UpdateBatch {
                    account_id: alice.id,
                    events: vec![ev2(1), ev2(2)],
                    chat_activity: vec![touch(7, t0 + 300, 1)],
                    ..Default::default()
                },
                UpdateBatch {
                    account_id: alice.id,
                    events: vec![ev2(3)],
                    // An older message arriving late moves nothing back, but counts as unread.
                    chat_activity: vec![touch(6, t0 + 250, 1)],
                    ..Default::default()
                },
            ],
            &[IdempotencyRecord {
                account_id: alice.id,
                key: "send-1".into(),
                fingerprint: "fp1".into(),
                outcome: serde_json::json!({"message_id": 7}),
                created_at: t0,
            }],
        )
        .await
        .unwrap();
    assert_eq!(group.len(), 2);
    assert_eq!(group[0].len(), 2);
    assert_eq!(
        group[1],
        vec![group[0][1] + 1],
        "ids continue across batches"
    );
    let bob_chat = store
        .chats(alice.id, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.peer_id == 10_001)
        .unwrap();
    assert_eq!(
        (
            bob_chat.last_message_id,
            bob_chat.last_message_at,
            bob_chat.unread_count,
            bob_chat.title.as_deref()
        ),
        (Some(7), Some(t0 + 300), 4, Some("Bob")),
        "newest wins, deltas add, the title stays"
    );
    // A read receipt sets the counter.
    store
        .commit_group(
            &[UpdateBatch {
                account_id: alice.id,
                chat_activity: vec![ChatActivity {
                    peer_id: 10_001,
                    kind: "user".into(),
                    unread_count: Some(0),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .chats(alice.id, 10)
            .await
            .unwrap()
            .iter()
            .find(|c| c.peer_id == 10_001)
            .unwrap()
            .unread_count,
        0,
        "read"
    );
    // First outcome wins; lookups are batched.
    store
        .commit_group(
            &[],
            &[IdempotencyRecord {
                account_id: alice.id,
                key: "send-1".into(),
                fingerprint: "other".into(),
                outcome: serde_json::json!({"message_id": 8}),
                created_at: t0 + 1,
            }],
        )
        .await
        .unwrap();
    let recs = store
        .idempotency_records(&[(alice.id, "send-1".into()), (alice.id, "nope".into())])
        .await
        .unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].fingerprint.as_str(), &recs[0].outcome),
        ("fp1", &serde_json::json!({"message_id": 7}))
    );
    assert_eq!(store.purge_idempotency(t0 + 1).await.unwrap(), 1);
    assert!(store
        .idempotency_records(&[(alice.id, "send-1".into())])
        .await
        .unwrap()
        .is_empty());

    let msgs = store.messages(alice.id, 10_001, None, 2).await.unwrap();
    assert_eq!(
        msgs.iter().map(|m| m.message_id).collect::<Vec<_>>(),
        vec![5, 4]
    );
    let older = store.messages(alice.id, 10_001, Some(4), 10).await.unwrap();
    assert_eq!(
        older.iter().map(|m| m.message_id).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    // Edits overwrite; deletions (with or without peer) are flags, not deletes.
    let mut edited = msgs[0].clone();
    edited.text = Some("hello 5 (edited)".into());
    edited.edit_date = Some(t0 + 50);
    store
        .upsert_messages(alice.id, &[edited.clone()])
        .await
        .unwrap();
    assert_eq!(
        store
            .mark_messages_deleted(alice.id, Some(10_001), &[1, 2], t0)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .mark_messages_deleted(alice.id, None, &[3, 99], t0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .mark_messages_deleted(alice.id, None, &[3], t0)
            .await
            .unwrap(),
        0
    );
    let all = store.messages(alice.id, 10_001, None, 10).await.unwrap();
    assert_eq!(all[0], edited);
    assert_eq!(all.iter().filter(|m| m.deleted).count(), 3);

    // Contacts: Telegram sync keeps app fields.
    store
        .upsert_contacts(
            alice.id,
            &[Contact {
                user_id: 10_001,
                access_hash: Some(7),
                phone: Some("15550002".into()),
                first_name: Some("Bob".into()),
                job_title: Some("CTO".into()),
                ..Default::default()
            }],
        )
        .await
        .unwrap();
    store
        .upsert_contacts(
            alice.id,
            &[Contact {
                user_id: 10_001,
                first_name: Some("Robert".into()),
                mutual: true,
                ..Default::default()
            }],
        )
        .await
        .unwrap();
    let c = &store.contacts(alice.id).await.unwrap()[0];
    assert_eq!(
        (
            c.first_name.as_deref(),
            c.job_title.as_deref(),
            c.access_hash,
            c.mutual
        ),
        (Some("Robert"), Some("CTO"), Some(7), true)
    );

    // Invite links.
    let mut link = InviteLink {
        link: "https://t.me/+abc".into(),
        peer_id: -1_000_000_000_555,
        title: Some("promo".into()),
        admin_id: Some(1001),
        usage_limit: Some(10),
        current_uses: 0,
        request_needed: false,
        expire_at: Some(t0 + 86_400_000),
        revoked: false,
    };
    store.upsert_invite_link(alice.id, &link).await.unwrap();
    link.current_uses = 3;
    link.revoked = true;
    store.upsert_invite_link(alice.id, &link).await.unwrap();
    assert_eq!(
        store
            .invite_links(alice.id, Some(link.peer_id))
            .await
            .unwrap(),
        vec![link.clone()]
    );
    assert!(store
        .invite_links(alice.id, Some(1))
        .await
        .unwrap()
        .is_empty());

    // Resumable uploads.
    let up = Upload {
        id: "up-1".into(),
        account_id: alice.id,
        file_id: 123,
        name: "a.bin".into(),
        mime_type: None,
        total_size: 5 * 512 * 1024,
        part_size: 512 * 1024,
        total_parts: 10,
        big: false,
        parts_done: vec![],
        state: "uploading".into(),
        expires_at: t0 + 1000,
        media_check: None,
    };
    store.put_upload(&up).await.unwrap();
    for p in [0, 3, 9] {
        store.mark_upload_part("up-1", p).await.unwrap();
    }
    let got = store.upload("up-1").await.unwrap().unwrap();
    assert_eq!(got.missing_parts(), vec![1, 2, 4, 5, 6, 7, 8]);
    assert!(store.mark_upload_part("up-1", 10).await.is_err());
    for p in [1, 2, 4, 5, 6, 7, 8] {
        store.mark_upload_part("up-1", p).await.unwrap();
    }
    let mut done = store.upload("up-1").await.unwrap().unwrap();
    assert_eq!(done.state, "complete");
    // The sniffed type and the media check are kept.
    done.mime_type = Some("image/png".into());
    done.media_check = Some("image 2x3".into());
    store.put_upload(&done).await.unwrap();
    let again = store.upload("up-1").await.unwrap().unwrap();
    assert_eq!(again.mime_type.as_deref(), Some("image/png"));
    assert_eq!(again.media_check.as_deref(), Some("image 2x3"));
    assert_eq!(store.expire_uploads(t0 + 999).await.unwrap(), 0);
    assert_eq!(store.expire_uploads(t0 + 1000).await.unwrap(), 1);
    assert!(store.upload("up-1").await.unwrap().is_none());

    // API tokens: only the hash is stored.
    let (tok, plain) = store
        .create_api_token(
            NewApiToken {
                name: "ci".into(),
                scopes: vec!["messages:send".into(), "accounts:read".into()],
                account_id: Some(alice.id),
                expires_at: None,
            },
            "admin",
        )
        .await
        .unwrap();
    assert!(plain.expose_secret().starts_with("tgt_") && plain.expose_secret().len() > 40);
    assert!(plain.expose_secret().starts_with(&tok.prefix));
    let ok = store
        .verify_api_token(plain.expose_secret(), t0 + 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ok.id, ok.last_used_at), (tok.id, Some(t0 + 10)));
    assert_eq!(ok.scopes, vec!["messages:send", "accounts:read"]);
    assert!(store
        .verify_api_token("tgt_wrong", t0)
        .await
        .unwrap()
        .is_none());
    let (expiring, expiring_plain) = store
        .create_api_token(
            NewApiToken {
                name: "short".into(),
                expires_at: Some(t0 + 100),
                ..Default::default()
            },
            "admin",
        )
        .await
        .unwrap();
    assert!(store
        .verify_api_token(expiring_plain.expose_secret(), t0 + 99)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .verify_api_token(expiring_plain.expose_secret(), t0 + 100)
        .await
        .unwrap()
        .is_none());
    assert!(store.revoke_api_token(tok.id, "admin").await.unwrap());
    assert!(!store.revoke_api_token(tok.id, "admin").await.unwrap());
    assert!(store
        .verify_api_token(plain.expose_secret(), t0)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.api_tokens().await.unwrap().len(), 2);
    let _ = expiring;

    // Webhooks with a sealed secret, and deliveries.
    let hook = store
        .create_webhook(
            NewWebhook {
                account_id: Some(alice.id),
                url: "http://127.0.0.1:9/hook".into(),
                secret: Some(SecretString::from("whsec-123".to_owned())),
                event_filter: "message.*".into(),
                description: None,
            },
            "admin",
        )
        .await
        .unwrap();
    assert!(hook.has_secret);
    assert_eq!(
        store
            .webhook_secret(hook.id)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "whsec-123"
    );
    store.enqueue_delivery(hook.id, ids[0], t0).await.unwrap();
    store.enqueue_delivery(hook.id, ids[0], t0).await.unwrap();
    let due = store.due_deliveries(t0, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    store
        .record_delivery(
            due[0].id,
            DeliveryOutcome::Retry {
                status: Some(503),
                error: "unavailable".into(),
                next_attempt_at: t0 + 60_000,
            },
            t0,
        )
        .await
        .unwrap();
    assert!(store
        .due_deliveries(t0 + 59_999, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store.due_deliveries(t0 + 60_000, 10).await.unwrap();
    assert_eq!((again[0].attempts, again[0].last_status), (1, Some(503)));
    store
        .record_delivery(
            again[0].id,
            DeliveryOutcome::Delivered { status: 200 },
            t0 + 60_001,
        )
        .await
        .unwrap();
    assert!(store.due_deliveries(i64::MAX, 10).await.unwrap().is_empty());

    // The API layer's webhook management (0003_api): the log position at creation, updates,
    // dispatch with a cursor, attempt history, redelivery, deletion.
    assert_eq!(
        hook.start_after_event_id,
        store.last_event_id().await.unwrap()
    );
    let fetched = store.webhook(hook.id).await.unwrap().unwrap();
    assert_eq!(fetched, hook);
    let updated = store
        .update_webhook(
            hook.id,
            WebhookUpdate {
                enabled: Some(false),
                description: Some(Some("CRM".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!updated.enabled);
    assert_eq!(updated.description.as_deref(), Some("CRM"));
    assert_eq!(updated.url, hook.url, "unchanged fields are kept");
    assert!(store
        .update_webhook(i64::MAX, WebhookUpdate::default())
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.event_cursor("webhooks").await.unwrap(), None);
    let n = store
        .enqueue_deliveries(
            &[(hook.id, ids[0]), (hook.id, ids[0] + 1)],
            "webhooks",
            ids[0] + 1,
            t0,
        )
        .await
        .unwrap();
    assert_eq!(n, 1, "the pair already delivered is kept as it is");
    assert_eq!(
        store.event_cursor("webhooks").await.unwrap(),
        Some(ids[0] + 1)
    );
    let pending = store
        .webhook_deliveries(DeliveryQuery {
            webhook_id: hook.id,
            state: Some("pending".into()),
            before_id: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let d = &pending[0];
    assert_eq!(
        (d.event_id, d.attempts, d.window_started_at),
        (ids[0] + 1, 0, t0)
    );
    store
        .record_delivery_attempt(
            d.id,
            DeliveryOutcome::Dead {
                status: Some(500),
                error: "HTTP 500".into(),
            },
            12,
            t0 + 5,
        )
        .await
        .unwrap();
    let dead = store.webhook_delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        (dead.state.as_str(), dead.last_attempt_at),
        ("dead", Some(t0 + 5))
    );
    let attempts = store.delivery_attempts(d.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].status, attempts[0].duration_ms),
        (Some(500), 12)
    );
    assert!(store.redeliver(d.id, t0 + 10).await.unwrap());
    let again = store.webhook_delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        (
            again.state.as_str(),
            again.attempts,
            again.window_started_at
        ),
        ("pending", 0, t0 + 10)
    );
    let all = store
        .webhook_deliveries(DeliveryQuery {
            webhook_id: hook.id,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].id > all[1].id, "newest first");
    let older = store
        .webhook_deliveries(DeliveryQuery {
            webhook_id: hook.id,
            before_id: Some(all[0].id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(older, vec![all[1].clone()]);
    store.ping().await.unwrap();
    let counts = store.account_state_counts().await.unwrap();
    assert!(
        counts.iter().map(|(_, n)| n).sum::<u64>() >= 2,
        "{counts:?}"
    );

    // Half-finished logins: secret state sealed, expiry puts the account back.
    store
        .set_account_state(bot.id, AccountState::LoggingIn, None)
        .await
        .unwrap();
    store
        .put_pending_login(&PendingLogin {
            account_id: bot.id,
            flow: "phone".into(),
            step: "code_sent".into(),
            dc_id: 2,
            phone: Some("+15550009".into()),
            secret_state: Some(b"{\"phone_code_hash\":\"abc\"}".to_vec().into()),
            created_at: t0,
            updated_at: t0,
            expires_at: t0 + 300_000,
        })
        .await
        .unwrap();
    let pl = store.pending_login(bot.id).await.unwrap().unwrap();
    assert_eq!(
        pl.secret_state.as_ref().unwrap().expose_secret(),
        b"{\"phone_code_hash\":\"abc\"}"
    );
    assert!(
        !format!("{pl:?}").contains("phone_code_hash"),
        "Debug redacts"
    );
    assert!(store
        .expire_pending_logins(t0 + 299_999)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.expire_pending_logins(t0 + 300_000).await.unwrap(),
        vec![bot.id]
    );
    assert!(store.pending_login(bot.id).await.unwrap().is_none());
    let b = store.account(bot.id).await.unwrap().unwrap();
    assert_eq!(b.state, AccountState::LoginRequired);

    // Start-up restore: every live account with its keys, state and self peer.
    let snaps = store.load_all_sessions().await.unwrap();
    assert_eq!(snaps.len(), 2);
    let sa = snaps.iter().find(|s| s.account.id == alice.id).unwrap();
    assert_eq!(sa.dcs.len(), 2);
    assert_eq!(sa.self_peer.as_ref().unwrap().peer_id, 1001);
    assert_eq!(sa.updates.pts, 16);
    let one = store
        .load_session(alice.id, PeerPreload::All)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.peers.len(), 302);
    assert_eq!(one.dcs, sa.dcs);

    // Session hygiene: revoke marks (keys kept, never handed out), purge after retention.
    store
        .revoke_session(alice.id, "AUTH_KEY_UNREGISTERED", "runtime")
        .await
        .unwrap();
    let a = store.account(alice.id).await.unwrap().unwrap();
    assert_eq!(a.state, AccountState::Unauthorized);
    assert_eq!(a.state_reason.as_deref(), Some("AUTH_KEY_UNREGISTERED"));
    let revoked_at = a.revoked_at.unwrap();
    let dcs = store.dc_sessions(alice.id).await.unwrap();
    assert!(dcs
        .iter()
        .all(|d| d.auth_key.is_none() && d.revoked_at == Some(revoked_at)));
    assert_eq!(
        db.raw_i64s("SELECT COUNT(*) FROM dc_sessions WHERE auth_key IS NOT NULL")
            .await,
        vec![2],
        "marked, not deleted"
    );
    assert!(store
        .load_all_sessions()
        .await
        .unwrap()
        .iter()
        .all(|s| s.account.id != alice.id));
    assert_eq!(
        store
            .purge_revoked_sessions(revoked_at, "janitor")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_revoked_sessions(revoked_at + 1, "janitor")
            .await
            .unwrap(),
        2
    );
    assert!(store.dc_sessions(alice.id).await.unwrap().is_empty());
    // A new login after revocation clears the marks.
    store
        .put_dc_session(alice.id, &dc(2, 4430, Some(key(3))))
        .await
        .unwrap();
    assert_eq!(
        store.dc_sessions(alice.id).await.unwrap()[0].auth_key,
        Some(key(3))
    );
    store.set_account_user(alice.id, 1001, None).await.unwrap();
    assert_eq!(
        store.account(alice.id).await.unwrap().unwrap().revoked_at,
        None
    );
    assert!(store
        .load_all_sessions()
        .await
        .unwrap()
        .iter()
        .any(|s| s.account.id == alice.id));

    // Audit log: security-relevant actions, newest last, no secrets.
    let audit = store.audit_log(None, 0, 1000).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for needed in [
        "account_created",
        "token_created",
        "token_revoked",
        "webhook_created",
        "login_expired",
        "session_revoked",
        "sessions_purged",
    ] {
        assert!(
            actions.contains(&needed),
            "{needed} missing from {actions:?}"
        );
    }
    let text =
        serde_json::to_string(&audit.iter().map(|a| &a.details).collect::<Vec<_>>()).unwrap();
    assert!(!text.contains(plain.expose_secret()) && !text.contains("whsec-123"));
    let id = store
        .audit(AuditEntry::new("api", AuditAction::Login).account(alice.id))
        .await
        .unwrap();
    let mine = store.audit_log(Some(alice.id), id - 1, 10).await.unwrap();
    assert_eq!((mine.len(), mine[0].action.as_str()), (1, "login"));

    // Deleting an account cascades to everything it owns.
    assert!(store.delete_account(alice.id, "admin").await.unwrap());
    assert!(store.account(alice.id).await.unwrap().is_none());
    assert!(store.peers(alice.id).await.unwrap().is_empty());
    assert!(store.chats(alice.id, 10).await.unwrap().is_empty());
    assert!(!store.delete_account(alice.id, "admin").await.unwrap());
}

// ------------------------------------------------------------------------------------------------
// grammers' Session over the store

async fn grammers_session_roundtrip(db: &TestDb) {
    let store = db.dyn_store();
    let acc = store
        .create_account(NewAccount::user("+15550003"), "test")
        .await
        .unwrap();
    let s = StoreSession::load(store.clone(), acc.id, SessionOptions::default())
        .await
        .unwrap();

    // Fresh session: grammers' defaults (static DCs, no keys, no self user).
    assert_eq!(s.home_dc_id().unwrap(), 2);
    let d1 = s.dc_option(1).unwrap().unwrap();
    assert_eq!(d1.auth_key, None);
    assert!(s.peer(PeerId::self_user()).await.unwrap().is_none());

    // What grammers does when connecting to a mock DC with a seeded key, then logging in.
    let k = *key(9).expose();
    s.set_dc_option(&DcOption {
        id: 2,
        ipv4: "127.0.0.1:4430".parse().unwrap(),
        ipv6: "[::1]:4430".parse().unwrap(),
        auth_key: Some(k),
    })
    .await
    .unwrap();
    s.set_home_dc_id(2).await.unwrap();
    s.set_dc_option(&DcOption {
        id: 4,
        ipv4: "127.0.0.1:4431".parse().unwrap(),
        ipv6: "[::1]:4431".parse().unwrap(),
        auth_key: None,
    })
    .await
    .unwrap();
    s.set_home_dc_id(4).await.unwrap();
    let me = PeerInfo::User {
        id: 1001,
        auth: Some(PeerAuth::from_hash(4242)),
        bot: Some(false),
        is_self: Some(true),
    };
    s.cache_peer(me.clone()).await.unwrap();
    s.cache_peers(vec![
        PeerInfo::User {
            id: 2002,
            auth: Some(PeerAuth::from_hash(-1)),
            bot: None,
            is_self: None,
        },
        PeerInfo::Chat { id: 77 },
        PeerInfo::Channel {
            id: 555,
            auth: Some(PeerAuth::from_hash(5)),
            kind: Some(ChannelKind::Megagroup),
        },
    ])
    .await
    .unwrap();
    // Later info without a hash must not erase the hash.
    s.cache_peer(PeerInfo::User {
        id: 2002,
        auth: None,
        bot: Some(true),
        is_self: None,
    })
    .await
    .unwrap();
    s.set_update_state(UpdateState::All(UpdatesState {
        pts: 5,
        qts: 1,
        date: 100,
        seq: 2,
        channels: vec![],
    }))
    .await
    .unwrap();
    s.set_update_state(UpdateState::Channel { id: 555, pts: 12 })
        .await
        .unwrap();
    s.set_update_state(UpdateState::Primary {
        pts: 6,
        date: 101,
        seq: 3,
    })
    .await
    .unwrap();

    // The self-user sentinel maps to the cached self user (grammers needs it for getState).
    assert_eq!(s.peer(PeerId::self_user()).await.unwrap(), Some(me.clone()));

    // A restarted gateway sees everything, from the store.
    let r = StoreSession::load(store.clone(), acc.id, SessionOptions::default())
        .await
        .unwrap();
    assert_eq!(r.home_dc_id().unwrap(), 4);
    let d2 = r.dc_option(2).unwrap().unwrap();
    assert_eq!(d2.auth_key, Some(k));
    assert_eq!(d2.ipv4, "127.0.0.1:4430".parse().unwrap());
    assert_eq!(d2.ipv6, "[::1]:4430".parse().unwrap());
    assert_eq!(r.dc_option(4).unwrap().unwrap().ipv4.port(), 4431);
    assert_eq!(r.peer(PeerId::self_user()).await.unwrap(), Some(me.clone()));
    assert_eq!(r.peer(PeerId::user(1001).unwrap()).await.unwrap(), Some(me));
    assert_eq!(
        r.peer(PeerId::user(2002).unwrap()).await.unwrap(),
        Some(PeerInfo::User {
            id: 2002,
            auth: Some(PeerAuth::from_hash(-1)),
            bot: Some(true),
            is_self: None
        })
    );
    assert_eq!(
        r.peer_ref(PeerId::channel(555).unwrap())
            .await
            .unwrap()
            .unwrap()
            .auth,
        PeerAuth::from_hash(5)
    );
    assert_eq!(
        r.peer(PeerId::chat(77).unwrap()).await.unwrap(),
        Some(PeerInfo::Chat { id: 77 })
    );
    assert!(r.peer(PeerId::user(3003).unwrap()).await.unwrap().is_none());
    let st = r.updates_state().await.unwrap();
    assert_eq!((st.pts, st.qts, st.date, st.seq), (6, 1, 101, 3));
    assert_eq!(st.channels, vec![ChannelState { id: 555, pts: 12 }]);

    // Bounded peer cache: evicted peers are still found (from the store).
    let small = StoreSession::load(
        store.clone(),
        acc.id,
        SessionOptions {
            peer_cache_capacity: 2,
            preload: PeerPreload::All,
        },
    )
    .await
    .unwrap();
    for id in [2002, 1001] {
        assert!(small
            .peer(PeerId::user(id).unwrap())
            .await
            .unwrap()
            .is_some());
    }
    assert!(small
        .peer(PeerId::channel(555).unwrap())
        .await
        .unwrap()
        .is_some());
    assert!(small.cached_peers() <= 3);

    // The erased form grammers-client takes.
    let erased = grammers_session::storages::erase(Arc::new(r));
    assert_eq!(erased.home_dc_id().unwrap(), 4);
}

// ------------------------------------------------------------------------------------------------
// Import / export

async fn session_import_export(db: &TestDb) {
    let store = db.dyn_store();
    let k = random_key();
    let original = ImportedSession {
        dc_id: 2,
        address: "127.0.0.1".parse().unwrap(),
        port: 4430,
        auth_key: k.clone(),
        user_id: None,
        is_bot: None,
        api_id: None,
        test_mode: None,
        peers: vec![],
        update_state: None,
    };
    let telethon = encode_session_string(SessionFormat::Telethon, &original).unwrap();

    // Bad input: a clear error, and nothing written.
    let before = store.accounts().await.unwrap().len();
    let audit_before = store.audit_log(None, 0, 10_000).await.unwrap().len();
    let bad = SecretString::from(format!("2{}", &telethon.expose_secret()[1..]));
    let err = parse_session_string(SessionFormat::Telethon, &bad).unwrap_err();
    assert!(err.to_string().contains("wrong version"), "{err}");
    assert_eq!(store.accounts().await.unwrap().len(), before);
    assert_eq!(
        store.audit_log(None, 0, 10_000).await.unwrap().len(),
        audit_before
    );

    // Import: account, sealed key on its DC, sealed source, audit with the warning.
    let parsed = parse_session_string(SessionFormat::Telethon, &telethon).unwrap();
    let acc = store
        .import_session(ImportRequest {
            session: parsed,
            format: SessionFormat::Telethon,
            source: Some(telethon.clone()),
            kind: AccountKind::User,
            phone: None,
            label: Some("from telethon".into()),
            actor: "cli".into(),
        })
        .await
        .unwrap();
    assert_eq!((acc.home_dc, acc.state), (2, AccountState::Connecting));
    let dcs = store.dc_sessions(acc.id).await.unwrap();
    assert_eq!(dcs, vec![dc(2, 4430, Some(k.clone()))]);
    let audit = store.audit_log(Some(acc.id), 0, 10).await.unwrap();
    let imp = audit.iter().find(|a| a.action == "session_import").unwrap();
    assert!(imp.details["warning"]
        .as_str()
        .unwrap()
        .contains("AUTH_KEY_DUPLICATED"));

    // The gateway's grammers session sees the imported key without a new login.
    let s = StoreSession::load(store.clone(), acc.id, SessionOptions::default())
        .await
        .unwrap();
    assert_eq!(s.home_dc_id().unwrap(), 2);
    assert_eq!(
        s.dc_option(2).unwrap().unwrap().auth_key.as_ref(),
        Some(k.expose())
    );
    assert_eq!(s.dc_option(2).unwrap().unwrap().ipv4.port(), 4430);

    // Export to every format round-trips the key (and is audited).
    store.set_account_user(acc.id, 5005, None).await.unwrap();
    for f in [
        SessionFormat::Telethon,
        SessionFormat::GramJs,
        SessionFormat::Pyrogram,
    ] {
        let out = store.export_session(acc.id, f, "cli").await.unwrap();
        let text = encode_session_string(f, &out).unwrap();
        let back = parse_session_string(f, &text).unwrap();
        assert_eq!(back.auth_key, k, "{f}");
        assert_eq!(back.dc_id, 2);
        if f == SessionFormat::Pyrogram {
            assert_eq!(back.user_id, Some(5005));
        } else {
            assert_eq!((back.address, back.port), (original.address, 4430));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.session");
    let out = store
        .export_session(acc.id, SessionFormat::TelethonFile, "cli")
        .await
        .unwrap();
    session_formats::write_telethon_file(&file, &out)
        .await
        .unwrap();
    let back = session_formats::read_telethon_file(&file).await.unwrap();
    assert_eq!(back.auth_key, k);
    let exports = store
        .audit_log(Some(acc.id), 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "session_export")
        .count();
    assert_eq!(exports, 4);

    // Telethon .session files carry entities with access hashes and the update state.
    let mut with_peers = back.clone();
    with_peers.peers = vec![CachedPeer {
        username: Some("carol".into()),
        ..user_peer(3003, Some(33))
    }];
    with_peers.update_state = Some((50, 5, 1_700_000_000, 7));
    let file2 = dir.path().join("peers.session");
    session_formats::write_telethon_file(&file2, &with_peers)
        .await
        .unwrap();
    let parsed = session_formats::read_telethon_file(&file2).await.unwrap();
    let acc2 = store
        .import_session(ImportRequest {
            session: parsed,
            format: SessionFormat::TelethonFile,
            source: None,
            kind: AccountKind::User,
            phone: Some("+15550004".into()),
            label: None,
            actor: "cli".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .peer(acc2.id, 3003)
            .await
            .unwrap()
            .unwrap()
            .access_hash,
        Some(33)
    );
    assert_eq!(store.updates_state(acc2.id).await.unwrap().pts, 50);

    // A Pyrogram bot session becomes a bot account.
    let mut py = original.clone();
    py.address = session_formats::static_dc_address(2, false).unwrap().into();
    py.port = 443;
    py.user_id = Some(777_000);
    py.is_bot = Some(true);
    py.api_id = Some(12345);
    py.test_mode = Some(false);
    py.auth_key = random_key();
    let text = encode_session_string(SessionFormat::Pyrogram, &py).unwrap();
    let acc3 = store
        .import_session(ImportRequest {
            session: parse_session_string(SessionFormat::Pyrogram, &text).unwrap(),
            format: SessionFormat::Pyrogram,
            source: Some(text),
            kind: AccountKind::User,
            phone: None,
            label: None,
            actor: "cli".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        (acc3.kind, acc3.bot_id, acc3.user_id, acc3.api_id),
        (AccountKind::Bot, Some(777_000), Some(777_000), Some(12345))
    );
}

// ------------------------------------------------------------------------------------------------
// Secrets at rest

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

async fn secrets_not_in_raw_database(db: &TestDb) {
    let store = db.dyn_store();
    let k = random_key();
    let code = "61803";
    let password = "correct horse battery staple 42";
    let webhook_secret = "whsec-Zq8VvS1lqUXgq2";
    let marker = "PLAINTEXT-MARKER-7c1e";

    let acc = store
        .create_account(
            NewAccount {
                label: Some(marker.into()),
                ..NewAccount::user("+15550100")
            },
            "test",
        )
        .await
        .unwrap();
    store
        .put_dc_session(acc.id, &dc(2, 443, Some(k.clone())))
        .await
        .unwrap();
    store
        .put_dc_session(acc.id, &dc(4, 443, Some(random_key())))
        .await
        .unwrap();
    // The login code and 2FA password go through the sealed login state.
    let state = serde_json::json!({ "phone_code": code, "password": password, "hash": "h" });
    store
        .put_pending_login(&PendingLogin {
            account_id: acc.id,
            flow: "phone".into(),
            step: "password_needed".into(),
            dc_id: 2,
            phone: None,
            secret_state: Some(serde_json::to_vec(&state).unwrap().into()),
            created_at: 0,
            updated_at: 0,
            expires_at: i64::MAX,
        })
        .await
        .unwrap();
    // An imported session string too (its base64 contains the key).
    let imported = ImportedSession {
        dc_id: 2,
        address: "127.0.0.1".parse().unwrap(),
        port: 443,
        auth_key: k.clone(),
        user_id: None,
        is_bot: None,
        api_id: None,
        test_mode: None,
        peers: vec![],
        update_state: None,
    };
    let source = encode_session_string(SessionFormat::Telethon, &imported).unwrap();
    let imp = store
        .import_session(ImportRequest {
            session: imported,
            format: SessionFormat::Telethon,
            source: Some(source.clone()),
            kind: AccountKind::User,
            phone: None,
            label: None,
            actor: "cli".into(),
        })
        .await
        .unwrap();
    store
        .create_webhook(
            NewWebhook {
                account_id: None,
                url: "http://127.0.0.1:9/".into(),
                secret: Some(SecretString::from(webhook_secret.to_owned())),
                event_filter: "*".into(),
                description: None,
            },
            "admin",
        )
        .await
        .unwrap();
    // Positive control for bytea: a known non-secret pattern stored in a binary column.
    let pattern: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    store
        .put_upload(&Upload {
            id: "ctl".into(),
            account_id: acc.id,
            file_id: 1,
            name: "n".into(),
            mime_type: None,
            total_size: 1,
            part_size: 1,
            total_parts: 256,
            big: false,
            parts_done: pattern.clone(),
            state: "uploading".into(),
            expires_at: i64::MAX,
            media_check: None,
        })
        .await
        .unwrap();
    // Everything still opens through the store.
    assert_eq!(
        store.dc_sessions(imp.id).await.unwrap()[0].auth_key,
        Some(k.clone())
    );

    let raw = db.raw_bytes().await;
    assert!(raw.len() > 1000);
    // Positive controls: the search finds what is stored in clear.
    assert!(
        contains(&raw, marker.as_bytes()),
        "marker not found: the raw read is broken"
    );
    assert!(
        contains(&raw, &pattern) || contains(&raw, hex::encode(&pattern).as_bytes()),
        "bytea control not found: the raw read is broken"
    );
    // No 32-byte window of the auth key, raw or hex-encoded (pg_dump prints bytea as hex).
    let key_bytes = k.expose();
    for start in 0..=(256 - 32) {
        let w = &key_bytes[start..start + 32];
        assert!(
            !contains(&raw, w),
            "auth key bytes {start}..{} found raw",
            start + 32
        );
        assert!(
            !contains(&raw, hex::encode(w).as_bytes()),
            "auth key hex found at {start}"
        );
    }
    for (what, needle) in [
        ("login code", code),
        ("2FA password", password),
        ("webhook secret", webhook_secret),
        ("session string", &source.expose_secret()[1..60]),
    ] {
        assert!(
            !contains(&raw, needle.as_bytes()),
            "{what} found in the raw database"
        );
        assert!(
            !contains(&raw, hex::encode(needle).as_bytes()),
            "{what} found as hex"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// A sealed value moved to another row does not open

async fn sealed_value_moved_fails(db: &TestDb) {
    let store = db.dyn_store();
    let a = store
        .create_account(NewAccount::user("+1"), "t")
        .await
        .unwrap();
    let b = store
        .create_account(NewAccount::user("+2"), "t")
        .await
        .unwrap();
    store
        .put_dc_session(a.id, &dc(2, 443, Some(key(1))))
        .await
        .unwrap();
    store
        .put_dc_session(b.id, &dc(2, 443, Some(key(2))))
        .await
        .unwrap();
    store
        .put_dc_session(a.id, &dc(4, 443, Some(key(3))))
        .await
        .unwrap();
    store
        .put_pending_login(&PendingLogin {
            account_id: b.id,
            flow: "phone".into(),
            step: "code_sent".into(),
            dc_id: 2,
            phone: None,
            secret_state: Some(b"state".to_vec().into()),
            created_at: 0,
            updated_at: 0,
            expires_at: i64::MAX,
        })
        .await
        .unwrap();

    // Another account's key copied over B's: fails to open (not silently B's session).
    db.raw_exec(&format!(
        "UPDATE dc_sessions SET auth_key = (SELECT auth_key FROM dc_sessions \
         WHERE account_id = {} AND dc_id = 2) WHERE account_id = {} AND dc_id = 2",
        a.id, b.id
    ))
    .await;
    let err = store.dc_sessions(b.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Vault(VaultError::OpenFailed {
                table: "dc_sessions",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("moved from another row"), "{err}");
    // Same account, other DC row: fails too.
    db.raw_exec(&format!(
        "UPDATE dc_sessions SET auth_key = (SELECT auth_key FROM dc_sessions \
         WHERE account_id = {0} AND dc_id = 2) WHERE account_id = {0} AND dc_id = 4",
        a.id
    ))
    .await;
    assert!(store.dc_sessions(a.id).await.is_err());
    // Another column/table: a key copied into a login's secret state fails too.
    db.raw_exec(&format!(
        "UPDATE pending_logins SET secret_state = (SELECT auth_key FROM dc_sessions \
         WHERE account_id = {} AND dc_id = 2) WHERE account_id = {}",
        a.id, b.id
    ))
    .await;
    assert!(store.pending_login(b.id).await.is_err());
    // Restoring at start-up reports the tampered row instead of using it.
    assert!(store.load_all_sessions().await.is_err());
}

// ------------------------------------------------------------------------------------------------
// Key rotation killed half-way, then resumed

async fn rotation_interrupted_then_resumed(db: &TestDb) {
    let store = db.dyn_store();
    let mut expected = Vec::new();
    for i in 0..40u8 {
        let acc = store
            .create_account(NewAccount::user(format!("+1{i}")), "t")
            .await
            .unwrap();
        store
            .put_dc_session(acc.id, &dc(2, 443, Some(key(i))))
            .await
            .unwrap();
        store
            .put_dc_session(acc.id, &dc(4, 443, Some(key(i ^ 0x80))))
            .await
            .unwrap();
        if i % 4 == 0 {
            store
                .put_pending_login(&PendingLogin {
                    account_id: acc.id,
                    flow: "phone".into(),
                    step: "code_sent".into(),
                    dc_id: 2,
                    phone: None,
                    secret_state: Some(vec![i; 40].into()),
                    created_at: 0,
                    updated_at: 0,
                    expires_at: i64::MAX,
                })
                .await
                .unwrap();
        }
        expected.push((acc.id, i));
    }
    let hook = store
        .create_webhook(
            NewWebhook {
                account_id: None,
                url: "http://127.0.0.1:9/".into(),
                secret: Some(SecretString::from("whsec".to_owned())),
                event_filter: "*".into(),
                description: None,
            },
            "t",
        )
        .await
        .unwrap();
    let secrets = 40 * 2 + 10 + 1;
    assert_eq!(store.vault().active_key_id(), Some(1));
    // A running gateway (another process) whose key ring predates the rotation.
    let gateway: Arc<dyn Store> = db.reopen().await;
    let reader: Arc<dyn Store> = db.reopen().await;
    assert_eq!(gateway.vault().key_ids(), vec![1]);
    // A value sealed under key 1, kept to show it is unreadable once key 1 is retired.
    let old_sealed_first = db
        .raw_i64s("SELECT COUNT(*) FROM dc_sessions WHERE key_id = 1")
        .await;
    assert_eq!(old_sealed_first, vec![80]);

    // Run 1: killed after 3 batches of 10.
    let mut seen = Vec::new();
    let report = store
        .rotate_keys(
            RotateOptions {
                batch_size: 10,
                stop_after_batches: Some(3),
                actor: "admin".into(),
            },
            &mut |p| seen.push(p),
        )
        .await
        .unwrap();
    assert_eq!(report.outcome, RotationOutcome::Interrupted);
    assert_eq!(
        (report.target_key_id, report.rows_done, report.resumed),
        (2, 30, false)
    );
    assert_eq!(seen.len(), 3);
    assert!(seen.windows(2).all(|w| w[0].done < w[1].done));
    assert_eq!(seen[2].total, secrets);
    let keys = store.vault_keys().await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.id, k.state.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "retiring"), (2, "active")]
    );
    // Mid-rotation, a "restarted" process reads both old and new ciphertexts, and new writes
    // use the new key.
    drop(store);
    let restarted: Arc<dyn Store> = db.reopen().await;
    for (id, i) in &expected {
        let dcs = restarted.dc_sessions(*id).await.unwrap();
        assert_eq!(dcs[0].auth_key, Some(key(*i)));
    }
    let extra = restarted
        .create_account(NewAccount::user("+extra"), "t")
        .await
        .unwrap();
    restarted
        .put_dc_session(extra.id, &dc(1, 443, Some(key(200))))
        .await
        .unwrap();
    assert_eq!(
        db.raw_i64s(&format!(
            "SELECT CAST(key_id AS BIGINT) FROM dc_sessions WHERE account_id = {}",
            extra.id
        ))
        .await,
        vec![2]
    );
    // Keep one ciphertext under key 1 to replay later.
    let victim = expected.last().unwrap().0;
    let old_under_1 = db
        .raw_i64s(&format!(
            "SELECT COUNT(*) FROM dc_sessions WHERE account_id = {victim} AND key_id = 1"
        ))
        .await;
    assert_eq!(
        old_under_1,
        vec![2],
        "rows are processed in key order; the last is still old"
    );
    db.raw_exec(&format!(
        "CREATE TABLE saved_sealed AS SELECT auth_key FROM dc_sessions \
         WHERE account_id = {victim} AND dc_id = 2"
    ))
    .await;

    // Run 2 (another process): resumes the same rotation and finishes it.
    let mut seen2 = Vec::new();
    let report = restarted
        .rotate_keys(
            RotateOptions {
                batch_size: 10,
                ..Default::default()
            },
            &mut |p| seen2.push(p),
        )
        .await
        .unwrap();
    assert!(report.resumed);
    assert_eq!(report.target_key_id, 2);
    assert_eq!(
        report.outcome,
        RotationOutcome::Finished { retired: vec![1] }
    );
    assert_eq!(
        report.rows_done, secrets,
        "every old secret re-encrypted exactly once"
    );
    assert_eq!(seen2.last().unwrap().done, secrets);
    let keys = restarted.vault_keys().await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.id, k.state.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "retired"), (2, "active")]
    );
    assert!(keys[0].retired_at.is_some());
    assert_eq!(restarted.vault().key_ids(), vec![2]);
    // Every secret readable under the new key only.
    for (id, i) in &expected {
        let dcs = restarted.dc_sessions(*id).await.unwrap();
        assert_eq!(dcs[0].auth_key, Some(key(*i)));
        assert_eq!(dcs[1].auth_key, Some(key(*i ^ 0x80)));
        if i % 4 == 0 {
            let pl = restarted.pending_login(*id).await.unwrap().unwrap();
            assert_eq!(pl.secret_state.unwrap().expose_secret(), &vec![*i; 40][..]);
        }
    }
    assert_eq!(
        restarted
            .webhook_secret(hook.id)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "whsec"
    );
    for table in ["dc_sessions", "pending_logins", "webhooks"] {
        assert!(
            db.raw_i64s(&format!(
                "SELECT DISTINCT CAST(key_id AS BIGINT) FROM {table}"
            ))
            .await
            .iter()
            .all(|k| *k == 2),
            "{table}"
        );
    }
    // The gateway with the stale ring (key 1 still "active" for it, now retired) writes: the
    // write notices the retired key inside its transaction and is redone under key 2.
    assert_eq!(gateway.vault().active_key_id(), Some(1));
    let g = gateway
        .create_account(NewAccount::user("+gw"), "t")
        .await
        .unwrap();
    gateway
        .put_dc_session(g.id, &dc(2, 443, Some(key(77))))
        .await
        .unwrap();
    assert_eq!(
        db.raw_i64s(&format!(
            "SELECT CAST(key_id AS BIGINT) FROM dc_sessions WHERE account_id = {}",
            g.id
        ))
        .await,
        vec![2]
    );
    assert_eq!(gateway.vault().key_ids(), vec![2]);
    // A reader whose ring only has key 1 reads secrets sealed under key 2 (reloads its ring).
    assert_eq!(reader.vault().key_ids(), vec![1]);
    assert_eq!(
        reader.dc_sessions(expected[1].0).await.unwrap()[0].auth_key,
        Some(key(1))
    );
    assert_eq!(
        reader.dc_sessions(g.id).await.unwrap()[0].auth_key,
        Some(key(77))
    );
    assert_eq!(reader.vault().key_ids(), vec![2]);
    // The retired key is gone from the database: an old ciphertext replayed cannot be opened.
    assert_eq!(
        db.raw_i64s("SELECT COUNT(*) FROM vault_keys WHERE wrapped IS NULL")
            .await,
        vec![1]
    );
    db.raw_exec(&format!(
        "UPDATE dc_sessions SET auth_key = (SELECT auth_key FROM saved_sealed) \
         WHERE account_id = {victim} AND dc_id = 2"
    ))
    .await;
    let err = restarted.dc_sessions(victim).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Vault(VaultError::UnknownKey(1))),
        "{err:?}"
    );
    // A fresh process still opens (retired keys are skipped), and rotation audit is there.
    let again = db.reopen().await;
    assert_eq!(again.vault().key_ids(), vec![2]);
    let actions: Vec<String> = again
        .audit_log(None, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(actions.contains(&"key_rotation_started".into()));
    assert!(actions.contains(&"key_rotation_finished".into()));
    // Running it again is a new, complete rotation (2 → 3), not a corruption.
    db.raw_exec(&format!(
        "UPDATE dc_sessions SET auth_key = NULL WHERE account_id = {victim} AND dc_id = 2"
    ))
    .await;
    let r3 = again
        .rotate_keys(RotateOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(r3.outcome, RotationOutcome::Finished { retired: vec![2] });
    assert_eq!(
        again.dc_sessions(expected[0].0).await.unwrap()[0].auth_key,
        Some(key(0))
    );
}

async fn wrong_master_key_refused(db: &TestDb) {
    let other = MasterKey::generate().unwrap();
    let err = SqlStore::open(db.open_options(other)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Vault(VaultError::WrongMasterKey { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[tokio::test]
async fn missing_master_key_is_a_clear_error() {
    // Not touching the process environment (tests run in parallel): the message itself.
    let msg = VaultError::MasterKeyMissing.to_string();
    assert!(
        msg.contains("TELEGATE_MASTER_KEY") && msg.contains("key file"),
        "{msg}"
    );
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    let err = telegate_store::open("mysql://x@localhost/db", MasterKey::generate().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sqlite://"), "{err}");
}

#[allow(dead_code)]
fn _assert_object_safe(_: &dyn Store) {}
