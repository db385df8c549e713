//! Channels (broadcasts and megagroups): `channels.*` and `updates.getChannelDifference`.
//!
//! A channel's messages live in its own box with its own pts: members online get
//! `updateNewChannelMessage` (each with its own view and access hash), everyone else catches
//! up with `updates.getChannelDifference` (slices with `final`, `timeout`,
//! `channelDifferenceTooLong` past the log). Membership changes reach admins as
//! `updateChannelParticipant` and the member as `updateChannel`.

use grammers_tl_types::{self as tl, Cursor, Deserializable, Identifiable, Serializable};
use telegate_mockdc_tl198 as tl198;

use super::account::resolve_input_user;
use super::encode::{self, Layered};
use super::peers::{self, resolve_channel, Mentions};
use super::{decode, CallContext, Handled};
use crate::world::channels::{ChannelDifference, ParticipantFilter, CHANNEL_DIFFERENCE_TIMEOUT};
use crate::world::chats::{NewChannel, ParticipantChange};
use crate::world::messages::Event;
use crate::world::{Fail, Peer, World};

/// `updates` answering a channel change: `updateChannel`, plus the service message that
/// announced it (pushed to the other members).
pub(super) fn channel_change_updates(
    ctx: &mut CallContext<'_>,
    world: &World,
    me: i64,
    channel: i64,
    changes: &[ParticipantChange],
    announced: Option<(i32, i32)>,
) -> tl::enums::Updates {
    let mut list = vec![tl::enums::Update::Channel(tl::types::UpdateChannel {
        channel_id: channel,
    })];
    let mut mentions = Mentions::default();
    mentions.peer(Peer::Channel(channel));
    if let Some((id, pts)) = announced {
        peers::push_channel_message(ctx, world, channel, id, pts, Some(me));
        list.extend(peers::new_channel_message_update(
            world, me, channel, id, pts,
        ));
        if let Some(m) = world.channel_message(channel, id) {
            mentions.message(m);
        }
    }
    for change in changes {
        mentions.user(change.user_id);
    }
    peers::notify_changes(ctx, world, changes, Some(me));
    peers::updates_for(world, me, list, &mentions, ctx.now_secs)
}

fn filter_of(filter: &tl::enums::ChannelParticipantsFilter) -> ParticipantFilter {
    use tl::enums::ChannelParticipantsFilter as F;
    match filter {
        F::ChannelParticipantsRecent => ParticipantFilter::Recent,
        F::ChannelParticipantsAdmins => ParticipantFilter::Admins,
        F::ChannelParticipantsKicked(f) => ParticipantFilter::Kicked(f.q.clone()),
        F::ChannelParticipantsBanned(f) => ParticipantFilter::Banned(f.q.clone()),
        F::ChannelParticipantsSearch(f) => ParticipantFilter::Search(f.q.clone()),
        F::ChannelParticipantsBots => ParticipantFilter::Bots,
        F::ChannelParticipantsContacts(f) => ParticipantFilter::Contacts(f.q.clone()),
        F::ChannelParticipantsMentions(f) => {
            ParticipantFilter::Search(f.q.clone().unwrap_or_default())
        }
    }
}

/// `channelFull` as `viewer` sees it.
fn channel_full(
    world: &mut World,
    viewer: i64,
    channel_id: i64,
    now: i32,
) -> Result<tl::enums::ChatFull, Fail> {
    let channel = world.channel_for_read(viewer, channel_id, now)?.clone();
    let may_invite = channel.has_right(viewer, |r| r.invite_users);
    let admin = channel.admin_rights(viewer).is_some();
    let exported_invite = if may_invite {
        Some(peers::exported_invite(world.permanent_invite(
            viewer,
            Peer::Channel(channel_id),
            now,
        )?))
    } else {
        None
    };
    let requests = if may_invite {
        world.join_requests(Peer::Channel(channel_id))
    } else {
        Vec::new()
    };
    let member = channel.members.get(&viewer);
    let count_bans = |kicked: bool| {
        channel
            .bans
            .iter()
            .filter(|(u, b)| b.rights.view_messages == kicked && channel.ban(**u, now).is_some())
            .count() as i32
    };
    Ok(tl::enums::ChatFull::ChannelFull(tl::types::ChannelFull {
        can_view_participants: channel.megagroup() || admin,
        can_set_username: channel.has_right(viewer, |r| r.change_info),
        can_set_stickers: false,
        hidden_prehistory: false,
        can_set_location: false,
        has_scheduled: false,
        can_view_stats: false,
        blocked: false,
        can_delete_channel: channel.creator == viewer,
        antispam: false,
        participants_hidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        view_forum_as_messages: false,
        restricted_sponsored: false,
        can_view_revenue: false,
        paid_media_allowed: false,
        can_view_stars_revenue: false,
        paid_reactions_available: false,
        stargifts_available: false,
        paid_messages_available: false,
        has_welcome_messages: false,
        id: channel_id,
        about: channel.about.clone(),
        participants_count: Some(channel.participants_count() as i32),
        admins_count: Some(world.channel_admins(channel_id).len() as i32),
        kicked_count: admin.then(|| count_bans(true)),
        banned_count: admin.then(|| count_bans(false)),
        online_count: None,
        read_inbox_max_id: member.map(|m| m.read_inbox_max_id).unwrap_or(0),
        read_outbox_max_id: channel.read_max,
        unread_count: channel.unread_count(viewer),
        chat_photo: tl::enums::Photo::Empty(tl::types::PhotoEmpty { id: 0 }),
        notify_settings: encode::default_notify_settings(),
        exported_invite,
        bot_info: Vec::new(),
        migrated_from_chat_id: channel.migrated_from.map(|(chat, _)| chat),
        migrated_from_max_id: channel.migrated_from.map(|(_, id)| id),
        pinned_msg_id: None,
        stickerset: None,
        available_min_id: None,
        folder_id: None,
        linked_chat_id: None,
        location: None,
        slowmode_seconds: None,
        slowmode_next_send_date: None,
        stats_dc: None,
        pts: channel.pts,
        call: None,
        ttl_period: None,
        pending_suggestions: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: (!requests.is_empty()).then_some(requests.len() as i32),
        recent_requesters: (!requests.is_empty())
            .then(|| requests.iter().rev().take(3).map(|(u, _, _)| *u).collect()),
        default_send_as: None,
        available_reactions: None,
        reactions_limit: None,
        stories: None,
        wallpaper: None,
        boosts_applied: None,
        boosts_unrestrict: None,
        emojiset: None,
        bot_verification: None,
        stargifts_count: None,
        send_paid_messages_stars: None,
        main_tab: None,
        guard_bot_id: None,
    }))
}

/// updates.getChannelDifference as `me` sees it.
fn channel_difference(
    world: &World,
    me: i64,
    channel: i64,
    pts: i32,
    limit: i32,
    now: i32,
) -> Result<tl::enums::updates::ChannelDifference, Fail> {
    let found = world.channel_difference(me, channel, pts, limit, now)?;
    let mut mentions = Mentions::default();
    mentions.peer(Peer::Channel(channel));
    Ok(match found {
        ChannelDifference::Empty { pts } => tl::enums::updates::ChannelDifference::Empty(
            tl::types::updates::ChannelDifferenceEmpty {
                r#final: true,
                pts,
                timeout: Some(CHANNEL_DIFFERENCE_TIMEOUT),
            },
        ),
        ChannelDifference::TooLong { latest } => {
            mentions.messages(latest.iter().copied());
            let (users, chats) = mentions.encode(world, me, now);
            let dialog =
                world
                    .channel_dialog(me, channel)
                    .unwrap_or(crate::world::messages::Dialog {
                        peer: Peer::Channel(channel),
                        pts: world.channel(channel).map(|c| c.pts),
                        ..Default::default()
                    });
            tl::enums::updates::ChannelDifference::TooLong(
                tl::types::updates::ChannelDifferenceTooLong {
                    r#final: true,
                    timeout: Some(CHANNEL_DIFFERENCE_TIMEOUT),
                    dialog: encode::dialog(&dialog),
                    messages: latest
                        .iter()
                        .map(|m| encode::message(&m.viewed_by(me)))
                        .collect(),
                    chats,
                    users,
                },
            )
        }
        ChannelDifference::Events {
            events,
            pts,
            r#final,
        } => {
            let mut new_messages = Vec::new();
            let mut other_updates = Vec::new();
            for e in events {
                match &e.event {
                    Event::NewMessage(id) => {
                        if let Some(m) = world.channel_message(channel, *id) {
                            mentions.message(m);
                            new_messages.push(encode::message(&m.viewed_by(me)));
                        }
                    }
                    Event::EditMessage(id) => {
                        if let Some(m) = world.channel_message(channel, *id) {
                            mentions.message(m);
                            other_updates.push(tl::enums::Update::EditChannelMessage(
                                tl::types::UpdateEditChannelMessage {
                                    message: encode::message(&m.viewed_by(me)),
                                    pts: e.pts,
                                    pts_count: e.pts_count,
                                },
                            ));
                        }
                    }
                    Event::DeleteMessages(ids) => {
                        other_updates.push(tl::enums::Update::DeleteChannelMessages(
                            tl::types::UpdateDeleteChannelMessages {
                                channel_id: channel,
                                messages: ids.clone(),
                                pts: e.pts,
                                pts_count: e.pts_count,
                            },
                        ))
                    }
                    Event::ReadInbox { .. } | Event::ReadOutbox { .. } => {}
                }
            }
            let (users, chats) = mentions.encode(world, me, now);
            tl::enums::updates::ChannelDifference::Difference(
                tl::types::updates::ChannelDifference {
                    r#final,
                    pts,
                    timeout: r#final.then_some(CHANNEL_DIFFERENCE_TIMEOUT),
                    new_messages,
                    other_updates,
                    chats,
                    users,
                },
            )
        }
    })
}

/// The layer-198 `channels.joinChannel` (answers `Updates`, where 230 wraps them).
const JOIN_CHANNEL_198: u32 = tl198::functions::channels::JoinChannel::CONSTRUCTOR_ID;
/// The layer-198 `channels.editAdmin` (`rank` not optional).
const EDIT_ADMIN_198: u32 = tl198::functions::channels::EditAdmin::CONSTRUCTOR_ID;

/// Answers the methods of this module; `None` for any other constructor.
pub(super) fn handle(ctx: &mut CallContext<'_>, id: u32, cursor: &mut Cursor) -> Option<Handled> {
    use tl::functions::{channels, updates as upd};
    let now = ctx.now_secs;
    let key_id = ctx.key_id;
    let cluster = ctx.cluster;
    let layer = ctx.session.layer;
    let mut guard = cluster.world();
    let world = &mut *guard;
    Some(match id {
        channels::CreateChannel::CONSTRUCTOR_ID => (|| {
            let request: channels::CreateChannel = decode(cursor)?;
            let me = world.user_of(key_id)?;
            // A megagroup when asked for; otherwise a broadcast channel (Telegram's default).
            let (channel, msg, pts) = world.create_channel(
                me,
                NewChannel {
                    title: request.title,
                    about: request.about,
                    broadcast: !request.megagroup,
                    username: None,
                },
                now,
            )?;
            Ok(
                channel_change_updates(ctx, world, me, channel, &[], Some((msg, pts)))
                    .encode_for(layer),
            )
        })(),
        channels::InviteToChannel::CONSTRUCTOR_ID => (|| {
            let request: channels::InviteToChannel = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let users = request
                .users
                .iter()
                .map(|u| resolve_input_user(world, me, u))
                .collect::<Result<Vec<i64>, Fail>>()?;
            let membership = world.invite_to_channel(me, channel, &users, now)?;
            Ok(
                super::chats::invited_users(ctx, world, me, Peer::Channel(channel), &membership)
                    .encode_for(layer),
            )
        })(),
        channels::JoinChannel::CONSTRUCTOR_ID | JOIN_CHANNEL_198 => (|| {
            let request: channels::JoinChannel = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let updates = if world.channel(channel).is_some_and(|c| c.is_member(me)) {
                // Already in: nothing happens (Telegram answers empty updates).
                let mut mentions = Mentions::default();
                mentions.peer(Peer::Channel(channel));
                peers::updates_for(world, me, Vec::new(), &mentions, now)
            } else {
                let (change, announced) = world.join_channel(me, channel, now)?;
                channel_change_updates(ctx, world, me, channel, &[change], announced)
            };
            Ok(if id == JOIN_CHANNEL_198 {
                updates.encode_for(layer)
            } else {
                tl::enums::messages::ChatInviteJoinResult::Ok(
                    tl::types::messages::ChatInviteJoinResultOk { updates },
                )
                .encode_for(layer)
            })
        })(),
        channels::LeaveChannel::CONSTRUCTOR_ID => (|| {
            let request: channels::LeaveChannel = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let (change, announced) = world.leave_channel(me, channel, now)?;
            Ok(
                channel_change_updates(ctx, world, me, channel, &[change], announced)
                    .encode_for(layer),
            )
        })(),
        channels::EditBanned::CONSTRUCTOR_ID => (|| {
            let request: channels::EditBanned = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let user = match peers::resolve_peer(world, me, &request.participant)? {
                Peer::User(user) => user,
                _ => return Err(Fail::new(400, "PARTICIPANT_ID_INVALID")),
            };
            let tl::enums::ChatBannedRights::Rights(rights) = request.banned_rights;
            let (change, announced) = world.edit_banned(me, channel, user, rights, now)?;
            Ok(
                channel_change_updates(ctx, world, me, channel, &[change], announced)
                    .encode_for(layer),
            )
        })(),
        channels::EditAdmin::CONSTRUCTOR_ID | EDIT_ADMIN_198 => (|| {
            let request: channels::EditAdmin = if id == EDIT_ADMIN_198 {
                let old = tl198::functions::channels::EditAdmin::deserialize(cursor)
                    .map_err(|_| Fail::new(400, "INPUT_FETCH_ERROR"))?;
                super::layer198_chats::edit_admin(old)?
            } else {
                decode(cursor)?
            };
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let user = resolve_input_user(world, me, &request.user_id)?;
            let tl::enums::ChatAdminRights::Rights(rights) = request.admin_rights;
            let rank = request.rank.filter(|r| !r.is_empty());
            let change = world.edit_admin(me, channel, user, rights, rank, now)?;
            Ok(channel_change_updates(ctx, world, me, channel, &[change], None).encode_for(layer))
        })(),
        channels::EditTitle::CONSTRUCTOR_ID => (|| {
            let request: channels::EditTitle = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let (msg, pts) = world.edit_channel_title(me, channel, &request.title, now)?;
            let mut answer = channel_change_updates(ctx, world, me, channel, &[], Some((msg, pts)));
            if let tl::enums::Updates::Updates(u) = &mut answer {
                // The title change is the service message; no updateChannel needed.
                u.updates
                    .retain(|u| !matches!(u, tl::enums::Update::Channel(_)));
            }
            Ok(answer.encode_for(layer))
        })(),
        channels::UpdateUsername::CONSTRUCTOR_ID => (|| {
            let request: channels::UpdateUsername = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            world.set_channel_username(me, channel, &request.username)?;
            peers::push_channel_update(ctx, world, channel, Some(me), |_| {
                tl::enums::Update::Channel(tl::types::UpdateChannel {
                    channel_id: channel,
                })
            });
            Ok(true.to_bytes())
        })(),
        channels::GetParticipants::CONSTRUCTOR_ID => (|| {
            let request: channels::GetParticipants = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let (page, total) = world.channel_participants(
                me,
                channel,
                &filter_of(&request.filter),
                request.offset.max(0) as usize,
                request.limit.max(0) as usize,
                now,
            )?;
            let hash = crate::world::contacts::telegram_hash(page.iter().map(|(u, _)| *u));
            if request.hash != 0 && request.hash == hash {
                return Ok(tl::enums::channels::ChannelParticipants::NotModified.to_bytes());
            }
            let mut mentions = Mentions::default();
            for (user, _) in &page {
                mentions.user(*user);
            }
            let (users, chats) = mentions.encode(world, me, now);
            Ok(tl::enums::channels::ChannelParticipants::Participants(
                tl::types::channels::ChannelParticipants {
                    count: total as i32,
                    participants: page
                        .iter()
                        .map(|(u, p)| peers::channel_participant(world, channel, me, *u, p))
                        .collect(),
                    chats,
                    users,
                },
            )
            .encode_for(layer))
        })(),
        channels::GetParticipant::CONSTRUCTOR_ID => (|| {
            let request: channels::GetParticipant = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let c = world.channel_for_read(me, channel, now)?;
            let user = match peers::resolve_peer(world, me, &request.participant)? {
                Peer::User(user) => user,
                _ => return Err(Fail::new(400, "PARTICIPANT_ID_INVALID")),
            };
            let participant = c
                .participant(user, now)
                .ok_or_else(|| Fail::new(400, "USER_NOT_PARTICIPANT"))?;
            let mut mentions = Mentions::default();
            mentions.user(user).peer(Peer::Channel(channel));
            let (users, chats) = mentions.encode(world, me, now);
            Ok(tl::enums::channels::ChannelParticipant::Participant(
                tl::types::channels::ChannelParticipant {
                    participant: peers::channel_participant(world, channel, me, user, &participant),
                    chats,
                    users,
                },
            )
            .encode_for(layer))
        })(),
        channels::GetFullChannel::CONSTRUCTOR_ID => (|| {
            let request: channels::GetFullChannel = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let full_chat = channel_full(world, me, channel, now)?;
            let mut mentions = Mentions::default();
            mentions.peer(Peer::Channel(channel));
            if let Some((chat, _)) = world.channel(channel).and_then(|c| c.migrated_from) {
                mentions.peer(Peer::Chat(chat));
            }
            let (users, chats) = mentions.encode(world, me, now);
            Ok(
                tl::enums::messages::ChatFull::Full(tl::types::messages::ChatFull {
                    full_chat,
                    chats,
                    users,
                })
                .encode_for(layer),
            )
        })(),
        channels::GetChannels::CONSTRUCTOR_ID => (|| {
            let request: channels::GetChannels = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let mut chats = Vec::new();
            for input in &request.id {
                let channel = resolve_channel(world, me, input)?;
                chats.extend(peers::chat(world, me, Peer::Channel(channel), now));
            }
            Ok(
                tl::enums::messages::Chats::Chats(tl::types::messages::Chats { chats })
                    .encode_for(layer),
            )
        })(),
        channels::ReadHistory::CONSTRUCTOR_ID => (|| {
            let request: channels::ReadHistory = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            if let Some(read) = world.read_channel_history(me, channel, request.max_id, now)? {
                let pts = world.channel(channel).map(|c| c.pts).unwrap_or(0);
                let mut mentions = Mentions::default();
                mentions.peer(Peer::Channel(channel));
                let inbox =
                    tl::enums::Update::ReadChannelInbox(tl::types::UpdateReadChannelInbox {
                        folder_id: None,
                        channel_id: channel,
                        max_id: read.max_id,
                        still_unread_count: read.still_unread,
                        pts,
                    });
                let body = peers::updates_for(world, me, vec![inbox], &mentions, now);
                peers::push(ctx, me, true, body);
                for author in read.authors {
                    let outbox =
                        tl::enums::Update::ReadChannelOutbox(tl::types::UpdateReadChannelOutbox {
                            channel_id: channel,
                            max_id: read.max_id,
                        });
                    let body = peers::updates_for(world, author, vec![outbox], &mentions, now);
                    peers::push(ctx, author, false, body);
                }
            }
            Ok(true.to_bytes())
        })(),
        channels::DeleteMessages::CONSTRUCTOR_ID => (|| {
            let request: channels::DeleteMessages = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let (pts, count, deleted) =
                world.delete_channel_messages(me, channel, &request.id, now)?;
            if count > 0 {
                peers::push_channel_update(ctx, world, channel, Some(me), |_| {
                    tl::enums::Update::DeleteChannelMessages(
                        tl::types::UpdateDeleteChannelMessages {
                            channel_id: channel,
                            messages: deleted.clone(),
                            pts,
                            pts_count: count,
                        },
                    )
                });
            }
            Ok(tl::enums::messages::AffectedMessages::Messages(
                tl::types::messages::AffectedMessages {
                    pts,
                    pts_count: count,
                },
            )
            .to_bytes())
        })(),
        channels::GetMessages::CONSTRUCTOR_ID => (|| {
            let request: channels::GetMessages = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            let ids: Vec<i32> = request
                .id
                .iter()
                .filter_map(|m| match m {
                    tl::enums::InputMessage::Id(m) => Some(m.id),
                    _ => None,
                })
                .collect();
            let found = world.channel_messages(me, channel, &ids, now)?;
            let total = found.len();
            Ok(super::messages::channel_messages_result(
                world, me, channel, &found, total, now, layer,
            ))
        })(),
        upd::GetChannelDifference::CONSTRUCTOR_ID => (|| {
            let request: upd::GetChannelDifference = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let channel = resolve_channel(world, me, &request.channel)?;
            Ok(
                channel_difference(world, me, channel, request.pts, request.limit, now)?
                    .encode_for(layer),
            )
        })(),
        _ => return None,
    })
}
