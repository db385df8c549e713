//! World objects as TL objects, in the layer the client announced.
//!
//! Layer 230 (grammers, Telethon 1.45 which reads 229 compatibly) comes from grammers-tl-types;
//! older layers (GramJS speaks 198) get their own encoders here as they are added.

use grammers_tl_types as tl;

use crate::world::{AccountState, User, World};

/// A user as `viewer` sees it: `is_self` for themselves, an access hash of their own, the phone
/// only to themselves (the mock has no contacts yet).
pub fn user(world: &World, viewer: i64, user: &User) -> tl::enums::User {
    let is_self = viewer == user.id;
    if user.state == AccountState::Deleted {
        return tl::enums::User::User(tl::types::User {
            deleted: true,
            ..bare_user(user.id, Some(world.access_hash(viewer, user.id)))
        });
    }
    tl::enums::User::User(tl::types::User {
        is_self,
        bot: user.bot,
        premium: user.premium,
        bot_nochats: false,
        first_name: Some(user.first_name.clone()),
        last_name: user.last_name.clone(),
        username: user.username.clone(),
        phone: if is_self { user.phone.clone() } else { None },
        bot_info_version: user.bot.then_some(1),
        status: (!user.bot).then_some(tl::enums::UserStatus::Recently(tl::types::UserStatusRecently {
            by_me: false,
        })),
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

/// A stored message as its owner sees it (`peer_id` is the other side of the chat).
pub fn message(m: &crate::world::messages::StoredMessage) -> tl::enums::Message {
    tl::enums::Message::Message(tl::types::Message {
        out: m.out,
        mentioned: false,
        media_unread: false,
        silent: false,
        post: false,
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
        from_id: Some(peer_user(m.from)),
        from_boosts_applied: None,
        from_rank: None,
        peer_id: peer_user(m.peer),
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
        media: None,
        reply_markup: None,
        entities: (!m.entities.is_empty()).then(|| m.entities.clone()),
        views: None,
        forwards: None,
        replies: None,
        edit_date: m.edit_date,
        post_author: None,
        grouped_id: None,
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
        peer: peer_user(d.peer),
        top_message: d.top_message,
        read_inbox_max_id: d.read_inbox_max_id,
        read_outbox_max_id: d.read_outbox_max_id,
        unread_count: d.unread_count,
        unread_mentions_count: 0,
        unread_reactions_count: 0,
        unread_poll_votes_count: 0,
        notify_settings: default_notify_settings(),
        pts: None,
        draft: None,
        folder_id: None,
        ttl_period: None,
    })
}

fn default_notify_settings() -> tl::enums::PeerNotifySettings {
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
