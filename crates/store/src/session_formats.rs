//! Session migration: parse and produce the session formats of other Telegram libraries.
//!
//! Why: users arrive with sessions made by Telethon, GramJS or Pyrogram; importing one avoids a
//! new login (and its flood waits), and exporting lets them leave. Everything here is pure
//! parsing/encoding into one [`ImportedSession`]; nothing touches the store, so a malformed input
//! can never leave a half-written account behind. Each malformed input gets its own
//! [`SessionFormatError`] variant naming the format and what is wrong.
//!
//! Formats (see `shared/docs/mtproto-interop-notes.md`, "Session strings"):
//! - Telethon StringSession: `"1"` + URL-safe base64 (padded) of `dc u8 | ip (4 or 16) | port u16 BE | key 256`.
//! - GramJS StringSession: `"1"` + standard base64 of `dc u8 | addr_len i16 BE | ASCII address | port i16 BE | key 256`
//!   (GramJS also reads Telethon strings: 352 base64 characters after the version).
//! - Telethon `.session` SQLite file (version 7): `sessions`, `entities`, `update_state`, `version`.
//! - Pyrogram: URL-safe base64 without padding of `dc u8 | api_id u32 | test_mode bool | key 256 | user_id u64 | is_bot bool`
//!   (362 characters), and the legacy 351 (`dc | test_mode | key | user_id u32 | is_bot`) and 356
//!   (`… | user_id u64 | is_bot`) layouts. Pyrogram carries no address: the static DC table is used.
//!
//! None of the string formats carries access hashes: peers must be re-resolved after import.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::model::{AuthKey, CachedPeer, PeerKind};

/// The supported foreign formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionFormat {
    Telethon,
    TelethonFile,
    GramJs,
    Pyrogram,
}

impl SessionFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Telethon => "telethon",
            Self::TelethonFile => "telethon-file",
            Self::GramJs => "gramjs",
            Self::Pyrogram => "pyrogram",
        }
    }
}

impl std::fmt::Display for SessionFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionFormat {
    type Err = SessionFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "telethon" | "telethon-string" => Ok(Self::Telethon),
            "telethon-file" | "telethon-sqlite" | "session-file" => Ok(Self::TelethonFile),
            "gramjs" | "gram-js" | "gramjs-string" => Ok(Self::GramJs),
            "pyrogram" | "pyrogram-string" => Ok(Self::Pyrogram),
            other => Err(SessionFormatError::UnknownFormat(other.to_owned())),
        }
    }
}

/// Pyrogram's three string layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PyrogramLayout {
    /// 362 characters: `>BI?256sQ?` (dc, api_id, test_mode, key, user_id, is_bot).
    Current,
    /// 351 characters: `>B?256sI?` (dc, test_mode, key, user_id u32, is_bot).
    Legacy32,
    /// 356 characters: `>B?256sQ?` (dc, test_mode, key, user_id u64, is_bot).
    Legacy64,
}

/// What every format is parsed into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedSession {
    pub dc_id: i32,
    pub address: IpAddr,
    pub port: u16,
    pub auth_key: AuthKey,
    pub user_id: Option<i64>,
    pub is_bot: Option<bool>,
    pub api_id: Option<u32>,
    pub test_mode: Option<bool>,
    /// Telethon files only: cached entities (with access hashes).
    pub peers: Vec<CachedPeer>,
    /// Telethon files only: `(pts, qts, date, seq)` of the main update state.
    pub update_state: Option<(i32, i32, i32, i32)>,
}

/// Distinct, clear errors for each kind of malformed input. None echoes the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionFormatError {
    #[error("unknown session format {0:?} (expected telethon, telethon-file, gramjs or pyrogram)")]
    UnknownFormat(String),
    #[error("{format} session: the input is empty")]
    Empty { format: SessionFormat },
    #[error("{format} session: wrong version character {found:?} (expected {expected:?})")]
    WrongVersion {
        format: SessionFormat,
        expected: char,
        found: String,
    },
    #[error("{format} session: invalid base64 ({detail})")]
    BadBase64 {
        format: SessionFormat,
        detail: String,
    },
    #[error("{format} session: wrong length: {found} {unit}, expected {expected}")]
    WrongLength {
        format: SessionFormat,
        unit: &'static str,
        expected: String,
        found: usize,
    },
    #[error("{format} session: unknown DC {dc_id}{}", if *test_mode { " (test mode)" } else { "" })]
    UnknownDc {
        format: SessionFormat,
        dc_id: i64,
        test_mode: bool,
    },
    #[error("{format} session: bad server address ({detail})")]
    BadAddress {
        format: SessionFormat,
        detail: String,
    },
    #[error("{format} session: port 0 is not a valid port")]
    BadPort { format: SessionFormat },
    #[error("{format} session: the auth key is empty (all zero): the session was never logged in")]
    EmptyAuthKey { format: SessionFormat },
    #[error("{format} session: flag byte {field} is {value}, expected 0 or 1")]
    BadFlag {
        format: SessionFormat,
        field: &'static str,
        value: u8,
    },
    #[error("{format}: exporting needs {what}")]
    MissingForExport {
        format: SessionFormat,
        what: &'static str,
    },
    #[error("Telethon session file: {0}")]
    TelethonFile(String),
}

const TELEGRAM_PORT: u16 = 443;

/// What to tell a user who imports a session (the CLI prints it; the audit log records it).
pub const IMPORT_WARNING: &str = "if this session is still used by another program, Telegram \
    will end it with AUTH_KEY_DUPLICATED: log that program out or stop it first";

/// Production DCs (grammers' static table) and the test DCs, for formats without an address.
pub fn static_dc_address(dc_id: i32, test_mode: bool) -> Option<Ipv4Addr> {
    let [a, b, c, d] = match (test_mode, dc_id) {
        (false, 1) => [149, 154, 175, 53],
        (false, 2) => [149, 154, 167, 41],
        (false, 3) => [149, 154, 175, 100],
        (false, 4) => [149, 154, 167, 92],
        (false, 5) => [91, 108, 56, 104],
        (true, 1) => [149, 154, 175, 10],
        (true, 2) => [149, 154, 167, 40],
        (true, 3) => [149, 154, 175, 117],
        _ => return None,
    };
    Some(Ipv4Addr::new(a, b, c, d))
}

fn check_dc(format: SessionFormat, dc_id: i64, test_mode: bool) -> Result<i32, SessionFormatError> {
    if static_dc_address(dc_id as i32, test_mode).is_some() && (1..=5).contains(&dc_id) {
        Ok(dc_id as i32)
    } else {
        Err(SessionFormatError::UnknownDc {
            format,
            dc_id,
            test_mode,
        })
    }
}

fn check_key(format: SessionFormat, key: &[u8]) -> Result<AuthKey, SessionFormatError> {
    if key.iter().all(|b| *b == 0) {
        return Err(SessionFormatError::EmptyAuthKey { format });
    }
    AuthKey::from_slice(key).ok_or(SessionFormatError::WrongLength {
        format,
        unit: "auth key bytes",
        expected: "256".into(),
        found: key.len(),
    })
}

fn flag(format: SessionFormat, field: &'static str, value: u8) -> Result<bool, SessionFormatError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(SessionFormatError::BadFlag {
            format,
            field,
            value,
        }),
    }
}

fn split_version(format: SessionFormat, input: &str) -> Result<&str, SessionFormatError> {
    let input = input.trim();
    let mut chars = input.chars();
    match chars.next() {
        None => Err(SessionFormatError::Empty { format }),
        Some('1') => Ok(chars.as_str()),
        Some(c) => Err(SessionFormatError::WrongVersion {
            format,
            expected: '1',
            found: c.to_string(),
        }),
    }
}

fn decode_b64(
    format: SessionFormat,
    engine: &base64::engine::GeneralPurpose,
    text: &str,
) -> Result<Zeroizing<Vec<u8>>, SessionFormatError> {
    engine
        .decode(text.as_bytes())
        .map(Zeroizing::new)
        .map_err(|e| SessionFormatError::BadBase64 {
            format,
            detail: match e {
                base64::DecodeError::InvalidByte(at, _) => {
                    format!("invalid character at position {at}")
                }
                base64::DecodeError::InvalidLength(n) => format!("invalid length {n}"),
                base64::DecodeError::InvalidLastSymbol(at, _) => {
                    format!("invalid last symbol at position {at}")
                }
                base64::DecodeError::InvalidPadding => "invalid padding".into(),
            },
        })
}

fn lenient(alphabet: &base64::alphabet::Alphabet) -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        alphabet,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

// ---------------------------------------------------------------------------------------------
// Telethon StringSession

fn parse_telethon(input: &str) -> Result<ImportedSession, SessionFormatError> {
    const F: SessionFormat = SessionFormat::Telethon;
    let body = split_version(F, input)?;
    if body.len() != 352 && body.len() != 368 {
        return Err(SessionFormatError::WrongLength {
            format: F,
            unit: "base64 characters after the version",
            expected: "352 (IPv4) or 368 (IPv6)".into(),
            found: body.len(),
        });
    }
    let raw = decode_b64(F, &lenient(&base64::alphabet::URL_SAFE), body)?;
    let ip_len = if body.len() == 352 { 4 } else { 16 };
    if raw.len() != 1 + ip_len + 2 + 256 {
        return Err(SessionFormatError::WrongLength {
            format: F,
            unit: "decoded bytes",
            expected: (1 + ip_len + 2 + 256).to_string(),
            found: raw.len(),
        });
    }
    let dc_id = check_dc(F, raw[0] as i64, false)?;
    let address = if ip_len == 4 {
        IpAddr::V4(Ipv4Addr::new(raw[1], raw[2], raw[3], raw[4]))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&raw[1..17]);
        IpAddr::V6(Ipv6Addr::from(o))
    };
    let p = 1 + ip_len;
    let port = u16::from_be_bytes([raw[p], raw[p + 1]]);
    if port == 0 {
        return Err(SessionFormatError::BadPort { format: F });
    }
    let auth_key = check_key(F, &raw[p + 2..])?;
    Ok(ImportedSession {
        dc_id,
        address,
        port,
        auth_key,
        user_id: None,
        is_bot: None,
        api_id: None,
        test_mode: None,
        peers: Vec::new(),
        update_state: None,
    })
}

fn encode_telethon(s: &ImportedSession) -> SecretString {
    let mut raw = Zeroizing::new(Vec::with_capacity(275));
    raw.push(s.dc_id as u8);
    match s.address {
        IpAddr::V4(a) => raw.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => raw.extend_from_slice(&a.octets()),
    }
    raw.extend_from_slice(&s.port.to_be_bytes());
    raw.extend_from_slice(s.auth_key.expose());
    let mut out = String::from("1");
    base64::engine::general_purpose::URL_SAFE.encode_string(&*raw, &mut out);
    SecretString::from(out)
}

// ---------------------------------------------------------------------------------------------
// GramJS StringSession

fn parse_gramjs(input: &str) -> Result<ImportedSession, SessionFormatError> {
    const F: SessionFormat = SessionFormat::GramJs;
    let body = split_version(F, input)?;
    match parse_gramjs_native(body) {
        // GramJS reads Telethon IPv4 strings too (352 characters after the version). Its own
        // strings only have that length for a 3-character address such as "::1".
        Err(_) if body.len() == 352 => parse_telethon(&format!("1{body}")).map_err(|e| retag(e, F)),
        other => other,
    }
}

fn parse_gramjs_native(body: &str) -> Result<ImportedSession, SessionFormatError> {
    const F: SessionFormat = SessionFormat::GramJs;
    let raw = decode_b64(F, &lenient(&base64::alphabet::STANDARD), body)
        .or_else(|_| decode_b64(F, &lenient(&base64::alphabet::URL_SAFE), body))?;
    let min = 1 + 2 + 2 + 256;
    if raw.len() < min + 2 {
        return Err(SessionFormatError::WrongLength {
            format: F,
            unit: "decoded bytes",
            expected: format!(
                "at least {} (dc, address length, address, port, 256-byte key)",
                min + 2
            ),
            found: raw.len(),
        });
    }
    let dc_id = check_dc(F, raw[0] as i64, false)?;
    let addr_len = i16::from_be_bytes([raw[1], raw[2]]);
    if !(2..=45).contains(&addr_len) {
        return Err(SessionFormatError::BadAddress {
            format: F,
            detail: format!("address length {addr_len} is not between 2 and 45"),
        });
    }
    let addr_len = addr_len as usize;
    if raw.len() != min + addr_len {
        return Err(SessionFormatError::WrongLength {
            format: F,
            unit: "decoded bytes",
            expected: (min + addr_len).to_string(),
            found: raw.len(),
        });
    }
    let addr_text =
        std::str::from_utf8(&raw[3..3 + addr_len]).map_err(|_| SessionFormatError::BadAddress {
            format: F,
            detail: "address is not ASCII".into(),
        })?;
    let address = IpAddr::from_str(addr_text).map_err(|_| SessionFormatError::BadAddress {
        format: F,
        detail: "address is not an IP address".into(),
    })?;
    let p = 3 + addr_len;
    let port = u16::from_be_bytes([raw[p], raw[p + 1]]);
    if port == 0 {
        return Err(SessionFormatError::BadPort { format: F });
    }
    let auth_key = check_key(F, &raw[p + 2..])?;
    Ok(ImportedSession {
        dc_id,
        address,
        port,
        auth_key,
        user_id: None,
        is_bot: None,
        api_id: None,
        test_mode: None,
        peers: Vec::new(),
        update_state: None,
    })
}

fn retag(e: SessionFormatError, format: SessionFormat) -> SessionFormatError {
    use SessionFormatError as E;
    match e {
        E::Empty { .. } => E::Empty { format },
        E::WrongVersion {
            expected, found, ..
        } => E::WrongVersion {
            format,
            expected,
            found,
        },
        E::BadBase64 { detail, .. } => E::BadBase64 { format, detail },
        E::WrongLength {
            unit,
            expected,
            found,
            ..
        } => E::WrongLength {
            format,
            unit,
            expected,
            found,
        },
        E::UnknownDc {
            dc_id, test_mode, ..
        } => E::UnknownDc {
            format,
            dc_id,
            test_mode,
        },
        E::BadAddress { detail, .. } => E::BadAddress { format, detail },
        E::BadPort { .. } => E::BadPort { format },
        E::EmptyAuthKey { .. } => E::EmptyAuthKey { format },
        other => other,
    }
}

fn encode_gramjs(s: &ImportedSession) -> SecretString {
    let addr = s.address.to_string();
    let mut raw = Zeroizing::new(Vec::with_capacity(1 + 2 + addr.len() + 2 + 256));
    raw.push(s.dc_id as u8);
    raw.extend_from_slice(&(addr.len() as i16).to_be_bytes());
    raw.extend_from_slice(addr.as_bytes());
    raw.extend_from_slice(&s.port.to_be_bytes());
    raw.extend_from_slice(s.auth_key.expose());
    let mut out = String::from("1");
    base64::engine::general_purpose::STANDARD.encode_string(&*raw, &mut out);
    SecretString::from(out)
}

// ---------------------------------------------------------------------------------------------
// Pyrogram

fn parse_pyrogram(input: &str) -> Result<ImportedSession, SessionFormatError> {
    const F: SessionFormat = SessionFormat::Pyrogram;
    let body = input.trim();
    if body.is_empty() {
        return Err(SessionFormatError::Empty { format: F });
    }
    let layout = match body.len() {
        362 => PyrogramLayout::Current,
        351 => PyrogramLayout::Legacy32,
        356 => PyrogramLayout::Legacy64,
        n => {
            return Err(SessionFormatError::WrongLength {
                format: F,
                unit: "characters",
                expected: "362, or 351/356 for older Pyrogram versions".into(),
                found: n,
            })
        }
    };
    let raw = decode_b64(F, &lenient(&base64::alphabet::URL_SAFE), body)?;
    let expected = match layout {
        PyrogramLayout::Current => 271,
        PyrogramLayout::Legacy32 => 263,
        PyrogramLayout::Legacy64 => 267,
    };
    if raw.len() != expected {
        return Err(SessionFormatError::WrongLength {
            format: F,
            unit: "decoded bytes",
            expected: expected.to_string(),
            found: raw.len(),
        });
    }
    let (api_id, test_mode, key_at) = match layout {
        PyrogramLayout::Current => (
            Some(u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]])),
            flag(F, "test_mode", raw[5])?,
            6,
        ),
        _ => (None, flag(F, "test_mode", raw[1])?, 2),
    };
    let dc_id = check_dc(F, raw[0] as i64, test_mode)?;
    let auth_key = check_key(F, &raw[key_at..key_at + 256])?;
    let rest = &raw[key_at + 256..];
    let (user_id, is_bot) = match layout {
        PyrogramLayout::Legacy32 => (
            u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as i64,
            flag(F, "is_bot", rest[4])?,
        ),
        _ => {
            let mut u = [0u8; 8];
            u.copy_from_slice(&rest[..8]);
            (u64::from_be_bytes(u) as i64, flag(F, "is_bot", rest[8])?)
        }
    };
    let address = IpAddr::V4(static_dc_address(dc_id, test_mode).expect("checked by check_dc"));
    Ok(ImportedSession {
        dc_id,
        address,
        port: TELEGRAM_PORT,
        auth_key,
        user_id: Some(user_id),
        is_bot: Some(is_bot),
        api_id,
        test_mode: Some(test_mode),
        peers: Vec::new(),
        update_state: None,
    })
}

/// Encodes a Pyrogram session string in the given layout.
pub fn encode_pyrogram(
    s: &ImportedSession,
    layout: PyrogramLayout,
) -> Result<SecretString, SessionFormatError> {
    const F: SessionFormat = SessionFormat::Pyrogram;
    let test_mode = s.test_mode.unwrap_or(false);
    let user_id = s.user_id.ok_or(SessionFormatError::MissingForExport {
        format: F,
        what: "the account's user id (log in first)",
    })?;
    let mut raw = Zeroizing::new(Vec::with_capacity(271));
    raw.push(s.dc_id as u8);
    if layout == PyrogramLayout::Current {
        raw.extend_from_slice(&s.api_id.unwrap_or(0).to_be_bytes());
    }
    raw.push(test_mode as u8);
    raw.extend_from_slice(s.auth_key.expose());
    if layout == PyrogramLayout::Legacy32 {
        let small = u32::try_from(user_id).map_err(|_| SessionFormatError::MissingForExport {
            format: F,
            what: "a user id below 2^32 for the 351-character layout",
        })?;
        raw.extend_from_slice(&small.to_be_bytes());
    } else {
        raw.extend_from_slice(&(user_id as u64).to_be_bytes());
    }
    raw.push(s.is_bot.unwrap_or(false) as u8);
    Ok(SecretString::from(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*raw),
    ))
}

// ---------------------------------------------------------------------------------------------
// Public entry points

/// Parses a session string (not for [`SessionFormat::TelethonFile`]: use [`read_telethon_file`]).
pub fn parse_session_string(
    format: SessionFormat,
    input: &SecretString,
) -> Result<ImportedSession, SessionFormatError> {
    let input = input.expose_secret();
    match format {
        SessionFormat::Telethon => parse_telethon(input),
        SessionFormat::GramJs => parse_gramjs(input),
        SessionFormat::Pyrogram => parse_pyrogram(input),
        SessionFormat::TelethonFile => Err(SessionFormatError::TelethonFile(
            "a .session file is imported from a path, not a string".into(),
        )),
    }
}

/// Encodes a session string (Pyrogram: the current 362-character layout).
pub fn encode_session_string(
    format: SessionFormat,
    s: &ImportedSession,
) -> Result<SecretString, SessionFormatError> {
    match format {
        SessionFormat::Telethon => Ok(encode_telethon(s)),
        SessionFormat::GramJs => Ok(encode_gramjs(s)),
        SessionFormat::Pyrogram => encode_pyrogram(s, PyrogramLayout::Current),
        SessionFormat::TelethonFile => Err(SessionFormatError::TelethonFile(
            "a .session file is exported to a path, not a string".into(),
        )),
    }
}

/// Best-effort guess of a string's format by its shape (explicit formats are preferred).
pub fn detect_format(input: &str) -> Option<SessionFormat> {
    let t = input.trim();
    if !t.starts_with('1') {
        return matches!(t.len(), 351 | 356 | 362).then_some(SessionFormat::Pyrogram);
    }
    let body = &t[1..];
    if matches!(body.len(), 352 | 368) && body.ends_with('=') && !body.contains(['+', '/']) {
        return Some(SessionFormat::Telethon);
    }
    Some(SessionFormat::GramJs)
}

// ---------------------------------------------------------------------------------------------
// Telethon .session files

fn file_err(e: impl std::fmt::Display) -> SessionFormatError {
    SessionFormatError::TelethonFile(e.to_string())
}

async fn open_sqlite(
    path: &Path,
    create: bool,
) -> Result<sqlx::SqliteConnection, SessionFormatError> {
    use sqlx::ConnectOptions as _;
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(!create)
        .create_if_missing(create);
    opts.connect().await.map_err(|e| {
        SessionFormatError::TelethonFile(format!("cannot open {} as SQLite: {e}", path.display()))
    })
}

/// Reads a Telethon `.session` SQLite file (read-only).
pub async fn read_telethon_file(path: &Path) -> Result<ImportedSession, SessionFormatError> {
    use sqlx::{Connection as _, Row as _};
    const F: SessionFormat = SessionFormat::TelethonFile;
    if !path.is_file() {
        return Err(file_err(format!("{} is not a file", path.display())));
    }
    let mut conn = open_sqlite(path, false).await?;
    let result = async {
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut conn)
                .await
                .map_err(|_| file_err("not an SQLite database"))?;
        for needed in ["version", "sessions"] {
            if !tables.iter().any(|t| t == needed) {
                return Err(file_err(format!(
                    "no `{needed}` table: not a Telethon session file"
                )));
            }
        }
        let version: Option<i64> = sqlx::query_scalar("SELECT version FROM version")
            .fetch_optional(&mut conn)
            .await
            .map_err(file_err)?;
        match version {
            Some(v) if (1..=7).contains(&v) => {}
            Some(v) => {
                return Err(file_err(format!(
                    "unsupported Telethon session version {v} (1–7)"
                )))
            }
            None => return Err(file_err("the `version` table is empty")),
        }
        let rows = sqlx::query("SELECT dc_id, server_address, port, auth_key FROM sessions")
            .fetch_all(&mut conn)
            .await
            .map_err(file_err)?;
        let row = match rows.len() {
            0 => return Err(file_err("the `sessions` table is empty: never connected")),
            1 => &rows[0],
            n => {
                return Err(file_err(format!(
                    "the `sessions` table has {n} rows, expected 1"
                )))
            }
        };
        let dc_id: i64 = row.try_get(0).map_err(file_err)?;
        let dc_id = check_dc(F, dc_id, false)?;
        let addr: Option<String> = row.try_get(1).map_err(file_err)?;
        let addr = addr.ok_or_else(|| SessionFormatError::BadAddress {
            format: F,
            detail: "server_address is NULL".into(),
        })?;
        let address = IpAddr::from_str(&addr).map_err(|_| SessionFormatError::BadAddress {
            format: F,
            detail: "server_address is not an IP address".into(),
        })?;
        let port: i64 = row.try_get(2).map_err(file_err)?;
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or(SessionFormatError::BadPort { format: F })?;
        let key: Option<Vec<u8>> = row.try_get(3).map_err(file_err)?;
        let key = Zeroizing::new(key.unwrap_or_default());
        if key.is_empty() {
            return Err(SessionFormatError::EmptyAuthKey { format: F });
        }
        if key.len() != 256 {
            return Err(SessionFormatError::WrongLength {
                format: F,
                unit: "auth key bytes",
                expected: "256".into(),
                found: key.len(),
            });
        }
        let auth_key = check_key(F, &key)?;

        let mut peers = Vec::new();
        if tables.iter().any(|t| t == "entities") {
            let rows =
                sqlx::query("SELECT id, hash, username, phone, name FROM entities ORDER BY id")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(file_err)?;
            for r in rows {
                let id: i64 = r.try_get(0).map_err(file_err)?;
                let hash: i64 = r.try_get(1).map_err(file_err)?;
                let kind = if id > 0 {
                    PeerKind::User
                } else if id <= -1_000_000_000_000 {
                    PeerKind::Channel
                } else {
                    PeerKind::Chat
                };
                let phone: Option<String> = match r.try_get::<Option<i64>, _>(3) {
                    Ok(p) => p.map(|p| p.to_string()),
                    Err(_) => r.try_get::<Option<String>, _>(3).unwrap_or(None),
                };
                peers.push(CachedPeer {
                    peer_id: id,
                    kind,
                    access_hash: Some(hash),
                    is_bot: None,
                    is_self: false,
                    channel_kind: None,
                    username: r.try_get(2).map_err(file_err)?,
                    phone,
                    display_name: r.try_get(4).map_err(file_err)?,
                });
            }
        }
        let mut update_state = None;
        if tables.iter().any(|t| t == "update_state") {
            if let Some(r) =
                sqlx::query("SELECT pts, qts, date, seq FROM update_state WHERE id = 0")
                    .fetch_optional(&mut conn)
                    .await
                    .map_err(file_err)?
            {
                let g = |i| {
                    r.try_get::<Option<i64>, _>(i)
                        .map(|v| v.unwrap_or(0) as i32)
                };
                update_state = Some((
                    g(0).map_err(file_err)?,
                    g(1).map_err(file_err)?,
                    g(2).map_err(file_err)?,
                    g(3).map_err(file_err)?,
                ));
            }
        }
        Ok(ImportedSession {
            dc_id,
            address,
            port,
            auth_key,
            user_id: None,
            is_bot: None,
            api_id: None,
            test_mode: None,
            peers,
            update_state,
        })
    }
    .await;
    let _ = conn.close().await;
    result
}

/// Writes a Telethon (version 7) `.session` file. Refuses to overwrite an existing file.
pub async fn write_telethon_file(
    path: &Path,
    s: &ImportedSession,
) -> Result<(), SessionFormatError> {
    use sqlx::Connection as _;
    if path.exists() {
        return Err(file_err(format!(
            "{} already exists; refusing to overwrite",
            path.display()
        )));
    }
    let mut conn = open_sqlite(path, true).await?;
    let result = async {
        let mut tx = conn.begin().await.map_err(file_err)?;
        for ddl in [
            "CREATE TABLE version (version INTEGER PRIMARY KEY)",
            "CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, server_address TEXT, port INTEGER, \
             auth_key BLOB, takeout_id INTEGER)",
            "CREATE TABLE entities (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, username TEXT, \
             phone INTEGER, name TEXT, date INTEGER)",
            "CREATE TABLE sent_files (md5_digest BLOB, file_size INTEGER, type INTEGER, id INTEGER, \
             hash INTEGER, PRIMARY KEY (md5_digest, file_size, type))",
            "CREATE TABLE update_state (id INTEGER PRIMARY KEY, pts INTEGER, qts INTEGER, \
             date INTEGER, seq INTEGER)",
            "INSERT INTO version VALUES (7)",
        ] {
            sqlx::query(ddl).execute(&mut *tx).await.map_err(file_err)?;
        }
        sqlx::query("INSERT INTO sessions VALUES ($1, $2, $3, $4, NULL)")
            .bind(s.dc_id as i64)
            .bind(s.address.to_string())
            .bind(s.port as i64)
            .bind(&s.auth_key.expose()[..])
            .execute(&mut *tx)
            .await
            .map_err(file_err)?;
        for p in &s.peers {
            let Some(hash) = p.access_hash else { continue };
            sqlx::query("INSERT INTO entities VALUES ($1, $2, $3, $4, $5, NULL)")
                .bind(p.peer_id)
                .bind(hash)
                .bind(&p.username)
                .bind(p.phone.as_deref().and_then(|ph| ph.parse::<i64>().ok()))
                .bind(&p.display_name)
                .execute(&mut *tx)
                .await
                .map_err(file_err)?;
        }
        if let Some((pts, qts, date, seq)) = s.update_state {
            sqlx::query("INSERT INTO update_state VALUES (0, $1, $2, $3, $4)")
                .bind(pts)
                .bind(qts)
                .bind(date)
                .bind(seq)
                .execute(&mut *tx)
                .await
                .map_err(file_err)?;
        }
        tx.commit().await.map_err(file_err)
    }
    .await;
    let _ = conn.close().await;
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    fn key_strategy() -> impl Strategy<Value = AuthKey> {
        proptest::collection::vec(any::<u8>(), 256)
            .prop_filter("non-zero key", |k| k.iter().any(|b| *b != 0))
            .prop_map(|k| AuthKey::from_slice(&k).unwrap())
    }

    fn ip_strategy() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
        ]
    }

    fn base(dc_id: i32, address: IpAddr, port: u16, auth_key: AuthKey) -> ImportedSession {
        ImportedSession {
            dc_id,
            address,
            port,
            auth_key,
            user_id: None,
            is_bot: None,
            api_id: None,
            test_mode: None,
            peers: vec![],
            update_state: None,
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn sample() -> ImportedSession {
        let mut k = [7u8; 256];
        k[0] = 1;
        base(2, "127.0.0.1".parse().unwrap(), 4430, AuthKey::new(&k))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn telethon_roundtrip(dc in 1i32..=5, ip in ip_strategy(), port in 1u16.., key in key_strategy()) {
            let s = base(dc, ip, port, key);
            let text = encode_session_string(SessionFormat::Telethon, &s).unwrap();
            let len = text.expose_secret().len();
            prop_assert!(len == 353 || len == 369);
            prop_assert_eq!(detect_format(text.expose_secret()), Some(SessionFormat::Telethon));
            prop_assert_eq!(parse_session_string(SessionFormat::Telethon, &text).unwrap(), s);
        }

        #[test]
        fn gramjs_roundtrip(dc in 1i32..=5, ip in ip_strategy(), port in 1u16.., key in key_strategy()) {
            let s = base(dc, ip, port, key);
            let text = encode_session_string(SessionFormat::GramJs, &s).unwrap();
            prop_assert_eq!(parse_session_string(SessionFormat::GramJs, &text).unwrap(), s);
        }

        #[test]
        fn gramjs_reads_telethon_ipv4(dc in 1i32..=5, ip in any::<[u8; 4]>(), port in 1u16.., key in key_strategy()) {
            let s = base(dc, IpAddr::V4(Ipv4Addr::from(ip)), port, key);
            let text = encode_session_string(SessionFormat::Telethon, &s).unwrap();
            prop_assert_eq!(parse_session_string(SessionFormat::GramJs, &text).unwrap(), s);
        }

        #[test]
        fn pyrogram_roundtrip_all_layouts(
            test_mode in any::<bool>(),
            dc_pick in 0usize..5,
            api_id in any::<u32>(),
            user_id in any::<u64>(),
            small_user in any::<u32>(),
            is_bot in any::<bool>(),
            key in key_strategy(),
        ) {
            let dcs: &[i32] = if test_mode { &[1, 2, 3] } else { &[1, 2, 3, 4, 5] };
            let dc_id = dcs[dc_pick % dcs.len()];
            let addr = IpAddr::V4(static_dc_address(dc_id, test_mode).unwrap());
            for (layout, len) in [
                (PyrogramLayout::Current, 362usize),
                (PyrogramLayout::Legacy64, 356),
                (PyrogramLayout::Legacy32, 351),
            ] {
                let mut s = base(dc_id, addr, 443, key.clone());
                s.test_mode = Some(test_mode);
                s.is_bot = Some(is_bot);
                s.user_id = Some(if layout == PyrogramLayout::Legacy32 { small_user as i64 } else { user_id as i64 });
                s.api_id = (layout == PyrogramLayout::Current).then_some(api_id);
                let text = encode_pyrogram(&s, layout).unwrap();
                prop_assert_eq!(text.expose_secret().len(), len);
                prop_assert_eq!(detect_format(text.expose_secret()), Some(SessionFormat::Pyrogram));
                prop_assert_eq!(parse_session_string(SessionFormat::Pyrogram, &text).unwrap(), s);
            }
        }

        #[test]
        fn arbitrary_input_never_panics(input in ".{0,400}") {
            for f in [SessionFormat::Telethon, SessionFormat::GramJs, SessionFormat::Pyrogram] {
                let _ = parse_session_string(f, &secret(&input));
            }
        }

        #[test]
        fn flipped_character_is_rejected_or_changes_value(pos in 1usize..350, fmt in 0usize..3) {
            let s = sample();
            let (f, text) = match fmt {
                0 => (SessionFormat::Telethon, encode_session_string(SessionFormat::Telethon, &s).unwrap()),
                1 => (SessionFormat::GramJs, encode_session_string(SessionFormat::GramJs, &s).unwrap()),
                _ => {
                    let mut p = s.clone();
                    p.address = IpAddr::V4(static_dc_address(2, false).unwrap());
                    p.port = 443;
                    p.user_id = Some(1);
                    p.api_id = Some(1);
                    p.test_mode = Some(false);
                    p.is_bot = Some(false);
                    (SessionFormat::Pyrogram, encode_session_string(SessionFormat::Pyrogram, &p).unwrap())
                }
            };
            let mut t: Vec<char> = text.expose_secret().chars().collect();
            let pos = pos.min(t.len() - 1);
            t[pos] = '*';
            let bad: String = t.into_iter().collect();
            let err = parse_session_string(f, &secret(&bad)).unwrap_err();
            let is_b64 = matches!(err, SessionFormatError::BadBase64 { .. });
            prop_assert!(is_b64, "{:?}", err);
        }
    }

    /// A malformed input and the check its error must pass.
    type Case = (String, fn(&SessionFormatError) -> bool);

    fn telethon_raw(dc: u8, key_byte: u8) -> String {
        let mut raw = vec![dc, 127, 0, 0, 1, 0x11, 0x5c];
        raw.extend_from_slice(&[key_byte; 256]);
        format!("1{}", base64::engine::general_purpose::URL_SAFE.encode(raw))
    }

    fn pyrogram_raw(dc: u8, test_mode: u8, key_byte: u8, is_bot: u8) -> String {
        let mut raw = vec![dc, 0, 0, 0, 5, test_mode];
        raw.extend_from_slice(&[key_byte; 256]);
        raw.extend_from_slice(&7u64.to_be_bytes());
        raw.push(is_bot);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    fn gramjs_raw(dc: u8, addr: &str, key_len: usize) -> String {
        let mut raw = vec![dc];
        raw.extend_from_slice(&(addr.len() as i16).to_be_bytes());
        raw.extend_from_slice(addr.as_bytes());
        raw.extend_from_slice(&443u16.to_be_bytes());
        raw.extend(std::iter::repeat_n(9u8, key_len));
        format!("1{}", base64::engine::general_purpose::STANDARD.encode(raw))
    }

    #[test]
    fn telethon_malformed_inputs_have_distinct_errors() {
        use SessionFormatError as E;
        let f = SessionFormat::Telethon;
        let good = telethon_raw(2, 3);
        assert!(parse_session_string(f, &secret(&good)).is_ok());
        let cases: Vec<Case> = vec![
            ("".into(), |e| matches!(e, E::Empty { .. })),
            (
                format!("2{}", &good[1..]),
                |e| matches!(e, E::WrongVersion { found, .. } if found == "2"),
            ),
            (good[..300].to_owned(), |e| {
                matches!(e, E::WrongLength { found: 299, .. })
            }),
            (format!("1{}", "!".repeat(352)), |e| {
                matches!(e, E::BadBase64 { .. })
            }),
            (telethon_raw(9, 3), |e| {
                matches!(e, E::UnknownDc { dc_id: 9, .. })
            }),
            (telethon_raw(0, 3), |e| {
                matches!(e, E::UnknownDc { dc_id: 0, .. })
            }),
            (telethon_raw(2, 0), |e| matches!(e, E::EmptyAuthKey { .. })),
        ];
        for (input, check) in cases {
            let e = parse_session_string(f, &secret(&input)).unwrap_err();
            assert!(check(&e), "{input:.20}… gave {e:?}");
            assert!(e.to_string().starts_with("telethon session:"), "{e}");
        }
    }

    #[test]
    fn gramjs_malformed_inputs_have_distinct_errors() {
        use SessionFormatError as E;
        let f = SessionFormat::GramJs;
        assert!(parse_session_string(f, &secret(&gramjs_raw(2, "10.0.0.1", 256))).is_ok());
        let good = gramjs_raw(2, "10.0.0.1", 256);
        let cases: Vec<Case> = vec![
            ("   ".into(), |e| matches!(e, E::Empty { .. })),
            (format!("0{}", &good[1..]), |e| {
                matches!(e, E::WrongVersion { .. })
            }),
            ("1AAAA".into(), |e| {
                matches!(e, E::WrongLength { found: 3, .. })
            }),
            (gramjs_raw(2, "10.0.0.1", 200), |e| {
                matches!(e, E::WrongLength { .. })
            }),
            (format!("1{}", "$".repeat(360)), |e| {
                matches!(e, E::BadBase64 { .. })
            }),
            (gramjs_raw(6, "10.0.0.1", 256), |e| {
                matches!(e, E::UnknownDc { dc_id: 6, .. })
            }),
            (gramjs_raw(2, "telegram.org", 256), |e| {
                matches!(e, E::BadAddress { .. })
            }),
        ];
        for (input, check) in cases {
            let e = parse_session_string(f, &secret(&input)).unwrap_err();
            assert!(check(&e), "{input:.20}… gave {e:?}");
            assert!(e.to_string().starts_with("gramjs session:"), "{e}");
        }
    }

    #[test]
    fn pyrogram_malformed_inputs_have_distinct_errors() {
        use SessionFormatError as E;
        let f = SessionFormat::Pyrogram;
        let good = pyrogram_raw(2, 0, 5, 0);
        assert_eq!(good.len(), 362);
        assert!(parse_session_string(f, &secret(&good)).is_ok());
        let cases: Vec<Case> = vec![
            ("".into(), |e| matches!(e, E::Empty { .. })),
            (good[..361].to_owned(), |e| {
                matches!(e, E::WrongLength { found: 361, .. })
            }),
            ("+".repeat(362), |e| matches!(e, E::BadBase64 { .. })),
            (pyrogram_raw(7, 0, 5, 0), |e| {
                matches!(
                    e,
                    E::UnknownDc {
                        dc_id: 7,
                        test_mode: false,
                        ..
                    }
                )
            }),
            (pyrogram_raw(4, 1, 5, 0), |e| {
                matches!(
                    e,
                    E::UnknownDc {
                        dc_id: 4,
                        test_mode: true,
                        ..
                    }
                )
            }),
            (pyrogram_raw(2, 0, 0, 0), |e| {
                matches!(e, E::EmptyAuthKey { .. })
            }),
            (pyrogram_raw(2, 2, 5, 0), |e| {
                matches!(
                    e,
                    E::BadFlag {
                        field: "test_mode",
                        value: 2,
                        ..
                    }
                )
            }),
            (pyrogram_raw(2, 0, 5, 9), |e| {
                matches!(
                    e,
                    E::BadFlag {
                        field: "is_bot",
                        value: 9,
                        ..
                    }
                )
            }),
        ];
        for (input, check) in cases {
            let e = parse_session_string(f, &secret(&input)).unwrap_err();
            assert!(check(&e), "{input:.20}… gave {e:?}");
            assert!(e.to_string().starts_with("pyrogram session:"), "{e}");
        }
    }

    #[test]
    fn errors_never_echo_the_key() {
        let good = telethon_raw(2, 0x41);
        let e = parse_session_string(SessionFormat::GramJs, &secret(&good[..200])).unwrap_err();
        assert!(!e.to_string().contains(&good[10..30]));
    }

    #[tokio::test]
    async fn telethon_file_roundtrip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sample();
        s.peers = vec![
            CachedPeer {
                peer_id: -1_000_000_001_234,
                kind: PeerKind::Channel,
                access_hash: Some(99),
                is_bot: None,
                is_self: false,
                channel_kind: None,
                username: None,
                phone: None,
                display_name: Some("News".into()),
            },
            CachedPeer {
                peer_id: -77,
                kind: PeerKind::Chat,
                access_hash: Some(0),
                is_bot: None,
                is_self: false,
                channel_kind: None,
                username: None,
                phone: None,
                display_name: Some("Group".into()),
            },
            CachedPeer {
                peer_id: 42,
                kind: PeerKind::User,
                access_hash: Some(-5),
                is_bot: None,
                is_self: false,
                channel_kind: None,
                username: Some("alice".into()),
                phone: Some("15550001".into()),
                display_name: Some("Alice".into()),
            },
        ];
        s.update_state = Some((10, 2, 1_700_000_000, 3));
        let p = dir.path().join("a.session");
        write_telethon_file(&p, &s).await.unwrap();
        let back = read_telethon_file(&p).await.unwrap();
        assert_eq!(back, s);
        assert!(write_telethon_file(&p, &s).await.is_err(), "no overwrite");

        // Not a file / not SQLite / not Telethon.
        let missing = read_telethon_file(&dir.path().join("nope.session"))
            .await
            .unwrap_err();
        assert!(missing.to_string().contains("not a file"), "{missing}");
        let junk = dir.path().join("junk.session");
        std::fs::write(
            &junk,
            b"hello, not sqlite at all, just some bytes............",
        )
        .unwrap();
        let e = read_telethon_file(&junk).await.unwrap_err();
        assert!(matches!(e, SessionFormatError::TelethonFile(_)), "{e:?}");
    }

    #[tokio::test]
    async fn telethon_file_property_roundtrip() {
        // proptest does not drive async tests; a deterministic sweep over the same space instead.
        let dir = tempfile::tempdir().unwrap();
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strat = (1i32..=5, ip_strategy(), 1u16.., key_strategy());
        for i in 0..24 {
            let (dc, ip, port, key) = strat.new_tree(&mut runner).unwrap().current();
            let s = base(dc, ip, port, key);
            let p = dir.path().join(format!("{i}.session"));
            write_telethon_file(&p, &s).await.unwrap();
            assert_eq!(read_telethon_file(&p).await.unwrap(), s);
        }
    }
}
