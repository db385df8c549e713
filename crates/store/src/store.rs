//! The one storage trait the rest of telegate programs against.
//!
//! Why a trait: the runtime, the API and the CLI hold an `Arc<dyn Store>` and never see SQL or a
//! driver; the SQLite and PostgreSQL backends (see [`crate::sql`]) are chosen at run time from
//! `DATABASE_URL`. The trait is object-safe (`async_trait` boxes the futures).
//!
//! Times are Unix milliseconds. Methods that take `now`/cut-off arguments do so to keep hygiene
//! jobs testable without sleeping.

use async_trait::async_trait;
use grammers_session::types::{UpdateState, UpdatesState};
use secrecy::SecretString;

use crate::error::Result;
use crate::model::*;
use crate::session_formats::{ImportedSession, SessionFormat};
use crate::vault::Vault;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What [`Store::import_session`] needs. Parse first (see [`crate::session_formats`]): a parse
/// error means nothing is written.
pub struct ImportRequest {
    pub session: ImportedSession,
    pub format: SessionFormat,
    /// The original string (or the file's bytes, base64), kept sealed for audited re-export.
    pub source: Option<SecretString>,
    pub kind: AccountKind,
    pub phone: Option<String>,
    pub label: Option<String>,
    pub actor: String,
}

/// The storage interface. Every method is one transaction unless stated otherwise.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> Backend;
    /// The key ring (read-only use: sealing/opening is done by the store).
    fn vault(&self) -> &Vault;
    /// Applies pending migrations (also done at open).
    async fn migrate(&self) -> Result<()>;
    /// Closes the pool.
    async fn close(&self);

    // ---- vault ---------------------------------------------------------------------------
    /// Re-reads the data keys from the database (another process may have rotated).
    async fn reload_keys(&self) -> Result<()>;
    async fn vault_keys(&self) -> Result<Vec<VaultKeyInfo>>;
    /// Re-encrypts every secret under a new data key, online, in batches; resumes an
    /// interrupted rotation; retires the old keys at the end. Idempotent.
    async fn rotate_keys(
        &self,
        opts: RotateOptions,
        progress: &mut (dyn FnMut(RotationProgress) + Send),
    ) -> Result<RotationReport>;

    // ---- accounts ------------------------------------------------------------------------
    async fn create_account(&self, new: NewAccount, actor: &str) -> Result<Account>;
    async fn account(&self, id: i64) -> Result<Option<Account>>;
    async fn accounts(&self) -> Result<Vec<Account>>;
    async fn set_account_state(
        &self,
        id: i64,
        state: AccountState,
        reason: Option<&str>,
    ) -> Result<()>;
    /// Records the logged-in user (after sign-in); clears a previous revocation mark.
    async fn set_account_user(&self, id: i64, user_id: i64, phone: Option<&str>) -> Result<()>;
    async fn set_home_dc(&self, id: i64, dc_id: i32) -> Result<()>;
    /// Last-used tracking (an API call used this account).
    async fn touch_account(&self, id: i64, now: i64) -> Result<()>;
    /// Last-connected tracking.
    async fn mark_connected(&self, id: i64, now: i64) -> Result<()>;
    async fn delete_account(&self, id: i64, actor: &str) -> Result<bool>;

    // ---- sessions ------------------------------------------------------------------------
    async fn dc_sessions(&self, account_id: i64) -> Result<Vec<DcSession>>;
    /// Upserts one DC (address and, if present, its auth key, sealed). A `None` key leaves a
    /// stored key untouched.
    async fn put_dc_session(&self, account_id: i64, dc: &DcSession) -> Result<()>;
    /// Everything to start one account's client.
    async fn load_session(
        &self,
        account_id: i64,
        peers: PeerPreload,
    ) -> Result<Option<SessionSnapshot>>;
    /// Start-up: every account that is not revoked, in a few bulk queries.
    async fn load_all_sessions(&self) -> Result<Vec<SessionSnapshot>>;
    /// Marks the account's keys revoked (kept until purged), state `unauthorized`, audited.
    async fn revoke_session(&self, account_id: i64, reason: &str, actor: &str) -> Result<()>;
    /// Deletes the keys of sessions revoked before `revoked_before`; returns rows deleted.
    async fn purge_revoked_sessions(&self, revoked_before: i64, actor: &str) -> Result<u64>;
    /// Creates an account from a parsed foreign session, in one transaction, audited.
    async fn import_session(&self, req: ImportRequest) -> Result<Account>;
    /// Builds the account's home-DC session for export (the caller encodes it); audited.
    async fn export_session(
        &self,
        account_id: i64,
        format: SessionFormat,
        actor: &str,
    ) -> Result<ImportedSession>;

    // ---- peer cache ----------------------------------------------------------------------
    /// Upserts peers; `None` fields keep what is stored.
    async fn upsert_peers(&self, account_id: i64, peers: &[CachedPeer]) -> Result<()>;
    async fn peer(&self, account_id: i64, peer_id: i64) -> Result<Option<CachedPeer>>;
    async fn self_peer(&self, account_id: i64) -> Result<Option<CachedPeer>>;
    async fn peers(&self, account_id: i64) -> Result<Vec<CachedPeer>>;
    async fn peer_by_username(&self, account_id: i64, username: &str)
        -> Result<Option<CachedPeer>>;

    // ---- update state --------------------------------------------------------------------
    async fn updates_state(&self, account_id: i64) -> Result<UpdatesState>;
    async fn set_update_state(&self, account_id: i64, update: UpdateState) -> Result<()>;
    /// Events + mirror + peers + update state of one batch of updates, in one transaction.
    /// Returns the ids of the appended events.
    async fn apply_update_batch(&self, batch: UpdateBatch) -> Result<Vec<i64>>;
    /// Group commit: several accounts' update batches and idempotency outcomes in **one**
    /// transaction (the runtime's writer task batches whatever is queued, so there is no
    /// commit per message). Returns each batch's event ids, in order. An idempotency record
    /// whose (account, key) exists already is left as it is (first outcome wins).
    async fn commit_group(
        &self,
        batches: &[UpdateBatch],
        idempotency: &[IdempotencyRecord],
    ) -> Result<Vec<Vec<i64>>>;

    // ---- idempotency ---------------------------------------------------------------------
    /// The recorded outcomes among `keys` ((account id, key) pairs), in no particular order.
    async fn idempotency_records(&self, keys: &[(i64, String)]) -> Result<Vec<IdempotencyRecord>>;
    /// Deletes records created before `created_before`; returns rows deleted.
    async fn purge_idempotency(&self, created_before: i64) -> Result<u64>;

    // ---- event log -----------------------------------------------------------------------
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<i64>>;
    /// Events with id > `after_id` (optionally of one account), oldest first.
    async fn events_after(
        &self,
        after_id: i64,
        account_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>>;
    async fn last_event_id(&self) -> Result<i64>;

    // ---- audit ---------------------------------------------------------------------------
    async fn audit(&self, entry: AuditEntry) -> Result<i64>;
    async fn audit_log(
        &self,
        account_id: Option<i64>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>>;

    // ---- API tokens ----------------------------------------------------------------------
    /// Creates a token; the plain token is returned once and only its SHA-256 is stored.
    async fn create_api_token(
        &self,
        new: NewApiToken,
        actor: &str,
    ) -> Result<(ApiToken, SecretString)>;
    /// Looks a presented token up by hash; `None` if unknown, revoked or expired. Updates
    /// `last_used_at`.
    async fn verify_api_token(&self, token: &str, now: i64) -> Result<Option<ApiToken>>;
    async fn revoke_api_token(&self, id: i64, actor: &str) -> Result<bool>;
    async fn api_tokens(&self) -> Result<Vec<ApiToken>>;

    // ---- half-finished logins ------------------------------------------------------------
    async fn put_pending_login(&self, login: &PendingLogin) -> Result<()>;
    async fn pending_login(&self, account_id: i64) -> Result<Option<PendingLogin>>;
    async fn delete_pending_login(&self, account_id: i64) -> Result<bool>;
    /// Deletes logins whose `expires_at` <= `now`; their accounts go back to
    /// `login_required`. Returns the account ids.
    async fn expire_pending_logins(&self, now: i64) -> Result<Vec<i64>>;

    // ---- mirror --------------------------------------------------------------------------
    async fn upsert_chats(&self, account_id: i64, chats: &[Chat]) -> Result<()>;
    /// Most recent first.
    async fn chats(&self, account_id: i64, limit: u32) -> Result<Vec<Chat>>;
    /// One chat of the mirror.
    async fn chat(&self, account_id: i64, peer_id: i64) -> Result<Option<Chat>>;
    /// Most recent first (`last_message_at` DESC, chats without messages last, then peer id),
    /// strictly after `before` (the last chat of the previous page).
    async fn chats_page(
        &self,
        account_id: i64,
        before: Option<ChatCursor>,
        limit: u32,
    ) -> Result<Vec<Chat>>;
    async fn upsert_messages(&self, account_id: i64, messages: &[Message]) -> Result<()>;
    /// Newest first, ids below `before_id` if given.
    async fn messages(
        &self,
        account_id: i64,
        peer_id: i64,
        before_id: Option<i32>,
        limit: u32,
    ) -> Result<Vec<Message>>;
    async fn mark_messages_deleted(
        &self,
        account_id: i64,
        peer_id: Option<i64>,
        ids: &[i32],
        now: i64,
    ) -> Result<u64>;
    async fn upsert_contacts(&self, account_id: i64, contacts: &[Contact]) -> Result<()>;
    async fn contacts(&self, account_id: i64) -> Result<Vec<Contact>>;
    async fn upsert_invite_link(&self, account_id: i64, link: &InviteLink) -> Result<()>;
    async fn invite_links(&self, account_id: i64, peer_id: Option<i64>) -> Result<Vec<InviteLink>>;

    // ---- uploads -------------------------------------------------------------------------
    async fn put_upload(&self, upload: &Upload) -> Result<()>;
    async fn upload(&self, id: &str) -> Result<Option<Upload>>;
    /// Marks one part saved; returns the updated upload.
    async fn mark_upload_part(&self, id: &str, part: i32) -> Result<Upload>;
    async fn delete_upload(&self, id: &str) -> Result<bool>;
    /// Deletes uploads whose `expires_at` <= `now`.
    async fn expire_uploads(&self, now: i64) -> Result<u64>;

    // ---- webhooks ------------------------------------------------------------------------
    async fn create_webhook(&self, new: NewWebhook, actor: &str) -> Result<Webhook>;
    async fn webhooks(&self) -> Result<Vec<Webhook>>;
    async fn webhook_secret(&self, id: i64) -> Result<Option<SecretString>>;
    async fn enqueue_delivery(&self, webhook_id: i64, event_id: i64, now: i64) -> Result<()>;
    async fn due_deliveries(&self, now: i64, limit: u32) -> Result<Vec<WebhookDelivery>>;
    async fn record_delivery(&self, id: i64, outcome: DeliveryOutcome, now: i64) -> Result<()>;

    // ---- API layer (migration 0003_api) ---------------------------------------------------
    async fn webhook(&self, id: i64) -> Result<Option<Webhook>>;
    /// Applies the given changes; `None` if there is no such webhook.
    async fn update_webhook(&self, id: i64, update: WebhookUpdate) -> Result<Option<Webhook>>;
    /// Deletes a webhook with its deliveries and their history; audited.
    async fn delete_webhook(&self, id: i64, actor: &str) -> Result<bool>;
    /// Enqueues `(webhook_id, event_id)` deliveries (existing pairs are kept) and moves the
    /// named event cursor to `position`, in one transaction: a dispatcher that crashes
    /// resumes from the last committed position without losing or doubling a delivery.
    async fn enqueue_deliveries(
        &self,
        deliveries: &[(i64, i64)],
        cursor: &str,
        position: i64,
        now: i64,
    ) -> Result<u64>;
    /// A named event cursor's position; `None` if never set.
    async fn event_cursor(&self, name: &str) -> Result<Option<i64>>;
    /// A webhook's deliveries, newest first.
    async fn webhook_deliveries(&self, query: DeliveryQuery) -> Result<Vec<WebhookDelivery>>;
    async fn webhook_delivery(&self, id: i64) -> Result<Option<WebhookDelivery>>;
    /// Every attempt of one delivery, oldest first.
    async fn delivery_attempts(&self, delivery_id: i64) -> Result<Vec<DeliveryAttempt>>;
    /// Records one attempt (its history row and the delivery's new state) in one transaction.
    async fn record_delivery_attempt(
        &self,
        id: i64,
        outcome: DeliveryOutcome,
        duration_ms: i64,
        now: i64,
    ) -> Result<()>;
    /// Puts a delivery (delivered or dead) back to pending now with a fresh retry window.
    async fn redeliver(&self, id: i64, now: i64) -> Result<bool>;
    /// Accounts per state, for `/readyz`.
    async fn account_state_counts(&self) -> Result<Vec<(AccountState, u64)>>;
    /// A round trip to the database.
    async fn ping(&self) -> Result<()>;
}
