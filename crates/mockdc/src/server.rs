//! The tokio driver: binds one listener per DC plus the control API, and moves bytes between
//! sockets and the sans-IO [`Connection`] engine. No protocol logic lives here.
//!
//! Each DC port serves raw MTProto over TCP (transport sniffed from the first bytes) and MTProto
//! over WebSocket (`GET /apiws`, binary frames, subprotocol `binary`) on the same port, since a
//! WebSocket upgrade starts with `GET ` and no MTProto transport may start that way.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Message;

use crate::cluster::{Cluster, DcAddress, Push};
use crate::connection::Connection;
use crate::control;
use crate::crypto::AuthKey;
use crate::rsa_key::RsaKeyPair;
use crate::transport::{sniff, Sniff};

/// How the mock DC is laid out.
#[derive(Debug, Clone)]
pub struct MockDcConfig {
    /// Number of datacenters, ids 1..=dcs like Telegram's.
    pub dcs: u8,
    pub host: Ipv4Addr,
    /// 0: every DC and the control API get a free port. Otherwise DC n listens on
    /// `port + n - 1` and the control API on `port + dcs` unless `control_port` says otherwise.
    pub port: u16,
    pub control_port: Option<u16>,
    /// Keeps the RSA key and registered auth keys across restarts.
    pub state_dir: Option<PathBuf>,
}

impl Default for MockDcConfig {
    fn default() -> Self {
        Self {
            dcs: 5,
            host: Ipv4Addr::LOCALHOST,
            port: 0,
            control_port: None,
            state_dir: None,
        }
    }
}

/// What a started mock DC prints as its one JSON line.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReadyInfo {
    pub event: String,
    pub dcs: Vec<ReadyDc>,
    pub control_url: String,
    pub rsa: ReadyRsa,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReadyDc {
    pub id: i32,
    pub host: Ipv4Addr,
    pub port: u16,
    pub ws_url: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReadyRsa {
    pub public_key_pem: String,
    /// Signed 64-bit, as a decimal string so JavaScript does not round it.
    pub fingerprint: String,
}

/// Errors starting the mock DC.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("--dcs must be between 1 and 100, got {0}")]
    BadDcCount(u8),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state directory file {path} is invalid: {reason}")]
    BadState { path: PathBuf, reason: String },
}

/// A running mock DC. Dropping it without [`MockDc::shutdown`] leaves the tasks running until the
/// runtime stops.
pub struct MockDc {
    info: ReadyInfo,
    cluster: Arc<Cluster>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl MockDc {
    /// Binds every listener, then serves in background tasks.
    pub async fn start(config: MockDcConfig) -> Result<Self, StartError> {
        if config.dcs == 0 || config.dcs > 100 {
            return Err(StartError::BadDcCount(config.dcs));
        }
        if let Some(dir) = &config.state_dir {
            std::fs::create_dir_all(dir).map_err(|source| StartError::StateDir {
                path: dir.clone(),
                source,
            })?;
        }
        let rsa = Arc::new(load_or_create_rsa(config.state_dir.as_deref())?);

        let mut listeners = Vec::new();
        for n in 0..config.dcs {
            let port = if config.port == 0 {
                0
            } else {
                config.port + n as u16
            };
            listeners.push(bind(SocketAddr::from((config.host, port))).await?);
        }
        let control_port = config.control_port.unwrap_or(if config.port == 0 {
            0
        } else {
            config.port + config.dcs as u16
        });
        let control_listener = bind(SocketAddr::from((config.host, control_port))).await?;

        let dcs: Vec<DcAddress> = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| DcAddress {
                id: i as i32 + 1,
                host: config.host,
                port: l.local_addr().expect("bound").port(),
            })
            .collect();
        let store = match &config.state_dir {
            Some(dir) => {
                let path = dir.join("files");
                crate::files::BlobStore::in_dir(&path)
                    .map_err(|source| StartError::StateDir { path, source })?
            }
            None => {
                crate::files::BlobStore::temporary().map_err(|source| StartError::StateDir {
                    path: std::env::temp_dir(),
                    source,
                })?
            }
        };
        let cluster = Arc::new(Cluster::with_blob_store(dcs.clone(), rsa.clone(), store));
        if let Some(dir) = &config.state_dir {
            for (dc_id, key) in load_keys(dir)? {
                cluster.add_key(dc_id, key, None);
            }
            cluster.take_dirty_keys();
        }

        let control_addr = control_listener.local_addr().expect("bound");
        let info = ReadyInfo {
            event: "ready".into(),
            dcs: dcs
                .iter()
                .map(|dc| ReadyDc {
                    id: dc.id,
                    host: dc.host,
                    port: dc.port,
                    ws_url: format!("ws://{}:{}/apiws", dc.host, dc.port),
                })
                .collect(),
            control_url: format!("http://{control_addr}"),
            rsa: ReadyRsa {
                public_key_pem: rsa.public_pkcs1_pem(),
                fingerprint: rsa.fingerprint().to_string(),
            },
        };

        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for (listener, dc) in listeners.into_iter().zip(&dcs) {
            tasks.spawn(accept_loop(
                listener,
                cluster.clone(),
                dc.id,
                shutdown_rx.clone(),
            ));
        }
        let app = control::router(cluster.clone(), info.clone());
        let mut control_shutdown = shutdown_rx.clone();
        tasks.spawn(async move {
            let serve = axum::serve(control_listener, app).with_graceful_shutdown(async move {
                stopped(&mut control_shutdown).await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "control API stopped");
            }
        });
        tasks.spawn(drop_every_loop(cluster.clone(), shutdown_rx.clone()));
        if let Some(dir) = config.state_dir.clone() {
            tasks.spawn(persist_keys_loop(dir, cluster.clone(), shutdown_rx.clone()));
        }
        tracing::info!(control = %control_addr, dcs = dcs.len(), "mock DC ready");
        Ok(Self {
            info,
            cluster,
            shutdown,
            tasks,
        })
    }

    pub fn ready_info(&self) -> &ReadyInfo {
        &self.info
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Registers a fresh pre-shared auth key on `dc_id` and returns its bytes.
    ///
    /// # Panics
    /// If `dc_id` is not one of this mock's DCs.
    pub fn register_auth_key(&self, dc_id: i32) -> [u8; 256] {
        assert!(self.cluster.has_dc(dc_id), "no DC {dc_id} in this mock");
        *self.cluster.register_random_key(dc_id).bytes()
    }

    /// Registers a fresh key on `dc_id` already logged in as `user_id`, as if the user had
    /// completed a login with it (for tests and benchmarks that skip the login dance).
    ///
    /// # Panics
    /// If `dc_id` is not one of this mock's DCs or the user does not exist.
    pub fn register_authorized_key(&self, dc_id: i32, user_id: i64) -> [u8; 256] {
        assert!(
            self.cluster.world().user(user_id).is_some(),
            "no user {user_id}"
        );
        let key = self.register_auth_key(dc_id);
        let key_id = crate::crypto::AuthKey::from_bytes(key).id();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.cluster.world().authorize(key_id, user_id, dc_id, now);
        key
    }

    /// Stops accepting, closes every connection and waits for the tasks (keys are persisted).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn accept_loop(
    listener: TcpListener,
    cluster: Arc<Cluster>,
    dc_id: i32,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let stop_signal = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Without TCP_NODELAY, Nagle plus delayed ACKs stall every reply ~40 ms.
                    let _ = stream.set_nodelay(true);
                    let connection = Connection::new(cluster.clone(), dc_id);
                    let stop = stop_signal.clone();
                    connections.spawn(async move {
                        if let Err(error) = serve_socket(stream, connection, stop).await {
                            tracing::debug!(%peer, dc_id, %error, "connection closed");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stopped(&mut shutdown) => break,
        }
    }
    connections.shutdown().await;
}

/// Reads the first bytes without consuming them, then serves MTProto over TCP or WebSocket.
async fn serve_socket(
    stream: TcpStream,
    connection: Connection,
    shutdown: watch::Receiver<bool>,
) -> anyhow_like::Result {
    let mut prefix = [0u8; 4];
    let kind = loop {
        let n = stream.peek(&mut prefix).await?;
        if n == 0 {
            return Ok(());
        }
        match sniff(&prefix[..n]) {
            Sniff::NeedMore => tokio::time::sleep(Duration::from_millis(1)).await,
            other => break other,
        }
    };
    match kind {
        Sniff::Http => serve_websocket(stream, connection, shutdown).await,
        _ => serve_tcp(stream, connection, shutdown).await,
    }
}

/// Resolves once shutdown is signalled (the guard `wait_for` returns is not `Send`, so it is
/// dropped here rather than held across an await by callers).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The update just received plus whatever else is already queued (up to a bound), so a burst
/// goes out as one packet and one write instead of one each.
fn drain_burst(first: Push, updates: &mut tokio::sync::mpsc::UnboundedReceiver<Push>) -> Vec<Push> {
    const MAX_BURST: usize = 64;
    let mut burst = vec![first];
    while burst.len() < MAX_BURST {
        match updates.try_recv() {
            Ok(next) => burst.push(next),
            Err(_) => break,
        }
    }
    burst
}

/// A deadline as a future: `None` never fires.
async fn sleep_until_ms(deadline: Option<u64>) {
    match deadline {
        Some(at) => tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await,
        None => std::future::pending().await,
    }
}

/// Writes with the injected latency and bandwidth cap, if any.
async fn write_with_faults(
    stream: &mut TcpStream,
    cluster: &Cluster,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let (latency, bandwidth) = {
        let faults = cluster.faults();
        (faults.latency_ms(), faults.bandwidth())
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match bandwidth {
        None => stream.write_all(out).await?,
        Some(bytes_per_sec) => {
            // Paced in slices of ~10 ms worth of bytes.
            let slice = (bytes_per_sec / 100).max(1) as usize;
            for chunk in out.chunks(slice) {
                stream.write_all(chunk).await?;
                tokio::time::sleep(Duration::from_secs_f64(
                    chunk.len() as f64 / bytes_per_sec as f64,
                ))
                .await;
            }
        }
    }
    out.clear();
    Ok(())
}

async fn serve_tcp(
    mut stream: TcpStream,
    mut connection: Connection,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow_like::Result {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(64 * 1024);
    let mut updates = connection.take_updates().expect("fresh connection");
    let cluster = connection.cluster().clone();
    let mut drops = cluster.drop_signal();
    loop {
        tokio::select! {
            Some(update) = updates.recv() => {
                let burst = drain_burst(update, &mut updates);
                connection.push_updates(&burst, now_ms(), &mut out);
                write_with_faults(&mut stream, &cluster, &mut out).await?;
            }
            read = stream.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                let result = connection.receive(&buf[..n], now_ms(), &mut out);
                write_with_faults(&mut stream, &cluster, &mut out).await?;
                result?;
            }
            _ = drops.changed() => return Err(anyhow_like::Error::Protocol("dropped by fault injection".into())),
            _ = sleep_until_ms(connection.deadline()) => connection.on_timer(now_ms())?,
            _ = stopped(&mut shutdown) => return Ok(()),
        }
    }
}

async fn serve_websocket(
    stream: TcpStream,
    mut connection: Connection,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow_like::Result {
    // The signature is tungstenite's handshake callback; its error type is theirs.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        if request.uri().path() != "/apiws" {
            let mut refusal =
                ErrorResponse::new(Some("MTProto over WebSocket is served at /apiws".into()));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            return Err(refusal);
        }
        // GramJS (the `websocket` package) fails the handshake unless `binary` is echoed.
        let wants_binary = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|p| p.trim() == "binary"));
        if wants_binary {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static("binary"));
        }
        Ok(response)
    };
    let mut socket = tokio_tungstenite::accept_hdr_async(stream, check).await?;
    let mut out = Vec::new();
    let mut updates = connection.take_updates().expect("fresh connection");
    let mut drops = connection.cluster().drop_signal();
    loop {
        tokio::select! {
            _ = drops.changed() => return Err(anyhow_like::Error::Protocol("dropped by fault injection".into())),
            Some(update) = updates.recv() => {
                let burst = drain_burst(update, &mut updates);
                connection.push_updates(&burst, now_ms(), &mut out);
                if !out.is_empty() {
                    socket.send(Message::Binary(std::mem::take(&mut out).into())).await?;
                }
            }
            message = socket.next() => {
                let Some(message) = message else { return Ok(()) };
                let data = match message? {
                    Message::Binary(data) => data,
                    Message::Close(_) => return Ok(()),
                    // Pings are answered by tungstenite; text is not MTProto.
                    Message::Text(_) => return Err(anyhow_like::Error::Protocol("text WebSocket message".into())),
                    _ => continue,
                };
                let result = connection.receive(&data, now_ms(), &mut out);
                if !out.is_empty() {
                    socket.send(Message::Binary(std::mem::take(&mut out).into())).await?;
                }
                result?;
            }
            _ = sleep_until_ms(connection.deadline()) => connection.on_timer(now_ms())?,
            _ = stopped(&mut shutdown) => return Ok(()),
        }
    }
}

/// The driver's error: anything that ends one connection. Logged at debug level only, since
/// clients disconnecting is normal.
mod anyhow_like {
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error("io: {0}")]
        Io(#[from] std::io::Error),
        #[error("{0}")]
        Closed(#[from] crate::connection::Closed),
        #[error("websocket: {0}")]
        WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
        #[error("{0}")]
        Protocol(String),
    }
    pub type Result = std::result::Result<(), Error>;
}

const RSA_FILE: &str = "rsa_private_key.pem";
const KEYS_FILE: &str = "auth_keys.json";

fn load_or_create_rsa(state_dir: Option<&Path>) -> Result<RsaKeyPair, StartError> {
    let Some(dir) = state_dir else {
        return Ok(RsaKeyPair::generate());
    };
    let path = dir.join(RSA_FILE);
    match std::fs::read_to_string(&path) {
        Ok(pem) => RsaKeyPair::from_pkcs1_pem(&pem).map_err(|e| StartError::BadState {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = RsaKeyPair::generate();
            write_private(&path, key.to_pkcs1_private_pem().as_bytes())?;
            Ok(key)
        }
        Err(source) => Err(StartError::StateDir { path, source }),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredKey {
    dc_id: i32,
    auth_key: String,
}

fn load_keys(dir: &Path) -> Result<Vec<(i32, AuthKey)>, StartError> {
    let path = dir.join(KEYS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StartError::StateDir { path, source }),
    };
    let bad = |reason: String| StartError::BadState {
        path: path.clone(),
        reason,
    };
    let stored: Vec<StoredKey> = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    stored
        .into_iter()
        .map(|k| {
            let bytes: [u8; 256] = hex::decode(&k.auth_key)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    bad(format!(
                        "auth key for DC {} is not 512 hex characters",
                        k.dc_id
                    ))
                })?;
            Ok((k.dc_id, AuthKey::from_bytes(bytes)))
        })
        .collect()
}

/// Writes a secret file readable by its owner only, atomically (temp file + rename).
fn write_private(path: &Path, data: &[u8]) -> Result<(), StartError> {
    let tmp = path.with_extension("tmp");
    let io = |source| StartError::StateDir {
        path: path.to_path_buf(),
        source,
    };
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(io)?;
        std::io::Write::write_all(&mut file, data).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

fn persist_keys(dir: &Path, cluster: &Cluster) {
    let Some(keys) = cluster.take_dirty_keys() else {
        return;
    };
    let stored: Vec<StoredKey> = keys
        .into_iter()
        .map(|(dc_id, key)| StoredKey {
            dc_id,
            auth_key: hex::encode(key.bytes()),
        })
        .collect();
    let json = serde_json::to_vec_pretty(&stored).expect("serializable");
    if let Err(error) = write_private(&dir.join(KEYS_FILE), &json) {
        tracing::error!(%error, "could not persist auth keys");
    }
}

/// Writes registered keys to the state directory shortly after they change, and at shutdown.
async fn persist_keys_loop(
    dir: PathBuf,
    cluster: Arc<Cluster>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => persist_keys(&dir, &cluster),
            _ = stopped(&mut shutdown) => {
                persist_keys(&dir, &cluster);
                return;
            }
        }
    }
}

/// Applies `drop_connections_every_secs`: checks once a second whether a period has passed.
async fn drop_every_loop(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let mut last_drop = now_ms();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let every = cluster.faults().drop_every_secs();
                match every {
                    Some(secs) if now_ms().saturating_sub(last_drop) >= secs * 1000 => {
                        cluster.drop_connections();
                        last_drop = now_ms();
                    }
                    Some(_) => {}
                    None => last_drop = now_ms(),
                }
            }
            _ = stopped(&mut shutdown) => return,
        }
    }
}
