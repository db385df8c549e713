//! `/v1/webhooks`: webhook endpoints (CRUD), their delivery history and manual redelivery.
//!
//! Deliveries are signed per the Standard Webhooks specification: headers `webhook-id`
//! (`evt_<event id>`, the same on every retry), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature` (`v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">`), keyed with
//! the base64 part of the endpoint's `whsec_…` secret. The body is the event envelope of the
//! streams. The worker ([`crate::worker`]) retries with exponential backoff for
//! `webhooks.retry_window_secs` (a day), then dead-letters; `…/redeliver` starts a new window.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use telegate_store::{
    now_ms, DeliveryAttempt, DeliveryQuery, NewWebhook, Webhook, WebhookDelivery, WebhookUpdate,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Auth, Principal};
use crate::error::{ApiError, ApiResult};
use crate::events::TypeFilter;
use crate::extract::{encode_cursor, Json, Page, PageParams, Path, Query};
use crate::{rfc3339, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
}

/// A webhook endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    /// Only this account's events; absent = every account's (and gateway-wide) events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    /// Event type patterns (`message.*`, `*`).
    pub types: Vec<String>,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        WebhookView {
            id: w.id,
            url: w.url.clone(),
            account_id: w.account_id,
            types: TypeFilter::parse(&w.event_filter)
                .map(|f| f.patterns().to_vec())
                .unwrap_or_default(),
            enabled: w.enabled,
            description: w.description.clone(),
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://…` (or `http://` for local receivers).
    #[schema(example = "https://crm.example.com/telegate")]
    pub url: String,
    /// Only this account's events.
    pub account_id: Option<i64>,
    /// Event type patterns; default all (`["*"]`).
    pub types: Option<Vec<String>>,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    /// The signing secret (`whsec_…`). Shown this once.
    pub secret: String,
    #[serde(flatten)]
    pub webhook: WebhookView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
}

/// One event's delivery to one webhook.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    /// `pending`, `delivered` or `dead` (dead-lettered after the retry window).
    pub state: String,
    /// Attempts in the current retry window.
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// Every attempt, oldest first (only on the single-delivery route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<AttemptView>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub at: String,
    /// The receiver's HTTP status; absent when no response arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<&WebhookDelivery> for DeliveryView {
    fn from(d: &WebhookDelivery) -> Self {
        DeliveryView {
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            state: d.state.clone(),
            attempts: d.attempts,
            next_attempt_at: (d.state == "pending").then(|| rfc3339(d.next_attempt_at)),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            created_at: rfc3339(d.created_at),
            delivered_at: d.delivered_at.map(rfc3339),
            history: None,
        }
    }
}

impl From<&DeliveryAttempt> for AttemptView {
    fn from(a: &DeliveryAttempt) -> Self {
        AttemptView {
            at: rfc3339(a.attempted_at),
            status: a.status,
            error: a.error.clone(),
            duration_ms: a.duration_ms,
        }
    }
}

/// A new `whsec_` secret: 32 random bytes, base64 (the Standard Webhooks format).
pub fn generate_secret() -> ApiResult<SecretString> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| ApiError::internal(e.to_string()))?;
    let s = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    raw.iter_mut().for_each(|b| *b = 0);
    Ok(SecretString::from(s))
}

fn validate_url(url: &str) -> ApiResult<String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ApiError::invalid(format!("url: not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::invalid(
            "url: expected an http:// or https:// URL",
        ));
    }
    if url.len() > 2048 {
        return Err(ApiError::invalid("url: at most 2048 characters"));
    }
    Ok(parsed.to_string())
}

fn validate_types(types: Option<&[String]>) -> ApiResult<TypeFilter> {
    match types {
        None => Ok(TypeFilter::all()),
        Some(list) => {
            let f = TypeFilter::parse(&list.join(","))
                .map_err(|m| ApiError::invalid(format!("types: {m}")))?;
            if f.patterns().is_empty() {
                return Err(ApiError::invalid(
                    "types: give at least one pattern, e.g. [\"*\"]",
                ));
            }
            Ok(f)
        }
    }
}

fn visible(principal: &Principal, w: &Webhook) -> bool {
    match w.account_id {
        Some(a) => principal.can_see_account(a),
        None => principal.sees_all_accounts(),
    }
}

async fn find(state: &AppState, principal: &Principal, id: i64) -> ApiResult<Webhook> {
    principal.require_read()?;
    match state.store().webhook(id).await? {
        Some(w) if visible(principal, &w) => Ok(w),
        _ => Err(ApiError::not_found(format!("webhook {id}"))),
    }
}

/// Create a webhook endpoint; the answer carries its signing secret, shown once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn create_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<CreateWebhook>,
) -> ApiResult<impl IntoResponse> {
    match body.account_id {
        Some(a) => {
            auth.require_account_write(a)?;
            if state.store().account(a).await?.is_none() {
                return Err(crate::auth::account_not_found(a));
            }
        }
        None => auth.require_unlimited_write()?,
    }
    let url = validate_url(&body.url)?;
    let types = validate_types(body.types.as_deref())?;
    let secret = generate_secret()?;
    let hook = state
        .store()
        .create_webhook(
            NewWebhook {
                account_id: body.account_id,
                url,
                secret: Some(secret.clone()),
                event_filter: types.to_text(),
                description: body.description,
            },
            &auth.actor(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            secret: secret.expose_secret().to_owned(),
            webhook: (&hook).into(),
        }),
    ))
}

/// List the webhooks this token may see.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn list_webhooks(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<WebhookList>> {
    auth.require_read()?;
    let hooks = state.store().webhooks().await?;
    Ok(Json(WebhookList {
        items: hooks
            .iter()
            .filter(|w| visible(&auth, w))
            .map(Into::into)
            .collect(),
    }))
}

/// One webhook.
#[utoipa::path(get, path = "/v1/webhooks/{webhook}", tag = "webhooks",
    params(("webhook" = i64, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn get_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json((&find(&state, &auth, id).await?).into()))
}

/// Change a webhook's URL, types, description, or pause it (`enabled: false`).
#[utoipa::path(patch, path = "/v1/webhooks/{webhook}", tag = "webhooks", request_body = UpdateWebhook,
    params(("webhook" = i64, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn update_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(body): Json<UpdateWebhook>,
) -> ApiResult<Json<WebhookView>> {
    find(&state, &auth, id).await?;
    auth.require_write()?;
    let update = WebhookUpdate {
        url: body.url.as_deref().map(validate_url).transpose()?,
        event_filter: match &body.types {
            Some(t) => Some(validate_types(Some(t))?.to_text()),
            None => None,
        },
        enabled: body.enabled,
        description: body.description,
    };
    let hook = state
        .store()
        .update_webhook(id, update)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id}")))?;
    Ok(Json((&hook).into()))
}

/// Delete a webhook and its delivery history.
#[utoipa::path(delete, path = "/v1/webhooks/{webhook}", tag = "webhooks",
    params(("webhook" = i64, Path, description = "Webhook id")),
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn delete_webhook(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    find(&state, &auth, id).await?;
    auth.require_write()?;
    state.store().delete_webhook(id, &auth.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// `pending`, `delivered` or `dead`.
    pub state: Option<String>,
    /// Items per page (1–500, default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A webhook's deliveries, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{webhook}/deliveries", tag = "webhooks",
    params(("webhook" = i64, Path, description = "Webhook id"), DeliveryParams),
    responses((status = 200, body = Page<DeliveryView>), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn list_deliveries(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(q): Query<DeliveryParams>,
) -> ApiResult<Json<Page<DeliveryView>>> {
    find(&state, &auth, id).await?;
    if let Some(s) = &q.state {
        if !matches!(s.as_str(), "pending" | "delivered" | "dead") {
            return Err(ApiError::invalid(
                "state: expected pending, delivered or dead",
            ));
        }
    }
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let limit = page.limit()?;
    let rows = state
        .store()
        .webhook_deliveries(DeliveryQuery {
            webhook_id: id,
            state: q.state.clone(),
            before_id: page.position()?,
            limit: limit + 1,
        })
        .await?;
    let more = rows.len() > limit as usize;
    let items: Vec<DeliveryView> = rows.iter().take(limit as usize).map(Into::into).collect();
    let next_cursor = more.then(|| encode_cursor(items.last().map(|d| d.id).unwrap_or(0)));
    Ok(Json(Page { items, next_cursor }))
}

async fn find_delivery(
    state: &AppState,
    auth: &Principal,
    webhook: i64,
    delivery: i64,
) -> ApiResult<WebhookDelivery> {
    find(state, auth, webhook).await?;
    match state.store().webhook_delivery(delivery).await? {
        Some(d) if d.webhook_id == webhook => Ok(d),
        _ => Err(ApiError::not_found(format!("delivery {delivery}"))),
    }
}

/// One delivery with its attempt history.
#[utoipa::path(get, path = "/v1/webhooks/{webhook}/deliveries/{delivery}", tag = "webhooks",
    params(("webhook" = i64, Path, description = "Webhook id"), ("delivery" = i64, Path, description = "Delivery id")),
    responses((status = 200, body = DeliveryView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn get_delivery(
    State(state): State<AppState>,
    auth: Auth,
    Path((webhook, delivery)): Path<(i64, i64)>,
) -> ApiResult<Json<DeliveryView>> {
    let d = find_delivery(&state, &auth, webhook, delivery).await?;
    let attempts = state.store().delivery_attempts(d.id).await?;
    let mut view = DeliveryView::from(&d);
    view.history = Some(attempts.iter().map(Into::into).collect());
    Ok(Json(view))
}

/// Send a delivery again now (delivered or dead-lettered), with a fresh retry window.
#[utoipa::path(post, path = "/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver", tag = "webhooks",
    params(("webhook" = i64, Path, description = "Webhook id"), ("delivery" = i64, Path, description = "Delivery id")),
    responses((status = 202, body = DeliveryView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn redeliver(
    State(state): State<AppState>,
    auth: Auth,
    Path((webhook, delivery)): Path<(i64, i64)>,
) -> ApiResult<impl IntoResponse> {
    find_delivery(&state, &auth, webhook, delivery).await?;
    auth.require_write()?;
    state.store().redeliver(delivery, now_ms()).await?;
    state.inner.worker.wake();
    let d = find_delivery(&state, &auth, webhook, delivery).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&d))))
}
