//! Layer-198 definitions vs grammers-tl-types' layer 230.

use grammers_tl_types as tl230;
use telegate_mockdc_tl198::{
    self as tl198, Deserializable, Identifiable, RemoteCall, Serializable,
};

const SCHEMA: &str = include_str!("../tl/api198.tl");

/// Constructor id of `name#xxxxxxxx ...` in the GramJS schema text.
fn schema_id(name: &str) -> u32 {
    let prefix = format!("{name}#");
    let line = SCHEMA
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{name} not in api198.tl"));
    let hex: String = line[prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    u32::from_str_radix(&hex, 16).unwrap()
}

fn ctor(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().unwrap())
}

fn user198() -> tl198::types::User {
    tl198::types::User {
        is_self: false,
        contact: true,
        mutual_contact: true,
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
        stories_unavailable: false,
        contact_require_premium: false,
        bot_business: false,
        bot_has_main_app: false,
        id: 1_000_001,
        access_hash: Some(0x1234_5678_9abc_def0),
        first_name: Some("Alice".into()),
        last_name: Some("Liddell".into()),
        username: Some("alice".into()),
        phone: Some("15550001".into()),
        photo: None,
        status: Some(tl198::enums::UserStatus::Online(
            tl198::types::UserStatusOnline {
                expires: 1_700_000_000,
            },
        )),
        bot_info_version: None,
        restriction_reason: None,
        bot_inline_placeholder: None,
        lang_code: Some("en".into()),
        emoji_status: None,
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        bot_active_users: None,
        bot_verification_icon: None,
    }
}

#[test]
fn layer_is_198() {
    assert_eq!(tl198::LAYER, 198);
    assert_eq!(tl230::LAYER, 230);
}

#[test]
fn every_schema_definition_was_generated() {
    // name_for_id is generated from the parsed definitions: a definition the parser skipped
    // would map to "(unknown)".
    let mut n = 0;
    for line in SCHEMA
        .lines()
        .filter(|l| !l.starts_with("//") && l.contains('#'))
    {
        let (name, rest) = line.split_once('#').unwrap();
        let hex: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        let id = u32::from_str_radix(&hex, 16).unwrap();
        assert_eq!(tl198::name_for_id(id), name, "{line}");
        n += 1;
    }
    assert!(n > 1900, "only {n} definitions");
}

#[test]
fn user_serializes_with_layer198_constructor() {
    let user = user198();
    let bytes = user.to_bytes();
    let id198 = schema_id("user");
    assert_eq!(id198, 0x4b46c37e);
    assert_eq!(tl198::types::User::CONSTRUCTOR_ID, id198);
    // Boxed (enum) serialization starts with the constructor id.
    let boxed = tl198::enums::User::User(user.clone()).to_bytes();
    assert_eq!(ctor(&boxed), id198);
    assert_eq!(
        &boxed[4..],
        &bytes[..],
        "bare struct = boxed minus constructor id"
    );
    assert_ne!(
        id198,
        <tl230::types::User as tl230::Identifiable>::CONSTRUCTOR_ID
    );

    // Round trip, and the same grammers traits work on it (it *is* grammers' trait).
    fn via_grammers<T: tl230::Serializable + tl230::Deserializable>(v: &T) -> T {
        T::from_bytes(&v.to_bytes()).unwrap()
    }
    assert_eq!(
        via_grammers(&tl198::enums::User::User(user.clone())),
        tl198::enums::User::User(user)
    );
}

#[test]
fn layer230_user_is_not_a_layer198_user() {
    // What GramJS trips over (TypeNotFoundError), seen from the layer-198 decoder.
    let u230 = tl230::enums::User::Empty(tl230::types::UserEmpty { id: 5 });
    let bytes230 = tl230::Serializable::to_bytes(&u230);
    assert!(
        tl198::enums::User::from_bytes(&bytes230).is_ok(),
        "userEmpty is the same in both"
    );
    let m = tl230::enums::messages::Messages::Messages(tl230::types::messages::Messages {
        messages: vec![],
        topics: vec![],
        chats: vec![],
        users: vec![],
    });
    let err = tl198::enums::messages::Messages::from_bytes(&tl230::Serializable::to_bytes(&m))
        .unwrap_err();
    assert!(
        matches!(err, tl198::deserialize::Error::UnexpectedConstructor { .. }),
        "{err:?}"
    );
}

#[test]
fn send_message_round_trips() {
    let req = tl198::functions::messages::SendMessage {
        no_webpage: true,
        silent: false,
        background: false,
        clear_draft: true,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: tl198::enums::InputPeer::User(tl198::types::InputPeerUser {
            user_id: 42,
            access_hash: -7,
        }),
        reply_to: Some(tl198::enums::InputReplyTo::Message(
            tl198::types::InputReplyToMessage {
                reply_to_msg_id: 10,
                top_msg_id: None,
                reply_to_peer_id: None,
                quote_text: None,
                quote_entities: None,
                quote_offset: None,
            },
        )),
        message: "hello from layer 198".into(),
        random_id: 0x0102_0304_0506_0708,
        reply_markup: None,
        entities: Some(vec![tl198::enums::MessageEntity::Bold(
            tl198::types::MessageEntityBold {
                offset: 0,
                length: 5,
            },
        )]),
        schedule_date: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
    };
    let bytes = req.to_bytes();
    assert_eq!(ctor(&bytes), schema_id("messages.sendMessage"));
    assert_eq!(
        ctor(&bytes),
        tl198::functions::messages::SendMessage::CONSTRUCTOR_ID
    );
    assert_ne!(
        ctor(&bytes),
        <tl230::functions::messages::SendMessage as tl230::Identifiable>::CONSTRUCTOR_ID
    );
    // grammers' generated function deserializers read the body only: the caller has already
    // consumed the constructor id to dispatch (same convention as layer 230).
    let back = tl198::functions::messages::SendMessage::from_bytes(&bytes[4..]).unwrap();
    assert_eq!(back, req);
    assert_eq!(back.to_bytes(), bytes);
    // The response type is layer-198 Updates.
    fn ret<R: RemoteCall<Return = tl198::enums::Updates>>(_: &R) {}
    ret(&back);
}

#[test]
fn constructor_ids_198_vs_230() {
    // (TL name, layer-198 id, layer-230 id, differ per the interop notes)
    let rows: [(&str, u32, u32, bool); 15] = [
        (
            "user",
            tl198::types::User::CONSTRUCTOR_ID,
            tl230::types::User::CONSTRUCTOR_ID,
            true,
        ),
        (
            "message",
            tl198::types::Message::CONSTRUCTOR_ID,
            tl230::types::Message::CONSTRUCTOR_ID,
            true,
        ),
        (
            "dialog",
            tl198::types::Dialog::CONSTRUCTOR_ID,
            tl230::types::Dialog::CONSTRUCTOR_ID,
            true,
        ),
        (
            "messages.messages",
            tl198::types::messages::Messages::CONSTRUCTOR_ID,
            tl230::types::messages::Messages::CONSTRUCTOR_ID,
            true,
        ),
        (
            "channel",
            tl198::types::Channel::CONSTRUCTOR_ID,
            tl230::types::Channel::CONSTRUCTOR_ID,
            true,
        ),
        (
            "userFull",
            tl198::types::UserFull::CONSTRUCTOR_ID,
            tl230::types::UserFull::CONSTRUCTOR_ID,
            true,
        ),
        (
            "messages.sendMessage",
            tl198::functions::messages::SendMessage::CONSTRUCTOR_ID,
            tl230::functions::messages::SendMessage::CONSTRUCTOR_ID,
            true,
        ),
        (
            "messages.sendMedia",
            tl198::functions::messages::SendMedia::CONSTRUCTOR_ID,
            tl230::functions::messages::SendMedia::CONSTRUCTOR_ID,
            true,
        ),
        // "config, updates, auth.*, upload.* are the same"
        (
            "config",
            tl198::types::Config::CONSTRUCTOR_ID,
            tl230::types::Config::CONSTRUCTOR_ID,
            false,
        ),
        (
            "updates",
            tl198::types::Updates::CONSTRUCTOR_ID,
            tl230::types::Updates::CONSTRUCTOR_ID,
            false,
        ),
        (
            "auth.sentCode",
            tl198::types::auth::SentCode::CONSTRUCTOR_ID,
            tl230::types::auth::SentCode::CONSTRUCTOR_ID,
            false,
        ),
        (
            "auth.authorization",
            tl198::types::auth::Authorization::CONSTRUCTOR_ID,
            tl230::types::auth::Authorization::CONSTRUCTOR_ID,
            false,
        ),
        (
            "upload.file",
            tl198::types::upload::File::CONSTRUCTOR_ID,
            tl230::types::upload::File::CONSTRUCTOR_ID,
            false,
        ),
        (
            "users.getFullUser",
            tl198::functions::users::GetFullUser::CONSTRUCTOR_ID,
            tl230::functions::users::GetFullUser::CONSTRUCTOR_ID,
            false,
        ),
        (
            "messages.getDialogs",
            tl198::functions::messages::GetDialogs::CONSTRUCTOR_ID,
            tl230::functions::messages::GetDialogs::CONSTRUCTOR_ID,
            false,
        ),
    ];
    println!(
        "{:<22} {:>10} {:>10}",
        "constructor", "layer 198", "layer 230"
    );
    for (name, id198, id230, differ) in rows {
        println!(
            "{name:<22} {id198:>#010x} {id230:>#010x}{}",
            if id198 == id230 { "  (same)" } else { "" }
        );
        assert_eq!(
            id198,
            schema_id(name),
            "{name}: generated id vs GramJS schema text"
        );
        assert_eq!(
            id198 != id230,
            differ,
            "{name}: 198 {id198:#x} vs 230 {id230:#x}"
        );
    }
}
