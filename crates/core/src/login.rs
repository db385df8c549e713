//! Login flows, persisted and resumable (issue 6 item 3): phone → code → optional 2FA
//! password, QR login, bot token.
//!
//! Every step is a raw TL call through the account's own client, so:
//! - the auth key that sent `auth.sendCode` is the one that checks the code — it lives in the
//!   store (sealed), and a gateway restart between steps reloads it (Telegram rejects a code
//!   checked under another key, a common cause of PHONE_CODE_EXPIRED in other tools);
//! - the half-finished login (phone_code_hash, QR token) is a `pending_logins` row whose secret
//!   part the store seals, with an expiry; the 2FA SRP challenge is fetched fresh at the
//!   password step (it needs no persisting) and the password is never stored or logged;
//! - `*_MIGRATE_X` is followed at every step (grammers does so only in sendCode and bot sign-in).

use std::time::Duration;

use base64::Engine as _;
use grammers_session::types::{PeerAuth, PeerInfo, UpdateState, UpdatesState};
use grammers_session::updates::UpdatesLike;
use grammers_session::Session as _;
use grammers_tl_types as tl;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use telegate_store::{now_ms, AccountState, AuditAction, AuditEntry, PendingLogin};
use tracing::{info, warn};

use crate::account::{core_error, Account, CallCtx, Conn, Control};
use crate::convert::user_view;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events;
use crate::types::{LoginStep, UserView};

/// The sealed part of a pending login.
#[derive(Serialize, Deserialize, Default)]
struct LoginSecret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone_code_hash: Option<String>,
}

fn seal(s: &LoginSecret) -> SecretSlice<u8> {
    SecretSlice::from(serde_json::to_vec(s).unwrap_or_default())
}

fn unseal(p: &PendingLogin) -> LoginSecret {
    p.secret_state
        .as_ref()
        .and_then(|s| serde_json::from_slice(s.expose_secret()).ok())
        .unwrap_or_default()
}

fn login_ctx() -> CallCtx {
    CallCtx {
        login: true,
        fail_fast: true,
        ..CallCtx::default()
    }
}

fn pending_step(p: &PendingLogin) -> Option<LoginStep> {
    match p.step.as_str() {
        "code" => Some(LoginStep::Code {
            delivery: "app".into(),
            timeout: None,
            expires_at: p.expires_at,
        }),
        "password" => Some(LoginStep::Password {
            hint: None,
            expires_at: p.expires_at,
        }),
        _ => None,
    }
}

/// The pending login of this account, if it has not expired.
async fn pending(acct: &Account) -> CoreResult<PendingLogin> {
    let p = acct.rt.store.pending_login(acct.id).await?.ok_or_else(|| {
        CoreError::new(
            ErrorCode::LoginStepInvalid,
            "no login is in progress for this account",
        )
    })?;
    if p.expires_at <= now_ms() {
        let _ = acct.rt.store.delete_pending_login(acct.id).await;
        acct.transition(AccountState::LoginRequired, Some("login expired"))
            .await;
        return Err(CoreError::new(
            ErrorCode::LoginExpired,
            "the login expired; start again",
        ));
    }
    Ok(p)
}

fn code_delivery(t: &tl::enums::auth::SentCodeType) -> &'static str {
    use tl::enums::auth::SentCodeType as T;
    match t {
        T::App(_) => "app",
        T::Sms(_) | T::SmsWord(_) | T::SmsPhrase(_) => "sms",
        T::Call(_) => "call",
        T::FlashCall(_) => "flash_call",
        T::MissedCall(_) => "missed_call",
        T::EmailCode(_) => "email",
        _ => "other",
    }
}

/// Step 1 of a phone login: `auth.sendCode` (following PHONE_MIGRATE_X).
pub(crate) async fn send_code(acct: &Account, phone: &str) -> CoreResult<LoginStep> {
    let _guard = acct.login_lock.lock().await;
    acct.transition(AccountState::LoggingIn, None).await;
    let rt = &acct.rt;
    let req = tl::functions::auth::SendCode {
        phone_number: phone.to_owned(),
        api_id: rt.target.api_id,
        api_hash: rt.target.api_hash.clone(),
        settings: tl::types::CodeSettings {
            allow_flashcall: false,
            current_number: false,
            allow_app_hash: false,
            allow_missed_call: false,
            allow_firebase: false,
            unknown_number: false,
            logout_tokens: None,
            token: None,
            app_sandbox: None,
        }
        .into(),
    };
    let sent = acct.invoke(&req, login_ctx()).await?;
    let code = match sent {
        tl::enums::auth::SentCode::Code(c) => c,
        tl::enums::auth::SentCode::Success(s) => {
            let conn = acct.ensure_conn().await?;
            let user = complete(acct, &conn, s.authorization).await?;
            return Ok(LoginStep::Done { user });
        }
        tl::enums::auth::SentCode::PaymentRequired(_) => {
            return Err(CoreError::new(
                ErrorCode::TelegramForbidden,
                "Telegram requires a paid login for this number (not supported)",
            ))
        }
    };
    let conn = acct.ensure_conn().await?;
    let now = now_ms();
    let expires_at = now + rt.config.login_ttl.as_millis() as i64;
    rt.store
        .put_pending_login(&PendingLogin {
            account_id: acct.id,
            flow: "phone".into(),
            step: "code".into(),
            dc_id: conn.home_dc(),
            phone: Some(phone.to_owned()),
            secret_state: Some(seal(&LoginSecret {
                phone_code_hash: Some(code.phone_code_hash.clone()),
            })),
            created_at: now,
            updated_at: now,
            expires_at,
        })
        .await?;
    Ok(LoginStep::Code {
        delivery: code_delivery(&code.r#type).into(),
        timeout: code.timeout,
        expires_at,
    })
}

/// Step 2: the code (`auth.signIn`).
pub(crate) async fn submit_code(acct: &Account, code: &str) -> CoreResult<LoginStep> {
    let _guard = acct.login_lock.lock().await;
    let p = pending(acct).await?;
    if p.step != "code" {
        return Err(step_mismatch(&p, "code"));
    }
    let code = code.trim();
    if code.is_empty() || code.len() > 16 {
        return Err(CoreError::new(
            ErrorCode::PhoneCodeEmpty,
            "the login code is empty or malformed",
        ));
    }
    let secret = unseal(&p);
    let (Some(phone), Some(hash)) = (p.phone.clone(), secret.phone_code_hash) else {
        return Err(CoreError::new(
            ErrorCode::LoginStepInvalid,
            "the pending login is incomplete; start again",
        ));
    };
    let req = tl::functions::auth::SignIn {
        phone_number: phone,
        phone_code_hash: hash,
        phone_code: Some(code.to_owned()),
        email_verification: None,
    };
    let conn = acct.ensure_conn().await?;
    match acct.invoke(&req, login_ctx()).await {
        Ok(auth) => {
            let user = complete(acct, &conn, auth).await?;
            Ok(LoginStep::Done { user })
        }
        Err(e)
            if e.telegram
                .as_ref()
                .is_some_and(|t| t.name == "SESSION_PASSWORD_NEEDED") =>
        {
            let hint = password_hint(acct).await.ok().flatten();
            let now = now_ms();
            let expires_at = now + acct.rt.config.login_ttl.as_millis() as i64;
            acct.rt
                .store
                .put_pending_login(&PendingLogin {
                    step: "password".into(),
                    updated_at: now,
                    expires_at,
                    ..p
                })
                .await?;
            Ok(LoginStep::Password { hint, expires_at })
        }
        Err(e) if e.code == ErrorCode::PhoneCodeExpired => {
            let _ = acct.rt.store.delete_pending_login(acct.id).await;
            acct.transition(AccountState::LoginRequired, Some("PHONE_CODE_EXPIRED"))
                .await;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

async fn password_hint(acct: &Account) -> CoreResult<Option<String>> {
    let pw: tl::types::account::Password = acct
        .invoke(&tl::functions::account::GetPassword {}, login_ctx())
        .await?
        .into();
    Ok(pw.hint)
}

/// Step 3: the 2FA password, by SRP (`account.getPassword` fresh, then `auth.checkPassword`).
pub(crate) async fn submit_password(
    acct: &Account,
    password: &SecretString,
) -> CoreResult<LoginStep> {
    let _guard = acct.login_lock.lock().await;
    let p = pending(acct).await?;
    if p.step != "password" {
        return Err(step_mismatch(&p, "password"));
    }
    let pw: tl::types::account::Password = acct
        .invoke(&tl::functions::account::GetPassword {}, login_ctx())
        .await?
        .into();
    let Some(tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(algo)) =
        pw.current_algo.clone()
    else {
        return Err(CoreError::new(
            ErrorCode::LoginStepInvalid,
            "the account has no 2FA password (or an unknown algorithm)",
        ));
    };
    let (Some(srp_b), Some(srp_id)) = (pw.srp_b.clone(), pw.srp_id) else {
        return Err(CoreError::new(
            ErrorCode::TelegramError,
            "Telegram sent no SRP challenge",
        ));
    };
    if !grammers_crypto::two_factor_auth::check_p_and_g(&algo.p, &algo.g) {
        return Err(CoreError::new(
            ErrorCode::TelegramError,
            "Telegram sent invalid SRP parameters",
        ));
    }
    let (m1, g_a) = grammers_crypto::two_factor_auth::calculate_2fa(
        &algo.salt1,
        &algo.salt2,
        &algo.p,
        &algo.g,
        srp_b,
        pw.secure_random.clone(),
        password.expose_secret().as_bytes(),
    );
    let req = tl::functions::auth::CheckPassword {
        password: tl::enums::InputCheckPasswordSrp::Srp(tl::types::InputCheckPasswordSrp {
            srp_id,
            a: g_a.to_vec(),
            m1: m1.to_vec(),
        }),
    };
    let conn = acct.ensure_conn().await?;
    let auth = acct.invoke(&req, login_ctx()).await?;
    let user = complete(acct, &conn, auth).await?;
    Ok(LoginStep::Done { user })
}

/// Bot token login (`auth.importBotAuthorization`, following USER_MIGRATE_X).
pub(crate) async fn bot_login(acct: &Account, token: &SecretString) -> CoreResult<LoginStep> {
    let _guard = acct.login_lock.lock().await;
    acct.transition(AccountState::LoggingIn, None).await;
    let req = tl::functions::auth::ImportBotAuthorization {
        flags: 0,
        api_id: acct.rt.target.api_id,
        api_hash: acct.rt.target.api_hash.clone(),
        bot_auth_token: token.expose_secret().to_owned(),
    };
    let conn = acct.ensure_conn().await?;
    let auth = acct.invoke(&req, login_ctx()).await?;
    let user = complete(acct, &conn, auth).await?;
    Ok(LoginStep::Done { user })
}

fn qr_url(token: &[u8]) -> String {
    format!(
        "tg://login?token={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
    )
}

/// QR login: the current token (a fresh one on each call), refreshed in the background
/// before it expires until another device accepts it.
pub(crate) async fn start_qr(acct: &std::sync::Arc<Account>) -> CoreResult<LoginStep> {
    let step = {
        let _guard = acct.login_lock.lock().await;
        if acct.state() == AccountState::Connected {
            return Err(CoreError::new(
                ErrorCode::LoginStepInvalid,
                "the account is already logged in",
            ));
        }
        acct.transition(AccountState::LoggingIn, None).await;
        match export_token(acct).await? {
            QrState::Token { url, expires } => {
                let now = now_ms();
                let expires_at = now + acct.rt.config.login_ttl.as_millis() as i64;
                let conn = acct.ensure_conn().await?;
                acct.rt
                    .store
                    .put_pending_login(&PendingLogin {
                        account_id: acct.id,
                        flow: "qr".into(),
                        step: "qr".into(),
                        dc_id: conn.home_dc(),
                        phone: None,
                        secret_state: None,
                        created_at: now,
                        updated_at: now,
                        expires_at,
                    })
                    .await?;
                LoginStep::Qr {
                    url,
                    token_expires: expires,
                    expires_at,
                }
            }
            QrState::Done(user) => return Ok(LoginStep::Done { user }),
        }
    };
    spawn_qr_watch(acct.clone());
    Ok(step)
}

enum QrState {
    Token { url: String, expires: i64 },
    Done(UserView),
}

/// `auth.exportLoginToken`, following `loginTokenMigrateTo` (→ `auth.importLoginToken` there).
async fn export_token(acct: &Account) -> CoreResult<QrState> {
    let req = tl::functions::auth::ExportLoginToken {
        api_id: acct.rt.target.api_id,
        api_hash: acct.rt.target.api_hash.clone(),
        except_ids: Vec::new(),
    };
    let conn = acct.ensure_conn().await?;
    let mut answer = acct.invoke(&req, login_ctx()).await?;
    for _ in 0..3 {
        match answer {
            tl::enums::auth::LoginToken::Token(t) => {
                return Ok(QrState::Token {
                    url: qr_url(&t.token),
                    expires: t.expires as i64,
                })
            }
            tl::enums::auth::LoginToken::Success(s) => {
                return Ok(QrState::Done(complete(acct, &conn, s.authorization).await?))
            }
            tl::enums::auth::LoginToken::MigrateTo(m) => {
                info!(
                    account_id = acct.id,
                    dc = m.dc_id,
                    "QR login continues on another DC"
                );
                acct.migrate_home(&conn, m.dc_id).await?;
                answer = acct
                    .invoke(
                        &tl::functions::auth::ImportLoginToken { token: m.token },
                        login_ctx(),
                    )
                    .await?;
            }
        }
    }
    Err(CoreError::new(
        ErrorCode::TelegramError,
        "QR login kept migrating",
    ))
}

fn is_login_token_update(u: &UpdatesLike) -> bool {
    match u {
        UpdatesLike::Updates(tl::enums::Updates::UpdateShort(s)) => {
            matches!(s.update, tl::enums::Update::LoginToken)
        }
        UpdatesLike::Updates(tl::enums::Updates::Updates(us)) => us
            .updates
            .iter()
            .any(|u| matches!(u, tl::enums::Update::LoginToken)),
        _ => false,
    }
}

/// Background: refresh the token before expiry, finish when accepted (updateLoginToken, or the
/// next export answering success), stop when the login is gone.
pub(crate) fn spawn_qr_watch(acct: std::sync::Arc<Account>) {
    tokio::spawn(async move {
        let margin = acct.rt.config.qr_refresh_margin;
        let mut expires = now_ms() / 1000 + 30;
        loop {
            let Ok(Some(p)) = acct.rt.store.pending_login(acct.id).await else {
                return;
            };
            if p.flow != "qr" || p.expires_at <= now_ms() || acct.state() != AccountState::LoggingIn
            {
                return;
            }
            let wait = Duration::from_secs((expires - now_ms() / 1000).max(1) as u64)
                .saturating_sub(margin);
            let wait = wait.max(Duration::from_millis(500));
            // Wait for the token update or the refresh time, whichever first.
            let accepted = match acct.ensure_conn().await {
                Ok(conn) => {
                    let mut guard = conn.raw_updates.lock().await;
                    match guard.as_mut() {
                        Some(rx) => {
                            let deadline = tokio::time::Instant::now() + wait;
                            let mut seen = false;
                            while let Ok(Some(u)) =
                                tokio::time::timeout_at(deadline, rx.recv()).await
                            {
                                if is_login_token_update(&u) {
                                    seen = true;
                                    break;
                                }
                            }
                            seen
                        }
                        None => {
                            drop(guard);
                            tokio::time::sleep(wait).await;
                            false
                        }
                    }
                }
                Err(_) => return,
            };
            let _guard = acct.login_lock.lock().await;
            if acct.state() != AccountState::LoggingIn {
                return;
            }
            match export_token(&acct).await {
                Ok(QrState::Done(_)) => return,
                Ok(QrState::Token { url, expires: e }) => {
                    expires = e;
                    if !accepted {
                        let batch = telegate_store::UpdateBatch {
                            account_id: acct.id,
                            events: vec![events::login_qr(acct.id, &url, e)],
                            ..Default::default()
                        };
                        let _ = acct.rt.writer.write_batch(batch).await;
                    }
                }
                Err(e) => {
                    warn!(account_id = acct.id, error = %e, "QR token refresh failed");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    });
}

fn step_mismatch(p: &PendingLogin, wanted: &str) -> CoreError {
    CoreError::new(
        ErrorCode::LoginStepInvalid,
        format!("the login is at step {:?}, not {wanted:?}", p.step),
    )
}

/// The step a restored half-finished login is at.
pub(crate) async fn current_step(acct: &Account) -> CoreResult<Option<LoginStep>> {
    Ok(acct
        .rt
        .store
        .pending_login(acct.id)
        .await?
        .as_ref()
        .and_then(pending_step))
}

/// Records the logged-in user: self peer (with access hash), account user, update state.
pub(crate) async fn remember_self(
    acct: &Account,
    conn: &Conn,
    user: &tl::enums::User,
) -> CoreResult<UserView> {
    let tl::enums::User::User(u) = user else {
        return Err(CoreError::new(
            ErrorCode::TelegramError,
            "Telegram answered an empty user",
        ));
    };
    conn.session
        .cache_peer(PeerInfo::User {
            id: u.id,
            auth: u.access_hash.map(PeerAuth::from_hash),
            bot: Some(u.bot),
            is_self: Some(true),
        })
        .await
        .map_err(CoreError::from)?;
    acct.rt
        .store
        .set_account_user(
            acct.id,
            u.id,
            u.phone
                .as_deref()
                .map(|p| {
                    if p.starts_with('+') {
                        p.to_owned()
                    } else {
                        format!("+{p}")
                    }
                })
                .as_deref(),
        )
        .await?;
    Ok(user_view(user).unwrap_or_default())
}

/// Finishes any login: who we are, where the update stream starts, audit, connect.
async fn complete(
    acct: &Account,
    conn: &Conn,
    auth: tl::enums::auth::Authorization,
) -> CoreResult<UserView> {
    let a = match auth {
        tl::enums::auth::Authorization::Authorization(a) => a,
        tl::enums::auth::Authorization::SignUpRequired(_) => {
            return Err(CoreError::new(
                ErrorCode::PhoneNumberUnoccupied,
                "this phone number has no Telegram account (sign-up is not supported)",
            ))
        }
    };
    let view = remember_self(acct, conn, &a.user).await?;
    // The update stream starts here: nothing before the login is "missed".
    match conn
        .client
        .invoke_in_dc(conn.home_dc(), &tl::functions::updates::GetState {})
        .await
    {
        Ok(tl::enums::updates::State::State(s)) => {
            conn.session
                .set_update_state(UpdateState::All(UpdatesState {
                    pts: s.pts,
                    qts: s.qts,
                    date: s.date,
                    seq: s.seq,
                    channels: Vec::new(),
                }))
                .await
                .map_err(CoreError::from)?;
        }
        Err(e) => {
            warn!(account_id = acct.id, error = %core_error(e), "no update state after login")
        }
    }
    let _ = acct.rt.store.delete_pending_login(acct.id).await;
    let _ = acct
        .rt
        .store
        .audit(
            AuditEntry::new("runtime", AuditAction::Login)
                .account(acct.id)
                .details(serde_json::json!({ "user_id": view.id, "bot": view.bot })),
        )
        .await;
    acct.transition(AccountState::Connecting, None).await;
    let _ = acct.ctl.send(Control::Connect).await;
    Ok(view)
}
