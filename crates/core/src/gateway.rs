//! The [`Gateway`]: the runtime's entry point (start, accounts, events, shutdown).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use grammers_session::types::DcOption;
use grammers_session::Session as _;
use secrecy::SecretString;
use telegate_store::{
    now_ms, AccountKind, AccountState, AuditAction, AuditEntry, DcSession, ImportRequest,
    NewAccount, SessionFormat, Store, StoreSession,
};
use tokio::sync::{oneshot, watch, Semaphore};
use tracing::{info, warn};

use crate::account::{self, Account, Control};
use crate::config::RuntimeConfig;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::flood::Limiters;
use crate::idempotency::Idempotency;
use crate::login;
use crate::ops::AccountHandle;
use crate::target::TelegramTarget;
use crate::types::{AccountInfo, CreateAccount, LoginStep};
use crate::writer::Writer;

/// Everything the accounts share.
pub(crate) struct Runtime {
    pub(crate) config: RuntimeConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) target: TelegramTarget,
    pub(crate) writer: Writer,
    pub(crate) idempotency: Arc<Idempotency>,
    pub(crate) limiters: Limiters,
    accounts: RwLock<HashMap<i64, Arc<Account>>>,
    shutting_down: AtomicBool,
}

impl Runtime {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    pub(crate) fn account(&self, id: i64) -> Option<Arc<Account>> {
        self.get(id)
    }

    fn get(&self, id: i64) -> Option<Arc<Account>> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// Pointed at a mock: every DC gets an address and a provisioned key before grammers
    /// connects anywhere (it would try DH, which cannot succeed against the mock). Against
    /// production this does nothing: grammers' DH creates keys on demand.
    pub(crate) async fn ensure_dc_keys(&self, session: &StoreSession) -> CoreResult<()> {
        let Some(p) = &self.target.provisioner else {
            return Ok(());
        };
        let missing: Vec<i32> = {
            let table = p.dc_table().await?;
            let mut missing = Vec::new();
            for dc in &table {
                let known = session.dc_option(dc.id).map_err(CoreError::from)?;
                let has_key = known.as_ref().is_some_and(|o| o.auth_key.is_some());
                let right_addr = known.as_ref().is_some_and(|o| o.ipv4 == dc.ipv4);
                if !has_key || !right_addr {
                    missing.push(dc.id);
                }
                if !right_addr {
                    session
                        .set_dc_option(&account::dc_option(
                            dc.id,
                            dc.ipv4,
                            known.and_then(|k| k.auth_key),
                        ))
                        .await
                        .map_err(CoreError::from)?;
                }
            }
            missing
        };
        for id in missing {
            if session
                .dc_option(id)
                .map_err(CoreError::from)?
                .is_some_and(|o| o.auth_key.is_some())
            {
                continue;
            }
            let key = p.new_auth_key(id).await?;
            let addr = session
                .dc_option(id)
                .map_err(CoreError::from)?
                .map(|o| o.ipv4);
            if let Some(addr) = addr {
                let opt: DcOption = account::dc_option(id, addr, Some(*key));
                session.set_dc_option(&opt).await.map_err(CoreError::from)?;
            }
        }
        Ok(())
    }
}

/// A cloneable handle to the running account runtime.
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn telegate_store::Store>) -> telegate_core::CoreResult<()> {
/// use telegate_core::*;
/// let gw = Gateway::start(RuntimeConfig::default(), store, TelegramTarget::from_env()?).await?;
/// let (account, step) = gw
///     .create_account(CreateAccount::Phone { phone: "+15550001".into(), label: None }, "admin")
///     .await?;
/// // … step is LoginStep::Code: gw.account(account.id)?.login_code("12345").await? …
/// gw.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Gateway {
    rt: Arc<Runtime>,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("target", &self.rt.target)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Starts the runtime: the group-commit writer, the hygiene job, and every stored account
    /// (restored with bounded concurrency: `restore_concurrency` connect at once). Returns once
    /// all accounts are started (not necessarily connected: see [`Gateway::wait_settled`]).
    pub async fn start(
        config: RuntimeConfig,
        store: Arc<dyn Store>,
        target: TelegramTarget,
    ) -> CoreResult<Gateway> {
        let last = store.last_event_id().await?;
        let (writer, writer_task) = Writer::start(store.clone(), last, config.writer_batch);
        let rt = Arc::new(Runtime {
            idempotency: Idempotency::new(store.clone(), writer.clone()),
            limiters: Limiters::new(config.rate_limits),
            config,
            store: store.clone(),
            target,
            writer,
            accounts: RwLock::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
        });
        let gw = Gateway {
            rt: rt.clone(),
            tasks: Arc::new(std::sync::Mutex::new(vec![writer_task])),
        };
        gw.restore().await?;
        let hygiene = tokio::spawn(crate::hygiene::run(rt.clone()));
        gw.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hygiene);
        Ok(gw)
    }

    async fn restore(&self) -> CoreResult<()> {
        let started = std::time::Instant::now();
        let snapshots = self.rt.store.load_all_sessions().await?;
        let by_id: HashMap<i64, telegate_store::SessionSnapshot> =
            snapshots.into_iter().map(|s| (s.account.id, s)).collect();
        let mut accounts = self.rt.store.accounts().await?;
        accounts.sort_by_key(|a| a.id);
        // Bounded: at most `restore_concurrency` accounts connecting at any moment. Each
        // account holds its permit until its first probe settles.
        let gate = Arc::new(Semaphore::new(self.rt.config.restore_concurrency.max(1)));
        let n = accounts.len();
        let mut pending_qr = Vec::new();
        for a in accounts {
            let state = match a.state {
                AccountState::Connected | AccountState::Reconnecting | AccountState::Connecting => {
                    AccountState::Connecting
                }
                AccountState::LoggingIn => AccountState::LoggingIn,
                other => other,
            };
            let snap = by_id.get(&a.id).cloned();
            let acct = self.spawn_account(a.id, a.kind, state, snap);
            if state == AccountState::Connecting {
                let gate = gate.clone();
                let acct = acct.clone();
                tokio::spawn(async move {
                    let Ok(_permit) = gate.acquire_owned().await else {
                        return;
                    };
                    let mut rx = acct.subscribe_state();
                    let _ = acct.ctl.send(Control::Connect).await;
                    let _ = tokio::time::timeout(
                        acct.rt.config.health_timeout * 2,
                        rx.wait_for(|s| *s != AccountState::Connecting),
                    )
                    .await;
                });
            } else if state == AccountState::LoggingIn {
                pending_qr.push(acct);
            }
        }
        for acct in pending_qr {
            if let Ok(Some(p)) = self.rt.store.pending_login(acct.id).await {
                if p.flow == "qr" {
                    login::spawn_qr_watch(acct);
                }
            }
        }
        info!(
            accounts = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "accounts restored"
        );
        Ok(())
    }

    fn spawn_account(
        &self,
        id: i64,
        kind: AccountKind,
        state: AccountState,
        snap: Option<telegate_store::SessionSnapshot>,
    ) -> Arc<Account> {
        let (acct, rx) = Account::new(self.rt.clone(), id, kind, state);
        self.rt
            .accounts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, acct.clone());
        tokio::spawn(account::supervise(acct.clone(), rx, snap));
        acct
    }

    fn account_arc(&self, id: i64) -> CoreResult<Arc<Account>> {
        self.rt.get(id).ok_or_else(|| {
            CoreError::new(
                ErrorCode::AccountNotFound,
                format!("account {id} not found"),
            )
        })
    }

    /// The operations of one account.
    pub fn account(&self, id: i64) -> CoreResult<AccountHandle> {
        Ok(AccountHandle::new(self.account_arc(id)?))
    }

    /// The store the runtime writes to (the API reads the event log and the mirror from it).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.rt.store
    }

    /// Wakes up on every committed event: the value is the last event id. The API's SSE,
    /// WebSocket and webhook loops read `store().events_after(..)` when it changes.
    pub fn subscribe_events(&self) -> watch::Receiver<i64> {
        self.rt.writer.last_event()
    }

    /// Creates an account for a phone number (sends the login code) or a bot token (logs in),
    /// and returns it with its next login step.
    pub async fn create_account(
        &self,
        req: CreateAccount,
        actor: &str,
    ) -> CoreResult<(AccountInfo, LoginStep)> {
        let (new, label) = match &req {
            CreateAccount::Phone { phone, label } => {
                (NewAccount::user(normalize_phone(phone)?), label.clone())
            }
            CreateAccount::Bot { bot_token, label } => {
                (NewAccount::bot(bot_id_of(bot_token)?), label.clone())
            }
        };
        let existing = self.rt.store.accounts().await?;
        if existing.iter().any(|a| {
            (new.phone.is_some() && a.phone == new.phone)
                || (new.bot_id.is_some() && a.bot_id == new.bot_id)
        }) {
            return Err(CoreError::new(
                ErrorCode::AccountExists,
                "an account for this phone number or bot exists already",
            ));
        }
        let new = NewAccount {
            label,
            state: AccountState::LoggingIn,
            ..new
        };
        let account = self.rt.store.create_account(new, actor).await?;
        let acct = self.spawn_account(account.id, account.kind, AccountState::LoggingIn, None);
        let step = match &req {
            CreateAccount::Phone { .. } => {
                login::send_code(&acct, account.phone.as_deref().unwrap_or("")).await
            }
            CreateAccount::Bot { bot_token, .. } => {
                login::bot_login(&acct, &SecretString::from(bot_token.clone())).await
            }
        };
        match step {
            Ok(step) => Ok((self.info_of(&acct).await?, step)),
            Err(e) => {
                // A login that could not even start leaves nothing behind.
                let _ = self.forget(account.id, actor, false).await;
                Err(e)
            }
        }
    }

    async fn info_of(&self, acct: &Account) -> CoreResult<AccountInfo> {
        let a = self.rt.store.account(acct.id).await?.ok_or_else(|| {
            CoreError::new(
                ErrorCode::AccountNotFound,
                format!("account {} not found", acct.id),
            )
        })?;
        Ok(AccountInfo {
            id: a.id,
            kind: crate::types::kind_name(a.kind),
            phone: a.phone,
            bot_id: a.bot_id,
            user_id: a.user_id,
            label: a.label,
            state: crate::types::AccountStateName(acct.state()),
            state_reason: a.state_reason,
            home_dc: a.home_dc,
            created_at: a.created_at,
            last_connected_at: a.last_connected_at,
            health: acct.health(),
        })
    }

    /// One account with its state and health.
    pub async fn account_info(&self, id: i64) -> CoreResult<AccountInfo> {
        let acct = self.account_arc(id)?;
        self.info_of(&acct).await
    }

    /// Every account (ordered by id).
    pub async fn accounts(&self) -> CoreResult<Vec<AccountInfo>> {
        let mut ids: Vec<i64> = self
            .rt
            .accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        ids.sort_unstable();
        let stored = self.rt.store.accounts().await?;
        let mut out = Vec::with_capacity(ids.len());
        for a in stored {
            if let Some(acct) = self.rt.get(a.id) {
                out.push(AccountInfo {
                    id: a.id,
                    kind: crate::types::kind_name(a.kind),
                    phone: a.phone,
                    bot_id: a.bot_id,
                    user_id: a.user_id,
                    label: a.label,
                    state: crate::types::AccountStateName(acct.state()),
                    state_reason: a.state_reason,
                    home_dc: a.home_dc,
                    created_at: a.created_at,
                    last_connected_at: a.last_connected_at,
                    health: acct.health(),
                });
            }
        }
        Ok(out)
    }

    /// Accounts per state (for `/readyz` and metrics).
    pub fn states(&self) -> HashMap<&'static str, usize> {
        let mut m = HashMap::new();
        for a in self
            .rt
            .accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            *m.entry(a.state().as_str()).or_insert(0) += 1;
        }
        m
    }

    /// Logs the account out of Telegram (best effort) and forgets it (keys, mirror, events stay
    /// in the audit log only).
    pub async fn delete_account(&self, id: i64, actor: &str) -> CoreResult<()> {
        self.forget(id, actor, true).await
    }

    async fn forget(&self, id: i64, actor: &str, log_out: bool) -> CoreResult<()> {
        let acct = self.account_arc(id)?;
        if log_out && acct.state() == AccountState::Connected {
            let handle = AccountHandle::new(acct.clone());
            if let Err(e) = handle.log_out_telegram().await {
                warn!(account_id = id, error = %e, "log-out before delete failed");
            }
        }
        let (tx, rx) = oneshot::channel();
        if acct.ctl.send(Control::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.rt
            .accounts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.rt.writer.flush().await;
        self.rt.store.delete_account(id, actor).await?;
        Ok(())
    }

    /// Imports a foreign session string (Telethon, GramJS, Pyrogram) or a Telethon `.session`
    /// file (`data` base64 for files) and connects it. Note: a session still used elsewhere will
    /// be killed by Telegram (AUTH_KEY_DUPLICATED); the account then shows `unauthorized` with
    /// that reason.
    pub async fn import_session(
        &self,
        format: SessionFormat,
        data: SecretString,
        label: Option<String>,
        actor: &str,
    ) -> CoreResult<AccountInfo> {
        use secrecy::ExposeSecret;
        let session = match format {
            SessionFormat::TelethonFile => {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data.expose_secret().trim())
                    .map_err(|e| {
                        CoreError::invalid(format!(
                            "session: a Telethon file must be sent as base64: {e}"
                        ))
                    })?;
                // The reader works on a file (it is an SQLite database): a private temp file.
                let path = std::env::temp_dir().join(format!(
                    "telegate-import-{}-{}.session",
                    std::process::id(),
                    rand::random::<u64>()
                ));
                std::fs::write(&path, &bytes).map_err(CoreError::internal)?;
                let parsed = telegate_store::session_formats::read_telethon_file(&path).await;
                let _ = std::fs::remove_file(&path);
                parsed?
            }
            f => telegate_store::session_formats::parse_session_string(f, &data)?,
        };
        let account = self
            .rt
            .store
            .import_session(ImportRequest {
                session,
                format,
                source: Some(data),
                kind: AccountKind::User,
                phone: None,
                label,
                actor: actor.to_owned(),
            })
            .await?;
        self.rt
            .store
            .set_account_state(account.id, AccountState::Connecting, None)
            .await?;
        let acct = self.spawn_account(account.id, account.kind, AccountState::Connecting, None);
        let _ = acct.ctl.send(Control::Connect).await;
        self.info_of(&acct).await
    }

    /// Exports the account's home-DC session in `format` (audited). The string is a password
    /// to the account: the API shows it once and never logs it.
    pub async fn export_session(
        &self,
        id: i64,
        format: SessionFormat,
        actor: &str,
    ) -> CoreResult<SecretString> {
        self.account_arc(id)?;
        let s = self.rt.store.export_session(id, format, actor).await?;
        Ok(telegate_store::session_formats::encode_session_string(
            format, &s,
        )?)
    }

    /// Runs one hygiene pass now (the runtime also runs it every `hygiene.interval`): expires
    /// half-finished logins, purges revoked sessions past their retention, expires abandoned
    /// uploads and old idempotency outcomes. For operators (and tests) who do not want to wait.
    pub async fn run_hygiene(&self) -> crate::HygieneReport {
        crate::hygiene::run_once(&self.rt).await
    }

    /// Graceful shutdown: new calls are refused, every account disconnects (its update
    /// consumer stops after its last committed batch, so the stored update state is exactly
    /// what was written), queued writes are flushed.
    pub async fn shutdown(&self) {
        self.rt.shutting_down.store(true, Ordering::Relaxed);
        let accounts: Vec<Arc<Account>> = self
            .rt
            .accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let drain = self.rt.config.drain_timeout;
        let stops = accounts.iter().map(|a| {
            let a = a.clone();
            async move {
                let (tx, rx) = oneshot::channel();
                if a.ctl.send(Control::Shutdown(tx)).await.is_ok() {
                    let _ = tokio::time::timeout(drain, rx).await;
                }
            }
        });
        futures_join_all(stops).await;
        self.rt.writer.flush().await;
        self.rt
            .accounts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
        info!(at = now_ms(), "runtime stopped");
    }

    /// Waits until no account is `connecting`/`reconnecting` (or the timeout passes); returns
    /// the per-state counts.
    pub async fn wait_settled(&self, timeout: std::time::Duration) -> HashMap<&'static str, usize> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.states();
            let busy = s.get("connecting").copied().unwrap_or(0)
                + s.get("reconnecting").copied().unwrap_or(0);
            if busy == 0 || tokio::time::Instant::now() >= deadline {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    fs: impl Iterator<Item = F>,
) {
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}

/// `+` and digits only, 7–15 digits (E.164).
fn normalize_phone(phone: &str) -> CoreResult<String> {
    let digits: String = phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let d = digits.strip_prefix('+').unwrap_or(&digits);
    if !(5..=15).contains(&d.len()) || !d.chars().all(|c| c.is_ascii_digit()) {
        return Err(CoreError::new(
            ErrorCode::PhoneNumberInvalid,
            "phone: expected an international number like +15551234567",
        ));
    }
    Ok(format!("+{d}"))
}

/// A bot token is `<bot id>:<secret>`.
fn bot_id_of(token: &str) -> CoreResult<i64> {
    let (id, secret) = token.split_once(':').ok_or_else(|| {
        CoreError::new(
            ErrorCode::BotTokenInvalid,
            "bot_token: expected <bot id>:<secret>",
        )
    })?;
    let id: i64 = id.parse().ok().filter(|i| *i > 0).ok_or_else(|| {
        CoreError::new(
            ErrorCode::BotTokenInvalid,
            "bot_token: the part before ':' must be the bot's id",
        )
    })?;
    if secret.len() < 10 {
        return Err(CoreError::new(
            ErrorCode::BotTokenInvalid,
            "bot_token: the secret part is too short",
        ));
    }
    Ok(id)
}

pub(crate) fn audit<'a>(
    rt: &'a Runtime,
    id: i64,
    action: AuditAction,
    actor: &'a str,
) -> impl std::future::Future<Output = ()> + 'a {
    let entry = AuditEntry::new(actor, action).account(id);
    async move {
        let _ = rt.store.audit(entry).await;
    }
}

#[allow(dead_code)]
fn _dc(_: DcSession) {}
