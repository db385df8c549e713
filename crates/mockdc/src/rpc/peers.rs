//! Groups and channels as TL objects, per viewer, and the shared machinery of every handler that
//! touches them: resolving `InputPeer` / `InputChannel`, collecting the users and chats an
//! answer must carry (clients such as grammers panic when a peer is missing), and queueing
//! per-member pushes.
//!
//! Like [`super::encode`], everything here builds layer-230 objects; answers and pushes go
//! through [`super::encode::Layered`].

use std::collections::BTreeSet;

use grammers_tl_types as tl;

use super::encode;
use super::CallContext;
use crate::connection::PendingPush;
use crate::world::chats::{Action, Ban, Participant, ParticipantChange, Role};
use crate::world::invites::Invite;
use crate::world::messages::StoredMessage;
use crate::world::{Fail, Peer, World};

/// A world peer as a TL `Peer`.
pub fn peer(p: Peer) -> tl::enums::Peer {
    match p {
        Peer::User(user_id) => tl::enums::Peer::User(tl::types::PeerUser { user_id }),
        Peer::Chat(chat_id) => tl::enums::Peer::Chat(tl::types::PeerChat { chat_id }),
        Peer::Channel(channel_id) => {
            tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id })
        }
    }
}

/// The destination an `InputPeer` names, as `viewer` may name it (its own access hashes).
pub fn resolve_peer(
    world: &World,
    viewer: i64,
    input: &tl::enums::InputPeer,
) -> Result<Peer, Fail> {
    match input {
        tl::enums::InputPeer::PeerSelf => Ok(Peer::User(viewer)),
        tl::enums::InputPeer::User(u)
            if world.user(u.user_id).is_some()
                && world.access_hash(viewer, u.user_id) == u.access_hash =>
        {
            Ok(Peer::User(u.user_id))
        }
        tl::enums::InputPeer::Chat(c) if world.group(c.chat_id).is_some() => {
            Ok(Peer::Chat(c.chat_id))
        }
        tl::enums::InputPeer::Channel(c) => {
            resolve_channel_id(world, viewer, c.channel_id, c.access_hash).map(Peer::Channel)
        }
        _ => Err(Fail::new(400, "PEER_ID_INVALID")),
    }
}

fn resolve_channel_id(
    world: &World,
    viewer: i64,
    channel_id: i64,
    access_hash: i64,
) -> Result<i64, Fail> {
    if world.channel(channel_id).is_some()
        && world.channel_access_hash(viewer, channel_id) == access_hash
    {
        Ok(channel_id)
    } else {
        Err(Fail::new(400, "CHANNEL_INVALID"))
    }
}

/// The channel an `InputChannel` names (CHANNEL_INVALID for an unknown id or a wrong hash).
pub fn resolve_channel(
    world: &World,
    viewer: i64,
    input: &tl::enums::InputChannel,
) -> Result<i64, Fail> {
    match input {
        tl::enums::InputChannel::Channel(c) => {
            resolve_channel_id(world, viewer, c.channel_id, c.access_hash)
        }
        _ => Err(Fail::new(400, "CHANNEL_INVALID")),
    }
}

/// A basic group or channel as `viewer` sees it; `None` for users.
pub fn chat(world: &World, viewer: i64, p: Peer, now: i32) -> Option<tl::enums::Chat> {
    match p {
        Peer::User(_) => None,
        Peer::Chat(id) => {
            let g = world.group(id)?;
            if !g.is_member(viewer) && g.kicked.contains_key(&viewer) {
                return Some(tl::enums::Chat::Forbidden(tl::types::ChatForbidden {
                    id,
                    title: g.title.clone(),
                }));
            }
            Some(tl::enums::Chat::Chat(tl::types::Chat {
                creator: g.creator == viewer,
                left: !g.is_member(viewer),
                deactivated: g.migrated_to.is_some(),
                call_active: false,
                call_not_empty: false,
                noforwards: false,
                id,
                title: g.title.clone(),
                photo: tl::enums::ChatPhoto::Empty,
                participants_count: g.members.len() as i32,
                date: g.members.get(&viewer).map(|m| m.date).unwrap_or(g.date),
                version: g.version,
                migrated_to: g.migrated_to.map(|channel_id| {
                    tl::enums::InputChannel::Channel(tl::types::InputChannel {
                        channel_id,
                        access_hash: world.channel_access_hash(viewer, channel_id),
                    })
                }),
                admin_rights: g
                    .is_admin(viewer)
                    .then(|| tl::enums::ChatAdminRights::Rights(group_admin_rights())),
                default_banned_rights: None,
            }))
        }
        Peer::Channel(id) => {
            let c = world.channel(id)?;
            let access_hash = world.channel_access_hash(viewer, id);
            if c.is_kicked(viewer, now) {
                let until = c.ban(viewer, now).map(|b| b.rights.until_date);
                return Some(tl::enums::Chat::ChannelForbidden(
                    tl::types::ChannelForbidden {
                        broadcast: c.broadcast,
                        megagroup: c.megagroup(),
                        monoforum: false,
                        id,
                        access_hash,
                        title: c.title.clone(),
                        until_date: until.filter(|u| *u != 0),
                    },
                ));
            }
            let member = c.members.get(&viewer);
            Some(tl::enums::Chat::Channel(tl::types::Channel {
                creator: c.creator == viewer,
                left: member.is_none(),
                broadcast: c.broadcast,
                verified: false,
                megagroup: c.megagroup(),
                restricted: false,
                signatures: c.signatures,
                min: false,
                scam: false,
                has_link: false,
                has_geo: false,
                slowmode_enabled: false,
                call_active: false,
                call_not_empty: false,
                fake: false,
                gigagroup: false,
                noforwards: false,
                join_to_send: false,
                join_request: false,
                forum: false,
                stories_hidden: false,
                stories_hidden_min: false,
                stories_unavailable: true,
                signature_profiles: false,
                autotranslation: false,
                broadcast_messages_allowed: false,
                monoforum: false,
                forum_tabs: false,
                id,
                access_hash: Some(access_hash),
                title: c.title.clone(),
                username: c.username.clone(),
                photo: tl::enums::ChatPhoto::Empty,
                date: member.map(|m| m.date).unwrap_or(c.date),
                restriction_reason: None,
                admin_rights: c
                    .admin_rights(viewer)
                    .map(tl::enums::ChatAdminRights::Rights),
                banned_rights: c
                    .ban(viewer, now)
                    .map(|b| tl::enums::ChatBannedRights::Rights(b.rights.clone())),
                default_banned_rights: c
                    .megagroup()
                    .then(|| tl::enums::ChatBannedRights::Rights(c.default_banned.clone())),
                participants_count: Some(c.participants_count() as i32),
                usernames: None,
                stories_max_id: None,
                color: None,
                profile_color: None,
                emoji_status: None,
                level: None,
                subscription_until_date: None,
                bot_verification_icon: None,
                send_paid_messages_stars: None,
                linked_monoforum_id: None,
                linked_community_id: None,
            }))
        }
    }
}

/// The rights an admin of a basic group has (all that apply to basic groups).
fn group_admin_rights() -> tl::types::ChatAdminRights {
    tl::types::ChatAdminRights {
        post_messages: false,
        edit_messages: false,
        anonymous: false,
        manage_topics: false,
        post_stories: false,
        edit_stories: false,
        delete_stories: false,
        ..crate::world::chats::all_admin_rights()
    }
}

/// The users and chats an answer mentions, collected as it is built, then encoded per viewer.
#[derive(Debug, Default)]
pub struct Mentions {
    pub users: BTreeSet<i64>,
    pub peers: BTreeSet<Peer>,
}

impl Mentions {
    pub fn peer(&mut self, p: Peer) -> &mut Self {
        match p {
            Peer::User(id) => {
                self.users.insert(id);
            }
            other => {
                self.peers.insert(other);
            }
        }
        self
    }

    pub fn user(&mut self, id: i64) -> &mut Self {
        self.users.insert(id);
        self
    }

    /// Everyone a message names: its chat, author, forward origin, and service-message users.
    pub fn message(&mut self, m: &StoredMessage) -> &mut Self {
        self.peer(m.peer).user(m.from);
        if let Some((from, _)) = m.fwd_from {
            self.user(from);
        }
        match &m.action {
            Some(Action::ChatCreate { users, .. }) | Some(Action::AddUser { users }) => {
                self.users.extend(users);
            }
            Some(Action::DeleteUser { user }) => {
                self.user(*user);
            }
            Some(Action::JoinedByLink { inviter }) => {
                self.user(*inviter);
            }
            Some(Action::MigrateTo { channel }) => {
                self.peer(Peer::Channel(*channel));
            }
            Some(Action::ChannelMigrateFrom { chat, .. }) => {
                self.peer(Peer::Chat(*chat));
            }
            _ => {}
        }
        self
    }

    pub fn messages<'a>(&mut self, ms: impl IntoIterator<Item = &'a StoredMessage>) -> &mut Self {
        for m in ms {
            self.message(m);
        }
        self
    }

    /// (users, chats) as `viewer` sees them; the viewer itself is always among the users.
    pub fn encode(
        &self,
        world: &World,
        viewer: i64,
        now: i32,
    ) -> (Vec<tl::enums::User>, Vec<tl::enums::Chat>) {
        let users = self
            .users
            .iter()
            .copied()
            .chain([viewer])
            .collect::<BTreeSet<i64>>()
            .into_iter()
            .filter_map(|id| world.user(id).map(|u| encode::user(world, viewer, u)))
            .collect();
        let chats = self
            .peers
            .iter()
            .filter_map(|p| chat(world, viewer, *p, now))
            .collect();
        (users, chats)
    }
}

/// `updates` with the users and chats they mention, as `viewer` sees them.
pub fn updates_for(
    world: &World,
    viewer: i64,
    updates: Vec<tl::enums::Update>,
    mentions: &Mentions,
    now: i32,
) -> tl::enums::Updates {
    let (users, chats) = mentions.encode(world, viewer, now);
    tl::enums::Updates::Updates(tl::types::Updates {
        updates,
        users,
        chats,
        date: now,
        seq: 0,
    })
}

/// Queues `body` for the online sessions of `user` (all but the requesting session when
/// `skip_requester`).
pub fn push(ctx: &mut CallContext<'_>, user: i64, skip_requester: bool, body: tl::enums::Updates) {
    ctx.pushes.push(PendingPush {
        user_id: user,
        skip_requester,
        push: encode::push_of(body),
    });
}

/// The users a channel event is pushed to: its members (Telegram pushes channel updates to
/// online members only; the rest catch up with getChannelDifference).
pub fn channel_audience(world: &World, channel_id: i64) -> Vec<i64> {
    world
        .channel(channel_id)
        .map(|c| c.members.keys().copied().collect())
        .unwrap_or_default()
}

/// Pushes a new channel message to every member (each its own view: `out`, access hashes),
/// skipping the requesting session of `requester`.
pub fn push_channel_message(
    ctx: &mut CallContext<'_>,
    world: &World,
    channel_id: i64,
    id: i32,
    pts: i32,
    requester: Option<i64>,
) {
    let Some(m) = world.channel_message(channel_id, id) else {
        return;
    };
    let mut mentions = Mentions::default();
    mentions.message(m);
    for member in channel_audience(world, channel_id) {
        let update = tl::enums::Update::NewChannelMessage(tl::types::UpdateNewChannelMessage {
            message: encode::message(&m.viewed_by(member)),
            pts,
            pts_count: 1,
        });
        let body = updates_for(world, member, vec![update], &mentions, ctx.now_secs);
        push(ctx, member, Some(member) == requester, body);
    }
}

/// Pushes one per-viewer update to every member of a channel.
pub fn push_channel_update(
    ctx: &mut CallContext<'_>,
    world: &World,
    channel_id: i64,
    requester: Option<i64>,
    update: impl Fn(i64) -> tl::enums::Update,
) {
    let mut mentions = Mentions::default();
    mentions.peer(Peer::Channel(channel_id));
    for member in channel_audience(world, channel_id) {
        let body = updates_for(world, member, vec![update(member)], &mentions, ctx.now_secs);
        push(ctx, member, Some(member) == requester, body);
    }
}

/// Pushes a message stored in basic-group members' boxes, copy by copy (`updateNewMessage`
/// with the common pts of each owner), skipping the requesting session of `requester`.
pub fn push_group_copies(
    ctx: &mut CallContext<'_>,
    world: &World,
    copies: &[(i64, i32, i32)],
    requester: Option<i64>,
) {
    for &(owner, id, pts) in copies {
        let Some(m) = world.message(owner, id) else {
            continue;
        };
        let mut mentions = Mentions::default();
        mentions.message(m);
        let update = tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
            message: encode::message(m),
            pts,
            pts_count: 1,
        });
        let body = updates_for(world, owner, vec![update], &mentions, ctx.now_secs);
        push(ctx, owner, Some(owner) == requester, body);
    }
}

/// `updateNewMessage` for one copy (the requester's, in results).
pub fn new_message_update(
    world: &World,
    owner: i64,
    id: i32,
    pts: i32,
) -> Option<tl::enums::Update> {
    let m = world.message(owner, id)?;
    Some(tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
        message: encode::message(m),
        pts,
        pts_count: 1,
    }))
}

/// `updateNewChannelMessage` as `viewer` sees it.
pub fn new_channel_message_update(
    world: &World,
    viewer: i64,
    channel_id: i64,
    id: i32,
    pts: i32,
) -> Option<tl::enums::Update> {
    let m = world.channel_message(channel_id, id)?;
    Some(tl::enums::Update::NewChannelMessage(
        tl::types::UpdateNewChannelMessage {
            message: encode::message(&m.viewed_by(viewer)),
            pts,
            pts_count: 1,
        },
    ))
}

// ---------------------------------------------------------------- participants and invites

fn banned_rights(b: &Ban) -> tl::enums::ChatBannedRights {
    tl::enums::ChatBannedRights::Rights(b.rights.clone())
}

/// A channel participant as `viewer` sees it (`channelParticipantSelf` for itself).
pub fn channel_participant(
    world: &World,
    channel_id: i64,
    viewer: i64,
    user: i64,
    p: &Participant,
) -> tl::enums::ChannelParticipant {
    let creator = world.channel(channel_id).map(|c| c.creator).unwrap_or(0);
    match p {
        Participant::Member(m) => match &m.role {
            Role::Creator { rank } => {
                tl::enums::ChannelParticipant::Creator(tl::types::ChannelParticipantCreator {
                    user_id: user,
                    admin_rights: tl::enums::ChatAdminRights::Rights(
                        crate::world::chats::all_admin_rights(),
                    ),
                    rank: rank.clone(),
                })
            }
            Role::Admin {
                rights,
                promoted_by,
                rank,
            } => tl::enums::ChannelParticipant::Admin(tl::types::ChannelParticipantAdmin {
                can_edit: viewer == creator || *promoted_by == viewer,
                is_self: user == viewer,
                user_id: user,
                inviter_id: (user == viewer).then_some(m.inviter),
                promoted_by: *promoted_by,
                date: m.date,
                admin_rights: tl::enums::ChatAdminRights::Rights(rights.clone()),
                rank: rank.clone(),
            }),
            Role::Member if user == viewer => {
                tl::enums::ChannelParticipant::ParticipantSelf(tl::types::ChannelParticipantSelf {
                    via_request: m.via_request,
                    user_id: user,
                    inviter_id: m.inviter,
                    date: m.date,
                    subscription_until_date: None,
                    rank: None,
                })
            }
            Role::Member => {
                tl::enums::ChannelParticipant::Participant(tl::types::ChannelParticipant {
                    user_id: user,
                    date: m.date,
                    subscription_until_date: None,
                    rank: None,
                })
            }
        },
        Participant::Banned(b) => {
            tl::enums::ChannelParticipant::Banned(tl::types::ChannelParticipantBanned {
                left: b.rights.view_messages,
                peer: peer(Peer::User(user)),
                kicked_by: b.kicked_by,
                date: b.date,
                banned_rights: banned_rights(b),
                rank: None,
            })
        }
        Participant::GroupMember(_) | Participant::GroupCreator => {
            tl::enums::ChannelParticipant::Left(tl::types::ChannelParticipantLeft {
                peer: peer(Peer::User(user)),
            })
        }
    }
}

/// A basic-group participant.
pub fn chat_participant(user: i64, p: &Participant) -> Option<tl::enums::ChatParticipant> {
    Some(match p {
        Participant::GroupCreator => {
            tl::enums::ChatParticipant::Creator(tl::types::ChatParticipantCreator {
                user_id: user,
                rank: None,
            })
        }
        Participant::GroupMember(m) if m.admin => {
            tl::enums::ChatParticipant::Admin(tl::types::ChatParticipantAdmin {
                user_id: user,
                inviter_id: m.inviter,
                date: m.date,
                rank: None,
            })
        }
        Participant::GroupMember(m) => {
            tl::enums::ChatParticipant::Participant(tl::types::ChatParticipant {
                user_id: user,
                inviter_id: m.inviter,
                date: m.date,
                rank: None,
            })
        }
        _ => return None,
    })
}

/// `chatInviteExported`.
pub fn exported_invite(invite: &Invite) -> tl::enums::ExportedChatInvite {
    let requested = invite.requested();
    tl::enums::ExportedChatInvite::ChatInviteExported(tl::types::ChatInviteExported {
        revoked: invite.revoked,
        permanent: invite.permanent,
        request_needed: invite.request_needed,
        link: invite.link(),
        admin_id: invite.admin_id,
        date: invite.date,
        start_date: invite.start_date,
        expire_date: invite.expire_date,
        usage_limit: invite.usage_limit,
        usage: (invite.usage > 0).then_some(invite.usage),
        requested: (requested > 0).then_some(requested),
        subscription_expired: None,
        title: invite.title.clone(),
        subscription_pricing: None,
    })
}

/// Tells the admins of the chat about membership changes: `updateChannelParticipant` /
/// `updateChatParticipant` (qts 0, as Telegram sends them to user accounts) carrying the
/// invite link used, to every online session but the requester's. The member whose status
/// changed gets `updateChannel` (channels) so its client refetches the channel.
pub fn notify_changes(
    ctx: &mut CallContext<'_>,
    world: &World,
    changes: &[ParticipantChange],
    requester: Option<i64>,
) {
    for change in changes {
        let invite = change
            .invite
            .as_deref()
            .and_then(|h| world.invite(h))
            .map(exported_invite);
        let mut mentions = Mentions::default();
        mentions
            .peer(change.peer)
            .user(change.user_id)
            .user(change.actor);
        for admin in world.admins_of(change.peer) {
            let update = match change.peer {
                Peer::Channel(channel_id) => {
                    let encode_p = |p: &Option<Participant>| {
                        p.as_ref().map(|p| {
                            channel_participant(world, channel_id, admin, change.user_id, p)
                        })
                    };
                    tl::enums::Update::ChannelParticipant(tl::types::UpdateChannelParticipant {
                        via_chatlist: false,
                        channel_id,
                        date: change.date,
                        actor_id: change.actor,
                        user_id: change.user_id,
                        prev_participant: encode_p(&change.prev),
                        new_participant: encode_p(&change.new),
                        invite: invite.clone(),
                        qts: 0,
                    })
                }
                Peer::Chat(chat_id) => {
                    tl::enums::Update::ChatParticipant(tl::types::UpdateChatParticipant {
                        chat_id,
                        date: change.date,
                        actor_id: change.actor,
                        user_id: change.user_id,
                        prev_participant: change
                            .prev
                            .as_ref()
                            .and_then(|p| chat_participant(change.user_id, p)),
                        new_participant: change
                            .new
                            .as_ref()
                            .and_then(|p| chat_participant(change.user_id, p)),
                        invite: invite.clone(),
                        qts: 0,
                    })
                }
                Peer::User(_) => continue,
            };
            let body = updates_for(world, admin, vec![update], &mentions, ctx.now_secs);
            push(ctx, admin, Some(admin) == requester, body);
        }
        if let Peer::Channel(channel_id) = change.peer {
            let update = tl::enums::Update::Channel(tl::types::UpdateChannel { channel_id });
            let body = updates_for(world, change.user_id, vec![update], &mentions, ctx.now_secs);
            push(ctx, change.user_id, Some(change.user_id) == requester, body);
        }
    }
}

/// A service message's TL action.
pub fn action(a: &Action) -> tl::enums::MessageAction {
    use tl::enums::MessageAction as A;
    match a {
        Action::ChatCreate { title, users } => A::ChatCreate(tl::types::MessageActionChatCreate {
            title: title.clone(),
            users: users.clone(),
        }),
        Action::ChannelCreate { title } => {
            A::ChannelCreate(tl::types::MessageActionChannelCreate {
                title: title.clone(),
            })
        }
        Action::EditTitle { title } => A::ChatEditTitle(tl::types::MessageActionChatEditTitle {
            title: title.clone(),
        }),
        Action::AddUser { users } => A::ChatAddUser(tl::types::MessageActionChatAddUser {
            users: users.clone(),
        }),
        Action::DeleteUser { user } => {
            A::ChatDeleteUser(tl::types::MessageActionChatDeleteUser { user_id: *user })
        }
        Action::JoinedByLink { inviter } => {
            A::ChatJoinedByLink(tl::types::MessageActionChatJoinedByLink {
                inviter_id: *inviter,
            })
        }
        Action::JoinedByRequest => A::ChatJoinedByRequest,
        Action::MigrateTo { channel } => A::ChatMigrateTo(tl::types::MessageActionChatMigrateTo {
            channel_id: *channel,
        }),
        Action::ChannelMigrateFrom { title, chat } => {
            A::ChannelMigrateFrom(tl::types::MessageActionChannelMigrateFrom {
                title: title.clone(),
                chat_id: *chat,
            })
        }
    }
}

/// A service message (`messageService`) as its box owner (or channel reader) sees it.
pub fn service_message(m: &StoredMessage, a: &Action) -> tl::enums::Message {
    tl::enums::Message::Service(tl::types::MessageService {
        out: m.out,
        mentioned: false,
        media_unread: false,
        reactions_are_possible: false,
        silent: false,
        post: m.post,
        legacy: false,
        id: m.id,
        from_id: (!m.post).then(|| peer(Peer::User(m.from))),
        peer_id: peer(m.peer),
        saved_peer_id: None,
        reply_to: None,
        date: m.date,
        action: action(a),
        reactions: None,
        ttl_period: None,
    })
}

/// The destination of a sending request, for flood rules per chat (see
/// [`crate::faults::FloodLimit`]): messages.sendMessage, sendMedia, sendMultiMedia,
/// forwardMessages (`to_peer`).
pub fn flood_target(
    world: &World,
    caller: i64,
    constructor: u32,
    fields: &[u8],
) -> Option<crate::faults::FloodTarget> {
    use crate::faults::{FloodTarget, PeerKind};
    use grammers_tl_types::{Deserializable, Identifiable};
    use tl::functions::messages as m;
    let input = match constructor {
        m::SendMessage::CONSTRUCTOR_ID => m::SendMessage::from_bytes(fields).ok()?.peer,
        m::SendMedia::CONSTRUCTOR_ID => m::SendMedia::from_bytes(fields).ok()?.peer,
        m::SendMultiMedia::CONSTRUCTOR_ID => m::SendMultiMedia::from_bytes(fields).ok()?.peer,
        m::ForwardMessages::CONSTRUCTOR_ID => m::ForwardMessages::from_bytes(fields).ok()?.to_peer,
        _ => return None,
    };
    Some(match resolve_peer(world, caller, &input).ok()? {
        Peer::User(id) => FloodTarget {
            kind: PeerKind::User,
            key: (0, id),
        },
        Peer::Chat(id) => FloodTarget {
            kind: PeerKind::Group,
            key: (1, id),
        },
        Peer::Channel(id) => FloodTarget {
            kind: if world.channel(id).is_some_and(|c| c.broadcast) {
                PeerKind::Channel
            } else {
                PeerKind::Group
            },
            key: (2, id),
        },
    })
}

/// The pushes an operation outside an RPC (the control API) causes: `f` queues them as a
/// handler would, with no requester to skip.
pub fn control_pushes(
    cluster: &crate::cluster::Cluster,
    now: i32,
    f: impl FnOnce(&mut CallContext<'_>),
) -> Vec<PendingPush> {
    let mut pushes = Vec::new();
    let mut session = crate::session::Session::new(0);
    let mut ctx = CallContext {
        cluster,
        dc_id: 0,
        session: &mut session,
        key_id: 0,
        now_secs: now,
        pushes: &mut pushes,
    };
    f(&mut ctx);
    pushes
}
