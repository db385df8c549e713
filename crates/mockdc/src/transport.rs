//! Server side of the MTProto transport layer, sans-IO.
//!
//! # Why this module exists
//!
//! Telegram serves every MTProto transport (abridged, intermediate, padded intermediate, full,
//! each optionally wrapped in obfuscated2) on the same port and tells them apart from the first
//! bytes the client sends. A mock DC that real clients can talk to must do the same: grammers,
//! Telethon and GramJS default to Full, Telegram's own apps to obfuscated (padded)
//! intermediate, and the WebSocket endpoint carries obfuscated streams. Client libraries only
//! implement the *client* half of these codecs, so the server half lives here.
//!
//! The codec does no I/O, reads no clock and spawns nothing: the driver feeds it whatever bytes
//! the socket produced ([`ServerCodec::feed`]), drains complete frames
//! ([`ServerCodec::next_frame`]) and writes whatever [`ServerCodec::encode`] appended to its
//! output buffer. That keeps every rule testable byte for byte and lets the same codec sit behind
//! TCP and behind WebSocket binary messages.
//!
//! # Detection (the first bytes of a connection)
//!
//! | first bytes                         | transport                                   |
//! |-------------------------------------|---------------------------------------------|
//! | `ef`                                | abridged                                    |
//! | `ee ee ee ee`                       | intermediate                                |
//! | `dd dd dd dd`                       | padded intermediate                         |
//! | `GET `, `POST`, `HEAD`, `OPTI`      | HTTP: see [`sniff`], refused by the codec   |
//! | bytes 4..8 are `00 00 00 00`        | full (its first frame has seq 0)            |
//! | anything else (64 bytes)            | obfuscated2 header                          |
//!
//! Full is recognised by its zero sequence number, not by the length alone: the spec forbids an
//! obfuscated2 header whose bytes 4..8 are zero precisely so that this test is unambiguous,
//! whereas a random header's first word is a multiple of four a quarter of the time. The Full
//! length is then validated like any other frame (multiple of 4, within bounds).
//!
//! # Robustness
//!
//! Every length is checked as soon as its header bytes arrive, before the body is buffered,
//! against [`MAX_FRAME_LEN`]; unconsumed input is capped at [`MAX_BUFFERED`]. The first error
//! kills the codec: every later [`ServerCodec::feed`] / [`ServerCodec::next_frame`] returns the
//! same [`TransportError`], and the driver should close the connection (after writing a
//! transport error if it wants to). Nothing here panics on input bytes.
//!
//! # Efficiency
//!
//! Input is appended to one buffer and consumed through an offset; the consumed prefix is
//! dropped only once it is at least as large as what remains, so each byte is moved at most a
//! constant number of times. Obfuscated input is decrypted in place as it arrives (one pass of
//! AES-CTR over each byte). Output frames are appended to the caller's `Vec` and encrypted in
//! place: the payload is copied exactly once.

use std::fmt;

use aes::cipher::{KeyIvInit, StreamCipher};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// AES-256-CTR with a 128-bit big-endian counter, as obfuscated2 uses.
type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Largest payload (in bytes) accepted in one inbound frame.
///
/// Telegram caps messages at about 1 MiB plus headers; a 512 KiB `upload.saveFilePart` with its
/// MTProto envelope is far below this. Padded intermediate counts its random padding in the
/// length, so the padding is included; Full counts its 12 envelope bytes on top of this.
pub const MAX_FRAME_LEN: usize = 2 * 1024 * 1024 + 4096;

/// Smallest payload (in bytes) accepted in one inbound frame: one 32-bit word.
///
/// No client sends anything shorter than an MTProto plaintext message (20+ bytes); the transport
/// only rejects what cannot be a payload at all and leaves the rest to the layer above.
pub const MIN_FRAME_LEN: usize = 4;

/// Largest chunk a driver should pass to one [`ServerCodec::feed`] before draining frames.
///
/// Not enforced by itself; it sizes [`MAX_BUFFERED`] so that a driver that reads at most this
/// much per call and drains [`ServerCodec::next_frame`] after every feed never hits
/// [`TransportError::BufferFull`] with valid traffic.
pub const MAX_FEED_CHUNK: usize = 1024 * 1024;

/// Most unconsumed bytes a [`ServerCodec`] holds; feeding more is [`TransportError::BufferFull`].
///
/// One maximal frame, its envelope (or the 64-byte obfuscated2 header), and one feed chunk.
pub const MAX_BUFFERED: usize = MAX_FRAME_LEN + 64 + MAX_FEED_CHUNK;

/// Initial buffer allocation once bytes arrive; enough for typical RPC traffic.
const INITIAL_CAPACITY: usize = 16 * 1024;

/// Bytes in the Full envelope: length, seq and CRC32.
const FULL_OVERHEAD: usize = 12;

/// Length of the obfuscated2 initialisation header.
const OBFUSCATED_HEADER_LEN: usize = 64;

/// Quick-ack tokens always carry this bit (the MSB of the little-endian 32-bit token).
const QUICK_ACK_BIT: u32 = 0x8000_0000;

/// The 4-byte prefixes that mark an HTTP request instead of MTProto.
const HTTP_METHODS: [&[u8; 4]; 4] = [b"GET ", b"POST", b"HEAD", b"OPTI"];

/// An MTProto transport protocol (core.telegram.org/mtproto/mtproto-transports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// `0xef` tag; length in 32-bit words in 1 byte, or `0x7f` + 3 bytes.
    Abridged,
    /// `0xeeeeeeee` tag; 4-byte little-endian length in bytes.
    Intermediate,
    /// `0xdddddddd` tag; like intermediate, with 0..15 random bytes appended and counted.
    PaddedIntermediate,
    /// No tag; `len | seq | payload | crc32`, `len` counting all 12 envelope bytes.
    Full,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Abridged => "abridged",
            TransportKind::Intermediate => "intermediate",
            TransportKind::PaddedIntermediate => "padded intermediate",
            TransportKind::Full => "full",
        })
    }
}

/// What the first bytes of a connection are, as far as the listener must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// An HTTP request (`GET `, `POST`, `HEAD`, `OPTI`ONS): hand the connection to the HTTP /
    /// WebSocket handler, which feeds WebSocket binary payloads into a fresh [`ServerCodec`].
    Http,
    /// Anything else: feed the bytes (these included) to a [`ServerCodec`].
    Mtproto,
    /// The bytes so far are a prefix of an HTTP method: read more (at most 4 bytes are needed).
    NeedMore,
}

/// Classifies a connection from its first bytes (any number of them).
///
/// Telegram accepts HTTP on its MTProto ports and tells them apart by the first four bytes;
/// obfuscated2 clients never start with these four methods. An abridged connection is known
/// from its first byte (`0xef`), everything else after at most four bytes.
pub fn sniff(prefix: &[u8]) -> Sniff {
    if prefix.is_empty() {
        return Sniff::NeedMore;
    }
    let n = prefix.len().min(4);
    if HTTP_METHODS.iter().any(|m| m[..n] == prefix[..n]) {
        if n == 4 {
            Sniff::Http
        } else {
            Sniff::NeedMore
        }
    } else {
        Sniff::Mtproto
    }
}

/// One payload received from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundFrame {
    /// The MTProto payload (plaintext or encrypted message), without the transport envelope.
    ///
    /// On [`TransportKind::PaddedIntermediate`] this still ends with the client's 0..15 random
    /// padding bytes (see [`InboundFrame::padded`]).
    pub payload: Vec<u8>,
    /// The client asked for a quick ack (the length's most significant bit was set; it has been
    /// cleared). The encrypted layer computes the token and answers with
    /// [`ServerCodec::encode_quick_ack`] once it has accepted the message.
    pub quick_ack: bool,
    /// The payload may end with up to 15 random padding bytes (padded intermediate).
    ///
    /// The transport cannot tell padding from payload. The layer above trims it: a plaintext
    /// message is `auth_key_id(8) | msg_id(8) | len(4) | body(len)`, so its own length field
    /// says where it ends; an encrypted message is `auth_key_id(8) | msg_key(16) | data` with
    /// `data` a multiple of 16 bytes, so `payload.len() - (payload.len() - 24) % 16` is its end.
    pub padded: bool,
}

/// Why a connection's byte stream is unacceptable. Once returned the codec is dead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The connection starts with an HTTP method: it belongs to the HTTP/WebSocket handler.
    #[error("connection starts with an HTTP request ({method:?}), not MTProto: route it to the HTTP/WebSocket handler (see transport::sniff)")]
    HttpRequest {
        /// The first four bytes, lossily decoded.
        method: String,
    },
    /// The decrypted obfuscated2 header names no transport that may be obfuscated.
    #[error("obfuscated2 header carries unknown protocol tag {tag:#010x} (expected 0xefefefef abridged, 0xeeeeeeee intermediate or 0xdddddddd padded intermediate; full cannot be obfuscated)")]
    UnknownObfuscatedTag {
        /// Bytes 56..60 of the decrypted header, little-endian.
        tag: u32,
    },
    /// A frame's length field is zero.
    #[error("{kind} frame has a zero length")]
    ZeroLength {
        /// The connection's transport.
        kind: TransportKind,
    },
    /// A frame's length is not a multiple of 4 bytes where the transport requires it.
    #[error("{kind} frame length {len} is not a multiple of 4")]
    UnalignedLength {
        /// The connection's transport.
        kind: TransportKind,
        /// The length field, in bytes (for full, the whole envelope).
        len: usize,
    },
    /// A frame is shorter than the smallest possible payload.
    #[error("{kind} frame length {len} is below the minimum of {min}")]
    LengthTooSmall {
        /// The connection's transport.
        kind: TransportKind,
        /// The length field, in bytes (for full, the whole envelope).
        len: usize,
        /// The smallest acceptable value of that field.
        min: usize,
    },
    /// A frame is larger than [`MAX_FRAME_LEN`] (plus the envelope for full).
    #[error("{kind} frame length {len} exceeds the cap of {max}")]
    LengthTooLarge {
        /// The connection's transport.
        kind: TransportKind,
        /// The length field, in bytes (for full, the whole envelope).
        len: usize,
        /// The largest acceptable value of that field.
        max: usize,
    },
    /// A full frame's sequence number is not the next one expected from the client.
    #[error("full frame has sequence number {got}, expected {expected}")]
    BadSeq {
        /// The next sequence number (the first frame is 0).
        expected: i32,
        /// What the frame says.
        got: i32,
    },
    /// A full frame's CRC32 does not match its contents.
    #[error(
        "full frame CRC32 mismatch: frame says {got:#010x}, contents hash to {expected:#010x}"
    )]
    BadCrc {
        /// CRC32 (IEEE) of length, seq and payload as received.
        expected: u32,
        /// The CRC32 carried by the frame.
        got: u32,
    },
    /// More unconsumed input than [`MAX_BUFFERED`]: the driver fed without draining frames.
    #[error("receive buffer would hold {buffered} unconsumed bytes, over the cap of {cap}: call next_frame between feeds and feed at most MAX_FEED_CHUNK at a time")]
    BufferFull {
        /// Unconsumed bytes the feed would have produced.
        buffered: usize,
        /// [`MAX_BUFFERED`].
        cap: usize,
    },
}

/// The two AES-256-CTR streams of an obfuscated2 connection, seen from the server.
struct Obfuscation {
    /// Client → server: key `init[8..40]`, IV `init[40..56]`; has already consumed the header.
    decrypt: Aes256Ctr,
    /// Server → client: key and IV from `init[8..56]` reversed.
    encrypt: Aes256Ctr,
    /// Bytes 60..62 of the decrypted header.
    dc_id: i16,
}

/// Server half of an MTProto transport connection, without I/O.
///
/// Create one per connection (or per WebSocket), [`feed`](Self::feed) it the received bytes,
/// and drain [`next_frame`](Self::next_frame) until it returns `Ok(None)`. Replies are framed
/// (and obfuscated, if the client obfuscates) by [`encode`](Self::encode),
/// [`encode_quick_ack`](Self::encode_quick_ack) and
/// [`encode_transport_error`](Self::encode_transport_error).
pub struct ServerCodec {
    /// Detected transport; `None` until the first bytes identify it.
    kind: Option<TransportKind>,
    /// Present for obfuscated2 connections once the header has been read.
    obfuscation: Option<Box<Obfuscation>>,
    /// Received bytes (already decrypted once the transport is known); `buf[pos..]` is live.
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
    /// Next full-transport seq expected from the client.
    recv_seq: i32,
    /// Next full-transport seq the server sends.
    send_seq: i32,
    /// The first error; once set, the connection is dead.
    error: Option<TransportError>,
    /// Source of padding bytes and lengths for padded intermediate.
    rng: SmallRng,
}

impl fmt::Debug for ServerCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCodec")
            .field("kind", &self.kind)
            .field("obfuscated", &self.is_obfuscated())
            .field("dc_id", &self.obfuscated_dc_id())
            .field("buffered", &self.buffered_len())
            .field("recv_seq", &self.recv_seq)
            .field("send_seq", &self.send_seq)
            .field("error", &self.error)
            .finish()
    }
}

impl Default for ServerCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCodec {
    /// A codec for a new connection; the transport is detected from the first bytes fed.
    ///
    /// Padding randomness comes from a small PRNG seeded from the thread RNG.
    pub fn new() -> Self {
        Self::with_rng(SmallRng::from_rng(&mut rand::rng()))
    }

    /// Like [`new`](Self::new) with a deterministic padding PRNG (for tests and replays).
    pub fn with_rng_seed(seed: u64) -> Self {
        Self::with_rng(SmallRng::seed_from_u64(seed))
    }

    fn with_rng(rng: SmallRng) -> Self {
        Self {
            kind: None,
            obfuscation: None,
            buf: Vec::new(),
            pos: 0,
            recv_seq: 0,
            send_seq: 0,
            error: None,
            rng,
        }
    }

    /// The detected transport, or `None` while the first bytes are still insufficient (or
    /// were rejected).
    pub fn kind(&self) -> Option<TransportKind> {
        self.kind
    }

    /// Whether the client wrapped its transport in obfuscated2 (known after the 64-byte header).
    pub fn is_obfuscated(&self) -> bool {
        self.obfuscation.is_some()
    }

    /// The DC id from bytes 60..62 of the obfuscated2 header (signed little-endian; negative for
    /// media DCs, +10000 for test DCs). Clients that do not go through MTProxy may leave random
    /// bytes here, so treat it as a hint. `None` when not obfuscated.
    pub fn obfuscated_dc_id(&self) -> Option<i16> {
        self.obfuscation.as_ref().map(|o| o.dc_id)
    }

    /// Number of received bytes not yet returned as frames (at most [`MAX_BUFFERED`]).
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The error that killed this connection, if any.
    pub fn error(&self) -> Option<&TransportError> {
        self.error.as_ref()
    }

    /// Appends received bytes, detecting the transport from the first ones and decrypting
    /// obfuscated input as it arrives.
    ///
    /// Errors if the start of the stream is not MTProto, or if more than [`MAX_BUFFERED`] bytes
    /// would be left unconsumed. After an error the codec is dead and returns it forever.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let buffered = self.buffered_len() + bytes.len();
        if buffered > MAX_BUFFERED {
            return Err(self.fail(TransportError::BufferFull {
                buffered,
                cap: MAX_BUFFERED,
            }));
        }
        self.make_room(bytes.len());
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        if self.kind.is_some() {
            if let Some(obf) = self.obfuscation.as_mut() {
                obf.decrypt.apply_keystream(&mut self.buf[start..]);
            }
            Ok(())
        } else {
            self.detect()
        }
    }

    /// Returns the next complete frame, `Ok(None)` if more bytes are needed.
    ///
    /// Lengths are validated as soon as their bytes are in, so a bogus length fails before its
    /// body would be buffered. After an error the codec is dead and returns it forever.
    pub fn next_frame(&mut self) -> Result<Option<InboundFrame>, TransportError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let Some(kind) = self.kind else {
            return Ok(None);
        };
        let parsed = match kind {
            TransportKind::Abridged => self.parse_abridged(),
            TransportKind::Intermediate | TransportKind::PaddedIntermediate => {
                self.parse_intermediate(kind)
            }
            TransportKind::Full => self.parse_full(),
        };
        match parsed {
            Ok(Some(frame)) => {
                let start = self.pos + frame.header_len;
                let payload = self.buf[start..start + frame.payload_len].to_vec();
                self.pos = start + frame.payload_len + frame.trailer_len;
                if self.pos == self.buf.len() {
                    self.buf.clear();
                    self.pos = 0;
                }
                Ok(Some(InboundFrame {
                    payload,
                    quick_ack: frame.quick_ack,
                    padded: kind == TransportKind::PaddedIntermediate,
                }))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Frames `payload` for the client (and obfuscates it if needed), appending to `out`.
    ///
    /// Full frames take the next server seq (from 0); padded intermediate appends 0..15 random
    /// bytes. Writes nothing while the transport is unknown (a server never speaks first).
    ///
    /// # Panics
    ///
    /// If `payload.len()` is not a multiple of 4 (every MTProto payload is), or is too large
    /// for the transport's length field (64 MiB for abridged, 2 GiB for the others).
    pub fn encode(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let Some(kind) = self.kind else {
            return;
        };
        let len = payload.len();
        assert!(
            len & 3 == 0,
            "MTProto payload length {len} is not a multiple of 4"
        );
        let start = out.len();
        out.reserve(len + 16);
        match kind {
            TransportKind::Abridged => {
                let words = len / 4;
                assert!(
                    words < 1 << 24,
                    "payload of {len} bytes too large for abridged"
                );
                if words < 0x7f {
                    out.push(words as u8);
                } else {
                    let w = (words as u32).to_le_bytes();
                    out.extend_from_slice(&[0x7f, w[0], w[1], w[2]]);
                }
                out.extend_from_slice(payload);
            }
            TransportKind::Intermediate => {
                out.extend_from_slice(&len32(len).to_le_bytes());
                out.extend_from_slice(payload);
            }
            TransportKind::PaddedIntermediate => {
                let pad = self.rng.random_range(0..16usize);
                out.extend_from_slice(&len32(len + pad).to_le_bytes());
                out.extend_from_slice(payload);
                self.push_random(out, pad);
            }
            TransportKind::Full => self.push_full(out, &[payload]),
        }
        self.obfuscate(out, start);
    }

    /// Appends a quick ack for `token`, framed as the transport requires.
    ///
    /// `token` is the client's: the first 4 bytes of the SHA-256 that produced the message's
    /// `msg_key`, read as a little-endian u32, with the MSB set (it is set here if missing).
    ///
    /// - abridged: the 4 token bytes byte-swapped (big-endian), no header: the first byte has its
    ///   high bit set, which no abridged length byte from the server has;
    /// - intermediate: the 4 token bytes little-endian, no header: read as a length they are
    ///   ≥ 0x80000000, never a valid length;
    /// - padded intermediate: a normal frame of `ff ff ff ff | token LE | 0..3 random bytes`
    ///   (the spec allows 0..8 bytes of padding; TDLib recognises the quick ack only in frames
    ///   shorter than 12 bytes, hence at most 3);
    /// - full: the spec defines no quick ack; this sends a normal full frame (consuming a seq)
    ///   whose payload is `ff ff ff ff | token LE`, the payload-level form TDLib recognises on
    ///   any framing.
    ///
    /// Writes nothing while the transport is unknown.
    pub fn encode_quick_ack(&mut self, token: u32, out: &mut Vec<u8>) {
        let Some(kind) = self.kind else {
            return;
        };
        let token = token | QUICK_ACK_BIT;
        let start = out.len();
        match kind {
            TransportKind::Abridged => out.extend_from_slice(&token.to_be_bytes()),
            TransportKind::Intermediate => out.extend_from_slice(&token.to_le_bytes()),
            TransportKind::PaddedIntermediate => {
                let pad = self.rng.random_range(0..4usize);
                out.extend_from_slice(&len32(8 + pad).to_le_bytes());
                out.extend_from_slice(&[0xff; 4]);
                out.extend_from_slice(&token.to_le_bytes());
                self.push_random(out, pad);
            }
            TransportKind::Full => {
                self.push_full(out, &[&(-1i32).to_le_bytes(), &token.to_le_bytes()]);
            }
        }
        self.obfuscate(out, start);
    }

    /// Appends a transport error (e.g. `-404` unknown auth key, `-429` transport flood).
    ///
    /// A positive `code` is negated first (404 → -404). The driver should close the connection
    /// after writing it.
    ///
    /// - abridged, intermediate: a normal frame whose payload is the 4-byte little-endian code;
    /// - padded intermediate: the same plus 0..7 random padding bytes (the frame stays shorter
    ///   than 12 bytes, which clients read as an error rather than a message);
    /// - full: the code three times (12 bytes), no seq or CRC. Clients read it as a bare
    ///   negative length (grammers) or as negative length and seq followed by a 4-byte body
    ///   (Telethon, GramJS), the form observed from Telegram (Telethon issue #4042).
    ///
    /// Writes nothing while the transport is unknown.
    pub fn encode_transport_error(&mut self, code: i32, out: &mut Vec<u8>) {
        let Some(kind) = self.kind else {
            return;
        };
        let code = (if code > 0 { -code } else { code }).to_le_bytes();
        let start = out.len();
        match kind {
            TransportKind::Abridged => {
                out.push(1);
                out.extend_from_slice(&code);
            }
            TransportKind::Intermediate => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&code);
            }
            TransportKind::PaddedIntermediate => {
                let pad = self.rng.random_range(0..8usize);
                out.extend_from_slice(&len32(4 + pad).to_le_bytes());
                out.extend_from_slice(&code);
                self.push_random(out, pad);
            }
            TransportKind::Full => {
                for _ in 0..3 {
                    out.extend_from_slice(&code);
                }
            }
        }
        self.obfuscate(out, start);
    }

    // ---- internals ----

    /// Records `e` as the connection's fatal error and returns it.
    fn fail(&mut self, e: TransportError) -> TransportError {
        self.error = Some(e.clone());
        // Nothing will be read any more: release the buffer.
        self.buf = Vec::new();
        self.pos = 0;
        e
    }

    /// Drops the consumed prefix when that is cheap relative to what it frees, and reserves
    /// room for `incoming` bytes without letting capacity exceed [`MAX_BUFFERED`] needlessly.
    fn make_room(&mut self, incoming: usize) {
        if self.pos > 0 {
            let live = self.buf.len() - self.pos;
            if live == 0 {
                self.buf.clear();
                self.pos = 0;
            } else if self.pos >= live || self.buf.len() + incoming > MAX_BUFFERED {
                // Moves `live` bytes, which is at most the `pos` bytes consumed since the
                // last compaction (or happens only when close to the cap): amortised O(1).
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
        }
        let needed = self.buf.len() + incoming;
        if needed > self.buf.capacity() {
            let doubled = self.buf.capacity().saturating_mul(2).min(MAX_BUFFERED);
            let target = needed.max(doubled).max(INITIAL_CAPACITY);
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// Identifies the transport from the raw bytes buffered so far (`pos` is 0 here).
    fn detect(&mut self) -> Result<(), TransportError> {
        let b = &self.buf[self.pos..];
        if b.first() == Some(&0xef) {
            self.kind = Some(TransportKind::Abridged);
            self.pos += 1;
            return Ok(());
        }
        match sniff(b) {
            Sniff::NeedMore => return Ok(()),
            Sniff::Http => {
                let method = String::from_utf8_lossy(&b[..4]).into_owned();
                return Err(self.fail(TransportError::HttpRequest { method }));
            }
            Sniff::Mtproto => {}
        }
        if b.len() < 4 {
            return Ok(());
        }
        match b[..4] {
            [0xee, 0xee, 0xee, 0xee] => {
                self.kind = Some(TransportKind::Intermediate);
                self.pos += 4;
                return Ok(());
            }
            [0xdd, 0xdd, 0xdd, 0xdd] => {
                self.kind = Some(TransportKind::PaddedIntermediate);
                self.pos += 4;
                return Ok(());
            }
            _ => {}
        }
        if b.len() < 8 {
            return Ok(());
        }
        if b[4..8] == [0; 4] {
            // The first full frame has seq 0; the length is checked by the frame parser.
            self.kind = Some(TransportKind::Full);
            return Ok(());
        }
        if b.len() < OBFUSCATED_HEADER_LEN {
            return Ok(());
        }
        let mut header = [0u8; OBFUSCATED_HEADER_LEN];
        header.copy_from_slice(&b[..OBFUSCATED_HEADER_LEN]);
        let mut decrypt = ctr_from(&header[8..56]);
        let mut reversed = [0u8; 48];
        reversed.copy_from_slice(&header[8..56]);
        reversed.reverse();
        let encrypt = ctr_from(&reversed);
        // The header encrypts itself: decrypting all 64 bytes reveals the tag and DC id at
        // 56..64 and leaves the CTR state where the client's stream continues.
        decrypt.apply_keystream(&mut header);
        let tag = u32::from_le_bytes([header[56], header[57], header[58], header[59]]);
        let kind = match tag {
            0xefef_efef => TransportKind::Abridged,
            0xeeee_eeee => TransportKind::Intermediate,
            0xdddd_dddd => TransportKind::PaddedIntermediate,
            _ => return Err(self.fail(TransportError::UnknownObfuscatedTag { tag })),
        };
        let dc_id = i16::from_le_bytes([header[60], header[61]]);
        self.pos += OBFUSCATED_HEADER_LEN;
        decrypt.apply_keystream(&mut self.buf[self.pos..]);
        self.kind = Some(kind);
        self.obfuscation = Some(Box::new(Obfuscation {
            decrypt,
            encrypt,
            dc_id,
        }));
        Ok(())
    }

    fn parse_abridged(&self) -> Result<Option<FrameLayout>, TransportError> {
        let kind = TransportKind::Abridged;
        let b = &self.buf[self.pos..];
        let Some(&first) = b.first() else {
            return Ok(None);
        };
        let quick_ack = first & 0x80 != 0;
        let (header_len, words) = if first & 0x7f == 0x7f {
            if b.len() < 4 {
                return Ok(None);
            }
            (4, u32::from_le_bytes([b[1], b[2], b[3], 0]) as usize)
        } else {
            (1, (first & 0x7f) as usize)
        };
        if words == 0 {
            return Err(TransportError::ZeroLength { kind });
        }
        let len = words * 4;
        if len > MAX_FRAME_LEN {
            return Err(TransportError::LengthTooLarge {
                kind,
                len,
                max: MAX_FRAME_LEN,
            });
        }
        Ok(complete(b, header_len, len, 0, quick_ack))
    }

    fn parse_intermediate(
        &self,
        kind: TransportKind,
    ) -> Result<Option<FrameLayout>, TransportError> {
        let b = &self.buf[self.pos..];
        let Some(raw) = read_u32(b) else {
            return Ok(None);
        };
        let quick_ack = raw & QUICK_ACK_BIT != 0;
        let len = (raw & !QUICK_ACK_BIT) as usize;
        if len == 0 {
            return Err(TransportError::ZeroLength { kind });
        }
        if len > MAX_FRAME_LEN {
            return Err(TransportError::LengthTooLarge {
                kind,
                len,
                max: MAX_FRAME_LEN,
            });
        }
        // Padded intermediate lengths include 0..15 padding bytes: any length goes.
        if kind == TransportKind::Intermediate && len & 3 != 0 {
            return Err(TransportError::UnalignedLength { kind, len });
        }
        if len < MIN_FRAME_LEN {
            return Err(TransportError::LengthTooSmall {
                kind,
                len,
                min: MIN_FRAME_LEN,
            });
        }
        Ok(complete(b, 4, len, 0, quick_ack))
    }

    fn parse_full(&mut self) -> Result<Option<FrameLayout>, TransportError> {
        let kind = TransportKind::Full;
        let b = &self.buf[self.pos..];
        let Some(raw) = read_u32(b) else {
            return Ok(None);
        };
        let quick_ack = raw & QUICK_ACK_BIT != 0;
        let total = (raw & !QUICK_ACK_BIT) as usize;
        if total == 0 {
            return Err(TransportError::ZeroLength { kind });
        }
        if total & 3 != 0 {
            return Err(TransportError::UnalignedLength { kind, len: total });
        }
        let min = FULL_OVERHEAD + MIN_FRAME_LEN;
        if total < min {
            return Err(TransportError::LengthTooSmall {
                kind,
                len: total,
                min,
            });
        }
        let max = FULL_OVERHEAD + MAX_FRAME_LEN;
        if total > max {
            return Err(TransportError::LengthTooLarge {
                kind,
                len: total,
                max,
            });
        }
        let Some(seq) = read_u32(&b[4..]) else {
            return Ok(None);
        };
        let seq = seq as i32;
        if seq != self.recv_seq {
            return Err(TransportError::BadSeq {
                expected: self.recv_seq,
                got: seq,
            });
        }
        if b.len() < total {
            return Ok(None);
        }
        let body = &b[..total - 4];
        let got = u32::from_le_bytes([b[total - 4], b[total - 3], b[total - 2], b[total - 1]]);
        let expected = crc32fast::hash(body);
        if got != expected {
            return Err(TransportError::BadCrc { expected, got });
        }
        self.recv_seq = self.recv_seq.wrapping_add(1);
        Ok(Some(FrameLayout {
            header_len: 8,
            payload_len: total - FULL_OVERHEAD,
            trailer_len: 4,
            quick_ack,
        }))
    }

    /// Appends a full frame whose payload is the concatenation of `parts`.
    fn push_full(&mut self, out: &mut Vec<u8>, parts: &[&[u8]]) {
        let start = out.len();
        let payload_len: usize = parts.iter().map(|p| p.len()).sum();
        out.extend_from_slice(&len32(payload_len + FULL_OVERHEAD).to_le_bytes());
        out.extend_from_slice(&self.send_seq.to_le_bytes());
        for part in parts {
            out.extend_from_slice(part);
        }
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        self.send_seq = self.send_seq.wrapping_add(1);
    }

    /// Appends `n` (< 16) random bytes.
    fn push_random(&mut self, out: &mut Vec<u8>, n: usize) {
        let mut pad = [0u8; 16];
        self.rng.fill(&mut pad[..n]);
        out.extend_from_slice(&pad[..n]);
    }

    /// Encrypts `out[start..]` in place if the connection is obfuscated.
    fn obfuscate(&mut self, out: &mut [u8], start: usize) {
        if let Some(obf) = self.obfuscation.as_mut() {
            obf.encrypt.apply_keystream(&mut out[start..]);
        }
    }
}

/// Where a complete frame's payload lies, relative to `ServerCodec::pos`.
struct FrameLayout {
    header_len: usize,
    payload_len: usize,
    trailer_len: usize,
    quick_ack: bool,
}

/// `Some(layout)` if `b` holds the whole frame.
fn complete(
    b: &[u8],
    header_len: usize,
    payload_len: usize,
    trailer_len: usize,
    quick_ack: bool,
) -> Option<FrameLayout> {
    (b.len() >= header_len + payload_len + trailer_len).then_some(FrameLayout {
        header_len,
        payload_len,
        trailer_len,
        quick_ack,
    })
}

fn read_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))
}

/// A length for a 32-bit length field.
///
/// # Panics
///
/// If it does not fit in 31 bits (the MSB is the quick-ack flag).
fn len32(len: usize) -> u32 {
    match u32::try_from(len) {
        Ok(l) if l & QUICK_ACK_BIT == 0 => l,
        _ => panic!("payload of {len} bytes too large for a 32-bit transport length"),
    }
}

/// AES-256-CTR from 48 bytes: a 32-byte key followed by a 16-byte IV.
fn ctr_from(key_iv: &[u8]) -> Aes256Ctr {
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    key.copy_from_slice(&key_iv[..32]);
    iv.copy_from_slice(&key_iv[32..48]);
    Aes256Ctr::new(&key.into(), &iv.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_crypto::DequeBuffer;
    use grammers_mtproto::transport::{
        Abridged, Error as ClientError, Full, Intermediate, Obfuscated, Transport,
    };
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    // ---- helpers ----

    /// Payload sizes covering abridged short/long forms and a 600 KiB upload-sized frame.
    /// (grammers' intermediate client reads any 4-byte frame as a transport error, and no
    /// MTProto message is that short, so the smallest is 8.)
    const SIZES: [usize; 10] = [
        8,
        24,
        124,
        504, // 126 words: last short abridged form
        508, // 127 words: first long abridged form
        512,
        4096,
        600 * 1024,
        1020,
        64 * 1024 + 12,
    ];

    fn payload(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut p = vec![0u8; len];
        rng.fill(&mut p[..]);
        // grammers' abridged client reads a short frame whose first word is negative as a
        // transport error; real payloads start with auth_key_id, so keep that word positive.
        if len >= 4 {
            p[3] &= 0x7f;
        }
        p
    }

    fn payloads() -> Vec<Vec<u8>> {
        SIZES
            .iter()
            .enumerate()
            .map(|(i, &n)| payload(n, i as u64))
            .collect()
    }

    fn client_pack<T: Transport>(t: &mut T, data: &[u8]) -> Vec<u8> {
        let mut buf = DequeBuffer::with_capacity(data.len(), 128);
        buf.extend(data.iter().copied());
        t.pack(&mut buf);
        buf.as_ref().to_vec()
    }

    #[derive(Clone, Copy, Debug)]
    enum Chunking {
        Whole,
        Bytewise,
        Random(usize),
    }

    /// Splits `wire` into chunks as `how` says.
    fn chunks(wire: &[u8], how: Chunking, seed: u64) -> Vec<&[u8]> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::new();
        let mut rest = wire;
        while !rest.is_empty() {
            let n = match how {
                Chunking::Whole => rest.len(),
                Chunking::Bytewise => 1,
                Chunking::Random(max) => rng.random_range(1..=max),
            }
            .min(rest.len());
            out.push(&rest[..n]);
            rest = &rest[n..];
        }
        out
    }

    /// Feeds `wire` to `codec` in chunks, draining frames after every feed.
    fn server_receive(codec: &mut ServerCodec, wire: &[u8], how: Chunking) -> Vec<InboundFrame> {
        let mut frames = Vec::new();
        for chunk in chunks(wire, how, 7) {
            codec.feed(chunk).unwrap();
            while let Some(f) = codec.next_frame().unwrap() {
                frames.push(f);
            }
            assert!(codec.buffered_len() <= MAX_BUFFERED);
        }
        assert_eq!(codec.buffered_len(), 0, "leftover bytes");
        frames
    }

    /// Delivers `wire` to a grammers client transport in chunks and returns what it unpacks.
    fn client_receive<T: Transport>(t: &mut T, wire: &[u8], how: Chunking) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks(wire, how, 11) {
            buf.extend_from_slice(chunk);
            loop {
                match t.unpack(&mut buf[..]) {
                    Ok(off) => {
                        out.push(buf[off.data_range].to_vec());
                        buf.drain(..off.next_offset);
                    }
                    Err(ClientError::MissingBytes) => break,
                    Err(e) => panic!("client failed to unpack: {e}"),
                }
            }
        }
        assert!(buf.is_empty());
        out
    }

    /// Full duplex exchange between a grammers client transport and a server codec.
    fn roundtrip<T: Transport>(
        mut client: T,
        expect: TransportKind,
        obfuscated: bool,
        how: Chunking,
    ) {
        let msgs = payloads();
        let mut server = ServerCodec::with_rng_seed(1);
        // Two rounds so that seqs and CTR state carry across request/response turns.
        for round in 0..2 {
            let mut wire = Vec::new();
            for m in &msgs {
                wire.extend(client_pack(&mut client, m));
            }
            let frames = server_receive(&mut server, &wire, how);
            assert_eq!(server.kind(), Some(expect));
            assert_eq!(server.is_obfuscated(), obfuscated);
            assert_eq!(server.obfuscated_dc_id().is_some(), obfuscated);
            assert_eq!(frames.len(), msgs.len(), "round {round}");
            for (f, m) in frames.iter().zip(&msgs) {
                assert_eq!(f.payload.len(), m.len());
                assert!(f.payload == *m, "payload of {} bytes differs", m.len());
                assert!(!f.quick_ack);
                assert!(!f.padded);
            }

            let mut reply = Vec::new();
            for m in msgs.iter().rev() {
                server.encode(m, &mut reply);
            }
            // grammers' intermediate client compares the buffer with `len` instead of `len + 4`
            // and slices out of bounds on a partial frame: give it whole replies.
            let client_how = if expect == TransportKind::Intermediate {
                Chunking::Whole
            } else {
                how
            };
            let got = client_receive(&mut client, &reply, client_how);
            assert_eq!(got.len(), msgs.len());
            for (g, m) in got.iter().zip(msgs.iter().rev()) {
                assert!(g == m, "reply of {} bytes differs", m.len());
            }
        }
    }

    fn all_chunkings(f: impl Fn(Chunking)) {
        for how in [
            Chunking::Whole,
            Chunking::Bytewise,
            Chunking::Random(7),
            Chunking::Random(70_000),
        ] {
            f(how);
        }
    }

    /// A client-side obfuscated2 stream written from the spec, for padded intermediate (which
    /// grammers lacks), chosen DC ids and malformed tags.
    struct ObfClient {
        encrypt: Aes256Ctr,
        decrypt: Aes256Ctr,
    }

    impl ObfClient {
        /// Returns the client and the 64-byte header to send first.
        fn new(tag: [u8; 4], dc: i16, seed: u64) -> (Self, Vec<u8>) {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut init = [0u8; 64];
            loop {
                rng.fill(&mut init[..]);
                let first: [u8; 4] = init[..4].try_into().unwrap();
                if init[0] != 0xef
                    && init[4..8] != [0; 4]
                    && first != [0xee; 4]
                    && first != [0xdd; 4]
                    && sniff(&first) == Sniff::Mtproto
                {
                    break;
                }
            }
            init[56..60].copy_from_slice(&tag);
            init[60..62].copy_from_slice(&dc.to_le_bytes());
            let mut encrypt = ctr_from(&init[8..56]);
            let mut rev = [0u8; 48];
            rev.copy_from_slice(&init[8..56]);
            rev.reverse();
            let decrypt = ctr_from(&rev);
            let mut enc = init;
            encrypt.apply_keystream(&mut enc);
            let mut header = init[..56].to_vec();
            header.extend_from_slice(&enc[56..]);
            (Self { encrypt, decrypt }, header)
        }

        fn seal(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
            self.encrypt.apply_keystream(&mut bytes);
            bytes
        }

        fn open(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
            self.decrypt.apply_keystream(&mut bytes);
            bytes
        }
    }

    fn padded_frame(data: &[u8], pad: usize, quick_ack: bool) -> Vec<u8> {
        let mut len = (data.len() + pad) as u32;
        if quick_ack {
            len |= QUICK_ACK_BIT;
        }
        let mut f = len.to_le_bytes().to_vec();
        f.extend_from_slice(data);
        f.extend((0..pad).map(|i| 0xa0 + i as u8));
        f
    }

    /// Parses server padded-intermediate output into (frame bodies including padding).
    fn parse_padded(mut wire: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !wire.is_empty() {
            let len = u32::from_le_bytes(wire[..4].try_into().unwrap()) as usize;
            out.push(wire[4..4 + len].to_vec());
            wire = &wire[4 + len..];
        }
        out
    }

    fn full_frame(data: &[u8], seq: i32, quick_ack: bool) -> Vec<u8> {
        let mut len = (data.len() + 12) as u32;
        if quick_ack {
            len |= QUICK_ACK_BIT;
        }
        let mut f = len.to_le_bytes().to_vec();
        f.extend_from_slice(&seq.to_le_bytes());
        f.extend_from_slice(data);
        let crc = crc32fast::hash(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    /// Feeds everything at once and returns the first error (from feed or next_frame).
    fn first_error(wire: &[u8]) -> TransportError {
        let mut c = ServerCodec::new();
        let e = match c.feed(wire) {
            Err(e) => e,
            Ok(()) => loop {
                match c.next_frame() {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("no error for {:02x?}", &wire[..wire.len().min(16)]),
                    Err(e) => break e,
                }
            },
        };
        // Dead for good.
        assert_eq!(c.feed(&[0; 8]), Err(e.clone()));
        assert_eq!(c.next_frame(), Err(e.clone()));
        assert_eq!(c.error(), Some(&e));
        e
    }

    // ---- round trips with grammers' client transports ----

    #[test]
    fn abridged_roundtrip() {
        all_chunkings(|how| roundtrip(Abridged::new(), TransportKind::Abridged, false, how));
    }

    #[test]
    fn intermediate_roundtrip() {
        all_chunkings(|how| {
            roundtrip(Intermediate::new(), TransportKind::Intermediate, false, how)
        });
    }

    #[test]
    fn full_roundtrip() {
        all_chunkings(|how| roundtrip(Full::new(), TransportKind::Full, false, how));
    }

    #[test]
    fn obfuscated_abridged_roundtrip() {
        all_chunkings(|how| {
            roundtrip(
                Obfuscated::new(Abridged::new()),
                TransportKind::Abridged,
                true,
                how,
            )
        });
    }

    #[test]
    fn obfuscated_intermediate_roundtrip() {
        all_chunkings(|how| {
            roundtrip(
                Obfuscated::new(Intermediate::new()),
                TransportKind::Intermediate,
                true,
                how,
            )
        });
    }

    #[test]
    fn abridged_long_form_header() {
        let mut c = ServerCodec::new();
        c.feed(&[0xef]).unwrap();
        let mut out = Vec::new();
        c.encode(&[0; 504], &mut out);
        assert_eq!(out[0], 126);
        out.clear();
        c.encode(&[0; 508], &mut out);
        assert_eq!(&out[..4], &[0x7f, 127, 0, 0]);
        out.clear();
        c.encode(&vec![0; 600 * 1024], &mut out);
        assert_eq!(&out[..4], &[0x7f, 0x00, 0x58, 0x02]); // 153600 = 0x025800 words
        assert_eq!(out.len(), 4 + 600 * 1024);
    }

    #[test]
    fn full_server_seq_starts_at_zero() {
        let mut c = ServerCodec::new();
        c.feed(&full_frame(&[1, 2, 3, 4], 0, false)).unwrap();
        let mut out = Vec::new();
        c.encode(&[9; 8], &mut out);
        c.encode(&[9; 8], &mut out);
        assert_eq!(out[..8], [20, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(out[20..28], [20, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(out[..20], full_frame(&[9; 8], 0, false)[..]);
    }

    // ---- padded intermediate (hand-built per spec) ----

    fn padded_roundtrip(obfuscated: bool, how: Chunking) {
        let msgs = payloads();
        let (mut obf, mut wire) = if obfuscated {
            let (o, h) = ObfClient::new([0xdd; 4], -2, 3);
            (Some(o), h)
        } else {
            (None, vec![0xdd; 4])
        };
        let mut plain = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            plain.extend(padded_frame(m, i % 16, false));
        }
        wire.extend(match obf.as_mut() {
            Some(o) => o.seal(plain),
            None => plain,
        });
        let mut server = ServerCodec::with_rng_seed(5);
        let frames = server_receive(&mut server, &wire, how);
        assert_eq!(server.kind(), Some(TransportKind::PaddedIntermediate));
        assert_eq!(server.is_obfuscated(), obfuscated);
        assert_eq!(server.obfuscated_dc_id(), obfuscated.then_some(-2));
        assert_eq!(frames.len(), msgs.len());
        for (i, (f, m)) in frames.iter().zip(&msgs).enumerate() {
            assert!(f.padded);
            assert!(!f.quick_ack);
            assert_eq!(f.payload.len(), m.len() + i % 16);
            assert!(f.payload[..m.len()] == m[..]);
        }

        let mut reply = Vec::new();
        for m in &msgs {
            server.encode(m, &mut reply);
        }
        if let Some(o) = obf.as_mut() {
            reply = o.open(reply);
        }
        let bodies = parse_padded(&reply);
        assert_eq!(bodies.len(), msgs.len());
        let mut pads = Vec::new();
        for (b, m) in bodies.iter().zip(&msgs) {
            assert!(b[..m.len()] == m[..]);
            assert!(b.len() - m.len() < 16);
            pads.push(b.len() - m.len());
        }
        assert!(pads.iter().any(|&p| p > 0), "padding never used: {pads:?}");
    }

    #[test]
    fn padded_intermediate_roundtrip() {
        all_chunkings(|how| padded_roundtrip(false, how));
    }

    #[test]
    fn obfuscated_padded_intermediate_roundtrip() {
        all_chunkings(|how| padded_roundtrip(true, how));
    }

    #[test]
    fn obfuscated_header_reports_dc_and_continues_ctr() {
        for dc in [2i16, -4, 10_003] {
            let (mut cl, mut wire) = ObfClient::new([0xee; 4], dc, dc as u64);
            let mut plain = Vec::new();
            plain.extend(8u32.to_le_bytes());
            plain.extend([1u8; 8]);
            plain.extend(4u32.to_le_bytes());
            plain.extend([2u8; 4]);
            wire.extend(cl.seal(plain));
            let mut c = ServerCodec::new();
            c.feed(&wire).unwrap();
            assert_eq!(c.obfuscated_dc_id(), Some(dc));
            assert_eq!(c.next_frame().unwrap().unwrap().payload, vec![1; 8]);
            assert_eq!(c.next_frame().unwrap().unwrap().payload, vec![2; 4]);
            assert_eq!(c.next_frame().unwrap(), None);
        }
    }

    #[test]
    fn obfuscated_header_whose_first_word_looks_like_a_full_length() {
        // A quarter of random headers start with a multiple of 4; bytes 4..8 decide.
        for seed in 0..64 {
            let (mut cl, mut wire) = ObfClient::new([0xef; 4], 1, seed);
            wire[0] = 0x40;
            wire[1] = 0;
            wire[2] = 0;
            wire[3] = 0;
            wire.extend(cl.seal(vec![1, 7, 7, 7, 7]));
            let mut c = ServerCodec::new();
            c.feed(&wire).unwrap();
            assert!(c.is_obfuscated());
            assert_eq!(c.kind(), Some(TransportKind::Abridged));
            assert_eq!(c.next_frame().unwrap().unwrap().payload, vec![7; 4]);
        }
    }

    // ---- quick acks ----

    #[test]
    fn quick_ack_flag_abridged() {
        let mut c = ServerCodec::new();
        let mut wire = vec![0xef, 0x80 | 2];
        wire.extend([1; 8]);
        wire.extend([0xff, 127, 0, 0]);
        wire.extend([2; 508]);
        wire.extend([2]);
        wire.extend([3; 8]);
        c.feed(&wire).unwrap();
        let f = c.next_frame().unwrap().unwrap();
        assert_eq!((f.payload, f.quick_ack), (vec![1; 8], true));
        let f = c.next_frame().unwrap().unwrap();
        assert_eq!((f.payload, f.quick_ack), (vec![2; 508], true));
        let f = c.next_frame().unwrap().unwrap();
        assert_eq!((f.payload, f.quick_ack), (vec![3; 8], false));
    }

    #[test]
    fn quick_ack_flag_intermediate_and_padded() {
        for tag in [0xee, 0xdd] {
            let mut c = ServerCodec::new();
            let mut wire = vec![tag; 4];
            wire.extend(padded_frame(&[1; 8], 0, true));
            wire.extend(padded_frame(&[2; 8], 0, false));
            c.feed(&wire).unwrap();
            let f = c.next_frame().unwrap().unwrap();
            assert_eq!((f.payload, f.quick_ack), (vec![1; 8], true));
            let f = c.next_frame().unwrap().unwrap();
            assert_eq!((f.payload, f.quick_ack), (vec![2; 8], false));
        }
    }

    #[test]
    fn quick_ack_flag_full() {
        let mut c = ServerCodec::new();
        let mut wire = full_frame(&[1; 8], 0, true);
        wire.extend(full_frame(&[2; 8], 1, false));
        c.feed(&wire).unwrap();
        assert_eq!(c.kind(), Some(TransportKind::Full));
        let f = c.next_frame().unwrap().unwrap();
        assert_eq!((f.payload, f.quick_ack), (vec![1; 8], true));
        let f = c.next_frame().unwrap().unwrap();
        assert_eq!((f.payload, f.quick_ack), (vec![2; 8], false));
    }

    #[test]
    fn quick_ack_flag_obfuscated_intermediate() {
        let (mut cl, mut wire) = ObfClient::new([0xee; 4], 2, 9);
        wire.extend(cl.seal(padded_frame(&[5; 12], 0, true)));
        let mut c = ServerCodec::new();
        c.feed(&wire).unwrap();
        let f = c.next_frame().unwrap().unwrap();
        assert_eq!((f.payload, f.quick_ack), (vec![5; 12], true));
    }

    #[test]
    fn encoded_quick_acks_match_spec() {
        let token = 0x8123_4567u32;
        let codec = |first: &[u8]| {
            let mut c = ServerCodec::with_rng_seed(2);
            c.feed(first).unwrap();
            c
        };
        // Abridged: bswapped, so the byte with the MSB comes first.
        let mut out = Vec::new();
        codec(&[0xef]).encode_quick_ack(token, &mut out);
        assert_eq!(out, [0x81, 0x23, 0x45, 0x67]);
        // The MSB is forced on.
        out.clear();
        codec(&[0xef]).encode_quick_ack(0x0123_4567, &mut out);
        assert_eq!(out, [0x81, 0x23, 0x45, 0x67]);
        // Intermediate: raw little-endian.
        out.clear();
        codec(&[0xee; 4]).encode_quick_ack(token, &mut out);
        assert_eq!(out, [0x67, 0x45, 0x23, 0x81]);
        // Padded intermediate: len | ffffffff | token | 0..3 padding.
        let mut c = codec(&[0xdd; 4]);
        for _ in 0..32 {
            out.clear();
            c.encode_quick_ack(token, &mut out);
            let len = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
            assert!((8..12).contains(&len), "{len}");
            assert_eq!(out.len(), 4 + len);
            assert_eq!(out[4..12], [0xff, 0xff, 0xff, 0xff, 0x67, 0x45, 0x23, 0x81]);
        }
        // Full: a normal frame with payload -1 | token, consuming a seq.
        let mut c = codec(&full_frame(&[0; 4], 0, false));
        out.clear();
        c.encode_quick_ack(token, &mut out);
        c.encode(&[7; 4], &mut out);
        let mut expect = full_frame(&[0xff, 0xff, 0xff, 0xff, 0x67, 0x45, 0x23, 0x81], 0, false);
        expect.extend(full_frame(&[7; 4], 1, false));
        assert_eq!(out, expect);
        // Obfuscated abridged: the same bytes under the server's CTR stream.
        let (mut cl, header) = ObfClient::new([0xef; 4], 2, 4);
        let mut c = codec(&header);
        out.clear();
        c.encode_quick_ack(token, &mut out);
        c.encode(&[3; 8], &mut out);
        assert_eq!(
            cl.open(out.clone()),
            [0x81, 0x23, 0x45, 0x67, 2, 3, 3, 3, 3, 3, 3, 3, 3]
        );
    }

    #[test]
    fn no_output_before_detection() {
        let mut c = ServerCodec::new();
        let mut out = Vec::new();
        c.encode(&[0; 4], &mut out);
        c.encode_quick_ack(1, &mut out);
        c.encode_transport_error(-404, &mut out);
        assert!(out.is_empty());
    }

    // ---- transport errors ----

    #[test]
    fn transport_errors_match_spec_and_clients() {
        type Unpack = Box<dyn FnMut(&mut [u8]) -> Result<(), ClientError>>;
        // grammers' client transports read them as BadStatus { 404 }.
        let check = |mut client: Unpack, first: &[u8], expect: &[u8]| {
            let mut c = ServerCodec::new();
            c.feed(first).unwrap();
            let mut out = Vec::new();
            c.encode_transport_error(404, &mut out); // positive is negated
            assert_eq!(out, expect);
            assert_eq!(
                client(&mut out[..]),
                Err(ClientError::BadStatus { status: 404 })
            );
        };
        let e = (-404i32).to_le_bytes();
        let mut ab = Abridged::new();
        check(
            Box::new(move |b| ab.unpack(b).map(|_| ())),
            &[0xef],
            &[&[1u8][..], &e[..]].concat(),
        );
        let mut im = Intermediate::new();
        check(
            Box::new(move |b| im.unpack(b).map(|_| ())),
            &[0xee; 4],
            &[&[4u8, 0, 0, 0][..], &e[..]].concat(),
        );
        let mut full = Full::new();
        check(
            Box::new(move |b| full.unpack(b).map(|_| ())),
            &full_frame(&[0; 4], 0, false),
            &[e, e, e].concat(),
        );

        // Padded: len 4..12 | code | padding.
        let mut c = ServerCodec::with_rng_seed(3);
        c.feed(&[0xdd; 4]).unwrap();
        for _ in 0..32 {
            let mut out = Vec::new();
            c.encode_transport_error(-429, &mut out);
            let len = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
            assert!((4..12).contains(&len));
            assert_eq!(out.len(), 4 + len);
            assert_eq!(out[4..8], (-429i32).to_le_bytes());
        }
    }

    #[test]
    fn obfuscated_transport_error_reaches_grammers() {
        let mut client = Obfuscated::new(Intermediate::new());
        let hello = client_pack(&mut client, &[0; 24]);
        let mut c = ServerCodec::new();
        c.feed(&hello).unwrap();
        assert_eq!(c.next_frame().unwrap().unwrap().payload, vec![0; 24]);
        let mut out = Vec::new();
        c.encode_transport_error(-404, &mut out);
        assert_eq!(
            client.unpack(&mut out).map(|_| ()),
            Err(ClientError::BadStatus { status: 404 })
        );
    }

    // ---- garbage ----

    #[test]
    fn bad_crc() {
        let mut wire = full_frame(&[1; 16], 0, false);
        let n = wire.len();
        wire[n - 1] ^= 0x55;
        assert!(matches!(first_error(&wire), TransportError::BadCrc { .. }));
        // Corrupt payload instead.
        let mut wire = full_frame(&[1; 16], 0, false);
        wire[10] ^= 1;
        assert!(matches!(first_error(&wire), TransportError::BadCrc { .. }));
    }

    #[test]
    fn bad_seq() {
        let mut wire = full_frame(&[1; 16], 0, false);
        wire.extend(full_frame(&[1; 16], 0, false));
        assert_eq!(
            first_error(&wire),
            TransportError::BadSeq {
                expected: 1,
                got: 0
            }
        );
        let mut wire = full_frame(&[1; 16], 0, false);
        wire.extend(full_frame(&[1; 16], 2, false));
        assert_eq!(
            first_error(&wire),
            TransportError::BadSeq {
                expected: 1,
                got: 2
            }
        );
    }

    #[test]
    fn zero_lengths() {
        let z = |kind| TransportError::ZeroLength { kind };
        assert_eq!(first_error(&[0xef, 0]), z(TransportKind::Abridged));
        assert_eq!(first_error(&[0xef, 0x80]), z(TransportKind::Abridged));
        assert_eq!(
            first_error(&[0xef, 0x7f, 0, 0, 0]),
            z(TransportKind::Abridged)
        );
        assert_eq!(
            first_error(&[0xee, 0xee, 0xee, 0xee, 0, 0, 0, 0]),
            z(TransportKind::Intermediate)
        );
        assert_eq!(
            first_error(&[0xdd, 0xdd, 0xdd, 0xdd, 0, 0, 0, 0x80]),
            z(TransportKind::PaddedIntermediate)
        );
        assert_eq!(first_error(&[0; 8]), z(TransportKind::Full));
    }

    #[test]
    fn oversized_lengths_fail_before_buffering() {
        let big = (MAX_FRAME_LEN + 4) as u32;
        // Abridged long form: words.
        let w = (big / 4).to_le_bytes();
        let e = first_error(&[0xef, 0x7f, w[0], w[1], w[2]]);
        assert!(
            matches!(
                e,
                TransportError::LengthTooLarge {
                    kind: TransportKind::Abridged,
                    ..
                }
            ),
            "{e}"
        );
        let e = first_error(&[0xef, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(e, TransportError::LengthTooLarge { .. }), "{e}");
        let mut wire = vec![0xee; 4];
        wire.extend(big.to_le_bytes());
        assert!(matches!(
            first_error(&wire),
            TransportError::LengthTooLarge { .. }
        ));
        let mut wire = vec![0xdd; 4];
        wire.extend(0x7fff_ffffu32.to_le_bytes());
        assert!(matches!(
            first_error(&wire),
            TransportError::LengthTooLarge { .. }
        ));
        let mut wire = (big + 12).to_le_bytes().to_vec();
        wire.extend([0; 4]);
        assert_eq!(
            first_error(&wire),
            TransportError::LengthTooLarge {
                kind: TransportKind::Full,
                len: MAX_FRAME_LEN + 16,
                max: MAX_FRAME_LEN + 12
            }
        );
        // The largest allowed frame is accepted.
        let mut c = ServerCodec::new();
        let mut wire = vec![0xee; 4];
        wire.extend((MAX_FRAME_LEN as u32).to_le_bytes());
        wire.extend(vec![1; MAX_FRAME_LEN]);
        c.feed(&wire).unwrap();
        assert_eq!(
            c.next_frame().unwrap().unwrap().payload.len(),
            MAX_FRAME_LEN
        );
    }

    #[test]
    fn odd_and_small_lengths() {
        let mut wire = vec![0xee; 4];
        wire.extend(5u32.to_le_bytes());
        assert_eq!(
            first_error(&wire),
            TransportError::UnalignedLength {
                kind: TransportKind::Intermediate,
                len: 5
            }
        );
        // Full: not a multiple of 4, and envelope-only frames.
        let mut wire = 18u32.to_le_bytes().to_vec();
        wire.extend([0; 4]);
        assert!(matches!(
            first_error(&wire),
            TransportError::UnalignedLength { len: 18, .. }
        ));
        let mut wire = 12u32.to_le_bytes().to_vec();
        wire.extend([0; 4]);
        assert!(matches!(
            first_error(&wire),
            TransportError::LengthTooSmall {
                len: 12,
                min: 16,
                ..
            }
        ));
        let mut wire = 8u32.to_le_bytes().to_vec();
        wire.extend([0; 4]);
        assert!(matches!(
            first_error(&wire),
            TransportError::LengthTooSmall { len: 8, .. }
        ));
        // Padded intermediate accepts any length >= 4 but not below.
        let mut wire = vec![0xdd; 4];
        wire.extend(3u32.to_le_bytes());
        assert!(matches!(
            first_error(&wire),
            TransportError::LengthTooSmall { len: 3, .. }
        ));
        let mut c = ServerCodec::new();
        let mut wire = vec![0xdd; 4];
        wire.extend(padded_frame(&[1; 4], 3, false));
        c.feed(&wire).unwrap();
        assert_eq!(c.next_frame().unwrap().unwrap().payload.len(), 7);
    }

    #[test]
    fn unknown_obfuscated_tags() {
        for tag in [
            [0, 0, 0, 0],
            [0xef, 0xef, 0xef, 0xee],
            [0x10, 0, 0, 0],
            [0xff; 4],
        ] {
            let (_, header) = ObfClient::new(tag, 2, 1);
            assert_eq!(
                first_error(&header),
                TransportError::UnknownObfuscatedTag {
                    tag: u32::from_le_bytes(tag)
                }
            );
        }
    }

    #[test]
    fn full_inside_obfuscated_is_rejected() {
        // Full has no tag: a client that puts a Full frame's start where the tag goes (or
        // anything else) is refused, whatever follows.
        let (mut cl, mut header) = ObfClient::new([28, 0, 0, 0], 2, 8);
        header.extend(cl.seal(full_frame(&[0; 16], 0, false)));
        let e = first_error(&header);
        assert_eq!(e, TransportError::UnknownObfuscatedTag { tag: 28 });
        assert!(e.to_string().contains("full cannot be obfuscated"));
    }

    #[test]
    fn http_is_refused() {
        for req in [
            &b"GET /apiws HTTP/1.1\r\n"[..],
            b"POST /api",
            b"HEAD /",
            b"OPTIONS * HTTP/1.1",
        ] {
            let e = first_error(req);
            assert!(matches!(e, TransportError::HttpRequest { .. }), "{e}");
            assert!(e.to_string().contains("HTTP"));
        }
        // Byte by byte: waits until four bytes decide.
        let mut c = ServerCodec::new();
        for &b in b"POS" {
            c.feed(&[b]).unwrap();
            assert_eq!(c.kind(), None);
        }
        assert!(c.feed(b"T").is_err());
    }

    #[test]
    fn buffer_cap() {
        let mut c = ServerCodec::new();
        c.feed(&[0xee; 4]).unwrap();
        let e = c.feed(&vec![0; MAX_BUFFERED + 1]).unwrap_err();
        assert_eq!(
            e,
            TransportError::BufferFull {
                buffered: MAX_BUFFERED + 1,
                cap: MAX_BUFFERED
            }
        );
        assert_eq!(c.next_frame(), Err(e));

        // Feeding MAX_FEED_CHUNK at a time and draining never hits the cap, even with a
        // maximal frame in flight.
        let mut c = ServerCodec::new();
        let mut wire = vec![0xee; 4];
        for _ in 0..3 {
            wire.extend((MAX_FRAME_LEN as u32).to_le_bytes());
            wire.extend(vec![1; MAX_FRAME_LEN]);
        }
        let mut n = 0;
        for chunk in wire.chunks(MAX_FEED_CHUNK) {
            c.feed(chunk).unwrap();
            while let Some(f) = c.next_frame().unwrap() {
                assert_eq!(f.payload.len(), MAX_FRAME_LEN);
                n += 1;
            }
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn sniff_cases() {
        assert_eq!(sniff(b""), Sniff::NeedMore);
        assert_eq!(sniff(b"G"), Sniff::NeedMore);
        assert_eq!(sniff(b"GE"), Sniff::NeedMore);
        assert_eq!(sniff(b"GET"), Sniff::NeedMore);
        assert_eq!(sniff(b"GET "), Sniff::Http);
        assert_eq!(sniff(b"GET /apiws HTTP/1.1"), Sniff::Http);
        assert_eq!(sniff(b"POST"), Sniff::Http);
        assert_eq!(sniff(b"HEAD /"), Sniff::Http);
        assert_eq!(sniff(b"OPTIONS"), Sniff::Http);
        assert_eq!(sniff(b"O"), Sniff::NeedMore);
        assert_eq!(sniff(b"GETX"), Sniff::Mtproto);
        assert_eq!(sniff(b"GX"), Sniff::Mtproto);
        assert_eq!(sniff(b"PUT "), Sniff::Mtproto);
        assert_eq!(sniff(&[0xef]), Sniff::Mtproto);
        assert_eq!(sniff(&[0xee; 4]), Sniff::Mtproto);
        assert_eq!(sniff(&[0xdd; 2]), Sniff::Mtproto);
        assert_eq!(sniff(&[0x10, 0, 0, 0, 0, 0, 0, 0]), Sniff::Mtproto);
    }

    #[test]
    fn error_messages_name_the_problem() {
        let e = TransportError::BadSeq {
            expected: 3,
            got: 7,
        };
        assert_eq!(
            e.to_string(),
            "full frame has sequence number 7, expected 3"
        );
        let e = TransportError::UnalignedLength {
            kind: TransportKind::Intermediate,
            len: 5,
        };
        assert_eq!(
            e.to_string(),
            "intermediate frame length 5 is not a multiple of 4"
        );
    }

    /// Release-mode smoke benchmark: `cargo test --release -p telegate-mockdc
    /// transport::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        for obfuscated in [false, true] {
            for size in [128usize, 512 * 1024 + 64] {
                let (mut cl, mut wire) = if obfuscated {
                    let (cl, header) = ObfClient::new([0xee; 4], 2, 1);
                    (Some(cl), header)
                } else {
                    (None, Vec::new())
                };
                let count = (256 * 1024 * 1024 / size).max(1);
                let msg = payload(size, 1);
                let mut plain = Vec::new();
                for i in 0..count {
                    plain.extend(match cl {
                        Some(_) => padded_frame(&msg, 0, false),
                        None => full_frame(&msg, i as i32, false),
                    });
                }
                wire.extend(match cl.as_mut() {
                    Some(c) => c.seal(plain),
                    None => plain,
                });
                let mut c = ServerCodec::new();
                let mut out = Vec::with_capacity(size + 64);
                let t = std::time::Instant::now();
                let mut n = 0;
                for chunk in wire.chunks(64 * 1024) {
                    c.feed(chunk).unwrap();
                    while let Some(f) = c.next_frame().unwrap() {
                        out.clear();
                        c.encode(&f.payload, &mut out);
                        n += 1;
                    }
                }
                let s = t.elapsed().as_secs_f64();
                assert_eq!(n, count);
                println!(
                    "{} {size} B: {:.0} frames/s, {:.0} MB/s each way",
                    if obfuscated {
                        "obfuscated intermediate"
                    } else {
                        "full"
                    },
                    n as f64 / s,
                    (n * size) as f64 / s / 1e6
                );
            }
        }
    }

    // ---- property tests ----

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes in arbitrary chunks, after each kind of start: never panics, never
        /// holds more than the cap, and stays dead after an error.
        #[test]
        fn garbage_never_panics(
            start in prop::sample::select(vec![
                vec![], vec![0xef], vec![0xee; 4], vec![0xdd; 4],
                vec![0x20, 0, 0, 0, 0, 0, 0, 0],
            ]),
            body in prop::collection::vec(any::<u8>(), 0..4096),
            cuts in prop::collection::vec(1usize..600, 1..40),
        ) {
            let mut wire = start;
            wire.extend(body);
            let mut c = ServerCodec::new();
            let mut rest = &wire[..];
            let mut cut = cuts.iter().cycle();
            let mut dead: Option<TransportError> = None;
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                let r = c.feed(&rest[..n]);
                rest = &rest[n..];
                if let Some(d) = &dead {
                    prop_assert_eq!(r, Err(d.clone()));
                    continue;
                }
                if let Err(e) = r {
                    dead = Some(e);
                    continue;
                }
                loop {
                    match c.next_frame() {
                        Ok(Some(f)) => {
                            prop_assert!(!f.payload.is_empty());
                            prop_assert!(f.payload.len() <= MAX_FRAME_LEN);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            dead = Some(e);
                            break;
                        }
                    }
                }
                prop_assert!(c.buffered_len() <= MAX_BUFFERED);
                prop_assert!(c.buf.capacity() <= MAX_BUFFERED);
            }
            let mut out = Vec::new();
            c.encode(&[0; 8], &mut out);
            c.encode_quick_ack(1, &mut out);
            c.encode_transport_error(-404, &mut out);
        }

        /// Any chunking of a valid obfuscated stream decodes to the same frames.
        #[test]
        fn obfuscated_chunking_is_irrelevant(
            sizes in prop::collection::vec(1usize..300, 1..8),
            cuts in prop::collection::vec(1usize..200, 1..20),
            seed in any::<u64>(),
        ) {
            let (mut cl, mut wire) = ObfClient::new([0xdd; 4], 3, seed);
            let msgs: Vec<Vec<u8>> = sizes.iter().map(|&w| payload(w * 4, seed ^ w as u64)).collect();
            let mut plain = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                plain.extend(padded_frame(m, i % 16, i % 3 == 0));
            }
            wire.extend(cl.seal(plain));
            let mut c = ServerCodec::new();
            let mut got = Vec::new();
            let mut rest = &wire[..];
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                c.feed(&rest[..n]).unwrap();
                rest = &rest[n..];
                while let Some(f) = c.next_frame().unwrap() {
                    got.push(f);
                }
            }
            prop_assert_eq!(got.len(), msgs.len());
            for (i, (f, m)) in got.iter().zip(&msgs).enumerate() {
                prop_assert_eq!(&f.payload[..m.len()], &m[..]);
                prop_assert_eq!(f.payload.len(), m.len() + i % 16);
                prop_assert_eq!(f.quick_ack, i % 3 == 0);
            }
        }
    }
}
