//! The product's one error model: every failure the gateway reports — a Telegram RPC error, a
//! connection problem, a validation failure, a storage fault — becomes a [`CoreError`] carrying a
//! stable [`ErrorCode`].
//!
//! Why one enum for the whole product: applications switch on `code` (the seed's app had ad-hoc
//! strings and mis-handled half of them). Each code has an HTTP status and a retry hint so the
//! API layer maps errors mechanically, and the names never change once released (new codes may
//! be added). The mapping from Telegram's RPC error names lives here and only here
//! ([`ErrorCode::from_rpc`]); unknown Telegram errors keep their original name in
//! [`CoreError::telegram`].
//!
//! Nothing in this module may carry secret material: messages are written by us, and Telegram's
//! error names never contain user data.

use std::fmt;

/// How a caller should treat a failed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryHint {
    /// Retrying the same request will fail the same way.
    Never,
    /// Retry after [`CoreError::retry_after`] seconds.
    After,
    /// A transient failure: retry with backoff.
    Backoff,
    /// Something must be done first (log in again, fix the account, wait for an admin).
    AfterAction,
}

macro_rules! error_codes {
    ($( $(#[$m:meta])* $variant:ident = ($name:literal, $status:literal, $hint:ident) ),+ $(,)?) => {
        /// Stable, product-wide error codes. The string form (`as_str`) is part of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $(#[$m])* $variant ),+ }

        impl ErrorCode {
            /// Every code, for documentation and exhaustive tests.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant ),+ ];

            /// The stable upper-case name, e.g. `FLOOD_WAIT`.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $name ),+ }
            }

            /// The HTTP status the API answers with (a number: this crate knows no HTTP).
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status ),+ }
            }

            /// What a caller should do about it.
            pub fn retry_hint(self) -> RetryHint {
                match self { $( ErrorCode::$variant => RetryHint::$hint ),+ }
            }

            /// Parses a stable name back (for clients and tests).
            pub fn parse(name: &str) -> Option<ErrorCode> {
                match name { $( $name => Some(ErrorCode::$variant), )+ _ => None }
            }
        }
    };
}

error_codes! {
    // ---- requests the gateway itself rejects -----------------------------------------------
    /// The request is malformed or a field is out of range; the message names the field.
    InvalidRequest = ("INVALID_REQUEST", 400, Never),
    /// No API token was presented, or it is unknown, revoked or expired.
    Unauthenticated = ("UNAUTHENTICATED", 401, AfterAction),
    /// The token is valid but its scopes do not allow this.
    Forbidden = ("FORBIDDEN", 403, Never),
    /// A gateway resource (webhook, token, upload, event cursor…) does not exist.
    NotFound = ("NOT_FOUND", 404, Never),
    /// The account does not exist (or is not visible to this token).
    AccountNotFound = ("ACCOUNT_NOT_FOUND", 404, Never),
    /// An account for this phone number or bot already exists.
    AccountExists = ("ACCOUNT_EXISTS", 409, Never),
    /// The same `Idempotency-Key` was used with a different request.
    IdempotencyKeyReused = ("IDEMPOTENCY_KEY_REUSED", 422, Never),
    /// The request with this `Idempotency-Key` is still being processed.
    IdempotencyInProgress = ("IDEMPOTENCY_IN_PROGRESS", 409, Backoff),
    /// The body is larger than the configured limit.
    PayloadTooLarge = ("PAYLOAD_TOO_LARGE", 413, Never),
    /// The operation did not finish within its deadline.
    Timeout = ("TIMEOUT", 504, Backoff),
    /// The gateway is shutting down.
    ShuttingDown = ("SHUTTING_DOWN", 503, Backoff),
    /// The account's request queue is full (backpressure): retry shortly.
    QueueFull = ("QUEUE_FULL", 503, After),
    /// The gateway's own rate limiter refused the call (fail-fast mode).
    RateLimited = ("RATE_LIMITED", 429, After),
    /// A bug or an unexpected internal failure (details are logged, never returned).
    Internal = ("INTERNAL", 500, Backoff),
    /// The database is unreachable or failing.
    StorageUnavailable = ("STORAGE_UNAVAILABLE", 503, Backoff),
    /// This process serves the API without the account runtime (so no Telegram operations).
    RuntimeUnavailable = ("RUNTIME_UNAVAILABLE", 503, Backoff),

    // ---- account state -----------------------------------------------------------------------
    /// The account has no authorized session: log in first.
    LoginRequired = ("LOGIN_REQUIRED", 409, AfterAction),
    /// The account is not connected right now (connecting or reconnecting).
    NotConnected = ("NOT_CONNECTED", 503, Backoff),
    /// Telegram revoked the session (AUTH_KEY_UNREGISTERED, SESSION_REVOKED…): log in again.
    SessionRevoked = ("SESSION_REVOKED", 409, AfterAction),
    /// The same auth key is used from somewhere else; Telegram killed it (AUTH_KEY_DUPLICATED).
    AuthKeyDuplicated = ("AUTH_KEY_DUPLICATED", 409, AfterAction),
    /// The Telegram account is deactivated or banned (USER_DEACTIVATED, USER_DEACTIVATED_BAN).
    AccountBanned = ("ACCOUNT_BANNED", 403, Never),
    /// The account gave up reconnecting; `details` carries the last error.
    AccountFailed = ("ACCOUNT_FAILED", 409, AfterAction),
    /// The account was stopped by an operator.
    AccountStopped = ("ACCOUNT_STOPPED", 409, AfterAction),
    /// Bots cannot do this (or only bots can).
    NotAllowedForAccountKind = ("NOT_ALLOWED_FOR_ACCOUNT_KIND", 403, Never),

    // ---- login ---------------------------------------------------------------------------------
    /// No login is in progress for this account, or the step does not match it.
    LoginStepInvalid = ("LOGIN_STEP_INVALID", 409, Never),
    /// The half-finished login expired; start again.
    LoginExpired = ("LOGIN_EXPIRED", 410, AfterAction),
    PhoneNumberInvalid = ("PHONE_NUMBER_INVALID", 400, Never),
    PhoneNumberBanned = ("PHONE_NUMBER_BANNED", 403, Never),
    /// The phone number has no Telegram account (sign-up is not supported by the gateway).
    PhoneNumberUnoccupied = ("PHONE_NUMBER_UNOCCUPIED", 404, Never),
    PhoneCodeEmpty = ("PHONE_CODE_EMPTY", 400, Never),
    PhoneCodeInvalid = ("PHONE_CODE_INVALID", 400, Never),
    PhoneCodeExpired = ("PHONE_CODE_EXPIRED", 400, AfterAction),
    /// The 2FA password is wrong (PASSWORD_HASH_INVALID).
    PasswordInvalid = ("PASSWORD_INVALID", 400, Never),
    /// The bot token is malformed or unknown (ACCESS_TOKEN_INVALID).
    BotTokenInvalid = ("BOT_TOKEN_INVALID", 400, Never),
    /// The QR login token expired before another device accepted it.
    QrTokenExpired = ("QR_TOKEN_EXPIRED", 410, AfterAction),

    // ---- rate limits -----------------------------------------------------------------------------
    /// Telegram asks to wait `retry_after` seconds (FLOOD_WAIT_X, FLOOD_PREMIUM_WAIT_X).
    FloodWait = ("FLOOD_WAIT", 429, After),
    /// Slow mode is on in this chat (SLOWMODE_WAIT_X).
    SlowmodeWait = ("SLOWMODE_WAIT", 429, After),
    /// The account is limited by Telegram for spam (PEER_FLOOD); the duration is unknown.
    PeerFlood = ("PEER_FLOOD", 429, AfterAction),

    // ---- peers, chats, members -------------------------------------------------------------------
    /// The peer is unknown to this account (bad id, no access hash, not resolvable).
    PeerNotFound = ("PEER_NOT_FOUND", 404, Never),
    /// The peer reference is malformed (not an id, `@username` or `me`).
    PeerInvalid = ("PEER_INVALID", 400, Never),
    UsernameNotOccupied = ("USERNAME_NOT_OCCUPIED", 404, Never),
    UsernameInvalid = ("USERNAME_INVALID", 400, Never),
    /// The channel is private or the account was removed from it (CHANNEL_PRIVATE).
    ChannelPrivate = ("CHANNEL_PRIVATE", 403, Never),
    /// Writing is not allowed here (CHAT_WRITE_FORBIDDEN, CHAT_SEND_*_FORBIDDEN…).
    ChatWriteForbidden = ("CHAT_WRITE_FORBIDDEN", 403, Never),
    /// Admin rights are needed (CHAT_ADMIN_REQUIRED, RIGHT_FORBIDDEN…).
    ChatAdminRequired = ("CHAT_ADMIN_REQUIRED", 403, Never),
    UserNotParticipant = ("USER_NOT_PARTICIPANT", 403, Never),
    UserAlreadyParticipant = ("USER_ALREADY_PARTICIPANT", 409, Never),
    UserBannedInChannel = ("USER_BANNED_IN_CHANNEL", 403, Never),
    /// The target user's privacy settings forbid this (USER_PRIVACY_RESTRICTED…).
    UserPrivacyRestricted = ("USER_PRIVACY_RESTRICTED", 403, Never),
    /// The user blocked this account, or is blocked by it (USER_IS_BLOCKED, YOU_BLOCKED_USER).
    UserBlocked = ("USER_BLOCKED", 403, Never),
    /// The chat or channel has too many members, or an invite link is used up (USERS_TOO_MUCH).
    UsersTooMuch = ("USERS_TOO_MUCH", 409, Never),
    ChatTitleInvalid = ("CHAT_TITLE_INVALID", 400, Never),

    // ---- messages ----------------------------------------------------------------------------
    MessageNotFound = ("MESSAGE_NOT_FOUND", 404, Never),
    MessageEmpty = ("MESSAGE_EMPTY", 400, Never),
    MessageTooLong = ("MESSAGE_TOO_LONG", 400, Never),
    MessageNotModified = ("MESSAGE_NOT_MODIFIED", 409, Never),
    MessageEditTimeExpired = ("MESSAGE_EDIT_TIME_EXPIRED", 403, Never),
    /// Formatting entities are malformed or out of bounds (ENTITY_BOUNDS_INVALID…).
    EntitiesInvalid = ("ENTITIES_INVALID", 400, Never),

    // ---- media and uploads -------------------------------------------------------------------
    /// The media cannot be sent as requested (MEDIA_INVALID, PHOTO_INVALID_DIMENSIONS…).
    MediaInvalid = ("MEDIA_INVALID", 422, Never),
    /// The file exceeds the account's size limit (2000 MiB, 4000 MiB premium, bot limits).
    FileTooLarge = ("FILE_TOO_LARGE", 413, Never),
    /// The declared type does not match the content, or the type is not supported.
    MediaTypeMismatch = ("MEDIA_TYPE_MISMATCH", 415, Never),
    UploadNotFound = ("UPLOAD_NOT_FOUND", 404, Never),
    /// The upload is not complete yet (tus offset below its length).
    UploadIncomplete = ("UPLOAD_INCOMPLETE", 409, Never),
    /// A tus PATCH at the wrong offset.
    UploadOffsetMismatch = ("UPLOAD_OFFSET_MISMATCH", 409, Never),
    /// The upload was not finished before its `Upload-Expires` (tus expiration); start anew.
    UploadExpired = ("UPLOAD_EXPIRED", 410, Never),
    MediaNotFound = ("MEDIA_NOT_FOUND", 404, Never),
    RangeNotSatisfiable = ("RANGE_NOT_SATISFIABLE", 416, Never),
    /// A file reference went stale and could not be refreshed.
    FileReferenceExpired = ("FILE_REFERENCE_EXPIRED", 409, Backoff),

    // ---- invite links ------------------------------------------------------------------------
    InviteHashInvalid = ("INVITE_HASH_INVALID", 404, Never),
    /// The link is revoked, expired or used up (INVITE_HASH_EXPIRED).
    InviteHashExpired = ("INVITE_HASH_EXPIRED", 410, Never),
    /// The link needs an admin's approval; the request was sent (INVITE_REQUEST_SENT).
    InviteRequestSent = ("INVITE_REQUEST_SENT", 202, Never),

    // ---- contacts ------------------------------------------------------------------------------
    ContactNotFound = ("CONTACT_NOT_FOUND", 404, Never),

    // ---- Telegram errors without a product code (the original name is in `telegram`) ----------
    /// A 400-class Telegram error the gateway does not name.
    TelegramBadRequest = ("TELEGRAM_BAD_REQUEST", 400, Never),
    /// A 403-class Telegram error the gateway does not name.
    TelegramForbidden = ("TELEGRAM_FORBIDDEN", 403, Never),
    /// Telegram had an internal problem (500, -503, RPC_CALL_FAIL…): retry later.
    TelegramUnavailable = ("TELEGRAM_UNAVAILABLE", 502, Backoff),
    /// Any other Telegram error.
    TelegramError = ("TELEGRAM_ERROR", 502, Never),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The Telegram error behind a [`CoreError`], kept verbatim for the details.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TelegramErrorInfo {
    /// Telegram's numeric class (400, 401, 403, 420, 500, …).
    pub code: i32,
    /// The full name as Telegram sent it, digits included (e.g. `FLOOD_WAIT_31`).
    pub name: String,
}

impl ErrorCode {
    /// Maps a Telegram RPC error (grammers splits `FLOOD_WAIT_31` into name `FLOOD_WAIT` and
    /// value 31; pass them as grammers gives them) to the product code. Returns the code and,
    /// for waits, the seconds to wait.
    pub fn from_rpc(code: i32, name: &str, value: Option<u32>) -> (ErrorCode, Option<u32>) {
        use ErrorCode as E;
        let mapped = match name {
            "FLOOD_WAIT" | "FLOOD_PREMIUM_WAIT" | "FLOOD_TEST_PHONE_WAIT" => {
                return (E::FloodWait, value)
            }
            "SLOWMODE_WAIT" => return (E::SlowmodeWait, value),
            "PEER_FLOOD" => E::PeerFlood,
            "AUTH_KEY_UNREGISTERED"
            | "SESSION_REVOKED"
            | "SESSION_EXPIRED"
            | "AUTH_KEY_INVALID"
            | "AUTH_KEY_PERM_EMPTY"
            | "USER_DEACTIVATED_REQUIRED" => E::SessionRevoked,
            "AUTH_KEY_DUPLICATED" => E::AuthKeyDuplicated,
            "USER_DEACTIVATED" | "USER_DEACTIVATED_BAN" => E::AccountBanned,
            "SESSION_PASSWORD_NEEDED" => E::LoginStepInvalid,
            "PHONE_NUMBER_INVALID" | "PHONE_NUMBER_FLOOD" => {
                if name == "PHONE_NUMBER_FLOOD" {
                    E::PeerFlood
                } else {
                    E::PhoneNumberInvalid
                }
            }
            "PHONE_NUMBER_BANNED" => E::PhoneNumberBanned,
            "PHONE_NUMBER_UNOCCUPIED" => E::PhoneNumberUnoccupied,
            "PHONE_CODE_EMPTY" => E::PhoneCodeEmpty,
            "PHONE_CODE_INVALID" => E::PhoneCodeInvalid,
            "PHONE_CODE_EXPIRED" => E::PhoneCodeExpired,
            "PASSWORD_HASH_INVALID" | "SRP_PASSWORD_CHANGED" => E::PasswordInvalid,
            "SRP_ID_INVALID" => E::LoginExpired,
            "ACCESS_TOKEN_INVALID" | "ACCESS_TOKEN_EXPIRED" | "BOT_INVALID" => E::BotTokenInvalid,
            "AUTH_TOKEN_EXPIRED" | "AUTH_TOKEN_INVALID" | "AUTH_TOKEN_ALREADY_ACCEPTED" => {
                E::QrTokenExpired
            }
            "PEER_ID_INVALID"
            | "INPUT_USER_DEACTIVATED"
            | "USER_ID_INVALID"
            | "CHAT_ID_INVALID"
            | "CHANNEL_INVALID"
            | "USER_INVALID"
            | "CONTACT_ID_INVALID" => E::PeerNotFound,
            "USERNAME_NOT_OCCUPIED" => E::UsernameNotOccupied,
            "USERNAME_INVALID" => E::UsernameInvalid,
            "CHANNEL_PRIVATE" | "CHANNEL_PUBLIC_GROUP_NA" => E::ChannelPrivate,
            "CHAT_WRITE_FORBIDDEN" | "CHAT_RESTRICTED" | "CHAT_GUEST_SEND_FORBIDDEN" => {
                E::ChatWriteForbidden
            }
            n if n.starts_with("CHAT_SEND_") && n.ends_with("_FORBIDDEN") => E::ChatWriteForbidden,
            "CHAT_ADMIN_REQUIRED"
            | "RIGHT_FORBIDDEN"
            | "ADMINS_TOO_MUCH"
            | "ADMIN_RANK_INVALID"
            | "CHAT_ADMIN_INVITE_REQUIRED"
            | "USER_NOT_MUTUAL_CONTACT" => {
                if name == "USER_NOT_MUTUAL_CONTACT" {
                    E::UserPrivacyRestricted
                } else {
                    E::ChatAdminRequired
                }
            }
            "USER_NOT_PARTICIPANT" => E::UserNotParticipant,
            "USER_ALREADY_PARTICIPANT" => E::UserAlreadyParticipant,
            "USER_BANNED_IN_CHANNEL" | "USER_KICKED" => E::UserBannedInChannel,
            "USER_PRIVACY_RESTRICTED" | "USER_CHANNELS_TOO_MUCH" => E::UserPrivacyRestricted,
            "USER_IS_BLOCKED" | "YOU_BLOCKED_USER" => E::UserBlocked,
            "USERS_TOO_MUCH" | "CHANNELS_TOO_MUCH" => E::UsersTooMuch,
            "CHAT_TITLE_EMPTY" | "CHAT_TITLE_NOT_MODIFIED" => E::ChatTitleInvalid,
            "MESSAGE_ID_INVALID" | "MESSAGE_IDS_EMPTY" | "MSG_ID_INVALID" => E::MessageNotFound,
            "MESSAGE_EMPTY" => E::MessageEmpty,
            "MESSAGE_TOO_LONG" | "MEDIA_CAPTION_TOO_LONG" => E::MessageTooLong,
            "MESSAGE_NOT_MODIFIED" => E::MessageNotModified,
            "MESSAGE_EDIT_TIME_EXPIRED" | "MESSAGE_AUTHOR_REQUIRED" => E::MessageEditTimeExpired,
            "ENTITY_BOUNDS_INVALID" | "ENTITIES_TOO_LONG" | "ENTITY_MENTION_USER_INVALID" => {
                E::EntitiesInvalid
            }
            "MEDIA_INVALID"
            | "MEDIA_EMPTY"
            | "PHOTO_INVALID_DIMENSIONS"
            | "PHOTO_EXT_INVALID"
            | "PHOTO_SAVE_FILE_INVALID"
            | "PHOTO_INVALID"
            | "FILE_PARTS_INVALID"
            | "FILE_PART_INVALID"
            | "FILE_PART_EMPTY"
            | "FILE_PART_SIZE_INVALID"
            | "FILE_PART_SIZE_CHANGED"
            | "FILE_PART_MISSING"
            | "MD5_CHECKSUM_INVALID"
            | "FILE_ID_INVALID"
            | "DOCUMENT_INVALID" => E::MediaInvalid,
            "FILE_PART_TOO_BIG" | "FILE_PARTS_TOO_MUCH" | "FILE_TOO_BIG" => E::FileTooLarge,
            "FILE_REFERENCE_EXPIRED" | "FILE_REFERENCE_INVALID" => E::FileReferenceExpired,
            "LOCATION_INVALID" => E::MediaNotFound,
            "INVITE_HASH_INVALID" | "INVITE_HASH_EMPTY" => E::InviteHashInvalid,
            "INVITE_HASH_EXPIRED" => E::InviteHashExpired,
            "INVITE_REQUEST_SENT" => E::InviteRequestSent,
            "CONTACT_ADD_MISSING" | "CONTACT_NAME_EMPTY" => E::ContactNotFound,
            "RPC_CALL_FAIL"
            | "RPC_MCGET_FAIL"
            | "TIMEOUT"
            | "PERSISTENT_TIMESTAMP_OUTDATED"
            | "INTERDC_CALL_ERROR"
            | "INTERDC_CALL_RICH_ERROR"
            | "WORKER_BUSY_TOO_LONG_RETRY"
            | "MEMBER_OCCUPY_PRIMARY_LOC_FAILED"
            | "NEED_MEMBER_INVALID" => E::TelegramUnavailable,
            _ => match code {
                401 => E::SessionRevoked,
                403 => E::TelegramForbidden,
                420 => return (E::FloodWait, value),
                c if !(0..500).contains(&c) => E::TelegramUnavailable,
                400 => E::TelegramBadRequest,
                _ => E::TelegramError,
            },
        };
        (mapped, None)
    }
}

/// An error as the product reports it.
///
/// `message` is written for the application developer and never contains secrets or internal
/// details; `internal` (logged by the API layer, never returned) keeps the cause.
#[derive(Debug)]
pub struct CoreError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait before retrying, when Telegram or the gateway said so.
    pub retry_after: Option<u32>,
    /// The Telegram RPC error behind this one, verbatim.
    pub telegram: Option<TelegramErrorInfo>,
    /// The underlying cause, for logs only.
    pub internal: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl CoreError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
            telegram: None,
            internal: None,
        }
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_internal(
        mut self,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.internal = Some(cause.into());
        self
    }

    /// An unexpected failure: the message is generic, the cause goes to the logs.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(ErrorCode::Internal, "internal error").with_internal(cause)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// Builds the product error for a Telegram RPC error (grammers' split name and value).
    pub fn from_rpc(code: i32, name: &str, value: Option<u32>) -> Self {
        let (mapped, retry_after) = ErrorCode::from_rpc(code, name, value);
        let full_name = match value {
            Some(v) if !name.contains(char::is_numeric) => restore_value(name, v),
            _ => name.to_string(),
        };
        let message = match mapped {
            ErrorCode::FloodWait | ErrorCode::SlowmodeWait => format!(
                "Telegram asks to wait {} seconds ({full_name})",
                retry_after.unwrap_or(0)
            ),
            _ => format!("Telegram answered {code} {full_name}"),
        };
        Self {
            code: mapped,
            message,
            retry_after,
            telegram: Some(TelegramErrorInfo {
                code,
                name: full_name,
            }),
            internal: None,
        }
    }

    /// The HTTP status for this error (see [`ErrorCode::http_status`]).
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }
}

/// grammers strips the number out of names like `FLOOD_WAIT_31` (or `FILE_MIGRATE_2`,
/// `FILE_PART_3_MISSING`): put it back where a Telegram name has it.
fn restore_value(name: &str, value: u32) -> String {
    // Names whose number sits inside: FILE_PART_3_MISSING, INTERDC_2_CALL_ERROR.
    const INNER: &[(&str, &str)] = &[("FILE_PART_", "MISSING"), ("INTERDC_", "CALL_ERROR")];
    for (prefix, rest) in INNER {
        if name.strip_prefix(prefix) == Some(rest) {
            return format!("{prefix}{value}_{rest}");
        }
    }
    format!("{name}_{value}")
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.internal.as_deref().map(|e| e as _)
    }
}

impl From<telegate_store::StoreError> for CoreError {
    fn from(e: telegate_store::StoreError) -> Self {
        use telegate_store::StoreError as S;
        match e {
            S::NotFound { what } => {
                CoreError::new(ErrorCode::NotFound, format!("{what} not found"))
            }
            S::Invalid(msg) => CoreError::invalid(msg),
            S::SessionFormat(f) => CoreError::invalid(f.to_string()),
            S::Database(_) => {
                CoreError::new(ErrorCode::StorageUnavailable, "the database is unavailable")
                    .with_internal(e)
            }
            other => CoreError::internal(other),
        }
    }
}

impl From<telegate_store::SessionFormatError> for CoreError {
    fn from(e: telegate_store::SessionFormatError) -> Self {
        CoreError::invalid(format!("session: {e}"))
    }
}

pub type CoreResult<T> = Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                seen.insert(code.as_str()),
                "duplicate name {}",
                code.as_str()
            );
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            assert!(code
                .as_str()
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_'));
        }
    }

    #[test]
    fn flood_waits_carry_their_seconds() {
        let e = CoreError::from_rpc(420, "FLOOD_WAIT", Some(300));
        assert_eq!(e.code, ErrorCode::FloodWait);
        assert_eq!(e.retry_after, Some(300));
        assert_eq!(e.http_status(), 429);
        assert_eq!(e.telegram.as_ref().unwrap().name, "FLOOD_WAIT_300");
        let e = CoreError::from_rpc(420, "FLOOD_PREMIUM_WAIT", Some(5));
        assert_eq!((e.code, e.retry_after), (ErrorCode::FloodWait, Some(5)));
        let e = CoreError::from_rpc(420, "SLOWMODE_WAIT", Some(10));
        assert_eq!((e.code, e.retry_after), (ErrorCode::SlowmodeWait, Some(10)));
    }

    #[test]
    fn revocations_and_bans_are_told_apart() {
        for name in ["AUTH_KEY_UNREGISTERED", "SESSION_REVOKED"] {
            assert_eq!(
                ErrorCode::from_rpc(401, name, None).0,
                ErrorCode::SessionRevoked
            );
        }
        assert_eq!(
            ErrorCode::from_rpc(406, "AUTH_KEY_DUPLICATED", None).0,
            ErrorCode::AuthKeyDuplicated
        );
        for name in ["USER_DEACTIVATED", "USER_DEACTIVATED_BAN"] {
            assert_eq!(
                ErrorCode::from_rpc(401, name, None).0,
                ErrorCode::AccountBanned
            );
        }
    }

    #[test]
    fn unknown_errors_keep_their_telegram_name() {
        let e = CoreError::from_rpc(400, "SOMETHING_NEW_HAPPENED", None);
        assert_eq!(e.code, ErrorCode::TelegramBadRequest);
        assert_eq!(e.telegram.unwrap().name, "SOMETHING_NEW_HAPPENED");
        let e = CoreError::from_rpc(500, "ODD_SERVER_THING", None);
        assert_eq!(e.code, ErrorCode::TelegramUnavailable);
        assert_eq!(e.code.retry_hint(), RetryHint::Backoff);
    }

    #[test]
    fn numbers_go_back_where_telegram_puts_them() {
        assert_eq!(restore_value("FILE_MIGRATE", 2), "FILE_MIGRATE_2");
        assert_eq!(restore_value("FILE_PART_MISSING", 3), "FILE_PART_3_MISSING");
    }
}
