//! telegate's account runtime (issue 6): one supervisor actor per Telegram account over
//! grammers-client 0.11, running on the store's sealed `Session`; resumable logins; connections
//! that heal; flood control; updates written to the durable event log; exactly-once sends; the
//! operations the API layer exposes. This crate knows no HTTP.
//!
//! # The surface the API layer uses
//!
//! - [`Gateway::start`]`(RuntimeConfig, Arc<dyn Store>, TelegramTarget)` → a cloneable
//!   [`Gateway`]; [`TelegramTarget::from_env`] picks production (`TELEGRAM_API_ID`,
//!   `TELEGRAM_API_HASH`) or a mock DC (`TELEGATE_MOCK_DC`). [`Gateway::shutdown`] drains.
//! - Accounts: [`Gateway::create_account`] (`{"phone"}` or `{"bot_token"}` → account + next
//!   [`LoginStep`]), [`Gateway::accounts`], [`Gateway::account_info`] (state + [`Health`]),
//!   [`Gateway::delete_account`], [`Gateway::import_session`] / [`Gateway::export_session`]
//!   (audited), [`Gateway::states`] (for `/readyz`).
//! - [`Gateway::account`]`(id)` → [`AccountHandle`] with the login steps
//!   ([`AccountHandle::login_code`], [`login_password`](AccountHandle::login_password),
//!   [`login_qr`](AccountHandle::login_qr)) and every operation: messages (send, edit,
//!   delete, forward, read, history live/mirror, search), chats (mirror pages, live dialogs,
//!   create, members, title), invite links, contacts, resolve username, authorizations, log out.
//! - Events: [`Gateway::subscribe_events`] is a `watch` of the last committed event id; read
//!   the durable log with `store().events_after(..)` and stream each as an [`EventEnvelope`]
//!   (shapes documented in [`events`]).
//! - Errors: every failure is a [`CoreError`] with a stable [`ErrorCode`] (HTTP status and
//!   retry hint included) and `retry_after` where Telegram or the gateway said so.
//! - Idempotency: pass [`CallOptions::idempotency_key`]; same key + same request → the first
//!   result; same key + other request → `IDEMPOTENCY_KEY_REUSED`.
//! - Metrics (`metrics` crate; the API installs the Prometheus exporter): `telegate_accounts`
//!   {state}, `telegate_request_seconds` {method}, `telegate_flood_waits_total` /
//!   `telegate_flood_wait_seconds_total` {method}, `telegate_errors_total` {code},
//!   `telegate_reconnects_total`, `telegate_queue_depth`, `telegate_events_written_total`,
//!   `telegate_store_commit_seconds`, `telegate_client_panics_total`,
//!   `telegate_connect_seconds`, `telegate_transfer_connect_seconds` (a transfer-pool
//!   connection: TCP + initConnection), `telegate_transfer_bytes_total` {direction}.

pub mod config;
pub mod convert;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod target;
pub mod types;

mod account;
mod flood;
mod gateway;
mod hygiene;
mod login;
mod media;
mod ops;
mod transfer;
mod updates;
mod writer;

pub use config::{Backoff, DeviceInfo, Hygiene, Quota, RateLimits, RuntimeConfig};
pub use error::{CoreError, CoreResult, ErrorCode, RetryHint, TelegramErrorInfo};
pub use events::EventEnvelope;
pub use gateway::Gateway;
pub use hygiene::HygieneReport;
pub use media::{
    upload_plan, MediaChunks, MediaSource, BIG_FILE_THRESHOLD, MAX_PARTS, MAX_PARTS_PREMIUM,
    UPLOAD_PART_SIZE,
};
pub use ops::AccountHandle;
pub use target::{DcAddress, DcProvisioner, MockProvisioner, TelegramTarget};
pub use telegate_store::{AccountState, SessionFormat};
pub use types::*;
