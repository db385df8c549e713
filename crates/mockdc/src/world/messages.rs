//! Private-chat message boxes, as Telegram keeps them: every user has one box with its own
//! message ids and one `pts` sequence shared by all its private chats (and basic groups, later).
//! Every change is an event in the box's log, which `updates.getDifference` replays.

use std::collections::{BTreeMap, HashMap, VecDeque};

use grammers_tl_types as tl;

use super::{Fail, World};

/// Events kept per box for getDifference; a client further behind gets differenceTooLong.
pub const EVENT_LOG_CAPACITY: usize = 100_000;
/// At most this many messages per history page, as Telegram caps it.
pub const MAX_HISTORY_LIMIT: usize = 100;

/// One message in one user's box.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: i32,
    /// The other side of the private chat (the owner itself for Saved Messages).
    pub peer: i64,
    pub from: i64,
    pub out: bool,
    pub date: i32,
    pub text: String,
    pub entities: Vec<tl::enums::MessageEntity>,
    pub edit_date: Option<i32>,
    /// Original sender and date, for forwarded messages.
    pub fwd_from: Option<(i64, i32)>,
    /// The same message in the other party's box: (owner, id).
    pub twin: Option<(i64, i32)>,
}

/// What happened in a box, in pts order.
#[derive(Debug, Clone)]
pub enum Event {
    NewMessage(i32),
    EditMessage(i32),
    DeleteMessages(Vec<i32>),
    ReadInbox {
        peer: i64,
        max_id: i32,
        still_unread: i32,
    },
    ReadOutbox {
        peer: i64,
        max_id: i32,
    },
}

#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub pts: i32,
    pub pts_count: i32,
    pub date: i32,
    pub event: Event,
}

/// A private chat as its owner sees it.
#[derive(Debug, Clone, Default)]
pub struct Dialog {
    pub peer: i64,
    pub top_message: i32,
    pub top_date: i32,
    pub read_inbox_max_id: i32,
    pub read_outbox_max_id: i32,
    pub unread_count: i32,
}

/// One user's box.
#[derive(Debug, Default)]
pub struct Mailbox {
    pub pts: i32,
    last_id: i32,
    pub messages: BTreeMap<i32, StoredMessage>,
    pub log: VecDeque<LoggedEvent>,
    /// random_id → message id: a re-sent request returns the original message.
    random_ids: HashMap<i64, i32>,
    pub dialogs: HashMap<i64, Dialog>,
}

impl Mailbox {
    fn record(&mut self, pts_count: i32, date: i32, event: Event) -> i32 {
        self.pts += pts_count;
        self.log.push_back(LoggedEvent {
            pts: self.pts,
            pts_count,
            date,
            event,
        });
        while self.log.len() > EVENT_LOG_CAPACITY {
            self.log.pop_front();
        }
        self.pts
    }

    fn insert(&mut self, mut message: StoredMessage) -> (i32, i32) {
        self.last_id += 1;
        message.id = self.last_id;
        let dialog = self.dialogs.entry(message.peer).or_insert_with(|| Dialog {
            peer: message.peer,
            ..Default::default()
        });
        dialog.top_message = message.id;
        dialog.top_date = message.date;
        if !message.out {
            dialog.unread_count += 1;
        }
        let (id, date) = (message.id, message.date);
        self.messages.insert(id, message);
        (id, self.record(1, date, Event::NewMessage(id)))
    }

    /// The oldest pts getDifference can still answer from.
    pub fn oldest_pts(&self) -> i32 {
        self.log
            .front()
            .map(|e| e.pts - e.pts_count)
            .unwrap_or(self.pts)
    }

    fn dialog_messages(&self, peer: i64) -> impl DoubleEndedIterator<Item = &StoredMessage> {
        self.messages.values().filter(move |m| m.peer == peer)
    }

    fn refresh_dialog(&mut self, peer: i64) {
        let top = self
            .dialog_messages(peer)
            .next_back()
            .map(|m| (m.id, m.date));
        let read_inbox = self
            .dialogs
            .get(&peer)
            .map(|d| d.read_inbox_max_id)
            .unwrap_or(0);
        let unread = self
            .dialog_messages(peer)
            .filter(|m| !m.out && m.id > read_inbox)
            .count() as i32;
        match top {
            Some((id, date)) => {
                let dialog = self.dialogs.entry(peer).or_default();
                dialog.peer = peer;
                dialog.top_message = id;
                dialog.top_date = date;
                dialog.unread_count = unread;
            }
            None => {
                self.dialogs.remove(&peer);
            }
        }
    }
}

/// The same change seen in the other party's box: (owner, message id, that box's pts).
pub type Echo = Option<(i64, i32, i32)>;
/// Copies deleted in other boxes: (owner, ids, that box's pts).
pub type RevokedCopies = Vec<(i64, Vec<i32>, i32)>;

/// The result of sending: the sender's copy, and the recipient's when it is another user.
#[derive(Debug, Clone)]
pub struct Sent {
    pub sender_id: i32,
    pub sender_pts: i32,
    pub date: i32,
    /// True when the random_id was seen before: nothing new happened.
    pub duplicate: bool,
    pub recipient: Option<(i64, i32, i32)>,
}

/// Parameters of messages.getHistory, exactly as documented.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryQuery {
    pub offset_id: i32,
    pub offset_date: i32,
    pub add_offset: i32,
    pub limit: i32,
    pub max_id: i32,
    pub min_id: i32,
}

impl World {
    pub fn mailbox(&self, user_id: i64) -> Option<&Mailbox> {
        self.boxes.get(&user_id)
    }

    fn mailbox_mut(&mut self, user_id: i64) -> &mut Mailbox {
        self.boxes.entry(user_id).or_default()
    }

    pub fn pts_of(&self, user_id: i64) -> i32 {
        self.boxes.get(&user_id).map(|b| b.pts).unwrap_or(0)
    }

    /// A private message from `from` to `to` (to == from: Saved Messages).
    // The arguments are messages.sendMessage's own fields.
    #[allow(clippy::too_many_arguments)]
    pub fn send_message(
        &mut self,
        from: i64,
        to: i64,
        text: &str,
        entities: Vec<tl::enums::MessageEntity>,
        random_id: i64,
        fwd_from: Option<(i64, i32)>,
        now: i32,
    ) -> Result<Sent, Fail> {
        if text.is_empty() {
            return Err(Fail::new(400, "MESSAGE_EMPTY"));
        }
        if text.chars().count() > 4096 {
            return Err(Fail::new(400, "MESSAGE_TOO_LONG"));
        }
        let recipient = self
            .users
            .get(&to)
            .ok_or_else(|| Fail::new(400, "PEER_ID_INVALID"))?;
        if recipient.state != super::AccountState::Active {
            return Err(Fail::new(400, "INPUT_USER_DEACTIVATED"));
        }
        if let Some(&existing) = self.mailbox_mut(from).random_ids.get(&random_id) {
            let sender_box = &self.boxes[&from];
            let message = &sender_box.messages.get(&existing);
            return Ok(Sent {
                sender_id: existing,
                sender_pts: sender_box.pts,
                date: message.map(|m| m.date).unwrap_or(now),
                duplicate: true,
                recipient: message
                    .and_then(|m| m.twin)
                    .map(|(u, id)| (u, id, self.pts_of(u))),
            });
        }
        let template = StoredMessage {
            id: 0,
            peer: to,
            from,
            out: true,
            date: now,
            text: text.to_string(),
            entities,
            edit_date: None,
            fwd_from,
            twin: None,
        };
        let (sender_id, sender_pts) = self.mailbox_mut(from).insert(template.clone());
        let sender_box = self.mailbox_mut(from);
        sender_box.random_ids.insert(random_id, sender_id);
        if to == from {
            // Saved Messages: read as soon as written.
            if let Some(d) = sender_box.dialogs.get_mut(&to) {
                d.read_inbox_max_id = sender_id;
                d.read_outbox_max_id = sender_id;
                d.unread_count = 0;
            }
            return Ok(Sent {
                sender_id,
                sender_pts,
                date: now,
                duplicate: false,
                recipient: None,
            });
        }
        let (their_id, their_pts) = self.mailbox_mut(to).insert(StoredMessage {
            peer: from,
            out: false,
            twin: Some((from, sender_id)),
            ..template
        });
        if let Some(m) = self.mailbox_mut(from).messages.get_mut(&sender_id) {
            m.twin = Some((to, their_id));
        }
        Ok(Sent {
            sender_id,
            sender_pts,
            date: now,
            duplicate: false,
            recipient: Some((to, their_id, their_pts)),
        })
    }

    /// messages.getHistory: (page, total count in the chat).
    pub fn history(
        &self,
        user_id: i64,
        peer: i64,
        q: HistoryQuery,
    ) -> (Vec<&StoredMessage>, usize) {
        let Some(mailbox) = self.boxes.get(&user_id) else {
            return (Vec::new(), 0);
        };
        let all: Vec<&StoredMessage> = mailbox.dialog_messages(peer).rev().collect();
        let total = all.len();
        let filtered: Vec<&StoredMessage> = all
            .into_iter()
            .filter(|m| (q.max_id <= 0 || m.id < q.max_id) && (q.min_id <= 0 || m.id > q.min_id))
            .collect();
        let start = filtered
            .iter()
            // offset_id wins when both are given (clients such as grammers send both, taken
            // from the last message of the previous page).
            .position(|m| {
                if q.offset_id > 0 {
                    m.id < q.offset_id
                } else {
                    q.offset_date <= 0 || m.date < q.offset_date
                }
            })
            .unwrap_or(filtered.len()) as i64
            + q.add_offset as i64;
        let limit = (q.limit.max(0) as usize).min(MAX_HISTORY_LIMIT) as i64;
        let (from, to) = (start.max(0), (start + limit).max(0));
        let page = filtered
            .into_iter()
            .skip(from as usize)
            .take((to - from) as usize)
            .collect();
        (page, total)
    }

    /// Messages of the user's box whose text contains `query` (case-insensitive), newest first.
    pub fn search(
        &self,
        user_id: i64,
        peer: Option<i64>,
        query: &str,
        limit: usize,
    ) -> Vec<&StoredMessage> {
        let needle = query.to_lowercase();
        self.boxes
            .get(&user_id)
            .map(|b| {
                b.messages
                    .values()
                    .rev()
                    .filter(|m| {
                        peer.is_none_or(|p| m.peer == p) && m.text.to_lowercase().contains(&needle)
                    })
                    .take(limit.min(MAX_HISTORY_LIMIT))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn message(&self, user_id: i64, id: i32) -> Option<&StoredMessage> {
        self.boxes.get(&user_id)?.messages.get(&id)
    }

    /// Dialogs ordered by their last message, newest first; `(page, total)`.
    pub fn dialogs(
        &self,
        user_id: i64,
        offset_date: i32,
        offset_id: i32,
        limit: usize,
    ) -> (Vec<&Dialog>, usize) {
        let Some(mailbox) = self.boxes.get(&user_id) else {
            return (Vec::new(), 0);
        };
        let mut all: Vec<&Dialog> = mailbox.dialogs.values().collect();
        all.sort_by_key(|d| std::cmp::Reverse((d.top_date, d.top_message)));
        let total = all.len();
        let page = all
            .into_iter()
            .filter(|d| {
                offset_date <= 0
                    || (d.top_date, d.top_message) < (offset_date, offset_id.max(0))
                    || (offset_id <= 0 && d.top_date < offset_date)
            })
            .take(limit.min(MAX_HISTORY_LIMIT))
            .collect();
        (page, total)
    }

    /// messages.readHistory: the reader's inbox up to `max_id`; the other side's outbox follows.
    /// Returns (reader pts, the other side's (user, outbox max id, pts) if it changed).
    pub fn read_history(
        &mut self,
        reader: i64,
        peer: i64,
        max_id: i32,
        now: i32,
    ) -> (i32, Option<(i64, i32, i32)>) {
        let mailbox = self.mailbox_mut(reader);
        let top = mailbox
            .dialogs
            .get(&peer)
            .map(|d| d.top_message)
            .unwrap_or(0);
        let max_id = if max_id <= 0 { top } else { max_id.min(top) };
        let previous = mailbox
            .dialogs
            .get(&peer)
            .map(|d| d.read_inbox_max_id)
            .unwrap_or(0);
        if max_id <= previous {
            return (mailbox.pts, None);
        }
        // The highest of the other side's message ids that this read covers.
        let twin_max = mailbox
            .dialog_messages(peer)
            .filter(|m| !m.out && m.id <= max_id)
            .filter_map(|m| m.twin.map(|(_, id)| id))
            .max();
        let dialog = mailbox.dialogs.entry(peer).or_default();
        dialog.read_inbox_max_id = max_id;
        mailbox.refresh_dialog(peer);
        let still_unread = mailbox
            .dialogs
            .get(&peer)
            .map(|d| d.unread_count)
            .unwrap_or(0);
        let pts = mailbox.record(
            1,
            now,
            Event::ReadInbox {
                peer,
                max_id,
                still_unread,
            },
        );
        let other = match twin_max {
            Some(their_max) if peer != reader => {
                let theirs = self.mailbox_mut(peer);
                let dialog = theirs.dialogs.entry(reader).or_default();
                dialog.read_outbox_max_id = dialog.read_outbox_max_id.max(their_max);
                let their_pts = theirs.record(
                    1,
                    now,
                    Event::ReadOutbox {
                        peer: reader,
                        max_id: their_max,
                    },
                );
                Some((peer, their_max, their_pts))
            }
            _ => None,
        };
        (pts, other)
    }

    /// messages.editMessage on one's own message; the twin changes too.
    /// Returns (editor pts, the other side's (user, id, pts)).
    pub fn edit_message(
        &mut self,
        editor: i64,
        id: i32,
        text: &str,
        entities: Vec<tl::enums::MessageEntity>,
        now: i32,
    ) -> Result<(i32, Echo), Fail> {
        let mailbox = self
            .boxes
            .get_mut(&editor)
            .ok_or_else(|| Fail::new(400, "MESSAGE_ID_INVALID"))?;
        let message = mailbox
            .messages
            .get_mut(&id)
            .ok_or_else(|| Fail::new(400, "MESSAGE_ID_INVALID"))?;
        if !message.out {
            return Err(Fail::new(403, "MESSAGE_AUTHOR_REQUIRED"));
        }
        if text.is_empty() {
            return Err(Fail::new(400, "MESSAGE_EMPTY"));
        }
        if message.text == text && message.entities == entities {
            return Err(Fail::new(400, "MESSAGE_NOT_MODIFIED"));
        }
        message.text = text.to_string();
        message.entities = entities.clone();
        message.edit_date = Some(now);
        let twin = message.twin;
        let pts = mailbox.record(1, now, Event::EditMessage(id));
        let other = twin.and_then(|(owner, their_id)| {
            let theirs = self.boxes.get_mut(&owner)?;
            let m = theirs.messages.get_mut(&their_id)?;
            m.text = text.to_string();
            m.entities = entities;
            m.edit_date = Some(now);
            Some((
                owner,
                their_id,
                theirs.record(1, now, Event::EditMessage(their_id)),
            ))
        });
        Ok((pts, other))
    }

    /// messages.deleteMessages; with `revoke`, the other side's copies go too.
    /// Returns (deleter pts, pts_count, other sides' (user, ids, pts)).
    pub fn delete_messages(
        &mut self,
        user_id: i64,
        ids: &[i32],
        revoke: bool,
        now: i32,
    ) -> (i32, i32, RevokedCopies) {
        let mailbox = self.mailbox_mut(user_id);
        let mut deleted = Vec::new();
        let mut twins: HashMap<i64, Vec<i32>> = HashMap::new();
        let mut peers = Vec::new();
        for id in ids {
            if let Some(m) = mailbox.messages.remove(id) {
                deleted.push(*id);
                peers.push(m.peer);
                if let (true, Some((owner, twin_id))) = (revoke, m.twin) {
                    twins.entry(owner).or_default().push(twin_id);
                }
            }
        }
        for peer in peers {
            mailbox.refresh_dialog(peer);
        }
        if deleted.is_empty() {
            return (mailbox.pts, 0, Vec::new());
        }
        let count = deleted.len() as i32;
        let pts = mailbox.record(count, now, Event::DeleteMessages(deleted));
        let mut others = Vec::new();
        for (owner, their_ids) in twins {
            let theirs = self.mailbox_mut(owner);
            let removed: Vec<i32> = their_ids
                .into_iter()
                .filter(|id| theirs.messages.remove(id).is_some())
                .collect();
            theirs.refresh_dialog(user_id);
            if !removed.is_empty() {
                let their_pts = theirs.record(
                    removed.len() as i32,
                    now,
                    Event::DeleteMessages(removed.clone()),
                );
                others.push((owner, removed, their_pts));
            }
        }
        (pts, count, others)
    }

    /// Events after `pts` for getDifference: Err(current pts) when the client is too far behind.
    pub fn events_after(
        &self,
        user_id: i64,
        pts: i32,
        limit: usize,
        too_long: usize,
    ) -> Result<(Vec<&LoggedEvent>, bool), i32> {
        let Some(mailbox) = self.boxes.get(&user_id) else {
            return Ok((Vec::new(), false));
        };
        if pts < mailbox.oldest_pts() || (mailbox.pts - pts) as usize > too_long {
            return Err(mailbox.pts);
        }
        let pending: Vec<&LoggedEvent> = mailbox.log.iter().filter(|e| e.pts > pts).collect();
        let more = pending.len() > limit;
        Ok((pending.into_iter().take(limit).collect(), more))
    }
}
