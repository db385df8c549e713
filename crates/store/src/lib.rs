//! telegate's storage layer: the only crate with SQL.
//!
//! Why it exists: a Telegram session is a password to the whole account, and the gateway must
//! survive restarts without losing sessions, update state or events. This crate gives the rest of
//! telegate one object-safe [`Store`] trait over SQLite (default, WAL) or PostgreSQL, chosen by
//! `DATABASE_URL`; a [`vault`] sealing every secret column; a grammers [`Session`](session)
//! implementation over the store; and import/export of other libraries' session formats.
//!
//! ```no_run
//! # async fn demo() -> Result<(), telegate_store::StoreError> {
//! use telegate_store::{open, MasterKey};
//! let store = open("sqlite://telegate.db?mode=rwc", MasterKey::from_env_or_file(None)?).await?;
//! let accounts = store.accounts().await?;
//! # Ok(()) }
//! ```

pub mod error;
pub mod model;
pub mod session;
pub mod session_formats;
pub mod sql;
pub mod store;
pub mod vault;

pub use error::{Result, StoreError};
pub use model::*;
pub use session::{SessionOptions, StoreSession};
pub use session_formats::{ImportedSession, SessionFormat, SessionFormatError};
pub use sql::{migrate, open, OpenOptions, SqlStore, DEFAULT_DATABASE_URL};
pub use store::{Backend, ImportRequest, Store};
pub use vault::{
    generate_master_key_file, MasterKey, Vault, VaultError, MASTER_KEY_ENV, MASTER_KEY_FILE_ENV,
};
