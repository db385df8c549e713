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
use grammers_tl_types::{self as tl, Identifiable, Serializable};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

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
    /// `messages.sendMessage` (layer 230) to one user. Request 1 goes wrapped in
    /// `invokeWithLayer(initConnection(...))`, as a real client's first request does. Every
    /// request gets its own `random_id` (`random_base + n`); a re-sent request keeps its
    /// `random_id`, as a real client's retry does.
    SendMessage {
        body: Vec<u8>,
        first: Vec<u8>,
        random_base: i64,
    },
    /// A recipient that only listens: request 1 is
    /// `invokeWithLayer(initConnection(updates.getState))`, later ones are pings, which carry the
    /// acks of the pushed updates (grammers sends acks only along with a request).
    Listen { first: Vec<u8>, scratch: Vec<u8> },
}

/// Bytes already serialized, as the query of a wrapper such as `initConnection`.
struct Raw<'a>(&'a [u8]);

impl Serializable for Raw<'_> {
    fn serialize(&self, buf: &mut impl Extend<u8>) {
        buf.extend(self.0.iter().copied());
    }
}

/// `invokeWithLayer(LAYER, initConnection(..., query))`: what a client sends first.
fn with_init_connection(query: &[u8]) -> Vec<u8> {
    tl::functions::InvokeWithLayer {
        layer: tl::LAYER,
        query: tl::functions::InitConnection {
            api_id: 1,
            device_model: "telegate-bench".into(),
            system_version: std::env::consts::OS.into(),
            app_version: env!("CARGO_PKG_VERSION").into(),
            system_lang_code: "en".into(),
            lang_pack: String::new(),
            lang_code: "en".into(),
            proxy: None,
            params: None,
            query: Raw(query),
        },
    }
    .to_bytes()
}

/// Placeholder `random_id` of the serialized sendMessage template (its last 8 bytes).
const RANDOM_ID_MARK: i64 = 0x5ead_5ead_5ead_5ead;

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

    /// `messages.sendMessage{peer: inputPeerUser{user_id, access_hash}, message: text}`.
    pub fn send_message(user_id: i64, access_hash: i64, text: &str) -> Self {
        let body = tl::functions::messages::SendMessage {
            no_webpage: false,
            silent: false,
            background: false,
            clear_draft: false,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            allow_paid_floodskip: false,
            peer: tl::enums::InputPeer::User(tl::types::InputPeerUser {
                user_id,
                access_hash,
            }),
            reply_to: None,
            message: text.into(),
            random_id: RANDOM_ID_MARK,
            reply_markup: None,
            entities: None,
            schedule_date: None,
            schedule_repeat_period: None,
            send_as: None,
            quick_reply_shortcut: None,
            effect: None,
            allow_paid_stars: None,
            suggested_post: None,
            rich_message: None,
        }
        .to_bytes();
        // With no optional field after it, random_id is the last field: patched per request.
        assert!(body.ends_with(&RANDOM_ID_MARK.to_le_bytes()));
        Self::SendMessage {
            first: with_init_connection(&body),
            body,
            random_base: rand::random(),
        }
    }

    pub fn listen() -> Self {
        Self::Listen {
            first: with_init_connection(&tl::functions::updates::GetState {}.to_bytes()),
            scratch: Vec::new(),
        }
    }

    /// The constructor every successful answer must have, where the workload knows it.
    fn expected_answer(&self) -> Option<u32> {
        match self {
            Self::SendMessage { .. } => Some(tl::types::UpdateShortSentMessage::CONSTRUCTOR_ID),
            _ => None,
        }
    }

    /// The serialized request number `n` (the first is 1).
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
            Self::SendMessage {
                body,
                first,
                random_base,
            } => {
                let request = if n == 1 { first } else { body };
                let at = request.len() - 8;
                request[at..].copy_from_slice(&random_base.wrapping_add(n as i64).to_le_bytes());
                request
            }
            Self::Listen { first, scratch } => {
                if n == 1 {
                    return first;
                }
                *scratch = tl::functions::Ping { ping_id: n as i64 }.to_bytes();
                scratch
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
    /// Of those, how many were results of another type than the workload expects, and the
    /// first such constructor.
    pub unexpected: u64,
    pub first_unexpected: Option<u32>,
    /// Updates pushed by the server (not answers to a request) received before the deadline.
    pub updates: u64,
    /// Requests re-sent after a bad_msg_notification / bad_server_salt.
    pub resent: u64,
    /// Round-trip times, if asked for.
    pub latencies: Vec<Duration>,
}

/// What a request got back.
enum Answer {
    /// A result, with its constructor id.
    Result(Option<u32>),
    /// `rpc_error`: `CODE MESSAGE`.
    Error(String),
}

/// What the frames of one read contained.
#[derive(Default)]
struct Inbox {
    answered: Vec<(MsgId, Answer)>,
    /// (bad msg_id, code, retryable) from bad_msg_notification / bad_server_salt.
    refused: Vec<(MsgId, i32, bool)>,
    /// Updates the server pushed.
    updates: u64,
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
        let mut inbox = Inbox::default();
        let expected = work.expected_answer();
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

            self.read_some(&mut inbox).await?;
            let now = Instant::now();
            let counts = now <= stop.deadline;
            if counts {
                stats.updates += inbox.updates;
            }
            inbox.updates = 0;
            for (msg_id, answer) in inbox.answered.drain(..) {
                // Answers to Encrypted's own requests, or to requests already re-sent, are not ours.
                let Some(pending) = inflight.remove(&msg_id) else {
                    continue;
                };
                if counts {
                    stats.completed += 1;
                    match answer {
                        Answer::Error(error) => {
                            stats.rpc_errors += 1;
                            stats.first_error.get_or_insert(error);
                        }
                        Answer::Result(constructor) => {
                            if expected.is_some() && constructor != expected {
                                stats.unexpected += 1;
                                if stats.first_unexpected.is_none() {
                                    stats.first_unexpected = constructor;
                                }
                            }
                        }
                    }
                    if record_latency {
                        stats.latencies.push(now - pending.sent);
                    }
                }
            }
            for (bad, code, retryable) in inbox.refused.drain(..) {
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

    /// A recipient's run: reads pushed updates until `done`, counting those received before
    /// `deadline`, and acknowledges them. The acks ride along a ping (grammers' `Encrypted`
    /// sends acks only with a request), one ping in flight at most, once `ack_every` updates
    /// wait for their ack. When `done` fires, one last ping acknowledges the rest and the run
    /// ends with its pong.
    pub async fn listen(
        &mut self,
        work: &mut Workload,
        ack_every: u64,
        deadline: Instant,
        mut done: watch::Receiver<bool>,
    ) -> anyhow::Result<RunStats> {
        let mut stats = RunStats::default();
        let mut inbox = Inbox::default();
        let mut unacked = 0u64;
        // The ping in flight: its msg_id and its packet's (a container when acks went along).
        let mut ping: Option<(MsgId, MsgId)> = None;
        let mut finishing = false;
        loop {
            if ping.is_none() && (unacked >= ack_every || (finishing && unacked > 0)) {
                self.next_n += 1;
                let pushed = self
                    .mtp
                    .push(&mut self.write, work.body(self.next_n.max(2)));
                // None while Encrypted fetches salts: its own request goes out, the ping later.
                if let Some(packet) = self.mtp.finalize(&mut self.write) {
                    self.transport.pack(&mut self.write);
                    self.stream
                        .write_all(&self.write[..])
                        .await
                        .context("write")?;
                    self.write.clear();
                    if let Some(msg_id) = pushed {
                        ping = Some((msg_id, packet));
                        unacked = 0;
                    }
                }
            }
            if finishing && ping.is_none() && unacked == 0 {
                return Ok(stats);
            }
            tokio::select! {
                read = self.read_some(&mut inbox) => read?,
                _ = stopped(&mut done), if !finishing => {
                    finishing = true;
                    // Everything received so far still needs its ack.
                    unacked += 1;
                    continue;
                }
            }
            if Instant::now() <= deadline {
                stats.updates += inbox.updates;
            }
            unacked += inbox.updates;
            inbox.updates = 0;
            for (msg_id, _) in inbox.answered.drain(..) {
                if ping.is_some_and(|(id, _)| id == msg_id) {
                    ping = None;
                }
            }
            for (bad, _, _) in inbox.refused.drain(..) {
                if ping.is_some_and(|(id, packet)| id == bad || packet == bad) {
                    ping = None;
                    unacked = unacked.max(1);
                }
            }
        }
    }

    /// Reads at least one chunk and deserializes every complete frame in the buffer.
    async fn read_some(&mut self, inbox: &mut Inbox) -> anyhow::Result<()> {
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
                            Deserialization::RpcResult(r) => {
                                let constructor =
                                    r.body.first_chunk().map(|c| u32::from_le_bytes(*c));
                                inbox.answered.push((r.msg_id, Answer::Result(constructor)))
                            }
                            Deserialization::RpcError(e) => inbox.answered.push((
                                e.msg_id,
                                Answer::Error(format!(
                                    "{} {}",
                                    e.error.error_code, e.error.error_message
                                )),
                            )),
                            Deserialization::BadMessage(b) => {
                                inbox.refused.push((b.msg_id, b.code, b.retryable()))
                            }
                            Deserialization::Failure(f) => bail!("undecodable answer: {}", f.error),
                            Deserialization::Update(_) => inbox.updates += 1,
                            // A copy of an answer that is an Updates: the answer itself counts.
                            Deserialization::OwnUpdate { .. } => {}
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

/// Resolves once `done` holds true (or its sender is gone).
async fn stopped(done: &mut watch::Receiver<bool>) {
    let _ = done.wait_for(|done| *done).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_tl_types::Deserializable;

    // Functions deserialize without their constructor id: the tests skip its 4 bytes.

    #[test]
    fn send_message_requests_have_their_own_random_id() {
        let mut work = Workload::send_message(42, 7, "hi");
        let Workload::SendMessage { random_base, .. } = work else {
            unreachable!()
        };
        let second = tl::functions::messages::SendMessage::from_bytes(&work.body(2)[4..]).unwrap();
        assert_eq!(second.random_id, random_base.wrapping_add(2));
        assert_eq!(second.message, "hi");
        let tl::enums::InputPeer::User(peer) = second.peer else {
            panic!("not an inputPeerUser")
        };
        assert_eq!((peer.user_id, peer.access_hash), (42, 7));
        let third = tl::functions::messages::SendMessage::from_bytes(&work.body(3)[4..]).unwrap();
        assert_eq!(third.random_id, random_base.wrapping_add(3));

        // The first request goes wrapped, as a real client's does, with its random_id last.
        let first = work.body(1).to_vec();
        assert_eq!(
            &first[..8],
            [
                tl::functions::InvokeWithLayer::<()>::CONSTRUCTOR_ID.to_le_bytes(),
                tl::LAYER.to_le_bytes()
            ]
            .concat()
        );
        assert!(first.ends_with(&random_base.wrapping_add(1).to_le_bytes()));
        assert!(first.len() > work.body(2).len());
    }

    #[test]
    fn listeners_start_with_init_connection_then_ping() {
        let mut work = Workload::listen();
        let first = work.body(1).to_vec();
        assert_eq!(
            &first[..4],
            tl::functions::InvokeWithLayer::<()>::CONSTRUCTOR_ID.to_le_bytes()
        );
        let ping = tl::functions::Ping::from_bytes(&work.body(5)[4..]).unwrap();
        assert_eq!(ping.ping_id, 5);
    }
}
