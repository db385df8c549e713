//! Basic groups: `messages.createChat`, `addChatUser`, `deleteChatUser`, `editChatTitle`,
//! `editChatAdmin`, `getFullChat`, `getChats`, `migrateChat`.
//!
//! Their messages (service messages included) are copies in each member's box with the
//! member's common pts: the requester gets its copy in the answer, every other member its own
//! copy pushed as `updateNewMessage`.

use grammers_tl_types::{self as tl, Cursor, Identifiable, Serializable};

use super::account::resolve_input_user;
use super::encode::{self, Layered};
use super::peers::{self, Mentions};
use super::{decode, CallContext, Handled};
use crate::world::chats::{Announced, Membership};
use crate::world::{Fail, Peer, World};

/// The requester's copy of a group service message as an update, the others pushed.
fn announce_group(
    ctx: &mut CallContext<'_>,
    world: &World,
    me: i64,
    copies: &[(i64, i32, i32)],
) -> (Vec<tl::enums::Update>, Mentions) {
    peers::push_group_copies(ctx, world, copies, Some(me));
    let mut mentions = Mentions::default();
    let mut list = Vec::new();
    for &(owner, id, pts) in copies.iter().filter(|(o, _, _)| *o == me) {
        if let Some(update) = peers::new_message_update(world, owner, id, pts) {
            list.push(update);
        }
        if let Some(m) = world.message(owner, id) {
            mentions.message(m);
        }
    }
    (list, mentions)
}

/// `messages.invitedUsers` for a membership operation (create, add), with the pushes queued.
pub(super) fn invited_users(
    ctx: &mut CallContext<'_>,
    world: &World,
    me: i64,
    peer: Peer,
    membership: &Membership,
) -> tl::enums::messages::InvitedUsers {
    let now = ctx.now_secs;
    let (list, mut mentions) = match &membership.announced {
        Announced::Group(copies) => announce_group(ctx, world, me, copies),
        Announced::Channel { id, pts } => {
            let channel = peer.channel_id().expect("a channel announcement");
            peers::push_channel_message(ctx, world, channel, *id, *pts, Some(me));
            let mut mentions = Mentions::default();
            if let Some(m) = world.channel_message(channel, *id) {
                mentions.message(m);
            }
            (
                peers::new_channel_message_update(world, me, channel, *id, *pts)
                    .into_iter()
                    .collect(),
                mentions,
            )
        }
        Announced::None => (Vec::new(), Mentions::default()),
    };
    peers::notify_changes(ctx, world, &membership.changes, Some(me));
    mentions.peer(peer);
    for change in &membership.changes {
        mentions.user(change.user_id);
    }
    tl::enums::messages::InvitedUsers::Users(tl::types::messages::InvitedUsers {
        updates: peers::updates_for(world, me, list, &mentions, now),
        missing_invitees: membership
            .missing
            .iter()
            .map(|&user_id| {
                tl::enums::MissingInvitee::Invitee(tl::types::MissingInvitee {
                    premium_would_allow_invite: false,
                    premium_required_for_pm: false,
                    user_id,
                })
            })
            .collect(),
    })
}

/// `updates` answering a group change (the requester's copy of the service message).
fn group_updates(
    ctx: &mut CallContext<'_>,
    world: &World,
    me: i64,
    chat: i64,
    copies: &[(i64, i32, i32)],
) -> tl::enums::Updates {
    let (list, mut mentions) = announce_group(ctx, world, me, copies);
    mentions.peer(Peer::Chat(chat));
    peers::updates_for(world, me, list, &mentions, ctx.now_secs)
}

/// `chatFull` as `viewer` sees it (members and, for admins, the permanent link and requests).
pub(super) fn chat_full(
    world: &mut World,
    viewer: i64,
    chat: i64,
    now: i32,
) -> Result<tl::enums::ChatFull, Fail> {
    let group = world
        .group(chat)
        .cloned()
        .ok_or_else(|| Fail::new(400, "CHAT_ID_INVALID"))?;
    let participants = if group.is_member(viewer) {
        tl::enums::ChatParticipants::Participants(tl::types::ChatParticipants {
            chat_id: chat,
            participants: group
                .members
                .keys()
                .filter_map(|u| {
                    world
                        .group_participant(chat, *u)
                        .and_then(|p| peers::chat_participant(*u, &p))
                })
                .collect(),
            version: group.version,
        })
    } else {
        tl::enums::ChatParticipants::Forbidden(tl::types::ChatParticipantsForbidden {
            chat_id: chat,
            self_participant: None,
        })
    };
    let admin = group.is_admin(viewer) && group.migrated_to.is_none();
    let exported_invite = if admin {
        Some(peers::exported_invite(world.permanent_invite(
            viewer,
            Peer::Chat(chat),
            now,
        )?))
    } else {
        None
    };
    let requests = if admin {
        world.join_requests(Peer::Chat(chat))
    } else {
        Vec::new()
    };
    Ok(tl::enums::ChatFull::Full(tl::types::ChatFull {
        can_set_username: false,
        has_scheduled: false,
        translations_disabled: false,
        has_welcome_messages: false,
        id: chat,
        about: group.about.clone(),
        participants,
        chat_photo: None,
        notify_settings: encode::default_notify_settings(),
        exported_invite,
        bot_info: None,
        pinned_msg_id: None,
        folder_id: None,
        call: None,
        ttl_period: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: (!requests.is_empty()).then_some(requests.len() as i32),
        recent_requesters: (!requests.is_empty())
            .then(|| requests.iter().rev().take(3).map(|(u, _, _)| *u).collect()),
        available_reactions: None,
        reactions_limit: None,
    }))
}

/// Answers the methods of this module; `None` for any other constructor.
pub(super) fn handle(ctx: &mut CallContext<'_>, id: u32, cursor: &mut Cursor) -> Option<Handled> {
    use tl::functions::messages;
    let now = ctx.now_secs;
    let key_id = ctx.key_id;
    let cluster = ctx.cluster;
    let layer = ctx.session.layer;
    let mut guard = cluster.world();
    let world = &mut *guard;
    Some(match id {
        messages::CreateChat::CONSTRUCTOR_ID => (|| {
            let request: messages::CreateChat = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let users = request
                .users
                .iter()
                .map(|u| resolve_input_user(world, me, u))
                .collect::<Result<Vec<i64>, Fail>>()?;
            let (chat, membership) = world.create_group(me, &request.title, &users, now)?;
            Ok(invited_users(ctx, world, me, Peer::Chat(chat), &membership).encode_for(layer))
        })(),
        messages::AddChatUser::CONSTRUCTOR_ID => (|| {
            let request: messages::AddChatUser = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let user = resolve_input_user(world, me, &request.user_id)?;
            let membership = world.add_group_member(me, request.chat_id, user, None, false, now)?;
            Ok(
                invited_users(ctx, world, me, Peer::Chat(request.chat_id), &membership)
                    .encode_for(layer),
            )
        })(),
        messages::DeleteChatUser::CONSTRUCTOR_ID => (|| {
            let request: messages::DeleteChatUser = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let user = resolve_input_user(world, me, &request.user_id)?;
            let membership = world.remove_group_member(me, request.chat_id, user, now)?;
            peers::notify_changes(ctx, world, &membership.changes, Some(me));
            let Announced::Group(copies) = &membership.announced else {
                unreachable!("group removals are announced in the group")
            };
            Ok(group_updates(ctx, world, me, request.chat_id, copies).encode_for(layer))
        })(),
        messages::EditChatTitle::CONSTRUCTOR_ID => (|| {
            let request: messages::EditChatTitle = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let copies = world.edit_group_title(me, request.chat_id, &request.title, now)?;
            Ok(group_updates(ctx, world, me, request.chat_id, &copies).encode_for(layer))
        })(),
        messages::EditChatAdmin::CONSTRUCTOR_ID => (|| {
            let request: messages::EditChatAdmin = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let user = resolve_input_user(world, me, &request.user_id)?;
            let is_admin = request.is_admin;
            let change = world.edit_group_admin(me, request.chat_id, user, is_admin, now)?;
            peers::notify_changes(ctx, world, &[change], Some(me));
            Ok(true.to_bytes())
        })(),
        messages::GetFullChat::CONSTRUCTOR_ID => (|| {
            let request: messages::GetFullChat = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let full_chat = chat_full(world, me, request.chat_id, now)?;
            let mut mentions = Mentions::default();
            mentions.peer(Peer::Chat(request.chat_id));
            if let Some(g) = world.group(request.chat_id).filter(|g| g.is_member(me)) {
                for (user, member) in &g.members {
                    mentions.user(*user).user(member.inviter);
                }
                if let Some(channel) = g.migrated_to {
                    mentions.peer(Peer::Channel(channel));
                }
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
        messages::GetChats::CONSTRUCTOR_ID => (|| {
            let request: messages::GetChats = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let chats = request
                .id
                .iter()
                .filter_map(|id| peers::chat(world, me, Peer::Chat(*id), now))
                .collect();
            Ok(
                tl::enums::messages::Chats::Chats(tl::types::messages::Chats { chats })
                    .encode_for(layer),
            )
        })(),
        messages::MigrateChat::CONSTRUCTOR_ID => (|| {
            let request: messages::MigrateChat = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let migrated = world.migrate_group(me, request.chat_id, now)?;
            let (channel, copies, (msg, pts)) =
                (migrated.channel, migrated.copies, migrated.posted);
            let (mut list, mut mentions) = announce_group(ctx, world, me, &copies);
            peers::push_channel_message(ctx, world, channel, msg, pts, Some(me));
            list.push(tl::enums::Update::Channel(tl::types::UpdateChannel {
                channel_id: channel,
            }));
            list.extend(peers::new_channel_message_update(
                world, me, channel, msg, pts,
            ));
            mentions
                .peer(Peer::Chat(request.chat_id))
                .peer(Peer::Channel(channel));
            Ok(peers::updates_for(world, me, list, &mentions, now).encode_for(layer))
        })(),
        _ => return None,
    })
}
