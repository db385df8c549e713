//! Flood control (issue 6 item 5): the gateway's own token buckets (governor) and the decision
//! what to do with Telegram's FLOOD_WAIT / FLOOD_PREMIUM_WAIT / SLOWMODE_WAIT.
//!
//! Two keyed limiters for the whole gateway — one keyed by account, one by (account, chat) —
//! rather than one limiter object per account: an idle account costs nothing, and governor's
//! keyed state is a sharded map, so the hot path takes no global lock. Waits are slept on
//! tokio's clock (so `tokio::time::pause` drives them in tests).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::RateLimiter;

use crate::config::{Quota, RateLimits};
use crate::error::{CoreError, CoreResult, ErrorCode};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

pub(crate) struct Limiters {
    per_account: Option<Keyed<i64>>,
    per_chat: Option<Keyed<(i64, i64)>>,
    clock: DefaultClock,
}

fn quota(q: Quota) -> governor::Quota {
    let per = NonZeroU32::new(q.per_second.max(1)).expect("non-zero");
    let burst = NonZeroU32::new(q.burst.max(1)).expect("non-zero");
    governor::Quota::per_second(per).allow_burst(burst)
}

impl Limiters {
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self {
            per_account: limits.per_account.map(|q| RateLimiter::keyed(quota(q))),
            per_chat: limits.per_chat.map(|q| RateLimiter::keyed(quota(q))),
            clock: DefaultClock::default(),
        }
    }

    /// Waits for a token of the account (and of the chat, for sends); with `fail_fast` or a wait
    /// above `max_wait`, fails with RATE_LIMITED and `retry_after` instead.
    pub(crate) async fn acquire(
        &self,
        account_id: i64,
        chat: Option<i64>,
        fail_fast: bool,
        max_wait: Duration,
    ) -> CoreResult<()> {
        loop {
            let mut wait = Duration::ZERO;
            if let Some(l) = &self.per_account {
                if let Err(not_until) = l.check_key(&account_id) {
                    wait = wait.max(not_until.wait_time_from(self.clock.now()));
                }
            }
            if wait.is_zero() {
                if let (Some(l), Some(c)) = (&self.per_chat, chat) {
                    if let Err(not_until) = l.check_key(&(account_id, c)) {
                        wait = wait.max(not_until.wait_time_from(self.clock.now()));
                    }
                }
            }
            if wait.is_zero() {
                return Ok(());
            }
            metrics::counter!("telegate_rate_limited_total").increment(1);
            if fail_fast || wait > max_wait {
                return Err(CoreError::new(
                    ErrorCode::RateLimited,
                    "the gateway's rate limit for this account or chat is reached",
                )
                .with_retry_after(wait.as_secs().max(1) as u32));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Forgets idle keys (run by the hygiene job).
    pub(crate) fn shrink(&self) {
        if let Some(l) = &self.per_account {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_chat {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// What to do with a flood error of `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloodDecision {
    Sleep(Duration),
    FailFast,
}

/// Sleep through waits up to the threshold (in total for one call), unless the call is
/// interactive (fail fast).
pub(crate) fn decide(
    seconds: u32,
    slept: Duration,
    threshold: Duration,
    fail_fast: bool,
) -> FloodDecision {
    let wait = Duration::from_secs(seconds as u64);
    if fail_fast || wait > threshold || slept + wait > threshold {
        FloodDecision::FailFast
    } else {
        FloodDecision::Sleep(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_decisions() {
        let t = Duration::from_secs(60);
        assert_eq!(
            decide(3, Duration::ZERO, t, false),
            FloodDecision::Sleep(Duration::from_secs(3))
        );
        assert_eq!(
            decide(300, Duration::ZERO, t, false),
            FloodDecision::FailFast
        );
        assert_eq!(decide(3, Duration::ZERO, t, true), FloodDecision::FailFast);
        assert_eq!(
            decide(30, Duration::from_secs(40), t, false),
            FloodDecision::FailFast
        );
    }

    #[tokio::test]
    async fn buckets_fail_fast_or_wait() {
        let l = Limiters::new(RateLimits {
            per_account: None,
            per_chat: Some(Quota {
                per_second: 1,
                burst: 2,
            }),
        });
        for _ in 0..2 {
            l.acquire(1, Some(5), true, Duration::from_secs(60))
                .await
                .unwrap();
        }
        let e = l
            .acquire(1, Some(5), true, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert_eq!(e.retry_after, Some(1));
        // Another chat, another bucket.
        l.acquire(1, Some(6), true, Duration::from_secs(60))
            .await
            .unwrap();
        // Waiting mode gets through.
        let t0 = std::time::Instant::now();
        l.acquire(1, Some(5), false, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(500));
    }
}
