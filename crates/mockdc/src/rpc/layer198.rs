//! Layer 198 (GramJS 2.26) ⇄ layer 230 (grammers-tl-types), for the objects the mock serves.
//!
//! Handlers always build layer-230 values. [`down`] rewrites them into layer-198 values for a
//! client that announced layer 198; [`upgrade_request`] turns a layer-198 request whose
//! constructor changed (`messages.sendMessage`, ...) into the layer-230 request, so one handler
//! serves both.
//!
//! Types whose constructor id is the same in both layers have the same layout at that level
//! (a constructor id is the CRC32 of its definition), so [`same`] re-reads their bytes with the
//! other layer's decoder. A nested constructor that changed or is unknown to the other layer then
//! fails to decode (never misdecodes): that is why every type containing a changed one (`user`,
//! `message`, `dialog`, ...) and every container of those (`updates`, `messages.messages`,
//! `auth.authorization`, ...) is rebuilt field by field here.
//!
//! What changed between 198 and 230 in the types below (fields added in 230 are dropped on the
//! way down, fields removed get their 198 default on the way up):
//! - `user`: `stories_max_id` int → `RecentStory`; bot_forum_* / bot_guestchat / bot_guard flags,
//!   `send_paid_messages_stars`, `linked_community_id` added.
//! - `userFull`: `theme_emoticon` string → `theme:ChatTheme`; `premium_gifts` removed; many
//!   flags and fields added; `peerSettings` gained paid-message / registration fields.
//! - `message`: from_rank, guestchat_via_from, paid_suggested_post_*, suggested_post, ... added;
//!   `messageService`: saved_peer_id added; `messageReplyHeader`: todo/poll/ephemeral fields.
//! - `dialog`: `unread_poll_votes_count` added; `dialogCommunity` is new.
//! - `messages.messages` / `messagesSlice`: `topics` added (and `search_flood`).
//! - `channel`: `stories_max_id` → `RecentStory`, monoforum/autotranslation fields added.
//! - `updateReadHistoryInbox`: `top_msg_id` added. `messageMediaPhoto`: live photos.
//! - Requests: `messages.sendMessage`, `sendMedia`, `forwardMessages`, `editMessage`,
//!   `inputReplyToMessage`, `inputMediaPhoto`, `inputMediaUploadedPhoto`.

use grammers_tl_types::{self as tl, Deserializable, Identifiable, Serializable};
use telegate_mockdc_tl198 as tl198;

use crate::world::Fail;

/// `value` read back with the other layer's decoder: `Some` only if every constructor inside it
/// exists, unchanged, in the other layer.
pub(super) fn same<T: Deserializable>(value: &impl Serializable) -> Option<T> {
    let converted = T::from_bytes(&value.to_bytes()).ok();
    if converted.is_none() {
        tracing::debug!(
            constructor = value
                .to_bytes()
                .get(..4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))),
            "TL object has no equivalent in the other layer; dropped"
        );
    }
    converted
}

pub(super) fn same_vec<T: Deserializable, S: Serializable>(values: &[S]) -> Vec<T> {
    values.iter().filter_map(same).collect()
}

fn same_opt_vec<T: Deserializable, S: Serializable>(values: &Option<Vec<S>>) -> Option<Vec<T>> {
    values.as_ref().map(|v| same_vec(v))
}

/// Layer 230 → layer 198.
pub mod down {
    use super::*;

    pub fn user(user: &tl::enums::User) -> tl198::enums::User {
        match user {
            tl::enums::User::Empty(u) => {
                tl198::enums::User::Empty(tl198::types::UserEmpty { id: u.id })
            }
            tl::enums::User::User(u) => tl198::enums::User::User(tl198::types::User {
                is_self: u.is_self,
                contact: u.contact,
                mutual_contact: u.mutual_contact,
                deleted: u.deleted,
                bot: u.bot,
                bot_chat_history: u.bot_chat_history,
                bot_nochats: u.bot_nochats,
                verified: u.verified,
                restricted: u.restricted,
                min: u.min,
                bot_inline_geo: u.bot_inline_geo,
                support: u.support,
                scam: u.scam,
                apply_min_photo: u.apply_min_photo,
                fake: u.fake,
                bot_attach_menu: u.bot_attach_menu,
                premium: u.premium,
                attach_menu_enabled: u.attach_menu_enabled,
                bot_can_edit: u.bot_can_edit,
                close_friend: u.close_friend,
                stories_hidden: u.stories_hidden,
                stories_unavailable: u.stories_unavailable,
                contact_require_premium: u.contact_require_premium,
                bot_business: u.bot_business,
                bot_has_main_app: u.bot_has_main_app,
                id: u.id,
                access_hash: u.access_hash,
                first_name: u.first_name.clone(),
                last_name: u.last_name.clone(),
                username: u.username.clone(),
                phone: u.phone.clone(),
                photo: u.photo.as_ref().and_then(same),
                status: u.status.as_ref().and_then(same),
                bot_info_version: u.bot_info_version,
                restriction_reason: same_opt_vec(&u.restriction_reason),
                bot_inline_placeholder: u.bot_inline_placeholder.clone(),
                lang_code: u.lang_code.clone(),
                emoji_status: u.emoji_status.as_ref().and_then(same),
                usernames: same_opt_vec(&u.usernames),
                stories_max_id: recent_story(&u.stories_max_id),
                color: u.color.as_ref().and_then(same),
                profile_color: u.profile_color.as_ref().and_then(same),
                bot_active_users: u.bot_active_users,
                bot_verification_icon: u.bot_verification_icon,
            }),
        }
    }

    fn recent_story(story: &Option<tl::enums::RecentStory>) -> Option<i32> {
        match story {
            Some(tl::enums::RecentStory::Story(s)) => s.max_id,
            None => None,
        }
    }

    pub fn users(users: &[tl::enums::User]) -> Vec<tl198::enums::User> {
        users.iter().map(user).collect()
    }

    pub fn chat(chat: &tl::enums::Chat) -> Option<tl198::enums::Chat> {
        let tl::enums::Chat::Channel(c) = chat else {
            return same(chat);
        };
        Some(tl198::enums::Chat::Channel(tl198::types::Channel {
            creator: c.creator,
            left: c.left,
            broadcast: c.broadcast,
            verified: c.verified,
            megagroup: c.megagroup,
            restricted: c.restricted,
            signatures: c.signatures,
            min: c.min,
            scam: c.scam,
            has_link: c.has_link,
            has_geo: c.has_geo,
            slowmode_enabled: c.slowmode_enabled,
            call_active: c.call_active,
            call_not_empty: c.call_not_empty,
            fake: c.fake,
            gigagroup: c.gigagroup,
            noforwards: c.noforwards,
            join_to_send: c.join_to_send,
            join_request: c.join_request,
            forum: c.forum,
            stories_hidden: c.stories_hidden,
            stories_hidden_min: c.stories_hidden_min,
            stories_unavailable: c.stories_unavailable,
            signature_profiles: c.signature_profiles,
            id: c.id,
            access_hash: c.access_hash,
            title: c.title.clone(),
            username: c.username.clone(),
            photo: same(&c.photo).unwrap_or(tl198::enums::ChatPhoto::Empty),
            date: c.date,
            restriction_reason: same_opt_vec(&c.restriction_reason),
            admin_rights: c.admin_rights.as_ref().and_then(same),
            banned_rights: c.banned_rights.as_ref().and_then(same),
            default_banned_rights: c.default_banned_rights.as_ref().and_then(same),
            participants_count: c.participants_count,
            usernames: same_opt_vec(&c.usernames),
            stories_max_id: recent_story(&c.stories_max_id),
            color: c.color.as_ref().and_then(same),
            profile_color: c.profile_color.as_ref().and_then(same),
            emoji_status: c.emoji_status.as_ref().and_then(same),
            level: c.level,
            subscription_until_date: c.subscription_until_date,
            bot_verification_icon: c.bot_verification_icon,
        }))
    }

    pub fn chats(chats: &[tl::enums::Chat]) -> Vec<tl198::enums::Chat> {
        chats.iter().filter_map(chat).collect()
    }

    fn peer_settings(settings: &tl::enums::PeerSettings) -> tl198::enums::PeerSettings {
        let tl::enums::PeerSettings::Settings(s) = settings;
        tl198::enums::PeerSettings::Settings(tl198::types::PeerSettings {
            report_spam: s.report_spam,
            add_contact: s.add_contact,
            block_contact: s.block_contact,
            share_contact: s.share_contact,
            need_contacts_exception: s.need_contacts_exception,
            report_geo: s.report_geo,
            autoarchived: s.autoarchived,
            invite_members: s.invite_members,
            request_chat_broadcast: s.request_chat_broadcast,
            business_bot_paused: s.business_bot_paused,
            business_bot_can_reply: s.business_bot_can_reply,
            geo_distance: s.geo_distance,
            request_chat_title: s.request_chat_title.clone(),
            request_chat_date: s.request_chat_date,
            business_bot_id: s.business_bot_id,
            business_bot_manage_url: s.business_bot_manage_url.clone(),
        })
    }

    pub fn user_full(full: &tl::enums::UserFull) -> tl198::enums::UserFull {
        let tl::enums::UserFull::Full(f) = full;
        tl198::enums::UserFull::Full(tl198::types::UserFull {
            blocked: f.blocked,
            phone_calls_available: f.phone_calls_available,
            phone_calls_private: f.phone_calls_private,
            can_pin_message: f.can_pin_message,
            has_scheduled: f.has_scheduled,
            video_calls_available: f.video_calls_available,
            voice_messages_forbidden: f.voice_messages_forbidden,
            translations_disabled: f.translations_disabled,
            stories_pinned_available: f.stories_pinned_available,
            blocked_my_stories_from: f.blocked_my_stories_from,
            wallpaper_overridden: f.wallpaper_overridden,
            contact_require_premium: f.contact_require_premium,
            read_dates_private: f.read_dates_private,
            sponsored_enabled: f.sponsored_enabled,
            can_view_revenue: f.can_view_revenue,
            bot_can_manage_emoji_status: f.bot_can_manage_emoji_status,
            id: f.id,
            about: f.about.clone(),
            settings: peer_settings(&f.settings),
            personal_photo: f.personal_photo.as_ref().and_then(same),
            profile_photo: f.profile_photo.as_ref().and_then(same),
            fallback_photo: f.fallback_photo.as_ref().and_then(same),
            notify_settings: notify_settings(&f.notify_settings),
            bot_info: f.bot_info.as_ref().and_then(same),
            pinned_msg_id: f.pinned_msg_id,
            common_chats_count: f.common_chats_count,
            folder_id: f.folder_id,
            ttl_period: f.ttl_period,
            theme_emoticon: match &f.theme {
                Some(tl::enums::ChatTheme::Theme(t)) => Some(t.emoticon.clone()),
                _ => None,
            },
            private_forward_name: f.private_forward_name.clone(),
            bot_group_admin_rights: f.bot_group_admin_rights.as_ref().and_then(same),
            bot_broadcast_admin_rights: f.bot_broadcast_admin_rights.as_ref().and_then(same),
            premium_gifts: None,
            wallpaper: f.wallpaper.as_ref().and_then(same),
            stories: f.stories.as_ref().and_then(same),
            business_work_hours: f.business_work_hours.as_ref().and_then(same),
            business_location: f.business_location.as_ref().and_then(same),
            business_greeting_message: f.business_greeting_message.as_ref().and_then(same),
            business_away_message: f.business_away_message.as_ref().and_then(same),
            business_intro: f.business_intro.as_ref().and_then(same),
            birthday: f.birthday.as_ref().and_then(same),
            personal_channel_id: f.personal_channel_id,
            personal_channel_message: f.personal_channel_message,
            stargifts_count: f.stargifts_count,
            starref_program: f.starref_program.as_ref().and_then(same),
            bot_verification: f.bot_verification.as_ref().and_then(same),
        })
    }

    /// `peerNotifySettings` is the same in both layers; all its fields are optional, so an
    /// unconvertible one (never expected) degrades to Telegram's defaults.
    pub(crate) fn notify_settings(
        settings: &tl::enums::PeerNotifySettings,
    ) -> tl198::enums::PeerNotifySettings {
        same(settings).unwrap_or({
            tl198::enums::PeerNotifySettings::Settings(tl198::types::PeerNotifySettings {
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
        })
    }

    /// Entities only 230 knows (formatted dates, TON addresses, diffs) are dropped.
    pub fn entities(
        entities: &Option<Vec<tl::enums::MessageEntity>>,
    ) -> Option<Vec<tl198::enums::MessageEntity>> {
        same_opt_vec(entities)
    }

    pub(crate) fn peer(peer: &tl::enums::Peer) -> tl198::enums::Peer {
        match peer {
            tl::enums::Peer::User(p) => {
                tl198::enums::Peer::User(tl198::types::PeerUser { user_id: p.user_id })
            }
            tl::enums::Peer::Chat(p) => {
                tl198::enums::Peer::Chat(tl198::types::PeerChat { chat_id: p.chat_id })
            }
            tl::enums::Peer::Channel(p) => tl198::enums::Peer::Channel(tl198::types::PeerChannel {
                channel_id: p.channel_id,
            }),
        }
    }

    fn reply_header(
        header: &tl::enums::MessageReplyHeader,
    ) -> Option<tl198::enums::MessageReplyHeader> {
        let tl::enums::MessageReplyHeader::Header(h) = header else {
            return same(header);
        };
        Some(tl198::enums::MessageReplyHeader::Header(
            tl198::types::MessageReplyHeader {
                reply_to_scheduled: h.reply_to_scheduled,
                forum_topic: h.forum_topic,
                quote: h.quote,
                reply_to_msg_id: h.reply_to_msg_id,
                reply_to_peer_id: h.reply_to_peer_id.as_ref().map(peer),
                reply_from: h.reply_from.as_ref().and_then(same),
                reply_media: h.reply_media.as_ref().and_then(media),
                reply_to_top_id: h.reply_to_top_id,
                quote_text: h.quote_text.clone(),
                quote_entities: entities(&h.quote_entities),
                quote_offset: h.quote_offset,
            },
        ))
    }

    fn media(media: &tl::enums::MessageMedia) -> Option<tl198::enums::MessageMedia> {
        let tl::enums::MessageMedia::Photo(p) = media else {
            return same(media);
        };
        Some(tl198::enums::MessageMedia::Photo(
            tl198::types::MessageMediaPhoto {
                spoiler: p.spoiler,
                photo: p.photo.as_ref().and_then(same),
                ttl_seconds: p.ttl_seconds,
            },
        ))
    }

    /// A message's media on its own (messages.uploadMedia answers one).
    pub fn message_media(media: &tl::enums::MessageMedia) -> tl198::enums::MessageMedia {
        self::media(media).unwrap_or(tl198::enums::MessageMedia::Empty)
    }

    pub fn message(message: &tl::enums::Message) -> tl198::enums::Message {
        match message {
            tl::enums::Message::Empty(m) => {
                tl198::enums::Message::Empty(tl198::types::MessageEmpty {
                    id: m.id,
                    peer_id: m.peer_id.as_ref().map(peer),
                })
            }
            tl::enums::Message::Message(m) => {
                tl198::enums::Message::Message(tl198::types::Message {
                    out: m.out,
                    mentioned: m.mentioned,
                    media_unread: m.media_unread,
                    silent: m.silent,
                    post: m.post,
                    from_scheduled: m.from_scheduled,
                    legacy: m.legacy,
                    edit_hide: m.edit_hide,
                    pinned: m.pinned,
                    noforwards: m.noforwards,
                    invert_media: m.invert_media,
                    offline: m.offline,
                    video_processing_pending: m.video_processing_pending,
                    id: m.id,
                    from_id: m.from_id.as_ref().map(peer),
                    from_boosts_applied: m.from_boosts_applied,
                    peer_id: peer(&m.peer_id),
                    saved_peer_id: m.saved_peer_id.as_ref().map(peer),
                    fwd_from: m.fwd_from.as_ref().and_then(same),
                    via_bot_id: m.via_bot_id,
                    via_business_bot_id: m.via_business_bot_id,
                    reply_to: m.reply_to.as_ref().and_then(reply_header),
                    date: m.date,
                    message: m.message.clone(),
                    media: m.media.as_ref().and_then(media),
                    reply_markup: m.reply_markup.as_ref().and_then(same),
                    entities: entities(&m.entities),
                    views: m.views,
                    forwards: m.forwards,
                    replies: m.replies.as_ref().and_then(same),
                    edit_date: m.edit_date,
                    post_author: m.post_author.clone(),
                    grouped_id: m.grouped_id,
                    reactions: m.reactions.as_ref().and_then(same),
                    restriction_reason: same_opt_vec(&m.restriction_reason),
                    ttl_period: m.ttl_period,
                    quick_reply_shortcut_id: m.quick_reply_shortcut_id,
                    effect: m.effect,
                    factcheck: m.factcheck.as_ref().and_then(same),
                    report_delivery_until_date: m.report_delivery_until_date,
                })
            }
            tl::enums::Message::Service(m) => {
                tl198::enums::Message::Service(tl198::types::MessageService {
                    out: m.out,
                    mentioned: m.mentioned,
                    media_unread: m.media_unread,
                    reactions_are_possible: m.reactions_are_possible,
                    silent: m.silent,
                    post: m.post,
                    legacy: m.legacy,
                    id: m.id,
                    from_id: m.from_id.as_ref().map(peer),
                    peer_id: peer(&m.peer_id),
                    reply_to: m.reply_to.as_ref().and_then(reply_header),
                    date: m.date,
                    // An action 198 does not know still shows as a (blank) service message.
                    action: same(&m.action).unwrap_or(tl198::enums::MessageAction::Empty),
                    reactions: m.reactions.as_ref().and_then(same),
                    ttl_period: m.ttl_period,
                })
            }
        }
    }

    pub fn messages_vec(messages: &[tl::enums::Message]) -> Vec<tl198::enums::Message> {
        messages.iter().map(message).collect()
    }

    pub fn dialog(dialog: &tl::enums::Dialog) -> Option<tl198::enums::Dialog> {
        let tl::enums::Dialog::Dialog(d) = dialog else {
            // dialogFolder is the same; dialogCommunity does not exist in 198.
            return same(dialog);
        };
        Some(tl198::enums::Dialog::Dialog(tl198::types::Dialog {
            pinned: d.pinned,
            unread_mark: d.unread_mark,
            view_forum_as_messages: d.view_forum_as_messages,
            peer: peer(&d.peer),
            top_message: d.top_message,
            read_inbox_max_id: d.read_inbox_max_id,
            read_outbox_max_id: d.read_outbox_max_id,
            unread_count: d.unread_count,
            unread_mentions_count: d.unread_mentions_count,
            unread_reactions_count: d.unread_reactions_count,
            notify_settings: notify_settings(&d.notify_settings),
            pts: d.pts,
            draft: d.draft.as_ref().and_then(same),
            folder_id: d.folder_id,
            ttl_period: d.ttl_period,
        }))
    }

    pub fn dialogs_vec(dialogs: &[tl::enums::Dialog]) -> Vec<tl198::enums::Dialog> {
        dialogs.iter().filter_map(dialog).collect()
    }

    /// An update 198 cannot express is dropped (logged at debug level).
    pub fn update(update: &tl::enums::Update) -> Option<tl198::enums::Update> {
        use tl::enums::Update as U;
        use tl198::enums::Update as U198;
        Some(match update {
            U::NewMessage(u) => U198::NewMessage(tl198::types::UpdateNewMessage {
                message: message(&u.message),
                pts: u.pts,
                pts_count: u.pts_count,
            }),
            U::EditMessage(u) => U198::EditMessage(tl198::types::UpdateEditMessage {
                message: message(&u.message),
                pts: u.pts,
                pts_count: u.pts_count,
            }),
            U::NewChannelMessage(u) => {
                U198::NewChannelMessage(tl198::types::UpdateNewChannelMessage {
                    message: message(&u.message),
                    pts: u.pts,
                    pts_count: u.pts_count,
                })
            }
            U::EditChannelMessage(u) => {
                U198::EditChannelMessage(tl198::types::UpdateEditChannelMessage {
                    message: message(&u.message),
                    pts: u.pts,
                    pts_count: u.pts_count,
                })
            }
            // Groups and channels (layer198_chats.rs): participants changed by 230.
            U::ChannelParticipant(u) => super::super::layer198_chats::channel_participant_update(u),
            U::ReadHistoryInbox(u) => {
                U198::ReadHistoryInbox(tl198::types::UpdateReadHistoryInbox {
                    folder_id: u.folder_id,
                    peer: peer(&u.peer),
                    max_id: u.max_id,
                    still_unread_count: u.still_unread_count,
                    pts: u.pts,
                    pts_count: u.pts_count,
                })
            }
            other => return same(other),
        })
    }

    pub fn updates_vec(updates: &[tl::enums::Update]) -> Vec<tl198::enums::Update> {
        updates.iter().filter_map(update).collect()
    }

    pub fn updates(updates: &tl::enums::Updates) -> tl198::enums::Updates {
        use tl::enums::Updates as U;
        use tl198::enums::Updates as U198;
        match updates {
            U::TooLong => U198::TooLong,
            U::UpdateShortMessage(u) => {
                U198::UpdateShortMessage(tl198::types::UpdateShortMessage {
                    out: u.out,
                    mentioned: u.mentioned,
                    media_unread: u.media_unread,
                    silent: u.silent,
                    id: u.id,
                    user_id: u.user_id,
                    message: u.message.clone(),
                    pts: u.pts,
                    pts_count: u.pts_count,
                    date: u.date,
                    fwd_from: u.fwd_from.as_ref().and_then(same),
                    via_bot_id: u.via_bot_id,
                    reply_to: u.reply_to.as_ref().and_then(reply_header),
                    entities: entities(&u.entities),
                    ttl_period: u.ttl_period,
                })
            }
            U::UpdateShortChatMessage(u) => {
                U198::UpdateShortChatMessage(tl198::types::UpdateShortChatMessage {
                    out: u.out,
                    mentioned: u.mentioned,
                    media_unread: u.media_unread,
                    silent: u.silent,
                    id: u.id,
                    from_id: u.from_id,
                    chat_id: u.chat_id,
                    message: u.message.clone(),
                    pts: u.pts,
                    pts_count: u.pts_count,
                    date: u.date,
                    fwd_from: u.fwd_from.as_ref().and_then(same),
                    via_bot_id: u.via_bot_id,
                    reply_to: u.reply_to.as_ref().and_then(reply_header),
                    entities: entities(&u.entities),
                    ttl_period: u.ttl_period,
                })
            }
            U::UpdateShort(u) => match update(&u.update) {
                Some(inner) => U198::UpdateShort(tl198::types::UpdateShort {
                    update: inner,
                    date: u.date,
                }),
                // Nothing 198 can show: tell the client to catch up by getDifference instead.
                None => U198::TooLong,
            },
            U::Combined(u) => U198::Combined(tl198::types::UpdatesCombined {
                updates: updates_vec(&u.updates),
                users: users(&u.users),
                chats: chats(&u.chats),
                date: u.date,
                seq_start: u.seq_start,
                seq: u.seq,
            }),
            U::Updates(u) => U198::Updates(tl198::types::Updates {
                updates: updates_vec(&u.updates),
                users: users(&u.users),
                chats: chats(&u.chats),
                date: u.date,
                seq: u.seq,
            }),
            U::UpdateShortSentMessage(u) => {
                U198::UpdateShortSentMessage(tl198::types::UpdateShortSentMessage {
                    out: u.out,
                    id: u.id,
                    pts: u.pts,
                    pts_count: u.pts_count,
                    date: u.date,
                    media: u.media.as_ref().and_then(media),
                    entities: entities(&u.entities),
                    ttl_period: u.ttl_period,
                })
            }
        }
    }

    pub fn messages(answer: &tl::enums::messages::Messages) -> tl198::enums::messages::Messages {
        use tl::enums::messages::Messages as M;
        use tl198::enums::messages::Messages as M198;
        match answer {
            M::Messages(m) => M198::Messages(tl198::types::messages::Messages {
                messages: messages_vec(&m.messages),
                chats: chats(&m.chats),
                users: users(&m.users),
            }),
            M::Slice(m) => M198::Slice(tl198::types::messages::MessagesSlice {
                inexact: m.inexact,
                count: m.count,
                next_rate: m.next_rate,
                offset_id_offset: m.offset_id_offset,
                messages: messages_vec(&m.messages),
                chats: chats(&m.chats),
                users: users(&m.users),
            }),
            M::ChannelMessages(m) => {
                M198::ChannelMessages(tl198::types::messages::ChannelMessages {
                    inexact: m.inexact,
                    pts: m.pts,
                    count: m.count,
                    offset_id_offset: m.offset_id_offset,
                    messages: messages_vec(&m.messages),
                    // forumTopic changed too; the mock has no forums, so topics are not carried.
                    topics: Vec::new(),
                    chats: chats(&m.chats),
                    users: users(&m.users),
                })
            }
            M::NotModified(m) => {
                M198::NotModified(tl198::types::messages::MessagesNotModified { count: m.count })
            }
        }
    }

    pub fn dialogs(answer: &tl::enums::messages::Dialogs) -> tl198::enums::messages::Dialogs {
        use tl::enums::messages::Dialogs as D;
        use tl198::enums::messages::Dialogs as D198;
        match answer {
            D::Dialogs(d) => D198::Dialogs(tl198::types::messages::Dialogs {
                dialogs: dialogs_vec(&d.dialogs),
                messages: messages_vec(&d.messages),
                chats: chats(&d.chats),
                users: users(&d.users),
            }),
            D::Slice(d) => D198::Slice(tl198::types::messages::DialogsSlice {
                count: d.count,
                dialogs: dialogs_vec(&d.dialogs),
                messages: messages_vec(&d.messages),
                chats: chats(&d.chats),
                users: users(&d.users),
            }),
            D::NotModified(d) => {
                D198::NotModified(tl198::types::messages::DialogsNotModified { count: d.count })
            }
        }
    }

    pub fn peer_dialogs(
        answer: &tl::enums::messages::PeerDialogs,
    ) -> tl198::enums::messages::PeerDialogs {
        let tl::enums::messages::PeerDialogs::Dialogs(d) = answer;
        let tl::enums::updates::State::State(s) = &d.state;
        tl198::enums::messages::PeerDialogs::Dialogs(tl198::types::messages::PeerDialogs {
            dialogs: dialogs_vec(&d.dialogs),
            messages: messages_vec(&d.messages),
            chats: chats(&d.chats),
            users: users(&d.users),
            state: tl198::enums::updates::State::State(tl198::types::updates::State {
                pts: s.pts,
                qts: s.qts,
                date: s.date,
                seq: s.seq,
                unread_count: s.unread_count,
            }),
        })
    }

    pub fn users_user_full(answer: &tl::enums::users::UserFull) -> tl198::enums::users::UserFull {
        let tl::enums::users::UserFull::Full(f) = answer;
        tl198::enums::users::UserFull::Full(tl198::types::users::UserFull {
            full_user: user_full(&f.full_user),
            chats: chats(&f.chats),
            users: users(&f.users),
        })
    }

    pub fn authorization(
        answer: &tl::enums::auth::Authorization,
    ) -> tl198::enums::auth::Authorization {
        match answer {
            tl::enums::auth::Authorization::Authorization(a) => {
                tl198::enums::auth::Authorization::Authorization(
                    tl198::types::auth::Authorization {
                        setup_password_required: a.setup_password_required,
                        otherwise_relogin_days: a.otherwise_relogin_days,
                        tmp_sessions: a.tmp_sessions,
                        future_auth_token: a.future_auth_token.clone(),
                        user: user(&a.user),
                    },
                )
            }
            tl::enums::auth::Authorization::SignUpRequired(a) => {
                tl198::enums::auth::Authorization::SignUpRequired(
                    tl198::types::auth::AuthorizationSignUpRequired {
                        terms_of_service: a.terms_of_service.as_ref().and_then(same),
                    },
                )
            }
        }
    }

    pub fn resolved_peer(
        answer: &tl::enums::contacts::ResolvedPeer,
    ) -> tl198::enums::contacts::ResolvedPeer {
        let tl::enums::contacts::ResolvedPeer::Peer(r) = answer;
        tl198::enums::contacts::ResolvedPeer::Peer(tl198::types::contacts::ResolvedPeer {
            peer: peer(&r.peer),
            chats: chats(&r.chats),
            users: users(&r.users),
        })
    }

    pub fn difference(
        answer: &tl::enums::updates::Difference,
    ) -> tl198::enums::updates::Difference {
        use tl::enums::updates::Difference as D;
        use tl198::enums::updates::Difference as D198;
        let state = |s: &tl::enums::updates::State| {
            let tl::enums::updates::State::State(s) = s;
            tl198::enums::updates::State::State(tl198::types::updates::State {
                pts: s.pts,
                qts: s.qts,
                date: s.date,
                seq: s.seq,
                unread_count: s.unread_count,
            })
        };
        match answer {
            D::Empty(d) => D198::Empty(tl198::types::updates::DifferenceEmpty {
                date: d.date,
                seq: d.seq,
            }),
            D::TooLong(d) => D198::TooLong(tl198::types::updates::DifferenceTooLong { pts: d.pts }),
            D::Difference(d) => D198::Difference(tl198::types::updates::Difference {
                new_messages: messages_vec(&d.new_messages),
                new_encrypted_messages: same_vec(&d.new_encrypted_messages),
                other_updates: updates_vec(&d.other_updates),
                chats: chats(&d.chats),
                users: users(&d.users),
                state: state(&d.state),
            }),
            D::Slice(d) => D198::Slice(tl198::types::updates::DifferenceSlice {
                new_messages: messages_vec(&d.new_messages),
                new_encrypted_messages: same_vec(&d.new_encrypted_messages),
                other_updates: updates_vec(&d.other_updates),
                chats: chats(&d.chats),
                users: users(&d.users),
                intermediate_state: state(&d.intermediate_state),
            }),
        }
    }
}

/// Layer 198 → layer 230, for request arguments.
mod up {
    use super::*;

    fn entities(
        entities: Option<Vec<tl198::enums::MessageEntity>>,
    ) -> Option<Vec<tl::enums::MessageEntity>> {
        same_opt_vec(&entities)
    }

    pub fn reply_to(reply_to: &tl198::enums::InputReplyTo) -> Option<tl::enums::InputReplyTo> {
        let tl198::enums::InputReplyTo::Message(r) = reply_to else {
            return same(reply_to);
        };
        Some(tl::enums::InputReplyTo::Message(
            tl::types::InputReplyToMessage {
                reply_to_msg_id: r.reply_to_msg_id,
                top_msg_id: r.top_msg_id,
                reply_to_peer_id: r.reply_to_peer_id.as_ref().and_then(same),
                quote_text: r.quote_text.clone(),
                quote_entities: entities(r.quote_entities.clone()),
                quote_offset: r.quote_offset,
                monoforum_peer_id: None,
                todo_item_id: None,
                poll_option: None,
            },
        ))
    }

    pub fn media(media: &tl198::enums::InputMedia) -> Option<tl::enums::InputMedia> {
        Some(match media {
            tl198::enums::InputMedia::Photo(p) => {
                tl::enums::InputMedia::Photo(tl::types::InputMediaPhoto {
                    spoiler: p.spoiler,
                    live_photo: false,
                    id: same(&p.id)?,
                    ttl_seconds: p.ttl_seconds,
                    video: None,
                })
            }
            tl198::enums::InputMedia::UploadedPhoto(p) => {
                tl::enums::InputMedia::UploadedPhoto(tl::types::InputMediaUploadedPhoto {
                    spoiler: p.spoiler,
                    live_photo: false,
                    file: same(&p.file)?,
                    stickers: same_opt_vec(&p.stickers),
                    ttl_seconds: p.ttl_seconds,
                    video: None,
                })
            }
            other => return same(other),
        })
    }

    pub fn peer(peer: &tl198::enums::InputPeer) -> Result<tl::enums::InputPeer, Fail> {
        same(peer).ok_or_else(|| Fail::new(400, "PEER_ID_INVALID"))
    }

    pub fn opt_peer(
        input: &Option<tl198::enums::InputPeer>,
    ) -> Result<Option<tl::enums::InputPeer>, Fail> {
        input.as_ref().map(peer).transpose()
    }

    pub fn opt<T198: Serializable, T: Deserializable>(value: &Option<T198>) -> Option<T> {
        value.as_ref().and_then(same)
    }

    pub fn entities_of(
        e: &Option<Vec<tl198::enums::MessageEntity>>,
    ) -> Option<Vec<tl::enums::MessageEntity>> {
        entities(e.clone())
    }
}

/// Whether `id` is a layer-198 request constructor that [`upgrade_request`] rewrites.
pub fn is_layer198_request(id: u32) -> bool {
    use tl198::functions::messages;
    matches!(
        id,
        messages::SendMessage::CONSTRUCTOR_ID
            | messages::SendMedia::CONSTRUCTOR_ID
            | messages::ForwardMessages::CONSTRUCTOR_ID
            | messages::EditMessage::CONSTRUCTOR_ID
            | messages::SendMultiMedia::CONSTRUCTOR_ID
    )
}

/// The layer-230 request (constructor id first) equivalent to the layer-198 request `id` whose
/// fields (after the constructor id) are `fields`. `None` for an id [`is_layer198_request`]
/// does not accept; `Err` for a request that does not decode or names what 230 cannot express.
pub fn upgrade_request(id: u32, fields: &[u8]) -> Option<Result<Vec<u8>, Fail>> {
    use tl::functions::messages as m;
    use tl198::functions::messages as m198;
    fn decode<T: Deserializable>(fields: &[u8]) -> Result<T, Fail> {
        T::from_bytes(fields).map_err(|_| Fail::new(400, "INPUT_FETCH_ERROR"))
    }
    let convert = || -> Result<Vec<u8>, Fail> {
        Ok(match id {
            m198::SendMessage::CONSTRUCTOR_ID => {
                let r: m198::SendMessage = decode(fields)?;
                m::SendMessage {
                    no_webpage: r.no_webpage,
                    silent: r.silent,
                    background: r.background,
                    clear_draft: r.clear_draft,
                    noforwards: r.noforwards,
                    update_stickersets_order: r.update_stickersets_order,
                    invert_media: r.invert_media,
                    allow_paid_floodskip: r.allow_paid_floodskip,
                    peer: up::peer(&r.peer)?,
                    reply_to: r.reply_to.as_ref().and_then(up::reply_to),
                    message: r.message,
                    random_id: r.random_id,
                    reply_markup: up::opt(&r.reply_markup),
                    entities: up::entities_of(&r.entities),
                    schedule_date: r.schedule_date,
                    schedule_repeat_period: None,
                    send_as: up::opt_peer(&r.send_as)?,
                    quick_reply_shortcut: up::opt(&r.quick_reply_shortcut),
                    effect: r.effect,
                    allow_paid_stars: None,
                    suggested_post: None,
                    rich_message: None,
                }
                .to_bytes()
            }
            m198::SendMedia::CONSTRUCTOR_ID => {
                let r: m198::SendMedia = decode(fields)?;
                m::SendMedia {
                    silent: r.silent,
                    background: r.background,
                    clear_draft: r.clear_draft,
                    noforwards: r.noforwards,
                    update_stickersets_order: r.update_stickersets_order,
                    invert_media: r.invert_media,
                    allow_paid_floodskip: r.allow_paid_floodskip,
                    peer: up::peer(&r.peer)?,
                    reply_to: r.reply_to.as_ref().and_then(up::reply_to),
                    media: up::media(&r.media).ok_or_else(|| Fail::new(400, "MEDIA_INVALID"))?,
                    message: r.message,
                    random_id: r.random_id,
                    reply_markup: up::opt(&r.reply_markup),
                    entities: up::entities_of(&r.entities),
                    schedule_date: r.schedule_date,
                    schedule_repeat_period: None,
                    send_as: up::opt_peer(&r.send_as)?,
                    quick_reply_shortcut: up::opt(&r.quick_reply_shortcut),
                    effect: r.effect,
                    allow_paid_stars: None,
                    suggested_post: None,
                }
                .to_bytes()
            }
            m198::ForwardMessages::CONSTRUCTOR_ID => {
                let r: m198::ForwardMessages = decode(fields)?;
                m::ForwardMessages {
                    silent: r.silent,
                    background: r.background,
                    with_my_score: r.with_my_score,
                    drop_author: r.drop_author,
                    drop_media_captions: r.drop_media_captions,
                    noforwards: r.noforwards,
                    allow_paid_floodskip: r.allow_paid_floodskip,
                    from_ephemeral: false,
                    from_peer: up::peer(&r.from_peer)?,
                    id: r.id,
                    random_id: r.random_id,
                    to_peer: up::peer(&r.to_peer)?,
                    top_msg_id: r.top_msg_id,
                    reply_to: None,
                    schedule_date: r.schedule_date,
                    schedule_repeat_period: None,
                    send_as: up::opt_peer(&r.send_as)?,
                    quick_reply_shortcut: up::opt(&r.quick_reply_shortcut),
                    effect: None,
                    video_timestamp: r.video_timestamp,
                    allow_paid_stars: None,
                    suggested_post: None,
                }
                .to_bytes()
            }
            m198::EditMessage::CONSTRUCTOR_ID => {
                let r: m198::EditMessage = decode(fields)?;
                m::EditMessage {
                    no_webpage: r.no_webpage,
                    invert_media: r.invert_media,
                    peer: up::peer(&r.peer)?,
                    id: r.id,
                    message: r.message,
                    media: match &r.media {
                        Some(media) => {
                            Some(up::media(media).ok_or_else(|| Fail::new(400, "MEDIA_INVALID"))?)
                        }
                        None => None,
                    },
                    reply_markup: up::opt(&r.reply_markup),
                    entities: up::entities_of(&r.entities),
                    schedule_date: r.schedule_date,
                    schedule_repeat_period: None,
                    quick_reply_shortcut_id: r.quick_reply_shortcut_id,
                    rich_message: None,
                }
                .to_bytes()
            }
            m198::SendMultiMedia::CONSTRUCTOR_ID => {
                let r: m198::SendMultiMedia = decode(fields)?;
                let mut multi_media = Vec::new();
                for single in &r.multi_media {
                    let tl198::enums::InputSingleMedia::Media(single) = single;
                    multi_media.push(tl::enums::InputSingleMedia::Media(
                        tl::types::InputSingleMedia {
                            media: up::media(&single.media)
                                .ok_or_else(|| Fail::new(400, "MEDIA_INVALID"))?,
                            random_id: single.random_id,
                            message: single.message.clone(),
                            entities: up::entities_of(&single.entities),
                        },
                    ));
                }
                m::SendMultiMedia {
                    silent: r.silent,
                    background: r.background,
                    clear_draft: r.clear_draft,
                    noforwards: r.noforwards,
                    update_stickersets_order: r.update_stickersets_order,
                    invert_media: r.invert_media,
                    allow_paid_floodskip: r.allow_paid_floodskip,
                    peer: up::peer(&r.peer)?,
                    reply_to: r.reply_to.as_ref().and_then(up::reply_to),
                    multi_media,
                    schedule_date: r.schedule_date,
                    send_as: up::opt_peer(&r.send_as)?,
                    quick_reply_shortcut: up::opt(&r.quick_reply_shortcut),
                    effect: r.effect,
                    allow_paid_stars: None,
                }
                .to_bytes()
            }
            _ => unreachable!("checked by is_layer198_request"),
        })
    };
    is_layer198_request(id).then(convert)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::cluster::{Cluster, DcAddress};
    use crate::rpc::{call, CallContext, RpcAnswer};
    use crate::rsa_key::RsaKeyPair;
    use crate::session::Session;
    use crate::world::{NewUser, SignIn};

    const NOW: i32 = 1_700_000_000;

    fn ctor(bytes: &[u8]) -> u32 {
        u32::from_le_bytes(bytes[..4].try_into().unwrap())
    }

    /// A cluster with Alice (logged in on DC 2 with key 11) and Bob.
    fn cluster() -> (Cluster, i64, i64) {
        let dcs = (1..=2)
            .map(|id| DcAddress {
                id,
                host: Ipv4Addr::LOCALHOST,
                port: 4000 + id as u16,
            })
            .collect();
        let cluster = Cluster::new(dcs, Arc::new(RsaKeyPair::generate()));
        let (alice, bob) = {
            let mut world = cluster.world();
            let mut add = |phone: &str, name: &str| {
                let new = NewUser {
                    phone: phone.into(),
                    first_name: name.into(),
                    username: Some(format!("{}_l198", name.to_lowercase())),
                    dc_id: Some(2),
                    ..Default::default()
                };
                world.create_user(new, 2).unwrap().id
            };
            let (alice, bob) = (add("15550201", "Alice"), add("15550202", "Bob"));
            let (hash, _) = world.send_code(2, "15550201", NOW.into()).unwrap();
            let code = world.login_code("15550201").unwrap().to_string();
            assert_eq!(
                world
                    .sign_in(2, 11, "15550201", &hash, Some(&code), NOW.into())
                    .unwrap(),
                SignIn::Authorized(alice)
            );
            (alice, bob)
        };
        (cluster, alice, bob)
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

    fn send198(
        peer: tl198::enums::InputPeer,
        text: &str,
        random_id: i64,
    ) -> tl198::functions::messages::SendMessage {
        tl198::functions::messages::SendMessage {
            no_webpage: false,
            silent: false,
            background: false,
            clear_draft: false,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            allow_paid_floodskip: false,
            peer,
            reply_to: None,
            message: text.into(),
            random_id,
            reply_markup: None,
            entities: Some(vec![tl198::enums::MessageEntity::Italic(
                tl198::types::MessageEntityItalic {
                    offset: 0,
                    length: 2,
                },
            )]),
            schedule_date: None,
            send_as: None,
            quick_reply_shortcut: None,
            effect: None,
        }
    }

    #[test]
    fn changed_request_ids_do_not_collide_with_layer230() {
        use tl198::functions::messages as m198;
        for id in [
            m198::SendMessage::CONSTRUCTOR_ID,
            m198::SendMedia::CONSTRUCTOR_ID,
            m198::ForwardMessages::CONSTRUCTOR_ID,
            m198::EditMessage::CONSTRUCTOR_ID,
            m198::SendMultiMedia::CONSTRUCTOR_ID,
        ] {
            assert!(is_layer198_request(id));
            assert_eq!(
                tl::name_for_id(id),
                tl::name_for_id(0),
                "{id:#x} means something in layer 230"
            );
        }
        assert_eq!(m198::SendMessage::CONSTRUCTOR_ID, 0x983f9745);
        assert!(!is_layer198_request(
            tl::functions::messages::SendMessage::CONSTRUCTOR_ID
        ));
        assert!(
            upgrade_request(tl::functions::messages::GetHistory::CONSTRUCTOR_ID, &[]).is_none()
        );
    }

    /// A layer-198 client (GramJS) sends an uploaded photo and an album; Bob's pushes carry
    /// layer-198 `messageMediaPhoto` / `messageMediaDocument`.
    #[test]
    fn layer198_media_is_upgraded_and_answered_in_198() {
        let (cluster, alice, bob) = cluster();
        let hash = cluster.world().access_hash(alice, bob);
        let peer = tl198::enums::InputPeer::User(tl198::types::InputPeerUser {
            user_id: bob,
            access_hash: hash,
        });
        let mut session = Session::new(1);
        let mut pushes = Vec::new();
        let mut ctx = CallContext {
            cluster: &cluster,
            dc_id: 2,
            session: &mut session,
            key_id: 11,
            now_secs: NOW,
            pushes: &mut pushes,
        };
        let mut upload = |file_id: i64| {
            // upload.saveFilePart has the same id in both layers.
            let save = tl::functions::upload::SaveFilePart {
                file_id,
                file_part: 0,
                bytes: vec![7; 3000],
            };
            assert!(matches!(
                call(&mut ctx, &with_layer(198, save)),
                RpcAnswer::Result(_)
            ));
            tl198::enums::InputFile::File(tl198::types::InputFile {
                id: file_id,
                parts: 1,
                name: format!("{file_id}.bin"),
                md5_checksum: String::new(),
            })
        };
        let photo_file = upload(1);
        let doc_files = [upload(2), upload(3)];
        let send = tl198::functions::messages::SendMedia {
            silent: false,
            background: false,
            clear_draft: false,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            allow_paid_floodskip: false,
            peer: peer.clone(),
            reply_to: None,
            media: tl198::enums::InputMedia::UploadedPhoto(tl198::types::InputMediaUploadedPhoto {
                spoiler: false,
                file: photo_file,
                stickers: None,
                ttl_seconds: None,
            }),
            message: "pic".into(),
            random_id: 77,
            reply_markup: None,
            entities: None,
            schedule_date: None,
            send_as: None,
            quick_reply_shortcut: None,
            effect: None,
        };
        let mut ctx = CallContext {
            cluster: &cluster,
            dc_id: 2,
            session: &mut session,
            key_id: 11,
            now_secs: NOW,
            pushes: &mut pushes,
        };
        let RpcAnswer::Result(bytes) = call(&mut ctx, &send.to_bytes()) else {
            panic!("sendMedia failed")
        };
        assert!(matches!(
            tl198::enums::Updates::from_bytes(&bytes).unwrap(),
            tl198::enums::Updates::Updates(_)
        ));
        let album = tl198::functions::messages::SendMultiMedia {
            silent: false,
            background: false,
            clear_draft: false,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            allow_paid_floodskip: false,
            peer,
            reply_to: None,
            multi_media: doc_files
                .into_iter()
                .enumerate()
                .map(|(i, file)| {
                    tl198::enums::InputSingleMedia::Media(tl198::types::InputSingleMedia {
                        media: tl198::enums::InputMedia::UploadedDocument(
                            tl198::types::InputMediaUploadedDocument {
                                nosound_video: false,
                                force_file: true,
                                spoiler: false,
                                file,
                                thumb: None,
                                mime_type: "application/octet-stream".into(),
                                attributes: Vec::new(),
                                stickers: None,
                                video_cover: None,
                                video_timestamp: None,
                                ttl_seconds: None,
                            },
                        ),
                        random_id: 100 + i as i64,
                        message: String::new(),
                        entities: None,
                    })
                })
                .collect(),
            schedule_date: None,
            send_as: None,
            quick_reply_shortcut: None,
            effect: None,
        };
        let RpcAnswer::Result(bytes) = call(&mut ctx, &album.to_bytes()) else {
            panic!("sendMultiMedia failed")
        };
        let tl198::enums::Updates::Updates(answer) =
            tl198::enums::Updates::from_bytes(&bytes).unwrap()
        else {
            panic!("expected updates")
        };
        let media_kinds = |updates: &[tl198::enums::Update]| -> Vec<&'static str> {
            updates
                .iter()
                .filter_map(|u| match u {
                    tl198::enums::Update::NewMessage(n) => match &n.message {
                        tl198::enums::Message::Message(m) => Some(match &m.media {
                            Some(tl198::enums::MessageMedia::Photo(p)) if p.photo.is_some() => {
                                "photo"
                            }
                            Some(tl198::enums::MessageMedia::Document(d))
                                if d.document.is_some() =>
                            {
                                "document"
                            }
                            _ => "none",
                        }),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        };
        assert_eq!(media_kinds(&answer.updates), vec!["document", "document"]);
        // Bob's pushes, in layer 198.
        let mut seen = Vec::new();
        for push in pushes.iter().filter(|p| p.user_id == bob) {
            if let tl198::enums::Updates::Updates(u) =
                tl198::enums::Updates::from_bytes(&(push.push)(Some(198))).unwrap()
            {
                seen.extend(media_kinds(&u.updates));
            }
        }
        assert_eq!(seen, vec!["photo", "document", "document"]);
    }

    #[test]
    fn layer198_send_message_is_served_and_answered_in_198() {
        let (cluster, alice, bob) = cluster();
        let hash = cluster.world().access_hash(alice, bob);
        let peer = tl198::enums::InputPeer::User(tl198::types::InputPeerUser {
            user_id: bob,
            access_hash: hash,
        });
        let mut session = Session::new(1);
        let mut pushes = Vec::new();
        let mut ctx = CallContext {
            cluster: &cluster,
            dc_id: 2,
            session: &mut session,
            key_id: 11,
            now_secs: NOW,
            pushes: &mut pushes,
        };
        let RpcAnswer::Result(bytes) = call(
            &mut ctx,
            &with_layer(198, send198(peer.clone(), "hi from 198", 5)),
        ) else {
            panic!("sendMessage failed")
        };
        assert_eq!(ctx.session.layer, Some(198));
        let tl198::enums::Updates::UpdateShortSentMessage(sent) =
            tl198::enums::Updates::from_bytes(&bytes).unwrap()
        else {
            panic!("expected updateShortSentMessage")
        };
        let stored = cluster
            .world()
            .message(bob, sent.id)
            .map(|m| (m.text.clone(), m.from, m.entities.len()));
        assert_eq!(
            stored,
            Some(("hi from 198".to_string(), alice, 1)),
            "entities converted up to 230 too"
        );

        // Bob's push is written in whatever layer each of Bob's sessions speaks.
        let to_bob = pushes
            .iter()
            .find(|p| p.user_id == bob)
            .expect("a push for Bob");
        let tl198::enums::Updates::Updates(u198) =
            tl198::enums::Updates::from_bytes(&(to_bob.push)(Some(198))).unwrap()
        else {
            panic!("expected updates")
        };
        assert!(matches!(
            &u198.updates[0],
            tl198::enums::Update::NewMessage(_)
        ));
        assert!(matches!(
            tl::enums::Updates::from_bytes(&(to_bob.push)(Some(230))).unwrap(),
            tl::enums::Updates::Updates(_)
        ));

        // History (a request whose id is the same in both layers) answers with layer-198 objects.
        let history = tl::functions::messages::GetHistory {
            peer: tl::enums::InputPeer::User(tl::types::InputPeerUser {
                user_id: bob,
                access_hash: hash,
            }),
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 10,
            max_id: 0,
            min_id: 0,
            hash: 0,
        };
        let mut ctx = CallContext {
            cluster: &cluster,
            dc_id: 2,
            session: &mut session,
            key_id: 11,
            now_secs: NOW,
            pushes: &mut Vec::new(),
        };
        let RpcAnswer::Result(bytes) = call(&mut ctx, &history.to_bytes()) else {
            panic!("getHistory failed")
        };
        assert_eq!(
            ctor(&bytes),
            tl198::types::messages::Messages::CONSTRUCTOR_ID
        );
        let tl198::enums::messages::Messages::Messages(page) =
            tl198::enums::messages::Messages::from_bytes(&bytes).unwrap()
        else {
            panic!("expected messages.messages")
        };
        assert_eq!(page.messages.len(), 1);

        // A truncated layer-198 request is INPUT_FETCH_ERROR, as any malformed request.
        let mut truncated = send198(peer, "x", 6).to_bytes();
        truncated.truncate(12);
        assert_eq!(
            call(&mut ctx, &truncated),
            RpcAnswer::error(400, "INPUT_FETCH_ERROR")
        );
    }
}
