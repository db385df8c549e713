//! `/v1/accounts`: the accounts the gateway holds, their login steps, health, lifecycle and
//! Telegram sessions (authorizations). Every handler is a thin translation: check the token's
//! scope, call the runtime (`telegate_core`), answer its types as JSON.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use telegate_core::{
    AccountHandle, AccountInfo, AuthorizationView, CreateAccount, LoginStep, PeerRef,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{encode_cursor, Json, Page, PageParams, Path, Query};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account, delete_account))
        .routes(routes!(login_state, login_restart))
        .routes(routes!(login_code))
        .routes(routes!(login_password))
        .routes(routes!(login_qr))
        .routes(routes!(reconnect_account))
        .routes(routes!(stop_account))
        .routes(routes!(list_authorizations))
        .routes(routes!(terminate_authorization))
}

/// The runtime's handle of an account the token may use (404 when it may not see it, 403
/// without the needed scope).
pub(crate) fn account_for(
    state: &AppState,
    auth: &Auth,
    account: i64,
    write: bool,
) -> ApiResult<AccountHandle> {
    if write {
        auth.require_account_write(account)?;
    } else {
        auth.require_account_read(account)?;
    }
    Ok(state.gateway()?.account(account)?)
}

/// A path or body peer (`123`, `-100789`, `@name`, `me`), with the error naming it.
pub(crate) fn peer(raw: &str) -> ApiResult<PeerRef> {
    Ok(raw.parse::<PeerRef>()?)
}

/// A new account and the step its login needs next.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccount {
    #[serde(flatten)]
    pub account: AccountInfo,
    /// What to do next: `code` (`POST …/login/code`), `password`, `qr`, or `done` (bots).
    pub login: LoginAnswer,
}

/// A login step, with the QR code drawn as SVG for `qr` steps.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    #[serde(flatten)]
    pub step: LoginStep,
    /// `qr` steps: the URL as an SVG QR code, ready to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_svg: Option<String>,
}

impl From<LoginStep> for LoginAnswer {
    fn from(step: LoginStep) -> Self {
        let qr_svg = match &step {
            LoginStep::Qr { url, .. } => qr_svg(url),
            _ => None,
        };
        LoginAnswer { step, qr_svg }
    }
}

fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build(),
    )
}

/// Add an account: a phone number (a login code is sent) or a bot token (logged in at once).
///
/// Needs a write token that sees every account.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = CreateAccount,
    responses((status = 201, body = CreatedAccount), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn create_account(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<CreateAccount>,
) -> ApiResult<impl IntoResponse> {
    auth.require_unlimited_write()?;
    let (account, step) = state.gateway()?.create_account(body, &auth.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccount {
            account,
            login: step.into(),
        }),
    ))
}

/// The accounts this token may see, by id, with state and health.
#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", params(PageParams),
    responses((status = 200, body = Page<AccountInfo>), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn list_accounts(
    State(state): State<AppState>,
    auth: Auth,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<AccountInfo>>> {
    auth.require_read()?;
    let limit = page.limit()? as usize;
    let after = page.position()?.unwrap_or(i64::MIN);
    let mut items: Vec<AccountInfo> = state
        .gateway()?
        .accounts()
        .await?
        .into_iter()
        .filter(|a| a.id > after && auth.can_see_account(a.id))
        .collect();
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|a| encode_cursor(a.id))
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

/// One account: state, health (last ok, last error, RTT, reconnects, queue depth).
#[utoipa::path(get, path = "/v1/accounts/{account}", tag = "accounts",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 200, body = AccountInfo), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn get_account(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<Json<AccountInfo>> {
    auth.require_account_read(account)?;
    Ok(Json(state.gateway()?.account_info(account).await?))
}

/// Log the account out of Telegram (when connected) and forget it: its sessions, mirror and
/// peers are deleted.
#[utoipa::path(delete, path = "/v1/accounts/{account}", tag = "accounts",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn delete_account(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require_account_write(account)?;
    state
        .gateway()?
        .delete_account(account, &auth.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The login in progress, if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginState {
    /// Absent when no login is in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<LoginAnswer>,
}

/// The step the account's login is at (none when no login is in progress).
#[utoipa::path(get, path = "/v1/accounts/{account}/login", tag = "login",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 200, body = LoginState), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn login_state(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<Json<LoginState>> {
    let h = account_for(&state, &auth, account, false)?;
    Ok(Json(LoginState {
        login: h.login_step().await?.map(Into::into),
    }))
}

/// Start a new phone login (a new code is sent), e.g. after a revoked session or an expired
/// login.
#[utoipa::path(post, path = "/v1/accounts/{account}/login", tag = "login",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 200, body = LoginAnswer), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn login_restart(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<Json<LoginAnswer>> {
    let h = account_for(&state, &auth, account, true)?;
    Ok(Json(h.login_start().await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The code Telegram delivered.
    #[schema(example = "12345")]
    pub code: String,
}

// Hand-written: the code is a secret and must never reach a log through `Debug`.
impl std::fmt::Debug for CodeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeBody { code: [REDACTED] }")
    }
}

/// Submit the login code; answers the next step (`password` with 2FA, else `done`).
#[utoipa::path(post, path = "/v1/accounts/{account}/login/code", tag = "login",
    params(("account" = i64, Path, description = "Account id")), request_body = CodeBody,
    responses((status = 200, body = LoginAnswer), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn login_code(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
    Json(body): Json<CodeBody>,
) -> ApiResult<Json<LoginAnswer>> {
    let h = account_for(&state, &auth, account, true)?;
    Ok(Json(h.login_code(body.code.trim()).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The account's 2FA password (checked with SRP; never stored).
    #[schema(value_type = String)]
    pub password: SecretString,
}

impl std::fmt::Debug for PasswordBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordBody { password: [REDACTED] }")
    }
}

/// Submit the 2FA password; answers `done`.
#[utoipa::path(post, path = "/v1/accounts/{account}/login/password", tag = "login",
    params(("account" = i64, Path, description = "Account id")), request_body = PasswordBody,
    responses((status = 200, body = LoginAnswer), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn login_password(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
    Json(body): Json<PasswordBody>,
) -> ApiResult<Json<LoginAnswer>> {
    let h = account_for(&state, &auth, account, true)?;
    Ok(Json(h.login_password(&body.password).await?.into()))
}

/// Log in by QR code instead of a code: answers the `tg://login` URL, its expiry and the QR
/// image (SVG). Tokens are refreshed before they expire; `login.qr` events carry each new one
/// and `login.done` the result.
#[utoipa::path(post, path = "/v1/accounts/{account}/login/qr", tag = "login",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 200, body = LoginAnswer), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn login_qr(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<Json<LoginAnswer>> {
    let h = account_for(&state, &auth, account, true)?;
    Ok(Json(h.login_qr().await?.into()))
}

/// Reconnect now (a stopped or failed account starts again; a connected one re-dials).
#[utoipa::path(post, path = "/v1/accounts/{account}/reconnect", tag = "accounts",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 202), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn reconnect_account(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<StatusCode> {
    account_for(&state, &auth, account, true)?
        .reconnect()
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Disconnect and keep the account `stopped` until `reconnect` (its session is kept).
#[utoipa::path(post, path = "/v1/accounts/{account}/stop", tag = "accounts",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 202), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn stop_account(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<StatusCode> {
    account_for(&state, &auth, account, true)?.stop().await;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationList {
    pub items: Vec<AuthorizationView>,
}

/// The Telegram sessions of this account (every device and app logged in to it).
#[utoipa::path(get, path = "/v1/accounts/{account}/authorizations", tag = "accounts",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 200, body = AuthorizationList), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn list_authorizations(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<Json<AuthorizationList>> {
    let h = account_for(&state, &auth, account, false)?;
    Ok(Json(AuthorizationList {
        items: h.authorizations().await?,
    }))
}

/// Terminate one of the account's other Telegram sessions (by its `hash`).
#[utoipa::path(delete, path = "/v1/accounts/{account}/authorizations/{hash}", tag = "accounts",
    params(("account" = i64, Path, description = "Account id"), ("hash" = i64, Path, description = "The authorization's hash")),
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn terminate_authorization(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, hash)): Path<(i64, i64)>,
) -> ApiResult<StatusCode> {
    if hash == 0 {
        return Err(ApiError::invalid(
            "hash 0 is this gateway's own session: DELETE the account to log it out",
        ));
    }
    account_for(&state, &auth, account, true)?
        .terminate_authorization(hash)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
