//! `/v1/sessions`: moving Telegram sessions in and out of the gateway (admin only; every
//! import and export is written to the audit log). A session string is the account's whole
//! authority, so exports are POSTs (never cached, never in a URL) and the strings are held in
//! `SecretString`s that are redacted in `Debug`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use telegate_core::{AccountInfo, SessionFormat};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_session))
        .routes(routes!(export_session))
}

fn format_of(name: &str) -> ApiResult<SessionFormat> {
    name.parse::<SessionFormat>().map_err(|_| {
        ApiError::invalid(format!(
            "format {name:?}: expected telethon, telethon-file (base64 of the .session file), gramjs or pyrogram"
        ))
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportSession {
    /// `telethon` (StringSession), `telethon-file` (base64 of a `.session` SQLite file),
    /// `gramjs` (StringSession) or `pyrogram` (session string).
    #[schema(example = "telethon")]
    pub format: String,
    /// The session string (secret: it is the account's whole authority).
    #[schema(value_type = String)]
    pub session: SecretString,
    #[serde(default)]
    pub label: Option<String>,
}

impl std::fmt::Debug for ImportSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportSession")
            .field("format", &self.format)
            .field("session", &"[REDACTED]")
            .field("label", &self.label)
            .finish()
    }
}

/// Import a session created by Telethon, GramJS or Pyrogram: a new account that connects
/// without logging in again (admin, audited).
#[utoipa::path(post, path = "/v1/sessions/import", tag = "sessions", request_body = ImportSession,
    responses((status = 201, body = AccountInfo), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn import_session(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ImportSession>,
) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let format = format_of(&body.format)?;
    let account = state
        .gateway()?
        .import_session(format, body.session, body.label, &auth.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(account)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportSession {
    pub account: i64,
    /// `telethon`, `gramjs` or `pyrogram`.
    pub format: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedSession {
    pub account: i64,
    pub format: String,
    /// The session string. Whoever holds it controls the account: store it like a password.
    pub session: String,
}

/// Export an account's session in another library's format (admin, audited).
#[utoipa::path(post, path = "/v1/sessions/export", tag = "sessions", request_body = ExportSession,
    responses((status = 200, body = ExportedSession), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn export_session(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ExportSession>,
) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let format = format_of(&body.format)?;
    if format == SessionFormat::TelethonFile {
        return Err(ApiError::invalid(
            "format telethon-file: export as telethon (a StringSession) instead",
        ));
    }
    let secret = state
        .gateway()?
        .export_session(body.account, format, &auth.actor())
        .await?;
    let answer = ExportedSession {
        account: body.account,
        format: format.as_str().to_owned(),
        session: secret.expose_secret().to_owned(),
    };
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(answer),
    ))
}
