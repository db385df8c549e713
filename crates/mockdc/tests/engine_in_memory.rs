//! The sans-IO engine driven in memory, no sockets and no sleeps: against grammers-mtproto's own
//! client-side state machines (`transport::Full` + `mtp::Encrypted`) for the happy paths, and
//! against hand-built packets for the rules a well-behaved client never breaks.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use grammers_crypto::DequeBuffer;
use grammers_mtproto::mtp::{Deserialization, Encrypted, Mtp};
use grammers_mtproto::transport::{Full, Transport};
use grammers_mtproto::MsgId;
use grammers_tl_types::{self as tl, Deserializable, Serializable};
use telegate_mockdc::cluster::{Cluster, DcAddress};
use telegate_mockdc::connection::{Closed, Connection};
use telegate_mockdc::crypto::AuthKey;
use telegate_mockdc::rsa_key::RsaKeyPair;
use telegate_mockdc::tl as service;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn cluster() -> Arc<Cluster> {
    let dcs = (1..=2)
        .map(|id| DcAddress {
            id,
            host: Ipv4Addr::LOCALHOST,
            port: 10_000 + id as u16,
        })
        .collect();
    Arc::new(Cluster::new(dcs, Arc::new(RsaKeyPair::generate())))
}

/// grammers' client halves, fed through our server engine.
struct GrammersClient {
    mtp: Encrypted,
    transport: Full,
    inbox: Vec<u8>,
}

impl GrammersClient {
    fn new(key: &AuthKey) -> Self {
        Self {
            mtp: Encrypted::build()
                .compression_threshold(None)
                .finish(*key.bytes()),
            transport: Full::new(),
            inbox: Vec::new(),
        }
    }

    /// A fresh transport (a new TCP connection) but the same MTProto session.
    fn reconnect(&mut self) {
        self.transport = Full::new();
        self.inbox.clear();
    }

    /// Serializes what the client wants to send. grammers holds user requests back while it
    /// fetches salts (`push` returns `None`): those come back as `None` ids, to be pushed again.
    fn send(&mut self, requests: &[Vec<u8>]) -> (Vec<u8>, Vec<Option<MsgId>>) {
        let mut buffer = DequeBuffer::with_capacity(1 << 16, 64);
        let ids = requests
            .iter()
            .map(|r| self.mtp.push(&mut buffer, r))
            .collect();
        self.mtp.finalize(&mut buffer);
        self.transport.pack(&mut buffer);
        (buffer.as_ref().to_vec(), ids)
    }

    fn receive(&mut self, wire: &[u8]) -> Vec<Deserialization> {
        self.inbox.extend_from_slice(wire);
        let mut results = Vec::new();
        loop {
            match self.transport.unpack(&mut self.inbox) {
                Ok(offset) => {
                    let mut payload = self.inbox[offset.data_range.clone()].to_vec();
                    results.extend(
                        self.mtp
                            .deserialize(&mut payload)
                            .expect("valid server message"),
                    );
                    self.inbox.drain(..offset.next_offset);
                }
                Err(grammers_mtproto::transport::Error::MissingBytes) => return results,
                Err(e) => panic!("transport error from server: {e}"),
            }
        }
    }
}

/// Runs requests until each has an answer, re-sending the ones refused with a retryable
/// bad_msg_notification (the first salt is always wrong: grammers starts at 0).
fn call(client: &mut GrammersClient, conn: &mut Connection, request: Vec<u8>) -> Deserialization {
    for _ in 0..6 {
        let (wire, ids) = client.send(std::slice::from_ref(&request));
        let mut out = Vec::new();
        conn.receive(&wire, now_ms(), &mut out)
            .expect("connection stays open");
        for answer in client.receive(&out) {
            match &answer {
                Deserialization::RpcResult(r) if Some(r.msg_id) == ids[0] => return answer,
                Deserialization::RpcError(r) if Some(r.msg_id) == ids[0] => return answer,
                _ => {}
            }
        }
    }
    panic!("no answer after retries")
}

fn registered_key(cluster: &Cluster, dc_id: i32) -> AuthKey {
    cluster.register_random_key(dc_id)
}

#[test]
fn grammers_state_machines_get_answers_through_the_engine() {
    let cluster = cluster();
    let key = registered_key(&cluster, 1);
    let mut client = GrammersClient::new(&key);
    let mut conn = Connection::new(cluster.clone(), 1);

    let answer = call(
        &mut client,
        &mut conn,
        tl::functions::help::GetNearestDc {}.to_bytes(),
    );
    let Deserialization::RpcResult(result) = answer else {
        panic!("expected a result")
    };
    let tl::enums::NearestDc::Dc(nearest) = tl::enums::NearestDc::from_bytes(&result.body).unwrap();
    assert_eq!(nearest.this_dc, 1);

    // A ping is answered by a bare pong that grammers matches to its request.
    let answer = call(
        &mut client,
        &mut conn,
        tl::functions::Ping { ping_id: 77 }.to_bytes(),
    );
    let Deserialization::RpcResult(result) = answer else {
        panic!("expected a pong")
    };
    let tl::enums::Pong::Pong(pong) = tl::enums::Pong::from_bytes(&result.body).unwrap();
    assert_eq!(pong.ping_id, 77);

    // Many requests in one container are all answered.
    let requests: Vec<Vec<u8>> = (0..30)
        .map(|i| tl::functions::Ping { ping_id: i }.to_bytes())
        .collect();
    let (wire, ids) = client.send(&requests);
    let ids: Vec<MsgId> = ids
        .into_iter()
        .map(|id| id.expect("salts known by now"))
        .collect();
    let mut out = Vec::new();
    conn.receive(&wire, now_ms(), &mut out).unwrap();
    let answered: Vec<MsgId> = client
        .receive(&out)
        .into_iter()
        .filter_map(|d| match d {
            Deserialization::RpcResult(r) => Some(r.msg_id),
            _ => None,
        })
        .collect();
    for id in &ids {
        assert!(answered.contains(id), "request {id:?} unanswered");
    }

    // Unknown methods: a clear rpc_error, not a dropped connection.
    let answer = call(
        &mut client,
        &mut conn,
        tl::functions::help::GetTermsOfServiceUpdate {}.to_bytes(),
    );
    let Deserialization::RpcError(error) = answer else {
        panic!("expected an error")
    };
    assert_eq!(error.error.error_code, 400);
    assert_eq!(error.error.error_message, "METHOD_NOT_IMPLEMENTED_IN_MOCK");
}

#[test]
fn unacknowledged_results_are_resent_after_reconnecting() {
    let cluster = cluster();
    let key = registered_key(&cluster, 1);
    let mut client = GrammersClient::new(&key);
    let mut first = Connection::new(cluster.clone(), 1);
    call(
        &mut client,
        &mut first,
        tl::functions::Ping { ping_id: 1 }.to_bytes(),
    );

    // The answer to this request is lost with the connection.
    let (wire, ids) = client.send(&[tl::functions::help::GetNearestDc {}.to_bytes()]);
    let mut lost = Vec::new();
    first.receive(&wire, now_ms(), &mut lost).unwrap();
    assert!(!lost.is_empty());
    drop(first);

    client.reconnect();
    let mut second = Connection::new(cluster.clone(), 1);
    let (wire, _) = client.send(&[tl::functions::Ping { ping_id: 2 }.to_bytes()]);
    let mut out = Vec::new();
    second.receive(&wire, now_ms(), &mut out).unwrap();
    let resent = client
        .receive(&out)
        .into_iter()
        .any(|d| matches!(d, Deserialization::RpcResult(r) if Some(r.msg_id) == ids[0]));
    assert!(resent, "the lost result came again on the new connection");
}

#[test]
fn unknown_auth_key_gets_transport_error_404_and_close() {
    let cluster = cluster();
    let unknown = AuthKey::from_bytes([5; 256]);
    let mut client = GrammersClient::new(&unknown);
    let mut conn = Connection::new(cluster.clone(), 1);
    let (wire, _) = client.send(&[tl::functions::Ping { ping_id: 1 }.to_bytes()]);
    let mut out = Vec::new();
    let error = conn.receive(&wire, now_ms(), &mut out).unwrap_err();
    assert!(matches!(error, Closed::UnknownAuthKey(_)), "{error}");
    let mut inbox = out.clone();
    match Full::new().unpack(&mut inbox) {
        Err(grammers_mtproto::transport::Error::BadStatus { status }) => assert_eq!(status, 404),
        other => panic!("expected -404, got {other:?}"),
    }
    // A key registered on DC 1 is unknown on DC 2, as on Telegram.
    let key = registered_key(&cluster, 1);
    let mut client = GrammersClient::new(&key);
    let mut on_dc2 = Connection::new(cluster, 2);
    let (wire, _) = client.send(&[tl::functions::Ping { ping_id: 1 }.to_bytes()]);
    assert!(on_dc2.receive(&wire, now_ms(), &mut Vec::new()).is_err());
    // A closed connection stays closed.
    assert!(matches!(
        on_dc2.receive(&[0; 4], now_ms(), &mut Vec::new()),
        Err(Closed::AlreadyClosed)
    ));
}

/// A hand-rolled client for the packets grammers would never send. Intermediate transport.
struct RawClient {
    grammers_key: grammers_crypto::AuthKey,
    session_id: i64,
    started: bool,
}

/// One message the server sent, flattened out of containers.
#[derive(Debug)]
struct ServerMessage {
    msg_id: i64,
    seq_no: i32,
    body: Vec<u8>,
}

impl RawClient {
    fn new(key: AuthKey) -> Self {
        let grammers_key = grammers_crypto::AuthKey::from_bytes(*key.bytes());
        Self {
            grammers_key,
            session_id: 0x1234_5678,
            started: false,
        }
    }

    fn packet(
        &mut self,
        salt: i64,
        msg_id: i64,
        seq_no: i32,
        body: &[u8],
        quick_ack: bool,
    ) -> Vec<u8> {
        let mut plain = Vec::new();
        plain.extend_from_slice(&salt.to_le_bytes());
        plain.extend_from_slice(&self.session_id.to_le_bytes());
        plain.extend_from_slice(&msg_id.to_le_bytes());
        plain.extend_from_slice(&seq_no.to_le_bytes());
        plain.extend_from_slice(&(body.len() as u32).to_le_bytes());
        plain.extend_from_slice(body);
        let mut buffer = DequeBuffer::with_capacity(plain.len() + 64, 32);
        buffer.extend(plain);
        grammers_crypto::encrypt_data_v2(&mut buffer, &self.grammers_key);
        let encrypted = buffer.as_ref().to_vec();
        let mut wire = Vec::new();
        if !self.started {
            wire.extend_from_slice(&[0xee; 4]);
            self.started = true;
        }
        let mut len = encrypted.len() as u32;
        if quick_ack {
            len |= 0x8000_0000;
        }
        wire.extend_from_slice(&len.to_le_bytes());
        wire.extend_from_slice(&encrypted);
        wire
    }

    /// Decrypts intermediate frames from the server into messages (containers opened).
    fn open(&self, mut wire: &[u8]) -> (Vec<u32>, Vec<ServerMessage>) {
        let mut quick_acks = Vec::new();
        let mut messages = Vec::new();
        while wire.len() >= 4 {
            let len = u32::from_le_bytes(wire[..4].try_into().unwrap());
            if len & 0x8000_0000 != 0 {
                quick_acks.push(len);
                wire = &wire[4..];
                continue;
            }
            let mut packet = wire[4..4 + len as usize].to_vec();
            wire = &wire[4 + len as usize..];
            let plain = grammers_crypto::decrypt_data_v2(&mut packet, &self.grammers_key)
                .expect("server packet decrypts");
            let msg_id = i64::from_le_bytes(plain[16..24].try_into().unwrap());
            let seq_no = i32::from_le_bytes(plain[24..28].try_into().unwrap());
            let n = u32::from_le_bytes(plain[28..32].try_into().unwrap()) as usize;
            let body = plain[32..32 + n].to_vec();
            if service::constructor_of(&body) == Some(service::MSG_CONTAINER) {
                for inner in service::parse_container(&body).unwrap() {
                    messages.push(ServerMessage {
                        msg_id: inner.msg_id,
                        seq_no: inner.seq_no,
                        body: inner.body.to_vec(),
                    });
                }
            } else {
                messages.push(ServerMessage {
                    msg_id,
                    seq_no,
                    body,
                });
            }
        }
        (quick_acks, messages)
    }
}

fn client_msg_id(now_ms: u64, n: i64) -> i64 {
    (((now_ms / 1000) as i64) << 32) + n * 4
}

fn bad_msg_codes(messages: &[ServerMessage]) -> Vec<(i64, i32)> {
    messages
        .iter()
        .filter_map(
            |m| match tl::enums::BadMsgNotification::from_bytes(&m.body) {
                Ok(tl::enums::BadMsgNotification::Notification(n)) => {
                    Some((n.bad_msg_id, n.error_code))
                }
                Ok(tl::enums::BadMsgNotification::BadServerSalt(n)) => {
                    Some((n.bad_msg_id, n.error_code))
                }
                Err(_) => None,
            },
        )
        .collect()
}

#[test]
fn msg_id_seq_no_and_salt_rules_give_the_spec_codes() {
    let cluster = cluster();
    let key = registered_key(&cluster, 1);
    let mut raw = RawClient::new(key.clone());
    let mut conn = Connection::new(cluster.clone(), 1);
    let now = now_ms();
    let salt = cluster.salt_for(key.id(), (now / 1000) as i64);
    let ping = tl::functions::Ping { ping_id: 9 }.to_bytes();
    let send = |raw: &mut RawClient, conn: &mut Connection, salt, msg_id, seq_no, body: &[u8]| {
        let mut out = Vec::new();
        conn.receive(
            &raw.packet(salt, msg_id, seq_no, body, false),
            now,
            &mut out,
        )
        .unwrap();
        raw.open(&out).1
    };

    // Wrong salt: bad_server_salt (48) carrying the right one.
    let id = client_msg_id(now, 1);
    let replies = send(&mut raw, &mut conn, 0, id, 1, &ping);
    assert_eq!(bad_msg_codes(&replies), vec![(id, 48)]);

    // msg_id too far in the future (17), too far in the past (16), not divisible by 4 (18).
    let future = client_msg_id(now + 60_000, 0);
    assert_eq!(
        bad_msg_codes(&send(&mut raw, &mut conn, salt, future, 1, &ping)),
        vec![(future, 17)]
    );
    let past = client_msg_id(now - 600_000, 0);
    assert_eq!(
        bad_msg_codes(&send(&mut raw, &mut conn, salt, past, 1, &ping)),
        vec![(past, 16)]
    );
    let odd = client_msg_id(now, 2) + 1;
    assert_eq!(
        bad_msg_codes(&send(&mut raw, &mut conn, salt, odd, 1, &ping)),
        vec![(odd, 18)]
    );

    // A content message with an even seq_no (34); an ack with an odd one (35).
    // This is the first message past the msg_id and salt checks, so the session is announced
    // with new_session_created before the seq_no rule refuses it.
    let id = client_msg_id(now, 3);
    let replies = send(&mut raw, &mut conn, salt, id, 2, &ping);
    assert_eq!(bad_msg_codes(&replies), vec![(id, 34)]);
    let created = replies
        .iter()
        .find_map(|m| tl::enums::NewSession::from_bytes(&m.body).ok())
        .expect("new_session_created");
    let tl::enums::NewSession::Created(created) = created;
    assert_eq!(created.first_msg_id, id);
    assert_eq!(created.server_salt, salt);
    let ack = tl::enums::MsgsAck::Ack(tl::types::MsgsAck { msg_ids: vec![1] }).to_bytes();
    let id = client_msg_id(now, 4);
    assert_eq!(
        bad_msg_codes(&send(&mut raw, &mut conn, salt, id, 3, &ack)),
        vec![(id, 35)]
    );

    // A good ping: the pong and an ack of the ping; the session is announced only once.
    let id = client_msg_id(now, 5);
    let replies = send(&mut raw, &mut conn, salt, id, 1, &ping);
    assert!(bad_msg_codes(&replies).is_empty(), "{replies:?}");
    assert!(replies
        .iter()
        .all(|m| tl::enums::NewSession::from_bytes(&m.body).is_err()));
    let pong = replies
        .iter()
        .find_map(|m| tl::enums::Pong::from_bytes(&m.body).ok())
        .expect("pong");
    let tl::enums::Pong::Pong(pong) = pong;
    assert_eq!((pong.msg_id, pong.ping_id), (id, 9));
    // Server msg_ids: responses ≡ 1 (mod 4), the rest ≡ 3; content messages have odd seq_no.
    for m in &replies {
        let is_ack = tl::enums::MsgsAck::from_bytes(&m.body).is_ok();
        assert_eq!(m.seq_no % 2 == 1, !is_ack, "{m:?}");
    }
    assert_eq!(
        replies
            .iter()
            .find(|m| m.body == pong_bytes(&pong))
            .unwrap()
            .msg_id
            % 4,
        1
    );

    // The same msg_id again is a duplicate: ignored (only acknowledged), never answered twice.
    let replies = send(&mut raw, &mut conn, salt, id, 1, &ping);
    assert!(
        replies
            .iter()
            .all(|m| tl::enums::Pong::from_bytes(&m.body).is_err()),
        "{replies:?}"
    );

    // A container nested in a container is refused (64).
    let inner = service::container(&[(client_msg_id(now, 7), 1, ping.clone())]);
    let outer = service::container(&[(client_msg_id(now, 8), 0, inner)]);
    let id = client_msg_id(now, 9);
    let codes = bad_msg_codes(&send(&mut raw, &mut conn, salt, id, 0, &outer));
    assert_eq!(codes, vec![(id, 64)]);
}

fn pong_bytes(pong: &tl::types::Pong) -> Vec<u8> {
    tl::enums::Pong::Pong(pong.clone()).to_bytes()
}

#[test]
fn service_requests_are_answered() {
    let cluster = cluster();
    let key = registered_key(&cluster, 1);
    let mut raw = RawClient::new(key.clone());
    let mut conn = Connection::new(cluster.clone(), 1);
    let now = now_ms();
    let salt = cluster.salt_for(key.id(), (now / 1000) as i64);
    let mut next = 10;
    let mut send = |raw: &mut RawClient, conn: &mut Connection, body: Vec<u8>, quick_ack: bool| {
        next += 1;
        let id = client_msg_id(now, next);
        let mut out = Vec::new();
        conn.receive(&raw.packet(salt, id, 1, &body, quick_ack), now, &mut out)
            .unwrap();
        (id, raw.open(&out))
    };

    // get_future_salts: a bare future_salts (never inside rpc_result), with valid salts.
    let (id, (_, replies)) = send(
        &mut raw,
        &mut conn,
        tl::functions::GetFutureSalts { num: 3 }.to_bytes(),
        false,
    );
    let salts = replies
        .iter()
        .find_map(|m| tl::enums::FutureSalts::from_bytes(&m.body).ok())
        .expect("bare future_salts");
    let tl::enums::FutureSalts::Salts(salts) = salts;
    assert_eq!(salts.req_msg_id, id);
    assert_eq!(salts.salts.0.len(), 3);
    assert_eq!(salts.salts.0[0].salt, salt);

    // A quick-ack request gets its token at the transport level.
    let (_, (quick_acks, _)) = send(
        &mut raw,
        &mut conn,
        tl::functions::Ping { ping_id: 1 }.to_bytes(),
        true,
    );
    assert_eq!(quick_acks.len(), 1);
    assert!(quick_acks[0] & 0x8000_0000 != 0);

    // msgs_state_req: received (4), unknown (2), too high (3).
    let known = client_msg_id(now, 11);
    let unknown = client_msg_id(now, 500);
    let too_high = client_msg_id(now + 120_000, 0);
    let (id, (_, replies)) = send(
        &mut raw,
        &mut conn,
        tl::enums::MsgsStateReq::Req(tl::types::MsgsStateReq {
            msg_ids: vec![known, unknown, too_high],
        })
        .to_bytes(),
        false,
    );
    let tl::enums::MsgsStateInfo::Info(info) = replies
        .iter()
        .find_map(|m| tl::enums::MsgsStateInfo::from_bytes(&m.body).ok())
        .expect("msgs_state_info");
    assert_eq!(info.req_msg_id, id);
    assert_eq!(info.info[0] & 7, 4);
    assert_eq!(info.info[1..], [2, 3]);

    // destroy_session of another (unknown) session: destroy_session_none.
    let (_, (_, replies)) = send(
        &mut raw,
        &mut conn,
        tl::functions::DestroySession { session_id: 99 }.to_bytes(),
        false,
    );
    assert!(replies.iter().any(|m| matches!(
        tl::enums::DestroySessionRes::from_bytes(&m.body),
        Ok(tl::enums::DestroySessionRes::DestroySessionNone(n)) if n.session_id == 99
    )));

    // A gzip_packed request is inflated and answered.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut encoder,
        &tl::functions::help::GetNearestDc {}.to_bytes(),
    )
    .unwrap();
    let mut packed = service::GZIP_PACKED.to_le_bytes().to_vec();
    encoder.finish().unwrap().serialize(&mut packed);
    let (id, (_, replies)) = send(&mut raw, &mut conn, packed, false);
    let answered = replies.iter().any(|m| {
        service::constructor_of(&m.body) == Some(service::RPC_RESULT)
            && m.body[4..12] == id.to_le_bytes()
    });
    assert!(answered, "{replies:?}");
}

#[test]
fn ping_delay_disconnect_closes_when_the_deadline_passes() {
    let cluster = cluster();
    let key = registered_key(&cluster, 1);
    let mut raw = RawClient::new(key.clone());
    let mut conn = Connection::new(cluster.clone(), 1);
    let now = now_ms();
    let salt = cluster.salt_for(key.id(), (now / 1000) as i64);
    let body = tl::functions::PingDelayDisconnect {
        ping_id: 1,
        disconnect_delay: 75,
    }
    .to_bytes();
    let mut out = Vec::new();
    conn.receive(
        &raw.packet(salt, client_msg_id(now, 1), 1, &body, false),
        now,
        &mut out,
    )
    .unwrap();
    assert_eq!(conn.deadline(), Some(now + 75_000));
    conn.on_timer(now + 74_000).expect("still open");
    assert!(matches!(
        conn.on_timer(now + 75_000),
        Err(Closed::PingTimeout)
    ));
}

proptest::proptest! {
    /// Whatever arrives, in whatever pieces, the engine answers or closes: it never panics.
    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..8), prefix in 0usize..4) {
        let cluster = cluster_cached();
        let mut conn = Connection::new(cluster, 1);
        let prefixes: [&[u8]; 4] = [&[], &[0xee; 4], &[0xef], &[0xdd; 4]];
        let mut out = Vec::new();
        let _ = conn.receive(prefixes[prefix], now_ms(), &mut out);
        for chunk in chunks {
            if conn.receive(&chunk, now_ms(), &mut out).is_err() {
                break;
            }
        }
    }
}

fn cluster_cached() -> Arc<Cluster> {
    static CLUSTER: std::sync::OnceLock<Arc<Cluster>> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(cluster).clone()
}

/// The plaintext `req_pq_multi` of core.telegram.org/mtproto/samples-auth_key, byte for byte,
/// in the abridged framing that page describes: the engine answers `resPQ` echoing its nonce,
/// framed the same way.
#[test]
fn documented_req_pq_multi_sample_gets_res_pq() {
    let sample: [u8; 40] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0xD1, 0x0C, 0x00, 0x21, 0xA9, 0x72,
        0x68, //
        0x14, 0x00, 0x00, 0x00, 0xF1, 0x8E, 0x7E, 0xBE, 0x75, 0xE6, 0x22, 0xF3, 0xBC, 0x7D, 0x71,
        0x46, //
        0x32, 0xB8, 0x33, 0x82, 0x1F, 0xD7, 0xBB, 0x0C,
    ];
    let mut wire = vec![0xef, (sample.len() / 4) as u8];
    wire.extend_from_slice(&sample);
    let mut conn = Connection::new(cluster(), 2);
    let mut out = Vec::new();
    conn.receive(&wire, now_ms(), &mut out).unwrap();
    let words = out[0] as usize;
    assert!(words < 0x7f, "short abridged length");
    let reply = &out[1..];
    assert_eq!(reply.len(), words * 4);
    assert_eq!(&reply[..8], &[0; 8], "auth_key_id 0: plaintext");
    assert_eq!(reply[8] & 3, 1, "a response's msg_id is 1 mod 4");
    assert_eq!(
        u32::from_le_bytes(reply[20..24].try_into().unwrap()),
        0x05162463,
        "resPQ"
    );
    assert_eq!(&reply[24..40], &sample[24..40], "nonce echoed");
}
