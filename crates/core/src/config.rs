//! Runtime configuration: every knob of the account runtime, with the defaults a serious
//! deployment starts from. The API/CLI layer fills it from its TOML/env/flags (issue 7); this
//! crate only defines it.

use std::time::Duration;

/// Reconnect policy: exponential backoff with **full jitter** (sleep a uniform random time in
/// `[0, min(cap, base·2^attempt)]`), as in the AWS architecture note — it spreads the
/// reconnects of thousands of accounts after a DC outage instead of synchronising them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// Consecutive failed connection attempts before the account goes to `failed` (the seed
    /// used 5 tries; `None` retries forever).
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            max_attempts: Some(10),
        }
    }
}

impl Backoff {
    /// The upper bound of the sleep before attempt `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A full-jitter sleep before attempt `attempt`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::random_range(0..=nanos))
    }
}

/// A token-bucket quota: `per_second` sustained, bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_second: u32,
    pub burst: u32,
}

/// The gateway's own rate limits, chosen so that Telegram's flood waits stay rare. Defaults follow
/// Telegram's published bot limits (about 30 messages/s overall, 1/s per chat with short bursts;
/// core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this); user accounts are
/// held to the same. `None` disables a limit (benchmarks against the mock do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Every Telegram call of one account.
    pub per_account: Option<Quota>,
    /// Sends into one chat (messages, media, forwards).
    pub per_chat: Option<Quota>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_account: Some(Quota {
                per_second: 30,
                burst: 60,
            }),
            per_chat: Some(Quota {
                per_second: 1,
                burst: 20,
            }),
        }
    }
}

impl RateLimits {
    pub fn unlimited() -> Self {
        Self {
            per_account: None,
            per_chat: None,
        }
    }
}

/// Background hygiene (issue 5 item 6): what is purged and how often the job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hygiene {
    pub interval: Duration,
    /// Revoked sessions' keys are kept (marked) this long, then deleted.
    pub revoked_session_retention: Duration,
    /// Idempotency outcomes are kept this long (clients retry within minutes; a day is generous).
    pub idempotency_retention: Duration,
}

impl Default for Hygiene {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            revoked_session_retention: Duration::from_secs(30 * 24 * 3600),
            idempotency_retention: Duration::from_secs(24 * 3600),
        }
    }
}

/// What `initConnection` tells Telegram about this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device_model: String,
    pub system_version: String,
    pub app_version: String,
    pub lang_code: String,
}

impl Default for DeviceInfo {
    fn default() -> Self {
        Self {
            device_model: "telegate".into(),
            system_version: std::env::consts::OS.into(),
            app_version: env!("CARGO_PKG_VERSION").into(),
            lang_code: "en".into(),
        }
    }
}

/// Configuration of the account runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Accounts connected at once during start-up restore (no thundering herd).
    pub restore_concurrency: usize,
    pub backoff: Backoff,
    /// Every how often a connected account is probed with `updates.getState` (dead-connection
    /// detection, RTT, revocation within one interval).
    pub health_interval: Duration,
    /// How long a probe may take before the connection is declared dead.
    pub health_timeout: Duration,
    /// Deadline of one Telegram call (including waiting for a connection).
    pub request_timeout: Duration,
    /// FLOOD_WAIT / FLOOD_PREMIUM_WAIT / SLOWMODE_WAIT at or under this are slept through
    /// (unless the call opts out); above it the call fails fast with `retry_after`.
    pub flood_sleep_threshold: Duration,
    /// Calls waiting per account (queued + in flight) before QUEUE_FULL.
    pub queue_capacity: usize,
    /// Calls in flight per account at once (Telegram pipelines them on one connection).
    pub max_in_flight: usize,
    /// Retries of a call that is safe to repeat (reads, sends with a random_id) after a
    /// connection drop.
    pub transient_retries: u32,
    pub rate_limits: RateLimits,
    /// Half-finished logins expire after this.
    pub login_ttl: Duration,
    /// A QR login token is refreshed this long before Telegram's expiry.
    pub qr_refresh_margin: Duration,
    /// Capacity of grammers' channel between the connection and the update consumer. Full
    /// means dropped updates (then recovered by getDifference): keep it roomy. tokio allocates
    /// its blocks lazily, so an idle account pays nothing for it.
    pub updates_channel_capacity: usize,
    /// How long graceful shutdown waits for in-flight calls and queued writes.
    pub drain_timeout: Duration,
    /// Events and idempotency outcomes per group commit (at most).
    pub writer_batch: usize,
    pub hygiene: Hygiene,
    pub device: DeviceInfo,
    /// Connections of the transfer pool (upload parts, downloads from the home DC), each its
    /// own MTProto session on the account's key, opened lazily while the others are busy.
    /// 0 sends file traffic over the account's grammers client as before.
    pub transfer_connections: usize,
    /// A transfer connection with nothing to do closes after this.
    pub transfer_idle_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            restore_concurrency: 64,
            backoff: Backoff::default(),
            health_interval: Duration::from_secs(60),
            health_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            flood_sleep_threshold: Duration::from_secs(60),
            queue_capacity: 1024,
            max_in_flight: 128,
            transient_retries: 8,
            rate_limits: RateLimits::default(),
            login_ttl: Duration::from_secs(15 * 60),
            qr_refresh_margin: Duration::from_secs(5),
            updates_channel_capacity: 4096,
            drain_timeout: Duration::from_secs(10),
            writer_batch: 2048,
            hygiene: Hygiene::default(),
            device: DeviceInfo::default(),
            transfer_connections: 4,
            transfer_idle_timeout: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_full_jitter() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: None,
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(4), Duration::from_secs(1));
        assert_eq!(b.ceiling(100), Duration::from_secs(1));
        let delays: Vec<_> = (0..200).map(|_| b.delay(10)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(1)));
        // Full jitter: spread over the whole range, not clustered at the ceiling.
        assert!(delays.iter().any(|d| *d < Duration::from_millis(300)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(700)));
    }
}
