//! A channel's own message box: one copy of every message, channel-local ids, a per-channel
//! `pts` sequence and an event log that `updates.getChannelDifference` replays
//! (core.telegram.org/api/updates: channels are separate message-related event sequences).

use grammers_tl_types as tl;

use super::chats::Role;
use super::messages::{
    page_history, Dialog, Event, HistoryQuery, LoggedEvent, StoredMessage, EVENT_LOG_CAPACITY,
    MAX_HISTORY_LIMIT,
};
use super::peer::Peer;
use super::{Fail, World};

/// getChannelDifference answers at most this many events per call, whatever the client asks.
pub const CHANNEL_DIFFERENCE_MAX_LIMIT: i32 = 100_000;
/// Seconds after which a client should ask getChannelDifference again (`timeout`), sent with
/// every final answer as Telegram does.
pub const CHANNEL_DIFFERENCE_TIMEOUT: i32 = 30;

/// What getChannelDifference finds after a client's pts.
#[derive(Debug)]
pub enum ChannelDifference<'a> {
    /// Nothing new; the channel's pts.
    Empty { pts: i32 },
    /// The client's pts is older than the log: it must refetch (the latest messages instead).
    TooLong { latest: Vec<&'a StoredMessage> },
    /// Events in order; `r#final` false when more remain after `pts`.
    Events {
        events: Vec<&'a LoggedEvent>,
        pts: i32,
        r#final: bool,
    },
}

/// Which participants channels.getParticipants lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantFilter {
    /// Every member, most recent joiners first.
    Recent,
    /// The creator and the admins.
    Admins,
    /// Kicked users (needs `ban_users`).
    Kicked(String),
    /// Restricted members (needs `ban_users`).
    Banned(String),
    /// Members whose name or username contains the query.
    Search(String),
    Bots,
    /// Members who are the viewer's contacts.
    Contacts(String),
}

/// What channels.readHistory changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRead {
    pub max_id: i32,
    pub still_unread: i32,
    /// Authors whose messages became read: `updateReadChannelOutbox` for them.
    pub authors: Vec<i64>,
}

impl World {
    /// Stores a message (a draft with `from` set) in the channel's box: (id, channel pts).
    pub(super) fn post_channel_message(
        &mut self,
        channel_id: i64,
        draft: StoredMessage,
        now: i32,
    ) -> (i32, i32) {
        let channel = self
            .social
            .channels
            .get_mut(&channel_id)
            .expect("caller checked the channel");
        channel.last_id += 1;
        let id = channel.last_id;
        channel.messages.insert(
            id,
            StoredMessage {
                id,
                peer: Peer::Channel(channel_id),
                out: false,
                date: now,
                copies: Vec::new(),
                ..draft
            },
        );
        // The author has read its own message.
        let author = channel.messages[&id].from;
        if let Some(m) = channel.members.get_mut(&author) {
            m.read_inbox_max_id = id;
        }
        let pts = record(channel, 1, now, Event::NewMessage(id));
        (id, pts)
    }

    /// The channel if `viewer` may read it (CHANNEL_INVALID, CHANNEL_PRIVATE otherwise).
    pub fn channel_for_read(
        &self,
        viewer: i64,
        channel_id: i64,
        now: i32,
    ) -> Result<&super::chats::Channel, Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(viewer, now)?;
        Ok(channel)
    }

    pub fn channel_message(&self, channel_id: i64, id: i32) -> Option<&StoredMessage> {
        self.channel(channel_id)?.messages.get(&id)
    }

    /// messages.getHistory of a channel: (page, total).
    pub fn channel_history(
        &self,
        viewer: i64,
        channel_id: i64,
        q: HistoryQuery,
        now: i32,
    ) -> Result<(Vec<&StoredMessage>, usize), Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(viewer, now)?;
        Ok(page_history(channel.messages.values().rev().collect(), q))
    }

    /// messages.search in a channel (case-insensitive substring), newest first.
    pub fn channel_search(
        &self,
        viewer: i64,
        channel_id: i64,
        query: &str,
        limit: usize,
        now: i32,
    ) -> Result<Vec<&StoredMessage>, Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(viewer, now)?;
        let needle = query.to_lowercase();
        Ok(channel
            .messages
            .values()
            .rev()
            .filter(|m| m.action.is_none() && m.text.to_lowercase().contains(&needle))
            .take(limit.min(MAX_HISTORY_LIMIT))
            .collect())
    }

    /// channels.getMessages.
    pub fn channel_messages(
        &self,
        viewer: i64,
        channel_id: i64,
        ids: &[i32],
        now: i32,
    ) -> Result<Vec<&StoredMessage>, Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(viewer, now)?;
        Ok(ids
            .iter()
            .filter_map(|id| channel.messages.get(id))
            .collect())
    }

    /// messages.editMessage in a channel: the author, or in a broadcast an admin with
    /// `edit_messages`. Returns the channel pts.
    pub fn edit_channel_message(
        &mut self,
        editor: i64,
        channel_id: i64,
        id: i32,
        text: &str,
        entities: Vec<tl::enums::MessageEntity>,
        now: i32,
    ) -> Result<i32, Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(editor, now)?;
        let message = channel
            .messages
            .get(&id)
            .ok_or_else(|| Fail::new(400, "MESSAGE_ID_INVALID"))?;
        let may = message.action.is_none()
            && (message.from == editor
                || (channel.broadcast && channel.has_right(editor, |r| r.edit_messages)));
        if !may {
            return Err(Fail::new(403, "MESSAGE_AUTHOR_REQUIRED"));
        }
        if text.is_empty() {
            return Err(Fail::new(400, "MESSAGE_EMPTY"));
        }
        if message.text == text && message.entities == entities {
            return Err(Fail::new(400, "MESSAGE_NOT_MODIFIED"));
        }
        let channel = self.social.channels.get_mut(&channel_id).expect("checked");
        let message = channel.messages.get_mut(&id).expect("checked");
        message.text = text.to_string();
        message.entities = entities;
        message.edit_date = Some(now);
        Ok(record(channel, 1, now, Event::EditMessage(id)))
    }

    /// channels.deleteMessages: one's own messages (megagroups), or any with `delete_messages`.
    /// Returns (channel pts, pts_count, the ids deleted).
    pub fn delete_channel_messages(
        &mut self,
        user: i64,
        channel_id: i64,
        ids: &[i32],
        now: i32,
    ) -> Result<(i32, i32, Vec<i32>), Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(user, now)?;
        let moderator = channel.has_right(user, |r| r.delete_messages);
        for id in ids {
            if let Some(m) = channel.messages.get(id) {
                // Members delete their own messages; moderators any (service messages too).
                let own = m.from == user && m.action.is_none() && channel.is_member(user);
                if !(moderator || own) {
                    return Err(Fail::new(403, "MESSAGE_DELETE_FORBIDDEN"));
                }
            }
        }
        let channel = self.social.channels.get_mut(&channel_id).expect("checked");
        let deleted: Vec<i32> = ids
            .iter()
            .copied()
            .filter(|id| channel.messages.remove(id).is_some())
            .collect();
        if deleted.is_empty() {
            return Ok((channel.pts, 0, deleted));
        }
        let count = deleted.len() as i32;
        let pts = record(channel, count, now, Event::DeleteMessages(deleted.clone()));
        Ok((pts, count, deleted))
    }

    /// channels.readHistory: the member's read position (and everyone's read outbox).
    pub fn read_channel_history(
        &mut self,
        reader: i64,
        channel_id: i64,
        max_id: i32,
        now: i32,
    ) -> Result<Option<ChannelRead>, Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(reader, now)?;
        if !channel.is_member(reader) {
            return Err(Fail::new(400, "CHANNEL_PRIVATE"));
        }
        let top = channel.last_id;
        let max_id = if max_id <= 0 { top } else { max_id.min(top) };
        let previous = channel.members[&reader].read_inbox_max_id;
        if max_id <= previous {
            return Ok(None);
        }
        let old_read_max = channel.read_max;
        let mut authors: Vec<i64> = channel
            .messages
            .range(old_read_max + 1..=max_id)
            .map(|(_, m)| m.from)
            .filter(|a| *a != reader)
            .collect();
        authors.sort();
        authors.dedup();
        let channel = self.social.channels.get_mut(&channel_id).expect("checked");
        channel
            .members
            .get_mut(&reader)
            .expect("member")
            .read_inbox_max_id = max_id;
        channel.read_max = channel.read_max.max(max_id);
        let still_unread = channel.unread_count(reader);
        Ok(Some(ChannelRead {
            max_id,
            still_unread,
            authors,
        }))
    }

    /// The dialog of one channel as a member sees it.
    pub fn channel_dialog(&self, user: i64, channel_id: i64) -> Option<Dialog> {
        let channel = self.channel(channel_id)?;
        let member = channel.members.get(&user)?;
        let top = channel.messages.values().next_back();
        Some(Dialog {
            peer: Peer::Channel(channel_id),
            top_message: top.map(|m| m.id).unwrap_or(0),
            top_date: top.map(|m| m.date).unwrap_or(channel.date),
            read_inbox_max_id: member.read_inbox_max_id,
            read_outbox_max_id: channel.read_max,
            unread_count: channel.unread_count(user),
            pts: Some(channel.pts),
        })
    }

    /// Every channel the user is in, as dialogs.
    pub fn channel_dialogs(&self, user: i64) -> Vec<Dialog> {
        self.social
            .channels
            .values()
            .filter(|c| c.is_member(user))
            .filter_map(|c| self.channel_dialog(user, c.id))
            .collect()
    }

    /// The dialog of any peer (getPeerDialogs).
    pub fn dialog_of(&self, user: i64, peer: Peer) -> Option<Dialog> {
        match peer {
            Peer::Channel(id) => self.channel_dialog(user, id),
            other => self.mailbox(user)?.dialogs.get(&other).cloned(),
        }
    }

    /// A dialog's top message, as the user sees it.
    pub fn top_message(&self, user: i64, dialog: &Dialog) -> Option<&StoredMessage> {
        match dialog.peer {
            Peer::Channel(id) => self.channel_message(id, dialog.top_message),
            _ => self.message(user, dialog.top_message),
        }
    }

    /// updates.getChannelDifference for a member from `pts`, at most `limit` events.
    pub fn channel_difference(
        &self,
        viewer: i64,
        channel_id: i64,
        pts: i32,
        limit: i32,
        now: i32,
    ) -> Result<ChannelDifference<'_>, Fail> {
        let channel = self.channel_for(channel_id)?;
        if channel.is_kicked(viewer, now)
            || !(channel.is_member(viewer) || channel.username.is_some())
        {
            // Documented as 406 for this method (grammers then forgets the channel's state).
            return Err(Fail::new(406, "CHANNEL_PRIVATE"));
        }
        if pts <= 0 {
            return Err(Fail::new(400, "PERSISTENT_TIMESTAMP_EMPTY"));
        }
        if pts > channel.pts {
            return Err(Fail::new(400, "PERSISTENT_TIMESTAMP_INVALID"));
        }
        let limit = if limit <= 0 {
            MAX_HISTORY_LIMIT as i32
        } else {
            limit.min(CHANNEL_DIFFERENCE_MAX_LIMIT)
        } as usize;
        let oldest = channel
            .log
            .front()
            .map(|e| e.pts - e.pts_count)
            .unwrap_or(channel.pts);
        if pts < oldest {
            return Ok(ChannelDifference::TooLong {
                latest: channel
                    .messages
                    .values()
                    .rev()
                    .take(limit.min(MAX_HISTORY_LIMIT))
                    .collect(),
            });
        }
        if pts == channel.pts {
            return Ok(ChannelDifference::Empty { pts });
        }
        let pending: Vec<&LoggedEvent> = channel.log.iter().filter(|e| e.pts > pts).collect();
        let more = pending.len() > limit;
        let events: Vec<&LoggedEvent> = pending.into_iter().take(limit).collect();
        let reached = events.last().map(|e| e.pts).unwrap_or(pts);
        Ok(ChannelDifference::Events {
            events,
            pts: reached,
            r#final: !more,
        })
    }

    /// channels.getParticipants: (page of (user, participant), total matching). Broadcast
    /// subscribers are visible to admins only; bans to admins who may ban.
    pub fn channel_participants(
        &self,
        viewer: i64,
        channel_id: i64,
        filter: &ParticipantFilter,
        offset: usize,
        limit: usize,
        now: i32,
    ) -> Result<(Vec<(i64, super::chats::Participant)>, usize), Fail> {
        use super::chats::Participant;
        let channel = self.channel_for_read(viewer, channel_id, now)?;
        let admin = channel.admin_rights(viewer).is_some();
        if channel.broadcast && !admin {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        let matches = |user: i64, q: &str| {
            let q = q.to_lowercase();
            q.is_empty()
                || self.user(user).is_some_and(|u| {
                    u.first_name.to_lowercase().contains(&q)
                        || u.last_name
                            .as_deref()
                            .is_some_and(|n| n.to_lowercase().contains(&q))
                        || u.username
                            .as_deref()
                            .is_some_and(|n| n.to_lowercase().contains(&q))
                })
        };
        let mut all: Vec<(i64, i32, Participant)> = match filter {
            ParticipantFilter::Kicked(q) | ParticipantFilter::Banned(q) => {
                if !channel.has_right(viewer, |r| r.ban_users) {
                    return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
                }
                let kicked = matches!(filter, ParticipantFilter::Kicked(_));
                channel
                    .bans
                    .iter()
                    .filter(|(_, b)| b.rights.view_messages == kicked)
                    .filter(|(u, _)| channel.ban(**u, now).is_some() && matches(**u, q))
                    .map(|(u, b)| (*u, b.date, Participant::Banned(b.clone())))
                    .collect()
            }
            _ => channel
                .members
                .iter()
                .filter(|(u, m)| match filter {
                    ParticipantFilter::Admins => !matches!(m.role, Role::Member),
                    ParticipantFilter::Search(q) => matches(**u, q),
                    ParticipantFilter::Bots => self.user(**u).is_some_and(|u| u.bot),
                    ParticipantFilter::Contacts(q) => {
                        self.contact(viewer, **u).is_some() && matches(**u, q)
                    }
                    _ => true,
                })
                .map(|(u, m)| (*u, m.date, Participant::Member(m.clone())))
                .collect(),
        };
        all.sort_by_key(|(u, date, _)| std::cmp::Reverse((*date, *u)));
        let total = all.len();
        let page = all
            .into_iter()
            .skip(offset)
            .take(limit.min(200))
            .map(|(u, _, p)| (u, p))
            .collect();
        Ok((page, total))
    }

    /// The admins of a channel who should hear about membership changes (creator included).
    pub fn channel_admins(&self, channel_id: i64) -> Vec<i64> {
        self.channel(channel_id)
            .map(|c| {
                c.members
                    .iter()
                    .filter(|(_, m)| !matches!(m.role, Role::Member))
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn record(channel: &mut super::chats::Channel, pts_count: i32, date: i32, event: Event) -> i32 {
    channel.pts += pts_count;
    channel.log.push_back(LoggedEvent {
        pts: channel.pts,
        pts_count,
        date,
        event,
    });
    while channel.log.len() > EVENT_LOG_CAPACITY {
        channel.log.pop_front();
    }
    channel.pts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::chats::NewChannel;
    use crate::world::{NewUser, WorldConfig};

    #[test]
    fn channel_difference_pages_with_final_and_too_long() {
        let mut world = World::new(WorldConfig::default());
        let owner = world
            .create_user(
                NewUser {
                    phone: "15557100001".into(),
                    first_name: "Owner".into(),
                    ..Default::default()
                },
                2,
            )
            .unwrap()
            .id;
        let (ch, _, pts) = world
            .create_channel(
                owner,
                NewChannel {
                    title: "Feed".into(),
                    broadcast: true,
                    ..Default::default()
                },
                1,
            )
            .unwrap();
        for i in 0..250 {
            world
                .post_as_channel(ch, None, &format!("post {i}"), 2)
                .unwrap();
        }
        assert_eq!(world.channel(ch).unwrap().pts, 251);
        let ChannelDifference::Events {
            events,
            pts: reached,
            r#final,
        } = world.channel_difference(owner, ch, pts, 100, 3).unwrap()
        else {
            panic!("events expected")
        };
        assert_eq!((events.len(), reached, r#final), (100, 101, false));
        let ChannelDifference::Events { r#final, pts, .. } =
            world.channel_difference(owner, ch, 201, 100, 3).unwrap()
        else {
            panic!("events expected")
        };
        assert_eq!((pts, r#final), (251, true));
        assert!(matches!(
            world.channel_difference(owner, ch, 251, 100, 3).unwrap(),
            ChannelDifference::Empty { pts: 251 }
        ));
        assert_eq!(
            world
                .channel_difference(owner, ch, 252, 100, 3)
                .unwrap_err()
                .name,
            "PERSISTENT_TIMESTAMP_INVALID"
        );
        // Someone who is not in the (private) channel cannot ask.
        let outsider = world
            .create_user(
                NewUser {
                    phone: "15557100002".into(),
                    first_name: "Out".into(),
                    ..Default::default()
                },
                2,
            )
            .unwrap()
            .id;
        assert_eq!(
            world
                .channel_difference(outsider, ch, 1, 100, 3)
                .unwrap_err(),
            Fail::new(406, "CHANNEL_PRIVATE")
        );
        // A log trimmed past the client's pts: channelDifferenceTooLong with the latest posts.
        world.social.channels.get_mut(&ch).unwrap().log.drain(..200);
        assert!(matches!(
            world.channel_difference(owner, ch, 5, 10, 3).unwrap(),
            ChannelDifference::TooLong { latest } if latest.len() == 10 && latest[0].id == 251
        ));
    }
}
