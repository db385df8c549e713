//! The gateway's configuration, in one documented place: built-in defaults, then a TOML file,
//! then `TELEGATE_*` environment variables, then command-line flags (each layer overrides the
//! one before).
//!
//! Why a key table ([`KEYS`]): every setting has exactly one dotted name (`http.body_limit_bytes`),
//! one environment variable derived from it (`TELEGATE_HTTP_BODY_LIMIT_BYTES`), a type and a
//! line of documentation. The environment and flag layers are driven by the table, so a name
//! cannot be ambiguous (keys contain underscores), and `docs/configuration.md` and the example
//! file are checked against it by tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything `telegate serve` can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// Directory for the SQLite database and, in sandbox mode, the generated master key.
    pub data_dir: PathBuf,
    /// `sqlite://PATH?mode=rwc` or `postgres://USER@HOST/DB`; empty = SQLite in `data_dir`.
    pub database_url: String,
    /// Master key file (base64, 32 bytes); `TELEGATE_MASTER_KEY` (the key itself) wins.
    pub master_key_file: Option<PathBuf>,
    /// Control URL of a running mock DC to use instead of Telegram.
    pub mock_dc: Option<String>,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub events: EventsConfig,
    pub webhooks: WebhooksConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `telegate_api=debug,info`…
    pub level: String,
    /// `pretty` (human) or `json` (one object per line).
    pub format: LogFormat,
    /// Log every HTTP request at info level (errors are always logged).
    pub requests: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest JSON request body accepted (uploads have their own limits).
    pub body_limit_bytes: u64,
    /// Deadline for a request to be answered (streams and uploads are exempt).
    pub request_timeout_secs: u64,
    /// Origins allowed by CORS. Empty: CORS off (no headers sent). `["*"]`: any origin.
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a verified API token is trusted without asking the database again. A token
    /// revoked through the API stops working at once; revoked elsewhere (CLI, another
    /// gateway), within this time.
    pub token_cache_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Interval of SSE comments / WebSocket pings that keep idle streams open through proxies.
    pub keepalive_secs: u64,
    /// How often streams look for new events written by another process (events written by
    /// this gateway wake them at once).
    pub poll_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Run the delivery worker in this process.
    pub enabled: bool,
    /// First retry delay; each further retry doubles it.
    pub initial_backoff_ms: u64,
    /// Longest delay between two attempts.
    pub max_backoff_ms: u64,
    /// A delivery still failing this long after it was enqueued is dead-lettered.
    pub retry_window_secs: u64,
    /// Deadline of one delivery request.
    pub request_timeout_secs: u64,
    /// Deliveries in flight at once.
    pub concurrency: u32,
    /// How often the worker looks for due deliveries and new events.
    pub poll_interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("."),
            database_url: String::new(),
            master_key_file: None,
            mock_dc: None,
            log: LogConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            events: EventsConfig::default(),
            webhooks: WebhooksConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Pretty,
            requests: true,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            cors_origins: Vec::new(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_cache_secs: 30,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            keepalive_secs: 15,
            poll_interval_ms: 1000,
        }
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_backoff_ms: 5_000,
            max_backoff_ms: 3_600_000,
            retry_window_secs: 86_400,
            request_timeout_secs: 10,
            concurrency: 8,
            poll_interval_ms: 1000,
        }
    }
}

impl Config {
    /// The database URL in effect: the configured one, or SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("telegate.db").display()
            )
        } else {
            self.database_url.clone()
        }
    }
}

/// The type of a setting, for parsing environment variables and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    /// Comma-separated in the environment and flags.
    List,
}

/// One documented setting.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Dotted path in the TOML file.
    pub path: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
}

impl Key {
    /// `http.body_limit_bytes` → `TELEGATE_HTTP_BODY_LIMIT_BYTES`.
    pub fn env_name(&self) -> String {
        format!("TELEGATE_{}", self.path.replace('.', "_").to_uppercase())
    }
}

macro_rules! keys {
    ($( $path:literal : $kind:ident = $doc:literal ),+ $(,)?) => {
        /// Every setting (the one documented list; see the module docs).
        pub const KEYS: &[Key] = &[ $( Key { path: $path, kind: Kind::$kind, doc: $doc } ),+ ];
    };
}

keys! {
    "listen": Str = "Address the HTTP API listens on (default 127.0.0.1:8080).",
    "data_dir": Str = "Directory for the SQLite database and sandbox files (default ., so the database is ./telegate.db as for the other commands).",
    "database_url": Str = "sqlite://PATH?mode=rwc or postgres://USER@HOST/DB; empty = SQLite in data_dir. DATABASE_URL is read too.",
    "master_key_file": Str = "Master key file (base64 of 32 bytes); TELEGATE_MASTER_KEY (the key itself) takes precedence.",
    "mock_dc": Str = "Control URL of a running mock DC to use instead of Telegram.",
    "log.level": Str = "Log filter: info, debug, telegate_api=debug,info … (TELEGATE_LOG is read too).",
    "log.format": Str = "pretty or json.",
    "log.requests": Bool = "Log every HTTP request at info level (errors are always logged).",
    "http.body_limit_bytes": Int = "Largest JSON request body accepted (default 1 MiB; uploads have their own limits).",
    "http.request_timeout_secs": Int = "Deadline for answering a request (default 30; streams and uploads are exempt).",
    "http.cors_origins": List = "Origins allowed by CORS; empty = CORS off (default), * = any.",
    "auth.token_cache_secs": Int = "How long a verified API token is trusted without asking the database (default 30).",
    "events.keepalive_secs": Int = "Keep-alive interval of SSE and WebSocket streams (default 15).",
    "events.poll_interval_ms": Int = "How often streams look for events written by another process (default 1000).",
    "webhooks.enabled": Bool = "Run the webhook delivery worker in this process (default true).",
    "webhooks.initial_backoff_ms": Int = "First retry delay of a failed delivery; doubled at each retry (default 5000).",
    "webhooks.max_backoff_ms": Int = "Longest delay between two attempts (default 3600000).",
    "webhooks.retry_window_secs": Int = "A delivery still failing this long after it was enqueued is dead-lettered (default 86400).",
    "webhooks.request_timeout_secs": Int = "Deadline of one delivery request (default 10).",
    "webhooks.concurrency": Int = "Deliveries in flight at once (default 8).",
    "webhooks.poll_interval_ms": Int = "How often the worker looks for due deliveries (default 1000).",
}

/// A configuration error names the layer and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{source_name}: {message}")]
    Value {
        source_name: String,
        message: String,
    },
    #[error("unknown setting {0:?} (see docs/configuration.md for the list)")]
    UnknownKey(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Where the settings come from, besides the defaults.
#[derive(Debug, Default)]
pub struct Sources {
    /// The TOML file (`--config` or `TELEGATE_CONFIG`).
    pub file: Option<PathBuf>,
    /// Environment variables (pass `std::env::vars()`; tests pass their own).
    pub env: BTreeMap<String, String>,
    /// Flags as `(dotted key, value)`, applied last.
    pub flags: Vec<(String, String)>,
}

impl Sources {
    /// The process environment and the given flags; the file from `TELEGATE_CONFIG` unless
    /// given.
    pub fn from_process(file: Option<PathBuf>, flags: Vec<(String, String)>) -> Self {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let file = file.or_else(|| env.get("TELEGATE_CONFIG").map(PathBuf::from));
        Self { file, env, flags }
    }
}

fn key(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

fn parse_value(k: &Key, raw: &str, source_name: &str) -> Result<toml::Value, ConfigError> {
    let bad = |what: &str| ConfigError::Value {
        source_name: source_name.to_owned(),
        message: format!("expected {what}, got {raw:?}"),
    };
    Ok(match k.kind {
        Kind::Str => toml::Value::String(raw.to_owned()),
        Kind::Int => toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        Kind::Bool => toml::Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(bad("true or false")),
        }),
        Kind::List => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
    })
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_owned(), value);
            return;
        }
        let entry = cur
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        if !entry.is_table() {
            *entry = toml::Value::Table(Default::default());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
}

impl Config {
    /// Defaults → file → environment → flags.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(path) = &sources.file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            table = toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
            // Checked now so that the error names the file.
            Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError::File {
                    path: path.clone(),
                    message: e.to_string(),
                }
            })?;
        }
        // DATABASE_URL (the conventional name, issue 5) and TELEGATE_LOG (the filter variable
        // the CLI always read) are aliases with lower precedence than the TELEGATE_ names.
        for (alias, path) in [
            ("DATABASE_URL", "database_url"),
            ("TELEGATE_LOG", "log.level"),
        ] {
            if let Some(v) = sources.env.get(alias) {
                set_path(&mut table, path, parse_value(key(path).unwrap(), v, alias)?);
            }
        }
        for k in KEYS {
            let name = k.env_name();
            if let Some(v) = sources.env.get(&name) {
                set_path(&mut table, k.path, parse_value(k, v, &name)?);
            }
        }
        for (path, raw) in &sources.flags {
            let k = key(path).ok_or_else(|| ConfigError::UnknownKey(path.clone()))?;
            set_path(
                &mut table,
                k.path,
                parse_value(k, raw, &format!("flag {path}"))?,
            );
        }
        let config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "listen = {:?}: expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080",
                self.listen
            )));
        }
        if self.webhooks.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "webhooks.concurrency must be at least 1".into(),
            ));
        }
        if self.webhooks.initial_backoff_ms == 0
            || self.webhooks.max_backoff_ms < self.webhooks.initial_backoff_ms
        {
            return Err(ConfigError::Invalid(
                "webhooks: need 0 < initial_backoff_ms <= max_backoff_ms".into(),
            ));
        }
        for origin in &self.http.cors_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "http.cors_origins: {origin:?} is not an origin (https://host[:port] or *)"
                )));
            }
        }
        Ok(())
    }

    /// Reads a config file alone (for `telegate config check`-style uses and tests).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Self::load(&Sources {
            file: Some(path.to_owned()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_paths(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_table() {
                    leaf_paths(v, &p, out);
                } else {
                    out.push(p);
                }
            }
        }
    }

    #[test]
    fn the_key_table_lists_every_field_and_nothing_else() {
        let full = Config {
            master_key_file: Some("k".into()),
            mock_dc: Some("http://x".into()),
            ..Default::default()
        };
        let mut paths = Vec::new();
        leaf_paths(&toml::Value::try_from(&full).unwrap(), "", &mut paths);
        let mut documented: Vec<String> = KEYS.iter().map(|k| k.path.to_owned()).collect();
        paths.sort();
        documented.sort();
        assert_eq!(paths, documented);
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("telegate.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[http]\nbody_limit_bytes = 10\nrequest_timeout_secs = 7\n",
        )
        .unwrap();
        let env = BTreeMap::from([
            ("TELEGATE_HTTP_BODY_LIMIT_BYTES".to_owned(), "20".to_owned()),
            (
                "TELEGATE_HTTP_CORS_ORIGINS".to_owned(),
                "https://a.example, https://b.example".to_owned(),
            ),
            ("DATABASE_URL".to_owned(), "postgres://x@y/z".to_owned()),
            ("TELEGATE_LOG_REQUESTS".to_owned(), "off".to_owned()),
        ]);
        let config = Config::load(&Sources {
            file: Some(file),
            env,
            flags: vec![("listen".into(), "0.0.0.0:1".into())],
        })
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:1", "flag over file");
        assert_eq!(config.http.body_limit_bytes, 20, "env over file");
        assert_eq!(config.http.request_timeout_secs, 7, "file over default");
        assert_eq!(config.http.cors_origins.len(), 2);
        assert_eq!(config.database_url, "postgres://x@y/z");
        assert!(!config.log.requests);
        assert_eq!(config.auth.token_cache_secs, 30, "default");
    }

    #[test]
    fn errors_name_the_culprit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[http]\nbody_limit = 3\n").unwrap();
        let e = Config::from_file(&file).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("body_limit"), "{e}");

        let env = BTreeMap::from([("TELEGATE_HTTP_BODY_LIMIT_BYTES".into(), "lots".into())]);
        let e = Config::load(&Sources {
            env,
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("TELEGATE_HTTP_BODY_LIMIT_BYTES") && e.contains("lots"),
            "{e}"
        );

        let e = Config::load(&Sources {
            flags: vec![("http.nope".into(), "1".into())],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("http.nope"), "{e}");

        let e = Config::load(&Sources {
            flags: vec![("listen".into(), "localhost".into())],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("listen"), "{e}");
    }

    #[test]
    fn the_example_file_and_the_guide_cover_every_key() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let example = root.join("docs/telegate.example.toml");
        let config = Config::from_file(&example).expect("the example file parses");
        assert_eq!(config, Config::default(), "the example shows the defaults");
        let example_text = std::fs::read_to_string(&example).unwrap();
        let guide = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
        for k in KEYS {
            let leaf = k.path.rsplit('.').next().unwrap();
            assert!(
                example_text.contains(&format!("{leaf} =")),
                "{} missing from the example",
                k.path
            );
            assert!(
                guide.contains(&format!("`{}`", k.path)) && guide.contains(&k.env_name()),
                "{} missing from docs/configuration.md",
                k.path
            );
        }
    }
}
