//! The SQL implementation of [`Store`], over SQLite (default) or PostgreSQL.
//!
//! Why one file with a dispatch macro: the two backends share every query (both accept `$N`
//! placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING`, partial indexes), so each method is
//! written once and [`db!`] compiles its body once per typed pool (`SqlitePool` / `PgPool`).
//! Typed pools, not `sqlx::Any`, keep each driver's own types and pragmas. The few dialect
//! differences live in [`PoolExt`]. This is the only place in telegate with SQL (plus the
//! migrations, and the Telethon-file reader in `session_formats`).
//!
//! Concurrency notes:
//! - SQLite write transactions start with `BEGIN IMMEDIATE`, so two writers queue on the busy
//!   timeout instead of failing with `SQLITE_BUSY` on a read→write upgrade.
//! - Event ids come from a counter row bumped inside the appending transaction: ids become
//!   visible in commit order on PostgreSQL too, so a reader resuming "after id N" never skips an
//!   event committed late.
//! - Every sealed write checks, inside its transaction, that its key is still live
//!   (`FOR SHARE` on PostgreSQL); rotation retires keys only after re-counting in the same
//!   transaction. A writer racing a rotation either lands before the count (and the rotation
//!   does another pass) or retries under the new key.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddrV4, SocketAddrV6};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use grammers_session::types::{ChannelState, UpdateState, UpdatesState};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Row as _};

use crate::error::{Result, StoreError};
use crate::model::*;
use crate::session_formats::{static_dc_address, ImportedSession, SessionFormat};
use crate::store::{Backend, ImportRequest, Store};
use crate::vault::{MasterKey, SecretContext, Vault, VaultError};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Default `DATABASE_URL` when none is configured (relative to the working directory).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://telegate.db?mode=rwc";

/// How to open a store.
#[derive(Debug)]
pub struct OpenOptions {
    /// `sqlite://path?mode=rwc` or `postgres://user@host:port/db`.
    pub url: String,
    pub master_key: MasterKey,
    pub max_connections: u32,
    /// PostgreSQL only: use (and create) this schema, e.g. one per test run.
    pub pg_schema: Option<String>,
    /// Apply pending migrations at open (the default).
    pub migrate: bool,
}

impl OpenOptions {
    pub fn new(url: impl Into<String>, master_key: MasterKey) -> Self {
        Self {
            url: url.into(),
            master_key,
            max_connections: 8,
            pg_schema: None,
            migrate: true,
        }
    }
}

/// Opens the store named by `url` (see [`OpenOptions`]), migrated and with its key ring loaded.
pub async fn open(url: &str, master_key: MasterKey) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(
        SqlStore::open(OpenOptions::new(url, master_key)).await?,
    ))
}

/// Applies migrations to the database at `url` without loading the vault (`telegate db migrate`).
pub async fn migrate(url: &str) -> Result<()> {
    match backend_of(url)? {
        Backend::Sqlite => {
            let pool = sqlite_pool(url, 1).await?;
            SQLITE_MIGRATOR.run(&pool).await?;
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(PgConnectOptions::from_str(url)?)
                .await?;
            POSTGRES_MIGRATOR.run(&pool).await?;
            pool.close().await;
        }
    }
    Ok(())
}

fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

fn redact_url(url: &str) -> String {
    // Never echo a password from a URL.
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

async fn sqlite_pool(url: &str, max: u32) -> Result<SqlitePool> {
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30))
        .disable_statement_logging();
    Ok(SqlitePoolOptions::new()
        .max_connections(max.max(1))
        .connect_with(opts)
        .await?)
}

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the typed pool; the body is compiled once per backend.
macro_rules! db {
    ($self:expr, |$p:ident| $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

/// Dialect differences.
trait PoolExt {
    type Db: sqlx::Database;
    /// Starts a write transaction.
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Db>>;
    /// Reads a data key's state, locking the row against a concurrent retirement.
    fn key_state_sql(&self) -> &'static str;
    /// Placeholder style for generated multi-row statements: SQLite gets anonymous `?`
    /// (its `sqlite3_bind_parameter_name` walks a list, making `$N` quadratic in the number of
    /// parameters, which dominated bulk inserts), PostgreSQL needs `$N`.
    fn numbered_params(&self) -> bool;
}

impl PoolExt for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
    fn key_state_sql(&self) -> &'static str {
        "SELECT state FROM vault_keys WHERE id = $1"
    }
    fn numbered_params(&self) -> bool {
        false
    }
}

impl PoolExt for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }
    fn key_state_sql(&self) -> &'static str {
        "SELECT state FROM vault_keys WHERE id = $1 FOR SHARE"
    }
    fn numbered_params(&self) -> bool {
        true
    }
}

/// Tables with a sealed column: `(table, column, primary key columns)`. Each has `key_id`.
const SECRET_TABLES: &[(&str, &str, &[&str])] = &[
    ("dc_sessions", "auth_key", &["account_id", "dc_id"]),
    ("pending_logins", "secret_state", &["account_id"]),
    ("session_imports", "source", &["id"]),
    ("webhooks", "secret", &["id"]),
];

fn dc_ctx(account_id: i64, dc_id: i32) -> SecretContext {
    SecretContext::new("dc_sessions", "auth_key", format!("{account_id}:{dc_id}"))
}
fn login_ctx(account_id: i64) -> SecretContext {
    SecretContext::new("pending_logins", "secret_state", account_id.to_string())
}
fn import_ctx(id: i64) -> SecretContext {
    SecretContext::new("session_imports", "source", id.to_string())
}
fn webhook_ctx(id: i64) -> SecretContext {
    SecretContext::new("webhooks", "secret", id.to_string())
}

fn key_is_live(state: Option<&str>) -> bool {
    matches!(state, Some("active") | Some("retiring"))
}

/// `INSERT … VALUES ($1,…),(…)…` (or `?` placeholders) for `rows` rows of `cols` columns.
fn values_sql(numbered: bool, head: &str, cols: usize, rows: usize, tail: &str) -> String {
    let mut s = String::with_capacity(head.len() + tail.len() + rows * cols * 6);
    s.push_str(head);
    s.push_str(" VALUES ");
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            n += 1;
            if numbered {
                s.push('$');
                s.push_str(&n.to_string());
            } else {
                s.push('?');
            }
        }
        s.push(')');
    }
    s.push(' ');
    s.push_str(tail);
    s
}

const ACCOUNT_COLS: &str = "id, kind, phone, bot_id, user_id, label, state, state_reason, \
    home_dc, api_id, test_mode, created_at, updated_at, last_used_at, last_connected_at, revoked_at";

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    kind: String,
    phone: Option<String>,
    bot_id: Option<i64>,
    user_id: Option<i64>,
    label: Option<String>,
    state: String,
    state_reason: Option<String>,
    home_dc: i32,
    api_id: Option<i32>,
    test_mode: bool,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
    last_connected_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self> {
        Ok(Account {
            id: r.id,
            kind: r.kind.parse()?,
            phone: r.phone,
            bot_id: r.bot_id,
            user_id: r.user_id,
            label: r.label,
            state: r.state.parse()?,
            state_reason: r.state_reason,
            home_dc: r.home_dc,
            api_id: r.api_id,
            test_mode: r.test_mode,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_used_at: r.last_used_at,
            last_connected_at: r.last_connected_at,
            revoked_at: r.revoked_at,
        })
    }
}

const DC_COLS: &str = "account_id, dc_id, ipv4, ipv6, auth_key, revoked_at";

#[derive(sqlx::FromRow)]
struct DcRow {
    account_id: i64,
    dc_id: i32,
    ipv4: Option<String>,
    ipv6: Option<String>,
    auth_key: Option<Vec<u8>>,
    revoked_at: Option<i64>,
}

const PEER_COLS: &str =
    "peer_id, kind, access_hash, is_bot, is_self, channel_kind, username, phone, display_name";

#[derive(sqlx::FromRow)]
struct PeerRow {
    peer_id: i64,
    kind: i32,
    access_hash: Option<i64>,
    is_bot: Option<bool>,
    is_self: bool,
    channel_kind: Option<i32>,
    username: Option<String>,
    phone: Option<String>,
    display_name: Option<String>,
}

impl TryFrom<PeerRow> for CachedPeer {
    type Error = StoreError;
    fn try_from(r: PeerRow) -> Result<Self> {
        Ok(CachedPeer {
            peer_id: r.peer_id,
            kind: PeerKind::from_i32(r.kind)?,
            access_hash: r.access_hash,
            is_bot: r.is_bot,
            is_self: r.is_self,
            channel_kind: r.channel_kind,
            username: r.username,
            phone: r.phone,
            display_name: r.display_name,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SelfPeerRow {
    account_id: i64,
    #[sqlx(flatten)]
    peer: PeerRow,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    account_id: i64,
    pts: i32,
    qts: i32,
    date: i32,
    seq: i32,
}

#[derive(sqlx::FromRow)]
struct ChannelRow {
    account_id: i64,
    channel_id: i64,
    pts: i32,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    account_id: Option<i64>,
    kind: String,
    payload: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    account_id: Option<i64>,
    actor: String,
    action: String,
    details: String,
    created_at: i64,
}

const TOKEN_COLS: &str =
    "id, name, prefix, scopes, account_id, created_at, last_used_at, expires_at, revoked_at";

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    scopes: String,
    account_id: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
            account_id: r.account_id,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    account_id: i64,
    flow: String,
    step: String,
    dc_id: i32,
    phone: Option<String>,
    secret_state: Option<Vec<u8>>,
    created_at: i64,
    updated_at: i64,
    expires_at: i64,
}

const CHAT_COLS: &str = "peer_id, kind, title, username, unread_count, last_message_id, \
    last_message_at, pinned, archived";

#[derive(sqlx::FromRow)]
struct ChatRow {
    peer_id: i64,
    kind: String,
    title: Option<String>,
    username: Option<String>,
    unread_count: i32,
    last_message_id: Option<i32>,
    last_message_at: Option<i64>,
    pinned: bool,
    archived: bool,
}

const MESSAGE_COLS: &str = "peer_id, message_id, sender_id, date, text, entities, media, \
    reply_to_id, outgoing, edit_date, deleted";

#[derive(sqlx::FromRow)]
struct MessageRow {
    peer_id: i64,
    message_id: i32,
    sender_id: Option<i64>,
    date: i64,
    text: Option<String>,
    entities: Option<String>,
    media: Option<String>,
    reply_to_id: Option<i32>,
    outgoing: bool,
    edit_date: Option<i64>,
    deleted: bool,
}

const CONTACT_COLS: &str = "user_id, access_hash, phone, first_name, last_name, username, \
    mutual, job_title, company, notes";

#[derive(sqlx::FromRow)]
struct ContactRow {
    user_id: i64,
    access_hash: Option<i64>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
    mutual: bool,
    job_title: Option<String>,
    company: Option<String>,
    notes: Option<String>,
}

const LINK_COLS: &str = "link, peer_id, title, admin_id, usage_limit, current_uses, \
    request_needed, expire_at, revoked";

#[derive(sqlx::FromRow)]
struct LinkRow {
    link: String,
    peer_id: i64,
    title: Option<String>,
    admin_id: Option<i64>,
    usage_limit: Option<i32>,
    current_uses: i32,
    request_needed: bool,
    expire_at: Option<i64>,
    revoked: bool,
}

const UPLOAD_COLS: &str = "id, account_id, file_id, name, mime_type, total_size, part_size, \
    total_parts, big, parts_done, state, expires_at, media_check";

#[derive(sqlx::FromRow)]
struct UploadRow {
    id: String,
    account_id: i64,
    file_id: i64,
    name: String,
    mime_type: Option<String>,
    total_size: i64,
    part_size: i32,
    total_parts: i32,
    big: bool,
    parts_done: Vec<u8>,
    state: String,
    expires_at: i64,
    media_check: Option<String>,
}

const WEBHOOK_COLS: &str = "id, account_id, url, secret IS NOT NULL AS has_secret, event_filter, \
    enabled, created_at, description, start_after_event_id, updated_at";

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: i64,
    account_id: Option<i64>,
    url: String,
    has_secret: bool,
    event_filter: String,
    enabled: bool,
    created_at: i64,
    description: Option<String>,
    start_after_event_id: i64,
    updated_at: i64,
}

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Self {
        Webhook {
            id: r.id,
            account_id: r.account_id,
            url: r.url,
            has_secret: r.has_secret,
            event_filter: r.event_filter,
            enabled: r.enabled,
            created_at: r.created_at,
            description: r.description,
            start_after_event_id: r.start_after_event_id,
            updated_at: r.updated_at,
        }
    }
}

const DELIVERY_COLS: &str =
    "id, webhook_id, event_id, state, attempts, next_attempt_at, last_status, last_error, \
     created_at, delivered_at, last_attempt_at, COALESCE(window_started_at, created_at) AS window_started_at";

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    event_id: i64,
    state: String,
    attempts: i32,
    next_attempt_at: i64,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
    last_attempt_at: Option<i64>,
    window_started_at: i64,
}

impl From<DeliveryRow> for WebhookDelivery {
    fn from(r: DeliveryRow) -> Self {
        WebhookDelivery {
            id: r.id,
            webhook_id: r.webhook_id,
            event_id: r.event_id,
            state: r.state,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_status: r.last_status,
            last_error: r.last_error,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
            last_attempt_at: r.last_attempt_at,
            window_started_at: r.window_started_at,
        }
    }
}

fn json_text(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn parse_json(s: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("JSON column: {e}")))
}

/// Dedups by key keeping the last occurrence, preserving first-seen order
/// (PostgreSQL refuses an upsert that touches one row twice).
fn dedup_last<T: Clone, K: std::hash::Hash + Eq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    let mut index: HashMap<K, usize> = HashMap::with_capacity(items.len());
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for it in items {
        match index.entry(key(it)) {
            std::collections::hash_map::Entry::Occupied(e) => out[*e.get()] = it.clone(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(it.clone());
            }
        }
    }
    out
}

fn merge_peers(peers: &[CachedPeer]) -> Vec<CachedPeer> {
    let mut index: HashMap<i64, usize> = HashMap::with_capacity(peers.len());
    let mut out: Vec<CachedPeer> = Vec::with_capacity(peers.len());
    for p in peers {
        if let Some(&i) = index.get(&p.peer_id) {
            let o = &mut out[i];
            o.kind = p.kind;
            o.access_hash = p.access_hash.or(o.access_hash);
            o.is_bot = p.is_bot.or(o.is_bot);
            o.is_self |= p.is_self;
            o.channel_kind = p.channel_kind.or(o.channel_kind);
            o.username = p.username.clone().or(o.username.take());
            o.phone = p.phone.clone().or(o.phone.take());
            o.display_name = p.display_name.clone().or(o.display_name.take());
        } else {
            index.insert(p.peer_id, out.len());
            out.push(p.clone());
        }
    }
    out
}

const PEER_CHUNK: usize = 256;
const EVENT_CHUNK: usize = 256;
const ROW_CHUNK: usize = 128;

/// The SQL store. Construct with [`SqlStore::open`] or [`open`].
pub struct SqlStore {
    pool: Pool,
    vault: Vault,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend())
            .field("vault", &self.vault)
            .finish()
    }
}

struct BatchResult {
    event_ids: Vec<i64>,
    deleted: u64,
}

impl SqlStore {
    /// Opens, migrates (unless disabled) and loads (or bootstraps) the key ring.
    pub async fn open(opts: OpenOptions) -> Result<Self> {
        let pool = match backend_of(&opts.url)? {
            Backend::Sqlite => Pool::Sqlite(sqlite_pool(&opts.url, opts.max_connections).await?),
            Backend::Postgres => {
                let mut co = PgConnectOptions::from_str(&opts.url)?.disable_statement_logging();
                if let Some(schema) = &opts.pg_schema {
                    if schema.is_empty()
                        || !schema
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    {
                        return Err(StoreError::Invalid(format!(
                            "schema name {schema:?}: use [a-z0-9_]"
                        )));
                    }
                    let mut conn = co.connect().await?;
                    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                        .execute(&mut conn)
                        .await?;
                    sqlx::Connection::close(conn).await?;
                    co = co.options([("search_path", schema.as_str())]);
                }
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(opts.max_connections.max(1))
                        .connect_with(co)
                        .await?,
                )
            }
        };
        let store = Self {
            pool,
            vault: Vault::new(opts.master_key),
        };
        if opts.migrate {
            store.migrate().await?;
        }
        store.reload_keys().await?;
        Ok(store)
    }

    /// The data keys in the database, creating key 1 on a fresh database.
    async fn load_key_rows(&self) -> Result<Vec<(i32, Option<Vec<u8>>, String, String)>> {
        let sql = "SELECT id, wrapped, master_fp, state FROM vault_keys ORDER BY id";
        let rows: Vec<(i32, Option<Vec<u8>>, String, String)> =
            db!(self, |p| sqlx::query_as(sql).fetch_all(p).await)?;
        if !rows.is_empty() {
            return Ok(rows);
        }
        let wrapped = self.vault.new_wrapped_data_key(1)?;
        let fp = self.vault.master_fingerprint().to_owned();
        let now = now_ms();
        db!(self, |p| {
            sqlx::query(
                "INSERT INTO vault_keys (id, wrapped, master_fp, state, created_at) \
                 VALUES (1, $1, $2, 'active', $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&wrapped)
            .bind(&fp)
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(db!(self, |p| sqlx::query_as(sql).fetch_all(p).await)?)
    }

    /// Seals `plaintext` and runs `write` + the key liveness check in one transaction,
    /// retrying under a reloaded ring if a rotation retired the key meanwhile.
    async fn sealed_write<'f, F>(
        &'f self,
        ctx: &SecretContext,
        plaintext: &[u8],
        write: F,
    ) -> Result<()>
    where
        F: Fn(&'f SqlStore, u32, Vec<u8>) -> WriteFut<'f> + Send + Sync,
    {
        for _ in 0..4 {
            let (kid, sealed) = self.vault.seal(ctx, plaintext)?;
            match write(self, kid, sealed).await? {
                KeyCheck::Live { retiring } => {
                    if retiring {
                        self.reload_keys().await?;
                    }
                    return Ok(());
                }
                KeyCheck::Dead => self.reload_keys().await?,
            }
        }
        Err(VaultError::NoActiveKey.into())
    }

    async fn write_batch(&self, b: &UpdateBatch, now: i64) -> Result<BatchResult> {
        self.write_batches(std::slice::from_ref(b), &[], now)
            .await?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("empty batch result".into()))
    }

    async fn write_batches(
        &self,
        batches: &[UpdateBatch],
        idempotency: &[IdempotencyRecord],
        now: i64,
    ) -> Result<Vec<BatchResult>> {
        // Deduplicated and sorted by key: concurrent batches then lock rows in one order
        // (no deadlocks on PostgreSQL).
        let prepared: Vec<_> = batches
            .iter()
            .map(|b| {
                let mut peers = merge_peers(&b.peers);
                peers.sort_by_key(|p| p.peer_id);
                let mut chats = dedup_last(&b.chats, |c| c.peer_id);
                chats.sort_by_key(|c| c.peer_id);
                let mut messages = dedup_last(&b.messages, |m| (m.peer_id, m.message_id));
                messages.sort_by_key(|m| (m.peer_id, m.message_id));
                let mut activity = b.chat_activity.clone();
                activity.sort_by_key(|a| a.peer_id);
                (peers, chats, messages, activity)
            })
            .collect();
        let total_events: usize = batches.iter().map(|b| b.events.len()).sum();
        let mut idem = dedup_last(idempotency, |r| (r.account_id, r.key.clone()));
        idem.sort_by(|a, b| (a.account_id, &a.key).cmp(&(b.account_id, &b.key)));
        let result = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut results = Vec::with_capacity(batches.len());
            // Events first: the counter row is the write lock that orders appends. One bump
            // for the whole group, then every event of every batch in a few multi-row inserts.
            if total_events > 0 {
                let last: i64 = sqlx::query_scalar(
                    "UPDATE event_seq SET last = last + $1 WHERE id = 1 RETURNING last",
                )
                .bind(total_events as i64)
                .fetch_one(&mut *tx)
                .await?;
                let first = last - total_events as i64 + 1;
                let all: Vec<&NewEvent> = batches.iter().flat_map(|b| b.events.iter()).collect();
                for (ci, chunk) in all.chunks(EVENT_CHUNK).enumerate() {
                    let sql = values_sql(
                        p.numbered_params(),
                        "INSERT INTO events (id, account_id, kind, payload, created_at)",
                        5,
                        chunk.len(),
                        "",
                    );
                    let mut q = sqlx::query(&sql);
                    for (i, e) in chunk.iter().enumerate() {
                        q = q
                            .bind(first + (ci * EVENT_CHUNK + i) as i64)
                            .bind(e.account_id)
                            .bind(&e.kind)
                            .bind(json_text(&e.payload))
                            .bind(now);
                    }
                    q.execute(&mut *tx).await?;
                }
                let mut next = first;
                for b in batches {
                    let n = b.events.len() as i64;
                    results.push(BatchResult {
                        event_ids: (next..next + n).collect(),
                        deleted: 0,
                    });
                    next += n;
                }
            } else {
                for _ in batches {
                    results.push(BatchResult {
                        event_ids: Vec::new(),
                        deleted: 0,
                    });
                }
            }
            for (bi, (b, (peers, chats, messages, activity))) in
                batches.iter().zip(&prepared).enumerate()
            {
                let account_id = b.account_id;
                for chunk in peers.chunks(PEER_CHUNK) {
                    let sql = values_sql(
                    p.numbered_params(),
                    "INSERT INTO peers (account_id, peer_id, kind, access_hash, is_bot, is_self, \
                     channel_kind, username, phone, display_name, updated_at)",
                    11,
                    chunk.len(),
                    "ON CONFLICT (account_id, peer_id) DO UPDATE SET kind = excluded.kind, \
                     access_hash = COALESCE(excluded.access_hash, peers.access_hash), \
                     is_bot = COALESCE(excluded.is_bot, peers.is_bot), \
                     is_self = (excluded.is_self OR peers.is_self), \
                     channel_kind = COALESCE(excluded.channel_kind, peers.channel_kind), \
                     username = COALESCE(excluded.username, peers.username), \
                     phone = COALESCE(excluded.phone, peers.phone), \
                     display_name = COALESCE(excluded.display_name, peers.display_name), \
                     updated_at = excluded.updated_at",
                );
                    let mut q = sqlx::query(&sql);
                    for x in chunk {
                        q = q
                            .bind(account_id)
                            .bind(x.peer_id)
                            .bind(x.kind as i32)
                            .bind(x.access_hash)
                            .bind(x.is_bot)
                            .bind(x.is_self)
                            .bind(x.channel_kind)
                            .bind(&x.username)
                            .bind(&x.phone)
                            .bind(&x.display_name)
                            .bind(now);
                    }
                    q.execute(&mut *tx).await?;
                }
                for chunk in chats.chunks(ROW_CHUNK) {
                    let sql = values_sql(
                    p.numbered_params(),
                    "INSERT INTO chats (account_id, peer_id, kind, title, username, unread_count, \
                     last_message_id, last_message_at, pinned, archived, updated_at)",
                    11,
                    chunk.len(),
                    "ON CONFLICT (account_id, peer_id) DO UPDATE SET kind = excluded.kind, \
                     title = excluded.title, username = excluded.username, \
                     unread_count = excluded.unread_count, \
                     last_message_id = excluded.last_message_id, \
                     last_message_at = excluded.last_message_at, pinned = excluded.pinned, \
                     archived = excluded.archived, updated_at = excluded.updated_at",
                );
                    let mut q = sqlx::query(&sql);
                    for c in chunk {
                        q = q
                            .bind(account_id)
                            .bind(c.peer_id)
                            .bind(&c.kind)
                            .bind(&c.title)
                            .bind(&c.username)
                            .bind(c.unread_count)
                            .bind(c.last_message_id)
                            .bind(c.last_message_at)
                            .bind(c.pinned)
                            .bind(c.archived)
                            .bind(now);
                    }
                    q.execute(&mut *tx).await?;
                }
                for chunk in messages.chunks(ROW_CHUNK) {
                    let sql = values_sql(
                    p.numbered_params(),
                    "INSERT INTO messages (account_id, peer_id, message_id, sender_id, date, text, \
                     entities, media, reply_to_id, outgoing, edit_date, deleted)",
                    12,
                    chunk.len(),
                    "ON CONFLICT (account_id, peer_id, message_id) DO UPDATE SET \
                     sender_id = excluded.sender_id, date = excluded.date, text = excluded.text, \
                     entities = excluded.entities, media = excluded.media, \
                     reply_to_id = excluded.reply_to_id, outgoing = excluded.outgoing, \
                     edit_date = excluded.edit_date, deleted = excluded.deleted",
                );
                    let mut q = sqlx::query(&sql);
                    for m in chunk {
                        q = q
                            .bind(account_id)
                            .bind(m.peer_id)
                            .bind(m.message_id)
                            .bind(m.sender_id)
                            .bind(m.date)
                            .bind(&m.text)
                            .bind(&m.entities)
                            .bind(&m.media)
                            .bind(m.reply_to_id)
                            .bind(m.outgoing)
                            .bind(m.edit_date)
                            .bind(m.deleted);
                    }
                    q.execute(&mut *tx).await?;
                }
                for a in activity.iter() {
                    // Newer wins for the last message; counters move by deltas; a read receipt
                    // sets the unread count Telegram reports. CASE instead of MAX/GREATEST: one
                    // statement for both dialects.
                    sqlx::query(
                    "INSERT INTO chats (account_id, peer_id, kind, title, username, unread_count, \
                     last_message_id, last_message_at, pinned, archived, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, FALSE, $9) \
                     ON CONFLICT (account_id, peer_id) DO UPDATE SET \
                     title = COALESCE(excluded.title, chats.title), \
                     username = COALESCE(excluded.username, chats.username), \
                     last_message_id = CASE WHEN chats.last_message_at IS NULL \
                       OR excluded.last_message_at > chats.last_message_at \
                       OR (excluded.last_message_at = chats.last_message_at \
                           AND excluded.last_message_id > chats.last_message_id) \
                       THEN COALESCE(excluded.last_message_id, chats.last_message_id) \
                       ELSE chats.last_message_id END, \
                     last_message_at = CASE WHEN chats.last_message_at IS NULL \
                       OR excluded.last_message_at > chats.last_message_at \
                       THEN COALESCE(excluded.last_message_at, chats.last_message_at) \
                       ELSE chats.last_message_at END, \
                     unread_count = CASE WHEN $10 THEN excluded.unread_count \
                       ELSE chats.unread_count + excluded.unread_count END, \
                     updated_at = excluded.updated_at",
                )
                .bind(account_id)
                .bind(a.peer_id)
                .bind(&a.kind)
                .bind(&a.title)
                .bind(&a.username)
                .bind(a.unread_count.unwrap_or(a.unread_delta).max(0))
                .bind(a.last_message_id)
                .bind(a.last_message_at)
                .bind(now)
                .bind(a.unread_count.is_some())
                .execute(&mut *tx)
                .await?;
                }
                let mut deleted = 0u64;
                for (peer, ids) in &b.deleted {
                    for id in ids {
                        let r = match peer {
                            Some(peer) => {
                                sqlx::query(
                                    "UPDATE messages SET deleted = TRUE, deleted_at = $1 \
                             WHERE account_id = $2 AND peer_id = $3 AND message_id = $4 \
                             AND deleted = FALSE",
                                )
                                .bind(now)
                                .bind(account_id)
                                .bind(*peer)
                                .bind(*id)
                                .execute(&mut *tx)
                                .await?
                            }
                            // No peer: user and basic-group messages, whose ids are per account.
                            None => {
                                sqlx::query(
                                    "UPDATE messages SET deleted = TRUE, deleted_at = $1 \
                             WHERE account_id = $2 AND message_id = $3 AND deleted = FALSE \
                             AND peer_id > -1000000000000",
                                )
                                .bind(now)
                                .bind(account_id)
                                .bind(*id)
                                .execute(&mut *tx)
                                .await?
                            }
                        };
                        deleted += r.rows_affected();
                    }
                }
                for st in &b.state {
                    match st {
                        UpdateState::All(s) => {
                            sqlx::query(
                            "INSERT INTO update_states (account_id, pts, qts, date, seq, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id) DO UPDATE SET \
                             pts = excluded.pts, qts = excluded.qts, date = excluded.date, \
                             seq = excluded.seq, updated_at = excluded.updated_at",
                        )
                        .bind(account_id)
                        .bind(s.pts)
                        .bind(s.qts)
                        .bind(s.date)
                        .bind(s.seq)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                            sqlx::query("DELETE FROM channel_states WHERE account_id = $1")
                                .bind(account_id)
                                .execute(&mut *tx)
                                .await?;
                            let channels = dedup_last(&s.channels, |c| c.id);
                            for chunk in channels.chunks(ROW_CHUNK) {
                                let sql = values_sql(
                                    p.numbered_params(),
                                    "INSERT INTO channel_states (account_id, channel_id, pts)",
                                    3,
                                    chunk.len(),
                                    "",
                                );
                                let mut q = sqlx::query(&sql);
                                for c in chunk {
                                    q = q.bind(account_id).bind(c.id).bind(c.pts);
                                }
                                q.execute(&mut *tx).await?;
                            }
                        }
                        UpdateState::Primary { pts, date, seq } => {
                            sqlx::query(
                            "INSERT INTO update_states (account_id, pts, qts, date, seq, updated_at) \
                             VALUES ($1, $2, 0, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET \
                             pts = excluded.pts, date = excluded.date, seq = excluded.seq, \
                             updated_at = excluded.updated_at",
                        )
                        .bind(account_id)
                        .bind(*pts)
                        .bind(*date)
                        .bind(*seq)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        }
                        UpdateState::Secondary { qts } => {
                            sqlx::query(
                            "INSERT INTO update_states (account_id, pts, qts, date, seq, updated_at) \
                             VALUES ($1, 0, $2, 0, 0, $3) ON CONFLICT (account_id) DO UPDATE SET \
                             qts = excluded.qts, updated_at = excluded.updated_at",
                        )
                        .bind(account_id)
                        .bind(*qts)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        }
                        UpdateState::Channel { id, pts } => {
                            sqlx::query(
                                "INSERT INTO channel_states (account_id, channel_id, pts) \
                             VALUES ($1, $2, $3) ON CONFLICT (account_id, channel_id) \
                             DO UPDATE SET pts = excluded.pts",
                            )
                            .bind(account_id)
                            .bind(*id)
                            .bind(*pts)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
                results[bi].deleted = deleted;
            }
            for chunk in idem.chunks(ROW_CHUNK) {
                let sql = values_sql(
                    p.numbered_params(),
                    "INSERT INTO idempotency_keys (account_id, idem_key, fingerprint, outcome, \
                     created_at)",
                    5,
                    chunk.len(),
                    "ON CONFLICT (account_id, idem_key) DO NOTHING",
                );
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q
                        .bind(r.account_id)
                        .bind(&r.key)
                        .bind(&r.fingerprint)
                        .bind(json_text(&r.outcome))
                        .bind(r.created_at);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(results)
        })?;
        Ok(result)
    }

    /// Another process (e.g. `telegate keys rotate`) may have added a data key: if a sealed
    /// value names a key this ring does not hold, reload the ring once before opening.
    async fn ensure_keys<'a>(&self, sealed: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
        let unknown = sealed
            .into_iter()
            .any(|s| crate::vault::sealed_key_id(s).is_ok_and(|id| !self.vault.has_key(id)));
        if unknown {
            self.reload_keys().await?;
        }
        Ok(())
    }

    fn open_dc(&self, r: DcRow) -> Result<DcSession> {
        let auth_key = match (&r.auth_key, r.revoked_at) {
            (Some(sealed), None) => {
                let pt = self.vault.open(&dc_ctx(r.account_id, r.dc_id), sealed)?;
                Some(AuthKey::from_slice(&pt).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "auth key of account {} DC {} is not 256 bytes",
                        r.account_id, r.dc_id
                    ))
                })?)
            }
            // A revoked key stays sealed in the database until purged, but is never handed out.
            _ => None,
        };
        let parse_err = |what: &str| {
            StoreError::Corrupt(format!("{what} of account {} DC {}", r.account_id, r.dc_id))
        };
        Ok(DcSession {
            dc_id: r.dc_id,
            ipv4: r
                .ipv4
                .as_deref()
                .map(SocketAddrV4::from_str)
                .transpose()
                .map_err(|_| parse_err("ipv4"))?,
            ipv6: r
                .ipv6
                .as_deref()
                .map(SocketAddrV6::from_str)
                .transpose()
                .map_err(|_| parse_err("ipv6"))?,
            auth_key,
            revoked_at: r.revoked_at,
        })
    }

    /// Rotation step 2: re-encrypts one batch of one table; returns rows changed.
    async fn rotate_batch(
        &self,
        table: &'static str,
        column: &'static str,
        pk: &'static [&'static str],
        target: u32,
        batch: u32,
    ) -> Result<Option<u64>> {
        let pk_sel: Vec<String> = pk.iter().map(|c| format!("CAST({c} AS BIGINT)")).collect();
        let select = format!(
            "SELECT {}, {column} FROM {table} WHERE {column} IS NOT NULL AND \
             (key_id IS NULL OR key_id <> $1) ORDER BY {} LIMIT $2",
            pk_sel.join(", "),
            pk.join(", ")
        );
        let mut where_pk: Vec<String> = pk
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 3))
            .collect();
        where_pk.push(format!("{column} = ${}", pk.len() + 3));
        let update = format!(
            "UPDATE {table} SET {column} = $1, key_id = $2 WHERE {}",
            where_pk.join(" AND ")
        );
        let rows: Vec<(Vec<i64>, Vec<u8>)> = db!(self, |p| {
            let rows = sqlx::query(&select)
                .bind(target as i32)
                .bind(batch as i64)
                .fetch_all(p)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let mut keys = Vec::with_capacity(pk.len());
                for i in 0..pk.len() {
                    keys.push(r.try_get::<i64, _>(i)?);
                }
                out.push((keys, r.try_get::<Vec<u8>, _>(pk.len())?));
            }
            Ok::<_, sqlx::Error>(out)
        })?;
        if rows.is_empty() {
            return Ok(None);
        }
        // Re-encrypt outside the transaction (CPU), write inside it.
        let mut resealed = Vec::with_capacity(rows.len());
        for (keys, sealed) in &rows {
            let row = keys
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(":");
            let ctx = SecretContext::new(table, column, row);
            let pt = self.vault.open(&ctx, sealed)?;
            resealed.push(self.vault.seal_with(target, &ctx, &pt)?);
        }
        let now = now_ms();
        let changed = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let mut changed = 0u64;
            for ((keys, old), new) in rows.iter().zip(&resealed) {
                let mut q = sqlx::query(&update).bind(new).bind(target as i32);
                for k in keys {
                    q = q.bind(*k);
                }
                // Compare-and-swap on the old ciphertext: a concurrent writer wins.
                changed += q.bind(old).execute(&mut *tx).await?.rows_affected();
            }
            sqlx::query(
                "UPDATE vault_rotations SET rows_done = rows_done + $1, \
                 batches_done = batches_done + 1, updated_at = $2 \
                 WHERE target_key_id = $3 AND state = 'running'",
            )
            .bind(changed as i64)
            .bind(now)
            .bind(target as i32)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(changed)
        })?;
        Ok(Some(changed))
    }

    async fn remaining_under_old_keys(&self, target: u32) -> Result<Vec<(&'static str, u64)>> {
        let mut out = Vec::new();
        for (table, column, _) in SECRET_TABLES {
            let sql = format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} IS NOT NULL AND \
                 (key_id IS NULL OR key_id <> $1)"
            );
            let n: i64 = db!(self, |p| sqlx::query_scalar(&sql)
                .bind(target as i32)
                .fetch_one(p)
                .await)?;
            out.push((*table, n as u64));
        }
        Ok(out)
    }

    /// Rotation step 3: retire every `retiring` key if no secret still uses one.
    async fn try_finish_rotation(&self, target: u32, actor: &str) -> Result<Option<Vec<u32>>> {
        let now = now_ms();
        let counts: Vec<String> = SECRET_TABLES
            .iter()
            .map(|(t, c, _)| {
                format!(
                    "(SELECT COUNT(*) FROM {t} WHERE {c} IS NOT NULL AND \
                     (key_id IS NULL OR key_id <> $1))"
                )
            })
            .collect();
        let count_sql = format!("SELECT {}", counts.join(" + "));
        let retired = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            // Lock the keys first (waits for sealed writers holding FOR SHARE), then count.
            let retired: Vec<i32> = sqlx::query_scalar(
                "UPDATE vault_keys SET state = 'retired', wrapped = NULL, retired_at = $1 \
                 WHERE state = 'retiring' RETURNING id",
            )
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let left: i64 = sqlx::query_scalar(&count_sql)
                .bind(target as i32)
                .fetch_one(&mut *tx)
                .await?;
            if left > 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            sqlx::query(
                "UPDATE vault_rotations SET state = 'done', finished_at = $1, updated_at = $1 \
                 WHERE target_key_id = $2 AND state = 'running'",
            )
            .bind(now)
            .bind(target as i32)
            .execute(&mut *tx)
            .await?;
            let details = serde_json::json!({
                "target_key_id": target,
                "retired": retired,
            });
            sqlx::query(
                "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                 VALUES (NULL, $1, $2, $3, $4)",
            )
            .bind(actor)
            .bind(AuditAction::KeyRotationFinished.as_str())
            .bind(json_text(&details))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(Some(retired))
        })?;
        Ok(retired.map(|r| r.into_iter().map(|id| id as u32).collect()))
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> Result<i64> {
        let now = now_ms();
        Ok(db!(self, |p| sqlx::query_scalar(
            "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(entry.account_id)
        .bind(&entry.actor)
        .bind(entry.action.as_str())
        .bind(json_text(&entry.details))
        .bind(now)
        .fetch_one(p)
        .await)?)
    }

    fn snapshot_parts(
        &self,
        account: AccountRow,
        dcs: Vec<DcRow>,
        state: Option<(i32, i32, i32, i32)>,
        channels: Vec<ChannelState>,
        self_peer: Option<PeerRow>,
        peers: Vec<PeerRow>,
    ) -> Result<SessionSnapshot> {
        let (pts, qts, date, seq) = state.unwrap_or_default();
        Ok(SessionSnapshot {
            account: account.try_into()?,
            dcs: dcs
                .into_iter()
                .map(|d| self.open_dc(d))
                .collect::<Result<_>>()?,
            updates: UpdatesState {
                pts,
                qts,
                date,
                seq,
                channels,
            },
            self_peer: self_peer.map(TryInto::try_into).transpose()?,
            peers: peers
                .into_iter()
                .map(TryInto::try_into)
                .collect::<Result<_>>()?,
        })
    }
}

type WriteFut<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<KeyCheck>> + Send + 'a>>;

enum KeyCheck {
    Live { retiring: bool },
    Dead,
}

/// Runs the key liveness check at the end of a sealed write; commits or rolls back.
macro_rules! finish_sealed {
    ($p:ident, $tx:ident, $kid:expr) => {{
        let state: Option<String> = sqlx::query_scalar($p.key_state_sql())
            .bind($kid as i32)
            .fetch_optional(&mut *$tx)
            .await?;
        if key_is_live(state.as_deref()) {
            $tx.commit().await?;
            Ok(KeyCheck::Live {
                retiring: state.as_deref() == Some("retiring"),
            })
        } else {
            $tx.rollback().await?;
            Ok(KeyCheck::Dead)
        }
    }};
}

// The API layer's queries (0003_api); after the macros so it can use them.
mod api;

fn write_login<'a>(
    s: &'a SqlStore,
    login: &'a PendingLogin,
    kid: Option<u32>,
    sealed: Option<Vec<u8>>,
) -> WriteFut<'a> {
    const SQL: &str = "INSERT INTO pending_logins (account_id, flow, step, dc_id, phone, \
        secret_state, key_id, created_at, updated_at, expires_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
        ON CONFLICT (account_id) DO UPDATE SET flow = excluded.flow, \
        step = excluded.step, dc_id = excluded.dc_id, phone = excluded.phone, \
        secret_state = excluded.secret_state, key_id = excluded.key_id, \
        updated_at = excluded.updated_at, expires_at = excluded.expires_at";
    Box::pin(async move {
        db!(s, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(SQL)
                .bind(login.account_id)
                .bind(&login.flow)
                .bind(&login.step)
                .bind(login.dc_id)
                .bind(&login.phone)
                .bind(&sealed)
                .bind(kid.map(|k| k as i32))
                .bind(login.created_at)
                .bind(login.updated_at)
                .bind(login.expires_at)
                .execute(&mut *tx)
                .await?;
            match kid {
                Some(kid) => finish_sealed!(p, tx, kid),
                None => {
                    tx.commit().await?;
                    Ok(KeyCheck::Live { retiring: false })
                }
            }
        })
    })
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    fn vault(&self) -> &Vault {
        &self.vault
    }

    async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite(p) => SQLITE_MIGRATOR.run(p).await?,
            Pool::Postgres(p) => POSTGRES_MIGRATOR.run(p).await?,
        }
        Ok(())
    }

    async fn close(&self) {
        db!(self, |p| p.close().await)
    }

    async fn reload_keys(&self) -> Result<()> {
        let rows = self.load_key_rows().await?;
        let mut live = HashSet::new();
        let mut active = None;
        for (id, wrapped, fp, state) in rows {
            let id = id as u32;
            if state == "retired" {
                continue;
            }
            if fp != self.vault.master_fingerprint() {
                return Err(VaultError::WrongMasterKey {
                    given: self.vault.master_fingerprint().to_owned(),
                    expected: fp,
                }
                .into());
            }
            let wrapped = wrapped.ok_or_else(|| {
                StoreError::Corrupt(format!("data key {id} is {state} but has no key material"))
            })?;
            if !self.vault.has_key(id) {
                self.vault
                    .install_wrapped(id, &wrapped)
                    .map_err(|e| match e {
                        VaultError::OpenFailed { .. } => VaultError::WrongMasterKey {
                            given: self.vault.master_fingerprint().to_owned(),
                            expected: fp.clone(),
                        },
                        e => e,
                    })?;
            }
            live.insert(id);
            if state == "active" {
                active = Some(id);
            }
        }
        for id in self.vault.key_ids() {
            if !live.contains(&id) {
                self.vault.forget(id);
            }
        }
        match active {
            Some(id) => self.vault.set_active(id)?,
            None => return Err(VaultError::NoActiveKey.into()),
        }
        Ok(())
    }

    async fn vault_keys(&self) -> Result<Vec<VaultKeyInfo>> {
        let rows: Vec<(i32, String, i64, Option<i64>)> = db!(self, |p| sqlx::query_as(
            "SELECT id, state, created_at, retired_at FROM vault_keys ORDER BY id"
        )
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, state, created_at, retired_at)| VaultKeyInfo {
                id: id as u32,
                state,
                created_at,
                retired_at,
            })
            .collect())
    }

    async fn rotate_keys(
        &self,
        opts: RotateOptions,
        progress: &mut (dyn FnMut(RotationProgress) + Send),
    ) -> Result<RotationReport> {
        self.reload_keys().await?;
        let running: Option<(i32, i64)> = db!(self, |p| sqlx::query_as(
            "SELECT target_key_id, rows_done FROM vault_rotations WHERE state = 'running' \
             ORDER BY id LIMIT 1"
        )
        .fetch_optional(p)
        .await)?;
        let (target, resumed, mut done) = match running {
            Some((t, done)) => (t as u32, true, done as u64),
            None => {
                let now = now_ms();
                let max: Option<i32> = db!(self, |p| sqlx::query_scalar(
                    "SELECT MAX(id) FROM vault_keys"
                )
                .fetch_one(p)
                .await)?;
                let new_id = max.unwrap_or(0) as u32 + 1;
                let wrapped = self.vault.new_wrapped_data_key(new_id)?;
                let fp = self.vault.master_fingerprint().to_owned();
                let details = serde_json::json!({ "target_key_id": new_id });
                db!(self, |p| {
                    let mut tx = p.begin_write().await?;
                    sqlx::query("UPDATE vault_keys SET state = 'retiring' WHERE state = 'active'")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO vault_keys (id, wrapped, master_fp, state, created_at) \
                         VALUES ($1, $2, $3, 'active', $4)",
                    )
                    .bind(new_id as i32)
                    .bind(&wrapped)
                    .bind(&fp)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO vault_rotations (target_key_id, state, started_at, updated_at) \
                         VALUES ($1, 'running', $2, $2)",
                    )
                    .bind(new_id as i32)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                         VALUES (NULL, $1, $2, $3, $4)",
                    )
                    .bind(&opts.actor)
                    .bind(AuditAction::KeyRotationStarted.as_str())
                    .bind(json_text(&details))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await
                })?;
                (new_id, false, 0)
            }
        };
        self.reload_keys().await?;
        let mut batches = 0u64;
        let batch = opts.batch_size.max(1);
        loop {
            let remaining = self.remaining_under_old_keys(target).await?;
            let total = done + remaining.iter().map(|(_, n)| n).sum::<u64>();
            for (table, column, pk) in SECRET_TABLES {
                while let Some(n) = self.rotate_batch(table, column, pk, target, batch).await? {
                    done += n;
                    batches += 1;
                    progress(RotationProgress {
                        target_key_id: target,
                        table,
                        done,
                        total: total.max(done),
                    });
                    if opts.stop_after_batches == Some(batches) {
                        return Ok(RotationReport {
                            target_key_id: target,
                            resumed,
                            rows_done: done,
                            outcome: RotationOutcome::Interrupted,
                        });
                    }
                }
            }
            if let Some(retired) = self.try_finish_rotation(target, &opts.actor).await? {
                for id in &retired {
                    self.vault.forget(*id);
                }
                return Ok(RotationReport {
                    target_key_id: target,
                    resumed,
                    rows_done: done,
                    outcome: RotationOutcome::Finished { retired },
                });
            }
            // A writer sealed under an old key meanwhile: another pass.
        }
    }

    async fn create_account(&self, new: NewAccount, actor: &str) -> Result<Account> {
        let now = now_ms();
        let sql = format!(
            "INSERT INTO accounts (kind, phone, bot_id, label, state, home_dc, api_id, test_mode, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             RETURNING {ACCOUNT_COLS}"
        );
        let details = serde_json::json!({ "kind": new.kind.as_str(), "label": new.label });
        let row: AccountRow = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let row: AccountRow = sqlx::query_as(&sql)
                .bind(new.kind.as_str())
                .bind(&new.phone)
                .bind(new.bot_id)
                .bind(&new.label)
                .bind(new.state.as_str())
                .bind(new.home_dc)
                .bind(new.api_id)
                .bind(new.test_mode)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(row.id)
            .bind(actor)
            .bind(AuditAction::AccountCreated.as_str())
            .bind(json_text(&details))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        })?;
        row.try_into()
    }

    async fn account(&self, id: i64) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1");
        let row: Option<AccountRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn accounts(&self) -> Result<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts ORDER BY id");
        let rows: Vec<AccountRow> = db!(self, |p| sqlx::query_as(&sql).fetch_all(p).await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn set_account_state(
        &self,
        id: i64,
        state: AccountState,
        reason: Option<&str>,
    ) -> Result<()> {
        let n = db!(self, |p| sqlx::query(
            "UPDATE accounts SET state = $1, state_reason = $2, updated_at = $3 WHERE id = $4"
        )
        .bind(state.as_str())
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::not_found(format!("account {id}")));
        }
        Ok(())
    }

    async fn set_account_user(&self, id: i64, user_id: i64, phone: Option<&str>) -> Result<()> {
        let n = db!(self, |p| sqlx::query(
            "UPDATE accounts SET user_id = $1, phone = COALESCE($2, phone), updated_at = $3, \
             revoked_at = NULL WHERE id = $4"
        )
        .bind(user_id)
        .bind(phone)
        .bind(now_ms())
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::not_found(format!("account {id}")));
        }
        Ok(())
    }

    async fn set_home_dc(&self, id: i64, dc_id: i32) -> Result<()> {
        db!(self, |p| sqlx::query(
            "UPDATE accounts SET home_dc = $1, updated_at = $2 WHERE id = $3"
        )
        .bind(dc_id)
        .bind(now_ms())
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn touch_account(&self, id: i64, now: i64) -> Result<()> {
        db!(self, |p| sqlx::query(
            "UPDATE accounts SET last_used_at = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn mark_connected(&self, id: i64, now: i64) -> Result<()> {
        db!(self, |p| sqlx::query(
            "UPDATE accounts SET last_connected_at = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn delete_account(&self, id: i64, actor: &str) -> Result<bool> {
        let now = now_ms();
        let n = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query("DELETE FROM accounts WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                sqlx::query(
                    "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                     VALUES ($1, $2, $3, '{}', $4)",
                )
                .bind(id)
                .bind(actor)
                .bind(AuditAction::AccountDeleted.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })?;
        Ok(n > 0)
    }

    async fn dc_sessions(&self, account_id: i64) -> Result<Vec<DcSession>> {
        let sql = format!("SELECT {DC_COLS} FROM dc_sessions WHERE account_id = $1 ORDER BY dc_id");
        let rows: Vec<DcRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .fetch_all(p)
            .await)?;
        self.ensure_keys(rows.iter().filter_map(|r| r.auth_key.as_deref()))
            .await?;
        rows.into_iter().map(|r| self.open_dc(r)).collect()
    }

    async fn put_dc_session(&self, account_id: i64, dc: &DcSession) -> Result<()> {
        let now = now_ms();
        let ipv4 = dc.ipv4.map(|a| a.to_string());
        let ipv6 = dc.ipv6.map(|a| a.to_string());
        let sql = "INSERT INTO dc_sessions (account_id, dc_id, ipv4, ipv6, auth_key, key_id, \
                   created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                   ON CONFLICT (account_id, dc_id) DO UPDATE SET ipv4 = excluded.ipv4, \
                   ipv6 = excluded.ipv6, \
                   auth_key = COALESCE(excluded.auth_key, dc_sessions.auth_key), \
                   key_id = COALESCE(excluded.key_id, dc_sessions.key_id), \
                   revoked_at = CASE WHEN excluded.auth_key IS NULL \
                                THEN dc_sessions.revoked_at ELSE NULL END, \
                   updated_at = excluded.updated_at";
        match &dc.auth_key {
            None => {
                db!(self, |p| sqlx::query(sql)
                    .bind(account_id)
                    .bind(dc.dc_id)
                    .bind(&ipv4)
                    .bind(&ipv6)
                    .bind(None::<Vec<u8>>)
                    .bind(None::<i32>)
                    .bind(now)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()))?;
                Ok(())
            }
            Some(key) => {
                let (ipv4, ipv6) = (&ipv4, &ipv6);
                self.sealed_write(
                    &dc_ctx(account_id, dc.dc_id),
                    key.expose(),
                    move |s, kid, sealed| {
                        Box::pin(async move {
                            db!(s, |p| {
                                let mut tx = p.begin_write().await?;
                                sqlx::query(sql)
                                    .bind(account_id)
                                    .bind(dc.dc_id)
                                    .bind(ipv4)
                                    .bind(ipv6)
                                    .bind(&sealed)
                                    .bind(kid as i32)
                                    .bind(now)
                                    .execute(&mut *tx)
                                    .await?;
                                finish_sealed!(p, tx, kid)
                            })
                        })
                    },
                )
                .await
            }
        }
    }

    async fn load_session(
        &self,
        account_id: i64,
        peers: PeerPreload,
    ) -> Result<Option<SessionSnapshot>> {
        let acc_sql = format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1");
        let dc_sql =
            format!("SELECT {DC_COLS} FROM dc_sessions WHERE account_id = $1 ORDER BY dc_id");
        let self_sql = format!("SELECT {PEER_COLS} FROM peers WHERE account_id = $1 AND is_self");
        let peers_sql = format!("SELECT {PEER_COLS} FROM peers WHERE account_id = $1");
        let parts = db!(self, |p| {
            let mut conn = p.acquire().await?;
            let Some(acc): Option<AccountRow> = sqlx::query_as(&acc_sql)
                .bind(account_id)
                .fetch_optional(&mut *conn)
                .await?
            else {
                return Ok(None);
            };
            let dcs: Vec<DcRow> = sqlx::query_as(&dc_sql)
                .bind(account_id)
                .fetch_all(&mut *conn)
                .await?;
            let state: Option<(i32, i32, i32, i32)> = sqlx::query_as(
                "SELECT pts, qts, date, seq FROM update_states WHERE account_id = $1",
            )
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?;
            let channels: Vec<(i64, i32)> = sqlx::query_as(
                "SELECT channel_id, pts FROM channel_states WHERE account_id = $1 \
                 ORDER BY channel_id",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            let self_peer: Option<PeerRow> = sqlx::query_as(&self_sql)
                .bind(account_id)
                .fetch_optional(&mut *conn)
                .await?;
            let all: Vec<PeerRow> = if peers == PeerPreload::All {
                sqlx::query_as(&peers_sql)
                    .bind(account_id)
                    .fetch_all(&mut *conn)
                    .await?
            } else {
                Vec::new()
            };
            Ok::<_, sqlx::Error>(Some((acc, dcs, state, channels, self_peer, all)))
        })?;
        let Some((acc, dcs, state, channels, self_peer, all)) = parts else {
            return Ok(None);
        };
        self.ensure_keys(dcs.iter().filter_map(|r| r.auth_key.as_deref()))
            .await?;
        let channels = channels
            .into_iter()
            .map(|(id, pts)| ChannelState { id, pts })
            .collect();
        self.snapshot_parts(acc, dcs, state, channels, self_peer, all)
            .map(Some)
    }

    async fn load_all_sessions(&self) -> Result<Vec<SessionSnapshot>> {
        let acc_sql =
            format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE revoked_at IS NULL ORDER BY id");
        let dc_sql = format!("SELECT {DC_COLS} FROM dc_sessions ORDER BY account_id, dc_id");
        let self_sql = format!("SELECT account_id, {PEER_COLS} FROM peers WHERE is_self");
        let (accs, dcs, states, channels, selfs) = db!(self, |p| {
            let mut conn = p.acquire().await?;
            let accs: Vec<AccountRow> = sqlx::query_as(&acc_sql).fetch_all(&mut *conn).await?;
            let dcs: Vec<DcRow> = sqlx::query_as(&dc_sql).fetch_all(&mut *conn).await?;
            let states: Vec<StateRow> =
                sqlx::query_as("SELECT account_id, pts, qts, date, seq FROM update_states")
                    .fetch_all(&mut *conn)
                    .await?;
            let channels: Vec<ChannelRow> =
                sqlx::query_as("SELECT account_id, channel_id, pts FROM channel_states")
                    .fetch_all(&mut *conn)
                    .await?;
            let selfs: Vec<SelfPeerRow> = sqlx::query_as(&self_sql).fetch_all(&mut *conn).await?;
            Ok::<_, sqlx::Error>((accs, dcs, states, channels, selfs))
        })?;
        self.ensure_keys(dcs.iter().filter_map(|r| r.auth_key.as_deref()))
            .await?;
        let mut dc_map: HashMap<i64, Vec<DcRow>> = HashMap::new();
        for d in dcs {
            dc_map.entry(d.account_id).or_default().push(d);
        }
        let mut state_map: HashMap<i64, (i32, i32, i32, i32)> = states
            .into_iter()
            .map(|s| (s.account_id, (s.pts, s.qts, s.date, s.seq)))
            .collect();
        let mut chan_map: HashMap<i64, Vec<ChannelState>> = HashMap::new();
        for c in channels {
            chan_map
                .entry(c.account_id)
                .or_default()
                .push(ChannelState {
                    id: c.channel_id,
                    pts: c.pts,
                });
        }
        let mut self_map: HashMap<i64, PeerRow> =
            selfs.into_iter().map(|s| (s.account_id, s.peer)).collect();
        accs.into_iter()
            .map(|a| {
                let id = a.id;
                self.snapshot_parts(
                    a,
                    dc_map.remove(&id).unwrap_or_default(),
                    state_map.remove(&id),
                    chan_map.remove(&id).unwrap_or_default(),
                    self_map.remove(&id),
                    Vec::new(),
                )
            })
            .collect()
    }

    async fn revoke_session(&self, account_id: i64, reason: &str, actor: &str) -> Result<()> {
        let now = now_ms();
        let details = serde_json::json!({ "reason": reason });
        let n = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(
                "UPDATE accounts SET state = 'unauthorized', state_reason = $1, revoked_at = $2, \
                 updated_at = $2 WHERE id = $3",
            )
            .bind(reason)
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "UPDATE dc_sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM pending_logins WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(account_id)
            .bind(actor)
            .bind(AuditAction::SessionRevoked.as_str())
            .bind(json_text(&details))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })?;
        if n == 0 {
            return Err(StoreError::not_found(format!("account {account_id}")));
        }
        Ok(())
    }

    async fn purge_revoked_sessions(&self, revoked_before: i64, actor: &str) -> Result<u64> {
        let now = now_ms();
        let n = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(
                "DELETE FROM dc_sessions WHERE revoked_at IS NOT NULL AND revoked_at < $1",
            )
            .bind(revoked_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                let details = serde_json::json!({ "rows": n, "revoked_before": revoked_before });
                sqlx::query(
                    "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                     VALUES (NULL, $1, $2, $3, $4)",
                )
                .bind(actor)
                .bind(AuditAction::SessionsPurged.as_str())
                .bind(json_text(&details))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })?;
        Ok(n)
    }

    async fn import_session(&self, req: ImportRequest) -> Result<Account> {
        let s = &req.session;
        let now = now_ms();
        let kind = if s.is_bot == Some(true) {
            AccountKind::Bot
        } else {
            req.kind
        };
        let (ipv4, ipv6) = match s.address {
            std::net::IpAddr::V4(a) => (Some(SocketAddrV4::new(a, s.port).to_string()), None),
            std::net::IpAddr::V6(a) => (None, Some(SocketAddrV6::new(a, s.port, 0, 0).to_string())),
        };
        let api_id = s.api_id.and_then(|a| i32::try_from(a).ok());
        let acc_sql = format!(
            "INSERT INTO accounts (kind, phone, bot_id, user_id, label, state, home_dc, api_id, \
             test_mode, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'connecting', $6, $7, $8, $9, $9) RETURNING {ACCOUNT_COLS}"
        );
        let details = serde_json::json!({
            "format": req.format.as_str(),
            "dc_id": s.dc_id,
            "auth_key_fingerprint": s.auth_key.fingerprint(),
            "peers": s.peers.len(),
            "warning": crate::session_formats::IMPORT_WARNING,
        });
        let source = req.source.as_ref().map(|x| x.expose_secret().as_bytes());
        for _ in 0..4 {
            let kid = self.vault.active_key_id().ok_or(VaultError::NoActiveKey)?;
            let res = db!(self, |p| {
                let mut tx = p.begin_write().await?;
                let row: AccountRow = sqlx::query_as(&acc_sql)
                    .bind(kind.as_str())
                    .bind(&req.phone)
                    .bind(if kind == AccountKind::Bot {
                        s.user_id
                    } else {
                        None
                    })
                    .bind(s.user_id)
                    .bind(&req.label)
                    .bind(s.dc_id)
                    .bind(api_id)
                    .bind(s.test_mode.unwrap_or(false))
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let sealed_key =
                    self.vault
                        .seal_with(kid, &dc_ctx(row.id, s.dc_id), s.auth_key.expose())?;
                sqlx::query(
                    "INSERT INTO dc_sessions (account_id, dc_id, ipv4, ipv6, auth_key, key_id, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(row.id)
                .bind(s.dc_id)
                .bind(&ipv4)
                .bind(&ipv6)
                .bind(&sealed_key)
                .bind(kid as i32)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if let Some(source) = source {
                    let import_id: i64 = sqlx::query_scalar(
                        "INSERT INTO session_imports (account_id, format, created_at) \
                         VALUES ($1, $2, $3) RETURNING id",
                    )
                    .bind(row.id)
                    .bind(req.format.as_str())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    let sealed = self.vault.seal_with(kid, &import_ctx(import_id), source)?;
                    sqlx::query(
                        "UPDATE session_imports SET source = $1, key_id = $2 WHERE id = $3",
                    )
                    .bind(&sealed)
                    .bind(kid as i32)
                    .bind(import_id)
                    .execute(&mut *tx)
                    .await?;
                }
                let peers = merge_peers(&s.peers);
                for chunk in peers.chunks(PEER_CHUNK) {
                    let sql = values_sql(
                        p.numbered_params(),
                        "INSERT INTO peers (account_id, peer_id, kind, access_hash, username, \
                         phone, display_name, updated_at)",
                        8,
                        chunk.len(),
                        "",
                    );
                    let mut q = sqlx::query(&sql);
                    for x in chunk {
                        q = q
                            .bind(row.id)
                            .bind(x.peer_id)
                            .bind(x.kind as i32)
                            .bind(x.access_hash)
                            .bind(&x.username)
                            .bind(&x.phone)
                            .bind(&x.display_name)
                            .bind(now);
                    }
                    q.execute(&mut *tx).await?;
                }
                if let Some((pts, qts, date, seq)) = s.update_state {
                    sqlx::query(
                        "INSERT INTO update_states (account_id, pts, qts, date, seq, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(row.id)
                    .bind(pts)
                    .bind(qts)
                    .bind(date)
                    .bind(seq)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(row.id)
                .bind(&req.actor)
                .bind(AuditAction::SessionImport.as_str())
                .bind(json_text(&details))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let check: Result<KeyCheck> = finish_sealed!(p, tx, kid);
                Ok::<_, StoreError>((row, check?))
            })?;
            match res {
                (row, KeyCheck::Live { .. }) => return row.try_into(),
                (_, KeyCheck::Dead) => self.reload_keys().await?,
            }
        }
        Err(VaultError::NoActiveKey.into())
    }

    async fn export_session(
        &self,
        account_id: i64,
        format: SessionFormat,
        actor: &str,
    ) -> Result<ImportedSession> {
        let acc = self
            .account(account_id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("account {account_id}")))?;
        let dcs = self.dc_sessions(account_id).await?;
        let home = dcs
            .into_iter()
            .find(|d| d.dc_id == acc.home_dc && d.auth_key.is_some())
            .ok_or_else(|| {
                StoreError::not_found(format!(
                    "a live auth key for home DC {} of account {account_id}",
                    acc.home_dc
                ))
            })?;
        let (address, port) = match (home.ipv4, home.ipv6) {
            (Some(a), _) => ((*a.ip()).into(), a.port()),
            (None, Some(a)) => ((*a.ip()).into(), a.port()),
            (None, None) => (
                static_dc_address(home.dc_id, acc.test_mode)
                    .ok_or_else(|| StoreError::not_found(format!("address of DC {}", home.dc_id)))?
                    .into(),
                443,
            ),
        };
        let out = ImportedSession {
            dc_id: home.dc_id,
            address,
            port,
            auth_key: home.auth_key.expect("filtered above"),
            user_id: acc.user_id,
            is_bot: Some(acc.kind == AccountKind::Bot),
            api_id: acc.api_id.map(|a| a as u32),
            test_mode: Some(acc.test_mode),
            peers: Vec::new(),
            update_state: None,
        };
        self.insert_audit(
            &AuditEntry::new(actor, AuditAction::SessionExport)
                .account(account_id)
                .details(serde_json::json!({
                    "format": format.as_str(),
                    "dc_id": out.dc_id,
                    "auth_key_fingerprint": out.auth_key.fingerprint(),
                })),
        )
        .await?;
        Ok(out)
    }

    async fn upsert_peers(&self, account_id: i64, peers: &[CachedPeer]) -> Result<()> {
        if peers.is_empty() {
            return Ok(());
        }
        self.write_batch(
            &UpdateBatch {
                account_id,
                peers: peers.to_vec(),
                ..Default::default()
            },
            now_ms(),
        )
        .await?;
        Ok(())
    }

    async fn peer(&self, account_id: i64, peer_id: i64) -> Result<Option<CachedPeer>> {
        let sql = format!("SELECT {PEER_COLS} FROM peers WHERE account_id = $1 AND peer_id = $2");
        let row: Option<PeerRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .bind(peer_id)
            .fetch_optional(p)
            .await)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn self_peer(&self, account_id: i64) -> Result<Option<CachedPeer>> {
        let sql =
            format!("SELECT {PEER_COLS} FROM peers WHERE account_id = $1 AND is_self LIMIT 1");
        let row: Option<PeerRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .fetch_optional(p)
            .await)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn peers(&self, account_id: i64) -> Result<Vec<CachedPeer>> {
        let sql = format!("SELECT {PEER_COLS} FROM peers WHERE account_id = $1 ORDER BY peer_id");
        let rows: Vec<PeerRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn peer_by_username(
        &self,
        account_id: i64,
        username: &str,
    ) -> Result<Option<CachedPeer>> {
        let sql = format!(
            "SELECT {PEER_COLS} FROM peers WHERE account_id = $1 AND username = $2 \
             ORDER BY updated_at DESC LIMIT 1"
        );
        let row: Option<PeerRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .bind(username.trim_start_matches('@'))
            .fetch_optional(p)
            .await)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn updates_state(&self, account_id: i64) -> Result<UpdatesState> {
        let (state, channels) = db!(self, |p| {
            let mut conn = p.acquire().await?;
            let state: Option<(i32, i32, i32, i32)> = sqlx::query_as(
                "SELECT pts, qts, date, seq FROM update_states WHERE account_id = $1",
            )
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?;
            let channels: Vec<(i64, i32)> = sqlx::query_as(
                "SELECT channel_id, pts FROM channel_states WHERE account_id = $1 \
                 ORDER BY channel_id",
            )
            .bind(account_id)
            .fetch_all(&mut *conn)
            .await?;
            Ok::<_, sqlx::Error>((state, channels))
        })?;
        let (pts, qts, date, seq) = state.unwrap_or_default();
        Ok(UpdatesState {
            pts,
            qts,
            date,
            seq,
            channels: channels
                .into_iter()
                .map(|(id, pts)| ChannelState { id, pts })
                .collect(),
        })
    }

    async fn set_update_state(&self, account_id: i64, update: UpdateState) -> Result<()> {
        self.write_batch(
            &UpdateBatch {
                account_id,
                state: vec![update],
                ..Default::default()
            },
            now_ms(),
        )
        .await?;
        Ok(())
    }

    async fn apply_update_batch(&self, batch: UpdateBatch) -> Result<Vec<i64>> {
        Ok(self
            .write_batches(std::slice::from_ref(&batch), &[], now_ms())
            .await?
            .pop()
            .map(|r| r.event_ids)
            .unwrap_or_default())
    }

    async fn commit_group(
        &self,
        batches: &[UpdateBatch],
        idempotency: &[IdempotencyRecord],
    ) -> Result<Vec<Vec<i64>>> {
        if batches.is_empty() && idempotency.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .write_batches(batches, idempotency, now_ms())
            .await?
            .into_iter()
            .map(|r| r.event_ids)
            .collect())
    }

    async fn idempotency_records(&self, keys: &[(i64, String)]) -> Result<Vec<IdempotencyRecord>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(ROW_CHUNK) {
            let rows: Vec<(i64, String, String, String, i64)> = db!(self, |p| {
                // (account_id = $1 AND idem_key = $2) OR … : portable, index-backed.
                let mut sql = String::from(
                    "SELECT account_id, idem_key, fingerprint, outcome, created_at \
                     FROM idempotency_keys WHERE ",
                );
                for i in 0..chunk.len() {
                    if i > 0 {
                        sql.push_str(" OR ");
                    }
                    if p.numbered_params() {
                        sql.push_str(&format!(
                            "(account_id = ${} AND idem_key = ${})",
                            2 * i + 1,
                            2 * i + 2
                        ));
                    } else {
                        sql.push_str("(account_id = ? AND idem_key = ?)");
                    }
                }
                let mut q = sqlx::query_as(&sql);
                for (a, k) in chunk {
                    q = q.bind(*a).bind(k);
                }
                q.fetch_all(p).await
            })?;
            for (account_id, key, fingerprint, outcome, created_at) in rows {
                out.push(IdempotencyRecord {
                    account_id,
                    key,
                    fingerprint,
                    outcome: parse_json(&outcome)?,
                    created_at,
                });
            }
        }
        Ok(out)
    }

    async fn purge_idempotency(&self, created_before: i64) -> Result<u64> {
        Ok(db!(self, |p| sqlx::query(
            "DELETE FROM idempotency_keys WHERE created_at < $1"
        )
        .bind(created_before)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }

    async fn chats_page(
        &self,
        account_id: i64,
        before: Option<ChatCursor>,
        limit: u32,
    ) -> Result<Vec<Chat>> {
        // Order: last_message_at DESC NULLS LAST, then peer_id; the cursor is the last row seen.
        // NULLs are mapped to -1 so the keyset comparison works in both dialects.
        let sql = format!(
            "SELECT {CHAT_COLS} FROM chats WHERE account_id = $1 AND \
             ($2 OR COALESCE(last_message_at, -1) < $3 OR \
              (COALESCE(last_message_at, -1) = $3 AND peer_id > $4)) \
             ORDER BY COALESCE(last_message_at, -1) DESC, peer_id LIMIT $5"
        );
        let (none, at, peer) = match before {
            None => (true, 0, 0),
            Some(c) => (false, c.last_message_at.unwrap_or(-1), c.peer_id),
        };
        let rows: Vec<ChatRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .bind(none)
            .bind(at)
            .bind(peer)
            .bind(limit as i64)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| Chat {
                peer_id: r.peer_id,
                kind: r.kind,
                title: r.title,
                username: r.username,
                unread_count: r.unread_count,
                last_message_id: r.last_message_id,
                last_message_at: r.last_message_at,
                pinned: r.pinned,
                archived: r.archived,
            })
            .collect())
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .write_batch(
                &UpdateBatch {
                    events: events.to_vec(),
                    ..Default::default()
                },
                now_ms(),
            )
            .await?
            .event_ids)
    }

    async fn events_after(
        &self,
        after_id: i64,
        account_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let rows: Vec<EventRow> = match account_id {
            Some(a) => db!(self, |p| sqlx::query_as(
                "SELECT id, account_id, kind, payload, created_at FROM events \
                 WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            )
            .bind(a)
            .bind(after_id)
            .bind(limit as i64)
            .fetch_all(p)
            .await)?,
            None => db!(self, |p| sqlx::query_as(
                "SELECT id, account_id, kind, payload, created_at FROM events \
                 WHERE id > $1 ORDER BY id LIMIT $2"
            )
            .bind(after_id)
            .bind(limit as i64)
            .fetch_all(p)
            .await)?,
        };
        rows.into_iter()
            .map(|r| {
                Ok(Event {
                    id: r.id,
                    account_id: r.account_id,
                    kind: r.kind,
                    payload: parse_json(&r.payload)?,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    async fn last_event_id(&self) -> Result<i64> {
        Ok(db!(self, |p| sqlx::query_scalar(
            "SELECT last FROM event_seq WHERE id = 1"
        )
        .fetch_one(p)
        .await)?)
    }

    async fn audit(&self, entry: AuditEntry) -> Result<i64> {
        self.insert_audit(&entry).await
    }

    async fn audit_log(
        &self,
        account_id: Option<i64>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        let rows: Vec<AuditRow> = match account_id {
            Some(a) => db!(self, |p| sqlx::query_as(
                "SELECT id, account_id, actor, action, details, created_at FROM audit_log \
                 WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            )
            .bind(a)
            .bind(after_id)
            .bind(limit as i64)
            .fetch_all(p)
            .await)?,
            None => db!(self, |p| sqlx::query_as(
                "SELECT id, account_id, actor, action, details, created_at FROM audit_log \
                 WHERE id > $1 ORDER BY id LIMIT $2"
            )
            .bind(after_id)
            .bind(limit as i64)
            .fetch_all(p)
            .await)?,
        };
        rows.into_iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.id,
                    account_id: r.account_id,
                    actor: r.actor,
                    action: r.action,
                    details: parse_json(&r.details)?,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    async fn create_api_token(
        &self,
        new: NewApiToken,
        actor: &str,
    ) -> Result<(ApiToken, SecretString)> {
        let mut raw = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *raw).map_err(|e| VaultError::Rng(e.to_string()))?;
        let token = SecretString::from(format!(
            "tgt_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*raw)
        ));
        let hash = token_hash(token.expose_secret());
        let prefix: String = token.expose_secret().chars().take(12).collect();
        let now = now_ms();
        let sql = format!(
            "INSERT INTO api_tokens (name, token_hash, prefix, scopes, account_id, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {TOKEN_COLS}"
        );
        let row: TokenRow = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let row: TokenRow = sqlx::query_as(&sql)
                .bind(&new.name)
                .bind(&hash)
                .bind(&prefix)
                .bind(new.scopes.join(" "))
                .bind(new.account_id)
                .bind(now)
                .bind(new.expires_at)
                .fetch_one(&mut *tx)
                .await?;
            let details = serde_json::json!({
                "token_id": row.id, "name": new.name, "prefix": prefix, "scopes": new.scopes,
            });
            sqlx::query(
                "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(new.account_id)
            .bind(actor)
            .bind(AuditAction::TokenCreated.as_str())
            .bind(json_text(&details))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        })?;
        Ok((row.into(), token))
    }

    async fn verify_api_token(&self, token: &str, now: i64) -> Result<Option<ApiToken>> {
        let hash = token_hash(token);
        let sql = format!(
            "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) \
             RETURNING {TOKEN_COLS}"
        );
        let row: Option<TokenRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(now)
            .bind(&hash)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(Into::into))
    }

    async fn revoke_api_token(&self, id: i64, actor: &str) -> Result<bool> {
        let now = now_ms();
        let n = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                let details = serde_json::json!({ "token_id": id });
                sqlx::query(
                    "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                     VALUES (NULL, $1, $2, $3, $4)",
                )
                .bind(actor)
                .bind(AuditAction::TokenRevoked.as_str())
                .bind(json_text(&details))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })?;
        Ok(n > 0)
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens ORDER BY id");
        let rows: Vec<TokenRow> = db!(self, |p| sqlx::query_as(&sql).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn put_pending_login(&self, login: &PendingLogin) -> Result<()> {
        match &login.secret_state {
            None => write_login(self, login, None, None).await.map(|_| ()),
            Some(secret) => {
                self.sealed_write(
                    &login_ctx(login.account_id),
                    secret.expose_secret(),
                    move |s, kid, sealed| write_login(s, login, Some(kid), Some(sealed)),
                )
                .await
            }
        }
    }

    async fn pending_login(&self, account_id: i64) -> Result<Option<PendingLogin>> {
        let row: Option<LoginRow> = db!(self, |p| {
            sqlx::query_as(
            "SELECT account_id, flow, step, dc_id, phone, secret_state, created_at, updated_at, \
             expires_at FROM pending_logins WHERE account_id = $1"
        )
        .bind(account_id)
        .fetch_optional(p)
        .await
        })?;
        let Some(r) = row else { return Ok(None) };
        self.ensure_keys(r.secret_state.as_deref()).await?;
        let secret_state = match &r.secret_state {
            Some(sealed) => Some(secret_bytes(
                &self.vault.open(&login_ctx(r.account_id), sealed)?,
            )),
            None => None,
        };
        Ok(Some(PendingLogin {
            account_id: r.account_id,
            flow: r.flow,
            step: r.step,
            dc_id: r.dc_id,
            phone: r.phone,
            secret_state,
            created_at: r.created_at,
            updated_at: r.updated_at,
            expires_at: r.expires_at,
        }))
    }

    async fn delete_pending_login(&self, account_id: i64) -> Result<bool> {
        let n = db!(self, |p| sqlx::query(
            "DELETE FROM pending_logins WHERE account_id = $1"
        )
        .bind(account_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    async fn expire_pending_logins(&self, now: i64) -> Result<Vec<i64>> {
        let ids = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "DELETE FROM pending_logins WHERE expires_at <= $1 RETURNING account_id",
            )
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            for id in &ids {
                sqlx::query(
                    "UPDATE accounts SET state = 'login_required', state_reason = 'login expired', \
                     updated_at = $1 WHERE id = $2 AND state = 'logging_in'",
                )
                .bind(now)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                     VALUES ($1, 'system', $2, '{}', $3)",
                )
                .bind(*id)
                .bind(AuditAction::LoginExpired.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ids)
        })?;
        Ok(ids)
    }

    async fn upsert_chats(&self, account_id: i64, chats: &[Chat]) -> Result<()> {
        self.write_batch(
            &UpdateBatch {
                account_id,
                chats: chats.to_vec(),
                ..Default::default()
            },
            now_ms(),
        )
        .await?;
        Ok(())
    }

    async fn chat(&self, account_id: i64, peer_id: i64) -> Result<Option<Chat>> {
        let sql = format!("SELECT {CHAT_COLS} FROM chats WHERE account_id = $1 AND peer_id = $2");
        let row: Option<ChatRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .bind(peer_id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(|r| Chat {
            peer_id: r.peer_id,
            kind: r.kind,
            title: r.title,
            username: r.username,
            unread_count: r.unread_count,
            last_message_id: r.last_message_id,
            last_message_at: r.last_message_at,
            pinned: r.pinned,
            archived: r.archived,
        }))
    }

    async fn chats(&self, account_id: i64, limit: u32) -> Result<Vec<Chat>> {
        let sql = format!(
            "SELECT {CHAT_COLS} FROM chats WHERE account_id = $1 \
             ORDER BY last_message_at DESC NULLS LAST, peer_id LIMIT $2"
        );
        let rows: Vec<ChatRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .bind(limit as i64)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| Chat {
                peer_id: r.peer_id,
                kind: r.kind,
                title: r.title,
                username: r.username,
                unread_count: r.unread_count,
                last_message_id: r.last_message_id,
                last_message_at: r.last_message_at,
                pinned: r.pinned,
                archived: r.archived,
            })
            .collect())
    }

    async fn upsert_messages(&self, account_id: i64, messages: &[Message]) -> Result<()> {
        self.write_batch(
            &UpdateBatch {
                account_id,
                messages: messages.to_vec(),
                ..Default::default()
            },
            now_ms(),
        )
        .await?;
        Ok(())
    }

    async fn messages(
        &self,
        account_id: i64,
        peer_id: i64,
        before_id: Option<i32>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE account_id = $1 AND peer_id = $2 \
             AND message_id < $3 ORDER BY message_id DESC LIMIT $4"
        );
        let rows: Vec<MessageRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .bind(peer_id)
            .bind(before_id.unwrap_or(i32::MAX))
            .bind(limit as i64)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| Message {
                peer_id: r.peer_id,
                message_id: r.message_id,
                sender_id: r.sender_id,
                date: r.date,
                text: r.text,
                entities: r.entities,
                media: r.media,
                reply_to_id: r.reply_to_id,
                outgoing: r.outgoing,
                edit_date: r.edit_date,
                deleted: r.deleted,
            })
            .collect())
    }

    async fn mark_messages_deleted(
        &self,
        account_id: i64,
        peer_id: Option<i64>,
        ids: &[i32],
        now: i64,
    ) -> Result<u64> {
        Ok(self
            .write_batch(
                &UpdateBatch {
                    account_id,
                    deleted: vec![(peer_id, ids.to_vec())],
                    ..Default::default()
                },
                now,
            )
            .await?
            .deleted)
    }

    async fn upsert_contacts(&self, account_id: i64, contacts: &[Contact]) -> Result<()> {
        let contacts = dedup_last(contacts, |c| c.user_id);
        let now = now_ms();
        db!(self, |p| {
            let mut tx = p.begin_write().await?;
            for chunk in contacts.chunks(ROW_CHUNK) {
                // Telegram fields are overwritten; app fields only when given (sync from
                // Telegram passes None and keeps them).
                let sql = values_sql(
                    p.numbered_params(),
                    "INSERT INTO contacts (account_id, user_id, access_hash, phone, first_name, \
                     last_name, username, mutual, job_title, company, notes, created_at, updated_at)",
                    13,
                    chunk.len(),
                    "ON CONFLICT (account_id, user_id) DO UPDATE SET \
                     access_hash = COALESCE(excluded.access_hash, contacts.access_hash), \
                     phone = excluded.phone, first_name = excluded.first_name, \
                     last_name = excluded.last_name, username = excluded.username, \
                     mutual = excluded.mutual, \
                     job_title = COALESCE(excluded.job_title, contacts.job_title), \
                     company = COALESCE(excluded.company, contacts.company), \
                     notes = COALESCE(excluded.notes, contacts.notes), \
                     updated_at = excluded.updated_at",
                );
                let mut q = sqlx::query(&sql);
                for c in chunk {
                    q = q
                        .bind(account_id)
                        .bind(c.user_id)
                        .bind(c.access_hash)
                        .bind(&c.phone)
                        .bind(&c.first_name)
                        .bind(&c.last_name)
                        .bind(&c.username)
                        .bind(c.mutual)
                        .bind(&c.job_title)
                        .bind(&c.company)
                        .bind(&c.notes)
                        .bind(now)
                        .bind(now);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    async fn contacts(&self, account_id: i64) -> Result<Vec<Contact>> {
        let sql =
            format!("SELECT {CONTACT_COLS} FROM contacts WHERE account_id = $1 ORDER BY user_id");
        let rows: Vec<ContactRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(account_id)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| Contact {
                user_id: r.user_id,
                access_hash: r.access_hash,
                phone: r.phone,
                first_name: r.first_name,
                last_name: r.last_name,
                username: r.username,
                mutual: r.mutual,
                job_title: r.job_title,
                company: r.company,
                notes: r.notes,
            })
            .collect())
    }

    async fn upsert_invite_link(&self, account_id: i64, l: &InviteLink) -> Result<()> {
        let now = now_ms();
        db!(self, |p| sqlx::query(
            "INSERT INTO invite_links (account_id, link, peer_id, title, admin_id, usage_limit, \
             current_uses, request_needed, expire_at, revoked, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             ON CONFLICT (account_id, link) DO UPDATE SET peer_id = excluded.peer_id, \
             title = excluded.title, admin_id = excluded.admin_id, \
             usage_limit = excluded.usage_limit, current_uses = excluded.current_uses, \
             request_needed = excluded.request_needed, expire_at = excluded.expire_at, \
             revoked = excluded.revoked, updated_at = excluded.updated_at"
        )
        .bind(account_id)
        .bind(&l.link)
        .bind(l.peer_id)
        .bind(&l.title)
        .bind(l.admin_id)
        .bind(l.usage_limit)
        .bind(l.current_uses)
        .bind(l.request_needed)
        .bind(l.expire_at)
        .bind(l.revoked)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn invite_links(&self, account_id: i64, peer_id: Option<i64>) -> Result<Vec<InviteLink>> {
        let rows: Vec<LinkRow> = match peer_id {
            Some(peer) => {
                let sql = format!(
                    "SELECT {LINK_COLS} FROM invite_links WHERE account_id = $1 AND peer_id = $2 \
                     ORDER BY created_at, link"
                );
                db!(self, |p| sqlx::query_as(&sql)
                    .bind(account_id)
                    .bind(peer)
                    .fetch_all(p)
                    .await)?
            }
            None => {
                let sql = format!(
                    "SELECT {LINK_COLS} FROM invite_links WHERE account_id = $1 \
                     ORDER BY created_at, link"
                );
                db!(self, |p| sqlx::query_as(&sql)
                    .bind(account_id)
                    .fetch_all(p)
                    .await)?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| InviteLink {
                link: r.link,
                peer_id: r.peer_id,
                title: r.title,
                admin_id: r.admin_id,
                usage_limit: r.usage_limit,
                current_uses: r.current_uses,
                request_needed: r.request_needed,
                expire_at: r.expire_at,
                revoked: r.revoked,
            })
            .collect())
    }

    async fn put_upload(&self, u: &Upload) -> Result<()> {
        let now = now_ms();
        db!(self, |p| {
            sqlx::query(
            "INSERT INTO uploads (id, account_id, file_id, name, mime_type, total_size, part_size, \
             total_parts, big, parts_done, state, created_at, updated_at, expires_at, \
             media_check) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14) \
             ON CONFLICT (id) DO UPDATE SET parts_done = excluded.parts_done, \
             state = excluded.state, updated_at = excluded.updated_at, \
             expires_at = excluded.expires_at, mime_type = excluded.mime_type, \
             media_check = excluded.media_check"
        )
        .bind(&u.id)
        .bind(u.account_id)
        .bind(u.file_id)
        .bind(&u.name)
        .bind(&u.mime_type)
        .bind(u.total_size)
        .bind(u.part_size)
        .bind(u.total_parts)
        .bind(u.big)
        .bind(&u.parts_done)
        .bind(&u.state)
        .bind(now)
        .bind(u.expires_at)
        .bind(&u.media_check)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    async fn upload(&self, id: &str) -> Result<Option<Upload>> {
        let sql = format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1");
        let row: Option<UploadRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(|r| Upload {
            id: r.id,
            account_id: r.account_id,
            file_id: r.file_id,
            name: r.name,
            mime_type: r.mime_type,
            total_size: r.total_size,
            part_size: r.part_size,
            total_parts: r.total_parts,
            big: r.big,
            parts_done: r.parts_done,
            state: r.state,
            expires_at: r.expires_at,
            media_check: r.media_check,
        }))
    }

    async fn mark_upload_part(&self, id: &str, part: i32) -> Result<Upload> {
        let now = now_ms();
        let sql = format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1");
        let found = db!(self, |p| {
            let mut tx = p.begin_write().await?;
            // Write first: takes SQLite's write lock (and PostgreSQL's row lock) before reading.
            let n = sqlx::query("UPDATE uploads SET updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return Err(StoreError::not_found(format!("upload {id}")));
            }
            let r: UploadRow = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
            if part < 0 || part >= r.total_parts {
                tx.rollback().await?;
                return Err(StoreError::Invalid(format!(
                    "part {part} of upload {id} with {} parts",
                    r.total_parts
                )));
            }
            let mut bits = r.parts_done.clone();
            let need = (r.total_parts as usize).div_ceil(8);
            if bits.len() < need {
                bits.resize(need, 0);
            }
            bits[part as usize / 8] |= 1 << (part as usize % 8);
            let complete =
                (0..r.total_parts).all(|i| bits[i as usize / 8] & (1 << (i as usize % 8)) != 0);
            let state = if complete {
                "complete".to_owned()
            } else {
                r.state.clone()
            };
            sqlx::query("UPDATE uploads SET parts_done = $1, state = $2 WHERE id = $3")
                .bind(&bits)
                .bind(&state)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(Upload {
                id: r.id,
                account_id: r.account_id,
                file_id: r.file_id,
                name: r.name,
                mime_type: r.mime_type,
                total_size: r.total_size,
                part_size: r.part_size,
                total_parts: r.total_parts,
                big: r.big,
                parts_done: bits,
                state,
                expires_at: r.expires_at,
                media_check: r.media_check,
            })
        })?;
        Ok(found)
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        let n = db!(self, |p| sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    async fn expire_uploads(&self, now: i64) -> Result<u64> {
        Ok(db!(self, |p| sqlx::query(
            "DELETE FROM uploads WHERE expires_at <= $1"
        )
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }

    async fn create_webhook(&self, new: NewWebhook, actor: &str) -> Result<Webhook> {
        let now = now_ms();
        let details = serde_json::json!({ "url": new.url, "events": new.event_filter });
        let secret = new.secret.as_ref().map(|s| s.expose_secret().as_bytes());
        let sql = format!(
            "INSERT INTO webhooks (account_id, url, event_filter, enabled, created_at, updated_at, \
             description, start_after_event_id) VALUES ($1, $2, $3, TRUE, $4, $4, $5, \
             (SELECT last FROM event_seq WHERE id = 1)) RETURNING {WEBHOOK_COLS}"
        );
        for _ in 0..4 {
            let kid = self.vault.active_key_id().ok_or(VaultError::NoActiveKey)?;
            let (row, check) = db!(self, |p| {
                let mut tx = p.begin_write().await?;
                let mut row: WebhookRow = sqlx::query_as(&sql)
                    .bind(new.account_id)
                    .bind(&new.url)
                    .bind(&new.event_filter)
                    .bind(now)
                    .bind(&new.description)
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO audit_log (account_id, actor, action, details, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(new.account_id)
                .bind(actor)
                .bind(AuditAction::WebhookCreated.as_str())
                .bind(json_text(&details))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let check: Result<KeyCheck> = match secret {
                    Some(secret) => {
                        let sealed = self.vault.seal_with(kid, &webhook_ctx(row.id), secret)?;
                        sqlx::query("UPDATE webhooks SET secret = $1, key_id = $2 WHERE id = $3")
                            .bind(&sealed)
                            .bind(kid as i32)
                            .bind(row.id)
                            .execute(&mut *tx)
                            .await?;
                        row.has_secret = true;
                        finish_sealed!(p, tx, kid)
                    }
                    None => {
                        tx.commit().await?;
                        Ok(KeyCheck::Live { retiring: false })
                    }
                };
                Ok::<_, StoreError>((row, check?))
            })?;
            if let KeyCheck::Live { .. } = check {
                return Ok(row.into());
            }
            self.reload_keys().await?;
        }
        Err(VaultError::NoActiveKey.into())
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let sql = format!("SELECT {WEBHOOK_COLS} FROM webhooks ORDER BY id");
        let rows: Vec<WebhookRow> = db!(self, |p| sqlx::query_as(&sql).fetch_all(p).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn webhook_secret(&self, id: i64) -> Result<Option<SecretString>> {
        let sealed: Option<Option<Vec<u8>>> = db!(self, |p| sqlx::query_scalar(
            "SELECT secret FROM webhooks WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await)?;
        let Some(Some(sealed)) = sealed else {
            return Ok(None);
        };
        self.ensure_keys([sealed.as_slice()]).await?;
        let pt = self.vault.open(&webhook_ctx(id), &sealed)?;
        let text = String::from_utf8(pt.to_vec())
            .map_err(|_| StoreError::Corrupt(format!("webhook {id} secret is not UTF-8")))?;
        Ok(Some(SecretString::from(text)))
    }

    async fn enqueue_delivery(&self, webhook_id: i64, event_id: i64, now: i64) -> Result<()> {
        db!(self, |p| sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, state, next_attempt_at, \
             created_at, window_started_at) VALUES ($1, $2, 'pending', $3, $3, $3) \
             ON CONFLICT (webhook_id, event_id) DO NOTHING"
        )
        .bind(webhook_id)
        .bind(event_id)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn due_deliveries(&self, now: i64, limit: u32) -> Result<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE state = 'pending' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        );
        let rows: Vec<DeliveryRow> = db!(self, |p| sqlx::query_as(&sql)
            .bind(now)
            .bind(limit as i64)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn record_delivery(&self, id: i64, outcome: DeliveryOutcome, now: i64) -> Result<()> {
        let (state, status, error, next, delivered) = match outcome {
            DeliveryOutcome::Delivered { status } => {
                ("delivered", Some(status), None, now, Some(now))
            }
            DeliveryOutcome::Retry {
                status,
                error,
                next_attempt_at,
            } => ("pending", status, Some(error), next_attempt_at, None),
            DeliveryOutcome::Dead { status, error } => ("dead", status, Some(error), now, None),
        };
        db!(self, |p| sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, last_status = $2, \
             last_error = $3, next_attempt_at = $4, delivered_at = $5 WHERE id = $6"
        )
        .bind(state)
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(delivered)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
    // ---- API layer (0003_api): see sql/api.rs ---------------------------------------------
    async fn webhook(&self, id: i64) -> Result<Option<Webhook>> {
        self.api_webhook(id).await
    }
    async fn update_webhook(&self, id: i64, update: WebhookUpdate) -> Result<Option<Webhook>> {
        self.api_update_webhook(id, update).await
    }
    async fn delete_webhook(&self, id: i64, actor: &str) -> Result<bool> {
        self.api_delete_webhook(id, actor).await
    }
    async fn enqueue_deliveries(
        &self,
        deliveries: &[(i64, i64)],
        cursor: &str,
        position: i64,
        now: i64,
    ) -> Result<u64> {
        self.api_enqueue_deliveries(deliveries, cursor, position, now)
            .await
    }
    async fn event_cursor(&self, name: &str) -> Result<Option<i64>> {
        self.api_event_cursor(name).await
    }
    async fn webhook_deliveries(&self, query: DeliveryQuery) -> Result<Vec<WebhookDelivery>> {
        self.api_webhook_deliveries(query).await
    }
    async fn webhook_delivery(&self, id: i64) -> Result<Option<WebhookDelivery>> {
        self.api_webhook_delivery(id).await
    }
    async fn delivery_attempts(&self, delivery_id: i64) -> Result<Vec<DeliveryAttempt>> {
        self.api_delivery_attempts(delivery_id).await
    }
    async fn record_delivery_attempt(
        &self,
        id: i64,
        outcome: DeliveryOutcome,
        duration_ms: i64,
        now: i64,
    ) -> Result<()> {
        self.api_record_delivery_attempt(id, outcome, duration_ms, now)
            .await
    }
    async fn redeliver(&self, id: i64, now: i64) -> Result<bool> {
        self.api_redeliver(id, now).await
    }
    async fn account_state_counts(&self) -> Result<Vec<(AccountState, u64)>> {
        self.api_account_state_counts().await
    }
    async fn ping(&self) -> Result<()> {
        self.api_ping().await
    }
}
