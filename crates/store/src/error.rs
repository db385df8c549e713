//! One error type for the store, so callers (runtime, CLI, API) match on causes, not strings.
//!
//! Why a dedicated module: every variant must be safe to log. None carries secret material:
//! sqlx errors never include bound values, vault errors only name table/column/row.

use crate::session_formats::SessionFormatError;
use crate::vault::VaultError;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    SessionFormat(#[from] SessionFormatError),
    #[error("unsupported DATABASE_URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("invalid value in the database: {0}")]
    Corrupt(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }
}
