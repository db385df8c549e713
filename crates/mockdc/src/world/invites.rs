//! Invite links (core.telegram.org/api/invites): per-admin links to a basic group or channel,
//! with `usage_limit`, `expire_date`, `request_needed` (join requests approved by
//! `messages.hideChatJoinRequest`), titles, revocation, and the users who joined through each.
//!
//! A link is exhausted once `usage` reaches `usage_limit`, and is then expired like a link past
//! its `expire_date`: INVITE_HASH_EXPIRED (a full chat answers USERS_TOO_MUCH instead).

use rand::Rng;

use super::chats::{Announced, Membership, CHAT_SIZE_MAX, MEGAGROUP_SIZE_MAX};
use super::peer::Peer;
use super::{Fail, World};

/// `usage_limit` is 1..=99999, as Telegram's clients allow.
pub const USAGE_LIMIT_MAX: i32 = 99_999;
/// Invite titles are at most 32 characters.
pub const INVITE_TITLE_MAX: usize = 32;
/// Hash characters (Telegram's links use base64url).
const HASH_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// Someone who joined (or asked to join) through a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Importer {
    pub user_id: i64,
    pub date: i32,
    /// A pending join request.
    pub requested: bool,
    pub approved_by: Option<i64>,
}

/// One invite link.
#[derive(Debug, Clone)]
pub struct Invite {
    pub hash: String,
    pub peer: Peer,
    /// The admin who created it.
    pub admin_id: i64,
    pub date: i32,
    /// When an edit last changed its limits.
    pub start_date: Option<i32>,
    pub expire_date: Option<i32>,
    pub usage_limit: Option<i32>,
    pub usage: i32,
    pub request_needed: bool,
    pub title: Option<String>,
    pub revoked: bool,
    /// Each admin's main link (the one `exportChatInvite(legacy_revoke_permanent)` replaces).
    pub permanent: bool,
    pub importers: Vec<Importer>,
}

impl Invite {
    pub fn link(&self) -> String {
        format!("https://t.me/+{}", self.hash)
    }

    pub fn requested(&self) -> i32 {
        self.importers.iter().filter(|i| i.requested).count() as i32
    }

    /// Past its date, or used up.
    pub fn expired(&self, now: i32) -> bool {
        self.expire_date.is_some_and(|d| now >= d)
            || self.usage_limit.is_some_and(|l| self.usage >= l)
    }
}

/// The hash of a link as users paste it: `https://t.me/+HASH`, `t.me/joinchat/HASH`, or bare.
pub fn parse_link(link: &str) -> &str {
    let link = link.trim();
    let tail = link.rsplit('/').next().unwrap_or(link);
    tail.trim_start_matches('+')
}

/// Options of exportChatInvite / editExportedChatInvite.
#[derive(Debug, Clone, Default)]
pub struct InviteOptions {
    pub expire_date: Option<i32>,
    pub usage_limit: Option<i32>,
    pub request_needed: Option<bool>,
    pub title: Option<String>,
}

/// What checkChatInvite tells a would-be member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteCheck {
    /// Already a member: `chatInviteAlready`.
    Already(Peer),
    /// `chatInvite` for a chat the user is not in.
    Invite { peer: Peer, request_needed: bool },
}

/// What importChatInvite did.
#[derive(Debug, Clone)]
pub enum Joined {
    Member(Membership),
    /// The link needs approval: the request is recorded and INVITE_REQUEST_SENT answered.
    Requested {
        peer: Peer,
    },
}

fn check_options(opts: &InviteOptions, now: i32) -> Result<(), Fail> {
    if opts
        .usage_limit
        .is_some_and(|l| !(1..=USAGE_LIMIT_MAX).contains(&l))
    {
        return Err(Fail::new(400, "USAGE_LIMIT_INVALID"));
    }
    if opts.expire_date.is_some_and(|d| d != 0 && d <= now) {
        return Err(Fail::new(400, "EXPIRE_DATE_INVALID"));
    }
    if opts
        .title
        .as_deref()
        .is_some_and(|t| t.chars().count() > INVITE_TITLE_MAX)
    {
        return Err(Fail::new(400, "INVITE_TITLE_INVALID"));
    }
    // Approval and a usage limit do not go together (Telegram's clients refuse it too).
    if opts.request_needed == Some(true) && opts.usage_limit.is_some() {
        return Err(Fail::new(400, "USAGE_LIMIT_INVALID"));
    }
    Ok(())
}

impl World {
    /// Whether `user` may manage invite links of `peer` (basic-group admins and creator;
    /// channel admins with `invite_users`).
    fn check_invite_admin(&self, user: i64, peer: Peer) -> Result<(), Fail> {
        let allowed = match peer {
            Peer::Chat(id) => self.group_for(id)?.is_admin(user),
            Peer::Channel(id) => self.channel_for(id)?.has_right(user, |r| r.invite_users),
            Peer::User(_) => return Err(Fail::new(400, "PEER_ID_INVALID")),
        };
        if allowed {
            Ok(())
        } else {
            Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"))
        }
    }

    /// Whether `user` created the chat (the creator sees and edits every admin's links).
    fn is_creator(&self, user: i64, peer: Peer) -> bool {
        match peer {
            Peer::Chat(id) => self.group(id).is_some_and(|g| g.creator == user),
            Peer::Channel(id) => self.channel(id).is_some_and(|c| c.creator == user),
            Peer::User(_) => false,
        }
    }

    fn new_hash(&self) -> String {
        let mut rng = rand::rng();
        loop {
            let hash: String = (0..16)
                .map(|_| char::from(HASH_ALPHABET[rng.random_range(0..HASH_ALPHABET.len())]))
                .collect();
            if !self.social.invites.contains_key(&hash) {
                return hash;
            }
        }
    }

    fn insert_invite(&mut self, invite: Invite) -> &Invite {
        let hash = invite.hash.clone();
        self.social.invites.insert(hash.clone(), invite);
        &self.social.invites[&hash]
    }

    /// The admin's permanent link, created on first use (what `chatFull.exported_invite` shows).
    pub fn permanent_invite(&mut self, admin: i64, peer: Peer, now: i32) -> Result<&Invite, Fail> {
        self.check_invite_admin(admin, peer)?;
        let existing = self
            .social
            .invites
            .values()
            .find(|i| i.peer == peer && i.admin_id == admin && i.permanent && !i.revoked)
            .map(|i| i.hash.clone());
        match existing {
            Some(hash) => Ok(&self.social.invites[&hash]),
            None => {
                let hash = self.new_hash();
                Ok(self.insert_invite(Invite {
                    hash,
                    peer,
                    admin_id: admin,
                    date: now,
                    start_date: None,
                    expire_date: None,
                    usage_limit: None,
                    usage: 0,
                    request_needed: false,
                    title: None,
                    revoked: false,
                    permanent: true,
                    importers: Vec::new(),
                }))
            }
        }
    }

    /// messages.exportChatInvite: a new additional link, or (`legacy_revoke_permanent`) a new
    /// permanent link replacing the admin's current one.
    pub fn export_invite(
        &mut self,
        admin: i64,
        peer: Peer,
        opts: InviteOptions,
        legacy_revoke_permanent: bool,
        now: i32,
    ) -> Result<&Invite, Fail> {
        self.check_invite_admin(admin, peer)?;
        check_options(&opts, now)?;
        if legacy_revoke_permanent {
            for invite in self.social.invites.values_mut() {
                if invite.peer == peer && invite.admin_id == admin && invite.permanent {
                    invite.revoked = true;
                }
            }
        }
        let hash = self.new_hash();
        Ok(self.insert_invite(Invite {
            hash,
            peer,
            admin_id: admin,
            date: now,
            start_date: None,
            expire_date: opts.expire_date.filter(|d| *d != 0),
            usage_limit: opts.usage_limit,
            usage: 0,
            request_needed: opts.request_needed.unwrap_or(false),
            title: opts.title.filter(|t| !t.is_empty()),
            revoked: false,
            permanent: legacy_revoke_permanent,
            importers: Vec::new(),
        }))
    }

    /// The invite a link names, if it belongs to `peer`.
    fn invite_of(&self, peer: Peer, link: &str) -> Result<&Invite, Fail> {
        self.social
            .invites
            .get(parse_link(link))
            .filter(|i| i.peer == peer)
            .ok_or_else(|| Fail::new(400, "INVITE_HASH_INVALID"))
    }

    /// messages.getExportedChatInvite.
    pub fn exported_invite(&self, viewer: i64, peer: Peer, link: &str) -> Result<&Invite, Fail> {
        self.check_invite_admin(viewer, peer)?;
        let invite = self.invite_of(peer, link)?;
        if invite.admin_id != viewer && !self.is_creator(viewer, peer) {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        Ok(invite)
    }

    /// messages.getExportedChatInvites: one admin's links (revoked or not), permanent link
    /// first then newest first, paged by (offset_date, offset_link). Returns (page, count).
    #[allow(clippy::too_many_arguments)]
    pub fn exported_invites(
        &self,
        viewer: i64,
        peer: Peer,
        admin: i64,
        revoked: bool,
        offset: Option<(i32, String)>,
        limit: usize,
    ) -> Result<(Vec<&Invite>, usize), Fail> {
        self.check_invite_admin(viewer, peer)?;
        if admin != viewer && !self.is_creator(viewer, peer) {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        let mut all: Vec<&Invite> = self
            .social
            .invites
            .values()
            .filter(|i| i.peer == peer && i.admin_id == admin && i.revoked == revoked)
            .collect();
        all.sort_by(|a, b| (b.permanent, b.date, &b.hash).cmp(&(a.permanent, a.date, &a.hash)));
        let count = all.len();
        let start = match &offset {
            Some((_, link)) if !link.is_empty() => all
                .iter()
                .position(|i| i.hash == parse_link(link))
                .map(|p| p + 1)
                .unwrap_or(0),
            Some((date, _)) if *date > 0 => all
                .iter()
                .position(|i| !i.permanent && i.date < *date)
                .unwrap_or(all.len()),
            _ => 0,
        };
        let page = all
            .into_iter()
            .skip(start)
            .take(limit.clamp(1, 100))
            .collect();
        Ok((page, count))
    }

    /// messages.editExportedChatInvite: revoke, or change limits, approval and title.
    /// Revoking a permanent link replaces it; the answer then carries the new one too.
    #[allow(clippy::too_many_arguments)]
    pub fn edit_invite(
        &mut self,
        viewer: i64,
        peer: Peer,
        link: &str,
        revoke: bool,
        opts: InviteOptions,
        now: i32,
    ) -> Result<(Invite, Option<Invite>), Fail> {
        let invite = self.exported_invite(viewer, peer, link)?.clone();
        let changes_limits = opts.expire_date.is_some()
            || opts.usage_limit.is_some()
            || opts.request_needed.is_some()
            || opts.title.is_some();
        if invite.revoked {
            return Err(Fail::new(400, "INVITE_REVOKED_MISSING"));
        }
        if invite.permanent && changes_limits {
            return Err(Fail::new(400, "CHAT_INVITE_PERMANENT"));
        }
        if !revoke {
            // usage_limit 0 lifts the limit.
            let checked = InviteOptions {
                usage_limit: opts.usage_limit.filter(|l| *l != 0),
                ..opts.clone()
            };
            check_options(&checked, now)?;
        }
        let admin = invite.admin_id;
        let stored = self
            .social
            .invites
            .get_mut(&invite.hash)
            .expect("found above");
        if revoke {
            stored.revoked = true;
        } else {
            if let Some(date) = opts.expire_date {
                stored.expire_date = (date != 0).then_some(date);
            }
            if let Some(limit) = opts.usage_limit {
                stored.usage_limit = (limit != 0).then_some(limit);
            }
            if let Some(request_needed) = opts.request_needed {
                stored.request_needed = request_needed;
            }
            if let Some(title) = opts.title {
                stored.title = (!title.is_empty()).then_some(title);
            }
            stored.start_date = Some(now);
        }
        let edited = stored.clone();
        let replacement = if revoke && invite.permanent {
            Some(self.permanent_invite(admin, peer, now)?.clone())
        } else {
            None
        };
        Ok((edited, replacement))
    }

    /// messages.deleteExportedChatInvite: only revoked links can be deleted.
    pub fn delete_invite(&mut self, viewer: i64, peer: Peer, link: &str) -> Result<(), Fail> {
        let invite = self.exported_invite(viewer, peer, link)?;
        if !invite.revoked {
            return Err(Fail::new(400, "INVITE_REVOKED_MISSING"));
        }
        let hash = invite.hash.clone();
        self.social.invites.remove(&hash);
        Ok(())
    }

    /// messages.deleteRevokedExportedChatInvites: every revoked link of one admin.
    pub fn delete_revoked_invites(
        &mut self,
        viewer: i64,
        peer: Peer,
        admin: i64,
    ) -> Result<usize, Fail> {
        self.check_invite_admin(viewer, peer)?;
        if admin != viewer && !self.is_creator(viewer, peer) {
            return Err(Fail::new(400, "CHAT_ADMIN_REQUIRED"));
        }
        let before = self.social.invites.len();
        self.social
            .invites
            .retain(|_, i| !(i.peer == peer && i.admin_id == admin && i.revoked));
        Ok(before - self.social.invites.len())
    }

    /// A usable link by hash: INVITE_HASH_EMPTY / INVITE_HASH_INVALID / INVITE_HASH_EXPIRED
    /// (revoked, past its date, or used up).
    fn usable_invite(&self, hash: &str, now: i32) -> Result<&Invite, Fail> {
        let hash = parse_link(hash);
        if hash.is_empty() {
            return Err(Fail::new(400, "INVITE_HASH_EMPTY"));
        }
        let invite = self
            .social
            .invites
            .get(hash)
            .ok_or_else(|| Fail::new(400, "INVITE_HASH_INVALID"))?;
        if invite.revoked || invite.expired(now) {
            return Err(Fail::new(406, "INVITE_HASH_EXPIRED"));
        }
        Ok(invite)
    }

    fn is_member_of(&self, user: i64, peer: Peer) -> bool {
        match peer {
            Peer::Chat(id) => self.group(id).is_some_and(|g| g.is_member(user)),
            Peer::Channel(id) => self.channel(id).is_some_and(|c| c.is_member(user)),
            Peer::User(_) => false,
        }
    }

    fn is_full(&self, peer: Peer) -> bool {
        match peer {
            Peer::Chat(id) => self
                .group(id)
                .is_some_and(|g| g.members.len() >= CHAT_SIZE_MAX),
            Peer::Channel(id) => self
                .channel(id)
                .is_some_and(|c| c.participants_count() >= MEGAGROUP_SIZE_MAX),
            Peer::User(_) => false,
        }
    }

    /// messages.checkChatInvite.
    pub fn check_invite(&self, user: i64, hash: &str, now: i32) -> Result<InviteCheck, Fail> {
        let invite = self.usable_invite(hash, now)?;
        if self.is_member_of(user, invite.peer) {
            return Ok(InviteCheck::Already(invite.peer));
        }
        Ok(InviteCheck::Invite {
            peer: invite.peer,
            request_needed: invite.request_needed,
        })
    }

    /// messages.importChatInvite: joins (counting a use), or records a join request.
    pub fn import_invite(&mut self, user: i64, hash: &str, now: i32) -> Result<Joined, Fail> {
        let invite = self.usable_invite(hash, now)?;
        let (peer, hash) = (invite.peer, invite.hash.clone());
        if self.is_member_of(user, peer) {
            return Err(Fail::new(400, "USER_ALREADY_PARTICIPANT"));
        }
        if let Peer::Channel(id) = peer {
            if self.channel_for(id)?.is_kicked(user, now) {
                return Err(Fail::new(400, "CHANNEL_PRIVATE"));
            }
        }
        if self.is_full(peer) {
            return Err(Fail::new(400, "USERS_TOO_MUCH"));
        }
        if invite.request_needed {
            let stored = self.social.invites.get_mut(&hash).expect("found above");
            if !stored
                .importers
                .iter()
                .any(|i| i.user_id == user && i.requested)
            {
                stored.importers.push(Importer {
                    user_id: user,
                    date: now,
                    requested: true,
                    approved_by: None,
                });
            }
            return Ok(Joined::Requested { peer });
        }
        let membership = self.join_by(user, peer, &hash, false, now)?;
        let stored = self.social.invites.get_mut(&hash).expect("found above");
        stored.usage += 1;
        stored.importers.push(Importer {
            user_id: user,
            date: now,
            requested: false,
            approved_by: None,
        });
        Ok(Joined::Member(membership))
    }

    fn join_by(
        &mut self,
        user: i64,
        peer: Peer,
        hash: &str,
        via_request: bool,
        now: i32,
    ) -> Result<Membership, Fail> {
        match peer {
            Peer::Chat(id) => {
                self.add_group_member(user, id, user, Some(hash.to_string()), via_request, now)
            }
            Peer::Channel(id) => {
                let (change, posted) = self.add_channel_member(
                    user,
                    id,
                    user,
                    Some(hash.to_string()),
                    via_request,
                    now,
                )?;
                Ok(Membership {
                    changes: vec![change],
                    announced: match posted {
                        Some((id, pts)) => Announced::Channel { id, pts },
                        None => Announced::None,
                    },
                    missing: Vec::new(),
                })
            }
            Peer::User(_) => Err(Fail::new(400, "PEER_ID_INVALID")),
        }
    }

    /// Pending join requests of a chat: (user, date, link) oldest first.
    pub fn join_requests(&self, peer: Peer) -> Vec<(i64, i32, String)> {
        let mut requests: Vec<(i64, i32, String)> = self
            .social
            .invites
            .values()
            .filter(|i| i.peer == peer)
            .flat_map(|i| {
                i.importers
                    .iter()
                    .filter(|r| r.requested)
                    .map(|r| (r.user_id, r.date, i.hash.clone()))
            })
            .collect();
        requests.sort_by_key(|(user, date, _)| (*date, *user));
        requests
    }

    /// messages.hideChatJoinRequest: approve (the user joins, the link counts a use) or
    /// dismiss a pending request. HIDE_REQUESTER_MISSING when there is none.
    pub fn hide_join_request(
        &mut self,
        admin: i64,
        peer: Peer,
        user: i64,
        approved: bool,
        now: i32,
    ) -> Result<Option<Membership>, Fail> {
        self.check_invite_admin(admin, peer)?;
        let hash = self
            .social
            .invites
            .values()
            .find(|i| {
                i.peer == peer && i.importers.iter().any(|r| r.user_id == user && r.requested)
            })
            .map(|i| i.hash.clone())
            .ok_or_else(|| Fail::new(400, "HIDE_REQUESTER_MISSING"))?;
        let stored = self.social.invites.get_mut(&hash).expect("found above");
        stored
            .importers
            .retain(|r| !(r.user_id == user && r.requested));
        if !approved {
            return Ok(None);
        }
        if self.is_member_of(user, peer) {
            return Err(Fail::new(400, "USER_ALREADY_PARTICIPANT"));
        }
        let mut membership = self.join_by(user, peer, &hash, true, now)?;
        for change in &mut membership.changes {
            change.actor = admin;
        }
        let stored = self.social.invites.get_mut(&hash).expect("found above");
        stored.usage += 1;
        stored.importers.push(Importer {
            user_id: user,
            date: now,
            requested: false,
            approved_by: Some(admin),
        });
        Ok(Some(membership))
    }

    /// messages.getChatInviteImporters: who joined through a link (or through any link), or
    /// the pending requests (`requested`), newest first, paged by (offset_date, offset_user).
    #[allow(clippy::too_many_arguments)]
    pub fn invite_importers(
        &self,
        viewer: i64,
        peer: Peer,
        link: Option<&str>,
        requested: bool,
        q: Option<&str>,
        offset: (i32, i64),
        limit: usize,
    ) -> Result<(Vec<(Importer, String)>, usize), Fail> {
        self.check_invite_admin(viewer, peer)?;
        let only = link.map(parse_link);
        let needle = q.map(str::to_lowercase).filter(|q| !q.is_empty());
        let mut all: Vec<(Importer, String)> = self
            .social
            .invites
            .values()
            .filter(|i| i.peer == peer && only.is_none_or(|h| h == i.hash))
            .flat_map(|i| {
                i.importers
                    .iter()
                    .filter(|r| r.requested == requested)
                    .map(|r| (r.clone(), i.hash.clone()))
            })
            .filter(|(r, _)| {
                needle.as_ref().is_none_or(|q| {
                    self.user(r.user_id).is_some_and(|u| {
                        u.first_name.to_lowercase().contains(q)
                            || u.username
                                .as_deref()
                                .is_some_and(|n| n.to_lowercase().contains(q))
                    })
                })
            })
            .collect();
        if let Some(h) = only {
            if !self.social.invites.contains_key(h) {
                return Err(Fail::new(400, "INVITE_HASH_INVALID"));
            }
        }
        all.sort_by_key(|(r, _)| std::cmp::Reverse((r.date, r.user_id)));
        let count = all.len();
        let (offset_date, offset_user) = offset;
        let page = all
            .into_iter()
            .filter(|(r, _)| offset_date <= 0 || (r.date, r.user_id) < (offset_date, offset_user))
            .take(limit.clamp(1, 100))
            .collect();
        Ok((page, count))
    }

    /// Admins who should hear about a chat's membership changes and join requests.
    pub fn admins_of(&self, peer: Peer) -> Vec<i64> {
        match peer {
            Peer::Chat(id) => self
                .group(id)
                .map(|g| {
                    g.members
                        .keys()
                        .copied()
                        .filter(|u| g.is_admin(*u))
                        .collect()
                })
                .unwrap_or_default(),
            Peer::Channel(id) => self.channel_admins(id),
            Peer::User(_) => Vec::new(),
        }
    }

    /// Every link of a chat, oldest first (the control API's view).
    pub fn invites_of(&self, peer: Peer) -> Vec<&Invite> {
        let mut invites: Vec<&Invite> = self
            .social
            .invites
            .values()
            .filter(|i| i.peer == peer)
            .collect();
        invites.sort_by(|a, b| (a.date, &a.hash).cmp(&(b.date, &b.hash)));
        invites
    }

    pub fn invite(&self, hash: &str) -> Option<&Invite> {
        self.social.invites.get(parse_link(hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::chats::NewChannel;
    use crate::world::{NewUser, WorldConfig};

    fn users(world: &mut World, n: usize, tag: &str) -> Vec<i64> {
        (0..n)
            .map(|i| {
                world
                    .create_user(
                        NewUser {
                            phone: format!("1555{tag}{i:04}"),
                            first_name: format!("{tag}{i}"),
                            ..Default::default()
                        },
                        2,
                    )
                    .unwrap()
                    .id
            })
            .collect()
    }

    #[test]
    fn usage_limit_expiry_requests_and_revocation() {
        let mut world = World::new(WorldConfig::default());
        let ids = users(&mut world, 5, "81");
        let (ch, _, _) = world
            .create_channel(
                ids[0],
                NewChannel {
                    title: "Club".into(),
                    ..Default::default()
                },
                10,
            )
            .unwrap();
        let peer = Peer::Channel(ch);
        assert_eq!(
            world
                .export_invite(ids[1], peer, InviteOptions::default(), false, 10)
                .unwrap_err()
                .name,
            "CHAT_ADMIN_REQUIRED"
        );
        let limited = InviteOptions {
            usage_limit: Some(2),
            ..Default::default()
        };
        let hash = world
            .export_invite(ids[0], peer, limited, false, 10)
            .unwrap()
            .hash
            .clone();
        assert!(matches!(
            world.check_invite(ids[1], &hash, 11).unwrap(),
            InviteCheck::Invite {
                request_needed: false,
                ..
            }
        ));
        for user in &ids[1..3] {
            assert!(matches!(
                world.import_invite(*user, &format!("https://t.me/+{hash}"), 11),
                Ok(Joined::Member(_))
            ));
        }
        assert_eq!(
            world.import_invite(ids[3], &hash, 12).unwrap_err(),
            Fail::new(406, "INVITE_HASH_EXPIRED")
        );
        assert_eq!(world.invite(&hash).unwrap().usage, 2);
        assert_eq!(
            world.import_invite(ids[1], "nope", 12).unwrap_err().name,
            "INVITE_HASH_INVALID"
        );

        // A dated link expires; a request-needed link queues requests.
        let dated = InviteOptions {
            expire_date: Some(20),
            ..Default::default()
        };
        let dated = world
            .export_invite(ids[0], peer, dated, false, 10)
            .unwrap()
            .hash
            .clone();
        assert_eq!(
            world.import_invite(ids[3], &dated, 20).unwrap_err().name,
            "INVITE_HASH_EXPIRED"
        );
        let ask = InviteOptions {
            request_needed: Some(true),
            ..Default::default()
        };
        let ask = world
            .export_invite(ids[0], peer, ask, false, 10)
            .unwrap()
            .hash
            .clone();
        assert!(matches!(
            world.import_invite(ids[3], &ask, 13).unwrap(),
            Joined::Requested { .. }
        ));
        assert_eq!(world.invite(&ask).unwrap().requested(), 1);
        assert_eq!(
            world
                .hide_join_request(ids[0], peer, ids[4], true, 14)
                .unwrap_err()
                .name,
            "HIDE_REQUESTER_MISSING"
        );
        world
            .hide_join_request(ids[0], peer, ids[3], true, 14)
            .unwrap();
        assert!(world.channel(ch).unwrap().is_member(ids[3]));
        let invite = world.invite(&ask).unwrap();
        assert_eq!((invite.usage, invite.requested()), (1, 0));

        // Revoking the creator's permanent link replaces it; only revoked links delete.
        let permanent = world
            .permanent_invite(ids[0], peer, 15)
            .unwrap()
            .hash
            .clone();
        assert_eq!(
            world
                .delete_invite(ids[0], peer, &permanent)
                .unwrap_err()
                .name,
            "INVITE_REVOKED_MISSING"
        );
        let (old, new) = world
            .edit_invite(ids[0], peer, &permanent, true, InviteOptions::default(), 16)
            .unwrap();
        assert!(old.revoked);
        assert!(new.is_some_and(|n| n.permanent && n.hash != permanent));
        assert_eq!(
            world.delete_revoked_invites(ids[0], peer, ids[0]).unwrap(),
            1
        );
    }

    #[test]
    fn full_group_answers_users_too_much() {
        let mut world = World::new(WorldConfig::default());
        let ids = users(&mut world, CHAT_SIZE_MAX + 1, "82");
        let (chat, _) = world
            .create_group(ids[0], "Full", &ids[1..CHAT_SIZE_MAX], 1)
            .unwrap();
        assert_eq!(world.group(chat).unwrap().members.len(), CHAT_SIZE_MAX);
        let hash = world
            .export_invite(ids[0], Peer::Chat(chat), InviteOptions::default(), false, 1)
            .unwrap()
            .hash
            .clone();
        assert_eq!(
            world
                .import_invite(ids[CHAT_SIZE_MAX], &hash, 2)
                .unwrap_err()
                .name,
            "USERS_TOO_MUCH"
        );
    }
}
