//! API tokens: who is calling, and what they may touch.
//!
//! Tokens are created by `telegate tokens create` or `POST /v1/tokens`, shown once, and stored
//! as SHA-256 only (see the store). A token carries scopes:
//! - `admin` — everything, including tokens, session import/export and the audit log;
//! - `read` — GET routes of the accounts it may see; `write` — every other route of those
//!   accounts (and implies `read`);
//! - `account:<id>` (repeatable) — limits the token to those accounts. Without any, a
//!   read/write token sees every account. Another account is answered 404, exactly as if it
//!   did not exist, so a scoped token cannot probe which ids exist.
//!
//! `TELEGATE_BOOTSTRAP_TOKEN` (given to `serve`) is accepted as an admin token, for automation
//! and the first start.
//!
//! Verified tokens are cached in memory for `auth.token_cache_secs` so that the hot path (a
//! send at 15,000 requests/s) costs one SHA-256 and a hash-map read, not a database write.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use telegate_core::ErrorCode;
use telegate_store::{now_ms, ApiToken, Store};

use crate::error::ApiError;
use crate::AppState;

/// Scope names (stored as they are written here).
pub const SCOPE_ADMIN: &str = "admin";
pub const SCOPE_READ: &str = "read";
pub const SCOPE_WRITE: &str = "write";
pub const SCOPE_ACCOUNT_PREFIX: &str = "account:";

/// A parsed, validated scope list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes {
    pub admin: bool,
    pub read: bool,
    pub write: bool,
    /// `None`: every account.
    pub accounts: Option<Vec<i64>>,
}

impl Scopes {
    /// Parses scope strings, refusing unknown ones (for token creation).
    pub fn parse(scopes: &[String]) -> Result<Scopes, String> {
        let mut s = Scopes::default();
        for scope in scopes {
            match scope.as_str() {
                SCOPE_ADMIN => s.admin = true,
                SCOPE_READ => s.read = true,
                SCOPE_WRITE => s.write = true,
                other => match other.strip_prefix(SCOPE_ACCOUNT_PREFIX) {
                    Some(id) => {
                        let id: i64 = id.parse().map_err(|_| {
                            format!("scope {other:?}: expected account:<numeric account id>")
                        })?;
                        s.accounts.get_or_insert_with(Vec::new).push(id);
                    }
                    None => {
                        return Err(format!(
                            "unknown scope {other:?}: expected admin, read, write or account:<id>"
                        ))
                    }
                },
            }
        }
        if !(s.admin || s.read || s.write) {
            return Err("a token needs admin, read or write".into());
        }
        if s.admin && s.accounts.is_some() {
            return Err("an admin token cannot be limited to accounts".into());
        }
        Ok(s)
    }

    /// Canonical strings for storage.
    pub fn to_strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.admin {
            out.push(SCOPE_ADMIN.to_owned());
        }
        if self.read {
            out.push(SCOPE_READ.to_owned());
        }
        if self.write {
            out.push(SCOPE_WRITE.to_owned());
        }
        if let Some(accounts) = &self.accounts {
            out.extend(
                accounts
                    .iter()
                    .map(|a| format!("{SCOPE_ACCOUNT_PREFIX}{a}")),
            );
        }
        out
    }
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's id; `None` for the bootstrap token.
    pub token_id: Option<i64>,
    pub name: String,
    pub scopes: Scopes,
    /// Unix ms; the cache re-checks it on every request.
    pub expires_at: Option<i64>,
}

impl Principal {
    fn from_token(t: &ApiToken) -> Principal {
        // Stored scopes were validated at creation; unknown ones (from a newer version) are
        // ignored rather than widening anything.
        let mut scopes = Scopes::default();
        for s in &t.scopes {
            match s.as_str() {
                SCOPE_ADMIN => scopes.admin = true,
                SCOPE_READ => scopes.read = true,
                SCOPE_WRITE => scopes.write = true,
                other => {
                    if let Some(id) = other
                        .strip_prefix(SCOPE_ACCOUNT_PREFIX)
                        .and_then(|id| id.parse().ok())
                    {
                        scopes.accounts.get_or_insert_with(Vec::new).push(id);
                    }
                }
            }
        }
        if let Some(a) = t.account_id {
            scopes.accounts.get_or_insert_with(Vec::new).push(a);
        }
        if scopes.accounts.is_some() {
            // A limited token is never admin, whatever else it says.
            scopes.admin = false;
        }
        Principal {
            token_id: Some(t.id),
            name: t.name.clone(),
            scopes,
            expires_at: t.expires_at,
        }
    }

    fn bootstrap() -> Principal {
        Principal {
            token_id: None,
            name: "bootstrap".into(),
            scopes: Scopes {
                admin: true,
                ..Default::default()
            },
            expires_at: None,
        }
    }

    /// The actor name written to the audit log.
    pub fn actor(&self) -> String {
        match self.token_id {
            Some(id) => format!("token:{id}"),
            None => "bootstrap-token".into(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.scopes.admin
    }

    /// Whether this caller may see every account (admin or an unlimited token).
    pub fn sees_all_accounts(&self) -> bool {
        self.scopes.admin || self.scopes.accounts.is_none()
    }

    pub fn can_see_account(&self, account_id: i64) -> bool {
        match &self.scopes.accounts {
            _ if self.scopes.admin => true,
            None => true,
            Some(list) => list.contains(&account_id),
        }
    }

    /// The accounts this caller is limited to (`None`: all).
    pub fn account_limit(&self) -> Option<&[i64]> {
        if self.scopes.admin {
            None
        } else {
            self.scopes.accounts.as_deref()
        }
    }

    fn can_read(&self) -> bool {
        self.scopes.admin || self.scopes.read || self.scopes.write
    }

    fn can_write(&self) -> bool {
        self.scopes.admin || self.scopes.write
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.scopes.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this route needs an admin token"))
        }
    }

    /// Read access to the gateway's global resources (not tied to one account).
    pub fn require_read(&self) -> Result<(), ApiError> {
        if self.can_read() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this token has no read scope"))
        }
    }

    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.can_write() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this route needs a token with the write scope",
            ))
        }
    }

    /// Write access without an account limit (creating accounts, global webhooks).
    pub fn require_unlimited_write(&self) -> Result<(), ApiError> {
        self.require_write()?;
        if self.sees_all_accounts() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this token is limited to some accounts and cannot do this",
            ))
        }
    }

    /// Read access to one account: 404 when it is not visible to this token.
    pub fn require_account_read(&self, account_id: i64) -> Result<(), ApiError> {
        if !self.can_see_account(account_id) {
            return Err(account_not_found(account_id));
        }
        self.require_read()
    }

    /// Write access to one account: 404 when not visible, 403 without the write scope.
    pub fn require_account_write(&self, account_id: i64) -> Result<(), ApiError> {
        if !self.can_see_account(account_id) {
            return Err(account_not_found(account_id));
        }
        self.require_write()
    }
}

pub fn account_not_found(account_id: i64) -> ApiError {
    ApiError::new(
        ErrorCode::AccountNotFound,
        format!("account {account_id} not found"),
    )
}

type TokenHash = [u8; 32];

fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

enum Entry {
    Valid(Arc<Principal>, Instant),
    /// Unknown or revoked: remembered briefly so a flood of bad tokens does not reach the
    /// database once per request.
    Invalid(Instant),
}

/// Bounded so that an attacker presenting random tokens cannot grow it without limit.
const CACHE_MAX: usize = 10_000;
const NEGATIVE_TTL: Duration = Duration::from_secs(2);

/// Verifies presented tokens against the store, with a short-lived cache.
pub struct TokenVerifier {
    store: Arc<dyn Store>,
    ttl: Duration,
    bootstrap: Option<TokenHash>,
    cache: RwLock<HashMap<TokenHash, Entry>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("ttl", &self.ttl)
            .field("bootstrap", &self.bootstrap.map(|_| "[REDACTED]"))
            .finish()
    }
}

impl TokenVerifier {
    pub fn new(store: Arc<dyn Store>, ttl: Duration, bootstrap: Option<&SecretString>) -> Self {
        Self {
            store,
            ttl,
            bootstrap: bootstrap.map(|t| hash(t.expose_secret())),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The caller presenting `token`, or 401.
    pub async fn verify(&self, token: &str) -> Result<Arc<Principal>, ApiError> {
        let h = hash(token);
        if let Some(b) = &self.bootstrap {
            if bool::from(b.ct_eq(&h)) {
                return Ok(Arc::new(Principal::bootstrap()));
            }
        }
        let now = Instant::now();
        if let Some(entry) = self.cache.read().expect("token cache lock").get(&h) {
            match entry {
                Entry::Valid(p, at) if now.duration_since(*at) < self.ttl => {
                    if p.expires_at.is_some_and(|e| e <= now_ms()) {
                        return Err(invalid_token());
                    }
                    return Ok(p.clone());
                }
                Entry::Invalid(at) if now.duration_since(*at) < NEGATIVE_TTL.min(self.ttl) => {
                    return Err(invalid_token());
                }
                _ => {}
            }
        }
        let found = if token.starts_with("tgt_") {
            self.store.verify_api_token(token, now_ms()).await?
        } else {
            None
        };
        let mut cache = self.cache.write().expect("token cache lock");
        if cache.len() >= CACHE_MAX {
            let ttl = self.ttl;
            cache.retain(|_, e| match e {
                Entry::Valid(_, at) => now.duration_since(*at) < ttl,
                Entry::Invalid(_) => false,
            });
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        match found {
            Some(t) => {
                let p = Arc::new(Principal::from_token(&t));
                cache.insert(h, Entry::Valid(p.clone(), now));
                Ok(p)
            }
            None => {
                cache.insert(h, Entry::Invalid(now));
                Err(invalid_token())
            }
        }
    }

    /// Forgets a token at once (after a revocation through this gateway).
    pub fn forget(&self, token_id: i64) {
        self.cache
            .write()
            .expect("token cache lock")
            .retain(|_, e| !matches!(e, Entry::Valid(p, _) if p.token_id == Some(token_id)));
    }
}

fn invalid_token() -> ApiError {
    ApiError::unauthenticated("the API token is unknown, revoked or expired")
}

/// Reads the token from `Authorization: Bearer …`, or (for the event streams, which browsers
/// open without custom headers) from an `access_token` query parameter.
fn presented_token(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthenticated("the Authorization header is not text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthenticated("expected Authorization: Bearer <API token>")
            })?;
        return Ok(Some(token.trim().to_owned()));
    }
    if parts.uri.path().starts_with("/v1/events") {
        if let Some(query) = parts.uri.query() {
            for pair in query.split('&') {
                if let Some(v) = pair.strip_prefix("access_token=") {
                    return Ok(Some(v.to_owned()));
                }
            }
        }
    }
    Ok(None)
}

/// The authenticated caller; extracting it answers 401 when there is none.
#[derive(Debug, Clone)]
pub struct Auth(pub Arc<Principal>);

impl std::ops::Deref for Auth {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(p) = parts.extensions.get::<Auth>() {
            return Ok(p.clone());
        }
        let token = presented_token(parts)?.ok_or_else(|| {
            ApiError::unauthenticated("an API token is required: Authorization: Bearer <token>")
        })?;
        let principal = state.inner.tokens.verify(&token).await?;
        let auth = Auth(principal);
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scopes_parse_strictly() {
        let sc = Scopes::parse(&s(&["read", "account:3", "account:4"])).unwrap();
        assert_eq!(sc.accounts, Some(vec![3, 4]));
        assert!(sc.read && !sc.write && !sc.admin);
        assert_eq!(Scopes::parse(&sc.to_strings()).unwrap(), sc, "round trip");
        assert!(Scopes::parse(&s(&["sudo"])).unwrap_err().contains("sudo"));
        assert!(Scopes::parse(&s(&["account:x", "read"])).is_err());
        assert!(
            Scopes::parse(&s(&["account:1"])).is_err(),
            "needs read/write"
        );
        assert!(Scopes::parse(&s(&["admin", "account:1"])).is_err());
    }

    #[test]
    fn limited_tokens_see_only_their_accounts() {
        let p = Principal {
            token_id: Some(1),
            name: "t".into(),
            scopes: Scopes::parse(&s(&["read", "account:7"])).unwrap(),
            expires_at: None,
        };
        assert!(p.require_account_read(7).is_ok());
        assert_eq!(
            p.require_account_read(8).unwrap_err().code(),
            ErrorCode::AccountNotFound
        );
        assert_eq!(
            p.require_account_write(7).unwrap_err().code(),
            ErrorCode::Forbidden
        );
        assert_eq!(
            p.require_account_write(8).unwrap_err().code(),
            ErrorCode::AccountNotFound,
            "no write scope must not reveal that 8 exists either"
        );
        assert!(p.require_admin().is_err());
        assert!(p.require_unlimited_write().is_err());
    }
}
