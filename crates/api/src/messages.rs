//! `/v1/accounts/{account}/chats/{peer}/messages…`: history (live from Telegram or from the
//! mirror), sending (text with Markdown/HTML/entities, replies), editing, deleting,
//! forwarding, read receipts and search.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use telegate_core::{
    EditMessage, HistoryQuery, HistorySource, MessageView, PeerRef, SearchQuery, SendMessage,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::accounts::{account_for, peer};
use crate::auth::Auth;
use crate::chats::call_options;
use crate::error::{ApiError, ApiResult};
use crate::extract::{decode_cursor, encode_cursor, IdempotencyKey, Json, Page, Path, Query};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history, send_message))
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(forward_message))
        .routes(routes!(read_history))
        .routes(routes!(search_messages))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// `live` (ask Telegram, the default) or `mirror` (what the update stream stored; no
    /// Telegram call, includes deleted messages marked `deleted`).
    #[param(inline)]
    pub source: Option<HistorySource>,
    /// 1–100, default 50.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn limit_of(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=100) => Ok(n),
        Some(n) => Err(ApiError::invalid(format!("limit = {n}: expected 1 to 100"))),
    }
}

/// Pages of messages are newest first; the cursor is the oldest id of the page.
fn page_of(items: Vec<MessageView>, limit: u32) -> Page<MessageView> {
    let next_cursor = (items.len() as u32 >= limit)
        .then(|| items.last().map(|m| encode_cursor(m.id as i64)))
        .flatten();
    Page { items, next_cursor }
}

fn before_id(cursor: Option<&str>) -> ApiResult<Option<i32>> {
    cursor
        .map(|c| {
            decode_cursor(c).and_then(|id| {
                i32::try_from(id).map_err(|_| ApiError::invalid("cursor: out of range"))
            })
        })
        .transpose()
}

/// The chat's messages, newest first.
#[utoipa::path(get, path = "/v1/accounts/{account}/chats/{peer}/messages", tag = "messages",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"), HistoryParams),
    responses((status = 200, body = Page<MessageView>), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn history(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat)): Path<(i64, String)>,
    Query(q): Query<HistoryParams>,
) -> ApiResult<Json<Page<MessageView>>> {
    let chat = peer(&chat)?;
    let limit = limit_of(q.limit)?;
    let query = HistoryQuery {
        source: q.source.unwrap_or_default(),
        before_id: before_id(q.cursor.as_deref())?,
        limit: Some(limit),
    };
    let h = account_for(&state, &auth, account, false)?;
    Ok(Json(page_of(h.history(&chat, &query).await?, limit)))
}

/// Send a text message. With an `Idempotency-Key`, retries return the first message and
/// never post twice.
#[utoipa::path(post, path = "/v1/accounts/{account}/chats/{peer}/messages", tag = "messages",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key send once")),
    request_body = SendBody,
    responses((status = 201, body = MessageView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn send_message(
    State(state): State<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    Path((account, chat)): Path<(i64, String)>,
    Json(body): Json<SendBody>,
) -> ApiResult<impl IntoResponse> {
    let chat = peer(&chat)?;
    let h = account_for(&state, &auth, account, true)?;
    let opts = call_options(key);
    let sent = match &body.media {
        Some(media) => {
            crate::uploads::send_upload(&state, &h, account, &chat, &body.message, media, &opts)
                .await?
        }
        None => h.send_message(&chat, &body.message, &opts).await?,
    };
    Ok((StatusCode::CREATED, Json(sent)))
}

/// A message to send: text (with formatting), or media from an upload with `text` as its
/// caption.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendBody {
    #[serde(flatten)]
    pub message: SendMessage,
    /// Send a complete upload (`POST …/uploads`) as a document or photo.
    #[serde(default)]
    pub media: Option<crate::uploads::MediaRef>,
}

/// Edit a message's text.
#[utoipa::path(patch, path = "/v1/accounts/{account}/chats/{peer}/messages/{id}", tag = "messages",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("id" = i32, Path, description = "Message id")),
    request_body = EditMessage,
    responses((status = 200, body = MessageView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn edit_message(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat, id)): Path<(i64, String, i32)>,
    Json(body): Json<EditMessage>,
) -> ApiResult<Json<MessageView>> {
    let chat = peer(&chat)?;
    let h = account_for(&state, &auth, account, true)?;
    Ok(Json(
        h.edit_message(&chat, id, &body, &Default::default())
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Delete for everyone (default true); false deletes only for this account.
    pub revoke: Option<bool>,
}

/// Delete a message.
#[utoipa::path(delete, path = "/v1/accounts/{account}/chats/{peer}/messages/{id}", tag = "messages",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("id" = i32, Path, description = "Message id"), DeleteParams),
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn delete_message(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat, id)): Path<(i64, String, i32)>,
    Query(q): Query<DeleteParams>,
) -> ApiResult<StatusCode> {
    let chat = peer(&chat)?;
    let h = account_for(&state, &auth, account, true)?;
    h.delete_messages(&chat, &[id], q.revoke.unwrap_or(true))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// Where to forward to.
    pub to: PeerRef,
    #[serde(default)]
    pub silent: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    pub items: Vec<MessageView>,
}

/// Forward a message to another chat; answers the new message(s).
#[utoipa::path(post, path = "/v1/accounts/{account}/chats/{peer}/messages/{id}/forward", tag = "messages",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("id" = i32, Path, description = "Message id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key forward once")),
    request_body = Forward,
    responses((status = 201, body = MessageList), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn forward_message(
    State(state): State<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    Path((account, chat, id)): Path<(i64, String, i32)>,
    Json(body): Json<Forward>,
) -> ApiResult<impl IntoResponse> {
    let chat = peer(&chat)?;
    let h = account_for(&state, &auth, account, true)?;
    let items = h
        .forward_messages(&chat, &[id], &body.to, body.silent, &call_options(key))
        .await?;
    Ok((StatusCode::CREATED, Json(MessageList { items })))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    /// Mark read up to this id; absent or 0 = everything.
    #[serde(default)]
    pub max_id: Option<i32>,
}

/// Mark the chat read.
#[utoipa::path(post, path = "/v1/accounts/{account}/chats/{peer}/read", tag = "messages",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat")),
    request_body = Option<ReadBody>,
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn read_history(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat)): Path<(i64, String)>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let chat = peer(&chat)?;
    // The body is optional: an empty POST marks everything read.
    let body: ReadBody = crate::extract::optional_json(&body)?;
    let max_id = body.max_id.unwrap_or(0);
    if max_id < 0 {
        return Err(ApiError::invalid("max_id: must not be negative"));
    }
    let h = account_for(&state, &auth, account, true)?;
    h.read_history(&chat, max_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The text to look for.
    pub q: String,
    /// 1–100, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Search the chat's messages (Telegram's `messages.search`), newest first.
#[utoipa::path(get, path = "/v1/accounts/{account}/chats/{peer}/search", tag = "messages",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"), SearchParams),
    responses((status = 200, body = Page<MessageView>), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn search_messages(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat)): Path<(i64, String)>,
    Query(q): Query<SearchParams>,
) -> ApiResult<Json<Page<MessageView>>> {
    let chat = peer(&chat)?;
    let limit = limit_of(q.limit)?;
    let query = SearchQuery {
        query: q.q,
        before_id: before_id(q.cursor.as_deref())?,
        limit: Some(limit),
    };
    let h = account_for(&state, &auth, account, false)?;
    Ok(Json(page_of(h.search(&chat, &query).await?, limit)))
}
