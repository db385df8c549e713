//! The protocol engine of one client connection, sans-IO: bytes and the current time go in,
//! bytes to write come out. The tokio driver in [`crate::server`] only moves bytes.
//!
//! Layers, bottom up: the transport codec (framing, obfuscation), the plaintext layer (the DH
//! handshake), the encrypted layer (auth key lookup, msg_key, salts, msg_id/seq_no rules, acks,
//! containers, gzip) and the RPC dispatch in [`crate::rpc`].

use std::sync::{Arc, Mutex};

use grammers_tl_types::{self as tl, Deserializable, Identifiable, Serializable};

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::cluster::{Cluster, KeyEntry, Push};
use crate::crypto::{self, AuthKey};
use crate::handshake::{Handshake, HandshakeStep};
use crate::rpc::{self, CallContext, RpcAnswer};
use crate::session::{SeenState, Session, Unacked};
use crate::tl as service;
use crate::transport::{InboundFrame, ServerCodec};

/// Clients' msg_ids may be at most this far in the future (bad_msg_notification 17)...
const MSG_ID_MAX_FUTURE_SECS: i64 = 30;
/// ...and at most this far in the past (bad_msg_notification 16).
const MSG_ID_MAX_PAST_SECS: i64 = 300;
/// How long the salt agreed in a handshake stays valid.
const FIRST_SALT_LIFETIME_SECS: i64 = 1800;

/// The bad_msg_notification codes of core.telegram.org/mtproto/service_messages_about_messages.
mod bad_msg {
    pub const MSG_ID_TOO_LOW: i32 = 16;
    pub const MSG_ID_TOO_HIGH: i32 = 17;
    pub const MSG_ID_NOT_DIVISIBLE_BY_4: i32 = 18;
    pub const SEQ_NO_EVEN_FOR_CONTENT: i32 = 34;
    pub const SEQ_NO_ODD_FOR_SERVICE: i32 = 35;
    pub const INCORRECT_SALT: i32 = 48;
    pub const INVALID_CONTAINER: i32 = 64;
}

/// Why the connection must be closed. Whatever was already written to `out` should still be
/// flushed (a transport error code, for instance).
#[derive(Debug, thiserror::Error)]
pub enum Closed {
    #[error("transport: {0}")]
    Transport(#[from] crate::transport::TransportError),
    #[error("handshake: {0}")]
    Handshake(#[from] crate::handshake::HandshakeError),
    #[error("unknown auth key {0:#018x} on this DC (sent -404)")]
    UnknownAuthKey(i64),
    #[error("encrypted packet refused: {0}")]
    Crypto(#[from] crypto::CryptoError),
    #[error("plaintext message is malformed: {0}")]
    BadPlaintext(&'static str),
    #[error("ping_delay_disconnect deadline passed")]
    PingTimeout,
    #[error("connection already closed")]
    AlreadyClosed,
}

/// A server message waiting to be numbered and sent.
struct Outgoing {
    body: Vec<u8>,
    /// Content-related messages get odd seq_no and must be acknowledged by the client.
    content: bool,
    /// rpc_result, pong...: msg_id ≡ 1 (mod 4); other server messages ≡ 3.
    response: bool,
    /// Kept until acknowledged, to be re-sent after a reconnection.
    keep: Option<Option<i64>>,
}

/// One client connection to one DC.
pub struct Connection {
    cluster: Arc<Cluster>,
    dc_id: i32,
    codec: ServerCodec,
    handshake: Option<Handshake>,
    key: Option<Arc<KeyEntry>>,
    session: Option<Arc<Mutex<Session>>>,
    /// Client msg_ids of content messages to acknowledge with the next reply.
    pending_acks: Vec<i64>,
    outgoing: Vec<Outgoing>,
    /// Set by ping_delay_disconnect: close unless another ping arrives first (unix ms).
    disconnect_at: Option<u64>,
    closed: bool,
    /// Identifies this connection in the cluster's update subscriptions.
    id: u64,
    /// Updates for the session this connection serves arrive here; the driver takes the
    /// receiving end ([`Connection::take_updates`]) and hands each to [`Connection::push_update`].
    updates_tx: mpsc::UnboundedSender<Push>,
    updates_rx: Option<mpsc::UnboundedReceiver<Push>>,
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(key) = &self.key {
            self.cluster.unsubscribe(key.key.id(), self.id);
        }
    }
}

/// Updates an RPC produced for other users (or the requester's other sessions).
pub struct PendingPush {
    pub user_id: i64,
    /// Skip the session that made the request (it gets the result instead).
    pub skip_requester: bool,
    pub push: Push,
}

impl Connection {
    pub fn new(cluster: Arc<Cluster>, dc_id: i32) -> Self {
        let (updates_tx, updates_rx) = mpsc::unbounded_channel();
        Self {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            updates_tx,
            updates_rx: Some(updates_rx),
            cluster,
            dc_id,
            codec: ServerCodec::new(),
            handshake: None,
            key: None,
            session: None,
            pending_acks: Vec::new(),
            outgoing: Vec::new(),
            disconnect_at: None,
            closed: false,
        }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The stream of updates for this connection's session (taken once, by the driver).
    pub fn take_updates(&mut self) -> Option<mpsc::UnboundedReceiver<Push>> {
        self.updates_rx.take()
    }

    /// Sends an update pushed by the world, encoded for this session's layer.
    pub fn push_update(&mut self, push: &Push, now_ms: u64, out: &mut Vec<u8>) {
        self.push_updates(std::slice::from_ref(push), now_ms, out);
    }

    /// Sends several pushed updates in one packet (a container), as a burst arrives.
    pub fn push_updates(&mut self, pushes: &[Push], now_ms: u64, out: &mut Vec<u8>) {
        let (Some(key), Some(session)) = (self.key.clone(), self.session.clone()) else {
            return;
        };
        let (session_id, layer) = {
            let s = session.lock().expect("session lock");
            (s.id, s.layer)
        };
        for push in pushes {
            self.outgoing.push(Outgoing {
                body: push(layer),
                content: true,
                response: false,
                keep: Some(None),
            });
        }
        self.flush(&key.key, session_id, now_ms, out);
    }

    /// When the driver must call [`Connection::on_timer`] next (unix ms).
    pub fn deadline(&self) -> Option<u64> {
        self.disconnect_at
    }

    /// Time passed: closes the connection if a ping_delay_disconnect deadline expired.
    pub fn on_timer(&mut self, now_ms: u64) -> Result<(), Closed> {
        match self.disconnect_at {
            Some(at) if now_ms >= at => {
                self.closed = true;
                Err(Closed::PingTimeout)
            }
            _ => Ok(()),
        }
    }

    /// Feeds bytes received from the client; appends what to send back to `out`.
    pub fn receive(&mut self, bytes: &[u8], now_ms: u64, out: &mut Vec<u8>) -> Result<(), Closed> {
        if self.closed {
            return Err(Closed::AlreadyClosed);
        }
        let result = self.receive_inner(bytes, now_ms, out);
        if result.is_err() {
            self.closed = true;
        }
        result
    }

    fn receive_inner(
        &mut self,
        bytes: &[u8],
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), Closed> {
        // The codec buffers at most one frame plus one chunk; feeding in chunks and draining
        // frames in between keeps a large WebSocket message from overflowing it.
        for chunk in bytes.chunks(crate::transport::MAX_FEED_CHUNK) {
            self.codec.feed(chunk)?;
            while let Some(frame) = self.codec.next_frame()? {
                self.handle_frame(frame, now_ms, out)?;
            }
        }
        Ok(())
    }

    fn handle_frame(
        &mut self,
        frame: InboundFrame,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), Closed> {
        let payload = frame.payload;
        let key_id = crypto::packet_auth_key_id(&payload)
            .ok_or(Closed::BadPlaintext("packet shorter than 8 bytes"))?;
        if key_id == 0 {
            return self.handle_plaintext(&payload, now_ms, out);
        }
        let Some(entry) = self.cluster.key(self.dc_id, key_id) else {
            self.codec.encode_transport_error(-404, out);
            return Err(Closed::UnknownAuthKey(key_id));
        };
        // Padded intermediate appends 0..15 bytes the encrypted layer does not cover.
        let usable = 24 + (payload.len().saturating_sub(24) / 16) * 16;
        let message =
            crypto::decrypt_client_packet(&entry.key, &payload[..usable.min(payload.len())])?;
        if frame.quick_ack {
            self.codec.encode_quick_ack(message.quick_ack_token, out);
        }
        self.handle_encrypted(entry, message, now_ms, out);
        Ok(())
    }

    fn handle_plaintext(
        &mut self,
        payload: &[u8],
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), Closed> {
        if payload.len() < 20 {
            return Err(Closed::BadPlaintext("shorter than its 20-byte header"));
        }
        let declared = u32::from_le_bytes(payload[16..20].try_into().expect("4 bytes")) as usize;
        let body = payload
            .get(20..20 + declared)
            .ok_or(Closed::BadPlaintext("declared length exceeds the packet"))?;
        let handshake = self
            .handshake
            .get_or_insert_with(|| Handshake::new(self.dc_id, self.cluster.rsa().clone()));
        let now_secs = (now_ms / 1000) as i64;
        let step = handshake.handle(body, now_secs as i32, &mut rand::rng())?;
        let reply = match step {
            HandshakeStep::Reply(reply) => reply,
            HandshakeStep::Done {
                reply,
                auth_key,
                first_salt,
                ..
            } => {
                self.handshake = None;
                let key = AuthKey::from_bytes(auth_key);
                tracing::debug!(dc = self.dc_id, key_id = key.id(), "auth key created by DH");
                self.cluster.add_key(
                    self.dc_id,
                    key,
                    Some((first_salt, now_secs + FIRST_SALT_LIFETIME_SECS)),
                );
                reply
            }
        };
        // Plaintext server msg_ids follow the same clock rule; ≡ 1 (mod 4) as responses.
        let msg_id = ((now_secs << 32) | ((now_ms % 1000) as i64) << 22) & !3 | 1;
        let mut packet = Vec::with_capacity(20 + reply.len());
        packet.extend_from_slice(&0i64.to_le_bytes());
        packet.extend_from_slice(&msg_id.to_le_bytes());
        packet.extend_from_slice(&(reply.len() as u32).to_le_bytes());
        packet.extend_from_slice(&reply);
        self.codec.encode(&packet, out);
        Ok(())
    }

    fn handle_encrypted(
        &mut self,
        entry: Arc<KeyEntry>,
        message: crypto::DecryptedMessage,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) {
        let now_secs = (now_ms / 1000) as i64;
        let (session, _created) = self
            .cluster
            .session(entry.key.id(), message.session_id, now_ms);
        let switched = !self
            .session
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, &session));
        if switched {
            // A session resumed on a new connection gets what it never acknowledged.
            let resend = session.lock().expect("session lock").drain_unacked();
            self.outgoing.clear();
            self.pending_acks.clear();
            for unacked in resend {
                self.outgoing.push(Outgoing {
                    body: unacked.body,
                    content: true,
                    response: unacked.req_msg_id.is_some(),
                    keep: Some(unacked.req_msg_id),
                });
            }
            if let Some(previous) = &self.key {
                self.cluster.unsubscribe(previous.key.id(), self.id);
            }
            self.cluster.subscribe(
                entry.key.id(),
                message.session_id,
                self.id,
                self.updates_tx.clone(),
            );
            self.session = Some(session.clone());
            self.key = Some(entry.clone());
        }

        if let Some(code) = check_msg_id(message.msg_id, now_secs) {
            self.push_bad_msg(message.msg_id, message.seq_no, code);
        } else if !self.cluster.salt_is_valid(&entry, message.salt, now_secs) {
            let new_salt = self.cluster.salt_for(entry.key.id(), now_secs);
            self.push(
                tl::enums::BadMsgNotification::BadServerSalt(tl::types::BadServerSalt {
                    bad_msg_id: message.msg_id,
                    bad_msg_seqno: message.seq_no,
                    error_code: bad_msg::INCORRECT_SALT,
                    new_server_salt: new_salt,
                })
                .to_bytes(),
                false,
                true,
            );
        } else {
            let announce = {
                let mut s = session.lock().expect("session lock");
                !std::mem::replace(&mut s.announced, true)
            };
            if announce {
                let unique_id = session.lock().expect("session lock").unique_id;
                self.push(
                    tl::enums::NewSession::Created(tl::types::NewSessionCreated {
                        first_msg_id: message.msg_id,
                        unique_id,
                        server_salt: self.cluster.salt_for(entry.key.id(), now_secs),
                    })
                    .to_bytes(),
                    true,
                    false,
                );
            }
            self.process_message(message.msg_id, message.seq_no, &message.body, true, now_ms);
        }
        self.flush(&entry.key, message.session_id, now_ms, out);
    }

    /// Handles one message (top level or inside a container).
    fn process_message(
        &mut self,
        msg_id: i64,
        seq_no: i32,
        body: &[u8],
        top_level: bool,
        now_ms: u64,
    ) {
        let now_secs = (now_ms / 1000) as i64;
        if !top_level {
            if let Some(code) = check_msg_id(msg_id, now_secs) {
                self.push_bad_msg(msg_id, seq_no, code);
                return;
            }
        }
        let session = self.session.clone().expect("session set before processing");
        let constructor = service::constructor_of(body);
        let content = !matches!(
            constructor,
            Some(service::MSG_CONTAINER) | Some(tl::types::MsgsAck::CONSTRUCTOR_ID)
        );
        {
            let mut s = session.lock().expect("session lock");
            if s.is_below_window(msg_id) {
                drop(s);
                self.push_bad_msg(msg_id, seq_no, bad_msg::MSG_ID_TOO_LOW);
                return;
            }
            if !s.mark_seen(msg_id) {
                // A duplicate: never executed twice. If its answer is still unacknowledged,
                // the client evidently lost it, so send it again.
                if let Some(answer) = s.stored_answer(msg_id).cloned() {
                    drop(s);
                    self.outgoing.push(Outgoing {
                        body: answer.body,
                        content: true,
                        response: true,
                        keep: Some(answer.req_msg_id),
                    });
                }
                if content {
                    self.pending_acks.push(msg_id);
                }
                return;
            }
        }
        if content && seq_no % 2 == 0 {
            self.push_bad_msg(msg_id, seq_no, bad_msg::SEQ_NO_EVEN_FOR_CONTENT);
            return;
        }
        if !content && seq_no % 2 == 1 {
            self.push_bad_msg(msg_id, seq_no, bad_msg::SEQ_NO_ODD_FOR_SERVICE);
            return;
        }
        if content {
            self.pending_acks.push(msg_id);
        }

        match constructor {
            Some(service::MSG_CONTAINER) => {
                if !top_level {
                    self.push_bad_msg(msg_id, seq_no, bad_msg::INVALID_CONTAINER);
                    return;
                }
                match service::parse_container(body) {
                    Ok(messages) => {
                        let messages: Vec<(i64, i32, Vec<u8>)> = messages
                            .into_iter()
                            .map(|m| (m.msg_id, m.seq_no, m.body.to_vec()))
                            .collect();
                        for (inner_id, inner_seq, inner_body) in messages {
                            self.process_message(inner_id, inner_seq, &inner_body, false, now_ms);
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%error, "refused container");
                        self.push_bad_msg(msg_id, seq_no, bad_msg::INVALID_CONTAINER);
                    }
                }
            }
            Some(tl::types::MsgsAck::CONSTRUCTOR_ID) => {
                if let Ok(tl::enums::MsgsAck::Ack(ack)) = tl::enums::MsgsAck::from_bytes(body) {
                    session
                        .lock()
                        .expect("session lock")
                        .acknowledge(&ack.msg_ids);
                }
            }
            Some(tl::functions::Ping::CONSTRUCTOR_ID) => {
                if let Ok(ping) =
                    tl::functions::Ping::deserialize(&mut tl::Cursor::from_slice(&body[4..]))
                {
                    self.push_pong(msg_id, ping.ping_id);
                }
            }
            Some(tl::functions::PingDelayDisconnect::CONSTRUCTOR_ID) => {
                if let Ok(ping) = tl::functions::PingDelayDisconnect::deserialize(
                    &mut tl::Cursor::from_slice(&body[4..]),
                ) {
                    self.disconnect_at = Some(now_ms + ping.disconnect_delay.max(0) as u64 * 1000);
                    self.push_pong(msg_id, ping.ping_id);
                }
            }
            Some(tl::functions::GetFutureSalts::CONSTRUCTOR_ID) => {
                let num = tl::functions::GetFutureSalts::deserialize(&mut tl::Cursor::from_slice(
                    &body[4..],
                ))
                .map(|f| f.num)
                .unwrap_or(1)
                .clamp(1, 64);
                let key_id = self.key.as_ref().expect("key set").key.id();
                let period = crate::cluster::SALT_PERIOD_SECS;
                let start = now_secs.div_euclid(period) * period;
                let salts = (0..num as i64)
                    .map(|i| {
                        let since = start + i * period;
                        tl::types::FutureSalt {
                            valid_since: since as i32,
                            valid_until: (since + period) as i32,
                            salt: self.cluster.salt_for(key_id, since),
                        }
                    })
                    .collect();
                // Sent bare, never inside rpc_result: grammers stalls otherwise.
                self.push(
                    tl::enums::FutureSalts::Salts(tl::types::FutureSalts {
                        req_msg_id: msg_id,
                        now: now_secs as i32,
                        salts: tl::RawVec(salts),
                    })
                    .to_bytes(),
                    true,
                    true,
                );
            }
            Some(tl::functions::DestroySession::CONSTRUCTOR_ID) => {
                if let Ok(destroy) = tl::functions::DestroySession::deserialize(
                    &mut tl::Cursor::from_slice(&body[4..]),
                ) {
                    let key_id = self.key.as_ref().expect("key set").key.id();
                    let current = session.lock().expect("session lock").id;
                    // The current session cannot destroy itself.
                    let existed = destroy.session_id != current
                        && self.cluster.destroy_session(key_id, destroy.session_id);
                    let answer = if existed {
                        tl::enums::DestroySessionRes::DestroySessionOk(
                            tl::types::DestroySessionOk {
                                session_id: destroy.session_id,
                            },
                        )
                    } else {
                        tl::enums::DestroySessionRes::DestroySessionNone(
                            tl::types::DestroySessionNone {
                                session_id: destroy.session_id,
                            },
                        )
                    };
                    self.push(answer.to_bytes(), true, true);
                }
            }
            Some(tl::types::MsgsStateReq::CONSTRUCTOR_ID) => {
                if let Ok(req) =
                    tl::types::MsgsStateReq::deserialize(&mut tl::Cursor::from_slice(&body[4..]))
                {
                    let info = self.states_of(&session, &req.msg_ids, now_secs);
                    self.push(
                        tl::enums::MsgsStateInfo::Info(tl::types::MsgsStateInfo {
                            req_msg_id: msg_id,
                            info,
                        })
                        .to_bytes(),
                        true,
                        true,
                    );
                }
            }
            Some(tl::types::MsgResendReq::CONSTRUCTOR_ID) => {
                if let Ok(req) =
                    tl::types::MsgResendReq::deserialize(&mut tl::Cursor::from_slice(&body[4..]))
                {
                    let mut unknown = Vec::new();
                    for id in req.msg_ids.iter().copied() {
                        let stored = session
                            .lock()
                            .expect("session lock")
                            .unacked_by_id(id)
                            .cloned();
                        match stored {
                            Some(message) => self.outgoing.push(Outgoing {
                                body: message.body,
                                content: true,
                                response: message.req_msg_id.is_some(),
                                keep: None,
                            }),
                            None => unknown.push(id),
                        }
                    }
                    if !unknown.is_empty() {
                        // What the server cannot re-send it describes, so the client stops asking.
                        let info = vec![1u8; unknown.len()];
                        self.push(
                            tl::enums::MsgsStateInfo::Info(tl::types::MsgsStateInfo {
                                req_msg_id: msg_id,
                                info,
                            })
                            .to_bytes(),
                            true,
                            true,
                        );
                    }
                }
            }
            Some(service::HTTP_WAIT) => {}
            _ => self.handle_rpc(&session, msg_id, body, now_secs),
        }
    }

    fn handle_rpc(
        &mut self,
        session: &Arc<Mutex<Session>>,
        msg_id: i64,
        body: &[u8],
        now_secs: i64,
    ) {
        let key_id = self.key.as_ref().expect("key set").key.id();
        let mut pushes = Vec::new();
        let (answer, session_id) = {
            let mut s = session.lock().expect("session lock");
            let session_id = s.id;
            let mut ctx = CallContext {
                cluster: &self.cluster,
                dc_id: self.dc_id,
                session: &mut s,
                key_id,
                now_secs: now_secs as i32,
                pushes: &mut pushes,
            };
            (rpc::call(&mut ctx, body), session_id)
        };
        for pending in pushes {
            let keys = self.cluster.world().keys_of(pending.user_id);
            let except = pending.skip_requester.then_some((key_id, session_id));
            self.cluster.deliver(&keys, except, &pending.push);
        }
        let result = match answer {
            RpcAnswer::Result(bytes) => service::rpc_result(msg_id, &service::maybe_gzip(bytes)),
            // rpc_error is never gzipped.
            RpcAnswer::Error { code, message } => {
                service::rpc_result(msg_id, &service::rpc_error(code, &message))
            }
        };
        self.outgoing.push(Outgoing {
            body: result,
            content: true,
            response: true,
            keep: Some(Some(msg_id)),
        });
    }

    fn states_of(&self, session: &Arc<Mutex<Session>>, msg_ids: &[i64], now_secs: i64) -> Vec<u8> {
        let s = session.lock().expect("session lock");
        msg_ids
            .iter()
            .map(|&id| {
                if (id >> 32) > now_secs + MSG_ID_MAX_FUTURE_SECS {
                    3 // not received, msg_id too high
                } else {
                    match s.seen_state(id) {
                        // received; +32 once processed, +64 when an answer was generated
                        SeenState::Received if s.stored_answer(id).is_some() => 4 | 64,
                        SeenState::Received => 4,
                        SeenState::TooOld => 1,
                        SeenState::NotReceived => 2,
                    }
                }
            })
            .collect()
    }

    fn push(&mut self, body: Vec<u8>, content: bool, response: bool) {
        self.outgoing.push(Outgoing {
            body,
            content,
            response,
            keep: None,
        });
    }

    fn push_bad_msg(&mut self, bad_msg_id: i64, bad_msg_seqno: i32, error_code: i32) {
        self.push(
            tl::enums::BadMsgNotification::Notification(tl::types::BadMsgNotification {
                bad_msg_id,
                bad_msg_seqno,
                error_code,
            })
            .to_bytes(),
            false,
            true,
        );
    }

    /// `pong` goes out bare, its msg_id field naming the ping.
    fn push_pong(&mut self, ping_msg_id: i64, ping_id: i64) {
        self.push(
            tl::enums::Pong::Pong(tl::types::Pong {
                msg_id: ping_msg_id,
                ping_id,
            })
            .to_bytes(),
            true,
            true,
        );
    }

    /// Numbers, packs (in a container when more than one), encrypts and frames what is queued.
    fn flush(&mut self, key: &AuthKey, session_id: i64, now_ms: u64, out: &mut Vec<u8>) {
        if self.outgoing.is_empty() && self.pending_acks.is_empty() {
            return;
        }
        let session = self.session.clone().expect("session set");
        let mut s = session.lock().expect("session lock");
        let mut numbered: Vec<(i64, i32, Vec<u8>)> = Vec::with_capacity(self.outgoing.len() + 1);
        if !self.pending_acks.is_empty() {
            let ack = tl::enums::MsgsAck::Ack(tl::types::MsgsAck {
                msg_ids: std::mem::take(&mut self.pending_acks),
            })
            .to_bytes();
            numbered.push((s.next_msg_id(now_ms, false), s.next_seq_no(false), ack));
        }
        for message in self.outgoing.drain(..) {
            let msg_id = s.next_msg_id(now_ms, message.response);
            let seq_no = s.next_seq_no(message.content);
            if let Some(req_msg_id) = message.keep {
                s.store_unacked(
                    msg_id,
                    Unacked {
                        body: message.body.clone(),
                        req_msg_id,
                    },
                );
            }
            numbered.push((msg_id, seq_no, message.body));
        }
        let salt = self.cluster.salt_for(key.id(), (now_ms / 1000) as i64);
        // Telegram never sends a container above ~1 MB (clients assert it: grammers' limit is
        // 1,044,456 bytes), so two 512 KiB file chunks answered together go in two packets.
        let mut batches: Vec<Vec<(i64, i32, Vec<u8>)>> = Vec::new();
        let mut size = 0usize;
        for message in numbered {
            let len = message.2.len() + CONTAINER_ITEM_OVERHEAD;
            match batches.last_mut() {
                Some(batch) if size + len <= MAX_CONTAINER_BYTES => {
                    size += len;
                    batch.push(message);
                }
                _ => {
                    size = len;
                    batches.push(vec![message]);
                }
            }
        }
        for mut batch in batches {
            let mut packet = Vec::new();
            if batch.len() == 1 {
                let (msg_id, seq_no, body) = batch.pop().expect("one message");
                crypto::encrypt_server_packet(
                    key,
                    salt,
                    session_id,
                    msg_id,
                    seq_no,
                    &body,
                    &mut packet,
                );
            } else {
                let container = service::container(&batch);
                let msg_id = s.next_msg_id(now_ms, false);
                let seq_no = s.next_seq_no(false);
                crypto::encrypt_server_packet(
                    key,
                    salt,
                    session_id,
                    msg_id,
                    seq_no,
                    &container,
                    &mut packet,
                );
            }
            self.codec.encode(&packet, out);
        }
        drop(s);
    }
}

/// The most a container carries (Telegram's limit, as clients check it), and what each
/// message adds to it (msg_id, seq_no, length).
const MAX_CONTAINER_BYTES: usize = 1_000_000;
const CONTAINER_ITEM_OVERHEAD: usize = 16;

/// The time and parity rules for a client msg_id; `Some(code)` when it must be refused.
fn check_msg_id(msg_id: i64, now_secs: i64) -> Option<i32> {
    let sent_at = msg_id >> 32;
    if msg_id % 4 != 0 {
        Some(bad_msg::MSG_ID_NOT_DIVISIBLE_BY_4)
    } else if sent_at > now_secs + MSG_ID_MAX_FUTURE_SECS {
        Some(bad_msg::MSG_ID_TOO_HIGH)
    } else if sent_at < now_secs - MSG_ID_MAX_PAST_SECS {
        Some(bad_msg::MSG_ID_TOO_LOW)
    } else {
        None
    }
}
