//! Basic groups and channels (broadcast channels and megagroups), with Telegram's membership
//! rules, admin rights and bans.
//!
//! A basic group keeps its messages in each member's own box (common `pts`, per-user ids, see
//! [`super::messages`]); a channel has one shared box with its own ids and `pts` (see
//! [`super::channels`]). Every membership change returns a [`ParticipantChange`] so the RPC
//! layer can tell admins (`updateChatParticipant` / `updateChannelParticipant`, with the invite
//! link used) and the member (`updateChannel`).
//!
//! Permission errors are Telegram's: CHAT_ADMIN_REQUIRED, USER_NOT_PARTICIPANT, CHANNEL_PRIVATE,
//! USER_BANNED_IN_CHANNEL, USERS_TOO_MUCH, USER_ADMIN_INVALID, RIGHT_FORBIDDEN, USER_CREATOR, ...

use std::collections::{BTreeMap, HashMap, VecDeque};

use grammers_tl_types as tl;
use sha2::{Digest, Sha256};

use super::contacts::ContactBook;
use super::invites::Invite;
use super::messages::{check_text, LoggedEvent, StoredMessage};
use super::peer::Peer;
use super::{Fail, World};

/// Members of a basic group at most (help.getConfig's `chat_size_max`).
pub const CHAT_SIZE_MAX: usize = 200;
/// Members of a megagroup or broadcast channel at most (`megagroup_size_max`).
pub const MEGAGROUP_SIZE_MAX: usize = 200_000;
/// Titles are 1..=128 characters.
pub const TITLE_MAX: usize = 128;
/// Channel descriptions are at most 255 characters.
pub const ABOUT_MAX: usize = 255;
/// Ban durations shorter than this, or longer than 366 days, are forever (as documented for
/// `chatBannedRights.until_date`).
const BAN_FOREVER_BELOW_SECS: i32 = 30;
const BAN_FOREVER_ABOVE_SECS: i32 = 366 * 24 * 3600;

/// What a service message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    ChatCreate { title: String, users: Vec<i64> },
    ChannelCreate { title: String },
    EditTitle { title: String },
    AddUser { users: Vec<i64> },
    DeleteUser { user: i64 },
    JoinedByLink { inviter: i64 },
    JoinedByRequest,
    MigrateTo { channel: i64 },
    ChannelMigrateFrom { title: String, chat: i64 },
}

/// A member of a basic group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub inviter: i64,
    pub date: i32,
    pub admin: bool,
}

/// A basic group: up to 200 members, messages in each member's box.
#[derive(Debug, Clone)]
pub struct BasicGroup {
    pub id: i64,
    pub title: String,
    pub about: String,
    pub creator: i64,
    pub date: i32,
    /// Bumped on every membership change (`chat.version`, `chatParticipants.version`).
    pub version: i32,
    pub members: BTreeMap<i64, GroupMember>,
    /// Users removed by an admin (shown `chatForbidden`; they may be added back).
    pub kicked: BTreeMap<i64, i32>,
    /// Set once the group was upgraded to a megagroup (messages.migrateChat).
    pub migrated_to: Option<i64>,
}

/// What a channel member may do.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    Creator {
        rank: Option<String>,
    },
    Admin {
        rights: tl::types::ChatAdminRights,
        promoted_by: i64,
        rank: Option<String>,
    },
    Member,
}

/// A member of a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelMember {
    pub date: i32,
    pub inviter: i64,
    pub role: Role,
    /// Joined through an approved join request.
    pub via_request: bool,
    pub read_inbox_max_id: i32,
    /// The channel's pts when the user joined: where a client that never saw the join starts
    /// getChannelDifference (`updateChannelTooLong` in updates.getDifference).
    pub joined_pts: i32,
}

/// A restriction or a ban (`view_messages` set: kicked, not a member).
#[derive(Debug, Clone, PartialEq)]
pub struct Ban {
    pub kicked_by: i64,
    pub date: i32,
    pub rights: tl::types::ChatBannedRights,
}

impl Ban {
    fn kicks(&self) -> bool {
        self.rights.view_messages
    }

    /// Whether the ban still holds at `now` (`until_date` 0 or out of range means forever).
    fn in_force(&self, now: i32) -> bool {
        let until = self.rights.until_date;
        let forever = until == 0
            || until - self.date < BAN_FOREVER_BELOW_SECS
            || until - self.date > BAN_FOREVER_ABOVE_SECS;
        forever || now < until
    }
}

/// A broadcast channel or a megagroup, with its own message box and `pts`.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i64,
    pub title: String,
    pub about: String,
    /// Public channels have a username; anyone may read and join them.
    pub username: Option<String>,
    pub broadcast: bool,
    pub creator: i64,
    pub date: i32,
    /// Posts carry the author's name (`post_author`).
    pub signatures: bool,
    pub members: BTreeMap<i64, ChannelMember>,
    pub bans: BTreeMap<i64, Ban>,
    /// What members without admin rights may not do (megagroups).
    pub default_banned: tl::types::ChatBannedRights,
    /// Chat and last message id it was migrated from.
    pub migrated_from: Option<(i64, i32)>,
    // The channel's box.
    pub pts: i32,
    pub(super) last_id: i32,
    pub messages: BTreeMap<i32, StoredMessage>,
    pub log: VecDeque<LoggedEvent>,
    /// (sender, random_id) → message id: a re-sent request returns the original message.
    pub(super) random_ids: HashMap<(i64, i64), i32>,
    /// The highest message id any member has read (everyone's read outbox).
    pub read_max: i32,
}

/// A participant as `updateChannelParticipant` / `channels.getParticipant` describe it.
#[derive(Debug, Clone, PartialEq)]
pub enum Participant {
    Member(ChannelMember),
    Banned(Ban),
    /// In a basic group.
    GroupMember(GroupMember),
    GroupCreator,
}

/// One membership change, for the updates that tell admins and the member.
#[derive(Debug, Clone)]
pub struct ParticipantChange {
    pub peer: Peer,
    pub user_id: i64,
    pub actor: i64,
    pub date: i32,
    pub prev: Option<Participant>,
    pub new: Option<Participant>,
    /// The invite link (hash) the user joined with.
    pub invite: Option<String>,
}

/// A service message that announced a change: in a channel, (id, channel pts); in a basic
/// group, every member's copy (owner, id, owner's pts).
#[derive(Debug, Clone)]
pub enum Announced {
    None,
    Channel { id: i32, pts: i32 },
    Group(Vec<(i64, i32, i32)>),
}

/// Copies of one message in basic-group members' boxes: (owner, id, owner's pts).
pub type Copies = Vec<(i64, i32, i32)>;

/// What messages.migrateChat did: the new megagroup, the group's `messageActionChatMigrateTo`
/// copies, and the channel's `messageActionChannelMigrateFrom` (id, pts).
#[derive(Debug, Clone)]
pub struct Migrated {
    pub channel: i64,
    pub copies: Copies,
    pub posted: (i32, i32),
}

/// What a membership operation did.
#[derive(Debug, Clone)]
pub struct Membership {
    pub changes: Vec<ParticipantChange>,
    pub announced: Announced,
    /// Users the operation could not add (they blocked the actor): `missingInvitee`.
    pub missing: Vec<i64>,
}

/// Everything about groups, channels, invite links and contacts (one field of the world).
#[derive(Debug)]
pub struct Social {
    next_chat_id: i64,
    next_channel_id: i64,
    pub(super) groups: HashMap<i64, BasicGroup>,
    pub(super) channels: HashMap<i64, Channel>,
    pub(super) channel_usernames: HashMap<String, i64>,
    /// Invite links by hash.
    pub(super) invites: HashMap<String, Invite>,
    pub(super) contacts: HashMap<i64, ContactBook>,
    /// How many contacts one user may import per 24 hours; the rest come back in
    /// `retry_contacts` (Telegram limits imports the same way).
    pub contact_imports_per_day: usize,
}

impl Default for Social {
    fn default() -> Self {
        Self {
            // Ids in the ranges real chat and channel ids have.
            next_chat_id: 4_000_000_001,
            next_channel_id: 1_500_000_001,
            groups: HashMap::new(),
            channels: HashMap::new(),
            channel_usernames: HashMap::new(),
            invites: HashMap::new(),
            contacts: HashMap::new(),
            contact_imports_per_day: 1000,
        }
    }
}

/// Every admin right, as a creator has them.
pub fn all_admin_rights() -> tl::types::ChatAdminRights {
    tl::types::ChatAdminRights {
        change_info: true,
        post_messages: true,
        edit_messages: true,
        delete_messages: true,
        ban_users: true,
        invite_users: true,
        pin_messages: true,
        add_admins: true,
        anonymous: false,
        manage_call: true,
        other: true,
        manage_topics: true,
        post_stories: true,
        edit_stories: true,
        delete_stories: true,
        manage_direct_messages: false,
        manage_ranks: false,
        manage_linked_peers: false,
        manage_welcome_messages: false,
    }
}

/// No restriction at all.
pub fn no_banned_rights() -> tl::types::ChatBannedRights {
    tl::types::ChatBannedRights {
        view_messages: false,
        send_messages: false,
        send_media: false,
        send_stickers: false,
        send_gifs: false,
        send_games: false,
        send_inline: false,
        embed_links: false,
        send_polls: false,
        change_info: false,
        invite_users: false,
        pin_messages: false,
        manage_topics: false,
        send_photos: false,
        send_videos: false,
        send_roundvideos: false,
        send_audios: false,
        send_voices: false,
        send_docs: false,
        send_plain: false,
        edit_rank: false,
        send_reactions: false,
        manage_linked_peers: false,
        until_date: 0,
    }
}

fn no_admin_rights(r: &tl::types::ChatAdminRights) -> bool {
    !(r.change_info
        || r.post_messages
        || r.edit_messages
        || r.delete_messages
        || r.ban_users
        || r.invite_users
        || r.pin_messages
        || r.add_admins
        || r.anonymous
        || r.manage_call
        || r.other
        || r.manage_topics
        || r.post_stories
        || r.edit_stories
        || r.delete_stories)
}

/// Rights in `wanted` that `held` lacks (an admin cannot grant what it does not have).
fn exceeds(wanted: &tl::types::ChatAdminRights, held: &tl::types::ChatAdminRights) -> bool {
    let pairs = [
        (wanted.change_info, held.change_info),
        (wanted.post_messages, held.post_messages),
        (wanted.edit_messages, held.edit_messages),
        (wanted.delete_messages, held.delete_messages),
        (wanted.ban_users, held.ban_users),
        (wanted.invite_users, held.invite_users),
        (wanted.pin_messages, held.pin_messages),
        (wanted.add_admins, held.add_admins),
        (wanted.anonymous, held.anonymous),
        (wanted.manage_call, held.manage_call),
        (wanted.manage_topics, held.manage_topics),
    ];
    pairs.iter().any(|(w, h)| *w && !*h)
}

fn no_restriction(r: &tl::types::ChatBannedRights) -> bool {
    let cleared = tl::types::ChatBannedRights {
        until_date: 0,
        ..r.clone()
    };
    cleared == no_banned_rights()
}

/// Default member restrictions of a new megagroup: members cannot change the group's info or
/// pin messages, as Telegram's defaults say.
fn megagroup_defaults() -> tl::types::ChatBannedRights {
    tl::types::ChatBannedRights {
        change_info: true,
        pin_messages: true,
        manage_topics: true,
        ..no_banned_rights()
    }
}

fn check_title(title: &str) -> Result<String, Fail> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Fail::new(400, "CHAT_TITLE_EMPTY"));
    }
    if title.chars().count() > TITLE_MAX {
        return Err(Fail::new(400, "CHAT_TITLE_TOO_LONG"));
    }
    Ok(title.to_string())
}

impl Channel {
    pub fn megagroup(&self) -> bool {
        !self.broadcast
    }

    pub fn is_member(&self, user: i64) -> bool {
        self.members.contains_key(&user)
    }

    pub fn participants_count(&self) -> usize {
        self.members.len()
    }

    /// The user's admin rights (every right for the creator).
    pub fn admin_rights(&self, user: i64) -> Option<tl::types::ChatAdminRights> {
        match &self.members.get(&user)?.role {
            Role::Creator { .. } => Some(all_admin_rights()),
            Role::Admin { rights, .. } => Some(rights.clone()),
            Role::Member => None,
        }
    }

    pub fn has_right(
        &self,
        user: i64,
        right: impl Fn(&tl::types::ChatAdminRights) -> bool,
    ) -> bool {
        self.admin_rights(user).is_some_and(|r| right(&r))
    }

    /// The ban or restriction on the user that holds at `now`.
    pub fn ban(&self, user: i64, now: i32) -> Option<&Ban> {
        self.bans.get(&user).filter(|b| b.in_force(now))
    }

    pub fn is_kicked(&self, user: i64, now: i32) -> bool {
        self.ban(user, now).is_some_and(Ban::kicks)
    }

    /// Whether the user may read the channel (members, and anyone for a public channel unless
    /// kicked); CHANNEL_PRIVATE otherwise.
    pub fn check_read(&self, user: i64, now: i32) -> Result<(), Fail> {
        if self.is_kicked(user, now) {
            return Err(Fail::new(400, "CHANNEL_PRIVATE"));
        }
        if self.is_member(user) || self.username.is_some() {
            Ok(())
        } else {
            Err(Fail::new(400, "CHANNEL_PRIVATE"))
        }
    }

    /// Whether the user may post: admins with `post_messages` in a broadcast; in a megagroup,
    /// members not restricted from sending.
    pub fn check_send(&self, user: i64, now: i32) -> Result<(), Fail> {
        self.check_read(user, now)?;
        if !self.is_member(user) {
            return Err(Fail::new(403, "CHAT_WRITE_FORBIDDEN"));
        }
        if self.broadcast {
            return if self.has_right(user, |r| r.post_messages) {
                Ok(())
            } else {
                Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"))
            };
        }
        if self.admin_rights(user).is_some() {
            return Ok(());
        }
        if self
            .ban(user, now)
            .is_some_and(|b| b.rights.send_messages || b.rights.send_plain)
        {
            return Err(Fail::new(400, "USER_BANNED_IN_CHANNEL"));
        }
        if self.default_banned.send_messages || self.default_banned.send_plain {
            return Err(Fail::new(403, "CHAT_WRITE_FORBIDDEN"));
        }
        Ok(())
    }

    /// The participant record of a user, as `channels.getParticipant` shows it.
    pub fn participant(&self, user: i64, now: i32) -> Option<Participant> {
        if let Some(m) = self.members.get(&user) {
            return Some(Participant::Member(m.clone()));
        }
        self.ban(user, now).cloned().map(Participant::Banned)
    }

    /// Unread messages for a member (others' messages after its read position).
    pub fn unread_count(&self, user: i64) -> i32 {
        let read = self
            .members
            .get(&user)
            .map(|m| m.read_inbox_max_id)
            .unwrap_or(0);
        self.messages
            .range(read + 1..)
            .filter(|(_, m)| m.from != user)
            .count() as i32
    }
}

impl BasicGroup {
    pub fn is_member(&self, user: i64) -> bool {
        self.members.contains_key(&user)
    }

    pub fn is_admin(&self, user: i64) -> bool {
        user == self.creator || self.members.get(&user).is_some_and(|m| m.admin)
    }

    fn participant(&self, user: i64) -> Option<Participant> {
        if user == self.creator && self.is_member(user) {
            return Some(Participant::GroupCreator);
        }
        self.members
            .get(&user)
            .cloned()
            .map(Participant::GroupMember)
    }
}

/// Fields of a new channel (channels.createChannel, control API).
#[derive(Debug, Clone, Default)]
pub struct NewChannel {
    pub title: String,
    pub about: String,
    pub broadcast: bool,
    pub username: Option<String>,
}

impl World {
    /// An access hash for a channel that only `viewer` may use (domain-separated from users').
    pub fn channel_access_hash(&self, viewer: i64, channel_id: i64) -> i64 {
        let digest = Sha256::new()
            .chain_update(self.secret)
            .chain_update(b"channel")
            .chain_update(viewer.to_le_bytes())
            .chain_update(channel_id.to_le_bytes())
            .finalize();
        i64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    pub fn group(&self, chat_id: i64) -> Option<&BasicGroup> {
        self.social.groups.get(&chat_id)
    }

    pub fn channel(&self, channel_id: i64) -> Option<&Channel> {
        self.social.channels.get(&channel_id)
    }

    pub fn channel_by_username(&self, username: &str) -> Option<&Channel> {
        self.social
            .channel_usernames
            .get(&username.trim_start_matches('@').to_ascii_lowercase())
            .and_then(|id| self.social.channels.get(id))
    }

    pub fn groups(&self) -> impl Iterator<Item = &BasicGroup> {
        self.social.groups.values()
    }

    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.social.channels.values()
    }

    /// Whether `user` is an admin (or the creator) of the basic group.
    pub fn is_group_admin(&self, chat_id: i64, user: i64) -> bool {
        self.group(chat_id).is_some_and(|g| g.is_admin(user))
    }

    /// The group, or CHAT_ID_INVALID.
    pub(super) fn group_for(&self, chat_id: i64) -> Result<&BasicGroup, Fail> {
        self.social
            .groups
            .get(&chat_id)
            .ok_or_else(|| Fail::new(400, "CHAT_ID_INVALID"))
    }

    pub(super) fn channel_for(&self, channel_id: i64) -> Result<&Channel, Fail> {
        self.social
            .channels
            .get(&channel_id)
            .ok_or_else(|| Fail::new(400, "CHANNEL_INVALID"))
    }

    fn channel_mut(&mut self, channel_id: i64) -> Result<&mut Channel, Fail> {
        self.social
            .channels
            .get_mut(&channel_id)
            .ok_or_else(|| Fail::new(400, "CHANNEL_INVALID"))
    }

    fn check_invitee(&self, user: i64) -> Result<(), Fail> {
        match self.users.get(&user) {
            Some(u) if u.state == super::AccountState::Active => Ok(()),
            Some(_) => Err(Fail::new(400, "USER_DEACTIVATED")),
            None => Err(Fail::new(400, "USER_ID_INVALID")),
        }
    }

    /// Telegram's privacy rule for direct invites: a user who blocked the inviter cannot be
    /// added by it (`missingInvitee`).
    fn refuses_invite_from(&self, user: i64, inviter: i64) -> bool {
        self.is_blocked(user, Peer::User(inviter))
    }

    // ---------------------------------------------------------------- basic groups

    /// messages.createChat: a basic group with its creator and `users`; every member's box
    /// gets the `messageActionChatCreate` service message.
    pub fn create_group(
        &mut self,
        creator: i64,
        title: &str,
        users: &[i64],
        now: i32,
    ) -> Result<(i64, Membership), Fail> {
        let title = check_title(title)?;
        let mut added = Vec::new();
        let mut missing = Vec::new();
        for &user in users {
            self.check_invitee(user)?;
            if user == creator || added.contains(&user) {
                continue;
            }
            if self.refuses_invite_from(user, creator) {
                missing.push(user);
            } else {
                added.push(user);
            }
        }
        if added.len() + 1 > CHAT_SIZE_MAX {
            return Err(Fail::new(400, "USERS_TOO_MUCH"));
        }
        let id = self.social.next_chat_id;
        self.social.next_chat_id += 1;
        let mut members = BTreeMap::new();
        members.insert(
            creator,
            GroupMember {
                inviter: creator,
                date: now,
                admin: false,
            },
        );
        for &user in &added {
            members.insert(
                user,
                GroupMember {
                    inviter: creator,
                    date: now,
                    admin: false,
                },
            );
        }
        self.social.groups.insert(
            id,
            BasicGroup {
                id,
                title: title.clone(),
                about: String::new(),
                creator,
                date: now,
                version: 1,
                members,
                kicked: BTreeMap::new(),
                migrated_to: None,
            },
        );
        let copies = self.post_group_service(
            id,
            creator,
            Action::ChatCreate {
                title,
                users: std::iter::once(creator)
                    .chain(added.iter().copied())
                    .collect(),
            },
            now,
        );
        let changes = added
            .iter()
            .map(|&user| ParticipantChange {
                peer: Peer::Chat(id),
                user_id: user,
                actor: creator,
                date: now,
                prev: None,
                new: self.social.groups[&id].participant(user),
                invite: None,
            })
            .collect();
        Ok((
            id,
            Membership {
                changes,
                announced: Announced::Group(copies),
                missing,
            },
        ))
    }

    /// Stores a message in every member's box of a basic group: (owner, id, owner's pts) per
    /// copy, the sender's first.
    pub(super) fn deliver_to_group(
        &mut self,
        chat_id: i64,
        draft: StoredMessage,
        now: i32,
    ) -> Vec<(i64, i32, i32)> {
        let from = draft.from;
        let mut owners: Vec<i64> = self.social.groups[&chat_id]
            .members
            .keys()
            .copied()
            .collect();
        owners.sort_by_key(|o| *o != from);
        let mut copies = Vec::new();
        for owner in owners {
            let (id, pts) = self.mailbox_mut(owner).insert(StoredMessage {
                peer: Peer::Chat(chat_id),
                out: owner == from,
                date: now,
                copies: Vec::new(),
                ..draft.clone()
            });
            copies.push((owner, id, pts));
        }
        for &(owner, id, _) in &copies {
            let others: Vec<(i64, i32)> = copies
                .iter()
                .filter(|(o, _, _)| *o != owner)
                .map(|(o, i, _)| (*o, *i))
                .collect();
            if let Some(m) = self.mailbox_mut(owner).messages.get_mut(&id) {
                m.copies = others;
            }
        }
        copies
    }

    fn post_group_service(
        &mut self,
        chat_id: i64,
        actor: i64,
        action: Action,
        now: i32,
    ) -> Vec<(i64, i32, i32)> {
        self.deliver_to_group(
            chat_id,
            StoredMessage {
                from: actor,
                action: Some(action),
                ..Default::default()
            },
            now,
        )
    }

    /// A message from a member to a basic group (random_id deduplicated per sender):
    /// (sender's id, sender's pts, duplicate, every other copy (owner, id, pts)).
    pub fn send_to_group(
        &mut self,
        from: i64,
        chat_id: i64,
        draft: StoredMessage,
        random_id: i64,
        now: i32,
    ) -> Result<(i32, i32, bool, Copies), Fail> {
        let group = self.group_for(chat_id)?;
        if group.migrated_to.is_some() {
            return Err(Fail::new(400, "CHAT_ID_INVALID"));
        }
        if !group.is_member(from) {
            return Err(Fail::new(403, "CHAT_WRITE_FORBIDDEN"));
        }
        if let Some(&existing) = self.mailbox_mut(from).random_ids.get(&random_id) {
            let pts = self.pts_of(from);
            return Ok((existing, pts, true, Vec::new()));
        }
        let mut copies = self.deliver_to_group(chat_id, StoredMessage { from, ..draft }, now);
        let (_, id, pts) = copies.remove(0);
        self.mailbox_mut(from).random_ids.insert(random_id, id);
        Ok((id, pts, false, copies))
    }

    /// messages.addChatUser (and joins by invite link / approved request).
    pub fn add_group_member(
        &mut self,
        actor: i64,
        chat_id: i64,
        user: i64,
        invite: Option<String>,
        via_request: bool,
        now: i32,
    ) -> Result<Membership, Fail> {
        self.check_invitee(user)?;
        let group = self.group_for(chat_id)?;
        if group.migrated_to.is_some() {
            return Err(Fail::new(400, "CHAT_ID_INVALID"));
        }
        let by_link = invite.is_some();
        if !by_link && !group.is_member(actor) {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        if group.is_member(user) {
            return Err(Fail::new(400, "USER_ALREADY_PARTICIPANT"));
        }
        if group.members.len() >= CHAT_SIZE_MAX {
            return Err(Fail::new(400, "USERS_TOO_MUCH"));
        }
        if !by_link && self.refuses_invite_from(user, actor) {
            return Ok(Membership {
                changes: Vec::new(),
                announced: Announced::None,
                missing: vec![user],
            });
        }
        let inviter = if by_link {
            invite
                .as_ref()
                .and_then(|h| self.social.invites.get(h))
                .map(|i| i.admin_id)
                .unwrap_or(actor)
        } else {
            actor
        };
        let group = self.social.groups.get_mut(&chat_id).expect("checked");
        group.kicked.remove(&user);
        group.members.insert(
            user,
            GroupMember {
                inviter,
                date: now,
                admin: false,
            },
        );
        group.version += 1;
        let action = match (&invite, via_request) {
            (_, true) => Action::JoinedByRequest,
            (Some(_), false) => Action::JoinedByLink { inviter },
            (None, false) => Action::AddUser { users: vec![user] },
        };
        let actor_of_message = if by_link { user } else { actor };
        let copies = self.post_group_service(chat_id, actor_of_message, action, now);
        let change = ParticipantChange {
            peer: Peer::Chat(chat_id),
            user_id: user,
            actor: actor_of_message,
            date: now,
            prev: None,
            new: self.social.groups[&chat_id].participant(user),
            invite,
        };
        Ok(Membership {
            changes: vec![change],
            announced: Announced::Group(copies),
            missing: Vec::new(),
        })
    }

    /// messages.deleteChatUser: an admin removes a member, or a member leaves.
    pub fn remove_group_member(
        &mut self,
        actor: i64,
        chat_id: i64,
        user: i64,
        now: i32,
    ) -> Result<Membership, Fail> {
        let group = self.group_for(chat_id)?;
        if !group.is_member(actor) {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        if !group.is_member(user) {
            return Err(Fail::new(400, "USER_NOT_PARTICIPANT"));
        }
        if actor != user {
            // The creator removes anyone; an admin removes those it invited or non-admins.
            let allowed = actor == group.creator
                || (group.is_admin(actor) && user != group.creator && !group.is_admin(user));
            if !allowed {
                return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
            }
        }
        let prev = group.participant(user);
        // The member sees its own removal too, so announce before it leaves.
        let copies = self.post_group_service(chat_id, actor, Action::DeleteUser { user }, now);
        let group = self.social.groups.get_mut(&chat_id).expect("checked");
        group.members.remove(&user);
        if actor != user {
            group.kicked.insert(user, now);
        }
        group.version += 1;
        Ok(Membership {
            changes: vec![ParticipantChange {
                peer: Peer::Chat(chat_id),
                user_id: user,
                actor,
                date: now,
                prev,
                new: None,
                invite: None,
            }],
            announced: Announced::Group(copies),
            missing: Vec::new(),
        })
    }

    /// messages.editChatTitle (any member may, as in Telegram's basic groups by default).
    pub fn edit_group_title(
        &mut self,
        actor: i64,
        chat_id: i64,
        title: &str,
        now: i32,
    ) -> Result<Vec<(i64, i32, i32)>, Fail> {
        let title = check_title(title)?;
        let group = self.group_for(chat_id)?;
        if !group.is_member(actor) {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        if group.title == title {
            return Err(Fail::new(400, "CHAT_NOT_MODIFIED"));
        }
        self.social.groups.get_mut(&chat_id).expect("checked").title = title.clone();
        Ok(self.post_group_service(chat_id, actor, Action::EditTitle { title }, now))
    }

    /// messages.editChatAdmin: only the creator promotes or demotes.
    pub fn edit_group_admin(
        &mut self,
        actor: i64,
        chat_id: i64,
        user: i64,
        admin: bool,
        now: i32,
    ) -> Result<ParticipantChange, Fail> {
        let group = self.group_for(chat_id)?;
        if actor != group.creator {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        if !group.is_member(user) {
            return Err(Fail::new(400, "USER_NOT_PARTICIPANT"));
        }
        if user == group.creator {
            return Err(Fail::new(400, "USER_CREATOR"));
        }
        let prev = group.participant(user);
        let group = self.social.groups.get_mut(&chat_id).expect("checked");
        group.members.get_mut(&user).expect("member").admin = admin;
        group.version += 1;
        Ok(ParticipantChange {
            peer: Peer::Chat(chat_id),
            user_id: user,
            actor,
            date: now,
            prev,
            new: self.social.groups[&chat_id].participant(user),
            invite: None,
        })
    }

    /// messages.migrateChat: the creator upgrades a basic group to a megagroup with the same
    /// members (admins stay admins); the group is deactivated and points at the channel.
    pub fn migrate_group(&mut self, actor: i64, chat_id: i64, now: i32) -> Result<Migrated, Fail> {
        let group = self.group_for(chat_id)?.clone();
        if actor != group.creator {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        if group.migrated_to.is_some() {
            return Err(Fail::new(400, "CHAT_ID_INVALID"));
        }
        let (channel_id, _, _) = self.create_channel(
            actor,
            NewChannel {
                title: group.title.clone(),
                about: group.about.clone(),
                broadcast: false,
                username: None,
            },
            now,
        )?;
        let copies = self.post_group_service(
            chat_id,
            actor,
            Action::MigrateTo {
                channel: channel_id,
            },
            now,
        );
        // The last message of the old group, in the creator's box (`migrated_from_max_id`).
        let last_id = self
            .mailbox(actor)
            .and_then(|b| {
                b.messages
                    .values()
                    .rev()
                    .find(|m| m.peer == Peer::Chat(chat_id))
                    .map(|m| m.id)
            })
            .unwrap_or(0);
        let channel = self.channel_mut(channel_id).expect("created");
        for (&user, member) in &group.members {
            if user == actor {
                continue;
            }
            channel.members.insert(
                user,
                ChannelMember {
                    date: member.date,
                    inviter: member.inviter,
                    role: if member.admin {
                        Role::Admin {
                            rights: all_admin_rights(),
                            promoted_by: actor,
                            rank: None,
                        }
                    } else {
                        Role::Member
                    },
                    via_request: false,
                    read_inbox_max_id: 0,
                    joined_pts: 0,
                },
            );
        }
        channel.migrated_from = Some((chat_id, last_id));
        let posted = self.post_channel_service(
            channel_id,
            actor,
            Action::ChannelMigrateFrom {
                title: group.title.clone(),
                chat: chat_id,
            },
            now,
        );
        self.social
            .groups
            .get_mut(&chat_id)
            .expect("checked")
            .migrated_to = Some(channel_id);
        Ok(Migrated {
            channel: channel_id,
            copies,
            posted,
        })
    }

    // ---------------------------------------------------------------- channels

    /// channels.createChannel: a broadcast channel or a megagroup owned by `creator`, with the
    /// `messageActionChannelCreate` service message as its first event (pts 1).
    /// Returns (channel id, message id, pts).
    pub fn create_channel(
        &mut self,
        creator: i64,
        new: NewChannel,
        now: i32,
    ) -> Result<(i64, i32, i32), Fail> {
        let title = check_title(&new.title)?;
        if new.about.chars().count() > ABOUT_MAX {
            return Err(Fail::new(400, "CHAT_ABOUT_TOO_LONG"));
        }
        if let Some(name) = &new.username {
            self.check_channel_username(name)?;
        }
        let id = self.social.next_channel_id;
        self.social.next_channel_id += 1;
        let mut members = BTreeMap::new();
        members.insert(
            creator,
            ChannelMember {
                date: now,
                inviter: creator,
                role: Role::Creator { rank: None },
                via_request: false,
                read_inbox_max_id: 0,
                joined_pts: 0,
            },
        );
        let username = new.username.map(|u| u.trim_start_matches('@').to_string());
        if let Some(name) = &username {
            self.social
                .channel_usernames
                .insert(name.to_ascii_lowercase(), id);
        }
        self.social.channels.insert(
            id,
            Channel {
                id,
                title: title.clone(),
                about: new.about,
                username,
                broadcast: new.broadcast,
                creator,
                date: now,
                signatures: false,
                members,
                bans: BTreeMap::new(),
                default_banned: if new.broadcast {
                    no_banned_rights()
                } else {
                    megagroup_defaults()
                },
                migrated_from: None,
                pts: 0,
                last_id: 0,
                messages: BTreeMap::new(),
                log: VecDeque::new(),
                random_ids: HashMap::new(),
                read_max: 0,
            },
        );
        let (msg, pts) =
            self.post_channel_service(id, creator, Action::ChannelCreate { title }, now);
        Ok((id, msg, pts))
    }

    fn check_channel_username(&self, name: &str) -> Result<(), Fail> {
        let name = name.trim_start_matches('@');
        let valid = (5..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if !valid {
            return Err(Fail::new(400, "USERNAME_INVALID"));
        }
        let lower = name.to_ascii_lowercase();
        if self.social.channel_usernames.contains_key(&lower)
            || self.by_username.contains_key(&lower)
        {
            return Err(Fail::new(400, "USERNAME_OCCUPIED"));
        }
        Ok(())
    }

    /// channels.updateUsername: makes a channel public (or private again with "").
    pub fn set_channel_username(
        &mut self,
        actor: i64,
        channel_id: i64,
        username: &str,
    ) -> Result<(), Fail> {
        let channel = self.channel_for(channel_id)?;
        if !channel.has_right(actor, |r| r.change_info) {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        let old = channel.username.clone();
        let username = username.trim_start_matches('@');
        if old
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case(username))
        {
            return Err(Fail::new(400, "USERNAME_NOT_MODIFIED"));
        }
        if !username.is_empty() {
            self.check_channel_username(username)?;
        }
        if let Some(old) = old {
            self.social
                .channel_usernames
                .remove(&old.to_ascii_lowercase());
        }
        let channel = self.channel_mut(channel_id)?;
        channel.username = (!username.is_empty()).then(|| username.to_string());
        if !username.is_empty() {
            self.social
                .channel_usernames
                .insert(username.to_ascii_lowercase(), channel_id);
        }
        Ok(())
    }

    /// Adds a user to a channel: `how` says by whom (a direct invite, a public join, an
    /// invite link or an approved request). Checks capacity and bans; announces the join with
    /// a service message in megagroups (broadcast subscribers join silently).
    pub fn add_channel_member(
        &mut self,
        actor: i64,
        channel_id: i64,
        user: i64,
        invite: Option<String>,
        via_request: bool,
        now: i32,
    ) -> Result<(ParticipantChange, Option<(i32, i32)>), Fail> {
        self.add_channel_member_quietly(actor, channel_id, user, invite, via_request, true, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn add_channel_member_quietly(
        &mut self,
        actor: i64,
        channel_id: i64,
        user: i64,
        invite: Option<String>,
        via_request: bool,
        announce: bool,
        now: i32,
    ) -> Result<(ParticipantChange, Option<(i32, i32)>), Fail> {
        self.check_invitee(user)?;
        let channel = self.channel_for(channel_id)?;
        if channel.is_member(user) {
            return Err(Fail::new(400, "USER_ALREADY_PARTICIPANT"));
        }
        if channel.participants_count() >= MEGAGROUP_SIZE_MAX {
            return Err(Fail::new(400, "USERS_TOO_MUCH"));
        }
        let self_join = actor == user;
        if channel.is_kicked(user, now) {
            // Only an admin who may ban can bring a kicked user back (lifting the ban).
            if self_join || !channel.has_right(actor, |r| r.ban_users) {
                return Err(Fail::new(
                    400,
                    if self_join {
                        "CHANNEL_PRIVATE"
                    } else {
                        "USER_KICKED"
                    },
                ));
            }
        }
        let prev = channel.participant(user, now);
        let megagroup = channel.megagroup();
        let inviter = match &invite {
            Some(hash) => self
                .social
                .invites
                .get(hash)
                .map(|i| i.admin_id)
                .unwrap_or(channel.creator),
            None if self_join => user,
            None => actor,
        };
        let channel = self.channel_mut(channel_id)?;
        if channel.bans.get(&user).is_some_and(Ban::kicks) {
            channel.bans.remove(&user);
        }
        let member = ChannelMember {
            date: now,
            inviter,
            role: Role::Member,
            via_request,
            // A new member has read everything before it joined.
            read_inbox_max_id: channel.last_id,
            joined_pts: channel.pts,
        };
        channel.members.insert(user, member.clone());
        let announced = (megagroup && announce).then(|| {
            let action = match (&invite, via_request) {
                (_, true) => Action::JoinedByRequest,
                (Some(_), false) => Action::JoinedByLink { inviter },
                (None, _) => Action::AddUser { users: vec![user] },
            };
            self.post_channel_service(
                channel_id,
                if self_join { user } else { actor },
                action,
                now,
            )
        });
        Ok((
            ParticipantChange {
                peer: Peer::Channel(channel_id),
                user_id: user,
                actor,
                date: now,
                prev,
                new: Some(Participant::Member(member)),
                invite,
            },
            announced,
        ))
    }

    /// channels.inviteToChannel: members of a megagroup (unless members may not invite) or
    /// admins with `invite_users` add users directly.
    pub fn invite_to_channel(
        &mut self,
        actor: i64,
        channel_id: i64,
        users: &[i64],
        now: i32,
    ) -> Result<Membership, Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(actor, now)?;
        let may_invite = channel.has_right(actor, |r| r.invite_users)
            || (channel.megagroup()
                && channel.is_member(actor)
                && !channel.default_banned.invite_users);
        if !may_invite {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        for &user in users {
            self.check_invitee(user)?;
        }
        let fresh: Vec<i64> = users
            .iter()
            .copied()
            .filter(|u| !channel.is_member(*u))
            .collect();
        if channel.participants_count() + fresh.len() > MEGAGROUP_SIZE_MAX {
            return Err(Fail::new(400, "USERS_TOO_MUCH"));
        }
        let mut changes = Vec::new();
        let mut missing = Vec::new();
        let mut added = Vec::new();
        for user in fresh {
            if self.refuses_invite_from(user, actor) {
                missing.push(user);
                continue;
            }
            let (change, _) =
                self.add_channel_member_quietly(actor, channel_id, user, None, false, false, now)?;
            changes.push(change);
            added.push(user);
        }
        // One `messageActionChatAddUser` naming everyone added, in megagroups.
        let announced = if !added.is_empty() && self.social.channels[&channel_id].megagroup() {
            let (id, pts) =
                self.post_channel_service(channel_id, actor, Action::AddUser { users: added }, now);
            Announced::Channel { id, pts }
        } else {
            Announced::None
        };
        Ok(Membership {
            changes,
            announced,
            missing,
        })
    }

    /// channels.joinChannel: anyone may join a public channel; a private one needs a link.
    pub fn join_channel(
        &mut self,
        user: i64,
        channel_id: i64,
        now: i32,
    ) -> Result<(ParticipantChange, Option<(i32, i32)>), Fail> {
        let channel = self.channel_for(channel_id)?;
        if channel.is_kicked(user, now) || (channel.username.is_none() && !channel.is_member(user))
        {
            return Err(Fail::new(400, "CHANNEL_PRIVATE"));
        }
        self.add_channel_member(user, channel_id, user, None, false, now)
    }

    /// channels.leaveChannel (the creator cannot leave: USER_CREATOR).
    pub fn leave_channel(
        &mut self,
        user: i64,
        channel_id: i64,
        now: i32,
    ) -> Result<(ParticipantChange, Option<(i32, i32)>), Fail> {
        let channel = self.channel_for(channel_id)?;
        if !channel.is_member(user) {
            return Err(Fail::new(400, "USER_NOT_PARTICIPANT"));
        }
        if channel.creator == user {
            return Err(Fail::new(400, "USER_CREATOR"));
        }
        let prev = channel.participant(user, now);
        let megagroup = channel.megagroup();
        let announced = megagroup
            .then(|| self.post_channel_service(channel_id, user, Action::DeleteUser { user }, now));
        self.channel_mut(channel_id)?.members.remove(&user);
        Ok((
            ParticipantChange {
                peer: Peer::Channel(channel_id),
                user_id: user,
                actor: user,
                date: now,
                prev,
                new: None,
                invite: None,
            },
            announced,
        ))
    }

    /// channels.editBanned: restrict, kick (`view_messages`) or unban (no rights) a user.
    pub fn edit_banned(
        &mut self,
        actor: i64,
        channel_id: i64,
        user: i64,
        rights: tl::types::ChatBannedRights,
        now: i32,
    ) -> Result<(ParticipantChange, Option<(i32, i32)>), Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(actor, now)?;
        if !channel.has_right(actor, |r| r.ban_users) {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        if user == actor || user == channel.creator {
            return Err(Fail::new(400, "USER_ADMIN_INVALID"));
        }
        if let Some(ChannelMember {
            role: Role::Admin { promoted_by, .. },
            ..
        }) = channel.members.get(&user)
        {
            if *promoted_by != actor && actor != channel.creator {
                return Err(Fail::new(400, "USER_ADMIN_INVALID"));
            }
        }
        self.check_invitee(user)?;
        let prev = channel.participant(user, now);
        let was_member = channel.is_member(user);
        let megagroup = channel.megagroup();
        let unban = no_restriction(&rights);
        let kick = rights.view_messages;
        let announced = if kick && was_member && megagroup {
            Some(self.post_channel_service(channel_id, actor, Action::DeleteUser { user }, now))
        } else {
            None
        };
        let channel = self.channel_mut(channel_id)?;
        let new = if unban {
            channel.bans.remove(&user);
            channel.members.get(&user).cloned().map(Participant::Member)
        } else {
            let ban = Ban {
                kicked_by: actor,
                date: now,
                rights,
            };
            channel.bans.insert(user, ban.clone());
            if kick {
                channel.members.remove(&user);
            } else if let Some(m) = channel.members.get_mut(&user) {
                // A restricted admin is an admin no more.
                m.role = Role::Member;
            }
            Some(Participant::Banned(ban))
        };
        Ok((
            ParticipantChange {
                peer: Peer::Channel(channel_id),
                user_id: user,
                actor,
                date: now,
                prev,
                new,
                invite: None,
            },
            announced,
        ))
    }

    /// channels.editAdmin: promote a member (or demote it with no rights).
    pub fn edit_admin(
        &mut self,
        actor: i64,
        channel_id: i64,
        user: i64,
        rights: tl::types::ChatAdminRights,
        rank: Option<String>,
        now: i32,
    ) -> Result<ParticipantChange, Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_read(actor, now)?;
        let held = channel
            .admin_rights(actor)
            .filter(|r| r.add_admins)
            .ok_or_else(|| Fail::new(400, "CHAT_ADMIN_REQUIRED"))?;
        if user == channel.creator {
            return Err(Fail::new(400, "USER_CREATOR"));
        }
        let member = channel
            .members
            .get(&user)
            .ok_or_else(|| Fail::new(400, "USER_NOT_PARTICIPANT"))?;
        if let Role::Admin { promoted_by, .. } = &member.role {
            if *promoted_by != actor && actor != channel.creator {
                return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
            }
        }
        if actor != channel.creator && exceeds(&rights, &held) {
            return Err(Fail::new(400, "RIGHT_FORBIDDEN"));
        }
        if rank.as_deref().is_some_and(|r| r.chars().count() > 16) {
            return Err(Fail::new(400, "ADMIN_RANK_INVALID"));
        }
        let prev = channel.participant(user, now);
        let channel = self.channel_mut(channel_id)?;
        channel.bans.remove(&user);
        let member = channel.members.get_mut(&user).expect("checked");
        member.role = if no_admin_rights(&rights) {
            Role::Member
        } else {
            Role::Admin {
                rights,
                promoted_by: actor,
                rank,
            }
        };
        let new = Some(Participant::Member(member.clone()));
        Ok(ParticipantChange {
            peer: Peer::Channel(channel_id),
            user_id: user,
            actor,
            date: now,
            prev,
            new,
            invite: None,
        })
    }

    /// channels.editTitle (admins with `change_info`).
    pub fn edit_channel_title(
        &mut self,
        actor: i64,
        channel_id: i64,
        title: &str,
        now: i32,
    ) -> Result<(i32, i32), Fail> {
        let title = check_title(title)?;
        let channel = self.channel_for(channel_id)?;
        channel.check_read(actor, now)?;
        if !channel.has_right(actor, |r| r.change_info) {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        if channel.title == title {
            return Err(Fail::new(400, "CHAT_NOT_MODIFIED"));
        }
        self.channel_mut(channel_id)?.title = title.clone();
        Ok(self.post_channel_service(channel_id, actor, Action::EditTitle { title }, now))
    }

    /// The control API's "add member": no permission checks, optionally as an admin with
    /// every right but `add_admins`.
    pub fn force_channel_member(
        &mut self,
        channel_id: i64,
        user: i64,
        admin: bool,
        now: i32,
    ) -> Result<(ParticipantChange, Option<(i32, i32)>), Fail> {
        let creator = self.channel_for(channel_id)?.creator;
        let added = if self.channel_for(channel_id)?.is_member(user) {
            None
        } else {
            Some(self.add_channel_member(creator, channel_id, user, None, false, now)?)
        };
        if admin {
            let change = self.edit_admin(
                creator,
                channel_id,
                user,
                tl::types::ChatAdminRights {
                    add_admins: false,
                    ..all_admin_rights()
                },
                None,
                now,
            )?;
            return Ok((change, added.and_then(|(_, a)| a)));
        }
        added.ok_or_else(|| Fail::new(400, "USER_ALREADY_PARTICIPANT"))
    }

    /// Text checks plus the channel's posting rules, then stores the message.
    pub fn send_to_channel(
        &mut self,
        from: i64,
        channel_id: i64,
        draft: StoredMessage,
        random_id: i64,
        now: i32,
    ) -> Result<(i32, i32, bool), Fail> {
        let channel = self.channel_for(channel_id)?;
        channel.check_send(from, now)?;
        if let Some(&existing) = channel.random_ids.get(&(from, random_id)) {
            return Ok((existing, channel.pts, true));
        }
        let post = channel.broadcast;
        let (id, pts) = self.post_channel_message(
            channel_id,
            StoredMessage {
                from,
                post,
                ..draft
            },
            now,
        );
        self.channel_mut(channel_id)?
            .random_ids
            .insert((from, random_id), id);
        Ok((id, pts, false))
    }

    /// The control API's "post as the channel": a broadcast post by `author` (the creator
    /// unless given), no permission checks beyond the text's.
    pub fn post_as_channel(
        &mut self,
        channel_id: i64,
        author: Option<i64>,
        text: &str,
        now: i32,
    ) -> Result<(i32, i32), Fail> {
        check_text(text)?;
        let channel = self.channel_for(channel_id)?;
        let from = author.unwrap_or(channel.creator);
        Ok(self.post_channel_message(
            channel_id,
            StoredMessage {
                from,
                post: true,
                text: text.to_string(),
                ..Default::default()
            },
            now,
        ))
    }

    pub(super) fn post_channel_service(
        &mut self,
        channel_id: i64,
        actor: i64,
        action: Action,
        now: i32,
    ) -> (i32, i32) {
        let post = self.social.channels[&channel_id].broadcast;
        self.post_channel_message(
            channel_id,
            StoredMessage {
                from: actor,
                post,
                action: Some(action),
                ..Default::default()
            },
            now,
        )
    }

    /// All channels and basic groups `user` is in (for dialogs, contacts.search, ...).
    pub fn chats_of(&self, user: i64) -> Vec<Peer> {
        let mut peers: Vec<Peer> = self
            .social
            .groups
            .values()
            .filter(|g| g.is_member(user))
            .map(|g| Peer::Chat(g.id))
            .chain(
                self.social
                    .channels
                    .values()
                    .filter(|c| c.is_member(user))
                    .map(|c| Peer::Channel(c.id)),
            )
            .collect();
        peers.sort();
        peers
    }

    /// The participant record of a user in a basic group.
    pub fn group_participant(&self, chat_id: i64, user: i64) -> Option<Participant> {
        self.group(chat_id)?.participant(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{NewUser, WorldConfig};

    fn world_with(n: usize) -> (World, Vec<i64>) {
        let mut world = World::new(WorldConfig::default());
        let ids = (0..n)
            .map(|i| {
                world
                    .create_user(
                        NewUser {
                            phone: format!("1555700{i:04}"),
                            first_name: format!("U{i}"),
                            ..Default::default()
                        },
                        2,
                    )
                    .unwrap()
                    .id
            })
            .collect();
        (world, ids)
    }

    #[test]
    fn basic_group_membership_and_limits() {
        let (mut world, ids) = world_with(3);
        let (chat, created) = world
            .create_group(ids[0], "  Team ", &[ids[1]], 10)
            .unwrap();
        assert_eq!(world.group(chat).unwrap().title, "Team");
        let Announced::Group(copies) = created.announced else {
            panic!("a service message in every box")
        };
        assert_eq!(copies.len(), 2);
        assert_eq!(
            world.create_group(ids[0], " ", &[], 10).unwrap_err().name,
            "CHAT_TITLE_EMPTY"
        );
        // A non-admin member cannot remove others; nobody removes a non-member.
        assert_eq!(
            world
                .remove_group_member(ids[1], chat, ids[0], 11)
                .unwrap_err()
                .name,
            "CHAT_ADMIN_REQUIRED"
        );
        assert_eq!(
            world
                .remove_group_member(ids[0], chat, ids[2], 11)
                .unwrap_err()
                .name,
            "USER_NOT_PARTICIPANT"
        );
        world
            .add_group_member(ids[1], chat, ids[2], None, false, 12)
            .unwrap();
        assert_eq!(
            world
                .add_group_member(ids[1], chat, ids[2], None, false, 12)
                .unwrap_err()
                .name,
            "USER_ALREADY_PARTICIPANT"
        );
        world.remove_group_member(ids[0], chat, ids[2], 13).unwrap();
        assert!(!world.group(chat).unwrap().is_member(ids[2]));
        assert_eq!(world.group(chat).unwrap().version, 3);
    }

    #[test]
    fn channel_rights_and_bans() {
        let (mut world, ids) = world_with(4);
        let (owner, admin, member, outsider) = (ids[0], ids[1], ids[2], ids[3]);
        let (ch, _, pts) = world
            .create_channel(
                owner,
                NewChannel {
                    title: "News".into(),
                    broadcast: false,
                    ..Default::default()
                },
                100,
            )
            .unwrap();
        assert_eq!(pts, 1);
        world
            .invite_to_channel(owner, ch, &[admin, member], 101)
            .unwrap();
        // Only the creator (add_admins) promotes; a non-member cannot be promoted.
        assert_eq!(
            world
                .edit_admin(member, ch, admin, all_admin_rights(), None, 102)
                .unwrap_err()
                .name,
            "CHAT_ADMIN_REQUIRED"
        );
        assert_eq!(
            world
                .edit_admin(owner, ch, outsider, all_admin_rights(), None, 102)
                .unwrap_err()
                .name,
            "USER_NOT_PARTICIPANT"
        );
        let rights = tl::types::ChatAdminRights {
            ban_users: true,
            ..no_admin_rights_value()
        };
        world
            .edit_admin(owner, ch, admin, rights, None, 102)
            .unwrap();
        // The admin restricts the member from sending: USER_BANNED_IN_CHANNEL.
        let mute = tl::types::ChatBannedRights {
            send_messages: true,
            ..no_banned_rights()
        };
        world.edit_banned(admin, ch, member, mute, 103).unwrap();
        assert_eq!(
            world
                .channel(ch)
                .unwrap()
                .check_send(member, 104)
                .unwrap_err()
                .name,
            "USER_BANNED_IN_CHANNEL"
        );
        // A kick for 60 s (grammers' kick_participant) lapses after it.
        let kick = tl::types::ChatBannedRights {
            view_messages: true,
            until_date: 165,
            ..no_banned_rights()
        };
        world.edit_banned(admin, ch, member, kick, 105).unwrap();
        assert!(!world.channel(ch).unwrap().is_member(member));
        assert_eq!(
            world
                .channel(ch)
                .unwrap()
                .check_read(member, 110)
                .unwrap_err()
                .name,
            "CHANNEL_PRIVATE"
        );
        assert!(!world.channel(ch).unwrap().is_kicked(member, 166));
        // The admin cannot ban the creator.
        assert_eq!(
            world
                .edit_banned(admin, ch, owner, no_banned_rights(), 106)
                .unwrap_err()
                .name,
            "USER_ADMIN_INVALID"
        );
        assert_eq!(
            world.leave_channel(owner, ch, 107).unwrap_err().name,
            "USER_CREATOR"
        );
    }

    fn no_admin_rights_value() -> tl::types::ChatAdminRights {
        tl::types::ChatAdminRights {
            change_info: false,
            post_messages: false,
            edit_messages: false,
            delete_messages: false,
            ban_users: false,
            invite_users: false,
            pin_messages: false,
            add_admins: false,
            anonymous: false,
            manage_call: false,
            other: false,
            manage_topics: false,
            post_stories: false,
            edit_stories: false,
            delete_stories: false,
            manage_direct_messages: false,
            manage_ranks: false,
            manage_linked_peers: false,
            manage_welcome_messages: false,
        }
    }
}
