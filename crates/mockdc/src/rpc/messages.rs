//! Private messages and their updates: `messages.*` and `updates.getState/getDifference`.
//!
//! Every change pushes updates to the other online sessions of the users involved, with the same
//! pts the change got in each user's box, so a client that misses a push finds the event again
//! in `updates.getDifference`.

use std::collections::BTreeSet;

use grammers_tl_types::{self as tl, Cursor, Identifiable, Serializable};

use super::encode::{self, Layered};
use super::{decode, CallContext, Handled};
use crate::connection::PendingPush;
use crate::world::messages::{Event, HistoryQuery, StoredMessage};
use crate::world::{Fail, World};

/// getDifference answers at most this many events at once (differenceSlice beyond)...
pub const DIFFERENCE_LIMIT: usize = 100;
/// ...and differenceTooLong when the client is further behind than this.
pub const DIFFERENCE_TOO_LONG: usize = 10_000;

/// The user an `InputPeer` names, as `viewer` may name it. Groups and channels come later.
fn resolve_peer(world: &World, viewer: i64, peer: &tl::enums::InputPeer) -> Result<i64, Fail> {
    match peer {
        tl::enums::InputPeer::PeerSelf => Ok(viewer),
        tl::enums::InputPeer::User(u)
            if world.user(u.user_id).is_some()
                && world.access_hash(viewer, u.user_id) == u.access_hash =>
        {
            Ok(u.user_id)
        }
        _ => Err(Fail::new(400, "PEER_ID_INVALID")),
    }
}

fn users_of<'a>(
    world: &World,
    viewer: i64,
    ids: impl IntoIterator<Item = &'a i64>,
) -> Vec<tl::enums::User> {
    let ids: BTreeSet<i64> = ids.into_iter().copied().chain([viewer]).collect();
    ids.into_iter()
        .filter_map(|id| world.user(id).map(|u| encode::user(world, viewer, u)))
        .collect()
}

fn users_of_messages(
    world: &World,
    viewer: i64,
    messages: &[&StoredMessage],
) -> Vec<tl::enums::User> {
    let ids: Vec<i64> = messages
        .iter()
        .flat_map(|m| [m.peer, m.from].into_iter().chain(m.fwd_from.map(|f| f.0)))
        .collect();
    users_of(world, viewer, &ids)
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

/// `updates` wrapping some updates, with the users they mention.
fn updates(
    updates: Vec<tl::enums::Update>,
    users: Vec<tl::enums::User>,
    date: i32,
) -> tl::enums::Updates {
    tl::enums::Updates::Updates(tl::types::Updates {
        updates,
        users,
        chats: Vec::new(),
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
        user_id: m.peer,
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
/// The sender's other sessions get the compact `updateShortMessage`: they know the recipient.
/// Recipients get `updates` with the users involved, so a client that never saw the sender can
/// still resolve it (Telegram sends short updates only when the client knows every peer).
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
    let body = if m.fwd_from.is_some() || !m.out {
        let users = users_of_messages(world, owner, &[m]);
        updates(
            vec![tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
                message: encode::message(m),
                pts,
                pts_count: 1,
            })],
            users,
            m.date,
        )
    } else {
        short_message(m, pts)
    };
    push(ctx, owner, skip_requester, body);
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
            let sent = world.send_message(
                me,
                to,
                &request.message,
                request.entities.unwrap_or_default(),
                request.random_id,
                None,
                now,
            )?;
            if !sent.duplicate {
                push_new_message(ctx, world, me, sent.sender_id, sent.sender_pts, true);
                if let Some((owner, their_id, their_pts)) = sent.recipient {
                    push_new_message(ctx, world, owner, their_id, their_pts, false);
                }
            }
            let m = world.message(me, sent.sender_id);
            Ok(
                tl::enums::Updates::UpdateShortSentMessage(tl::types::UpdateShortSentMessage {
                    out: true,
                    id: sent.sender_id,
                    pts: sent.sender_pts,
                    pts_count: 1,
                    date: sent.date,
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
            let mut result_updates = Vec::new();
            for (id, random_id) in request.id.iter().zip(&request.random_id) {
                let original = world
                    .message(me, *id)
                    .filter(|m| m.peer == from)
                    .cloned()
                    .ok_or_else(|| Fail::new(400, "MESSAGE_ID_INVALID"))?;
                let origin = original.fwd_from.unwrap_or((original.from, original.date));
                let sent = world.send_message(
                    me,
                    to,
                    &original.text,
                    original.entities.clone(),
                    *random_id,
                    Some(origin),
                    now,
                )?;
                result_updates.push(tl::enums::Update::MessageId(tl::types::UpdateMessageId {
                    id: sent.sender_id,
                    random_id: *random_id,
                }));
                if let Some(m) = world.message(me, sent.sender_id) {
                    result_updates.push(tl::enums::Update::NewMessage(
                        tl::types::UpdateNewMessage {
                            message: encode::message(m),
                            pts: sent.sender_pts,
                            pts_count: 1,
                        },
                    ));
                }
                if !sent.duplicate {
                    push_new_message(ctx, world, me, sent.sender_id, sent.sender_pts, true);
                    if let Some((owner, their_id, their_pts)) = sent.recipient {
                        push_new_message(ctx, world, owner, their_id, their_pts, false);
                    }
                }
            }
            let users = users_of(world, me, &[from, to]);
            Ok(updates(result_updates, users, now).encode_for(layer))
        })(),
        messages::EditMessage::CONSTRUCTOR_ID => (|| {
            let request: messages::EditMessage = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = resolve_peer(world, me, &request.peer)?;
            if world.message(me, request.id).is_none_or(|m| m.peer != peer) {
                return Err(Fail::new(400, "MESSAGE_ID_INVALID"));
            }
            let text = request.message.unwrap_or_default();
            let (pts, other) = world.edit_message(
                me,
                request.id,
                &text,
                request.entities.unwrap_or_default(),
                now,
            )?;
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
                    users_of_messages(world, owner, &[m]),
                    now,
                )
            };
            let mine = edit(world, me, request.id, pts);
            push(ctx, me, true, mine.clone());
            if let Some((owner, their_id, their_pts)) = other {
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
            let before = world.pts_of(me);
            let (pts, other) = world.read_history(me, peer, request.max_id, now);
            if let Some((owner, max_id, their_pts)) = other {
                let body = tl::enums::Updates::UpdateShort(tl::types::UpdateShort {
                    update: tl::enums::Update::ReadHistoryOutbox(
                        tl::types::UpdateReadHistoryOutbox {
                            peer: encode::peer_user(me),
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
            let (page, total) = world.history(
                me,
                peer,
                HistoryQuery {
                    offset_id: request.offset_id,
                    offset_date: request.offset_date,
                    add_offset: request.add_offset,
                    limit: request.limit,
                    max_id: request.max_id,
                    min_id: request.min_id,
                },
            );
            Ok(messages_result(world, me, &page, total, layer))
        })(),
        messages::Search::CONSTRUCTOR_ID => (|| {
            let request: messages::Search = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = match request.peer {
                tl::enums::InputPeer::Empty => None,
                ref p => Some(resolve_peer(world, me, p)?),
            };
            let found = world.search(me, peer, &request.q, request.limit.max(0) as usize);
            let total = found.len();
            Ok(messages_result(world, me, &found, total, layer))
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
            Ok(messages_result(world, me, &found, total, layer))
        })(),
        messages::GetDialogs::CONSTRUCTOR_ID => (|| {
            let request: messages::GetDialogs = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let (page, total) = world.dialogs(
                me,
                request.offset_date,
                request.offset_id,
                request.limit.max(0) as usize,
            );
            let tops: Vec<&StoredMessage> = page
                .iter()
                .filter_map(|d| world.message(me, d.top_message))
                .collect();
            let dialogs = page.iter().map(|d| encode::dialog(d)).collect();
            let messages = tops.iter().map(|m| encode::message(m)).collect();
            let users = users_of_messages(world, me, &tops);
            let answer = if page.len() < total {
                tl::enums::messages::Dialogs::Slice(tl::types::messages::DialogsSlice {
                    count: total as i32,
                    dialogs,
                    messages,
                    chats: Vec::new(),
                    users,
                })
            } else {
                tl::enums::messages::Dialogs::Dialogs(tl::types::messages::Dialogs {
                    dialogs,
                    messages,
                    chats: Vec::new(),
                    users,
                })
            };
            Ok(answer.encode_for(layer))
        })(),
        messages::GetPeerDialogs::CONSTRUCTOR_ID => (|| {
            let request: messages::GetPeerDialogs = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let mut dialogs = Vec::new();
            let mut tops = Vec::new();
            for input in &request.peers {
                let tl::enums::InputDialogPeer::Peer(p) = input else {
                    return Err(Fail::new(400, "PEER_ID_INVALID"));
                };
                let peer = resolve_peer(world, me, &p.peer)?;
                if let Some(d) = world.mailbox(me).and_then(|b| b.dialogs.get(&peer)) {
                    dialogs.push(encode::dialog(d));
                    tops.extend(world.message(me, d.top_message));
                }
            }
            Ok(
                tl::enums::messages::PeerDialogs::Dialogs(tl::types::messages::PeerDialogs {
                    dialogs,
                    messages: tops.iter().map(|m| encode::message(m)).collect(),
                    chats: Vec::new(),
                    users: users_of_messages(world, me, &tops),
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
            Ok(difference(world, me, request.pts, now).encode_for(layer))
        })(),
        _ => return None,
    })
}

/// messages.messages, or messagesSlice when the chat holds more than the page.
/// In the client's `layer` (see [`encode::Layered`]).
fn messages_result(
    world: &World,
    me: i64,
    page: &[&StoredMessage],
    total: usize,
    layer: Option<i32>,
) -> Vec<u8> {
    let messages: Vec<tl::enums::Message> = page.iter().map(|m| encode::message(m)).collect();
    let users = users_of_messages(world, me, page);
    if page.len() < total {
        tl::enums::messages::Messages::Slice(tl::types::messages::MessagesSlice {
            inexact: false,
            count: total as i32,
            next_rate: None,
            offset_id_offset: None,
            search_flood: None,
            messages,
            topics: Vec::new(),
            chats: Vec::new(),
            users,
        })
        .encode_for(layer)
    } else {
        tl::enums::messages::Messages::Messages(tl::types::messages::Messages {
            messages,
            topics: Vec::new(),
            chats: Vec::new(),
            users,
        })
        .encode_for(layer)
    }
}

/// updates.getDifference from `pts`: every event after it, once, in order.
fn difference(world: &World, me: i64, pts: i32, now: i32) -> tl::enums::updates::Difference {
    let (events, more) = match world.events_after(me, pts, DIFFERENCE_LIMIT, DIFFERENCE_TOO_LONG) {
        Ok(found) => found,
        Err(current) => {
            return tl::enums::updates::Difference::TooLong(
                tl::types::updates::DifferenceTooLong { pts: current },
            );
        }
    };
    if events.is_empty() {
        return tl::enums::updates::Difference::Empty(tl::types::updates::DifferenceEmpty {
            date: now,
            seq: 0,
        });
    }
    let mut new_messages = Vec::new();
    let mut mentioned: Vec<&StoredMessage> = Vec::new();
    let mut other_updates = Vec::new();
    for e in &events {
        match &e.event {
            Event::NewMessage(id) => {
                if let Some(m) = world.message(me, *id) {
                    new_messages.push(encode::message(m));
                    mentioned.push(m);
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
                    mentioned.push(m);
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
            } => other_updates.push(tl::enums::Update::ReadHistoryInbox(
                tl::types::UpdateReadHistoryInbox {
                    folder_id: None,
                    peer: encode::peer_user(*peer),
                    top_msg_id: None,
                    max_id: *max_id,
                    still_unread_count: *still_unread,
                    pts: e.pts,
                    pts_count: e.pts_count,
                },
            )),
            Event::ReadOutbox { peer, max_id } => other_updates.push(
                tl::enums::Update::ReadHistoryOutbox(tl::types::UpdateReadHistoryOutbox {
                    peer: encode::peer_user(*peer),
                    max_id: *max_id,
                    pts: e.pts,
                    pts_count: e.pts_count,
                }),
            ),
        }
    }
    let users = users_of_messages(world, me, &mentioned);
    let last = events.last().expect("not empty");
    let reached = tl::enums::updates::State::State(tl::types::updates::State {
        pts: last.pts,
        qts: 0,
        date: last.date,
        seq: 0,
        unread_count: 0,
    });
    if more {
        tl::enums::updates::Difference::Slice(tl::types::updates::DifferenceSlice {
            new_messages,
            new_encrypted_messages: Vec::new(),
            other_updates,
            chats: Vec::new(),
            users,
            intermediate_state: reached,
        })
    } else {
        tl::enums::updates::Difference::Difference(tl::types::updates::Difference {
            new_messages,
            new_encrypted_messages: Vec::new(),
            other_updates,
            chats: Vec::new(),
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
