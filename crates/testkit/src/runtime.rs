//! A temp SQLite store and a runtime over it.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use telegate_core::{Backoff, RateLimits, RuntimeConfig};
use telegate_store::{MasterKey, OpenOptions, SqlStore, Store};

/// Every event of `kind` the store's event log holds for `account`, oldest first (paged through
/// `events_after`).
pub async fn events_of(
    store: &Arc<dyn Store>,
    account: i64,
    kind: &str,
) -> Vec<telegate_store::Event> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .events_after(after, Some(account), 1000)
            .await
            .expect("events readable");
        let Some(last) = page.last() else { return out };
        after = last.id;
        out.extend(page.into_iter().filter(|e| e.kind == kind));
    }
}

/// A SQLite store in a temp directory (kept until drop) with its master key, so a second
/// process or a "restarted gateway" can open the same database.
pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub url: String,
    /// Base64 master key (for `TELEGATE_MASTER_KEY` of a child process).
    pub master_key_b64: String,
}

impl TestStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gateway.db").display()
        );
        let key: [u8; 32] = rand::random();
        Self {
            dir,
            url,
            master_key_b64: base64::engine::general_purpose::STANDARD.encode(key),
        }
    }

    /// Opens (and migrates) the store.
    pub async fn open(&self) -> Arc<dyn Store> {
        let master = MasterKey::from_base64(&self.master_key_b64, "test").expect("key");
        let mut opts = OpenOptions::new(self.url.clone(), master);
        opts.max_connections = 4;
        Arc::new(SqlStore::open(opts).await.expect("store opens"))
    }
}

impl Default for TestStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Runtime settings for tests: short health interval and backoff, no rate limits.
pub fn fast_config() -> RuntimeConfig {
    RuntimeConfig {
        health_interval: Duration::from_millis(500),
        health_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(20),
        backoff: Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(1),
            max_attempts: Some(50),
        },
        rate_limits: RateLimits::unlimited(),
        ..RuntimeConfig::default()
    }
}
