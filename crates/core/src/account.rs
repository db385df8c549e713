//! One account: its shared state, its supervisor actor and the call path every operation uses.
//!
//! The supervisor (one tokio task per account, fed by a small mpsc of [`Control`] messages)
//! owns the connection lifecycle and the state machine
//! `login_required → logging_in → connecting → connected ⇄ reconnecting`, plus the
//! terminal-until-acted-on `unauthorized`, `banned`, `failed`, `stopped`. Every transition is
//! persisted and written to the event log. It runs grammers' `SenderPoolRunner` in its own task
//! and watches it: grammers re-raises a panic of a connection task there, which tokio turns
//! into a `JoinError` — the account logs it and rebuilds its client; nothing else notices.
//!
//! Operations do **not** hop through the actor: a caller takes the current client from the
//! account (a read lock and an `Arc` clone) and invokes on it directly, so a send costs no
//! extra task switch. What the actor must know (a dropped connection, a revoked key) the call
//! path reports with a non-blocking `try_send`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use grammers_client::Client;
use grammers_mtsender::{
    ConnectionParams, InvocationError, NoRetries, SenderPool, SenderPoolFatHandle,
};
use grammers_session::types::{DcOption, PeerId};
use grammers_session::updates::UpdatesLike;
use grammers_session::Session as _;
use grammers_tl_types as tl;
use telegate_store::{
    now_ms, AccountKind, AccountState, SessionOptions, SessionSnapshot, StoreSession,
};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};

use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events;
use crate::flood::{decide, FloodDecision};
use crate::gateway::Runtime;
use crate::types::{ErrorView, Health};

/// Messages to the supervisor.
pub(crate) enum Control {
    /// Authorized now (login finished, or restored): connect and stay connected.
    Connect,
    /// A call saw the connection fail: probe now.
    Trouble,
    /// A call got a terminal answer (revoked key, ban).
    Fatal(ErrorCode, String),
    /// Build the client if there is none (logins need one before the account is authorized).
    EnsureConn(oneshot::Sender<CoreResult<Arc<Conn>>>),
    /// Operator stop.
    Stop,
    /// Disconnect and end the actor (shutdown, delete).
    Shutdown(oneshot::Sender<()>),
}

/// The live client of an account.
pub(crate) struct Conn {
    pub(crate) client: Client,
    pub(crate) fat: SenderPoolFatHandle,
    pub(crate) session: Arc<StoreSession>,
    /// grammers' update channel until the consumer takes it (the QR login reads it first).
    pub(crate) raw_updates: tokio::sync::Mutex<Option<mpsc::Receiver<UpdatesLike>>>,
}

impl Conn {
    pub(crate) fn home_dc(&self) -> i32 {
        self.session.home_dc_id().unwrap_or(2)
    }
}

struct Status {
    state: AccountState,
    since: i64,
    last_ok_at: Option<i64>,
    last_error: Option<ErrorView>,
    rtt_ms: Option<u32>,
    reconnects: u32,
}

/// Shared state of one account (behind `Arc`, held by the registry and by handles).
pub(crate) struct Account {
    pub(crate) id: i64,
    /// User or bot (bots skip user-only calls).
    #[allow(dead_code)]
    pub(crate) kind: AccountKind,
    pub(crate) rt: Arc<Runtime>,
    status: Mutex<Status>,
    state_tx: watch::Sender<AccountState>,
    conn: RwLock<Option<Arc<Conn>>>,
    pub(crate) ctl: mpsc::Sender<Control>,
    queued: AtomicU32,
    inflight: Semaphore,
    /// Serialises login steps of this account.
    pub(crate) login_lock: tokio::sync::Mutex<()>,
    /// The transfer pool, made on the first file transfer (`transfer.rs`).
    pub(crate) transfer: Mutex<Option<Arc<crate::transfer::TransferPool>>>,
}

/// How a call behaves.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallCtx {
    /// Flood waits and rate limits fail fast.
    pub(crate) fail_fast: bool,
    /// Safe to repeat after a connection drop (reads; sends carrying a random_id).
    pub(crate) retry_safe: bool,
    /// The chat a send goes to (per-chat bucket).
    pub(crate) chat: Option<i64>,
    /// Part of a login: the account is not authorized yet, use the client anyway.
    pub(crate) login: bool,
}

impl CallCtx {
    pub(crate) fn read() -> Self {
        Self {
            retry_safe: true,
            ..Self::default()
        }
    }
    pub(crate) fn write() -> Self {
        Self::default()
    }
}

/// How an invocation error is handled.
pub(crate) enum Failure {
    Flood(u32),
    Migrate(i32),
    Transient,
    Fatal(ErrorCode),
    Other,
}

pub(crate) fn classify(e: &InvocationError) -> Failure {
    match e {
        InvocationError::Rpc(r) => {
            if r.code == 420
                || matches!(
                    r.name.as_str(),
                    "SLOWMODE_WAIT" | "FLOOD_WAIT" | "FLOOD_PREMIUM_WAIT"
                )
            {
                return Failure::Flood(r.value.unwrap_or(1));
            }
            if r.code == 303
                && matches!(
                    r.name.as_str(),
                    "USER_MIGRATE" | "PHONE_MIGRATE" | "NETWORK_MIGRATE"
                )
            {
                return r
                    .value
                    .map(|v| Failure::Migrate(v as i32))
                    .unwrap_or(Failure::Other);
            }
            let (code, _) = ErrorCode::from_rpc(r.code, &r.name, r.value);
            match code {
                ErrorCode::SessionRevoked
                | ErrorCode::AuthKeyDuplicated
                | ErrorCode::AccountBanned
                    if !matches!(r.name.as_str(), "SESSION_PASSWORD_NEEDED") =>
                {
                    Failure::Fatal(code)
                }
                ErrorCode::TelegramUnavailable => Failure::Transient,
                _ => Failure::Other,
            }
        }
        InvocationError::Io(_) | InvocationError::Dropped(_) | InvocationError::Transport(_) => {
            Failure::Transient
        }
        InvocationError::Deserialize(_)
        | InvocationError::Session(_)
        | InvocationError::InvalidDc
        | InvocationError::Authentication(_) => Failure::Other,
    }
}

/// The product error for a grammers error.
pub(crate) fn core_error(e: InvocationError) -> CoreError {
    match e {
        InvocationError::Rpc(r) => CoreError::from_rpc(r.code, &r.name, r.value),
        InvocationError::Io(_) | InvocationError::Dropped(_) | InvocationError::Transport(_) => {
            CoreError::new(ErrorCode::NotConnected, "the connection to Telegram failed")
                .with_internal(e)
        }
        other => CoreError::internal(other.to_string()),
    }
}

pub(crate) fn state_error(state: AccountState) -> CoreError {
    match state {
        AccountState::LoginRequired | AccountState::LoggingIn => {
            CoreError::new(ErrorCode::LoginRequired, "the account is not logged in")
        }
        AccountState::Unauthorized => CoreError::new(
            ErrorCode::SessionRevoked,
            "Telegram revoked this account's session: log in again",
        ),
        AccountState::Banned => CoreError::new(
            ErrorCode::AccountBanned,
            "the Telegram account is deactivated or banned",
        ),
        AccountState::Failed => CoreError::new(
            ErrorCode::AccountFailed,
            "the account gave up reconnecting; see its health",
        ),
        AccountState::Stopped => {
            CoreError::new(ErrorCode::AccountStopped, "the account is stopped")
        }
        _ => CoreError::new(
            ErrorCode::NotConnected,
            "the account is not connected right now",
        ),
    }
}

/// Releases a queue slot on drop.
struct QueueSlot<'a>(&'a AtomicU32);
impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("telegate_queue_depth").decrement(1.0);
    }
}

impl Account {
    pub(crate) fn new(
        rt: Arc<Runtime>,
        id: i64,
        kind: AccountKind,
        state: AccountState,
    ) -> (Arc<Self>, mpsc::Receiver<Control>) {
        let (ctl, rx) = mpsc::channel(16);
        let (state_tx, _) = watch::channel(state);
        metrics::gauge!("telegate_accounts", "state" => state.as_str()).increment(1.0);
        let max = rt.config.max_in_flight.max(1);
        (
            Arc::new(Self {
                id,
                kind,
                rt,
                status: Mutex::new(Status {
                    state,
                    since: now_ms(),
                    last_ok_at: None,
                    last_error: None,
                    rtt_ms: None,
                    reconnects: 0,
                }),
                state_tx,
                conn: RwLock::new(None),
                ctl,
                queued: AtomicU32::new(0),
                inflight: Semaphore::new(max),
                login_lock: tokio::sync::Mutex::new(()),
                transfer: Mutex::new(None),
            }),
            rx,
        )
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn state(&self) -> AccountState {
        *self.state_tx.borrow()
    }

    pub(crate) fn subscribe_state(&self) -> watch::Receiver<AccountState> {
        self.state_tx.subscribe()
    }

    pub(crate) fn health(&self) -> Health {
        let s = self.status();
        Health {
            state: crate::types::AccountStateName(s.state),
            since: s.since,
            last_ok_at: s.last_ok_at,
            last_error: s.last_error.clone(),
            rtt_ms: s.rtt_ms,
            reconnects: s.reconnects,
            queue_depth: self.queued.load(Ordering::Relaxed),
        }
    }

    fn note_error(&self, e: &CoreError) {
        self.status().last_error = Some(ErrorView {
            code: e.code,
            message: e.message.clone(),
            at: now_ms(),
        });
    }

    fn note_ok(&self) {
        self.status().last_ok_at = Some(now_ms());
    }

    /// Moves the state machine: persisted, emitted as an event, published to waiters.
    pub(crate) async fn transition(&self, to: AccountState, reason: Option<&str>) {
        let from = {
            let mut s = self.status();
            if s.state == to {
                return;
            }
            let from = s.state;
            s.state = to;
            s.since = now_ms();
            from
        };
        metrics::gauge!("telegate_accounts", "state" => from.as_str()).decrement(1.0);
        metrics::gauge!("telegate_accounts", "state" => to.as_str()).increment(1.0);
        info!(
            account_id = self.id,
            from = from.as_str(),
            to = to.as_str(),
            reason,
            "account state"
        );
        if let Err(e) = self.rt.store.set_account_state(self.id, to, reason).await {
            warn!(account_id = self.id, error = %e, "state not persisted");
        }
        let batch = telegate_store::UpdateBatch {
            account_id: self.id,
            events: vec![events::account_state(self.id, to, from, reason)],
            ..Default::default()
        };
        if let Err(e) = self.rt.writer.write_batch(batch).await {
            warn!(account_id = self.id, error = %e, "state event not written");
        }
        // Published last: whoever waits for a state sees it persisted and in the event log.
        self.state_tx.send_replace(to);
    }

    pub(crate) fn current_conn(&self) -> Option<Arc<Conn>> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_conn(&self, c: Option<Arc<Conn>>) {
        *self.conn.write().unwrap_or_else(|e| e.into_inner()) = c;
    }

    /// The client, built by the supervisor if needed (logins).
    pub(crate) async fn ensure_conn(&self) -> CoreResult<Arc<Conn>> {
        if let Some(c) = self.current_conn() {
            return Ok(c);
        }
        let (tx, rx) = oneshot::channel();
        self.ctl
            .send(Control::EnsureConn(tx))
            .await
            .map_err(|_| CoreError::new(ErrorCode::ShuttingDown, "the account is shutting down"))?;
        rx.await
            .map_err(|_| CoreError::new(ErrorCode::ShuttingDown, "the account is shutting down"))?
    }

    /// Waits (up to `deadline`) for a connected client.
    pub(crate) async fn connected_conn(
        &self,
        deadline: tokio::time::Instant,
    ) -> CoreResult<Arc<Conn>> {
        let mut rx = self.state_tx.subscribe();
        loop {
            let state = *rx.borrow_and_update();
            match state {
                AccountState::Connected => {
                    if let Some(c) = self.current_conn() {
                        return Ok(c);
                    }
                }
                AccountState::Connecting | AccountState::Reconnecting => {}
                other => return Err(state_error(other)),
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => {
                    return Err(CoreError::new(
                        ErrorCode::ShuttingDown,
                        "the account is shutting down",
                    ))
                }
                Err(_) => return Err(state_error(state)),
            }
        }
    }

    /// The call path of every Telegram operation: bounded queue, rate limits, flood waits,
    /// migrations, reconnects, error mapping, metrics.
    pub(crate) async fn invoke<R>(&self, req: &R, ctx: CallCtx) -> CoreResult<R::Return>
    where
        R: tl::RemoteCall + tl::Identifiable,
    {
        let method = tl::name_for_id(R::CONSTRUCTOR_ID);
        let span = tracing::debug_span!("telegram_call", account_id = self.id, method);
        self.invoke_inner(req, ctx, method).instrument(span).await
    }

    async fn invoke_inner<R: tl::RemoteCall>(
        &self,
        req: &R,
        ctx: CallCtx,
        method: &'static str,
    ) -> CoreResult<R::Return> {
        let cfg = &self.rt.config;
        if self.rt.is_shutting_down() {
            return Err(CoreError::new(
                ErrorCode::ShuttingDown,
                "the gateway is shutting down",
            ));
        }
        // Bounded queue: over capacity, refuse instead of buffering without limit.
        let depth = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("telegate_queue_depth").increment(1.0);
        let _slot = QueueSlot(&self.queued);
        if depth as usize > cfg.queue_capacity {
            metrics::counter!("telegate_queue_full_total").increment(1);
            return Err(CoreError::new(
                ErrorCode::QueueFull,
                "too many calls queued for this account",
            )
            .with_retry_after(1));
        }
        let deadline = tokio::time::Instant::now() + cfg.request_timeout;
        let _permit = tokio::time::timeout_at(deadline, self.inflight.acquire())
            .await
            .map_err(|_| {
                CoreError::new(
                    ErrorCode::Timeout,
                    "the account's calls did not make room in time",
                )
            })?
            .map_err(|_| CoreError::new(ErrorCode::ShuttingDown, "the account is shutting down"))?;
        self.rt
            .limiters
            .acquire(self.id, ctx.chat, ctx.fail_fast, cfg.flood_sleep_threshold)
            .await?;
        let mut slept = Duration::ZERO;
        let mut transient = 0u32;
        let mut migrations = 0u32;
        loop {
            let conn = if ctx.login {
                self.ensure_conn().await?
            } else {
                self.connected_conn(deadline).await?
            };
            let started = Instant::now();
            let dc = conn.home_dc();
            let res = tokio::time::timeout_at(deadline, conn.client.invoke_in_dc(dc, req)).await;
            metrics::histogram!("telegate_request_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            let err = match res {
                Ok(Ok(v)) => {
                    self.note_ok();
                    return Ok(v);
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    let _ = self.ctl.try_send(Control::Trouble);
                    let e = CoreError::new(
                        ErrorCode::Timeout,
                        format!("{method} did not answer in time"),
                    );
                    self.count_error(&e);
                    return Err(e);
                }
            };
            match classify(&err) {
                Failure::Flood(secs) => {
                    metrics::counter!("telegate_flood_waits_total", "method" => method)
                        .increment(1);
                    metrics::counter!("telegate_flood_wait_seconds_total", "method" => method)
                        .increment(secs as u64);
                    match decide(secs, slept, cfg.flood_sleep_threshold, ctx.fail_fast) {
                        FloodDecision::Sleep(d) => {
                            debug!(
                                account_id = self.id,
                                method, secs, "sleeping through a flood wait"
                            );
                            tokio::time::sleep(d).await;
                            slept += d;
                            continue;
                        }
                        FloodDecision::FailFast => {
                            let e = core_error(err);
                            self.count_error(&e);
                            return Err(e);
                        }
                    }
                }
                Failure::Migrate(new_dc) if migrations < 3 => {
                    // grammers follows *_MIGRATE only in sendCode, bot sign-in and downloads.
                    migrations += 1;
                    info!(
                        account_id = self.id,
                        method,
                        from = dc,
                        to = new_dc,
                        "following a DC migration"
                    );
                    self.migrate_home(&conn, new_dc).await?;
                    continue;
                }
                Failure::Transient if ctx.retry_safe && transient < cfg.transient_retries => {
                    transient += 1;
                    let _ = self.ctl.try_send(Control::Trouble);
                    metrics::counter!("telegate_call_retries_total", "method" => method)
                        .increment(1);
                    // A dropped connection is re-made by grammers on the next call; a short
                    // jittered pause keeps thousands of retries from arriving as one burst.
                    let pause = Duration::from_millis(20 * transient as u64);
                    tokio::time::sleep(pause.mul_f64(0.5 + rand::random::<f64>())).await;
                    continue;
                }
                Failure::Fatal(code) => {
                    let e = core_error(err);
                    let _ = self.ctl.try_send(Control::Fatal(code, e.message.clone()));
                    self.count_error(&e);
                    return Err(e);
                }
                Failure::Transient => {
                    let _ = self.ctl.try_send(Control::Trouble);
                    let e = core_error(err);
                    self.count_error(&e);
                    return Err(e);
                }
                _ => {
                    let e = core_error(err);
                    self.count_error(&e);
                    return Err(e);
                }
            }
        }
    }

    pub(crate) fn count_error(&self, e: &CoreError) {
        metrics::counter!("telegate_errors_total", "code" => e.code.as_str()).increment(1);
        self.note_error(e);
    }

    /// Makes `dc` the home DC (provisioning its key when pointed at a mock).
    pub(crate) async fn migrate_home(&self, conn: &Conn, dc: i32) -> CoreResult<()> {
        let old = conn.home_dc();
        self.rt.ensure_dc_keys(&conn.session).await?;
        conn.session
            .set_home_dc_id(dc)
            .await
            .map_err(CoreError::from)?;
        if old != dc {
            conn.fat.thin.disconnect_from_dc(old);
        }
        Ok(())
    }

    /// Builds a client over the stored session.
    async fn build_conn(
        &self,
        snapshot: Option<SessionSnapshot>,
    ) -> CoreResult<(Arc<Conn>, JoinHandle<()>)> {
        let store = self.rt.store.clone();
        let session = match snapshot {
            Some(s) => StoreSession::from_snapshot(store, s, SessionOptions::default()),
            None => StoreSession::load(store, self.id, SessionOptions::default()).await?,
        };
        let session = Arc::new(session);
        self.rt.ensure_dc_keys(&session).await?;
        let cfg = &self.rt.config;
        let params = ConnectionParams {
            device_model: cfg.device.device_model.clone(),
            system_version: cfg.device.system_version.clone(),
            app_version: cfg.device.app_version.clone(),
            system_lang_code: cfg.device.lang_code.clone(),
            lang_code: cfg.device.lang_code.clone(),
            retry_policy: Box::new(NoRetries),
            updates_channel_capacity: std::num::NonZeroUsize::new(
                cfg.updates_channel_capacity.max(1),
            )
            .expect("non-zero"),
            ..ConnectionParams::default()
        };
        let pool = SenderPool::with_configuration(session.clone(), self.rt.target.api_id, params);
        let SenderPool {
            runner,
            handle,
            updates,
        } = pool;
        let id = self.id;
        let runner = tokio::spawn(
            runner
                .run()
                .instrument(tracing::debug_span!("sender_pool", account_id = id)),
        );
        let client = Client::new(handle.clone());
        Ok((
            Arc::new(Conn {
                client,
                fat: handle,
                session,
                raw_updates: tokio::sync::Mutex::new(Some(updates)),
            }),
            runner,
        ))
    }
}

/// Outcome of one health probe.
enum Probe {
    Ok(Duration),
    Transient(CoreError),
    Fatal(ErrorCode, CoreError),
}

/// The supervisor actor of one account.
pub(crate) async fn supervise(
    acct: Arc<Account>,
    mut rx: mpsc::Receiver<Control>,
    mut snapshot: Option<SessionSnapshot>,
) {
    let cfg = acct.rt.config.clone();
    let mut runner: Option<JoinHandle<()>> = None;
    let mut consumer: Option<JoinHandle<()>> = None;
    let mut want_connected = matches!(
        acct.state(),
        AccountState::Connecting | AccountState::Connected | AccountState::Reconnecting
    );
    let mut attempts: u32 = 0;
    let mut next_probe = tokio::time::Instant::now();
    let mut shutdown_reply: Option<oneshot::Sender<()>> = None;

    macro_rules! teardown {
        () => {{
            if let Some(c) = consumer.take() {
                c.abort();
            }
            if let Some(conn) = acct.current_conn() {
                conn.fat.thin.quit();
            }
            acct.set_conn(None);
            if let Some(r) = runner.take() {
                let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
            }
        }};
    }

    loop {
        tokio::select! {
            biased;
            ctl = rx.recv() => match ctl {
                None => break,
                Some(Control::Shutdown(tx)) => { shutdown_reply = Some(tx); break; }
                Some(Control::EnsureConn(tx)) => {
                    let r = match acct.current_conn() {
                        Some(c) => Ok(c),
                        None => match acct.build_conn(snapshot.take()).await {
                            Ok((c, r)) => { acct.set_conn(Some(c.clone())); runner = Some(r); Ok(c) }
                            Err(e) => Err(e),
                        },
                    };
                    let _ = tx.send(r);
                }
                Some(Control::Connect) => {
                    want_connected = true;
                    attempts = 0;
                    if acct.state() != AccountState::Connected {
                        acct.transition(AccountState::Connecting, None).await;
                    }
                    next_probe = tokio::time::Instant::now();
                }
                Some(Control::Trouble) => {
                    if want_connected {
                        next_probe = next_probe.min(tokio::time::Instant::now());
                    }
                }
                Some(Control::Fatal(code, msg)) => {
                    if want_connected || acct.state() == AccountState::LoggingIn {
                        fatal(&acct, code, &msg).await;
                        want_connected = false;
                        teardown!();
                    }
                }
                Some(Control::Stop) => {
                    want_connected = false;
                    teardown!();
                    acct.transition(AccountState::Stopped, Some("stopped by an operator")).await;
                }
            },
            r = async { runner.as_mut().expect("guarded").await }, if runner.is_some() => {
                runner = None;
                match r {
                    Err(e) if e.is_panic() => {
                        metrics::counter!("telegate_client_panics_total").increment(1);
                        warn!(account_id = acct.id, "the account's Telegram client panicked; rebuilding it");
                    }
                    _ => debug!(account_id = acct.id, "sender pool ended"),
                }
                if let Some(c) = consumer.take() { c.abort(); }
                acct.set_conn(None);
                if want_connected {
                    acct.status().reconnects += 1;
                    metrics::counter!("telegate_reconnects_total").increment(1);
                    acct.transition(AccountState::Reconnecting, Some("client restarted")).await;
                    next_probe = tokio::time::Instant::now();
                }
            }
            r = async { consumer.as_mut().expect("guarded").await }, if consumer.is_some() => {
                consumer = None;
                if matches!(&r, Err(e) if e.is_panic()) {
                    metrics::counter!("telegate_client_panics_total").increment(1);
                    warn!(account_id = acct.id, "the update consumer panicked; rebuilding the client");
                }
                // Its receiver (and grammers' update channel) is gone: rebuild the client.
                teardown!();
                if want_connected {
                    acct.status().reconnects += 1;
                    acct.transition(AccountState::Reconnecting, Some("update stream restarted")).await;
                    next_probe = tokio::time::Instant::now();
                }
            }
            _ = tokio::time::sleep_until(next_probe), if want_connected => {
                if acct.current_conn().is_none() {
                    match acct.build_conn(snapshot.take()).await {
                        Ok((c, r)) => { acct.set_conn(Some(c)); runner = Some(r); }
                        Err(e) => {
                            warn!(account_id = acct.id, error = %e, "cannot build the client");
                            acct.note_error(&e);
                            next_probe = tokio::time::Instant::now() + cfg.backoff.delay(attempts);
                            attempts += 1;
                            continue;
                        }
                    }
                }
                let conn = acct.current_conn().expect("just built");
                match probe(&acct, &conn).await {
                    Probe::Ok(rtt) => {
                        attempts = 0;
                        {
                            let mut s = acct.status();
                            s.rtt_ms = Some(rtt.as_millis().min(u32::MAX as u128) as u32);
                            s.last_ok_at = Some(now_ms());
                        }
                        if acct.state() != AccountState::Connected {
                            let _ = acct.rt.store.mark_connected(acct.id, now_ms()).await;
                            acct.transition(AccountState::Connected, None).await;
                        }
                        if consumer.is_none() {
                            consumer = crate::updates::spawn_consumer(&acct, &conn).await;
                        }
                        next_probe = tokio::time::Instant::now() + cfg.health_interval;
                    }
                    Probe::Fatal(code, e) => {
                        acct.note_error(&e);
                        fatal(&acct, code, &e.message).await;
                        want_connected = false;
                        teardown!();
                    }
                    Probe::Transient(e) => {
                        acct.note_error(&e);
                        if acct.state() == AccountState::Connected {
                            acct.status().reconnects += 1;
                            metrics::counter!("telegate_reconnects_total").increment(1);
                        }
                        // A dead connection: drop it so the next call makes a new one.
                        conn.fat.thin.disconnect_from_dc(conn.home_dc());
                        attempts += 1;
                        if cfg.backoff.max_attempts.is_some_and(|m| attempts >= m) {
                            want_connected = false;
                            teardown!();
                            acct.transition(AccountState::Failed, Some(&format!("{}: {}", e.code, e.message))).await;
                        } else {
                            if acct.state() != AccountState::Connecting {
                                acct.transition(AccountState::Reconnecting, Some(e.code.as_str())).await;
                            }
                            next_probe = tokio::time::Instant::now() + cfg.backoff.delay(attempts - 1);
                        }
                    }
                }
            }
        }
    }
    // Graceful end: stop taking updates, close the connections.
    teardown!();
    if let Some(tx) = shutdown_reply {
        let _ = tx.send(());
    }
}

async fn fatal(acct: &Account, code: ErrorCode, msg: &str) {
    match code {
        ErrorCode::AccountBanned => {
            acct.transition(AccountState::Banned, Some(msg)).await;
        }
        _ => {
            let reason = if code == ErrorCode::AuthKeyDuplicated {
                "AUTH_KEY_DUPLICATED: this session is also used elsewhere; Telegram killed it"
            } else {
                msg
            };
            if let Err(e) = acct
                .rt
                .store
                .revoke_session(acct.id, reason, "runtime")
                .await
            {
                warn!(account_id = acct.id, error = %e, "revocation not recorded");
            }
            acct.transition(AccountState::Unauthorized, Some(reason))
                .await;
        }
    }
}

/// `updates.getState` as health probe (and, for an imported session, learning who we are).
async fn probe(acct: &Account, conn: &Conn) -> Probe {
    let cfg = &acct.rt.config;
    let started = Instant::now();
    let dc = conn.home_dc();
    let r = tokio::time::timeout(
        cfg.health_timeout,
        conn.client
            .invoke_in_dc(dc, &tl::functions::updates::GetState {}),
    )
    .await;
    let err = match r {
        Ok(Ok(_)) => {
            if let Err(e) = ensure_self(acct, conn).await {
                return Probe::Transient(e);
            }
            return Probe::Ok(started.elapsed());
        }
        Ok(Err(e)) => e,
        Err(_) => {
            return Probe::Transient(CoreError::new(ErrorCode::Timeout, "health probe timed out"))
        }
    };
    match classify(&err) {
        Failure::Fatal(code) => Probe::Fatal(code, core_error(err)),
        Failure::Migrate(new_dc) => {
            // An imported session whose home DC is stale.
            match acct.migrate_home(conn, new_dc).await {
                Ok(()) => Probe::Transient(CoreError::new(
                    ErrorCode::NotConnected,
                    "following a DC migration",
                )),
                Err(e) => Probe::Transient(e),
            }
        }
        _ => Probe::Transient(core_error(err)),
    }
}

/// Imported sessions carry no self user: learn it once (grammers' update receiver needs it).
async fn ensure_self(acct: &Account, conn: &Conn) -> CoreResult<()> {
    if conn
        .session
        .peer(PeerId::self_user())
        .await
        .map_err(CoreError::from)?
        .is_some()
    {
        return Ok(());
    }
    let users = conn
        .client
        .invoke_in_dc(
            conn.home_dc(),
            &tl::functions::users::GetUsers {
                id: vec![tl::enums::InputUser::UserSelf],
            },
        )
        .await
        .map_err(core_error)?;
    if let Some(tl::enums::User::User(u)) = users.into_iter().next() {
        crate::login::remember_self(acct, conn, &tl::enums::User::User(u)).await?;
    }
    Ok(())
}

/// An unused `DcOption` for a DC the session does not know yet.
pub(crate) fn dc_option(id: i32, addr: std::net::SocketAddrV4, key: Option<[u8; 256]>) -> DcOption {
    DcOption {
        id,
        ipv4: addr,
        ipv6: std::net::SocketAddrV6::new(addr.ip().to_ipv6_mapped(), addr.port(), 0, 0),
        auth_key: key,
    }
}
