//! Messages in every kind of chat and their updates: `messages.*` and
//! `updates.getState/getDifference`.
//!
//! Private chats and basic groups live in each user's box (common pts); channels in their own
//! box (channel pts). Every change pushes updates to the other online sessions of the users
//! involved, with the same pts the change got in each box, so a client that misses a push finds
//! the event again in `updates.getDifference` / `updates.getChannelDifference`.

use grammers_tl_types::{self as tl, Cursor, Identifiable, Serializable};

use super::encode::{self, Layered};
use super::peers::{self, Mentions};
use super::{decode, CallContext, Handled};
use crate::connection::PendingPush;
use crate::world::messages::{check_text, Event, HistoryQuery, StoredMessage};
use crate::world::{Fail, Peer, World};

/// getDifference answers at most this many events at once (differenceSlice beyond)...
pub const DIFFERENCE_LIMIT: usize = 100;
/// ...and differenceTooLong when the client is further behind than this.
pub const DIFFERENCE_TOO_LONG: usize = 10_000;

pub(super) use super::peers::resolve_peer;

/// The users and chats some messages name, as `viewer` sees them.
fn mentioned(
    world: &World,
    viewer: i64,
    messages: &[&StoredMessage],
    now: i32,
) -> (Vec<tl::enums::User>, Vec<tl::enums::Chat>) {
    let mut mentions = Mentions::default();
    mentions.messages(messages.iter().copied());
    mentions.encode(world, viewer, now)
}

fn state(world: &World, user_id: i64, now: i32) -> tl::enums::updates::State {
    let unread = world
        .mailbox(user_id)
        .map(|b| b.dialogs.values().map(|d| d.unread_count).sum())
        .unwrap_or(0);
    tl::enums::updates::State::State(tl::types::updates::State {
        pts: world.pts_of(user_id),
        qts: 0,
        date: now,
        // seq stays 0: every update the mock sends carries pts, so no seq ordering is needed.
        seq: 0,
        unread_count: unread,
    })
}

fn affected(pts: i32, pts_count: i32) -> Vec<u8> {
    tl::enums::messages::AffectedMessages::Messages(tl::types::messages::AffectedMessages {
        pts,
        pts_count,
    })
    .to_bytes()
}

/// `updates` wrapping some updates, with the users and chats they mention.
fn updates(
    updates: Vec<tl::enums::Update>,
    (users, chats): (Vec<tl::enums::User>, Vec<tl::enums::Chat>),
    date: i32,
) -> tl::enums::Updates {
    tl::enums::Updates::Updates(tl::types::Updates {
        updates,
        users,
        chats,
        date,
        seq: 0,
    })
}

/// Queues `body` for `user_id`'s online sessions, each getting it in its own layer.
fn push(ctx: &mut CallContext<'_>, user_id: i64, skip_requester: bool, body: tl::enums::Updates) {
    ctx.pushes.push(PendingPush {
        user_id,
        skip_requester,
        push: encode::push_of(body),
    });
}

/// `updateShortMessage` for a private message as `owner` sees it.
fn short_message(m: &StoredMessage, pts: i32) -> tl::enums::Updates {
    tl::enums::Updates::UpdateShortMessage(tl::types::UpdateShortMessage {
        out: m.out,
        mentioned: false,
        media_unread: false,
        silent: false,
        id: m.id,
        user_id: m.peer.user_id().unwrap_or(m.from),
        message: m.text.clone(),
        pts,
        pts_count: 1,
        date: m.date,
        fwd_from: None,
        via_bot_id: None,
        reply_to: None,
        entities: (!m.entities.is_empty()).then(|| m.entities.clone()),
        ttl_period: None,
    })
}

/// Pushes a new message to its owner's sessions (all but the requester's for the sender).
///
/// The sender's other sessions get the compact `updateShortMessage` for a plain private text:
/// they know the recipient. Everything else goes as `updates` with the users and chats
/// involved, so a client that never saw the sender or the group can still resolve it
/// (Telegram sends short updates only when the client knows every peer).
fn push_new_message(
    ctx: &mut CallContext<'_>,
    world: &World,
    owner: i64,
    id: i32,
    pts: i32,
    skip_requester: bool,
) {
    let Some(m) = world.message(owner, id) else {
        return;
    };
    // updateShortMessage has no media field: media always goes as a full updateNewMessage.
    let plain = m.fwd_from.is_none()
        && m.out
        && m.action.is_none()
        && m.media.is_none()
        && m.peer.user_id().is_some();
    let body = if plain {
        short_message(m, pts)
    } else {
        updates(
            vec![tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
                message: encode::message(m),
                pts,
                pts_count: 1,
            })],
            mentioned(world, owner, &[m], ctx.now_secs),
            m.date,
        )
    };
    push(ctx, owner, skip_requester, body);
}

/// A message stored in its destination: where, its id for the sender, and the pts (the
/// sender's box for private chats and groups, the channel's for channels).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivered {
    pub peer: Peer,
    pub id: i32,
    pub pts: i32,
    pub date: i32,
}

/// Sends a draft (any content: text, a forward, media) to any destination, queueing the
/// pushes for everyone else. One path for every `messages.send*` method.
pub(crate) fn deliver(
    ctx: &mut CallContext<'_>,
    world: &mut World,
    me: i64,
    to: Peer,
    draft: StoredMessage,
    random_id: i64,
) -> Result<Delivered, Fail> {
    let now = ctx.now_secs;
    Ok(match to {
        Peer::User(user) => {
            let sent = world.send_private(me, user, draft, random_id, now)?;
            if !sent.duplicate {
                push_new_message(ctx, world, me, sent.sender_id, sent.sender_pts, true);
                if let Some((owner, their_id, their_pts)) = sent.recipient {
                    push_new_message(ctx, world, owner, their_id, their_pts, false);
                }
            }
            Delivered {
                peer: to,
                id: sent.sender_id,
                pts: sent.sender_pts,
                date: sent.date,
            }
        }
        Peer::Chat(chat) => {
            let (id, pts, duplicate, copies) =
                world.send_to_group(me, chat, draft, random_id, now)?;
            if !duplicate {
                peers::push_group_copies(ctx, world, &[(me, id, pts)], Some(me));
                peers::push_group_copies(ctx, world, &copies, None);
            }
            let date = world.message(me, id).map(|m| m.date).unwrap_or(now);
            Delivered {
                peer: to,
                id,
                pts,
                date,
            }
        }
        Peer::Channel(channel) => {
            let (id, pts, duplicate) = world.send_to_channel(me, channel, draft, random_id, now)?;
            if !duplicate {
                peers::push_channel_message(ctx, world, channel, id, pts, Some(me));
            }
            let date = world
                .channel_message(channel, id)
                .map(|m| m.date)
                .unwrap_or(now);
            Delivered {
                peer: to,
                id,
                pts,
                date,
            }
        }
    })
}

/// The sender's view of a delivered message as an update (`updateNewMessage` or
/// `updateNewChannelMessage`) and the message itself.
fn delivered_update<'w>(
    world: &'w World,
    me: i64,
    d: &Delivered,
) -> Option<(tl::enums::Update, &'w StoredMessage)> {
    match d.peer {
        Peer::Channel(channel) => {
            let m = world.channel_message(channel, d.id)?;
            Some((
                peers::new_channel_message_update(world, me, channel, d.id, d.pts)?,
                m,
            ))
        }
        _ => Some((
            peers::new_message_update(world, me, d.id, d.pts)?,
            world.message(me, d.id)?,
        )),
    }
}

/// `updates` answering a send: `updateMessageID` + the new message for each delivery (what
/// grammers maps random ids through), with the users and chats they mention.
pub(crate) fn delivered_updates(
    world: &World,
    me: i64,
    deliveries: &[(Delivered, i64)],
    now: i32,
) -> tl::enums::Updates {
    let mut list = Vec::new();
    let mut mentions = Mentions::default();
    for (d, random_id) in deliveries {
        list.push(tl::enums::Update::MessageId(tl::types::UpdateMessageId {
            id: d.id,
            random_id: *random_id,
        }));
        if let Some((update, m)) = delivered_update(world, me, d) {
            list.push(update);
            mentions.message(m);
        }
        mentions.peer(d.peer);
    }
    peers::updates_for(world, me, list, &mentions, now)
}

/// A message of `peer` as `me` may read it (its own box, or the channel's).
fn message_in(
    world: &World,
    me: i64,
    peer: Peer,
    id: i32,
    now: i32,
) -> Result<&StoredMessage, Fail> {
    let found = match peer {
        Peer::Channel(channel) => {
            world.channel_for_read(me, channel, now)?;
            world.channel_message(channel, id)
        }
        _ => world.message(me, id).filter(|m| m.peer == peer),
    };
    found.ok_or_else(|| Fail::new(400, "MESSAGE_ID_INVALID"))
}

/// Answers the methods of this module; `None` for any other constructor.
pub(super) fn handle(ctx: &mut CallContext<'_>, id: u32, cursor: &mut Cursor) -> Option<Handled> {
    use tl::functions::{messages, updates as upd};
    let now = ctx.now_secs;
    let key_id = ctx.key_id;
    let cluster = ctx.cluster;
    let layer = ctx.session.layer;
    let mut guard = cluster.world();
    let world = &mut *guard;
    Some(match id {
        messages::SendMessage::CONSTRUCTOR_ID => (|| {
            let request: messages::SendMessage = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let to = resolve_peer(world, me, &request.peer)?;
            check_text(&request.message)?;
            let draft = StoredMessage {
                text: request.message.clone(),
                entities: request.entities.unwrap_or_default(),
                ..Default::default()
            };
            let d = deliver(ctx, world, me, to, draft, request.random_id)?;
            if let Peer::Channel(_) = to {
                // Channel messages answer `updates` with the channel's pts.
                return Ok(
                    delivered_updates(world, me, &[(d, request.random_id)], now).encode_for(layer)
                );
            }
            let m = world.message(me, d.id);
            Ok(
                tl::enums::Updates::UpdateShortSentMessage(tl::types::UpdateShortSentMessage {
                    out: true,
                    id: d.id,
                    pts: d.pts,
                    pts_count: 1,
                    date: d.date,
                    media: None,
                    entities: m
                        .filter(|m| !m.entities.is_empty())
                        .map(|m| m.entities.clone()),
                    ttl_period: None,
                })
                .encode_for(layer),
            )
        })(),
        messages::ForwardMessages::CONSTRUCTOR_ID => (|| {
            let request: messages::ForwardMessages = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let from = resolve_peer(world, me, &request.from_peer)?;
            let to = resolve_peer(world, me, &request.to_peer)?;
            if request.id.len() != request.random_id.len() || request.id.is_empty() {
                return Err(Fail::new(400, "RANDOM_ID_INVALID"));
            }
            let mut deliveries = Vec::new();
            for (id, random_id) in request.id.iter().zip(&request.random_id) {
                let original = message_in(world, me, from, *id, now)?.clone();
                if original.action.is_some() {
                    return Err(Fail::new(400, "MESSAGE_ID_INVALID"));
                }
                let origin = original.fwd_from.unwrap_or((original.from, original.date));
                let draft = StoredMessage {
                    text: original.text.clone(),
                    entities: original.entities.clone(),
                    fwd_from: Some(origin),
                    // Forwards carry the same document or photo (Telegram keeps one copy).
                    media: original.media.clone(),
                    ..Default::default()
                };
                let d = deliver(ctx, world, me, to, draft, *random_id)?;
                deliveries.push((d, *random_id));
            }
            let mut answer = delivered_updates(world, me, &deliveries, now);
            if let tl::enums::Updates::Updates(u) = &mut answer {
                // The source chat's peers too (grammers resolves both sides).
                let mut mentions = Mentions::default();
                mentions.peer(from);
                let (users, chats) = mentions.encode(world, me, now);
                for user in users {
                    if !u.users.iter().any(|x| x.id() == user.id()) {
                        u.users.push(user);
                    }
                }
                for chat in chats {
                    if !u.chats.iter().any(|x| x.id() == chat.id()) {
                        u.chats.push(chat);
                    }
                }
            }
            Ok(answer.encode_for(layer))
        })(),
        messages::EditMessage::CONSTRUCTOR_ID => (|| {
            let request: messages::EditMessage = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = resolve_peer(world, me, &request.peer)?;
            message_in(world, me, peer, request.id, now)?;
            let text = request.message.unwrap_or_default();
            let entities = request.entities.unwrap_or_default();
            if let Peer::Channel(channel) = peer {
                let pts =
                    world.edit_channel_message(me, channel, request.id, &text, entities, now)?;
                let edited = |viewer: i64| {
                    let m = world.channel_message(channel, request.id).expect("edited");
                    tl::enums::Update::EditChannelMessage(tl::types::UpdateEditChannelMessage {
                        message: encode::message(&m.viewed_by(viewer)),
                        pts,
                        pts_count: 1,
                    })
                };
                peers::push_channel_update(ctx, world, channel, Some(me), edited);
                let mut mentions = Mentions::default();
                mentions.message(world.channel_message(channel, request.id).expect("edited"));
                return Ok(
                    peers::updates_for(world, me, vec![edited(me)], &mentions, now)
                        .encode_for(layer),
                );
            }
            let (pts, others) = world.edit_message(me, request.id, &text, entities, now)?;
            let edit = |world: &World, owner: i64, id: i32, pts: i32| {
                let m = world.message(owner, id).expect("edited message exists");
                updates(
                    vec![tl::enums::Update::EditMessage(
                        tl::types::UpdateEditMessage {
                            message: encode::message(m),
                            pts,
                            pts_count: 1,
                        },
                    )],
                    mentioned(world, owner, &[m], now),
                    now,
                )
            };
            let mine = edit(world, me, request.id, pts);
            push(ctx, me, true, mine.clone());
            for (owner, their_id, their_pts) in others {
                let theirs = edit(world, owner, their_id, their_pts);
                push(ctx, owner, false, theirs);
            }
            Ok(mine.encode_for(layer))
        })(),
        messages::DeleteMessages::CONSTRUCTOR_ID => (|| {
            let request: messages::DeleteMessages = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let (pts, count, others) = world.delete_messages(me, &request.id, request.revoke, now);
            let deleted = |ids: Vec<i32>, pts: i32, count: i32| {
                tl::enums::Updates::UpdateShort(tl::types::UpdateShort {
                    update: tl::enums::Update::DeleteMessages(tl::types::UpdateDeleteMessages {
                        messages: ids,
                        pts,
                        pts_count: count,
                    }),
                    date: now,
                })
            };
            if count > 0 {
                let ids: Vec<i32> = request.id.clone();
                push(ctx, me, true, deleted(ids, pts, count));
            }
            for (owner, ids, their_pts) in others {
                let n = ids.len() as i32;
                push(ctx, owner, false, deleted(ids, their_pts, n));
            }
            Ok(affected(pts, count))
        })(),
        messages::ReadHistory::CONSTRUCTOR_ID => (|| {
            let request: messages::ReadHistory = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = resolve_peer(world, me, &request.peer)?;
            if let Peer::Channel(_) = peer {
                // Channels are read with channels.readHistory.
                return Err(Fail::new(400, "PEER_ID_INVALID"));
            }
            let before = world.pts_of(me);
            let (pts, others) = world.read_history(me, peer, request.max_id, now);
            for (owner, their_peer, max_id, their_pts) in others {
                let body = tl::enums::Updates::UpdateShort(tl::types::UpdateShort {
                    update: tl::enums::Update::ReadHistoryOutbox(
                        tl::types::UpdateReadHistoryOutbox {
                            peer: peers::peer(their_peer),
                            max_id,
                            pts: their_pts,
                            pts_count: 1,
                        },
                    ),
                    date: now,
                });
                push(ctx, owner, false, body);
            }
            Ok(affected(pts, pts - before))
        })(),
        messages::GetHistory::CONSTRUCTOR_ID => (|| {
            let request: messages::GetHistory = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = resolve_peer(world, me, &request.peer)?;
            let q = HistoryQuery {
                offset_id: request.offset_id,
                offset_date: request.offset_date,
                add_offset: request.add_offset,
                limit: request.limit,
                max_id: request.max_id,
                min_id: request.min_id,
            };
            if let Peer::Channel(channel) = peer {
                let (page, total) = world.channel_history(me, channel, q, now)?;
                return Ok(channel_messages_result(
                    world, me, channel, &page, total, now, layer,
                ));
            }
            let (page, total) = world.history(me, peer, q);
            Ok(messages_result(world, me, &page, total, now, layer))
        })(),
        messages::Search::CONSTRUCTOR_ID => (|| {
            let request: messages::Search = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = match request.peer {
                tl::enums::InputPeer::Empty => None,
                ref p => Some(resolve_peer(world, me, p)?),
            };
            let limit = request.limit.max(0) as usize;
            if let Some(Peer::Channel(channel)) = peer {
                let found = world.channel_search(me, channel, &request.q, limit, now)?;
                let total = found.len();
                return Ok(channel_messages_result(
                    world, me, channel, &found, total, now, layer,
                ));
            }
            let found = world.search(me, peer, &request.q, limit);
            let total = found.len();
            Ok(messages_result(world, me, &found, total, now, layer))
        })(),
        messages::GetMessages::CONSTRUCTOR_ID => (|| {
            let request: messages::GetMessages = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let found: Vec<&StoredMessage> = request
                .id
                .iter()
                .filter_map(|input| match input {
                    tl::enums::InputMessage::Id(m) => world.message(me, m.id),
                    _ => None,
                })
                .collect();
            let total = found.len();
            Ok(messages_result(world, me, &found, total, now, layer))
        })(),
        messages::GetDialogs::CONSTRUCTOR_ID => (|| {
            let request: messages::GetDialogs = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let offset_peer = match &request.offset_peer {
                tl::enums::InputPeer::Empty => None,
                p => resolve_peer(world, me, p).ok(),
            };
            let (page, total) = world.dialogs(
                me,
                request.offset_date,
                request.offset_id,
                offset_peer,
                request.limit.max(0) as usize,
            );
            let answer = dialogs_answer(world, me, &page, Some(total), now);
            Ok(answer.encode_for(layer))
        })(),
        messages::GetPeerDialogs::CONSTRUCTOR_ID => (|| {
            let request: messages::GetPeerDialogs = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let mut found = Vec::new();
            for input in &request.peers {
                let tl::enums::InputDialogPeer::Peer(p) = input else {
                    return Err(Fail::new(400, "PEER_ID_INVALID"));
                };
                let peer = resolve_peer(world, me, &p.peer)?;
                found.extend(world.dialog_of(me, peer));
            }
            let tl::enums::messages::Dialogs::Dialogs(d) =
                dialogs_answer(world, me, &found, None, now)
            else {
                unreachable!("no total given: messages.dialogs")
            };
            Ok(
                tl::enums::messages::PeerDialogs::Dialogs(tl::types::messages::PeerDialogs {
                    dialogs: d.dialogs,
                    messages: d.messages,
                    chats: d.chats,
                    users: d.users,
                    state: state(world, me, now),
                })
                .encode_for(layer),
            )
        })(),
        upd::GetState::CONSTRUCTOR_ID => (|| {
            let me = world.user_of(key_id)?;
            Ok(state(world, me, now).to_bytes())
        })(),
        upd::GetDifference::CONSTRUCTOR_ID => (|| {
            let request: upd::GetDifference = decode(cursor)?;
            let me = world.user_of(key_id)?;
            Ok(difference(world, me, request.pts, request.date, now).encode_for(layer))
        })(),
        _ => return None,
    })
}

/// messages.dialogs (messages.dialogsSlice when `total` says there are more): every dialog's
/// peer and top message, with all the users and chats they name.
fn dialogs_answer(
    world: &World,
    me: i64,
    page: &[crate::world::messages::Dialog],
    total: Option<usize>,
    now: i32,
) -> tl::enums::messages::Dialogs {
    let tops: Vec<std::borrow::Cow<'_, StoredMessage>> = page
        .iter()
        .filter_map(|d| world.top_message(me, d).map(|m| m.viewed_by(me)))
        .collect();
    let mut mentions = Mentions::default();
    for d in page {
        mentions.peer(d.peer);
    }
    mentions.messages(tops.iter().map(|m| m.as_ref()));
    let (users, chats) = mentions.encode(world, me, now);
    let dialogs = page.iter().map(encode::dialog).collect();
    let messages = tops.iter().map(|m| encode::message(m)).collect();
    match total {
        Some(total) if page.len() < total => {
            tl::enums::messages::Dialogs::Slice(tl::types::messages::DialogsSlice {
                count: total as i32,
                dialogs,
                messages,
                chats,
                users,
            })
        }
        _ => tl::enums::messages::Dialogs::Dialogs(tl::types::messages::Dialogs {
            dialogs,
            messages,
            chats,
            users,
        }),
    }
}

/// messages.messages, or messagesSlice when the chat holds more than the page.
/// In the client's `layer` (see [`encode::Layered`]).
fn messages_result(
    world: &World,
    me: i64,
    page: &[&StoredMessage],
    total: usize,
    now: i32,
    layer: Option<i32>,
) -> Vec<u8> {
    let messages: Vec<tl::enums::Message> = page.iter().map(|m| encode::message(m)).collect();
    let (users, chats) = mentioned(world, me, page, now);
    if page.len() < total {
        tl::enums::messages::Messages::Slice(tl::types::messages::MessagesSlice {
            inexact: false,
            count: total as i32,
            next_rate: None,
            offset_id_offset: None,
            search_flood: None,
            messages,
            topics: Vec::new(),
            chats,
            users,
        })
        .encode_for(layer)
    } else {
        tl::enums::messages::Messages::Messages(tl::types::messages::Messages {
            messages,
            topics: Vec::new(),
            chats,
            users,
        })
        .encode_for(layer)
    }
}

/// messages.channelMessages: a channel's messages as `me` sees them, with the channel's pts.
pub(super) fn channel_messages_result(
    world: &World,
    me: i64,
    channel: i64,
    page: &[&StoredMessage],
    total: usize,
    now: i32,
    layer: Option<i32>,
) -> Vec<u8> {
    let messages = page
        .iter()
        .map(|m| encode::message(&m.viewed_by(me)))
        .collect();
    let mut mentions = Mentions::default();
    mentions
        .peer(Peer::Channel(channel))
        .messages(page.iter().copied());
    let (users, chats) = mentions.encode(world, me, now);
    tl::enums::messages::Messages::ChannelMessages(tl::types::messages::ChannelMessages {
        inexact: false,
        pts: world.channel(channel).map(|c| c.pts).unwrap_or(0),
        count: total as i32,
        offset_id_offset: None,
        messages,
        topics: Vec::new(),
        chats,
        users,
    })
    .encode_for(layer)
}

/// updates.getDifference from `pts`: every event after it, once, in order. A channel the user
/// joined after the client's `date` (on another device, while this one was away) comes as
/// `updateChannelTooLong` with the pts to start getChannelDifference from, as documented.
fn difference(
    world: &World,
    me: i64,
    pts: i32,
    date: i32,
    now: i32,
) -> tl::enums::updates::Difference {
    let (events, more) = match world.events_after(me, pts, DIFFERENCE_LIMIT, DIFFERENCE_TOO_LONG) {
        Ok(found) => found,
        Err(current) => {
            return tl::enums::updates::Difference::TooLong(
                tl::types::updates::DifferenceTooLong { pts: current },
            );
        }
    };
    let joined: Vec<(i64, i32)> = world
        .channels()
        .filter_map(|c| {
            let m = c.members.get(&me)?;
            (m.date > date && date > 0).then_some((c.id, m.joined_pts.max(1)))
        })
        .collect();
    if events.is_empty() && joined.is_empty() {
        return tl::enums::updates::Difference::Empty(tl::types::updates::DifferenceEmpty {
            date: now,
            seq: 0,
        });
    }
    let mut new_messages = Vec::new();
    let mut mentioned_messages: Vec<&StoredMessage> = Vec::new();
    let mut other_updates = Vec::new();
    let mut mentions = Mentions::default();
    for (channel_id, channel_pts) in &joined {
        other_updates.push(tl::enums::Update::ChannelTooLong(
            tl::types::UpdateChannelTooLong {
                channel_id: *channel_id,
                pts: Some(*channel_pts),
            },
        ));
        mentions.peer(Peer::Channel(*channel_id));
    }
    for e in &events {
        match &e.event {
            Event::NewMessage(id) => {
                if let Some(m) = world.message(me, *id) {
                    new_messages.push(encode::message(m));
                    mentioned_messages.push(m);
                }
            }
            Event::EditMessage(id) => {
                if let Some(m) = world.message(me, *id) {
                    other_updates.push(tl::enums::Update::EditMessage(
                        tl::types::UpdateEditMessage {
                            message: encode::message(m),
                            pts: e.pts,
                            pts_count: e.pts_count,
                        },
                    ));
                    mentioned_messages.push(m);
                }
            }
            Event::DeleteMessages(ids) => other_updates.push(tl::enums::Update::DeleteMessages(
                tl::types::UpdateDeleteMessages {
                    messages: ids.clone(),
                    pts: e.pts,
                    pts_count: e.pts_count,
                },
            )),
            Event::ReadInbox {
                peer,
                max_id,
                still_unread,
            } => {
                mentions.peer(*peer);
                other_updates.push(tl::enums::Update::ReadHistoryInbox(
                    tl::types::UpdateReadHistoryInbox {
                        folder_id: None,
                        peer: peers::peer(*peer),
                        top_msg_id: None,
                        max_id: *max_id,
                        still_unread_count: *still_unread,
                        pts: e.pts,
                        pts_count: e.pts_count,
                    },
                ))
            }
            Event::ReadOutbox { peer, max_id } => {
                mentions.peer(*peer);
                other_updates.push(tl::enums::Update::ReadHistoryOutbox(
                    tl::types::UpdateReadHistoryOutbox {
                        peer: peers::peer(*peer),
                        max_id: *max_id,
                        pts: e.pts,
                        pts_count: e.pts_count,
                    },
                ))
            }
        }
    }
    mentions.messages(mentioned_messages.iter().copied());
    let (users, chats) = mentions.encode(world, me, now);
    let reached = tl::enums::updates::State::State(tl::types::updates::State {
        pts: events.last().map(|e| e.pts).unwrap_or(pts),
        qts: 0,
        date: events.last().map(|e| e.date).unwrap_or(now),
        seq: 0,
        unread_count: 0,
    });
    if more {
        tl::enums::updates::Difference::Slice(tl::types::updates::DifferenceSlice {
            new_messages,
            new_encrypted_messages: Vec::new(),
            other_updates,
            chats,
            users,
            intermediate_state: reached,
        })
    } else {
        tl::enums::updates::Difference::Difference(tl::types::updates::Difference {
            new_messages,
            new_encrypted_messages: Vec::new(),
            other_updates,
            chats,
            users,
            state: reached,
        })
    }
}

/// The pushes for a message sent outside an RPC (the control API's `POST /v1/messages`): the
/// same updates as for `messages.sendMessage`, to every online session of both users.
pub(crate) fn pushes_for_sent(
    cluster: &crate::cluster::Cluster,
    world: &World,
    from: i64,
    sent: &crate::world::messages::Sent,
) -> Vec<PendingPush> {
    let mut pushes = Vec::new();
    let mut session = crate::session::Session::new(0);
    let mut ctx = CallContext {
        cluster,
        dc_id: 0,
        session: &mut session,
        key_id: 0,
        now_secs: sent.date,
        pushes: &mut pushes,
    };
    push_new_message(
        &mut ctx,
        world,
        from,
        sent.sender_id,
        sent.sender_pts,
        false,
    );
    if let Some((owner, their_id, their_pts)) = sent.recipient {
        push_new_message(&mut ctx, world, owner, their_id, their_pts, false);
    }
    pushes
}
