//! `/v1/tokens`: API token management (admin only), and `/v1/token` (who am I).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use telegate_store::{ApiToken, NewApiToken};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Auth, Scopes};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::{parse_rfc3339, rfc3339, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(current_token))
}

/// An API token's metadata (the token itself is shown once, at creation).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    /// `admin`, `read`, `write`, `account:<id>`.
    pub scopes: Vec<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<&ApiToken> for TokenInfo {
    fn from(t: &ApiToken) -> Self {
        let mut scopes = t.scopes.clone();
        if let Some(a) = t.account_id {
            scopes.push(format!("account:{a}"));
        }
        TokenInfo {
            id: t.id,
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            scopes,
            created_at: rfc3339(t.created_at),
            last_used_at: t.last_used_at.map(rfc3339),
            expires_at: t.expires_at.map(rfc3339),
            revoked_at: t.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for (shown in lists and the audit log).
    #[schema(example = "crm-prod")]
    pub name: String,
    /// `admin`, or `read` and/or `write`, optionally with `account:<id>` entries.
    #[schema(example = json!(["write", "account:1"]))]
    pub scopes: Vec<String>,
    /// RFC 3339; absent = never expires.
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token. It is shown this once and cannot be read back.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenInfo>,
}

/// Validates a token request (shared with the CLI) and builds the store's request.
pub async fn validate_new_token(
    store: &dyn telegate_store::Store,
    name: &str,
    scopes: &[String],
    expires_at: Option<i64>,
) -> ApiResult<NewApiToken> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::invalid("name: 1 to 100 characters"));
    }
    let parsed = Scopes::parse(scopes).map_err(|m| ApiError::invalid(format!("scopes: {m}")))?;
    for account in parsed.accounts.iter().flatten() {
        if store.account(*account).await?.is_none() {
            return Err(ApiError::invalid(format!(
                "scopes: account {account} does not exist"
            )));
        }
    }
    if let Some(at) = expires_at {
        if at <= telegate_store::now_ms() {
            return Err(ApiError::invalid("expires_at: must be in the future"));
        }
    }
    Ok(NewApiToken {
        name: name.to_owned(),
        scopes: parsed.to_strings(),
        account_id: None,
        expires_at,
    })
}

/// Create an API token (admin).
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<CreateToken>,
) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let expires_at = match &body.expires_at {
        Some(s) => Some(
            parse_rfc3339(s)
                .ok_or_else(|| ApiError::invalid("expires_at: expected an RFC 3339 time"))?,
        ),
        None => None,
    };
    let new =
        validate_new_token(state.store().as_ref(), &body.name, &body.scopes, expires_at).await?;
    let (token, secret) = state.store().create_api_token(new, &auth.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: secrecy::ExposeSecret::expose_secret(&secret).to_owned(),
            info: (&token).into(),
        }),
    ))
}

/// List API tokens (admin).
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn list_tokens(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<TokenList>> {
    auth.require_admin()?;
    let tokens = state.store().api_tokens().await?;
    Ok(Json(TokenList {
        items: tokens.iter().map(Into::into).collect(),
    }))
}

/// Revoke an API token (admin); it stops working at once on this gateway.
#[utoipa::path(delete, path = "/v1/tokens/{token}", tag = "tokens",
    params(("token" = i64, Path, description = "Token id")),
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    if !state.store().revoke_api_token(id, &auth.actor()).await? {
        return Err(ApiError::not_found(format!("token {id}")));
    }
    state.inner.tokens.forget(id);
    Ok(StatusCode::NO_CONTENT)
}

/// The token making this request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CurrentToken {
    /// Absent for the bootstrap token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub name: String,
    pub scopes: Vec<String>,
}

/// Describe the token making this request.
#[utoipa::path(get, path = "/v1/token", tag = "tokens",
    responses((status = 200, body = CurrentToken), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn current_token(auth: Auth) -> Json<CurrentToken> {
    Json(CurrentToken {
        id: auth.token_id,
        name: auth.name.clone(),
        scopes: auth.scopes.to_strings(),
    })
}
