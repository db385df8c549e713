//! Control API routes for groups, channels and invite links (documented in docs/mock-dc.md):
//! create them owned by a user, add and remove members, post as a channel, make links, and
//! look at their state. Errors are `{"error": "..."}` naming what is wrong; refusals Telegram
//! itself would give name its error ("Telegram would answer 400 USERS_TOO_MUCH").

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::connection::PendingPush;
use crate::control::{now_secs, user_not_found, AppState, ControlError};
use crate::faults::ChannelTooLong;
use crate::world::chats::{Announced, NewChannel, Participant, Role};
use crate::world::invites::InviteOptions;
use crate::world::{Fail, Peer, World};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/groups", post(create_group))
        .route("/v1/groups/{chat_id}", get(get_group))
        .route("/v1/groups/{chat_id}/members", post(add_group_member))
        .route(
            "/v1/groups/{chat_id}/members/{user_id}",
            delete(remove_group_member),
        )
        .route("/v1/channels", post(create_channel))
        .route("/v1/channels/{channel_id}", get(get_channel))
        .route(
            "/v1/channels/{channel_id}/members",
            post(add_channel_member),
        )
        .route(
            "/v1/channels/{channel_id}/members/{user_id}",
            delete(remove_channel_member),
        )
        .route("/v1/channels/{channel_id}/posts", post(post_to_channel))
        .route(
            "/v1/channels/{channel_id}/invites",
            post(create_channel_invite),
        )
        .route("/v1/groups/{chat_id}/invites", post(create_group_invite))
}

fn telegram(fail: Fail) -> ControlError {
    ControlError::BadRequest(format!("Telegram would answer {fail}"))
}

fn need_user(world: &World, user_id: i64) -> Result<(), ControlError> {
    world
        .user(user_id)
        .map(|_| ())
        .ok_or_else(|| user_not_found(user_id))
}

fn no_group(chat_id: i64) -> ControlError {
    ControlError::NotFound(format!("no basic group {chat_id}"))
}

fn no_channel(channel_id: i64) -> ControlError {
    ControlError::NotFound(format!("no channel {channel_id}"))
}

fn deliver(state: &AppState, pushes: Vec<PendingPush>) {
    for pending in pushes {
        let keys = state.cluster.world().keys_of(pending.user_id);
        state.cluster.deliver(&keys, None, &pending.push);
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    owner_user_id: i64,
    title: String,
    #[serde(default)]
    members: Vec<i64>,
}

/// `POST /v1/groups {"owner_user_id","title","members?":[ids]}` → `{"chat_id","members"}`.
async fn create_group(
    State(state): State<AppState>,
    body: Result<Json<NewGroup>, JsonRejection>,
) -> Result<Json<Value>, ControlError> {
    let Json(request) = body?;
    let now = now_secs();
    let (chat, pushes, count) = {
        let mut world = state.cluster.world();
        need_user(&world, request.owner_user_id)?;
        for member in &request.members {
            need_user(&world, *member)?;
        }
        let (chat, membership) = world
            .create_group(request.owner_user_id, &request.title, &request.members, now)
            .map_err(telegram)?;
        let pushes = crate::rpc::control_pushes(&state.cluster, now, |ctx| {
            if let Announced::Group(copies) = &membership.announced {
                crate::rpc::push_group_copies(ctx, &world, copies, None);
            }
        });
        let count = world.group(chat).map(|g| g.members.len()).unwrap_or(0);
        (chat, pushes, count)
    };
    deliver(&state, pushes);
    Ok(Json(json!({ "chat_id": chat, "members": count })))
}

/// `GET /v1/groups/{chat_id}`: title, creator, version, members, migration.
async fn get_group(
    State(state): State<AppState>,
    Path(chat_id): Path<i64>,
) -> Result<Json<Value>, ControlError> {
    let world = state.cluster.world();
    let g = world.group(chat_id).ok_or_else(|| no_group(chat_id))?;
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|(user, m)| {
            json!({
                "user_id": user, "inviter_id": m.inviter, "date": m.date,
                "role": if *user == g.creator { "creator" } else if m.admin { "admin" } else { "member" },
            })
        })
        .collect();
    Ok(Json(json!({
        "chat_id": g.id, "title": g.title, "creator_user_id": g.creator, "date": g.date,
        "version": g.version, "members": members, "migrated_to": g.migrated_to,
        "invites": invites_json(&world, Peer::Chat(chat_id)),
    })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    user_id: i64,
    /// Make the member an admin (channels: every right but adding admins).
    #[serde(default)]
    admin: bool,
}

/// `POST /v1/groups/{chat_id}/members {"user_id","admin?"}`: the creator adds the user.
async fn add_group_member(
    State(state): State<AppState>,
    Path(chat_id): Path<i64>,
    body: Result<Json<NewMember>, JsonRejection>,
) -> Result<Json<Value>, ControlError> {
    let Json(request) = body?;
    let now = now_secs();
    let pushes = {
        let mut world = state.cluster.world();
        need_user(&world, request.user_id)?;
        let creator = world
            .group(chat_id)
            .ok_or_else(|| no_group(chat_id))?
            .creator;
        let mut membership = world
            .add_group_member(creator, chat_id, request.user_id, None, false, now)
            .map_err(telegram)?;
        if !membership.missing.is_empty() {
            return Err(telegram(Fail::new(400, "USER_PRIVACY_RESTRICTED")));
        }
        if request.admin {
            let change = world
                .edit_group_admin(creator, chat_id, request.user_id, true, now)
                .map_err(telegram)?;
            membership.changes.push(change);
        }
        crate::rpc::control_pushes(&state.cluster, now, |ctx| {
            if let Announced::Group(copies) = &membership.announced {
                crate::rpc::push_group_copies(ctx, &world, copies, None);
            }
            crate::rpc::notify_changes(ctx, &world, &membership.changes, None);
        })
    };
    deliver(&state, pushes);
    Ok(Json(
        json!({ "chat_id": chat_id, "user_id": request.user_id, "admin": request.admin }),
    ))
}

/// `DELETE /v1/groups/{chat_id}/members/{user_id}`: the creator removes the user.
async fn remove_group_member(
    State(state): State<AppState>,
    Path((chat_id, user_id)): Path<(i64, i64)>,
) -> Result<Json<Value>, ControlError> {
    let now = now_secs();
    let pushes = {
        let mut world = state.cluster.world();
        need_user(&world, user_id)?;
        let creator = world
            .group(chat_id)
            .ok_or_else(|| no_group(chat_id))?
            .creator;
        let membership = world
            .remove_group_member(creator, chat_id, user_id, now)
            .map_err(telegram)?;
        crate::rpc::control_pushes(&state.cluster, now, |ctx| {
            if let Announced::Group(copies) = &membership.announced {
                crate::rpc::push_group_copies(ctx, &world, copies, None);
            }
            crate::rpc::notify_changes(ctx, &world, &membership.changes, None);
        })
    };
    deliver(&state, pushes);
    Ok(Json(
        json!({ "chat_id": chat_id, "user_id": user_id, "removed": true }),
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum ChannelKind {
    Broadcast,
    Megagroup,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannelRequest {
    owner_user_id: i64,
    title: String,
    kind: ChannelKind,
    #[serde(default)]
    about: String,
    /// Makes the channel public (anyone may read and join it).
    username: Option<String>,
    #[serde(default)]
    members: Vec<i64>,
    #[serde(default)]
    admins: Vec<i64>,
}

/// `POST /v1/channels {"owner_user_id","title","kind":"broadcast"|"megagroup","about?",
/// "username?","members?":[ids],"admins?":[ids]}` → `{"channel_id","pts"}`.
async fn create_channel(
    State(state): State<AppState>,
    body: Result<Json<NewChannelRequest>, JsonRejection>,
) -> Result<Json<Value>, ControlError> {
    let Json(request) = body?;
    let now = now_secs();
    let (channel, pts, pushes) = {
        let mut world = state.cluster.world();
        need_user(&world, request.owner_user_id)?;
        for user in request.members.iter().chain(&request.admins) {
            need_user(&world, *user)?;
        }
        let (channel, _, _) = world
            .create_channel(
                request.owner_user_id,
                NewChannel {
                    title: request.title,
                    about: request.about,
                    broadcast: matches!(request.kind, ChannelKind::Broadcast),
                    username: request.username,
                },
                now,
            )
            .map_err(telegram)?;
        let mut changes = Vec::new();
        let mut posts = Vec::new();
        for (user, admin) in request
            .members
            .iter()
            .map(|u| (*u, false))
            .chain(request.admins.iter().map(|u| (*u, true)))
        {
            if user == request.owner_user_id {
                continue;
            }
            let (change, posted) = world
                .force_channel_member(channel, user, admin, now)
                .map_err(telegram)?;
            changes.push(change);
            posts.extend(posted);
        }
        let pushes = crate::rpc::control_pushes(&state.cluster, now, |ctx| {
            for (id, pts) in &posts {
                crate::rpc::push_channel_message(ctx, &world, channel, *id, *pts, None);
            }
            crate::rpc::notify_changes(ctx, &world, &changes, None);
        });
        let pts = world.channel(channel).map(|c| c.pts).unwrap_or(0);
        (channel, pts, pushes)
    };
    deliver(&state, pushes);
    Ok(Json(json!({ "channel_id": channel, "pts": pts })))
}

fn invites_json(world: &World, peer: Peer) -> Vec<Value> {
    world
        .invites_of(peer)
        .iter()
        .map(|i| {
            json!({
                "link": i.link(), "hash": i.hash, "admin_id": i.admin_id, "date": i.date,
                "usage": i.usage, "usage_limit": i.usage_limit, "requested": i.requested(),
                "expire_date": i.expire_date, "request_needed": i.request_needed,
                "title": i.title, "revoked": i.revoked, "permanent": i.permanent,
            })
        })
        .collect()
}

/// `GET /v1/channels/{channel_id}`: kind, pts, participants with roles, bans, invite links.
async fn get_channel(
    State(state): State<AppState>,
    Path(channel_id): Path<i64>,
) -> Result<Json<Value>, ControlError> {
    let world = state.cluster.world();
    let c = world
        .channel(channel_id)
        .ok_or_else(|| no_channel(channel_id))?;
    let now = now_secs();
    let participants: Vec<Value> = c
        .members
        .iter()
        .map(|(user, m)| {
            let role = match &m.role {
                Role::Creator { .. } => "creator",
                Role::Admin { .. } => "admin",
                Role::Member => "member",
            };
            let restricted = matches!(c.participant(*user, now), Some(Participant::Member(_)))
                && c.ban(*user, now).is_some();
            json!({ "user_id": user, "role": role, "date": m.date, "inviter_id": m.inviter,
                    "restricted": restricted })
        })
        .collect();
    let bans: Vec<Value> = c
        .bans
        .iter()
        .filter(|(u, _)| c.ban(**u, now).is_some())
        .map(|(u, b)| {
            json!({ "user_id": u, "kicked": b.rights.view_messages, "by": b.kicked_by,
                    "until_date": b.rights.until_date })
        })
        .collect();
    Ok(Json(json!({
        "channel_id": c.id, "title": c.title, "about": c.about, "username": c.username,
        "kind": if c.broadcast { "broadcast" } else { "megagroup" },
        "creator_user_id": c.creator, "date": c.date, "pts": c.pts,
        "last_message_id": c.messages.keys().next_back(),
        "participants": participants, "bans": bans,
        "invites": invites_json(&world, Peer::Channel(channel_id)),
    })))
}

/// `POST /v1/channels/{channel_id}/members {"user_id","admin?"}`: added by the creator (an
/// admin with every right but adding admins when `admin`).
async fn add_channel_member(
    State(state): State<AppState>,
    Path(channel_id): Path<i64>,
    body: Result<Json<NewMember>, JsonRejection>,
) -> Result<Json<Value>, ControlError> {
    let Json(request) = body?;
    let now = now_secs();
    let pushes = {
        let mut world = state.cluster.world();
        need_user(&world, request.user_id)?;
        world
            .channel(channel_id)
            .ok_or_else(|| no_channel(channel_id))?;
        let (change, posted) = world
            .force_channel_member(channel_id, request.user_id, request.admin, now)
            .map_err(telegram)?;
        crate::rpc::control_pushes(&state.cluster, now, |ctx| {
            if let Some((id, pts)) = posted {
                crate::rpc::push_channel_message(ctx, &world, channel_id, id, pts, None);
            }
            crate::rpc::notify_changes(ctx, &world, &[change], None);
        })
    };
    deliver(&state, pushes);
    Ok(Json(json!({
        "channel_id": channel_id, "user_id": request.user_id,
        "role": if request.admin { "admin" } else { "member" },
    })))
}

/// `DELETE /v1/channels/{channel_id}/members/{user_id}`: kicked by the creator (a ban on
/// reading; the user may be invited back).
async fn remove_channel_member(
    State(state): State<AppState>,
    Path((channel_id, user_id)): Path<(i64, i64)>,
) -> Result<Json<Value>, ControlError> {
    let now = now_secs();
    let pushes = {
        let mut world = state.cluster.world();
        need_user(&world, user_id)?;
        let creator = world
            .channel(channel_id)
            .ok_or_else(|| no_channel(channel_id))?
            .creator;
        let rights = grammers_tl_types::types::ChatBannedRights {
            view_messages: true,
            ..crate::world::chats::no_banned_rights()
        };
        let (change, posted) = world
            .edit_banned(creator, channel_id, user_id, rights, now)
            .map_err(telegram)?;
        crate::rpc::control_pushes(&state.cluster, now, |ctx| {
            if let Some((id, pts)) = posted {
                crate::rpc::push_channel_message(ctx, &world, channel_id, id, pts, None);
            }
            crate::rpc::notify_changes(ctx, &world, &[change], None);
        })
    };
    deliver(&state, pushes);
    Ok(Json(
        json!({ "channel_id": channel_id, "user_id": user_id, "kicked": true }),
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPost {
    text: String,
    /// The admin shown as author (`post_author` with signatures); the creator by default.
    author_user_id: Option<i64>,
}

/// `POST /v1/channels/{channel_id}/posts {"text","author_user_id?"}` → `{"message_id","pts"}`:
/// a post as the channel itself, pushed to every online member.
async fn post_to_channel(
    State(state): State<AppState>,
    Path(channel_id): Path<i64>,
    body: Result<Json<NewPost>, JsonRejection>,
) -> Result<Json<Value>, ControlError> {
    let Json(request) = body?;
    let now = now_secs();
    let ((id, pts), pushes) = {
        let mut world = state.cluster.world();
        world
            .channel(channel_id)
            .ok_or_else(|| no_channel(channel_id))?;
        if let Some(author) = request.author_user_id {
            need_user(&world, author)?;
        }
        let posted = world
            .post_as_channel(channel_id, request.author_user_id, &request.text, now)
            .map_err(telegram)?;
        let pushes = crate::rpc::control_pushes(&state.cluster, now, |ctx| {
            crate::rpc::push_channel_message(ctx, &world, channel_id, posted.0, posted.1, None);
        });
        (posted, pushes)
    };
    deliver(&state, pushes);
    Ok(Json(json!({ "message_id": id, "pts": pts })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvite {
    /// The admin who owns the link; the creator by default.
    admin_user_id: Option<i64>,
    usage_limit: Option<i32>,
    expire_date: Option<i32>,
    #[serde(default)]
    request_needed: bool,
    title: Option<String>,
}

async fn create_invite(
    state: AppState,
    peer: Peer,
    request: NewInvite,
) -> Result<Json<Value>, ControlError> {
    let now = now_secs();
    let mut world = state.cluster.world();
    let creator = match peer {
        Peer::Chat(id) => world.group(id).ok_or_else(|| no_group(id))?.creator,
        Peer::Channel(id) => world.channel(id).ok_or_else(|| no_channel(id))?.creator,
        Peer::User(_) => unreachable!("routes name chats only"),
    };
    let admin = request.admin_user_id.unwrap_or(creator);
    need_user(&world, admin)?;
    let invite = world
        .export_invite(
            admin,
            peer,
            InviteOptions {
                expire_date: request.expire_date,
                usage_limit: request.usage_limit,
                request_needed: request.request_needed.then_some(true),
                title: request.title,
            },
            false,
            now,
        )
        .map_err(telegram)?;
    Ok(Json(json!({ "link": invite.link(), "hash": invite.hash })))
}

/// `POST /v1/channels/{channel_id}/invites {"admin_user_id?","usage_limit?","expire_date?",
/// "request_needed?","title?"}` → `{"link","hash"}`.
async fn create_channel_invite(
    State(state): State<AppState>,
    Path(channel_id): Path<i64>,
    body: Result<Json<NewInvite>, JsonRejection>,
) -> Result<Json<Value>, ControlError> {
    let Json(request) = body?;
    create_invite(state, Peer::Channel(channel_id), request).await
}

/// `POST /v1/groups/{chat_id}/invites` (same body as for channels).
async fn create_group_invite(
    State(state): State<AppState>,
    Path(chat_id): Path<i64>,
    body: Result<Json<NewInvite>, JsonRejection>,
) -> Result<Json<Value>, ControlError> {
    let Json(request) = body?;
    create_invite(state, Peer::Chat(chat_id), request).await
}

/// The `channel_too_long` fault: `updateChannelTooLong` to a member's online sessions.
pub(crate) fn channel_too_long(
    state: &AppState,
    fault: &ChannelTooLong,
) -> Result<Json<Value>, ControlError> {
    let now = now_secs();
    let pushes = {
        let world = state.cluster.world();
        need_user(&world, fault.user_id)?;
        let channel = world
            .channel(fault.channel_id)
            .ok_or_else(|| no_channel(fault.channel_id))?;
        if !channel.is_member(fault.user_id) {
            return Err(ControlError::BadRequest(format!(
                "user {} is not a member of channel {}",
                fault.user_id, fault.channel_id
            )));
        }
        let channel_id = fault.channel_id;
        crate::rpc::control_pushes(&state.cluster, now, |ctx| {
            crate::rpc::push_channel_update(ctx, &world, channel_id, None, |_| {
                grammers_tl_types::enums::Update::ChannelTooLong(
                    grammers_tl_types::types::UpdateChannelTooLong {
                        channel_id,
                        pts: None,
                    },
                )
            });
        })
        .into_iter()
        .filter(|p| p.user_id == fault.user_id)
        .collect::<Vec<_>>()
    };
    let mut delivered = 0;
    for pending in pushes {
        let keys = state.cluster.world().keys_of(pending.user_id);
        delivered += state.cluster.deliver(&keys, None, &pending.push);
    }
    Ok(Json(json!({ "delivered": delivered })))
}
