//! The vault: authenticated encryption of every secret column.
//!
//! Why: a Telegram auth key is a password to the whole account, with no 2FA in the way, so the
//! database must never hold one (nor a login code, a 2FA state, an imported session string or a
//! webhook secret) in clear. This module is pure crypto and key bookkeeping; the store decides
//! what to seal and persists the key ring.
//!
//! Design:
//! - A **master key** (32 bytes) comes from `TELEGATE_MASTER_KEY` (base64) or a key file. It never
//!   encrypts data directly: it wraps the **data keys** stored in the `vault_keys` table.
//! - The **key ring** holds several data keys by id; exactly one is active for new seals. Old keys
//!   stay in the ring (readable) while a rotation re-encrypts their ciphertexts, then are retired.
//! - **Sealed format**: `0x01 | key_id u32 BE | nonce 24 B | XChaCha20-Poly1305(ciphertext ‖ tag)`.
//! - **Associated data** binds each ciphertext to the header (version + key id) and to
//!   `table / column / row`, so a value copied to another row, column or table fails to open.
//! - Key material lives in [`secrecy::SecretBox`] (zeroized on drop, redacted in `Debug`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Environment variable holding the base64 master key.
pub const MASTER_KEY_ENV: &str = "TELEGATE_MASTER_KEY";
/// Environment variable naming a file that holds the base64 master key.
pub const MASTER_KEY_FILE_ENV: &str = "TELEGATE_MASTER_KEY_FILE";

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Key id used in the header of data keys wrapped by the master key.
const MASTER_KEY_ID: u32 = 0;
const AD_DOMAIN: &[u8] = b"telegate-vault-v1\0";

/// Errors of the vault. None of them carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "no master key: set {MASTER_KEY_ENV} (base64 of 32 random bytes) or point \
         {MASTER_KEY_FILE_ENV} / the master key file option at a key file \
         (the sandbox mode can generate one)"
    )]
    MasterKeyMissing,
    #[error("invalid master key from {source_name}: {reason}")]
    MasterKeyInvalid { source_name: String, reason: String },
    #[error(
        "the master key does not match this database (fingerprint {given}, data keys were \
         wrapped under {expected})"
    )]
    WrongMasterKey { given: String, expected: String },
    #[error("the vault has no active data key")]
    NoActiveKey,
    #[error("data key {0} is not in the key ring (retired, or from another database)")]
    UnknownKey(u32),
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),
    #[error(
        "sealed value for {table}.{column} row {row} failed to open: it was tampered with, \
         moved from another row, or sealed under another key"
    )]
    OpenFailed {
        table: &'static str,
        column: &'static str,
        row: String,
    },
    #[error("random number generator failed: {0}")]
    Rng(String),
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
}

/// Where a sealed value lives; becomes the AEAD associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretContext {
    pub table: &'static str,
    pub column: &'static str,
    /// The row's identity, e.g. `"42"` or `"42:2"` for a composite key.
    pub row: String,
}

impl SecretContext {
    pub fn new(table: &'static str, column: &'static str, row: impl Into<String>) -> Self {
        Self {
            table,
            column,
            row: row.into(),
        }
    }

    fn associated_data(&self, header: &[u8]) -> Vec<u8> {
        let mut ad = Vec::with_capacity(
            AD_DOMAIN.len()
                + header.len()
                + self.table.len()
                + self.column.len()
                + self.row.len()
                + 3,
        );
        ad.extend_from_slice(AD_DOMAIN);
        ad.extend_from_slice(header);
        ad.extend_from_slice(self.table.as_bytes());
        ad.push(0);
        ad.extend_from_slice(self.column.as_bytes());
        ad.push(0);
        ad.extend_from_slice(self.row.as_bytes());
        ad
    }
}

/// 32 secret bytes, zeroized on drop, redacted in `Debug`.
pub struct KeyBytes(SecretBox<[u8; 32]>);

impl KeyBytes {
    fn random() -> Result<Self, VaultError> {
        let mut key = SecretBox::new(Box::new([0u8; 32]));
        getrandom::fill(secrecy::ExposeSecretMut::expose_secret_mut(&mut key))
            .map_err(|e| VaultError::Rng(e.to_string()))?;
        Ok(Self(key))
    }

    fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 {
            return None;
        }
        let mut key = SecretBox::new(Box::new([0u8; 32]));
        secrecy::ExposeSecretMut::expose_secret_mut(&mut key).copy_from_slice(bytes);
        Some(Self(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(self.0.expose_secret()))
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyBytes([REDACTED])")
    }
}

/// The master key: wraps data keys, never data.
pub struct MasterKey {
    key: KeyBytes,
    fingerprint: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Builds a master key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        let key = KeyBytes::from_slice(bytes).ok_or_else(|| VaultError::MasterKeyInvalid {
            source_name: "bytes".into(),
            reason: format!("expected 32 bytes, got {}", bytes.len()),
        })?;
        let mut h = Sha256::new();
        h.update(b"telegate master key fingerprint\0");
        h.update(key.0.expose_secret());
        let fingerprint = hex::encode(&h.finalize()[..8]);
        Ok(Self { key, fingerprint })
    }

    /// Parses the base64 text form (standard or URL-safe alphabet, padding optional).
    pub fn from_base64(text: &str, source_name: &str) -> Result<Self, VaultError> {
        let text = Zeroizing::new(text.trim().to_owned());
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.as_bytes()))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text.as_bytes()))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.as_bytes()))
            .map_err(|_| VaultError::MasterKeyInvalid {
                source_name: source_name.into(),
                reason: "not valid base64".into(),
            })?;
        let decoded = Zeroizing::new(decoded);
        if decoded.len() != 32 {
            return Err(VaultError::MasterKeyInvalid {
                source_name: source_name.into(),
                reason: format!(
                    "expected 32 bytes after base64 decoding, got {}",
                    decoded.len()
                ),
            });
        }
        Self::from_bytes(&decoded)
    }

    /// Reads a key file holding the base64 key (one line).
    pub fn from_file(path: &Path) -> Result<Self, VaultError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| VaultError::KeyFile {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?,
            );
        Self::from_base64(&text, &format!("key file {}", path.display()))
    }

    /// Resolution order: `TELEGATE_MASTER_KEY`, then `key_file` (a CLI option), then
    /// `TELEGATE_MASTER_KEY_FILE`. None of them → [`VaultError::MasterKeyMissing`].
    pub fn from_env_or_file(key_file: Option<&Path>) -> Result<Self, VaultError> {
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            let text = Zeroizing::new(text);
            if !text.trim().is_empty() {
                return Self::from_base64(&text, MASTER_KEY_ENV);
            }
        }
        if let Some(path) = key_file {
            return Self::from_file(path);
        }
        if let Some(path) = std::env::var_os(MASTER_KEY_FILE_ENV) {
            return Self::from_file(Path::new(&path));
        }
        Err(VaultError::MasterKeyMissing)
    }

    /// A fresh random master key (for tests and the sandbox mode).
    pub fn generate() -> Result<Self, VaultError> {
        let key = KeyBytes::random()?;
        Self::from_bytes(key.0.expose_secret())
    }

    /// Public, non-secret identifier of this key (first 8 bytes of a domain-separated SHA-256).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Generates a master key into a new file (mode 0600 on Unix) for the sandbox mode.
///
/// Refuses to overwrite an existing file: losing the master key loses every session.
pub fn generate_master_key_file(path: &Path) -> Result<MasterKey, VaultError> {
    use std::io::Write as _;
    let err = |reason: String| VaultError::KeyFile {
        path: path.to_owned(),
        reason,
    };
    let raw = KeyBytes::random()?;
    let text = Zeroizing::new(format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(raw.0.expose_secret())
    ));
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            err("already exists; refusing to overwrite a master key".into())
        } else {
            err(e.to_string())
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| err(e.to_string()))?;
    MasterKey::from_bytes(raw.0.expose_secret())
}

/// Secret plaintext returned by [`Vault::open`]; zeroized on drop.
pub type Plaintext = Zeroizing<Vec<u8>>;

#[derive(Default)]
struct Ring {
    keys: BTreeMap<u32, KeyBytes>,
    active: Option<u32>,
}

/// The key ring plus the master key. Cheap to share behind an `Arc`.
pub struct Vault {
    master: MasterKey,
    ring: RwLock<Ring>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Vault")
            .field("master", &self.master)
            .field("key_ids", &ring.keys.keys().collect::<Vec<_>>())
            .field("active", &ring.active)
            .finish()
    }
}

fn seal_raw(
    key: &KeyBytes,
    key_id: u32,
    ctx: &SecretContext,
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let mut header = [0u8; HEADER_LEN];
    header[0] = VERSION;
    header[1..5].copy_from_slice(&key_id.to_be_bytes());
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| VaultError::Rng(e.to_string()))?;
    let ad = ctx.associated_data(&header);
    let ct = key
        .cipher()
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        .map_err(|_| VaultError::Malformed("encryption failed"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ct.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_raw(key: &KeyBytes, ctx: &SecretContext, sealed: &[u8]) -> Result<Plaintext, VaultError> {
    let header = &sealed[..HEADER_LEN];
    let nonce = &sealed[HEADER_LEN..HEADER_LEN + NONCE_LEN];
    let ad = ctx.associated_data(header);
    key.cipher()
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: &sealed[HEADER_LEN + NONCE_LEN..],
                aad: &ad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| VaultError::OpenFailed {
            table: ctx.table,
            column: ctx.column,
            row: ctx.row.clone(),
        })
}

/// Reads the key id from a sealed value's header.
pub fn sealed_key_id(sealed: &[u8]) -> Result<u32, VaultError> {
    if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(VaultError::Malformed("too short"));
    }
    if sealed[0] != VERSION {
        return Err(VaultError::Malformed("unknown version byte"));
    }
    Ok(u32::from_be_bytes([
        sealed[1], sealed[2], sealed[3], sealed[4],
    ]))
}

fn wrap_context(key_id: u32) -> SecretContext {
    SecretContext::new("vault_keys", "wrapped", key_id.to_string())
}

impl Vault {
    /// An empty ring under `master`; the store loads the data keys into it.
    pub fn new(master: MasterKey) -> Self {
        Self {
            master,
            ring: RwLock::new(Ring::default()),
        }
    }

    pub fn master_fingerprint(&self) -> &str {
        self.master.fingerprint()
    }

    fn ring(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    fn ring_mut(&self) -> std::sync::RwLockWriteGuard<'_, Ring> {
        self.ring.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The key id new seals use.
    pub fn active_key_id(&self) -> Option<u32> {
        self.ring().active
    }

    /// Ids of every data key currently readable.
    pub fn key_ids(&self) -> Vec<u32> {
        self.ring().keys.keys().copied().collect()
    }

    pub fn has_key(&self, key_id: u32) -> bool {
        self.ring().keys.contains_key(&key_id)
    }

    /// Seals under the active data key; returns `(key_id, sealed)`.
    pub fn seal(
        &self,
        ctx: &SecretContext,
        plaintext: &[u8],
    ) -> Result<(u32, Vec<u8>), VaultError> {
        let ring = self.ring();
        let id = ring.active.ok_or(VaultError::NoActiveKey)?;
        let key = ring.keys.get(&id).ok_or(VaultError::UnknownKey(id))?;
        Ok((id, seal_raw(key, id, ctx, plaintext)?))
    }

    /// Seals under a given data key (rotation).
    pub fn seal_with(
        &self,
        key_id: u32,
        ctx: &SecretContext,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        let ring = self.ring();
        let key = ring
            .keys
            .get(&key_id)
            .ok_or(VaultError::UnknownKey(key_id))?;
        seal_raw(key, key_id, ctx, plaintext)
    }

    /// Opens a sealed value; fails if it was sealed for another table/column/row.
    pub fn open(&self, ctx: &SecretContext, sealed: &[u8]) -> Result<Plaintext, VaultError> {
        let id = sealed_key_id(sealed)?;
        if id == MASTER_KEY_ID {
            return Err(VaultError::Malformed("value sealed under the master key"));
        }
        let ring = self.ring();
        let key = ring.keys.get(&id).ok_or(VaultError::UnknownKey(id))?;
        open_raw(key, ctx, sealed)
    }

    /// Creates a new random data key and returns it wrapped under the master key
    /// (not yet in the ring: call [`Vault::install_wrapped`] once it is persisted).
    pub fn new_wrapped_data_key(&self, key_id: u32) -> Result<Vec<u8>, VaultError> {
        if key_id == MASTER_KEY_ID {
            return Err(VaultError::Malformed("data key id 0 is reserved"));
        }
        let key = KeyBytes::random()?;
        seal_raw(
            &self.master.key,
            MASTER_KEY_ID,
            &wrap_context(key_id),
            key.0.expose_secret(),
        )
    }

    /// Unwraps a persisted data key into the ring.
    pub fn install_wrapped(&self, key_id: u32, wrapped: &[u8]) -> Result<(), VaultError> {
        if sealed_key_id(wrapped)? != MASTER_KEY_ID {
            return Err(VaultError::Malformed(
                "wrapped data key has a non-master header",
            ));
        }
        let raw = open_raw(&self.master.key, &wrap_context(key_id), wrapped)?;
        let key = KeyBytes::from_slice(&raw).ok_or(VaultError::Malformed("data key length"))?;
        self.ring_mut().keys.insert(key_id, key);
        Ok(())
    }

    /// Marks which data key new seals use.
    pub fn set_active(&self, key_id: u32) -> Result<(), VaultError> {
        let mut ring = self.ring_mut();
        if !ring.keys.contains_key(&key_id) {
            return Err(VaultError::UnknownKey(key_id));
        }
        ring.active = Some(key_id);
        Ok(())
    }

    /// Drops a retired key from memory (zeroized).
    pub fn forget(&self, key_id: u32) {
        let mut ring = self.ring_mut();
        ring.keys.remove(&key_id);
        if ring.active == Some(key_id) {
            ring.active = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault_with_key(id: u32) -> Vault {
        let v = Vault::new(MasterKey::generate().unwrap());
        let w = v.new_wrapped_data_key(id).unwrap();
        v.install_wrapped(id, &w).unwrap();
        v.set_active(id).unwrap();
        v
    }

    #[test]
    fn seal_open_roundtrip_and_binding() {
        let v = vault_with_key(1);
        let ctx = SecretContext::new("dc_sessions", "auth_key", "7:2");
        let (id, sealed) = v.seal(&ctx, b"secret").unwrap();
        assert_eq!(id, 1);
        assert_eq!(&**v.open(&ctx, &sealed).unwrap(), b"secret");
        for other in [
            SecretContext::new("dc_sessions", "auth_key", "8:2"),
            SecretContext::new("dc_sessions", "other", "7:2"),
            SecretContext::new("webhooks", "auth_key", "7:2"),
        ] {
            assert!(matches!(
                v.open(&other, &sealed),
                Err(VaultError::OpenFailed { .. })
            ));
        }
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(v.open(&ctx, &tampered).is_err());
        // Rewriting the header's key id is detected too (header is in the AD).
        let mut relabeled = sealed;
        relabeled[4] = 2;
        assert!(matches!(
            v.open(&ctx, &relabeled),
            Err(VaultError::UnknownKey(2))
        ));
    }

    #[test]
    fn wrong_master_cannot_unwrap() {
        let a = Vault::new(MasterKey::generate().unwrap());
        let b = Vault::new(MasterKey::generate().unwrap());
        let w = a.new_wrapped_data_key(3).unwrap();
        assert!(b.install_wrapped(3, &w).is_err());
        assert!(
            a.install_wrapped(4, &w).is_err(),
            "wrapped key bound to its id"
        );
        a.install_wrapped(3, &w).unwrap();
    }

    #[test]
    fn debug_is_redacted() {
        let m = MasterKey::from_bytes(&[0x41; 32]).unwrap();
        let s = format!("{m:?}");
        assert!(!s.contains("65") && !s.contains("AAAA"), "{s}");
    }

    #[test]
    fn key_file_generation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/master.key");
        let k = generate_master_key_file(&p).unwrap();
        let k2 = MasterKey::from_file(&p).unwrap();
        assert_eq!(k.fingerprint(), k2.fingerprint());
        assert!(generate_master_key_file(&p).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn base64_errors_are_clear() {
        let e = MasterKey::from_base64("not base64!!", "TELEGATE_MASTER_KEY").unwrap_err();
        assert!(e.to_string().contains("TELEGATE_MASTER_KEY"), "{e}");
        let e = MasterKey::from_base64("AAAA", "x").unwrap_err();
        assert!(e.to_string().contains("32 bytes"), "{e}");
        assert!(VaultError::MasterKeyMissing
            .to_string()
            .contains(MASTER_KEY_ENV));
    }
}
