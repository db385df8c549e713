//! One MTProto session as the server keeps it (core.telegram.org/mtproto/description#session).
//!
//! A session outlives connections: a client that reconnects with the same session_id continues its
//! msg_id/seq_no sequences and is re-sent every result it has not acknowledged yet.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many client msg_ids are remembered for duplicate detection. Older ones are "too low".
const SEEN_MSG_IDS: usize = 1024;
/// Bounds on what waits for the client's acknowledgement, so a client that never acks cannot grow
/// the server's memory without limit. The oldest entries are dropped first.
const MAX_UNACKED_MESSAGES: usize = 512;
const MAX_UNACKED_BYTES: usize = 16 << 20;

/// A server message that the client must acknowledge; kept until it does, for re-sending.
#[derive(Debug, Clone)]
pub struct Unacked {
    pub body: Vec<u8>,
    /// The request this answers (rpc_result), so a re-sent request finds its answer.
    pub req_msg_id: Option<i64>,
}

/// What the server knows of a client msg_id, for `msgs_state_req`.
#[derive(Debug, PartialEq, Eq)]
pub enum SeenState {
    Received,
    /// Below everything still remembered: the server cannot tell.
    TooOld,
    NotReceived,
}

#[derive(Debug)]
pub struct Session {
    pub id: i64,
    /// Sent in `new_session_created`; lets the client tell a restarted server from a live one.
    pub unique_id: i64,
    /// Whether `new_session_created` went out already.
    pub announced: bool,
    /// Layer announced with `invokeWithLayer`; responses are encoded for it.
    pub layer: Option<i32>,
    /// `api_id` from `initConnection`.
    pub api_id: Option<i32>,
    /// When a message last arrived in this session (unix ms), for forgetting idle sessions.
    pub last_active_ms: u64,
    seen: BTreeSet<i64>,
    last_out_msg_id: i64,
    /// Number of content-related messages sent; seq_no derives from it.
    out_content_count: i32,
    unacked: BTreeMap<i64, Unacked>,
    unacked_bytes: usize,
    /// request msg_id → the msg_id of the stored answer.
    answer_of: HashMap<i64, i64>,
}

impl Session {
    pub fn new(id: i64) -> Self {
        Self {
            id,
            unique_id: rand::random(),
            announced: false,
            layer: None,
            api_id: None,
            last_active_ms: 0,
            seen: BTreeSet::new(),
            last_out_msg_id: 0,
            out_content_count: 0,
            unacked: BTreeMap::new(),
            unacked_bytes: 0,
            answer_of: HashMap::new(),
        }
    }

    /// Records a client msg_id. False if it was seen already (a duplicate to ignore).
    pub fn mark_seen(&mut self, msg_id: i64) -> bool {
        if !self.seen.insert(msg_id) {
            return false;
        }
        while self.seen.len() > SEEN_MSG_IDS {
            self.seen.pop_first();
        }
        true
    }

    /// A msg_id lower than everything remembered once the window is full: Telegram answers
    /// such a message with bad_msg_notification 16 (msg_id too low) rather than risk a replay.
    pub fn is_below_window(&self, msg_id: i64) -> bool {
        self.seen.len() >= SEEN_MSG_IDS && self.seen.first().is_some_and(|&lowest| msg_id < lowest)
    }

    pub fn seen_state(&self, msg_id: i64) -> SeenState {
        if self.seen.contains(&msg_id) {
            SeenState::Received
        } else if self.is_below_window(msg_id) {
            SeenState::TooOld
        } else {
            SeenState::NotReceived
        }
    }

    /// A new server msg_id: `unix_time << 32 | fraction`, strictly increasing within the session,
    /// ≡ 1 (mod 4) for responses and ≡ 3 for everything else, as the spec requires.
    pub fn next_msg_id(&mut self, now_ms: u64, is_response: bool) -> i64 {
        let secs = (now_ms / 1000) as i64;
        let fraction = (((now_ms % 1000) << 32) / 1000) as i64;
        let residue = if is_response { 1 } else { 3 };
        let mut id = ((secs << 32) | fraction) & !3 | residue;
        if id <= self.last_out_msg_id {
            id = ((self.last_out_msg_id & !3) + 4) | residue;
        }
        self.last_out_msg_id = id;
        id
    }

    /// seq_no for the next server message: `2n+1` for content-related ones (counting them), `2n`
    /// for the rest.
    pub fn next_seq_no(&mut self, content_related: bool) -> i32 {
        if content_related {
            self.out_content_count += 1;
            self.out_content_count * 2 - 1
        } else {
            self.out_content_count * 2
        }
    }

    /// Keeps a message until the client acknowledges it.
    pub fn store_unacked(&mut self, msg_id: i64, message: Unacked) {
        if let Some(req) = message.req_msg_id {
            self.answer_of.insert(req, msg_id);
        }
        self.unacked_bytes += message.body.len();
        self.unacked.insert(msg_id, message);
        while self.unacked.len() > MAX_UNACKED_MESSAGES || self.unacked_bytes > MAX_UNACKED_BYTES {
            let Some((oldest, _)) = self.unacked.first_key_value() else {
                break;
            };
            let oldest = *oldest;
            self.remove_unacked(oldest);
        }
    }

    fn remove_unacked(&mut self, msg_id: i64) -> Option<Unacked> {
        let removed = self.unacked.remove(&msg_id)?;
        self.unacked_bytes -= removed.body.len();
        if let Some(req) = removed.req_msg_id {
            self.answer_of.remove(&req);
        }
        Some(removed)
    }

    /// The client acknowledged these server messages.
    pub fn acknowledge(&mut self, msg_ids: &[i64]) {
        for id in msg_ids {
            self.remove_unacked(*id);
        }
    }

    /// The stored answer to a request, if the client has not acknowledged it yet.
    pub fn stored_answer(&self, req_msg_id: i64) -> Option<&Unacked> {
        self.answer_of
            .get(&req_msg_id)
            .and_then(|msg_id| self.unacked.get(msg_id))
    }

    /// The stored server message with this msg_id (for `msg_resend_req`).
    pub fn unacked_by_id(&self, msg_id: i64) -> Option<&Unacked> {
        self.unacked.get(&msg_id)
    }

    /// Takes every unacknowledged message out, oldest first, to be sent again (with new msg_ids)
    /// on a new connection.
    pub fn drain_unacked(&mut self) -> Vec<Unacked> {
        self.answer_of.clear();
        self.unacked_bytes = 0;
        std::mem::take(&mut self.unacked).into_values().collect()
    }

    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_msg_ids_increase_with_the_right_residue() {
        let mut session = Session::new(1);
        let a = session.next_msg_id(1_700_000_000_000, true);
        let b = session.next_msg_id(1_700_000_000_000, false);
        let c = session.next_msg_id(1_699_999_999_000, true); // clock went back
        assert_eq!(a % 4, 1);
        assert_eq!(b % 4, 3);
        assert_eq!(c % 4, 1);
        assert!(a < b && b < c);
        assert_eq!(a >> 32, 1_700_000_000);
    }

    #[test]
    fn seq_no_counts_content_messages() {
        let mut session = Session::new(1);
        assert_eq!(session.next_seq_no(false), 0);
        assert_eq!(session.next_seq_no(true), 1);
        assert_eq!(session.next_seq_no(true), 3);
        assert_eq!(session.next_seq_no(false), 4);
    }

    #[test]
    fn unacked_is_bounded_and_acks_release() {
        let mut session = Session::new(1);
        for i in 0..(MAX_UNACKED_MESSAGES as i64 + 10) {
            session.store_unacked(
                i,
                Unacked {
                    body: vec![0; 4],
                    req_msg_id: Some(1000 + i),
                },
            );
        }
        assert_eq!(session.unacked_len(), MAX_UNACKED_MESSAGES);
        assert!(session.stored_answer(1000).is_none(), "oldest dropped");
        let last = MAX_UNACKED_MESSAGES as i64 + 9;
        assert!(session.stored_answer(1000 + last).is_some());
        session.acknowledge(&[last]);
        assert!(session.stored_answer(1000 + last).is_none());
    }

    #[test]
    fn duplicates_and_window() {
        let mut session = Session::new(1);
        assert!(session.mark_seen(40));
        assert!(!session.mark_seen(40));
        assert_eq!(session.seen_state(40), SeenState::Received);
        assert_eq!(session.seen_state(44), SeenState::NotReceived);
        for i in 1..=SEEN_MSG_IDS as i64 {
            session.mark_seen(100 + i * 4);
        }
        assert!(session.is_below_window(40));
        assert_eq!(session.seen_state(40), SeenState::TooOld);
    }
}
