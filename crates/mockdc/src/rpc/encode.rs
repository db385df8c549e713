//! World objects as TL objects, in the layer the client announced.
//!
//! Handlers build layer-230 objects (grammers-tl-types; Telethon 1.45's 229 reads them
//! compatibly) from the layer-independent world, then write them with [`Layered::encode_for`]
//! and the session's layer (`ctx.session.layer`, from `invokeWithLayer`): a client below layer
//! 199 (GramJS 2.26 announces 198) gets the same object rebuilt with layer-198 constructors by
//! [`super::layer198::down`]; any other layer, or none announced, gets layer 230.
//!
//! Every answer or push that contains a `user`, `userFull`, `message`, `dialog`, `channel` (or a
//! container of those: `updates`, `messages.messages`, `auth.authorization`, ...) must be written
//! through [`Layered`]; objects identical in both layers (`config`, `auth.sentCode`,
//! `updates.state`, `messages.affectedMessages`, ...) may use `to_bytes` directly.

use std::sync::Arc;

use grammers_tl_types::{self as tl, Serializable};
use telegate_mockdc_tl198 as tl198;

use super::layer198::down;
use crate::world::{AccountState, User, World};

/// The newest layer whose encoding is layer 198's. GramJS 2.26 announces 198; the constructors
/// the mock uses changed by 230 (grammers), and 229 (Telethon) reads 230's, so everything from
/// 199 up is written as 230.
pub const LAYER_198_UNTIL: i32 = 198;

/// Whether a client that announced `layer` gets layer-198 constructors.
pub fn is_layer198(layer: Option<i32>) -> bool {
    matches!(layer, Some(l) if l <= LAYER_198_UNTIL)
}

/// A layer-230 TL object that is written in the client's layer.
pub trait Layered: Serializable {
    /// The same object in layer 198.
    type Layer198: Serializable;

    fn to_layer198(&self) -> Self::Layer198;

    /// The boxed object's bytes in the layer a client announced (`None`: it announced none).
    fn encode_for(&self, layer: Option<i32>) -> Vec<u8> {
        if is_layer198(layer) {
            self.to_layer198().to_bytes()
        } else {
            self.to_bytes()
        }
    }
}

macro_rules! layered {
    ($($t230:ty => $t198:ty, $down:path;)*) => {$(
        impl Layered for $t230 {
            type Layer198 = $t198;
            fn to_layer198(&self) -> $t198 {
                $down(self)
            }
        }
    )*};
}

layered! {
    tl::enums::User => tl198::enums::User, down::user;
    Vec<tl::enums::User> => Vec<tl198::enums::User>, down::users;
    tl::enums::UserFull => tl198::enums::UserFull, down::user_full;
    tl::enums::Message => tl198::enums::Message, down::message;
    tl::enums::MessageMedia => tl198::enums::MessageMedia, down::message_media;
    tl::enums::Updates => tl198::enums::Updates, down::updates;
    tl::enums::auth::Authorization => tl198::enums::auth::Authorization, down::authorization;
    tl::enums::users::UserFull => tl198::enums::users::UserFull, down::users_user_full;
    tl::enums::contacts::ResolvedPeer => tl198::enums::contacts::ResolvedPeer, down::resolved_peer;
    tl::enums::messages::Messages => tl198::enums::messages::Messages, down::messages;
    tl::enums::messages::Dialogs => tl198::enums::messages::Dialogs, down::dialogs;
    tl::enums::messages::PeerDialogs => tl198::enums::messages::PeerDialogs, down::peer_dialogs;
    tl::enums::updates::Difference => tl198::enums::updates::Difference, down::difference;
}

/// A push (see [`crate::cluster::Push`]) that writes `value` in each receiving session's layer.
pub fn push_of<T: Layered + Send + Sync + 'static>(value: T) -> crate::cluster::Push {
    Arc::new(move |layer| value.encode_for(layer))
}

/// A user as `viewer` sees it: `is_self` for themselves, an access hash of their own; a contact
/// with the name the viewer saved, its phone and the `contact` / `mutual_contact` flags; the
/// phone of anyone else is hidden.
pub fn user(world: &World, viewer: i64, user: &User) -> tl::enums::User {
    let is_self = viewer == user.id;
    let contact = (!is_self).then(|| world.contact(viewer, user.id)).flatten();
    if user.state == AccountState::Deleted {
        return tl::enums::User::User(tl::types::User {
            deleted: true,
            ..bare_user(user.id, Some(world.access_hash(viewer, user.id)))
        });
    }
    tl::enums::User::User(tl::types::User {
        is_self,
        contact: contact.is_some(),
        mutual_contact: contact.is_some() && world.contact(user.id, viewer).is_some(),
        bot: user.bot,
        premium: user.premium,
        bot_nochats: false,
        first_name: Some(
            contact
                .map(|c| c.first_name.clone())
                .unwrap_or_else(|| user.first_name.clone()),
        ),
        last_name: match contact {
            Some(c) => (!c.last_name.is_empty()).then(|| c.last_name.clone()),
            None => user.last_name.clone(),
        },
        username: user.username.clone(),
        phone: if is_self || contact.is_some() {
            user.phone.clone()
        } else {
            None
        },
        bot_info_version: user.bot.then_some(1),
        status: (!user.bot).then_some(tl::enums::UserStatus::Recently(
            tl::types::UserStatusRecently { by_me: false },
        )),
        ..bare_user(user.id, Some(world.access_hash(viewer, user.id)))
    })
}

fn bare_user(id: i64, access_hash: Option<i64>) -> tl::types::User {
    tl::types::User {
        is_self: false,
        contact: false,
        mutual_contact: false,
        deleted: false,
        bot: false,
        bot_chat_history: false,
        bot_nochats: false,
        verified: false,
        restricted: false,
        min: false,
        bot_inline_geo: false,
        support: false,
        scam: false,
        apply_min_photo: false,
        fake: false,
        bot_attach_menu: false,
        premium: false,
        attach_menu_enabled: false,
        bot_can_edit: false,
        close_friend: false,
        stories_hidden: false,
        stories_unavailable: true,
        contact_require_premium: false,
        bot_business: false,
        bot_has_main_app: false,
        bot_forum_view: false,
        bot_forum_can_manage_topics: false,
        bot_can_manage_bots: false,
        bot_guestchat: false,
        bot_guard: false,
        id,
        access_hash,
        first_name: None,
        last_name: None,
        username: None,
        phone: None,
        photo: None,
        status: None,
        bot_info_version: None,
        restriction_reason: None,
        bot_inline_placeholder: None,
        lang_code: None,
        emoji_status: None,
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        bot_active_users: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_community_id: None,
    }
}

/// `userEmpty` for ids the viewer cannot see.
pub fn user_empty(id: i64) -> tl::enums::User {
    tl::enums::User::Empty(tl::types::UserEmpty { id })
}

/// `userFull` with Telegram's defaults for everything the mock does not model.
pub fn user_full(user: &User) -> tl::enums::UserFull {
    tl::enums::UserFull::Full(tl::types::UserFull {
        blocked: false,
        phone_calls_available: false,
        phone_calls_private: false,
        can_pin_message: true,
        has_scheduled: false,
        video_calls_available: false,
        voice_messages_forbidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        blocked_my_stories_from: false,
        wallpaper_overridden: false,
        contact_require_premium: false,
        read_dates_private: false,
        sponsored_enabled: false,
        can_view_revenue: false,
        bot_can_manage_emoji_status: false,
        display_gifts_button: false,
        noforwards_my_enabled: false,
        noforwards_peer_enabled: false,
        unofficial_security_risk: false,
        id: user.id,
        about: None,
        settings: tl::enums::PeerSettings::Settings(tl::types::PeerSettings {
            report_spam: false,
            add_contact: false,
            block_contact: false,
            share_contact: false,
            need_contacts_exception: false,
            report_geo: false,
            autoarchived: false,
            invite_members: false,
            request_chat_broadcast: false,
            business_bot_paused: false,
            business_bot_can_reply: false,
            geo_distance: None,
            request_chat_title: None,
            request_chat_date: None,
            business_bot_id: None,
            business_bot_manage_url: None,
            charge_paid_message_stars: None,
            registration_month: None,
            phone_country: None,
            name_change_date: None,
            photo_change_date: None,
        }),
        personal_photo: None,
        profile_photo: None,
        fallback_photo: None,
        notify_settings: tl::enums::PeerNotifySettings::Settings(tl::types::PeerNotifySettings {
            show_previews: None,
            silent: None,
            mute_until: None,
            ios_sound: None,
            android_sound: None,
            other_sound: None,
            stories_muted: None,
            stories_hide_sender: None,
            stories_ios_sound: None,
            stories_android_sound: None,
            stories_other_sound: None,
        }),
        bot_info: None,
        pinned_msg_id: None,
        common_chats_count: 0,
        folder_id: None,
        ttl_period: None,
        theme: None,
        private_forward_name: None,
        bot_group_admin_rights: None,
        bot_broadcast_admin_rights: None,
        wallpaper: None,
        stories: None,
        business_work_hours: None,
        business_location: None,
        business_greeting_message: None,
        business_away_message: None,
        business_intro: None,
        birthday: None,
        personal_channel_id: None,
        personal_channel_message: None,
        stargifts_count: None,
        starref_program: None,
        bot_verification: None,
        send_paid_messages_stars: None,
        disallowed_gifts: None,
        stars_rating: None,
        stars_my_pending_rating: None,
        stars_my_pending_rating_date: None,
        main_tab: None,
        saved_music: None,
        note: None,
        bot_manager_id: None,
    })
}

/// A private-chat peer.
pub fn peer_user(user_id: i64) -> tl::enums::Peer {
    tl::enums::Peer::User(tl::types::PeerUser { user_id })
}

/// A stored message as its owner sees it (`peer_id` is the other side of the chat); for a
/// channel message, pass `m.viewed_by(viewer)`.
pub fn message(m: &crate::world::messages::StoredMessage) -> tl::enums::Message {
    if let Some(action) = &m.action {
        return super::peers::service_message(m, action);
    }
    tl::enums::Message::Message(tl::types::Message {
        out: m.out,
        mentioned: false,
        media_unread: false,
        silent: false,
        post: m.post,
        from_scheduled: false,
        legacy: false,
        edit_hide: false,
        pinned: false,
        noforwards: false,
        invert_media: false,
        offline: false,
        video_processing_pending: false,
        paid_suggested_post_stars: false,
        paid_suggested_post_ton: false,
        id: m.id,
        // A channel post is the channel's own, not its author's.
        from_id: (!m.post).then(|| peer_user(m.from)),
        from_boosts_applied: None,
        from_rank: None,
        peer_id: super::peers::peer(m.peer),
        saved_peer_id: None,
        fwd_from: m.fwd_from.map(|(from, date)| {
            tl::enums::MessageFwdHeader::Header(tl::types::MessageFwdHeader {
                imported: false,
                saved_out: false,
                from_id: Some(peer_user(from)),
                from_name: None,
                date,
                channel_post: None,
                post_author: None,
                saved_from_peer: None,
                saved_from_msg_id: None,
                saved_from_id: None,
                saved_from_name: None,
                saved_date: None,
                psa_type: None,
            })
        }),
        via_bot_id: None,
        via_business_bot_id: None,
        guestchat_via_from: None,
        reply_to: None,
        date: m.date,
        message: m.text.clone(),
        media: m.media.as_deref().map(super::files::message_media),
        reply_markup: None,
        entities: (!m.entities.is_empty()).then(|| m.entities.clone()),
        views: None,
        forwards: None,
        replies: None,
        edit_date: m.edit_date,
        post_author: None,
        grouped_id: m.grouped_id,
        reactions: None,
        restriction_reason: None,
        ttl_period: None,
        quick_reply_shortcut_id: None,
        effect: None,
        factcheck: None,
        report_delivery_until_date: None,
        paid_message_stars: None,
        suggested_post: None,
        schedule_repeat_period: None,
        summary_from_language: None,
        rich_message: None,
    })
}

/// A dialog as its owner sees it.
pub fn dialog(d: &crate::world::messages::Dialog) -> tl::enums::Dialog {
    tl::enums::Dialog::Dialog(tl::types::Dialog {
        pinned: false,
        unread_mark: false,
        view_forum_as_messages: false,
        peer: super::peers::peer(d.peer),
        top_message: d.top_message,
        read_inbox_max_id: d.read_inbox_max_id,
        read_outbox_max_id: d.read_outbox_max_id,
        unread_count: d.unread_count,
        unread_mentions_count: 0,
        unread_reactions_count: 0,
        unread_poll_votes_count: 0,
        notify_settings: default_notify_settings(),
        pts: d.pts,
        draft: None,
        folder_id: None,
        ttl_period: None,
    })
}

pub(super) fn default_notify_settings() -> tl::enums::PeerNotifySettings {
    tl::enums::PeerNotifySettings::Settings(tl::types::PeerNotifySettings {
        show_previews: None,
        silent: None,
        mute_until: None,
        ios_sound: None,
        android_sound: None,
        other_sound: None,
        stories_muted: None,
        stories_hide_sender: None,
        stories_ios_sound: None,
        stories_android_sound: None,
        stories_other_sound: None,
    })
}

#[cfg(test)]
mod tests {
    use grammers_tl_types::{Deserializable, Identifiable};

    use super::*;
    use crate::world::{NewUser, WorldConfig};

    fn ctor(bytes: &[u8]) -> u32 {
        u32::from_le_bytes(bytes[..4].try_into().unwrap())
    }

    /// Alice and Bob, and one message from Alice to Bob with a bold entity.
    fn world() -> (World, i64, i64, i32) {
        let mut world = World::new(WorldConfig::default());
        let mut add = |phone: &str, name: &str| {
            world
                .create_user(
                    NewUser {
                        phone: phone.into(),
                        first_name: name.into(),
                        username: Some(format!("{}_layers", name.to_lowercase())),
                        ..Default::default()
                    },
                    2,
                )
                .unwrap()
                .id
        };
        let (alice, bob) = (add("15550101", "Alice"), add("15550102", "Bob"));
        let bold = tl::enums::MessageEntity::Bold(tl::types::MessageEntityBold {
            offset: 0,
            length: 5,
        });
        let sent = world
            .send_message(
                alice,
                bob,
                "hello layers",
                vec![bold],
                7,
                None,
                1_700_000_000,
            )
            .unwrap();
        (world, alice, bob, sent.sender_id)
    }

    #[test]
    fn layer_cut() {
        assert!(is_layer198(Some(198)));
        assert!(is_layer198(Some(160)));
        for layer in [None, Some(199), Some(229), Some(230), Some(231)] {
            assert!(!is_layer198(layer), "{layer:?}");
        }
    }

    #[test]
    fn same_world_objects_get_each_layers_constructors() {
        let (world, alice, bob, id) = world();
        let me = user(&world, alice, world.user(alice).unwrap());
        let m = message(world.message(alice, id).unwrap());

        // user: different constructors; 229 and "no layer announced" are written as 230.
        let u230 = me.encode_for(Some(230));
        let u198 = me.encode_for(Some(198));
        assert_eq!(ctor(&u230), tl::types::User::CONSTRUCTOR_ID);
        assert_eq!(ctor(&u198), tl198::types::User::CONSTRUCTOR_ID);
        assert_ne!(ctor(&u230), ctor(&u198));
        assert_eq!(me.encode_for(None), u230);
        assert_eq!(me.encode_for(Some(229)), u230);
        // Each layer's bytes decode with that layer's types only, with the same content.
        assert!(tl198::enums::User::from_bytes(&u230).is_err());
        let tl198::enums::User::User(u) = tl198::enums::User::from_bytes(&u198).unwrap() else {
            panic!("not a user")
        };
        assert_eq!(
            (
                u.id,
                u.is_self,
                u.first_name.as_deref(),
                u.username.as_deref(),
                u.phone.as_deref()
            ),
            (
                alice,
                true,
                Some("Alice"),
                Some("alice_layers"),
                Some("15550101")
            )
        );
        assert_eq!(u.access_hash, Some(world.access_hash(alice, alice)));

        // message, inside messages.messages (whose constructor changed too).
        let history = tl::enums::messages::Messages::Messages(tl::types::messages::Messages {
            messages: vec![m.clone()],
            topics: Vec::new(),
            chats: Vec::new(),
            users: vec![me.clone(), user(&world, alice, world.user(bob).unwrap())],
        });
        let h230 = history.encode_for(Some(230));
        let h198 = history.encode_for(Some(198));
        assert_eq!(ctor(&h230), tl::types::messages::Messages::CONSTRUCTOR_ID);
        assert_eq!(
            ctor(&h198),
            tl198::types::messages::Messages::CONSTRUCTOR_ID
        );
        assert_eq!(
            tl::enums::messages::Messages::from_bytes(&h230).unwrap(),
            history
        );
        let tl198::enums::messages::Messages::Messages(h) =
            tl198::enums::messages::Messages::from_bytes(&h198).unwrap()
        else {
            panic!("not messages.messages")
        };
        let tl198::enums::Message::Message(msg) = &h.messages[0] else {
            panic!("not a message")
        };
        assert_eq!(
            (msg.id, msg.out, msg.message.as_str(), msg.date),
            (id, true, "hello layers", 1_700_000_000)
        );
        assert_eq!(
            msg.peer_id,
            tl198::enums::Peer::User(tl198::types::PeerUser { user_id: bob })
        );
        assert_eq!(
            msg.entities,
            Some(vec![tl198::enums::MessageEntity::Bold(
                tl198::types::MessageEntityBold {
                    offset: 0,
                    length: 5
                }
            )])
        );
        assert_eq!(h.users.len(), 2);
        assert!(h
            .users
            .iter()
            .all(|u| matches!(u, tl198::enums::User::User(_))));

        // dialog inside messages.dialogs: the container's id is the same, the dialog's is not.
        let d = world.dialogs(alice, 0, 0, None, 10).0;
        let dialogs = tl::enums::messages::Dialogs::Dialogs(tl::types::messages::Dialogs {
            dialogs: d.iter().map(dialog).collect(),
            messages: vec![m.clone()],
            chats: Vec::new(),
            users: vec![me.clone()],
        });
        let d230 = dialogs.encode_for(Some(230));
        let d198 = dialogs.encode_for(Some(198));
        assert_eq!(
            ctor(&d230),
            ctor(&d198),
            "messages.dialogs is the same in both layers"
        );
        assert_eq!(
            ctor(&d198[12..]),
            tl198::types::Dialog::CONSTRUCTOR_ID,
            "constructor, vector id, count, first dialog"
        );
        assert_eq!(ctor(&d230[12..]), tl::types::Dialog::CONSTRUCTOR_ID);
        let tl198::enums::messages::Dialogs::Dialogs(back) =
            tl198::enums::messages::Dialogs::from_bytes(&d198).unwrap()
        else {
            panic!("not messages.dialogs")
        };
        let tl198::enums::Dialog::Dialog(first) = &back.dialogs[0] else {
            panic!("not a dialog")
        };
        assert_eq!(
            (first.top_message, first.peer.clone()),
            (
                id,
                tl198::enums::Peer::User(tl198::types::PeerUser { user_id: bob })
            )
        );

        // userFull (inside users.userFull, whose id is the same).
        let full = tl::enums::users::UserFull::Full(tl::types::users::UserFull {
            full_user: user_full(world.user(bob).unwrap()),
            chats: Vec::new(),
            users: vec![user(&world, alice, world.user(bob).unwrap())],
        });
        let f198 = full.encode_for(Some(198));
        assert_eq!(ctor(&f198[4..]), tl198::types::UserFull::CONSTRUCTOR_ID);
        assert_eq!(
            ctor(&full.encode_for(Some(230))[4..]),
            tl::types::UserFull::CONSTRUCTOR_ID
        );
        let tl198::enums::users::UserFull::Full(f) =
            tl198::enums::users::UserFull::from_bytes(&f198).unwrap();
        let tl198::enums::UserFull::Full(fu) = &f.full_user;
        assert_eq!(fu.id, bob);

        // updates carrying updateNewMessage: the message inside is rewritten.
        let updates = tl::enums::Updates::Updates(tl::types::Updates {
            updates: vec![tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
                message: m,
                pts: 1,
                pts_count: 1,
            })],
            users: vec![me],
            chats: Vec::new(),
            date: 1,
            seq: 0,
        });
        let p198 = push_of(updates.clone())(Some(198));
        let p230 = push_of(updates.clone())(Some(230));
        assert_eq!(p230, updates.to_bytes());
        let tl198::enums::Updates::Updates(up) = tl198::enums::Updates::from_bytes(&p198).unwrap()
        else {
            panic!("not updates")
        };
        assert!(
            matches!(&up.updates[0], tl198::enums::Update::NewMessage(n) if n.message.id() == id)
        );
        assert!(
            tl198::enums::Updates::from_bytes(&p230).is_err(),
            "a 230 message inside is not readable at 198"
        );
    }
}
