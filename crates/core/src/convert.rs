//! Conversions between Telegram's TL objects and the runtime's views ([`crate::types`]) and
//! mirror rows ([`telegate_store`]). One place, so the API, the events and the mirror show a
//! message the same way.

use grammers_session::types::PeerId;
use grammers_tl_types as tl;

use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::types::{Entity, MediaView, MessageView, ParseMode, UserView};

/// Bot API dialog id of a TL peer: users keep their id, basic groups are negated, channels are
/// offset by -10^12.
///
/// Computed here rather than through `PeerId::from`: grammers' constructors `debug_assert` the id
/// range, and ids arrive from the wire (and from grammers' own placeholders, such as the user 0
/// it puts in messages sent to `inputPeerSelf`), so a surprising id must not panic a task.
pub fn peer_id(peer: &tl::enums::Peer) -> i64 {
    match peer {
        tl::enums::Peer::User(u) => u.user_id,
        tl::enums::Peer::Chat(c) => -c.chat_id,
        tl::enums::Peer::Channel(c) => -1_000_000_000_000 - c.channel_id,
    }
}

/// Mirror kind of a chat by its Bot API id (refined by [`chat_kind`] when the object is known).
pub fn kind_of_id(id: i64) -> &'static str {
    match PeerId::from_bot_api_dialog_id(id).map(|p| p.kind()) {
        Some(grammers_session::types::PeerKind::User) => "user",
        Some(grammers_session::types::PeerKind::Chat) => "group",
        _ => "channel",
    }
}

/// `group`, `supergroup` or `channel` for a TL chat.
pub fn chat_kind(chat: &tl::enums::Chat) -> &'static str {
    match chat {
        tl::enums::Chat::Channel(c) if c.megagroup || c.gigagroup => "supergroup",
        tl::enums::Chat::Channel(_) | tl::enums::Chat::ChannelForbidden(_) => "channel",
        _ => "group",
    }
}

pub fn chat_title(chat: &tl::enums::Chat) -> Option<String> {
    match chat {
        tl::enums::Chat::Chat(c) => Some(c.title.clone()),
        tl::enums::Chat::Forbidden(c) => Some(c.title.clone()),
        tl::enums::Chat::Channel(c) => Some(c.title.clone()),
        tl::enums::Chat::ChannelForbidden(c) => Some(c.title.clone()),
        _ => None,
    }
}

pub fn chat_username(chat: &tl::enums::Chat) -> Option<String> {
    match chat {
        tl::enums::Chat::Channel(c) => c.username.clone(),
        _ => None,
    }
}

/// Bot API id of a TL chat.
pub fn chat_id(chat: &tl::enums::Chat) -> i64 {
    grammers_session::types::PeerInfo::from(chat.clone())
        .id()
        .bot_api_dialog_id_unchecked()
}

pub fn user_view(user: &tl::enums::User) -> Option<UserView> {
    match user {
        tl::enums::User::User(u) => Some(UserView {
            id: u.id,
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            username: u.username.clone(),
            phone: u.phone.clone(),
            bot: u.bot,
            premium: u.premium,
        }),
        tl::enums::User::Empty(_) => None,
    }
}

pub fn user_display_name(u: &UserView) -> Option<String> {
    match (&u.first_name, &u.last_name) {
        (Some(f), Some(l)) if !l.is_empty() => Some(format!("{f} {l}")),
        (Some(f), _) => Some(f.clone()),
        (None, Some(l)) => Some(l.clone()),
        (None, None) => None,
    }
}

pub fn entity_view(e: &tl::enums::MessageEntity) -> Entity {
    use tl::enums::MessageEntity as E;
    let (kind, url, user_id, language) = match e {
        E::Mention(_) => ("mention", None, None, None),
        E::Hashtag(_) => ("hashtag", None, None, None),
        E::BotCommand(_) => ("bot_command", None, None, None),
        E::Url(_) => ("url", None, None, None),
        E::Email(_) => ("email", None, None, None),
        E::Bold(_) => ("bold", None, None, None),
        E::Italic(_) => ("italic", None, None, None),
        E::Code(_) => ("code", None, None, None),
        E::Pre(p) => (
            "pre",
            None,
            None,
            (!p.language.is_empty()).then(|| p.language.clone()),
        ),
        E::TextUrl(t) => ("text_link", Some(t.url.clone()), None, None),
        E::MentionName(m) => ("mention_name", None, Some(m.user_id), None),
        E::InputMessageEntityMentionName(_) => ("mention_name", None, None, None),
        E::Phone(_) => ("phone", None, None, None),
        E::Cashtag(_) => ("cashtag", None, None, None),
        E::Underline(_) => ("underline", None, None, None),
        E::Strike(_) => ("strike", None, None, None),
        E::BankCard(_) => ("bank_card", None, None, None),
        E::Spoiler(_) => ("spoiler", None, None, None),
        E::CustomEmoji(_) => ("custom_emoji", None, None, None),
        E::Blockquote(_) => ("blockquote", None, None, None),
        _ => ("unknown", None, None, None),
    };
    Entity {
        kind: kind.into(),
        offset: e.offset(),
        length: e.length(),
        url,
        user_id,
        language,
    }
}

/// Explicit entities from a caller, checked.
pub fn entity_from_view(e: &Entity) -> CoreResult<tl::enums::MessageEntity> {
    use tl::enums::MessageEntity as E;
    use tl::types as t;
    if e.offset < 0 || e.length <= 0 {
        return Err(CoreError::new(
            ErrorCode::EntitiesInvalid,
            format!("entity {:?}: offset must be ≥ 0 and length > 0", e.kind),
        ));
    }
    let (offset, length) = (e.offset, e.length);
    Ok(match e.kind.as_str() {
        "mention" => E::Mention(t::MessageEntityMention { offset, length }),
        "hashtag" => E::Hashtag(t::MessageEntityHashtag { offset, length }),
        "bot_command" => E::BotCommand(t::MessageEntityBotCommand { offset, length }),
        "url" => E::Url(t::MessageEntityUrl { offset, length }),
        "email" => E::Email(t::MessageEntityEmail { offset, length }),
        "bold" => E::Bold(t::MessageEntityBold { offset, length }),
        "italic" => E::Italic(t::MessageEntityItalic { offset, length }),
        "code" => E::Code(t::MessageEntityCode { offset, length }),
        "pre" => E::Pre(t::MessageEntityPre {
            offset,
            length,
            language: e.language.clone().unwrap_or_default(),
        }),
        "text_link" => E::TextUrl(t::MessageEntityTextUrl {
            offset,
            length,
            url: e.url.clone().ok_or_else(|| {
                CoreError::new(ErrorCode::EntitiesInvalid, "a text_link entity needs url")
            })?,
        }),
        "phone" => E::Phone(t::MessageEntityPhone { offset, length }),
        "cashtag" => E::Cashtag(t::MessageEntityCashtag { offset, length }),
        "underline" => E::Underline(t::MessageEntityUnderline { offset, length }),
        "strike" => E::Strike(t::MessageEntityStrike { offset, length }),
        "spoiler" => E::Spoiler(t::MessageEntitySpoiler { offset, length }),
        "blockquote" => E::Blockquote(t::MessageEntityBlockquote {
            collapsed: false,
            offset,
            length,
        }),
        other => {
            return Err(CoreError::new(
                ErrorCode::EntitiesInvalid,
                format!("unknown entity type {other:?}"),
            ))
        }
    })
}

/// Length in UTF-16 code units, as Telegram counts.
pub fn utf16_len(text: &str) -> i32 {
    text.encode_utf16().count() as i32
}

/// Text and entities of an outgoing message per its parse mode.
pub fn formatted(
    text: &str,
    mode: ParseMode,
    explicit: Option<&[Entity]>,
) -> CoreResult<(String, Vec<tl::enums::MessageEntity>)> {
    match (mode, explicit) {
        (ParseMode::Plain, None) => Ok((text.to_owned(), Vec::new())),
        (ParseMode::Plain, Some(es)) => {
            let len = utf16_len(text);
            let mut out = Vec::with_capacity(es.len());
            for e in es {
                if e.offset.saturating_add(e.length) > len {
                    return Err(CoreError::new(
                        ErrorCode::EntitiesInvalid,
                        format!(
                            "entity {:?} at {}+{} runs past the text ({len} UTF-16 units)",
                            e.kind, e.offset, e.length
                        ),
                    ));
                }
                out.push(entity_from_view(e)?);
            }
            Ok((text.to_owned(), out))
        }
        (_, Some(_)) => Err(CoreError::invalid(
            "entities: give explicit entities only with parse_mode plain",
        )),
        (ParseMode::Markdown, None) => Ok(grammers_client::parsers::parse_markdown_message(text)),
        (ParseMode::Html, None) => Ok(grammers_client::parsers::parse_html_message(text)),
    }
}

/// The view of a message's media; `chat_id` and `message_id` make the download id of files.
pub fn media_view(m: &tl::enums::MessageMedia, chat_id: i64, message_id: i32) -> Option<MediaView> {
    let mut v = media_kind_view(m)?;
    if matches!(
        v.kind.as_str(),
        "photo" | "document" | "video" | "audio" | "voice" | "sticker"
    ) && v.id.is_some()
    {
        v.media_id = Some(format!("{chat_id}_{message_id}"));
    }
    Some(v)
}

fn media_kind_view(m: &tl::enums::MessageMedia) -> Option<MediaView> {
    use tl::enums::MessageMedia as M;
    let view = |kind: &str| MediaView {
        kind: kind.into(),
        id: None,
        size: None,
        mime_type: None,
        file_name: None,
        media_id: None,
    };
    Some(match m {
        M::Empty => return None,
        M::Photo(p) => {
            let mut v = view("photo");
            if let Some(tl::enums::Photo::Photo(photo)) = &p.photo {
                v.id = Some(photo.id);
            }
            v
        }
        M::Document(d) => {
            let mut v = view("document");
            if let Some(tl::enums::Document::Document(doc)) = &d.document {
                v.id = Some(doc.id);
                v.size = Some(doc.size);
                v.mime_type = Some(doc.mime_type.clone());
                for a in &doc.attributes {
                    match a {
                        tl::enums::DocumentAttribute::Filename(f) => {
                            v.file_name = Some(f.file_name.clone())
                        }
                        tl::enums::DocumentAttribute::Video(_) => v.kind = "video".into(),
                        tl::enums::DocumentAttribute::Audio(a) => {
                            v.kind = if a.voice { "voice" } else { "audio" }.into()
                        }
                        tl::enums::DocumentAttribute::Sticker(_) => v.kind = "sticker".into(),
                        _ => {}
                    }
                }
            }
            v
        }
        M::Geo(_) | M::GeoLive(_) | M::Venue(_) => view("geo"),
        M::Contact(_) => view("contact"),
        M::WebPage(_) => view("webpage"),
        _ => view("other"),
    })
}

/// A TL message as the API shows it (`None` for `messageEmpty`).
pub fn message_view(m: &tl::enums::Message) -> Option<MessageView> {
    match m {
        tl::enums::Message::Empty(_) => None,
        tl::enums::Message::Message(m) => Some(MessageView {
            id: m.id,
            chat_id: peer_id(&m.peer_id),
            sender_id: m.from_id.as_ref().map(peer_id).or_else(|| {
                // Private chats omit from_id for the other side's messages.
                (!m.out && matches!(m.peer_id, tl::enums::Peer::User(_)))
                    .then(|| peer_id(&m.peer_id))
            }),
            date: m.date as i64,
            text: m.message.clone(),
            entities: m
                .entities
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(entity_view)
                .collect(),
            reply_to: match &m.reply_to {
                Some(tl::enums::MessageReplyHeader::Header(h)) => h.reply_to_msg_id,
                _ => None,
            },
            outgoing: m.out,
            silent: m.silent,
            edit_date: m.edit_date.map(|d| d as i64),
            media: m
                .media
                .as_ref()
                .and_then(|media| media_view(media, peer_id(&m.peer_id), m.id)),
            forwarded_from: match &m.fwd_from {
                Some(tl::enums::MessageFwdHeader::Header(h)) => h.from_id.as_ref().map(peer_id),
                None => None,
            },
            action: None,
            deleted: false,
        }),
        tl::enums::Message::Service(s) => Some(MessageView {
            id: s.id,
            chat_id: peer_id(&s.peer_id),
            sender_id: s.from_id.as_ref().map(peer_id),
            date: s.date as i64,
            text: String::new(),
            entities: Vec::new(),
            reply_to: None,
            outgoing: s.out,
            silent: s.silent,
            edit_date: None,
            media: None,
            forwarded_from: None,
            action: Some(action_name(&s.action)),
            deleted: false,
        }),
    }
}

/// `chat_create`, `chat_add_user`, `chat_joined_by_link`, … from the TL constructor name.
fn action_name(a: &tl::enums::MessageAction) -> String {
    let dbg = format!("{a:?}");
    let name = dbg.split(['(', ' ']).next().unwrap_or("Unknown");
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The mirror row of a message view.
pub fn mirror_message(v: &MessageView) -> telegate_store::Message {
    telegate_store::Message {
        peer_id: v.chat_id,
        message_id: v.id,
        sender_id: v.sender_id,
        date: v.date,
        text: (!v.text.is_empty()).then(|| v.text.clone()),
        entities: (!v.entities.is_empty())
            .then(|| serde_json::to_string(&v.entities).unwrap_or_default()),
        media: v
            .media
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_default()),
        reply_to_id: v.reply_to,
        outgoing: v.outgoing,
        edit_date: v.edit_date,
        deleted: false,
    }
}

/// A mirror row back as a view.
pub fn view_from_mirror(m: &telegate_store::Message) -> MessageView {
    MessageView {
        id: m.message_id,
        chat_id: m.peer_id,
        sender_id: m.sender_id,
        date: m.date,
        text: m.text.clone().unwrap_or_default(),
        entities: m
            .entities
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok())
            .unwrap_or_default(),
        reply_to: m.reply_to_id,
        outgoing: m.outgoing,
        silent: false,
        edit_date: m.edit_date,
        media: m
            .media
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok()),
        forwarded_from: None,
        action: None,
        deleted: m.deleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_modes() {
        let (t, e) = formatted("**hi** there", ParseMode::Markdown, None).unwrap();
        assert_eq!(t, "hi there");
        assert_eq!(entity_view(&e[0]).kind, "bold");
        let (t, e) = formatted("<i>x</i>y", ParseMode::Html, None).unwrap();
        assert_eq!(
            (t.as_str(), entity_view(&e[0]).kind.as_str()),
            ("xy", "italic")
        );
        let ent = Entity {
            kind: "text_link".into(),
            offset: 0,
            length: 2,
            url: Some("https://example.org".into()),
            user_id: None,
            language: None,
        };
        let (_, e) = formatted("hi", ParseMode::Plain, Some(std::slice::from_ref(&ent))).unwrap();
        assert_eq!(entity_view(&e[0]), ent);
        let long = Entity { length: 5, ..ent };
        assert_eq!(
            formatted("hi", ParseMode::Plain, Some(&[long]))
                .unwrap_err()
                .code,
            ErrorCode::EntitiesInvalid
        );
    }

    #[test]
    fn peer_ids_follow_the_bot_api_and_never_panic() {
        use tl::enums::Peer;
        let user = |user_id| Peer::User(tl::types::PeerUser { user_id });
        assert_eq!(peer_id(&user(42)), 42);
        assert_eq!(peer_id(&Peer::Chat(tl::types::PeerChat { chat_id: 7 })), -7);
        assert_eq!(
            peer_id(&Peer::Channel(tl::types::PeerChannel { channel_id: 5 })),
            -1_000_000_000_005
        );
        // grammers' placeholder for inputPeerSelf, and ids outside the documented ranges, come
        // through as numbers instead of tripping grammers' range assertions.
        assert_eq!(peer_id(&user(0)), 0);
        assert_eq!(peer_id(&user(i64::MAX)), i64::MAX);
        assert_eq!(kind_of_id(42), "user");
        assert_eq!(kind_of_id(-7), "group");
        assert_eq!(kind_of_id(-1_000_000_000_005), "channel");
    }

    #[test]
    fn action_names_are_snake_case() {
        assert_eq!(
            action_name(&tl::enums::MessageAction::ChatJoinedByLink(
                tl::types::MessageActionChatJoinedByLink { inviter_id: 1 }
            )),
            "chat_joined_by_link"
        );
    }
}
