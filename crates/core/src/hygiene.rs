//! Session hygiene, scheduled by the runtime (issue 5 item 6): expire half-finished logins,
//! purge revoked sessions after their retention, expire abandoned uploads, forget old
//! idempotency outcomes and idle rate-limit buckets.

use std::sync::Arc;

use telegate_store::{now_ms, AccountState};
use tracing::{info, warn};

use crate::gateway::Runtime;

/// One pass of every job; returns what each removed (for tests and logs).
pub(crate) async fn run_once(rt: &Runtime) -> HygieneReport {
    let now = now_ms();
    let h = rt.config.hygiene;
    let mut report = HygieneReport::default();
    match rt.store.expire_pending_logins(now).await {
        Ok(ids) => {
            for id in &ids {
                if let Some(acct) = rt.account(*id) {
                    acct.transition(AccountState::LoginRequired, Some("login expired"))
                        .await;
                }
            }
            report.logins_expired = ids.len() as u64;
        }
        Err(e) => warn!(error = %e, "expiring logins failed"),
    }
    match rt
        .store
        .purge_revoked_sessions(
            now - h.revoked_session_retention.as_millis() as i64,
            "hygiene",
        )
        .await
    {
        Ok(n) => report.sessions_purged = n,
        Err(e) => warn!(error = %e, "purging revoked sessions failed"),
    }
    match rt.store.expire_uploads(now).await {
        Ok(n) => report.uploads_expired = n,
        Err(e) => warn!(error = %e, "expiring uploads failed"),
    }
    match rt
        .store
        .purge_idempotency(now - h.idempotency_retention.as_millis() as i64)
        .await
    {
        Ok(n) => report.idempotency_purged = n,
        Err(e) => warn!(error = %e, "purging idempotency records failed"),
    }
    rt.limiters.shrink();
    if report != HygieneReport::default() {
        info!(?report, "hygiene");
    }
    report
}

/// What one hygiene pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HygieneReport {
    pub logins_expired: u64,
    pub sessions_purged: u64,
    pub uploads_expired: u64,
    pub idempotency_purged: u64,
}

pub(crate) async fn run(rt: Arc<Runtime>) {
    let mut tick = tokio::time::interval(rt.config.hygiene.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if rt.is_shutting_down() {
            return;
        }
        run_once(&rt).await;
    }
}
