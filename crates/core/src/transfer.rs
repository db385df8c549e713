//! The transfer pool: upload parts and file downloads on the account's home DC go over several
//! extra MTProto connections (each its own session on the account's auth key), as the fastest
//! Telegram clients do, because Telegram limits the throughput of one connection.
//!
//! Why not grammers' sender: grammers-mtsender builds its `mtp::Encrypted` with the default
//! compression threshold, so every request of 512 B or more is gzipped at the best level, with
//! no way to turn it off. A 512 KiB part of incompressible data is compressed and thrown away,
//! which caps uploads at about 19 MiB/s. This module drives grammers-mtproto's sans-IO pieces
//! itself — `mtp::Encrypted` built with `compression_threshold(None)` and `transport::Full` —
//! with one small tokio task per connection:
//!
//! - the first request of a connection is `invokeWithLayer(initConnection(help.getConfig))`
//!   with the runtime's device info; callers' requests wait until it is answered (its time is
//!   the `telegate_transfer_connect_seconds` histogram);
//! - requests are pipelined: everything queued goes out at once (in containers, with the acks
//!   `Encrypted` keeps), answers are matched by msg_id;
//! - `bad_server_salt` / `bad_msg_notification` (16, 17, 32, 33, 48) resend the affected
//!   requests (those whose msg_id or container msg_id it names); `new_session_created`,
//!   `future_salts`, `msgs_ack`, `pong` are consumed by `Encrypted` itself; pushed updates are
//!   ignored (the account's own connection receives them);
//! - a dropped connection fails its requests with a transient error and the caller retries the
//!   part on another connection (saving a part twice is harmless);
//! - a connection with nothing to do for `transfer_idle_timeout` closes, so an idle account
//!   keeps nothing but an empty list.
//!
//! Connections open lazily: a request goes to the connection with the fewest requests in
//! flight, and a new one is opened (up to `transfer_connections`) only while every open one is
//! busy — sequential callers use one connection, parallel ones spread out.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grammers_crypto::DequeBuffer;
use grammers_mtproto::mtp::{self, Deserialization, Mtp};
use grammers_mtproto::transport::{self, Transport};
use grammers_mtproto::MsgId;
use grammers_mtsender::{InvocationError, RpcError};
use grammers_session::Session as _;
use grammers_tl_types as tl;
use tl::{Deserializable, Serializable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::account::{classify, core_error, Account, CallCtx, Conn, Control, Failure};
use crate::config::DeviceInfo;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::flood::{decide, FloodDecision};

/// Largest frame we read or write (Telegram closes connections sending about 1 MiB at once).
const MAXIMUM_DATA: usize = (1024 * 1024) + (8 * 1024);
const LEADING_BUFFER_SPACE: usize = mtp::MAX_TRANSPORT_HEADER_LEN
    + mtp::ENCRYPTED_PACKET_HEADER_LEN
    + mtp::PLAIN_PACKET_HEADER_LEN
    + mtp::MESSAGE_CONTAINER_HEADER_LEN;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Answer = Result<Vec<u8>, InvocationError>;

struct Job {
    body: Vec<u8>,
    reply: oneshot::Sender<Answer>,
}

/// One pool connection as callers see it.
struct Link {
    tx: mpsc::UnboundedSender<Job>,
    inflight: AtomicUsize,
}

/// What a pool connection needs to open.
struct Target {
    account_id: i64,
    dc_id: i32,
    addr: SocketAddr,
    key: [u8; 256],
    api_id: i32,
    device: DeviceInfo,
    idle: Duration,
}

/// The transfer connections of one account to one DC with one key.
pub(crate) struct TransferPool {
    target: Arc<Target>,
    size: usize,
    links: Mutex<Vec<Arc<Link>>>,
    opened: AtomicU64,
}

impl std::fmt::Debug for TransferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferPool")
            .field("dc_id", &self.target.dc_id)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Decrements a link's in-flight count on drop.
struct InFlight(Arc<Link>);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TransferPool {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        account_id: i64,
        dc_id: i32,
        addr: SocketAddr,
        key: [u8; 256],
        api_id: i32,
        device: DeviceInfo,
        size: usize,
        idle: Duration,
    ) -> Self {
        Self {
            target: Arc::new(Target {
                account_id,
                dc_id,
                addr,
                key,
                api_id,
                device,
                idle,
            }),
            size: size.max(1),
            links: Mutex::new(Vec::new()),
            opened: AtomicU64::new(0),
        }
    }

    /// Whether this pool still fits the account's home DC and key.
    pub(crate) fn serves(&self, dc_id: i32, addr: SocketAddr, key: &[u8; 256]) -> bool {
        self.target.dc_id == dc_id && self.target.addr == addr && &self.target.key == key
    }

    /// Connections opened since the pool was made (tests and diagnostics).
    pub(crate) fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub(crate) fn open_connections(&self) -> usize {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        links.retain(|l| !l.tx.is_closed());
        links.len()
    }

    /// The link a new request goes to: the least busy, or a new one while all are busy.
    fn pick(&self) -> Arc<Link> {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        links.retain(|l| !l.tx.is_closed());
        let least = links
            .iter()
            .min_by_key(|l| l.inflight.load(Ordering::Relaxed))
            .cloned();
        let link = match least {
            Some(l) if l.inflight.load(Ordering::Relaxed) == 0 || links.len() >= self.size => l,
            _ => {
                let (tx, rx) = mpsc::unbounded_channel();
                let link = Arc::new(Link {
                    tx,
                    inflight: AtomicUsize::new(0),
                });
                let n = self.opened.fetch_add(1, Ordering::Relaxed);
                let target = self.target.clone();
                let span = tracing::debug_span!(
                    "transfer_connection",
                    account_id = target.account_id,
                    dc_id = target.dc_id,
                    n
                );
                tokio::spawn(tracing::Instrument::instrument(run(target, rx), span));
                links.push(link.clone());
                link
            }
        };
        link.inflight.fetch_add(1, Ordering::Relaxed);
        link
    }

    /// Sends one serialized request and waits for its answer (no retries here).
    pub(crate) async fn call(&self, body: Vec<u8>) -> Answer {
        let link = self.pick();
        let _inflight = InFlight(link.clone());
        let (reply, rx) = oneshot::channel();
        link.tx
            .send(Job { body, reply })
            .map_err(|_| InvocationError::Dropped("the transfer connection closed"))?;
        rx.await
            .map_err(|_| InvocationError::Dropped("the transfer connection closed"))?
    }
}

/// Who is waiting for a sent message.
enum Waiter {
    Init,
    Caller(oneshot::Sender<Answer>),
}

struct Sent {
    body: Vec<u8>,
    waiter: Waiter,
    container: Option<MsgId>,
}

/// One connection's task: connect, initConnection, then pipeline jobs until idle or broken.
async fn run(target: Arc<Target>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let error = match drive(&target, &mut rx).await {
        Ok(()) => {
            debug!("transfer connection idle: closed");
            InvocationError::Dropped("the transfer connection closed")
        }
        Err(e) => {
            warn!(error = %e, "transfer connection failed");
            e
        }
    };
    // Whoever picked this link in the meantime retries elsewhere.
    rx.close();
    while let Ok(job) = rx.try_recv() {
        let _ = job.reply.send(Err(copy_error(&error)));
    }
}

fn copy_error(e: &InvocationError) -> InvocationError {
    match e {
        InvocationError::Io(e) => InvocationError::Io(std::io::Error::new(e.kind(), e.to_string())),
        InvocationError::Transport(t) => InvocationError::Transport(t.clone()),
        InvocationError::Rpc(r) => InvocationError::Rpc(r.clone()),
        _ => InvocationError::Dropped("the transfer connection failed"),
    }
}

fn init_request(target: &Target) -> Vec<u8> {
    let d = &target.device;
    tl::functions::InvokeWithLayer {
        layer: tl::LAYER,
        query: tl::functions::InitConnection {
            api_id: target.api_id,
            device_model: d.device_model.clone(),
            system_version: d.system_version.clone(),
            app_version: d.app_version.clone(),
            system_lang_code: d.lang_code.clone(),
            lang_pack: String::new(),
            lang_code: d.lang_code.clone(),
            proxy: None,
            params: None,
            query: tl::functions::help::GetConfig {},
        },
    }
    .to_bytes()
}

/// Reads frames off the socket and hands their payloads to the driver.
async fn read_frames(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    tx: mpsc::Sender<Result<Vec<u8>, InvocationError>>,
) {
    let mut transport = transport::Full::new();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        loop {
            match transport.unpack(&mut buf) {
                Ok(off) => {
                    let payload = buf[off.data_range.clone()].to_vec();
                    buf.drain(..off.next_offset);
                    if tx.send(Ok(payload)).await.is_err() {
                        return;
                    }
                }
                Err(transport::Error::MissingBytes) => break,
                Err(e) => {
                    let _ = tx.send(Err(InvocationError::Transport(e))).await;
                    return;
                }
            }
        }
        if buf.len() > MAXIMUM_DATA {
            let _ = tx
                .send(Err(InvocationError::Transport(transport::Error::BadLen {
                    got: buf.len() as i32,
                })))
                .await;
            return;
        }
        match rd.read(&mut chunk).await {
            Ok(0) => {
                let _ = tx
                    .send(Err(InvocationError::Io(
                        std::io::ErrorKind::UnexpectedEof.into(),
                    )))
                    .await;
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                let _ = tx.send(Err(InvocationError::Io(e))).await;
                return;
            }
        }
    }
}

/// Aborts the reader task when the driver ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn drive(
    target: &Target,
    rx: &mut mpsc::UnboundedReceiver<Job>,
) -> Result<(), InvocationError> {
    let started = Instant::now();
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(target.addr))
        .await
        .map_err(|_| InvocationError::Io(std::io::ErrorKind::TimedOut.into()))?
        .map_err(InvocationError::Io)?;
    stream.set_nodelay(true).map_err(InvocationError::Io)?;
    let (rd, mut wr) = stream.into_split();
    let (frames_tx, mut frames) = mpsc::channel(8);
    let _reader = AbortOnDrop(tokio::spawn(read_frames(rd, frames_tx)));

    let mut mtp = mtp::Encrypted::build()
        .compression_threshold(None)
        .finish(target.key);
    let mut transport = transport::Full::new();
    let mut out = DequeBuffer::with_capacity(MAXIMUM_DATA, LEADING_BUFFER_SPACE);

    let mut ready = false;
    // Sent first, alone, until answered.
    let mut unsent_init: Option<Vec<u8>> = Some(init_request(target));
    // Callers' jobs not yet serialized (resends go to the front).
    let mut queue: VecDeque<(Vec<u8>, Waiter)> = VecDeque::new();
    let mut sent: HashMap<MsgId, Sent> = HashMap::new();
    let mut accepting = true;
    let mut idle_since = tokio::time::Instant::now();

    loop {
        // Write everything that may go out now.
        loop {
            let mut serialized: Vec<MsgId> = Vec::new();
            out.clear();
            if let Some(body) = unsent_init.take() {
                match mtp.push(&mut out, &body) {
                    Some(id) => {
                        sent.insert(
                            id,
                            Sent {
                                body,
                                waiter: Waiter::Init,
                                container: None,
                            },
                        );
                        serialized.push(id);
                    }
                    None => unsent_init = Some(body),
                }
            }
            while let Some((body, waiter)) = if ready { queue.pop_front() } else { None } {
                match mtp.push(&mut out, &body) {
                    Some(id) => {
                        sent.insert(
                            id,
                            Sent {
                                body,
                                waiter,
                                container: None,
                            },
                        );
                        serialized.push(id);
                    }
                    None => {
                        queue.push_front((body, waiter));
                        break;
                    }
                }
            }
            let Some(last) = mtp.finalize(&mut out) else {
                break;
            };
            if serialized.len() > 1 || serialized.first() != Some(&last) {
                for id in &serialized {
                    if let Some(s) = sent.get_mut(id) {
                        s.container = Some(last);
                    }
                }
            }
            transport.pack(&mut out);
            let bytes = out.as_ref().len();
            wr.write_all(out.as_ref())
                .await
                .map_err(InvocationError::Io)?;
            metrics::counter!("telegate_transfer_bytes_total", "direction" => "up")
                .increment(bytes as u64);
            if serialized.is_empty() {
                // Only service messages (salts request, acks) went out: wait for answers.
                break;
            }
            if (!ready || queue.is_empty()) && unsent_init.is_none() {
                break;
            }
        }

        let idle = sent.is_empty() && queue.is_empty() && ready;
        let idle_deadline = idle_since + target.idle;
        tokio::select! {
            frame = frames.recv() => {
                let mut payload = match frame {
                    Some(Ok(p)) => p,
                    Some(Err(e)) => return Err(e),
                    None => return Err(InvocationError::Dropped("the transfer connection's reader ended")),
                };
                metrics::counter!("telegate_transfer_bytes_total", "direction" => "down")
                    .increment(payload.len() as u64);
                let results = mtp
                    .deserialize(&mut payload)
                    .map_err(InvocationError::Deserialize)?;
                for r in results {
                    match r {
                        Deserialization::RpcResult(res) => {
                            if let Some(s) = sent.remove(&res.msg_id) {
                                match s.waiter {
                                    Waiter::Init => {
                                        ready = true;
                                        metrics::histogram!("telegate_transfer_connect_seconds")
                                            .record(started.elapsed().as_secs_f64());
                                        debug!(elapsed = ?started.elapsed(), "transfer connection ready");
                                    }
                                    Waiter::Caller(tx) => { let _ = tx.send(Ok(res.body)); }
                                }
                            }
                        }
                        Deserialization::RpcError(err) => {
                            if let Some(s) = sent.remove(&err.msg_id) {
                                let e = InvocationError::Rpc(RpcError::from(err.error));
                                match s.waiter {
                                    Waiter::Init => return Err(e),
                                    Waiter::Caller(tx) => { let _ = tx.send(Err(e)); }
                                }
                            }
                        }
                        Deserialization::BadMessage(bad) => {
                            let mut hit: Vec<MsgId> = sent
                                .iter()
                                .filter(|(id, s)| **id == bad.msg_id || s.container == Some(bad.msg_id))
                                .map(|(id, _)| *id)
                                .collect();
                            hit.sort();
                            let resend = bad.retryable() || [32, 33].contains(&bad.code);
                            debug!(code = bad.code, requests = hit.len(), resend, "bad_msg_notification");
                            // Back to the front, in their original order.
                            for id in hit.into_iter().rev() {
                                let s = sent.remove(&id).expect("listed above");
                                match (resend, s.waiter) {
                                    (true, Waiter::Init) => unsent_init = Some(s.body),
                                    (true, w) => queue.push_front((s.body, w)),
                                    (false, Waiter::Init) => {
                                        return Err(InvocationError::Dropped("initConnection was refused"))
                                    }
                                    (false, Waiter::Caller(tx)) => {
                                        let _ = tx.send(Err(InvocationError::Dropped(bad.description())));
                                    }
                                }
                            }
                            if bad.fatal() && !resend {
                                return Err(InvocationError::Dropped("bad_msg_notification"));
                            }
                        }
                        Deserialization::Failure(f) => {
                            if let Some(s) = sent.remove(&f.msg_id) {
                                let e = InvocationError::Deserialize(f.error);
                                match s.waiter {
                                    Waiter::Init => return Err(e),
                                    Waiter::Caller(tx) => { let _ = tx.send(Err(e)); }
                                }
                            }
                        }
                        // Updates belong to the account's own connection.
                        Deserialization::Update(_) | Deserialization::OwnUpdate { .. } => {}
                    }
                }
            }
            job = rx.recv(), if accepting => match job {
                Some(job) => queue.push_back((job.body, Waiter::Caller(job.reply))),
                // The pool is gone: finish what is in flight, then end.
                None => accepting = false,
            },
            _ = tokio::time::sleep_until(idle_deadline), if idle => return Ok(()),
        }
        if !accepting && sent.is_empty() && queue.is_empty() {
            return Ok(());
        }
        if !(sent.is_empty() && queue.is_empty()) {
            idle_since = tokio::time::Instant::now();
        }
    }
}

impl Account {
    /// The transfer pool for the account's home DC (made, or remade after a migration or a new
    /// key, on demand).
    fn transfer_pool(&self, conn: &Conn) -> CoreResult<Arc<TransferPool>> {
        let dc = conn.home_dc();
        let option = conn
            .session
            .dc_option(dc)
            .map_err(CoreError::from)?
            .ok_or_else(|| {
                CoreError::internal(format!("the session knows no address of DC {dc}"))
            })?;
        let key = option.auth_key.ok_or_else(|| {
            CoreError::new(
                ErrorCode::NotConnected,
                format!("no auth key for DC {dc} yet"),
            )
        })?;
        let addr = SocketAddr::V4(option.ipv4);
        let mut slot = self.transfer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = slot.as_ref().filter(|p| p.serves(dc, addr, &key)) {
            return Ok(pool.clone());
        }
        let cfg = &self.rt.config;
        let pool = Arc::new(TransferPool::new(
            self.id,
            dc,
            addr,
            key,
            self.rt.target.api_id,
            cfg.device.clone(),
            cfg.transfer_connections,
            cfg.transfer_idle_timeout,
        ));
        *slot = Some(pool.clone());
        Ok(pool)
    }

    /// Pool statistics: (connections opened so far, connections open now).
    pub(crate) fn transfer_stats(&self) -> (u64, usize) {
        match self
            .transfer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some(p) => (p.connections_opened(), p.open_connections()),
            None => (0, 0),
        }
    }

    /// A file call (upload part, getFile on the home DC) through the transfer pool, with the
    /// account's flood-wait policy and a retry on another connection after a drop. With
    /// `transfer_connections = 0` it takes the account's normal call path.
    pub(crate) async fn invoke_file<R>(&self, req: &R, ctx: CallCtx) -> CoreResult<R::Return>
    where
        R: tl::RemoteCall + tl::Identifiable,
    {
        let cfg = &self.rt.config;
        if cfg.transfer_connections == 0 {
            return self.invoke(req, ctx).await;
        }
        let method = tl::name_for_id(R::CONSTRUCTOR_ID);
        if self.rt.is_shutting_down() {
            return Err(CoreError::new(
                ErrorCode::ShuttingDown,
                "the gateway is shutting down",
            ));
        }
        let deadline = tokio::time::Instant::now() + cfg.request_timeout;
        let body = req.to_bytes();
        let mut slept = Duration::ZERO;
        let mut transient = 0u32;
        loop {
            let conn = self.connected_conn(deadline).await?;
            let pool = self.transfer_pool(&conn)?;
            let started = Instant::now();
            let res = tokio::time::timeout_at(deadline, pool.call(body.clone())).await;
            metrics::histogram!("telegate_request_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            let err = match res {
                Ok(Ok(bytes)) => {
                    return R::Return::from_bytes(&bytes).map_err(|e| {
                        CoreError::internal(format!("{method}: unreadable answer: {e}"))
                    })
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    let e = CoreError::new(
                        ErrorCode::Timeout,
                        format!("{method} did not answer in time"),
                    );
                    self.count_error(&e);
                    return Err(e);
                }
            };
            match classify(&err) {
                Failure::Flood(secs) => {
                    metrics::counter!("telegate_flood_waits_total", "method" => method)
                        .increment(1);
                    metrics::counter!("telegate_flood_wait_seconds_total", "method" => method)
                        .increment(secs as u64);
                    match decide(secs, slept, cfg.flood_sleep_threshold, ctx.fail_fast) {
                        FloodDecision::Sleep(d) => {
                            tokio::time::sleep(d).await;
                            slept += d;
                            continue;
                        }
                        FloodDecision::FailFast => {}
                    }
                }
                Failure::Transient if ctx.retry_safe && transient < cfg.transient_retries => {
                    transient += 1;
                    metrics::counter!("telegate_call_retries_total", "method" => method)
                        .increment(1);
                    debug!(account_id = self.id, method, error = %err, "transfer call retried");
                    let pause = Duration::from_millis(20 * transient as u64);
                    tokio::time::sleep(pause.mul_f64(0.5 + rand::random::<f64>())).await;
                    continue;
                }
                Failure::Fatal(code) => {
                    let e = core_error(err);
                    let _ = self.ctl.try_send(Control::Fatal(code, e.message.clone()));
                    self.count_error(&e);
                    return Err(e);
                }
                _ => {}
            }
            let e = core_error(err);
            self.count_error(&e);
            return Err(e);
        }
    }
}
