//! Plain data types exchanged with the store.
//!
//! Why separate from the SQL: the runtime and the API layers use these types without ever seeing
//! SQL or a driver type. Secret-bearing types ([`AuthKey`], [`PendingLogin::secret_state`], …)
//! wrap `secrecy` boxes: zeroized on drop, redacted in `Debug`.

use std::fmt;
use std::net::{SocketAddrV4, SocketAddrV6};
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretBox, SecretSlice};

use crate::error::StoreError;

/// Milliseconds since the Unix epoch, the store's time unit.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            /// The stable name stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }
        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    other => Err(StoreError::Corrupt(format!(
                        concat!("unknown ", stringify!($name), " {:?}"), other
                    ))),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// A user account (phone login) or a bot (token login).
    AccountKind { User = "user", Bot = "bot" }
);

str_enum!(
    /// The account runtime's state machine (issue 6), persisted on every transition.
    AccountState {
        LoginRequired = "login_required",
        LoggingIn = "logging_in",
        Connecting = "connecting",
        Connected = "connected",
        Reconnecting = "reconnecting",
        Unauthorized = "unauthorized",
        Banned = "banned",
        Failed = "failed",
        Stopped = "stopped",
    }
);

str_enum!(
    /// Security-relevant actions recorded in the audit log.
    AuditAction {
        AccountCreated = "account_created",
        AccountDeleted = "account_deleted",
        Login = "login",
        Logout = "logout",
        LoginExpired = "login_expired",
        SessionImport = "session_import",
        SessionExport = "session_export",
        SessionRevoked = "session_revoked",
        SessionsPurged = "sessions_purged",
        KeyRotationStarted = "key_rotation_started",
        KeyRotationFinished = "key_rotation_finished",
        TokenCreated = "token_created",
        TokenRevoked = "token_revoked",
        WebhookCreated = "webhook_created",
        WebhookDeleted = "webhook_deleted",
    }
);

/// A Telegram account managed by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub kind: AccountKind,
    pub phone: Option<String>,
    /// For bots: the bot's user id (the token's prefix).
    pub bot_id: Option<i64>,
    /// Telegram user id once authorized.
    pub user_id: Option<i64>,
    pub label: Option<String>,
    pub state: AccountState,
    pub state_reason: Option<String>,
    pub home_dc: i32,
    pub api_id: Option<i32>,
    pub test_mode: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
    pub last_connected_at: Option<i64>,
    /// Set when the session was revoked; the keys are purged after the retention period.
    pub revoked_at: Option<i64>,
}

/// What [`crate::Store::create_account`] needs.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub kind: AccountKind,
    pub phone: Option<String>,
    pub bot_id: Option<i64>,
    pub label: Option<String>,
    pub state: AccountState,
    pub home_dc: i32,
    pub api_id: Option<i32>,
    pub test_mode: bool,
}

impl NewAccount {
    pub fn user(phone: impl Into<String>) -> Self {
        Self {
            kind: AccountKind::User,
            phone: Some(phone.into()),
            bot_id: None,
            label: None,
            state: AccountState::LoginRequired,
            home_dc: 2,
            api_id: None,
            test_mode: false,
        }
    }

    pub fn bot(bot_id: i64) -> Self {
        Self {
            kind: AccountKind::Bot,
            phone: None,
            bot_id: Some(bot_id),
            ..Self::user("")
        }
        .without_phone()
    }

    fn without_phone(mut self) -> Self {
        self.phone = None;
        self
    }
}

/// A 256-byte MTProto auth key. Zeroized on drop, never printed.
pub struct AuthKey(SecretBox<[u8; 256]>);

impl AuthKey {
    pub fn new(bytes: &[u8; 256]) -> Self {
        let mut b = SecretBox::new(Box::new([0u8; 256]));
        secrecy::ExposeSecretMut::expose_secret_mut(&mut b).copy_from_slice(bytes);
        Self(b)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 256 {
            return None;
        }
        let bytes: &[u8; 256] = bytes.try_into().ok()?;
        Some(Self::new(bytes))
    }

    pub fn expose(&self) -> &[u8; 256] {
        self.0.expose_secret()
    }

    /// MTProto's auth_key_id (low 64 bits of SHA-1 of the key) is not computed here on purpose:
    /// this crate only needs a non-secret identifier for logs, see [`AuthKey::fingerprint`].
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let h = sha2::Sha256::digest(self.expose());
        hex::encode(&h[..6])
    }
}

impl Clone for AuthKey {
    fn clone(&self) -> Self {
        Self::new(self.expose())
    }
}

impl PartialEq for AuthKey {
    fn eq(&self, other: &Self) -> bool {
        // Not constant time; only used by tests and idempotence checks.
        self.expose()[..] == other.expose()[..]
    }
}
impl Eq for AuthKey {}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthKey([REDACTED], fingerprint {})", self.fingerprint())
    }
}

/// One DC of an account's session: address and (sealed at rest) auth key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcSession {
    pub dc_id: i32,
    pub ipv4: Option<SocketAddrV4>,
    pub ipv6: Option<SocketAddrV6>,
    pub auth_key: Option<AuthKey>,
    pub revoked_at: Option<i64>,
}

/// Kind of a cached peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    User = 1,
    Chat = 2,
    Channel = 3,
}

impl PeerKind {
    pub fn from_i32(v: i32) -> Result<Self, StoreError> {
        match v {
            1 => Ok(Self::User),
            2 => Ok(Self::Chat),
            3 => Ok(Self::Channel),
            _ => Err(StoreError::Corrupt(format!("peer kind {v}"))),
        }
    }
}

/// A cached peer. `peer_id` is the Bot API dialog id; `bare_id` the id Telegram uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPeer {
    pub peer_id: i64,
    pub kind: PeerKind,
    pub access_hash: Option<i64>,
    pub is_bot: Option<bool>,
    pub is_self: bool,
    /// grammers' `ChannelKind` discriminant (1 broadcast, 2 megagroup, 3 gigagroup, 4 community).
    pub channel_kind: Option<i32>,
    pub username: Option<String>,
    pub phone: Option<String>,
    pub display_name: Option<String>,
}

/// Everything needed to start one account's client: what start-up restores.
#[derive(Debug, Clone)]
pub struct SessionSnapshot {
    pub account: Account,
    pub dcs: Vec<DcSession>,
    pub updates: grammers_session::types::UpdatesState,
    pub self_peer: Option<CachedPeer>,
    /// Filled only when asked for ([`PeerPreload::All`]).
    pub peers: Vec<CachedPeer>,
}

/// Whether [`crate::Store::load_session`] loads the whole peer cache or leaves it lazy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerPreload {
    /// Peers are read from the store on first use (the default: 10,000 accounts × 1,000 peers
    /// would otherwise sit in memory).
    #[default]
    Lazy,
    All,
}

/// An event to append to the durable log.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub account_id: Option<i64>,
    pub kind: String,
    pub payload: serde_json::Value,
}

/// An event read back from the log; `id` is monotonic in commit order.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub account_id: Option<i64>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: i64,
}

/// An audit entry to record. `details` must never hold secrets.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub account_id: Option<i64>,
    pub actor: String,
    pub action: AuditAction,
    pub details: serde_json::Value,
}

impl AuditEntry {
    pub fn new(actor: impl Into<String>, action: AuditAction) -> Self {
        Self {
            account_id: None,
            actor: actor.into(),
            action,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn account(mut self, account_id: i64) -> Self {
        self.account_id = Some(account_id);
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// An audit record read back.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub account_id: Option<i64>,
    pub actor: String,
    /// The stored name (see [`AuditAction::as_str`]); kept a string so that old readers
    /// survive new actions.
    pub action: String,
    pub details: serde_json::Value,
    pub created_at: i64,
}

/// What [`crate::Store::create_api_token`] needs.
#[derive(Debug, Clone, Default)]
pub struct NewApiToken {
    pub name: String,
    pub scopes: Vec<String>,
    pub account_id: Option<i64>,
    pub expires_at: Option<i64>,
}

/// An API token's metadata (the token itself is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub account_id: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A half-finished login. `secret_state` (e.g. phone_code_hash, the SRP state, a QR token) is
/// sealed at rest; the runtime decides its encoding.
pub struct PendingLogin {
    pub account_id: i64,
    pub flow: String,
    pub step: String,
    pub dc_id: i32,
    pub phone: Option<String>,
    pub secret_state: Option<SecretSlice<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("account_id", &self.account_id)
            .field("flow", &self.flow)
            .field("step", &self.step)
            .field("dc_id", &self.dc_id)
            .field("phone", &self.phone)
            .field(
                "secret_state",
                &self.secret_state.as_ref().map(|_| "[REDACTED]"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A chat in the mirror (sortable without asking Telegram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub peer_id: i64,
    pub kind: String,
    pub title: Option<String>,
    pub username: Option<String>,
    pub unread_count: i32,
    pub last_message_id: Option<i32>,
    pub last_message_at: Option<i64>,
    pub pinned: bool,
    pub archived: bool,
}

/// A message in the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub peer_id: i64,
    pub message_id: i32,
    pub sender_id: Option<i64>,
    pub date: i64,
    pub text: Option<String>,
    /// JSON array of message entities.
    pub entities: Option<String>,
    /// JSON media reference.
    pub media: Option<String>,
    pub reply_to_id: Option<i32>,
    pub outgoing: bool,
    pub edit_date: Option<i64>,
    pub deleted: bool,
}

/// A contact: Telegram's fields plus nullable app fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    pub user_id: i64,
    pub access_hash: Option<i64>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub mutual: bool,
    pub job_title: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
}

/// An invite link of a chat the account administers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteLink {
    pub link: String,
    pub peer_id: i64,
    pub title: Option<String>,
    pub admin_id: Option<i64>,
    pub usage_limit: Option<i32>,
    pub current_uses: i32,
    pub request_needed: bool,
    pub expire_at: Option<i64>,
    pub revoked: bool,
}

/// A resumable upload: which parts Telegram already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub account_id: i64,
    pub file_id: i64,
    pub name: String,
    pub mime_type: Option<String>,
    pub total_size: i64,
    pub part_size: i32,
    pub total_parts: i32,
    pub big: bool,
    /// Bitmap: bit `i` set = part `i` saved.
    pub parts_done: Vec<u8>,
    pub state: String,
    pub expires_at: i64,
    /// What the content checks found once the bytes were complete: `image WxH` (a decodable
    /// image) or `invalid: <reason>`; `None` when not an image or not checked.
    pub media_check: Option<String>,
}

impl Upload {
    pub fn part_done(&self, part: i32) -> bool {
        let (byte, bit) = (part as usize / 8, part as usize % 8);
        self.parts_done
            .get(byte)
            .is_some_and(|b| b & (1 << bit) != 0)
    }

    pub fn missing_parts(&self) -> Vec<i32> {
        (0..self.total_parts)
            .filter(|p| !self.part_done(*p))
            .collect()
    }
}

/// What [`crate::Store::create_webhook`] needs.
pub struct NewWebhook {
    pub account_id: Option<i64>,
    pub url: String,
    pub secret: Option<secrecy::SecretString>,
    pub event_filter: String,
    /// Free text for operators.
    pub description: Option<String>,
}

/// A webhook (its secret is only available through [`crate::Store::webhook_secret`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub account_id: Option<i64>,
    pub url: String,
    pub has_secret: bool,
    pub event_filter: String,
    pub enabled: bool,
    pub created_at: i64,
    pub description: Option<String>,
    /// Only events with a greater id are delivered (the log's end when it was created).
    pub start_after_event_id: i64,
    pub updated_at: i64,
}

/// A delivery of one event to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts in the current retry window (reset by a manual redelivery).
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    /// When the current retry window began (enqueue or redelivery).
    pub window_started_at: i64,
}

/// Changes to a webhook; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub url: Option<String>,
    pub event_filter: Option<String>,
    pub enabled: Option<bool>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub id: i64,
    pub delivery_id: i64,
    pub attempted_at: i64,
    pub status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Which deliveries [`crate::Store::webhook_deliveries`] lists.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub webhook_id: i64,
    /// `pending`, `delivered` or `dead`; `None` for all.
    pub state: Option<String>,
    /// Newest first; only ids below this one (the cursor).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Result of one delivery attempt.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    Delivered {
        status: i32,
    },
    Retry {
        status: Option<i32>,
        error: String,
        next_attempt_at: i64,
    },
    Dead {
        status: Option<i32>,
        error: String,
    },
}

/// Everything the runtime writes for one batch of updates, applied in one transaction.
#[derive(Default)]
pub struct UpdateBatch {
    pub account_id: i64,
    pub events: Vec<NewEvent>,
    pub chats: Vec<Chat>,
    pub messages: Vec<Message>,
    /// `(peer_id or None for "any peer of this account", message ids)` to mark deleted.
    pub deleted: Vec<(Option<i64>, Vec<i32>)>,
    pub peers: Vec<CachedPeer>,
    pub state: Vec<grammers_session::types::UpdateState>,
    /// Incremental chat-mirror changes (new message, read receipt) that must not overwrite
    /// newer data: see [`ChatActivity`].
    pub chat_activity: Vec<ChatActivity>,
}

/// An incremental change to one mirrored chat, merged into the row rather than replacing it:
/// `last_message_*` only moves forward, `unread_delta` is added, and `unread_count` (a read
/// receipt's "still unread") replaces the counter; `title`/`username` update when present.
/// A missing chat row is created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatActivity {
    pub peer_id: i64,
    pub kind: String,
    pub title: Option<String>,
    pub username: Option<String>,
    pub last_message_id: Option<i32>,
    /// Unix milliseconds, like every store time.
    pub last_message_at: Option<i64>,
    pub unread_delta: i32,
    pub unread_count: Option<i32>,
}

/// Keyset cursor for [`crate::Store::chats_page`]: the last chat of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatCursor {
    pub last_message_at: Option<i64>,
    pub peer_id: i64,
}

/// The recorded outcome of an operation that carried an idempotency key: a retry with the same
/// key and the same request (same `fingerprint`) gets `outcome` back instead of acting twice.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub account_id: i64,
    pub key: String,
    /// A hash of the request (never the request itself: it may hold message text).
    pub fingerprint: String,
    /// The operation's result as JSON (e.g. the sent message).
    pub outcome: serde_json::Value,
    pub created_at: i64,
}

impl fmt::Debug for UpdateBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateBatch")
            .field("account_id", &self.account_id)
            .field("events", &self.events.len())
            .field("chats", &self.chats.len())
            .field("messages", &self.messages.len())
            .field("deleted", &self.deleted.len())
            .field("peers", &self.peers.len())
            .field("state", &self.state.len())
            .field("chat_activity", &self.chat_activity.len())
            .finish()
    }
}

/// Options of [`crate::Store::rotate_keys`].
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// Rows re-encrypted per transaction.
    pub batch_size: u32,
    /// Test hook: stop (as if killed) after this many batches.
    pub stop_after_batches: Option<u64>,
    pub actor: String,
}

impl Default for RotateOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            stop_after_batches: None,
            actor: "system".into(),
        }
    }
}

/// Progress reported after every batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationProgress {
    pub target_key_id: u32,
    pub table: &'static str,
    /// Rows re-encrypted so far, over all runs of this rotation.
    pub done: u64,
    /// Rows done + rows still under an old key.
    pub total: u64,
}

/// How a rotation run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationOutcome {
    /// Every secret is under the new key; old keys retired.
    Finished { retired: Vec<u32> },
    /// Stopped by [`RotateOptions::stop_after_batches`]; run again to resume.
    Interrupted,
}

/// Report of [`crate::Store::rotate_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub target_key_id: u32,
    pub resumed: bool,
    pub rows_done: u64,
    pub outcome: RotationOutcome,
}

/// A data key as listed by [`crate::Store::vault_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultKeyInfo {
    pub id: u32,
    pub state: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

pub(crate) fn secret_bytes(bytes: &[u8]) -> SecretSlice<u8> {
    SecretSlice::from(bytes.to_vec())
}
