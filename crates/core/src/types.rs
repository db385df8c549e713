//! The runtime's request and response types: plain Rust + serde, no HTTP. The API layer
//! (de)serializes them as its JSON bodies, so field names and shapes here are part of the API.
//!
//! Conventions: peers are Bot-API-style ids (`123` user, `-456` basic group, `-100789`
//! channel/supergroup), `@username` or `me` ([`PeerRef`]); Telegram-originated times (`date`,
//! `edit_date`, `expires_at` of Telegram objects) are Unix **seconds** as Telegram gives them;
//! gateway-originated times (`*_at` of accounts, health, events) are Unix **milliseconds**.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use telegate_store::{AccountKind, AccountState};

use crate::error::{CoreError, ErrorCode};

/// A peer as callers name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerRef {
    /// The account itself ("Saved Messages").
    Me,
    /// A Bot API dialog id: user `123`, basic group `-456`, channel `-100789`.
    Id(i64),
    /// A public username, without the `@`.
    Username(String),
}

impl FromStr for PeerRef {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("me") || s.eq_ignore_ascii_case("self") {
            return Ok(PeerRef::Me);
        }
        if let Some(name) = s.strip_prefix('@') {
            let ok = (4..=32).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            if !ok {
                return Err(CoreError::new(
                    ErrorCode::PeerInvalid,
                    format!("peer {s:?}: a username has 4-32 letters, digits or _ and starts with a letter"),
                ));
            }
            return Ok(PeerRef::Username(name.to_ascii_lowercase()));
        }
        match s.parse::<i64>() {
            Ok(id)
                if id != 0
                    && grammers_session::types::PeerId::from_bot_api_dialog_id(id).is_some() =>
            {
                Ok(PeerRef::Id(id))
            }
            _ => Err(CoreError::new(
                ErrorCode::PeerInvalid,
                format!("peer {s:?}: expected a Bot API id (123, -456, -100789), @username or me"),
            )),
        }
    }
}

impl fmt::Display for PeerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerRef::Me => f.write_str("me"),
            PeerRef::Id(id) => write!(f, "{id}"),
            PeerRef::Username(u) => write!(f, "@{u}"),
        }
    }
}

impl Serialize for PeerRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(i64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => n.to_string().parse(),
            Raw::Str(s) => s.parse(),
        }
        .map_err(|e: CoreError| serde::de::Error::custom(e.message))
    }
}

/// `POST /v1/accounts`: a phone number (user login) or a bot token.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum CreateAccount {
    Phone {
        phone: String,
        #[serde(default)]
        label: Option<String>,
    },
    Bot {
        bot_token: String,
        #[serde(default)]
        label: Option<String>,
    },
}

/// What the caller must do next to finish a login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum LoginStep {
    /// Send the code Telegram delivered (`POST …/login/code`).
    Code {
        /// How Telegram delivered it: `app`, `sms`, `call`, `flash_call`, … .
        delivery: String,
        /// Seconds until Telegram may resend by another channel, if it said.
        #[serde(skip_serializing_if = "Option::is_none")]
        timeout: Option<i32>,
        /// When this half-finished login expires (Unix ms).
        expires_at: i64,
    },
    /// The account has 2FA: send the password (`POST …/login/password`).
    Password {
        #[serde(skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
        expires_at: i64,
    },
    /// Show `url` as a QR code to a logged-in device; refreshed before Telegram's expiry
    /// (`login.qr` events carry each new token).
    Qr {
        url: String,
        /// Telegram's expiry of this token (Unix seconds).
        token_expires: i64,
        expires_at: i64,
    },
    /// Logged in.
    Done { user: UserView },
}

/// A Telegram user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub bot: bool,
    /// Telegram Premium (twice the file size limit: 4000 MiB instead of 2000).
    #[serde(default)]
    pub premium: bool,
}

/// An error as health reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorView {
    pub code: ErrorCode,
    pub message: String,
    /// Unix ms.
    pub at: i64,
}

/// Per-account health (issue 6 item 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub state: AccountStateName,
    /// Since when the account is in `state` (Unix ms).
    pub since: i64,
    /// Last successful Telegram round trip (Unix ms).
    pub last_ok_at: Option<i64>,
    pub last_error: Option<ErrorView>,
    /// Round-trip time of the last health probe.
    pub rtt_ms: Option<u32>,
    /// Reconnections since the gateway started.
    pub reconnects: u32,
    /// Calls queued or in flight right now.
    pub queue_depth: u32,
}

/// [`AccountState`] with serde (the store's enum stays serde-free).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountStateName(pub AccountState);

impl Serialize for AccountStateName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// An account with its state and health (`GET /v1/accounts/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountInfo {
    pub id: i64,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub state: AccountStateName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    pub home_dc: i32,
    pub created_at: i64,
    pub last_connected_at: Option<i64>,
    pub health: Health,
}

pub(crate) fn kind_name(k: AccountKind) -> &'static str {
    k.as_str()
}

/// How message text is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ParseMode {
    /// Text as is (entities may be given explicitly).
    #[default]
    Plain,
    Markdown,
    Html,
}

/// A formatting entity (offsets and lengths in UTF-16 code units, as Telegram counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entity {
    /// `bold`, `italic`, `underline`, `strike`, `spoiler`, `code`, `pre`, `text_link`,
    /// `mention`, `mention_name`, `hashtag`, `url`, `email`, `phone`, `blockquote`, … .
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: i32,
    pub length: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// `POST …/chats/{peer}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendMessage {
    /// The text (a caption with `media`).
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub parse_mode: ParseMode,
    /// Explicit entities (only with `parse_mode: plain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Entity>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i32>,
    /// Deliver without a notification.
    #[serde(default)]
    pub silent: bool,
    #[serde(default)]
    pub no_webpage: bool,
}

/// `PATCH …/messages/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditMessage {
    pub text: String,
    #[serde(default)]
    pub parse_mode: ParseMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Entity>>,
}

/// Media attached to a message (a reference, never the bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaView {
    /// `photo`, `document`, `video`, `audio`, `voice`, `sticker`, `geo`, `contact`, `webpage`,
    /// `other`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Files (photos, documents, videos, audio, voice, stickers): `{chat_id}_{message_id}`, the
    /// id to download it with (`GET /v1/accounts/{account}/media/{media_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
}

/// A message as the API and the events show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageView {
    pub id: i32,
    /// The chat (Bot API id) the message is in.
    pub chat_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<i64>,
    /// Unix seconds.
    pub date: i64,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i32>,
    pub outgoing: bool,
    #[serde(default)]
    pub silent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<i64>,
    /// Set for service messages (joins, title changes…): the action's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Only in the mirror: the message was deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// Where history comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HistorySource {
    /// Ask Telegram (messages.getHistory).
    #[default]
    Live,
    /// The gateway's mirror (no Telegram call; what the update stream has written).
    Mirror,
}

/// `GET …/messages`: newest first, ids below `before_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryQuery {
    #[serde(default)]
    pub source: HistorySource,
    #[serde(default)]
    pub before_id: Option<i32>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Search in one chat (`messages.search`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchQuery {
    pub query: String,
    #[serde(default)]
    pub before_id: Option<i32>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A chat (dialog) as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatView {
    pub id: i64,
    /// `user`, `bot`, `group`, `supergroup`, `channel`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub unread_count: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<i32>,
    /// Unix ms (from the mirror).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_at: Option<i64>,
    #[serde(default)]
    pub pinned: bool,
    #[serde(default)]
    pub archived: bool,
}

/// A page of chats from the mirror; pass `next` back as `after` for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatPage {
    pub chats: Vec<ChatView>,
    /// Opaque cursor, `None` on the last page.
    pub next: Option<String>,
}

/// `POST /v1/accounts/{account}/chats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateChat {
    /// `group` (basic group), `supergroup` or `channel`.
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub about: Option<String>,
    /// Users to add (required by Telegram for basic groups).
    #[serde(default)]
    pub members: Vec<PeerRef>,
}

/// Admin rights for promote (`POST …/members/{user}` with `promote`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminRights {
    #[serde(default)]
    pub change_info: bool,
    #[serde(default)]
    pub post_messages: bool,
    #[serde(default)]
    pub edit_messages: bool,
    #[serde(default)]
    pub delete_messages: bool,
    #[serde(default)]
    pub ban_users: bool,
    #[serde(default)]
    pub invite_users: bool,
    #[serde(default)]
    pub pin_messages: bool,
    #[serde(default)]
    pub add_admins: bool,
    #[serde(default)]
    pub manage_call: bool,
}

/// `POST …/invite-links`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateInviteLink {
    #[serde(default)]
    pub usage_limit: Option<i32>,
    /// Unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub request_needed: bool,
}

/// An invite link with its current use count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteLinkView {
    pub link: String,
    pub chat_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limit: Option<i32>,
    pub usage: i32,
    #[serde(default)]
    pub request_needed: bool,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    pub revoked: bool,
}

/// Someone who joined through a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteImporter {
    pub user_id: i64,
    /// Unix seconds.
    pub date: i64,
    #[serde(default)]
    pub requested: bool,
}

/// `POST /v1/accounts/{account}/contacts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportContact {
    pub phone: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
}

/// A contact: Telegram's fields plus the app's own (kept only in the gateway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactView {
    pub user_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default)]
    pub mutual: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// One of the account's Telegram sessions (`account.getAuthorizations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizationView {
    /// Pass to terminate; `0` is the current session (cannot be terminated this way).
    pub hash: i64,
    pub current: bool,
    pub device_model: String,
    pub platform: String,
    pub system_version: String,
    pub app_name: String,
    pub app_version: String,
    /// Unix seconds.
    pub created_at: i64,
    pub active_at: i64,
    pub ip: String,
    pub country: String,
}

/// A file whose parts are on Telegram already (`upload.saveFilePart` / `saveBigFilePart`),
/// ready to be sent once. Telegram keeps unsent parts for a limited time (hours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadedFile {
    pub file_id: i64,
    pub parts: i32,
    pub name: String,
    /// Uploaded with `saveBigFilePart` (files above 10 MB).
    pub big: bool,
}

/// How sent media is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A file (any type), with its name and mime type.
    #[default]
    Document,
    /// A compressed photo (JPEG/PNG); Telegram makes its sizes.
    Photo,
    /// A video (played inline, streamable), with its duration and size when known.
    Video,
    /// A music file (shown with a player), with its duration when known.
    Audio,
    /// A voice message (OGG/Opus, shown as a waveform).
    Voice,
}

/// A media message: an uploaded file plus a caption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SendMedia {
    pub kind: MediaKind,
    /// Documents: the mime type (default `application/octet-stream`).
    pub mime_type: Option<String>,
    pub caption: String,
    pub parse_mode: ParseMode,
    pub entities: Option<Vec<Entity>>,
    pub reply_to: Option<i32>,
    pub silent: bool,
    /// Video/audio/voice: the duration in seconds (Telegram shows 0:00 without it).
    pub duration: Option<u32>,
    /// Video: the width and height in pixels.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Per-call options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// An idempotency key (operations that create something on Telegram): a retry with the
    /// same key returns the first result; the same key with a different request fails with
    /// IDEMPOTENCY_KEY_REUSED. 1–255 visible ASCII characters.
    pub idempotency_key: Option<String>,
    /// Interactive callers that would rather fail at once than wait: any flood wait (and the
    /// gateway's own rate limiter) fails fast with `retry_after` instead of being slept
    /// through up to the threshold.
    pub fail_fast: bool,
}

impl CallOptions {
    pub fn key(key: impl Into<String>) -> Self {
        Self {
            idempotency_key: Some(key.into()),
            fail_fast: false,
        }
    }
}

/// OpenAPI schemas of the types with hand-written serde (strings on the wire).
#[cfg(feature = "openapi")]
mod schema {
    use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};

    fn string(description: &str, examples: &[&str]) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .examples(examples.iter().map(|e| serde_json::json!(e)))
            .build()
            .into()
    }

    impl utoipa::PartialSchema for super::PeerRef {
        fn schema() -> RefOr<Schema> {
            string(
                "A peer: a Bot API id (user `123`, basic group `-456`, channel `-100789`), \
                 `@username`, or `me`. Numbers are accepted too.",
                &["123", "-1001234567", "@alice", "me"],
            )
        }
    }
    impl utoipa::ToSchema for super::PeerRef {}

    impl utoipa::PartialSchema for super::AccountStateName {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The account's state."))
                .enum_values(Some(
                    telegate_store::AccountState::ALL.iter().map(|s| s.as_str()),
                ))
                .build()
                .into()
        }
    }
    impl utoipa::ToSchema for super::AccountStateName {
        fn name() -> std::borrow::Cow<'static, str> {
            "AccountState".into()
        }
    }

    impl utoipa::PartialSchema for crate::ErrorCode {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The product's stable error code."))
                .enum_values(Some(crate::ErrorCode::ALL.iter().map(|c| c.as_str())))
                .build()
                .into()
        }
    }
    impl utoipa::ToSchema for crate::ErrorCode {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_like_the_bot_api() {
        assert_eq!("123".parse::<PeerRef>().unwrap(), PeerRef::Id(123));
        assert_eq!("-456".parse::<PeerRef>().unwrap(), PeerRef::Id(-456));
        assert_eq!(
            "-1001234567".parse::<PeerRef>().unwrap(),
            PeerRef::Id(-1001234567)
        );
        assert_eq!("me".parse::<PeerRef>().unwrap(), PeerRef::Me);
        assert_eq!(
            "@Alice_B".parse::<PeerRef>().unwrap(),
            PeerRef::Username("alice_b".into())
        );
        for bad in ["", "0", "@a", "@9abc", "abc", "1.5", "@with space"] {
            let e = bad.parse::<PeerRef>().unwrap_err();
            assert_eq!(e.code, ErrorCode::PeerInvalid, "{bad:?}");
        }
        let v: PeerRef = serde_json::from_value(serde_json::json!(42)).unwrap();
        assert_eq!(v, PeerRef::Id(42));
        assert_eq!(serde_json::to_value(&v).unwrap(), serde_json::json!("42"));
    }

    #[test]
    fn login_steps_have_a_stable_shape() {
        let step = LoginStep::Password {
            hint: Some("pet".into()),
            expires_at: 5,
        };
        assert_eq!(
            serde_json::to_value(&step).unwrap(),
            serde_json::json!({"step": "password", "hint": "pet", "expires_at": 5})
        );
        let c: CreateAccount = serde_json::from_str(r#"{"phone":"+1555"}"#).unwrap();
        assert!(matches!(c, CreateAccount::Phone { .. }));
        let c: CreateAccount = serde_json::from_str(r#"{"bot_token":"1:x"}"#).unwrap();
        assert!(matches!(c, CreateAccount::Bot { .. }));
    }
}
