//! Layer 198 (GramJS 2.26) for groups, channels, invite links and contacts: the answers whose
//! containers carry a constructor that changed by 230 (`user`, `channel`, `message`,
//! `dialog`, `channelFull`, `channelParticipant*`) are rebuilt here, as [`super::layer198`]
//! does for private messages.
//!
//! What changed between 198 and 230 in these types (230-only fields are dropped on the way
//! down, 198-only ones get their defaults on the way up):
//! - `channelFull`: `paid_messages_available`, `has_welcome_messages`,
//!   `send_paid_messages_stars`, `main_tab`, `guard_bot_id` added.
//! - `channelParticipant`, `channelParticipantSelf`, `channelParticipantBanned`: `rank` added.
//! - Requests: `channels.editAdmin` (`rank` optional in 230), `channels.joinChannel` and
//!   `messages.importChatInvite` (230 answers `messages.ChatInviteJoinResult`, 198 `Updates`);
//!   the handlers accept both ids.
//!
//! Unchanged constructors (`chat`, `chatFull`, `chatInviteExported`, `chatAdminRights`,
//! `chatBannedRights`, `updates.channelDifferenceEmpty`, ...) are re-read with
//! [`super::layer198::same`].

use grammers_tl_types as tl;
use telegate_mockdc_tl198 as tl198;

use super::encode::Layered;
use super::layer198::down;
use super::layer198::{same, same_vec};
use crate::world::Fail;

fn users(u: &[tl::enums::User]) -> Vec<tl198::enums::User> {
    down::users(u)
}

fn chats(c: &[tl::enums::Chat]) -> Vec<tl198::enums::Chat> {
    down::chats(c)
}

/// A channel participant in layer 198 (`rank` dropped where 198 has none).
pub fn channel_participant(
    p: &tl::enums::ChannelParticipant,
) -> Option<tl198::enums::ChannelParticipant> {
    use tl::enums::ChannelParticipant as P;
    use tl198::enums::ChannelParticipant as P198;
    Some(match p {
        P::Participant(p) => P198::Participant(tl198::types::ChannelParticipant {
            user_id: p.user_id,
            date: p.date,
            subscription_until_date: p.subscription_until_date,
        }),
        P::ParticipantSelf(p) => P198::ParticipantSelf(tl198::types::ChannelParticipantSelf {
            via_request: p.via_request,
            user_id: p.user_id,
            inviter_id: p.inviter_id,
            date: p.date,
            subscription_until_date: p.subscription_until_date,
        }),
        P::Banned(p) => P198::Banned(tl198::types::ChannelParticipantBanned {
            left: p.left,
            peer: down::peer(&p.peer),
            kicked_by: p.kicked_by,
            date: p.date,
            banned_rights: same(&p.banned_rights)?,
        }),
        other => return same(other),
    })
}

/// `updateChannelParticipant` (its participants changed by 230).
pub fn channel_participant_update(u: &tl::types::UpdateChannelParticipant) -> tl198::enums::Update {
    tl198::enums::Update::ChannelParticipant(tl198::types::UpdateChannelParticipant {
        via_chatlist: u.via_chatlist,
        channel_id: u.channel_id,
        date: u.date,
        actor_id: u.actor_id,
        user_id: u.user_id,
        prev_participant: u.prev_participant.as_ref().and_then(channel_participant),
        new_participant: u.new_participant.as_ref().and_then(channel_participant),
        invite: u.invite.as_ref().and_then(same),
        qts: u.qts,
    })
}

fn chat_full(full: &tl::enums::ChatFull) -> Option<tl198::enums::ChatFull> {
    let tl::enums::ChatFull::ChannelFull(c) = full else {
        return same(full);
    };
    Some(tl198::enums::ChatFull::ChannelFull(
        tl198::types::ChannelFull {
            can_view_participants: c.can_view_participants,
            can_set_username: c.can_set_username,
            can_set_stickers: c.can_set_stickers,
            hidden_prehistory: c.hidden_prehistory,
            can_set_location: c.can_set_location,
            has_scheduled: c.has_scheduled,
            can_view_stats: c.can_view_stats,
            blocked: c.blocked,
            can_delete_channel: c.can_delete_channel,
            antispam: c.antispam,
            participants_hidden: c.participants_hidden,
            translations_disabled: c.translations_disabled,
            stories_pinned_available: c.stories_pinned_available,
            view_forum_as_messages: c.view_forum_as_messages,
            restricted_sponsored: c.restricted_sponsored,
            can_view_revenue: c.can_view_revenue,
            paid_media_allowed: c.paid_media_allowed,
            can_view_stars_revenue: c.can_view_stars_revenue,
            paid_reactions_available: c.paid_reactions_available,
            stargifts_available: c.stargifts_available,
            id: c.id,
            about: c.about.clone(),
            participants_count: c.participants_count,
            admins_count: c.admins_count,
            kicked_count: c.kicked_count,
            banned_count: c.banned_count,
            online_count: c.online_count,
            read_inbox_max_id: c.read_inbox_max_id,
            read_outbox_max_id: c.read_outbox_max_id,
            unread_count: c.unread_count,
            chat_photo: same(&c.chat_photo)?,
            notify_settings: down::notify_settings(&c.notify_settings),
            exported_invite: c.exported_invite.as_ref().and_then(same),
            bot_info: same_vec(&c.bot_info),
            migrated_from_chat_id: c.migrated_from_chat_id,
            migrated_from_max_id: c.migrated_from_max_id,
            pinned_msg_id: c.pinned_msg_id,
            stickerset: c.stickerset.as_ref().and_then(same),
            available_min_id: c.available_min_id,
            folder_id: c.folder_id,
            linked_chat_id: c.linked_chat_id,
            location: c.location.as_ref().and_then(same),
            slowmode_seconds: c.slowmode_seconds,
            slowmode_next_send_date: c.slowmode_next_send_date,
            stats_dc: c.stats_dc,
            pts: c.pts,
            call: c.call.as_ref().and_then(same),
            ttl_period: c.ttl_period,
            pending_suggestions: c.pending_suggestions.clone(),
            groupcall_default_join_as: c.groupcall_default_join_as.as_ref().map(down::peer),
            theme_emoticon: c.theme_emoticon.clone(),
            requests_pending: c.requests_pending,
            recent_requesters: c.recent_requesters.clone(),
            default_send_as: c.default_send_as.as_ref().map(down::peer),
            available_reactions: c.available_reactions.as_ref().and_then(same),
            reactions_limit: c.reactions_limit,
            stories: c.stories.as_ref().and_then(same),
            wallpaper: c.wallpaper.as_ref().and_then(same),
            boosts_applied: c.boosts_applied,
            boosts_unrestrict: c.boosts_unrestrict,
            emojiset: c.emojiset.as_ref().and_then(same),
            bot_verification: c.bot_verification.as_ref().and_then(same),
            stargifts_count: c.stargifts_count,
        },
    ))
}

/// The layer-230 `channels.editAdmin` for a layer-198 one (whose `rank` is not optional).
pub fn edit_admin(
    old: tl198::functions::channels::EditAdmin,
) -> Result<tl::functions::channels::EditAdmin, Fail> {
    let bad = || Fail::new(400, "INPUT_FETCH_ERROR");
    Ok(tl::functions::channels::EditAdmin {
        channel: same(&old.channel).ok_or_else(bad)?,
        user_id: same(&old.user_id).ok_or_else(bad)?,
        admin_rights: same(&old.admin_rights).ok_or_else(bad)?,
        rank: Some(old.rank),
    })
}

macro_rules! layered {
    ($($t230:ty => $t198:ty, $down:expr;)*) => {$(
        impl Layered for $t230 {
            type Layer198 = $t198;
            fn to_layer198(&self) -> $t198 {
                ($down)(self)
            }
        }
    )*};
}

layered! {
    tl::enums::messages::InvitedUsers => tl198::enums::messages::InvitedUsers,
        |v: &tl::enums::messages::InvitedUsers| {
            let tl::enums::messages::InvitedUsers::Users(v) = v;
            tl198::enums::messages::InvitedUsers::Users(tl198::types::messages::InvitedUsers {
                updates: down::updates(&v.updates),
                missing_invitees: same_vec(&v.missing_invitees),
            })
        };
    tl::enums::messages::ChatInviteJoinResult => tl198::enums::Updates,
        // 198 has no such type: its clients call the 198 method, which answers the updates.
        |v: &tl::enums::messages::ChatInviteJoinResult| match v {
            tl::enums::messages::ChatInviteJoinResult::Ok(ok) => down::updates(&ok.updates),
            _ => tl198::enums::Updates::TooLong,
        };
    tl::enums::channels::ChannelParticipants => tl198::enums::channels::ChannelParticipants,
        |v: &tl::enums::channels::ChannelParticipants| match v {
            tl::enums::channels::ChannelParticipants::Participants(p) => {
                tl198::enums::channels::ChannelParticipants::Participants(
                    tl198::types::channels::ChannelParticipants {
                        count: p.count,
                        participants: p.participants.iter().filter_map(channel_participant).collect(),
                        chats: chats(&p.chats),
                        users: users(&p.users),
                    },
                )
            }
            tl::enums::channels::ChannelParticipants::NotModified => {
                tl198::enums::channels::ChannelParticipants::NotModified
            }
        };
    tl::enums::channels::ChannelParticipant => tl198::enums::channels::ChannelParticipant,
        |v: &tl::enums::channels::ChannelParticipant| {
            let tl::enums::channels::ChannelParticipant::Participant(p) = v;
            tl198::enums::channels::ChannelParticipant::Participant(
                tl198::types::channels::ChannelParticipant {
                    participant: channel_participant(&p.participant).unwrap_or(
                        tl198::enums::ChannelParticipant::Left(tl198::types::ChannelParticipantLeft {
                            peer: tl198::enums::Peer::User(tl198::types::PeerUser { user_id: 0 }),
                        }),
                    ),
                    chats: chats(&p.chats),
                    users: users(&p.users),
                },
            )
        };
    tl::enums::messages::ChatFull => tl198::enums::messages::ChatFull,
        |v: &tl::enums::messages::ChatFull| {
            let tl::enums::messages::ChatFull::Full(f) = v;
            tl198::enums::messages::ChatFull::Full(tl198::types::messages::ChatFull {
                full_chat: chat_full(&f.full_chat).expect("chatFull and channelFull convert"),
                chats: chats(&f.chats),
                users: users(&f.users),
            })
        };
    tl::enums::messages::Chats => tl198::enums::messages::Chats,
        |v: &tl::enums::messages::Chats| match v {
            tl::enums::messages::Chats::Chats(c) => {
                tl198::enums::messages::Chats::Chats(tl198::types::messages::Chats {
                    chats: chats(&c.chats),
                })
            }
            tl::enums::messages::Chats::Slice(c) => {
                tl198::enums::messages::Chats::Slice(tl198::types::messages::ChatsSlice {
                    count: c.count,
                    chats: chats(&c.chats),
                })
            }
        };
    tl::enums::updates::ChannelDifference => tl198::enums::updates::ChannelDifference,
        |v: &tl::enums::updates::ChannelDifference| match v {
            tl::enums::updates::ChannelDifference::Empty(e) => {
                tl198::enums::updates::ChannelDifference::Empty(
                    tl198::types::updates::ChannelDifferenceEmpty {
                        r#final: e.r#final,
                        pts: e.pts,
                        timeout: e.timeout,
                    },
                )
            }
            tl::enums::updates::ChannelDifference::TooLong(d) => {
                tl198::enums::updates::ChannelDifference::TooLong(
                    tl198::types::updates::ChannelDifferenceTooLong {
                        r#final: d.r#final,
                        timeout: d.timeout,
                        dialog: down::dialog(&d.dialog).expect("a plain dialog"),
                        messages: down::messages_vec(&d.messages),
                        chats: chats(&d.chats),
                        users: users(&d.users),
                    },
                )
            }
            tl::enums::updates::ChannelDifference::Difference(d) => {
                tl198::enums::updates::ChannelDifference::Difference(
                    tl198::types::updates::ChannelDifference {
                        r#final: d.r#final,
                        pts: d.pts,
                        timeout: d.timeout,
                        new_messages: down::messages_vec(&d.new_messages),
                        other_updates: down::updates_vec(&d.other_updates),
                        chats: chats(&d.chats),
                        users: users(&d.users),
                    },
                )
            }
        };
    tl::enums::contacts::ImportedContacts => tl198::enums::contacts::ImportedContacts,
        |v: &tl::enums::contacts::ImportedContacts| {
            let tl::enums::contacts::ImportedContacts::Contacts(c) = v;
            tl198::enums::contacts::ImportedContacts::Contacts(
                tl198::types::contacts::ImportedContacts {
                    imported: same_vec(&c.imported),
                    popular_invites: same_vec(&c.popular_invites),
                    retry_contacts: c.retry_contacts.clone(),
                    users: users(&c.users),
                },
            )
        };
    tl::enums::contacts::Contacts => tl198::enums::contacts::Contacts,
        |v: &tl::enums::contacts::Contacts| match v {
            tl::enums::contacts::Contacts::Contacts(c) => {
                tl198::enums::contacts::Contacts::Contacts(tl198::types::contacts::Contacts {
                    contacts: same_vec(&c.contacts),
                    saved_count: c.saved_count,
                    users: users(&c.users),
                })
            }
            tl::enums::contacts::Contacts::NotModified => {
                tl198::enums::contacts::Contacts::NotModified
            }
        };
    tl::enums::contacts::Found => tl198::enums::contacts::Found,
        |v: &tl::enums::contacts::Found| {
            let tl::enums::contacts::Found::Found(f) = v;
            tl198::enums::contacts::Found::Found(tl198::types::contacts::Found {
                my_results: f.my_results.iter().map(down::peer).collect(),
                results: f.results.iter().map(down::peer).collect(),
                chats: chats(&f.chats),
                users: users(&f.users),
            })
        };
    tl::enums::contacts::Blocked => tl198::enums::contacts::Blocked,
        |v: &tl::enums::contacts::Blocked| match v {
            tl::enums::contacts::Blocked::Blocked(b) => {
                tl198::enums::contacts::Blocked::Blocked(tl198::types::contacts::Blocked {
                    blocked: same_vec(&b.blocked),
                    chats: chats(&b.chats),
                    users: users(&b.users),
                })
            }
            tl::enums::contacts::Blocked::Slice(b) => {
                tl198::enums::contacts::Blocked::Slice(tl198::types::contacts::BlockedSlice {
                    count: b.count,
                    blocked: same_vec(&b.blocked),
                    chats: chats(&b.chats),
                    users: users(&b.users),
                })
            }
        };
    tl::enums::messages::ExportedChatInvites => tl198::enums::messages::ExportedChatInvites,
        |v: &tl::enums::messages::ExportedChatInvites| {
            let tl::enums::messages::ExportedChatInvites::Invites(i) = v;
            tl198::enums::messages::ExportedChatInvites::Invites(
                tl198::types::messages::ExportedChatInvites {
                    count: i.count,
                    invites: same_vec(&i.invites),
                    users: users(&i.users),
                },
            )
        };
    tl::enums::messages::ExportedChatInvite => tl198::enums::messages::ExportedChatInvite,
        |v: &tl::enums::messages::ExportedChatInvite| match v {
            tl::enums::messages::ExportedChatInvite::Invite(i) => {
                tl198::enums::messages::ExportedChatInvite::Invite(
                    tl198::types::messages::ExportedChatInvite {
                        invite: same(&i.invite).expect("chatInviteExported is the same"),
                        users: users(&i.users),
                    },
                )
            }
            tl::enums::messages::ExportedChatInvite::Replaced(i) => {
                tl198::enums::messages::ExportedChatInvite::Replaced(
                    tl198::types::messages::ExportedChatInviteReplaced {
                        invite: same(&i.invite).expect("chatInviteExported is the same"),
                        new_invite: same(&i.new_invite).expect("chatInviteExported is the same"),
                        users: users(&i.users),
                    },
                )
            }
        };
    tl::enums::ChatInvite => tl198::enums::ChatInvite,
        |v: &tl::enums::ChatInvite| match v {
            tl::enums::ChatInvite::Already(a) => {
                tl198::enums::ChatInvite::Already(tl198::types::ChatInviteAlready {
                    chat: down::chat(&a.chat).expect("chats convert"),
                })
            }
            tl::enums::ChatInvite::Peek(p) => {
                tl198::enums::ChatInvite::Peek(tl198::types::ChatInvitePeek {
                    chat: down::chat(&p.chat).expect("chats convert"),
                    expires: p.expires,
                })
            }
            tl::enums::ChatInvite::Invite(i) => {
                tl198::enums::ChatInvite::Invite(tl198::types::ChatInvite {
                    channel: i.channel,
                    broadcast: i.broadcast,
                    public: i.public,
                    megagroup: i.megagroup,
                    request_needed: i.request_needed,
                    verified: i.verified,
                    scam: i.scam,
                    fake: i.fake,
                    can_refulfill_subscription: i.can_refulfill_subscription,
                    title: i.title.clone(),
                    about: i.about.clone(),
                    photo: same(&i.photo).expect("photoEmpty is the same"),
                    participants_count: i.participants_count,
                    participants: i.participants.as_ref().map(|u| users(u)),
                    color: i.color,
                    subscription_pricing: i.subscription_pricing.as_ref().and_then(same),
                    subscription_form_id: i.subscription_form_id,
                    bot_verification: i.bot_verification.as_ref().and_then(same),
                })
            }
        };
    tl::enums::messages::ChatInviteImporters => tl198::enums::messages::ChatInviteImporters,
        |v: &tl::enums::messages::ChatInviteImporters| {
            let tl::enums::messages::ChatInviteImporters::Importers(i) = v;
            tl198::enums::messages::ChatInviteImporters::Importers(
                tl198::types::messages::ChatInviteImporters {
                    count: i.count,
                    importers: same_vec(&i.importers),
                    users: users(&i.users),
                },
            )
        };
    tl::enums::messages::ChatAdminsWithInvites => tl198::enums::messages::ChatAdminsWithInvites,
        |v: &tl::enums::messages::ChatAdminsWithInvites| {
            let tl::enums::messages::ChatAdminsWithInvites::Invites(i) = v;
            tl198::enums::messages::ChatAdminsWithInvites::Invites(
                tl198::types::messages::ChatAdminsWithInvites {
                    admins: same_vec(&i.admins),
                    users: users(&i.users),
                },
            )
        };
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use grammers_tl_types::{Deserializable, Identifiable, Serializable};

    use super::*;
    use crate::cluster::{Cluster, DcAddress};
    use crate::rpc::{call, CallContext, RpcAnswer};
    use crate::rsa_key::RsaKeyPair;
    use crate::session::Session;
    use crate::world::chats::NewChannel;
    use crate::world::invites::InviteOptions;
    use crate::world::{NewUser, Peer};

    const NOW: i32 = 1_700_000_000;

    fn login(world: &mut crate::world::World, phone: &str, name: &str, key: i64) -> i64 {
        let id = world
            .create_user(
                NewUser {
                    phone: phone.into(),
                    first_name: name.into(),
                    dc_id: Some(2),
                    ..Default::default()
                },
                2,
            )
            .unwrap()
            .id;
        let (hash, _) = world.send_code(2, phone, NOW.into()).unwrap();
        let code = world.login_code(phone).unwrap().to_string();
        world
            .sign_in(2, key, phone, &hash, Some(&code), NOW.into())
            .unwrap();
        id
    }

    struct Fixture {
        cluster: Cluster,
        alice: i64,
        bob: i64,
        channel: i64,
        chat: i64,
        link: String,
    }

    /// Alice (key 11) owns a megagroup with Bob (key 12) in it, a basic group with Bob, and a
    /// link to a second channel.
    fn fixture() -> Fixture {
        let dcs = (1..=2)
            .map(|id| DcAddress {
                id,
                host: Ipv4Addr::LOCALHOST,
                port: 4000 + id as u16,
            })
            .collect();
        let cluster = Cluster::new(dcs, Arc::new(RsaKeyPair::generate()));
        let (alice, bob, channel, chat, link) = {
            let mut world = cluster.world();
            let alice = login(&mut world, "15550301", "Alice", 11);
            let bob = login(&mut world, "15550302", "Bob", 12);
            let (channel, _, _) = world
                .create_channel(
                    alice,
                    NewChannel {
                        title: "Layer group".into(),
                        ..Default::default()
                    },
                    NOW,
                )
                .unwrap();
            world
                .invite_to_channel(alice, channel, &[bob], NOW)
                .unwrap();
            world
                .send_to_channel(
                    alice,
                    channel,
                    crate::world::messages::StoredMessage {
                        text: "hi 198".into(),
                        ..Default::default()
                    },
                    1,
                    NOW,
                )
                .unwrap();
            let (chat, _) = world.create_group(alice, "Small", &[bob], NOW).unwrap();
            let (other, _, _) = world
                .create_channel(
                    alice,
                    NewChannel {
                        title: "Join me".into(),
                        broadcast: true,
                        ..Default::default()
                    },
                    NOW,
                )
                .unwrap();
            let link = world
                .export_invite(
                    alice,
                    Peer::Channel(other),
                    InviteOptions::default(),
                    false,
                    NOW,
                )
                .unwrap()
                .link();
            (alice, bob, channel, chat, link)
        };
        Fixture {
            cluster,
            alice,
            bob,
            channel,
            chat,
            link,
        }
    }

    fn with_layer(layer: i32, query: impl Serializable) -> Vec<u8> {
        tl::functions::InvokeWithLayer {
            layer,
            query: tl::functions::InitConnection {
                api_id: 1,
                device_model: "test".into(),
                system_version: "1".into(),
                app_version: "1".into(),
                system_lang_code: "en".into(),
                lang_pack: "".into(),
                lang_code: "en".into(),
                proxy: None,
                params: None,
                query,
            },
        }
        .to_bytes()
    }

    /// Calls `query` at layer 198 as the user of `key`: (answer, pushes).
    fn call198(
        f: &Fixture,
        key: i64,
        query: &[u8],
    ) -> (Vec<u8>, Vec<crate::connection::PendingPush>) {
        let mut session = Session::new(key);
        session.layer = Some(198);
        let mut pushes = Vec::new();
        let mut ctx = CallContext {
            cluster: &f.cluster,
            dc_id: 2,
            session: &mut session,
            key_id: key,
            now_secs: NOW + 1,
            pushes: &mut pushes,
        };
        match call(&mut ctx, query) {
            RpcAnswer::Result(bytes) => (bytes, pushes),
            other => panic!("call failed: {other:?}"),
        }
    }

    fn input_channel(f: &Fixture, viewer: i64, channel: i64) -> tl::enums::InputChannel {
        tl::enums::InputChannel::Channel(tl::types::InputChannel {
            channel_id: channel,
            access_hash: f.cluster.world().channel_access_hash(viewer, channel),
        })
    }

    #[test]
    fn channel_answers_decode_as_layer198() {
        let f = fixture();
        let channel = input_channel(&f, f.alice, f.channel);

        let (bytes, _) = call198(
            &f,
            11,
            &with_layer(
                198,
                tl::functions::channels::GetFullChannel {
                    channel: channel.clone(),
                },
            ),
        );
        let tl198::enums::messages::ChatFull::Full(full) =
            tl198::enums::messages::ChatFull::from_bytes(&bytes).expect("198 messages.chatFull");
        let tl198::enums::ChatFull::ChannelFull(c) = full.full_chat else {
            panic!("expected channelFull")
        };
        assert_eq!((c.id, c.participants_count, c.pts), (f.channel, Some(2), 3));
        assert!(
            matches!(&full.chats[0], tl198::enums::Chat::Channel(ch) if ch.megagroup && ch.creator)
        );

        let (bytes, _) = call198(
            &f,
            11,
            &tl::functions::channels::GetParticipants {
                channel: channel.clone(),
                filter: tl::enums::ChannelParticipantsFilter::ChannelParticipantsRecent,
                offset: 0,
                limit: 10,
                hash: 0,
            }
            .to_bytes(),
        );
        let tl198::enums::channels::ChannelParticipants::Participants(p) =
            tl198::enums::channels::ChannelParticipants::from_bytes(&bytes).unwrap()
        else {
            panic!("expected participants")
        };
        assert_eq!(p.count, 2);
        assert!(p.participants.iter().any(
            |p| matches!(p, tl198::enums::ChannelParticipant::Creator(c) if c.user_id == f.alice)
        ));
        assert!(p.participants.iter().any(
            |p| matches!(p, tl198::enums::ChannelParticipant::Participant(m) if m.user_id == f.bob)
        ));

        let (bytes, _) = call198(
            &f,
            12,
            &tl::functions::updates::GetChannelDifference {
                force: false,
                channel: input_channel(&f, f.bob, f.channel),
                filter: tl::enums::ChannelMessagesFilter::Empty,
                pts: 1,
                limit: 100,
            }
            .to_bytes(),
        );
        let tl198::enums::updates::ChannelDifference::Difference(d) =
            tl198::enums::updates::ChannelDifference::from_bytes(&bytes).unwrap()
        else {
            panic!("expected updates.channelDifference")
        };
        assert_eq!((d.r#final, d.timeout, d.pts), (true, Some(30), 3));
        assert!(matches!(
            &d.new_messages[0],
            tl198::enums::Message::Service(_)
        ));
        assert!(
            matches!(&d.new_messages[1], tl198::enums::Message::Message(m) if m.message == "hi 198" && !m.out)
        );

        // Dialogs carry the basic group and the channels with 198 constructors.
        let (bytes, _) = call198(
            &f,
            11,
            &tl::functions::messages::GetDialogs {
                exclude_pinned: false,
                folder_id: None,
                offset_date: 0,
                offset_id: 0,
                offset_peer: tl::enums::InputPeer::Empty,
                limit: 10,
                hash: 0,
            }
            .to_bytes(),
        );
        let tl198::enums::messages::Dialogs::Dialogs(d) =
            tl198::enums::messages::Dialogs::from_bytes(&bytes).unwrap()
        else {
            panic!("expected messages.dialogs")
        };
        assert_eq!(d.dialogs.len(), 3);
        assert!(d
            .chats
            .iter()
            .any(|c| matches!(c, tl198::enums::Chat::Chat(c) if c.id == f.chat)));
        assert_eq!(
            d.chats
                .iter()
                .filter(|c| matches!(c, tl198::enums::Chat::Channel(_)))
                .count(),
            2
        );
        assert!(d.dialogs.iter().any(|dialog| matches!(
            dialog,
            tl198::enums::Dialog::Dialog(x) if x.pts == Some(3)
        )));
    }

    #[test]
    fn layer198_join_requests_answer_updates_and_pushes_convert() {
        let f = fixture();
        let hash = f.link.rsplit('+').next().unwrap().to_string();
        // messages.checkChatInvite (same id in both layers), answered in 198.
        let (bytes, _) = call198(
            &f,
            12,
            &tl::functions::messages::CheckChatInvite { hash: hash.clone() }.to_bytes(),
        );
        assert!(matches!(
            tl198::enums::ChatInvite::from_bytes(&bytes).unwrap(),
            tl198::enums::ChatInvite::Invite(i) if i.title == "Join me" && i.broadcast
        ));
        // The 198 messages.importChatInvite answers plain Updates.
        let (bytes, pushes) = call198(
            &f,
            12,
            &tl198::functions::messages::ImportChatInvite { hash }.to_bytes(),
        );
        let tl198::enums::Updates::Updates(u) = tl198::enums::Updates::from_bytes(&bytes).unwrap()
        else {
            panic!("expected updates")
        };
        assert!(u.chats.iter().any(
            |c| matches!(c, tl198::enums::Chat::Channel(c) if !c.left && c.title == "Join me")
        ));
        // Alice (admin) is told with updateChannelParticipant, readable at 198.
        let to_alice = pushes
            .iter()
            .find(|p| p.user_id == f.alice)
            .expect("a push for the admin");
        let tl198::enums::Updates::Updates(pushed) =
            tl198::enums::Updates::from_bytes(&(to_alice.push)(Some(198))).unwrap()
        else {
            panic!("expected updates")
        };
        assert!(matches!(
            &pushed.updates[0],
            tl198::enums::Update::ChannelParticipant(p)
                if p.user_id == f.bob && p.invite.is_some()
                    && matches!(p.new_participant, Some(tl198::enums::ChannelParticipant::Participant(_)))
        ));

        // The 198 channels.editAdmin (rank not optional) promotes Bob.
        let bob_hash = f.cluster.world().access_hash(f.alice, f.bob);
        let channel = same(&input_channel(&f, f.alice, f.channel)).unwrap();
        let (bytes, _) = call198(
            &f,
            11,
            &tl198::functions::channels::EditAdmin {
                channel,
                user_id: tl198::enums::InputUser::User(tl198::types::InputUser {
                    user_id: f.bob,
                    access_hash: bob_hash,
                }),
                admin_rights: same(&tl::enums::ChatAdminRights::Rights(
                    tl::types::ChatAdminRights {
                        add_admins: false,
                        ..crate::world::chats::all_admin_rights()
                    },
                ))
                .unwrap(),
                rank: "mod".into(),
            }
            .to_bytes(),
        );
        assert!(matches!(
            tl198::enums::Updates::from_bytes(&bytes).unwrap(),
            tl198::enums::Updates::Updates(_)
        ));
        assert!(f
            .cluster
            .world()
            .channel(f.channel)
            .unwrap()
            .admin_rights(f.bob)
            .is_some());
        assert_ne!(
            tl198::functions::channels::EditAdmin::CONSTRUCTOR_ID,
            tl::functions::channels::EditAdmin::CONSTRUCTOR_ID
        );
    }
}
