//! Invite links: `messages.exportChatInvite`, `getExportedChatInvites`, `getExportedChatInvite`,
//! `editExportedChatInvite`, `deleteExportedChatInvite`, `deleteRevokedExportedChatInvites`,
//! `checkChatInvite`, `importChatInvite`, `hideChatJoinRequest`, `getChatInviteImporters`,
//! `getAdminsWithInvites`.
//!
//! A join through a link is announced like any join (service message in groups and
//! megagroups), and the chat's admins get `updateChatParticipant` / `updateChannelParticipant`
//! with the link used; a request-needed link answers INVITE_REQUEST_SENT and the admins get
//! `updatePendingJoinRequests`.

use grammers_tl_types::{self as tl, Cursor, Deserializable, Identifiable, Serializable};
use telegate_mockdc_tl198 as tl198;

use super::account::resolve_input_user;
use super::encode::Layered;
use super::peers::{self, resolve_peer, Mentions};
use super::{decode, CallContext, Handled};
use crate::world::chats::{Announced, Membership};
use crate::world::invites::{InviteCheck, InviteOptions, Joined};
use crate::world::{Fail, Peer, World};

/// The layer-198 `messages.importChatInvite` (answers `Updates`, where 230 wraps them).
const IMPORT_CHAT_INVITE_198: u32 = tl198::functions::messages::ImportChatInvite::CONSTRUCTOR_ID;

/// `updates` for the user who just joined (its copy or the channel's service message, and
/// `updateChannel`), with the pushes for everyone else queued.
fn joined_updates(
    ctx: &mut CallContext<'_>,
    world: &World,
    me: i64,
    peer: Peer,
    membership: &Membership,
) -> tl::enums::Updates {
    match peer {
        Peer::Channel(channel) => {
            let announced = match membership.announced {
                Announced::Channel { id, pts } => Some((id, pts)),
                _ => None,
            };
            super::channels::channel_change_updates(
                ctx,
                world,
                me,
                channel,
                &membership.changes,
                announced,
            )
        }
        _ => {
            let tl::enums::messages::InvitedUsers::Users(invited) =
                super::chats::invited_users(ctx, world, me, peer, membership);
            invited.updates
        }
    }
}

/// Tells the chat's admins how many join requests wait (`updatePendingJoinRequests`).
fn notify_requests(ctx: &mut CallContext<'_>, world: &World, peer: Peer) {
    let requests = world.join_requests(peer);
    let mut mentions = Mentions::default();
    mentions.peer(peer);
    let recent: Vec<i64> = requests.iter().rev().take(3).map(|(u, _, _)| *u).collect();
    for user in &recent {
        mentions.user(*user);
    }
    for admin in world.admins_of(peer) {
        let update = tl::enums::Update::PendingJoinRequests(tl::types::UpdatePendingJoinRequests {
            peer: peers::peer(peer),
            requests_pending: requests.len() as i32,
            recent_requesters: recent.clone(),
        });
        let body = peers::updates_for(world, admin, vec![update], &mentions, ctx.now_secs);
        peers::push(ctx, admin, false, body);
    }
}

fn chat_peer(world: &World, me: i64, input: &tl::enums::InputPeer) -> Result<Peer, Fail> {
    match resolve_peer(world, me, input)? {
        Peer::User(_) => Err(Fail::new(400, "PEER_ID_INVALID")),
        other => Ok(other),
    }
}

fn exported_answer(
    world: &World,
    me: i64,
    invite: tl::enums::ExportedChatInvite,
    replaced: Option<tl::enums::ExportedChatInvite>,
    admin: i64,
    now: i32,
) -> tl::enums::messages::ExportedChatInvite {
    let mut mentions = Mentions::default();
    mentions.user(admin);
    let (users, _) = mentions.encode(world, me, now);
    match replaced {
        Some(new_invite) => tl::enums::messages::ExportedChatInvite::Replaced(
            tl::types::messages::ExportedChatInviteReplaced {
                invite,
                new_invite,
                users,
            },
        ),
        None => tl::enums::messages::ExportedChatInvite::Invite(
            tl::types::messages::ExportedChatInvite { invite, users },
        ),
    }
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
        messages::ExportChatInvite::CONSTRUCTOR_ID => (|| {
            let request: messages::ExportChatInvite = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = chat_peer(world, me, &request.peer)?;
            let opts = InviteOptions {
                expire_date: request.expire_date,
                usage_limit: request.usage_limit,
                request_needed: request.request_needed.then_some(true),
                title: request.title,
            };
            let invite =
                world.export_invite(me, peer, opts, request.legacy_revoke_permanent, now)?;
            Ok(peers::exported_invite(invite).to_bytes())
        })(),
        messages::GetExportedChatInvites::CONSTRUCTOR_ID => (|| {
            let request: messages::GetExportedChatInvites = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = chat_peer(world, me, &request.peer)?;
            let admin = resolve_input_user(world, me, &request.admin_id)?;
            let offset = request
                .offset_date
                .map(|d| (d, request.offset_link.clone().unwrap_or_default()));
            let (page, count) = world.exported_invites(
                me,
                peer,
                admin,
                request.revoked,
                offset,
                request.limit.max(0) as usize,
            )?;
            let invites = page.iter().map(|i| peers::exported_invite(i)).collect();
            let mut mentions = Mentions::default();
            mentions.user(admin);
            let (users, _) = mentions.encode(world, me, now);
            Ok(tl::enums::messages::ExportedChatInvites::Invites(
                tl::types::messages::ExportedChatInvites {
                    count: count as i32,
                    invites,
                    users,
                },
            )
            .encode_for(layer))
        })(),
        messages::GetExportedChatInvite::CONSTRUCTOR_ID => (|| {
            let request: messages::GetExportedChatInvite = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = chat_peer(world, me, &request.peer)?;
            let invite = world.exported_invite(me, peer, &request.link)?;
            let (encoded, admin) = (peers::exported_invite(invite), invite.admin_id);
            Ok(exported_answer(world, me, encoded, None, admin, now).encode_for(layer))
        })(),
        messages::EditExportedChatInvite::CONSTRUCTOR_ID => (|| {
            let request: messages::EditExportedChatInvite = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = chat_peer(world, me, &request.peer)?;
            let opts = InviteOptions {
                expire_date: request.expire_date,
                usage_limit: request.usage_limit,
                request_needed: request.request_needed,
                title: request.title,
            };
            let (edited, replacement) =
                world.edit_invite(me, peer, &request.link, request.revoked, opts, now)?;
            Ok(exported_answer(
                world,
                me,
                peers::exported_invite(&edited),
                replacement.as_ref().map(peers::exported_invite),
                edited.admin_id,
                now,
            )
            .encode_for(layer))
        })(),
        messages::DeleteExportedChatInvite::CONSTRUCTOR_ID => (|| {
            let request: messages::DeleteExportedChatInvite = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = chat_peer(world, me, &request.peer)?;
            world.delete_invite(me, peer, &request.link)?;
            Ok(true.to_bytes())
        })(),
        messages::DeleteRevokedExportedChatInvites::CONSTRUCTOR_ID => (|| {
            let request: messages::DeleteRevokedExportedChatInvites = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = chat_peer(world, me, &request.peer)?;
            let admin = resolve_input_user(world, me, &request.admin_id)?;
            world.delete_revoked_invites(me, peer, admin)?;
            Ok(true.to_bytes())
        })(),
        messages::CheckChatInvite::CONSTRUCTOR_ID => (|| {
            let request: messages::CheckChatInvite = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let answer = match world.check_invite(me, &request.hash, now)? {
                InviteCheck::Already(peer) => {
                    let chat = peers::chat(world, me, peer, now)
                        .ok_or_else(|| Fail::new(400, "INVITE_HASH_INVALID"))?;
                    tl::enums::ChatInvite::Already(tl::types::ChatInviteAlready { chat })
                }
                InviteCheck::Invite {
                    peer,
                    request_needed,
                } => chat_invite(world, me, peer, request_needed, now)?,
            };
            Ok(answer.encode_for(layer))
        })(),
        messages::ImportChatInvite::CONSTRUCTOR_ID | IMPORT_CHAT_INVITE_198 => (|| {
            let hash = if id == IMPORT_CHAT_INVITE_198 {
                tl198::functions::messages::ImportChatInvite::deserialize(cursor)
                    .map_err(|_| Fail::new(400, "INPUT_FETCH_ERROR"))?
                    .hash
            } else {
                decode::<messages::ImportChatInvite>(cursor)?.hash
            };
            let me = world.user_of(key_id)?;
            match world.import_invite(me, &hash, now)? {
                Joined::Requested { peer } => {
                    notify_requests(ctx, world, peer);
                    Err(Fail::new(400, "INVITE_REQUEST_SENT"))
                }
                Joined::Member(membership) => {
                    let peer = membership
                        .changes
                        .first()
                        .map(|c| c.peer)
                        .ok_or_else(|| Fail::new(400, "INVITE_HASH_INVALID"))?;
                    let updates = joined_updates(ctx, world, me, peer, &membership);
                    Ok(if id == IMPORT_CHAT_INVITE_198 {
                        updates.encode_for(layer)
                    } else {
                        tl::enums::messages::ChatInviteJoinResult::Ok(
                            tl::types::messages::ChatInviteJoinResultOk { updates },
                        )
                        .encode_for(layer)
                    })
                }
            }
        })(),
        messages::HideChatJoinRequest::CONSTRUCTOR_ID => (|| {
            let request: messages::HideChatJoinRequest = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = chat_peer(world, me, &request.peer)?;
            let user = resolve_input_user(world, me, &request.user_id)?;
            let joined = world.hide_join_request(me, peer, user, request.approved, now)?;
            notify_requests(ctx, world, peer);
            let updates = match joined {
                Some(membership) => joined_updates(ctx, world, me, peer, &membership),
                None => {
                    let mut mentions = Mentions::default();
                    mentions.peer(peer).user(user);
                    peers::updates_for(world, me, Vec::new(), &mentions, now)
                }
            };
            Ok(updates.encode_for(layer))
        })(),
        messages::GetChatInviteImporters::CONSTRUCTOR_ID => (|| {
            let request: messages::GetChatInviteImporters = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = chat_peer(world, me, &request.peer)?;
            let offset_user = match &request.offset_user {
                tl::enums::InputUser::Empty => 0,
                other => resolve_input_user(world, me, other)?,
            };
            let (page, count) = world.invite_importers(
                me,
                peer,
                request.link.as_deref(),
                request.requested,
                request.q.as_deref(),
                (request.offset_date, offset_user),
                request.limit.max(0) as usize,
            )?;
            let mut mentions = Mentions::default();
            for (importer, _) in &page {
                mentions.user(importer.user_id);
                if let Some(admin) = importer.approved_by {
                    mentions.user(admin);
                }
            }
            let (users, _) = mentions.encode(world, me, now);
            Ok(tl::enums::messages::ChatInviteImporters::Importers(
                tl::types::messages::ChatInviteImporters {
                    count: count as i32,
                    importers: page
                        .iter()
                        .map(|(i, _)| {
                            tl::enums::ChatInviteImporter::Importer(tl::types::ChatInviteImporter {
                                requested: i.requested,
                                via_chatlist: false,
                                user_id: i.user_id,
                                date: i.date,
                                about: None,
                                approved_by: i.approved_by,
                            })
                        })
                        .collect(),
                    users,
                },
            )
            .encode_for(layer))
        })(),
        messages::GetAdminsWithInvites::CONSTRUCTOR_ID => (|| {
            let request: messages::GetAdminsWithInvites = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = chat_peer(world, me, &request.peer)?;
            if !world.admins_of(peer).contains(&me) {
                return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
            }
            let mut admins = Vec::new();
            let mut mentions = Mentions::default();
            for admin in world.admins_of(peer) {
                let (active, _) = world.exported_invites(me, peer, admin, false, None, 100)?;
                let (revoked, _) = world.exported_invites(me, peer, admin, true, None, 100)?;
                if active.is_empty() && revoked.is_empty() {
                    continue;
                }
                mentions.user(admin);
                admins.push(tl::enums::ChatAdminWithInvites::Invites(
                    tl::types::ChatAdminWithInvites {
                        admin_id: admin,
                        invites_count: active.len() as i32,
                        revoked_invites_count: revoked.len() as i32,
                    },
                ));
            }
            let (users, _) = mentions.encode(world, me, now);
            Ok(tl::enums::messages::ChatAdminsWithInvites::Invites(
                tl::types::messages::ChatAdminsWithInvites { admins, users },
            )
            .encode_for(layer))
        })(),
        _ => return None,
    })
}

/// `chatInvite`: what a would-be member learns about the chat before joining.
fn chat_invite(
    world: &World,
    me: i64,
    peer: Peer,
    request_needed: bool,
    now: i32,
) -> Result<tl::enums::ChatInvite, Fail> {
    let (title, about, count, broadcast, megagroup, public, members) = match peer {
        Peer::Chat(id) => {
            let g = world
                .group(id)
                .ok_or_else(|| Fail::new(400, "INVITE_HASH_INVALID"))?;
            let members: Vec<i64> = g.members.keys().copied().take(10).collect();
            (
                g.title.clone(),
                g.about.clone(),
                g.members.len(),
                false,
                false,
                false,
                members,
            )
        }
        Peer::Channel(id) => {
            let c = world
                .channel(id)
                .ok_or_else(|| Fail::new(400, "INVITE_HASH_INVALID"))?;
            (
                c.title.clone(),
                c.about.clone(),
                c.participants_count(),
                c.broadcast,
                c.megagroup(),
                c.username.is_some(),
                Vec::new(),
            )
        }
        Peer::User(_) => return Err(Fail::new(400, "INVITE_HASH_INVALID")),
    };
    let mut mentions = Mentions::default();
    for user in &members {
        mentions.user(*user);
    }
    let (users, _) = mentions.encode(world, me, now);
    let participants: Vec<tl::enums::User> = users
        .into_iter()
        .filter(|u| members.contains(&u.id()))
        .collect();
    Ok(tl::enums::ChatInvite::Invite(tl::types::ChatInvite {
        channel: matches!(peer, Peer::Channel(_)),
        broadcast,
        public,
        megagroup,
        request_needed,
        verified: false,
        scam: false,
        fake: false,
        can_refulfill_subscription: false,
        title,
        about: (!about.is_empty()).then_some(about),
        photo: tl::enums::Photo::Empty(tl::types::PhotoEmpty { id: 0 }),
        participants_count: count as i32,
        participants: (!participants.is_empty()).then_some(participants),
        color: 0,
        subscription_pricing: None,
        subscription_form_id: None,
        bot_verification: None,
    }))
}
