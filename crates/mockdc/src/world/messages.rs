//! User message boxes, as Telegram keeps them: every user has one box with its own message ids
//! and one `pts` sequence shared by all its private chats and basic groups (channels have their
//! own boxes, see [`super::channels`]). Every change is an event in the box's log, which
//! `updates.getDifference` replays.

use std::collections::{BTreeMap, HashMap, VecDeque};

use grammers_tl_types as tl;

use super::chats::Action;
use super::peer::Peer;
use super::{Fail, World};

/// Events kept per box for getDifference; a client further behind gets differenceTooLong.
pub const EVENT_LOG_CAPACITY: usize = 100_000;
/// At most this many messages per history page, as Telegram caps it.
pub const MAX_HISTORY_LIMIT: usize = 100;

/// One message in one user's box, or in a channel's box.
///
/// With id 0 it is a *draft*: what a sender hands the world, whatever the destination.
#[derive(Debug, Clone, Default)]
pub struct StoredMessage {
    pub id: i32,
    /// Where it is: the other side of a private chat (the owner itself for Saved Messages), a
    /// basic group, or a channel.
    pub peer: Peer,
    /// The author: a user (for a channel post, the admin who posted it).
    pub from: i64,
    /// Whether the box owner sent it. A channel's messages are stored once with `out` false;
    /// [`StoredMessage::viewed_by`] gives each reader its own view.
    pub out: bool,
    pub date: i32,
    pub text: String,
    pub entities: Vec<tl::enums::MessageEntity>,
    pub edit_date: Option<i32>,
    /// Original sender and date, for forwarded messages.
    pub fwd_from: Option<(i64, i32)>,
    /// The same message in other users' boxes, (owner, id): the other party of a private chat,
    /// every other member of a basic group. Empty for channel messages (stored once).
    pub copies: Vec<(i64, i32)>,
    /// A channel post: shown as sent by the channel itself rather than by `from`.
    pub post: bool,
    /// A service message (group created, member added, ...) instead of a text.
    pub action: Option<Action>,
    /// A document or photo; `text` is then its caption. Shared, not copied: every box's copy
    /// points at the same stored file (and so sees its current file_reference).
    pub media: Option<std::sync::Arc<crate::files::StoredFile>>,
    /// Messages of one album (messages.sendMultiMedia) share this.
    pub grouped_id: Option<i64>,
}

impl StoredMessage {
    /// The message as `viewer` sees it: in a channel's shared box `out` depends on the reader.
    pub fn viewed_by(&self, viewer: i64) -> std::borrow::Cow<'_, StoredMessage> {
        if matches!(self.peer, Peer::Channel(_)) && self.out != (self.from == viewer) {
            let mut mine = self.clone();
            mine.out = self.from == viewer;
            std::borrow::Cow::Owned(mine)
        } else {
            std::borrow::Cow::Borrowed(self)
        }
    }
}

/// What happened in a box, in pts order.
#[derive(Debug, Clone)]
pub enum Event {
    NewMessage(i32),
    EditMessage(i32),
    DeleteMessages(Vec<i32>),
    ReadInbox {
        peer: Peer,
        max_id: i32,
        still_unread: i32,
    },
    ReadOutbox {
        peer: Peer,
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

/// A chat as its owner sees it (private chats and basic groups are kept in the owner's box;
/// channel dialogs are computed from the channel, see [`World::dialogs`]).
#[derive(Debug, Clone, Default)]
pub struct Dialog {
    pub peer: Peer,
    pub top_message: i32,
    pub top_date: i32,
    pub read_inbox_max_id: i32,
    pub read_outbox_max_id: i32,
    pub unread_count: i32,
    /// The channel's pts (channels only), so clients can start its update sequence.
    pub pts: Option<i32>,
}

/// One user's box.
#[derive(Debug, Default)]
pub struct Mailbox {
    pub pts: i32,
    last_id: i32,
    pub messages: BTreeMap<i32, StoredMessage>,
    pub log: VecDeque<LoggedEvent>,
    /// random_id → message id: a re-sent request returns the original message.
    pub(super) random_ids: HashMap<i64, i32>,
    pub dialogs: HashMap<Peer, Dialog>,
}

impl Mailbox {
    pub(super) fn record(&mut self, pts_count: i32, date: i32, event: Event) -> i32 {
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

    pub(super) fn insert(&mut self, mut message: StoredMessage) -> (i32, i32) {
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

    fn dialog_messages(&self, peer: Peer) -> impl DoubleEndedIterator<Item = &StoredMessage> {
        self.messages.values().filter(move |m| m.peer == peer)
    }

    pub(super) fn refresh_dialog(&mut self, peer: Peer) {
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

/// The same change seen in other boxes: (owner, message id, that box's pts).
pub type Echo = Vec<(i64, i32, i32)>;
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

    pub(super) fn mailbox_mut(&mut self, user_id: i64) -> &mut Mailbox {
        self.boxes.entry(user_id).or_default()
    }

    pub fn pts_of(&self, user_id: i64) -> i32 {
        self.boxes.get(&user_id).map(|b| b.pts).unwrap_or(0)
    }

    /// A private text message from `from` to `to` (to == from: Saved Messages).
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
        check_text(text)?;
        let draft = StoredMessage {
            text: text.to_string(),
            entities,
            fwd_from,
            ..Default::default()
        };
        self.send_private(from, to, draft, random_id, now)
    }

    /// Stores a draft (any content) in a private chat: the sender's copy and the recipient's.
    /// The caller has checked the content (see [`check_text`]).
    pub fn send_private(
        &mut self,
        from: i64,
        to: i64,
        draft: StoredMessage,
        random_id: i64,
        now: i32,
    ) -> Result<Sent, Fail> {
        let recipient = self
            .users
            .get(&to)
            .ok_or_else(|| Fail::new(400, "PEER_ID_INVALID"))?;
        if recipient.state != super::AccountState::Active {
            return Err(Fail::new(400, "INPUT_USER_DEACTIVATED"));
        }
        if to != from && self.is_blocked(from, Peer::User(to)) {
            return Err(Fail::new(400, "YOU_BLOCKED_USER"));
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
                    .and_then(|m| m.copies.first().copied())
                    .map(|(u, id)| (u, id, self.pts_of(u))),
            });
        }
        let template = StoredMessage {
            id: 0,
            peer: Peer::User(to),
            from,
            out: true,
            date: now,
            copies: Vec::new(),
            ..draft
        };
        let (sender_id, sender_pts) = self.mailbox_mut(from).insert(template.clone());
        let sender_box = self.mailbox_mut(from);
        sender_box.random_ids.insert(random_id, sender_id);
        // Saved Messages are read as soon as written; a recipient who blocked the sender never
        // gets the message (the sender sees it sent, as on Telegram).
        if to == from || self.is_blocked(to, Peer::User(from)) {
            if to == from {
                if let Some(d) = self.mailbox_mut(from).dialogs.get_mut(&Peer::User(to)) {
                    d.read_inbox_max_id = sender_id;
                    d.read_outbox_max_id = sender_id;
                    d.unread_count = 0;
                }
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
            peer: Peer::User(from),
            out: false,
            copies: vec![(from, sender_id)],
            ..template
        });
        if let Some(m) = self.mailbox_mut(from).messages.get_mut(&sender_id) {
            m.copies = vec![(to, their_id)];
        }
        Ok(Sent {
            sender_id,
            sender_pts,
            date: now,
            duplicate: false,
            recipient: Some((to, their_id, their_pts)),
        })
    }

    /// messages.getHistory of a private chat or basic group: (page, total count in the chat).
    pub fn history(
        &self,
        user_id: i64,
        peer: Peer,
        q: HistoryQuery,
    ) -> (Vec<&StoredMessage>, usize) {
        let Some(mailbox) = self.boxes.get(&user_id) else {
            return (Vec::new(), 0);
        };
        page_history(mailbox.dialog_messages(peer).rev().collect(), q)
    }

    /// Messages of the user's box whose text contains `query` (case-insensitive), newest first.
    pub fn search(
        &self,
        user_id: i64,
        peer: Option<Peer>,
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

    /// Every dialog of the user (private chats and basic groups from its box, and the channels
    /// it is in), ordered by last message, newest first; `(page, total)`. Pages continue after
    /// `(offset_date, offset_id, offset_peer)`, the last dialog of the previous page.
    pub fn dialogs(
        &self,
        user_id: i64,
        offset_date: i32,
        offset_id: i32,
        offset_peer: Option<Peer>,
        limit: usize,
    ) -> (Vec<Dialog>, usize) {
        let mut all: Vec<Dialog> = self
            .boxes
            .get(&user_id)
            .map(|b| b.dialogs.values().cloned().collect())
            .unwrap_or_default();
        all.extend(self.channel_dialogs(user_id));
        let key = |d: &Dialog| (d.top_date, d.top_message, d.peer);
        all.sort_by_key(|d| std::cmp::Reverse(key(d)));
        let total = all.len();
        let page = all
            .into_iter()
            .filter(|d| {
                offset_date <= 0
                    || match offset_peer {
                        Some(peer) => key(d) < (offset_date, offset_id.max(0), peer),
                        None => {
                            (d.top_date, d.top_message) < (offset_date, offset_id.max(0))
                                || (offset_id <= 0 && d.top_date < offset_date)
                        }
                    }
            })
            .take(limit.min(MAX_HISTORY_LIMIT))
            .collect();
        (page, total)
    }

    /// messages.readHistory of a private chat or basic group: the reader's inbox up to `max_id`;
    /// the senders' outboxes follow. Returns (reader pts, each sender's (user, the peer as that
    /// sender sees it, outbox max id, pts)).
    pub fn read_history(
        &mut self,
        reader: i64,
        peer: Peer,
        max_id: i32,
        now: i32,
    ) -> (i32, Vec<(i64, Peer, i32, i32)>) {
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
            return (mailbox.pts, Vec::new());
        }
        // Per sender, the highest of its own message ids that this read covers.
        let mut senders: BTreeMap<i64, i32> = BTreeMap::new();
        for m in mailbox
            .dialog_messages(peer)
            .filter(|m| !m.out && m.id > previous && m.id <= max_id)
        {
            if let Some(&(owner, id)) = m.copies.iter().find(|(owner, _)| *owner == m.from) {
                let best = senders.entry(owner).or_default();
                *best = (*best).max(id);
            }
        }
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
        let mut others = Vec::new();
        for (sender, their_max) in senders {
            if sender == reader {
                continue;
            }
            // In a private chat the sender sees the reader as the peer; in a group, the group.
            let their_peer = match peer {
                Peer::User(_) => Peer::User(reader),
                other => other,
            };
            let theirs = self.mailbox_mut(sender);
            let dialog = theirs.dialogs.entry(their_peer).or_default();
            if dialog.read_outbox_max_id >= their_max {
                continue;
            }
            dialog.read_outbox_max_id = their_max;
            let their_pts = theirs.record(
                1,
                now,
                Event::ReadOutbox {
                    peer: their_peer,
                    max_id: their_max,
                },
            );
            others.push((sender, their_peer, their_max, their_pts));
        }
        (pts, others)
    }

    /// messages.editMessage on one's own message in a private chat or basic group; every copy
    /// changes too. Returns (editor pts, the other copies' (owner, id, pts)).
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
        if !message.out || message.action.is_some() {
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
        let copies = message.copies.clone();
        let pts = mailbox.record(1, now, Event::EditMessage(id));
        let mut others = Vec::new();
        for (owner, their_id) in copies {
            let Some(theirs) = self.boxes.get_mut(&owner) else {
                continue;
            };
            let Some(m) = theirs.messages.get_mut(&their_id) else {
                continue;
            };
            m.text = text.to_string();
            m.entities = entities.clone();
            m.edit_date = Some(now);
            others.push((
                owner,
                their_id,
                theirs.record(1, now, Event::EditMessage(their_id)),
            ));
        }
        Ok((pts, others))
    }

    /// messages.deleteMessages in the user's box; with `revoke`, the other copies go too
    /// (in a basic group, other members' messages only for its admins).
    /// Returns (deleter pts, pts_count, other boxes' (user, ids, pts)).
    pub fn delete_messages(
        &mut self,
        user_id: i64,
        ids: &[i32],
        revoke: bool,
        now: i32,
    ) -> (i32, i32, RevokedCopies) {
        let may_revoke: Vec<bool> = ids
            .iter()
            .map(|id| {
                self.message(user_id, *id).is_some_and(|m| match m.peer {
                    Peer::Chat(chat) => m.out || self.is_group_admin(chat, user_id),
                    _ => true,
                })
            })
            .collect();
        let mailbox = self.mailbox_mut(user_id);
        let mut deleted = Vec::new();
        let mut copies: HashMap<i64, Vec<i32>> = HashMap::new();
        let mut peers = Vec::new();
        for (id, may_revoke) in ids.iter().zip(may_revoke) {
            if let Some(m) = mailbox.messages.remove(id) {
                deleted.push(*id);
                peers.push(m.peer);
                if revoke && may_revoke {
                    for (owner, copy_id) in m.copies {
                        copies.entry(owner).or_default().push(copy_id);
                    }
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
        for (owner, their_ids) in copies {
            let theirs = self.mailbox_mut(owner);
            let mut removed = Vec::new();
            let mut peers = Vec::new();
            for id in their_ids {
                if let Some(m) = theirs.messages.remove(&id) {
                    removed.push(id);
                    peers.push(m.peer);
                }
            }
            for peer in peers {
                theirs.refresh_dialog(peer);
            }
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

/// Telegram's limits on a text message: MESSAGE_EMPTY, MESSAGE_TOO_LONG (4096 characters).
pub fn check_text(text: &str) -> Result<(), Fail> {
    if text.is_empty() {
        return Err(Fail::new(400, "MESSAGE_EMPTY"));
    }
    if text.chars().count() > 4096 {
        return Err(Fail::new(400, "MESSAGE_TOO_LONG"));
    }
    Ok(())
}

/// One page of a chat's messages (`all` newest first) with messages.getHistory's documented
/// offset_id / offset_date / add_offset / limit / max_id / min_id semantics; `(page, total)`.
pub fn page_history(all: Vec<&StoredMessage>, q: HistoryQuery) -> (Vec<&StoredMessage>, usize) {
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
