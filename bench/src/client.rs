//! A lean raw MTProto client for benchmarking: grammers-mtproto's [`Encrypted`] state machine
//! (msg_ids, seq_nos, containers, acks, salts) over the [`Full`] transport on one tokio
//! `TcpStream`, with a bounded number of requests in flight.
//!
//! The loop is the one grammers-mtsender runs, minus everything a benchmark does not need:
//! push requests while the window has room, `finalize` (encrypts), `pack` (frames), write; then
//! read, `unpack`, `deserialize` and match answers to requests by `MsgId`. A
//! `bad_msg_notification` / `bad_server_salt` names the msg_id of the packet's top-level
//! message, which is the container when several messages went together, so every request
//! remembers the packet it travelled in and is re-sent when either is refused.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use grammers_crypto::DequeBuffer;
use grammers_mtproto::mtp::{self, Deserialization, Encrypted, Mtp};
use grammers_mtproto::transport::{self, Full, Transport};
use grammers_mtproto::MsgId;
use grammers_tl_types::{self as tl, Serializable};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Room in front of the write buffer for what `finalize` and `pack` prepend (as mtsender does).
const LEADING_SPACE: usize = mtp::MAX_TRANSPORT_HEADER_LEN
    + mtp::ENCRYPTED_PACKET_HEADER_LEN
    + mtp::PLAIN_PACKET_HEADER_LEN
    + mtp::MESSAGE_CONTAINER_HEADER_LEN;
/// A Full frame of ~1 MiB plus headers fits; the mock only ever answers with small packets.
const READ_BUFFER: usize = 2 * 1024 * 1024;
/// No answer for this long means something is broken, not slow.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// What the requests of a run look like.
pub enum Workload {
    /// `ping#7abe77ec ping_id:long`; the mock answers with a bare `pong`.
    Ping { scratch: Vec<u8> },
    /// `upload.saveFilePart` with a fixed random payload; `file_part` changes per request.
    SaveFilePart { body: Vec<u8> },
}

impl Workload {
    pub fn ping() -> Self {
        Self::Ping {
            scratch: Vec::new(),
        }
    }

    pub fn save_file_part(payload_len: usize) -> Self {
        let mut bytes = vec![0u8; payload_len];
        rand::rng().fill_bytes(&mut bytes);
        let body = tl::functions::upload::SaveFilePart {
            file_id: rand::random(),
            file_part: 0,
            bytes,
        }
        .to_bytes();
        Self::SaveFilePart { body }
    }

    /// The serialized request number `n`.
    fn body(&mut self, n: u64) -> &[u8] {
        match self {
            Self::Ping { scratch } => {
                *scratch = tl::functions::Ping { ping_id: n as i64 }.to_bytes();
                scratch
            }
            Self::SaveFilePart { body } => {
                // saveFilePart#b304a621 file_id:long file_part:int bytes:bytes
                body[12..16].copy_from_slice(&(n as i32).to_le_bytes());
                body
            }
        }
    }
}

/// When a run ends: no new requests after the deadline or after `max_completions` answers; the
/// requests still in flight are then drained (and not counted) so the next run starts clean.
#[derive(Clone, Copy)]
pub struct Stop {
    pub deadline: Instant,
    pub max_completions: Option<u64>,
}

/// What one run on one connection produced.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Answers received before the deadline.
    pub completed: u64,
    /// Of those, how many were `rpc_error`s, and the first error seen.
    pub rpc_errors: u64,
    pub first_error: Option<String>,
    /// Requests re-sent after a bad_msg_notification / bad_server_salt.
    pub resent: u64,
    /// Round-trip times, if asked for.
    pub latencies: Vec<Duration>,
}

struct Pending {
    n: u64,
    /// The msg_id of the packet's top-level message (the container, if there was one).
    packet: MsgId,
    sent: Instant,
}

pub struct Client {
    stream: TcpStream,
    transport: Full,
    mtp: Encrypted,
    write: DequeBuffer<u8>,
    read: Vec<u8>,
    read_len: usize,
    next_n: u64,
}

impl Client {
    pub async fn connect(addr: SocketAddr, auth_key: [u8; 256]) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            transport: Full::new(),
            // First salt 0: the mock answers bad_server_salt and Encrypted adopts the new salt.
            // No gzip: compressing random bytes would make the client the bottleneck.
            mtp: Encrypted::build()
                .compression_threshold(None)
                .finish(auth_key),
            write: DequeBuffer::with_capacity(1024 * 1024 + 8 * 1024, LEADING_SPACE),
            read: vec![0; READ_BUFFER],
            read_len: 0,
            next_n: 0,
        })
    }

    /// Keeps up to `window` requests of `work` in flight, at most `batch` per packet, until `stop`.
    pub async fn run(
        &mut self,
        work: &mut Workload,
        window: usize,
        batch: usize,
        stop: Stop,
        record_latency: bool,
    ) -> anyhow::Result<RunStats> {
        let mut stats = RunStats::default();
        let mut inflight: HashMap<MsgId, Pending> = HashMap::with_capacity(window * 2);
        let mut retry: VecDeque<u64> = VecDeque::new();
        let mut pushed: Vec<(MsgId, u64)> = Vec::with_capacity(window);
        let mut answered: Vec<(MsgId, Option<String>)> = Vec::new();
        let mut refused: Vec<(MsgId, i32, bool)> = Vec::new();
        loop {
            let stopping = Instant::now() >= stop.deadline
                || stop
                    .max_completions
                    .is_some_and(|max| stats.completed >= max);

            // Fill the window, in packets of at most `batch` requests, so that several packets
            // are in flight and the server has the next one queued while the client handles
            // the answers to the previous one (one packet of `window` requests would make the
            // two sides take turns). `push` says None when the container is full (a 512 KiB
            // upload goes alone) or while Encrypted waits for its own get_future_salts answer.
            loop {
                let mut in_packet = 0;
                let mut more = false;
                while !stopping && inflight.len() + pushed.len() < window {
                    if in_packet == batch {
                        more = true;
                        break;
                    }
                    let n = retry.pop_front().unwrap_or_else(|| {
                        self.next_n += 1;
                        self.next_n
                    });
                    match self.mtp.push(&mut self.write, work.body(n)) {
                        Some(msg_id) => {
                            pushed.push((msg_id, n));
                            in_packet += 1;
                        }
                        None => {
                            retry.push_front(n);
                            more = in_packet > 0;
                            break;
                        }
                    }
                }
                // Acks and Encrypted's own requests may need sending even when nothing was pushed.
                if let Some(packet) = self.mtp.finalize(&mut self.write) {
                    self.transport.pack(&mut self.write);
                    let sent = Instant::now();
                    self.stream
                        .write_all(&self.write[..])
                        .await
                        .context("write")?;
                    self.write.clear();
                    for (msg_id, n) in pushed.drain(..) {
                        inflight.insert(msg_id, Pending { n, packet, sent });
                    }
                } else {
                    debug_assert!(pushed.is_empty());
                }
                if !more {
                    break;
                }
            }
            if stopping && inflight.is_empty() {
                return Ok(stats);
            }

            self.read_some(&mut answered, &mut refused).await?;
            let now = Instant::now();
            let counts = now <= stop.deadline;
            for (msg_id, error) in answered.drain(..) {
                // Answers to Encrypted's own requests, or to requests already re-sent, are not ours.
                let Some(pending) = inflight.remove(&msg_id) else {
                    continue;
                };
                if counts {
                    stats.completed += 1;
                    if let Some(error) = error {
                        stats.rpc_errors += 1;
                        stats.first_error.get_or_insert(error);
                    }
                    if record_latency {
                        stats.latencies.push(now - pending.sent);
                    }
                }
            }
            for (bad, code, retryable) in refused.drain(..) {
                let hit: Vec<MsgId> = inflight
                    .iter()
                    .filter(|(id, p)| **id == bad || p.packet == bad)
                    .map(|(id, _)| *id)
                    .collect();
                if !hit.is_empty() && !retryable {
                    bail!("the mock refused a request with bad_msg_notification code {code}");
                }
                for id in hit {
                    let pending = inflight.remove(&id).expect("just found");
                    stats.resent += 1;
                    retry.push_back(pending.n);
                }
            }
        }
    }

    /// Reads at least one chunk and deserializes every complete frame in the buffer.
    async fn read_some(
        &mut self,
        answered: &mut Vec<(MsgId, Option<String>)>,
        refused: &mut Vec<(MsgId, i32, bool)>,
    ) -> anyhow::Result<()> {
        if self.read_len == self.read.len() {
            bail!("read buffer full: a frame larger than {READ_BUFFER} bytes?");
        }
        let n = tokio::time::timeout(
            READ_TIMEOUT,
            self.stream.read(&mut self.read[self.read_len..]),
        )
        .await
        .map_err(|_| anyhow!("no answer from the mock DC within {READ_TIMEOUT:?}"))?
        .context("read")?;
        if n == 0 {
            bail!("the mock DC closed the connection");
        }
        self.read_len += n;
        let mut offset = 0;
        loop {
            match self.transport.unpack(&mut self.read[offset..self.read_len]) {
                Ok(frame) => {
                    let results = self
                        .mtp
                        .deserialize(&mut self.read[offset..][frame.data_range])
                        .map_err(|e| anyhow!("deserialize: {e}"))?;
                    offset += frame.next_offset;
                    for result in results {
                        match result {
                            Deserialization::RpcResult(r) => answered.push((r.msg_id, None)),
                            Deserialization::RpcError(e) => {
                                answered.push((e.msg_id, Some(e.error.error_message)))
                            }
                            Deserialization::BadMessage(b) => {
                                refused.push((b.msg_id, b.code, b.retryable()))
                            }
                            Deserialization::Failure(f) => bail!("undecodable answer: {}", f.error),
                            Deserialization::Update(_) | Deserialization::OwnUpdate { .. } => {}
                        }
                    }
                }
                Err(transport::Error::MissingBytes) => break,
                Err(e) => bail!("transport: {e}"),
            }
        }
        self.read.copy_within(offset..self.read_len, 0);
        self.read_len -= offset;
        Ok(())
    }
}
