//! `/v1/accounts/{account}/chats…` and `/contacts…`: the account's chats (from the mirror,
//! sorted by last message), creating groups and channels, members, titles, invite links,
//! contacts and username resolution.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use telegate_core::{
    AdminRights, CallOptions, ChatView, ContactView, CreateChat, CreateInviteLink, ImportContact,
    InviteImporter, InviteLinkView, PeerRef,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::accounts::{account_for, peer};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IdempotencyKey, Json, Page, PageParams, Path, Query};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_chats, create_chat))
        .routes(routes!(sync_chats))
        .routes(routes!(join_chat))
        .routes(routes!(get_chat, edit_chat))
        .routes(routes!(add_member))
        .routes(routes!(remove_member))
        .routes(routes!(promote_member))
        .routes(routes!(list_invite_links, create_invite_link))
        .routes(routes!(revoke_invite_link))
        .routes(routes!(invite_link_importers))
        .routes(routes!(list_contacts, import_contacts))
        .routes(routes!(delete_contact))
        .routes(routes!(resolve_username))
}

pub(crate) fn call_options(key: IdempotencyKey) -> CallOptions {
    CallOptions {
        idempotency_key: key.0,
        fail_fast: false,
    }
}

/// The account's chats from the mirror, most recent message first (no Telegram call; see
/// `POST …/chats/sync` to fill it from Telegram).
#[utoipa::path(get, path = "/v1/accounts/{account}/chats", tag = "chats",
    params(("account" = i64, Path, description = "Account id"), PageParams),
    responses((status = 200, body = Page<ChatView>), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn list_chats(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Page<ChatView>>> {
    let h = account_for(&state, &auth, account, false)?;
    let limit = page.limit()?.min(200);
    let got = h.chats(page.cursor.as_deref(), limit).await?;
    Ok(Json(Page {
        items: got.chats,
        next_cursor: got.next,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// How many dialogs to fetch (1–100, default 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatList {
    pub items: Vec<ChatView>,
}

/// Fetch the most recent dialogs from Telegram into the mirror (and the peer cache, which
/// makes their ids addressable, e.g. after a session import).
#[utoipa::path(post, path = "/v1/accounts/{account}/chats/sync", tag = "chats",
    params(("account" = i64, Path, description = "Account id")), request_body = Option<SyncBody>,
    responses((status = 200, body = ChatList), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn sync_chats(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ChatList>> {
    let q: SyncBody = crate::extract::optional_json(&body)?;
    let limit = match q.limit {
        None => 100,
        Some(n @ 1..=100) => n,
        Some(n) => return Err(ApiError::invalid(format!("limit = {n}: expected 1 to 100"))),
    };
    let h = account_for(&state, &auth, account, true)?;
    Ok(Json(ChatList {
        items: h.sync_dialogs(limit).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// `https://t.me/+HASH`, `t.me/joinchat/HASH` or the hash.
    pub link: String,
}

/// Join a group or channel through an invite link.
#[utoipa::path(post, path = "/v1/accounts/{account}/chats/join", tag = "chats",
    params(("account" = i64, Path, description = "Account id")), request_body = JoinBody,
    responses((status = 200, body = ChatView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn join_chat(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
    Json(body): Json<JoinBody>,
) -> ApiResult<Json<ChatView>> {
    let h = account_for(&state, &auth, account, true)?;
    Ok(Json(h.join_by_link(&body.link).await?))
}

/// Create a basic group (`kind: group`, with `members`), a supergroup or a channel.
#[utoipa::path(post, path = "/v1/accounts/{account}/chats", tag = "chats",
    params(("account" = i64, Path, description = "Account id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key create the chat once")),
    request_body = CreateChat,
    responses((status = 201, body = ChatView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn create_chat(
    State(state): State<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    Path(account): Path<i64>,
    Json(body): Json<CreateChat>,
) -> ApiResult<impl IntoResponse> {
    if !matches!(body.kind.as_str(), "group" | "supergroup" | "channel") {
        return Err(ApiError::invalid(format!(
            "kind {:?}: expected group, supergroup or channel",
            body.kind
        )));
    }
    let h = account_for(&state, &auth, account, true)?;
    let chat = h.create_chat(&body, &call_options(key)).await?;
    Ok((StatusCode::CREATED, Json(chat)))
}

/// One chat (`{peer}`: `-456`, `-100789`, `123`, `@username` or `me`).
#[utoipa::path(get, path = "/v1/accounts/{account}/chats/{peer}", tag = "chats",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat")),
    responses((status = 200, body = ChatView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn get_chat(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat)): Path<(i64, String)>,
) -> ApiResult<Json<ChatView>> {
    let chat = peer(&chat)?;
    let h = account_for(&state, &auth, account, false)?;
    Ok(Json(h.chat(&chat).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditChat {
    /// The new title (groups and channels).
    pub title: String,
}

/// Change a group's or channel's title.
#[utoipa::path(patch, path = "/v1/accounts/{account}/chats/{peer}", tag = "chats",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat")),
    request_body = EditChat,
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn edit_chat(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat)): Path<(i64, String)>,
    Json(body): Json<EditChat>,
) -> ApiResult<StatusCode> {
    let chat = peer(&chat)?;
    let h = account_for(&state, &auth, account, true)?;
    h.set_title(&chat, &body.title).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The user to add.
    pub user: PeerRef,
}

/// Add (invite) a user to a group or channel.
#[utoipa::path(post, path = "/v1/accounts/{account}/chats/{peer}/members", tag = "chats",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat")),
    request_body = AddMember,
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn add_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat)): Path<(i64, String)>,
    Json(body): Json<AddMember>,
) -> ApiResult<StatusCode> {
    let chat = peer(&chat)?;
    let h = account_for(&state, &auth, account, true)?;
    h.add_member(&chat, &body.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveParams {
    /// Also ban them (they cannot come back through links); default false (a kick).
    #[serde(default)]
    pub ban: bool,
}

/// Remove a member (kick, or ban with `?ban=true`).
#[utoipa::path(delete, path = "/v1/accounts/{account}/chats/{peer}/members/{user}", tag = "chats",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("user" = String, Path, description = "The member"), RemoveParams),
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn remove_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat, user)): Path<(i64, String, String)>,
    Query(q): Query<RemoveParams>,
) -> ApiResult<StatusCode> {
    let (chat, user) = (peer(&chat)?, peer(&user)?);
    let h = account_for(&state, &auth, account, true)?;
    h.remove_member(&chat, &user, q.ban).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Promote {
    #[serde(default)]
    pub rights: AdminRights,
    /// The admin's custom title.
    #[serde(default)]
    pub rank: Option<String>,
}

/// Make a member an admin of a supergroup or channel (or, with no rights, demote them).
#[utoipa::path(post, path = "/v1/accounts/{account}/chats/{peer}/members/{user}/promote", tag = "chats",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("user" = String, Path, description = "The member")),
    request_body = Promote,
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn promote_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat, user)): Path<(i64, String, String)>,
    Json(body): Json<Promote>,
) -> ApiResult<StatusCode> {
    let (chat, user) = (peer(&chat)?, peer(&user)?);
    let h = account_for(&state, &auth, account, true)?;
    h.promote_member(&chat, &user, &body.rights, body.rank)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkListParams {
    /// List revoked links instead of active ones.
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteLinkList {
    pub items: Vec<InviteLinkView>,
}

/// The chat's invite links created by this account, with `usage` (current uses).
#[utoipa::path(get, path = "/v1/accounts/{account}/chats/{peer}/invite-links", tag = "invite links",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"), LinkListParams),
    responses((status = 200, body = InviteLinkList), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn list_invite_links(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat)): Path<(i64, String)>,
    Query(q): Query<LinkListParams>,
) -> ApiResult<Json<InviteLinkList>> {
    let chat = peer(&chat)?;
    let h = account_for(&state, &auth, account, false)?;
    Ok(Json(InviteLinkList {
        items: h.invite_links(&chat, q.revoked).await?,
    }))
}

/// Create an invite link (`usage_limit`, `expires_at` in Unix seconds, `title`,
/// `request_needed`).
#[utoipa::path(post, path = "/v1/accounts/{account}/chats/{peer}/invite-links", tag = "invite links",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key create one link")),
    request_body = CreateInviteLink,
    responses((status = 201, body = InviteLinkView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn create_invite_link(
    State(state): State<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    Path((account, chat)): Path<(i64, String)>,
    Json(body): Json<CreateInviteLink>,
) -> ApiResult<impl IntoResponse> {
    let chat = peer(&chat)?;
    let h = account_for(&state, &auth, account, true)?;
    let link = h
        .create_invite_link(&chat, &body, &call_options(key))
        .await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// `{link}` in a path: the link's hash (`AbC…` of `https://t.me/+AbC…`) or the whole link,
/// URL-encoded.
fn link_of(segment: &str) -> ApiResult<String> {
    let s = segment.trim();
    if s.contains("t.me/") {
        return Ok(s.to_owned());
    }
    let hash = s.trim_start_matches('+');
    if hash.is_empty()
        || !hash
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::invalid(format!(
            "link {segment:?}: expected the hash of a t.me/+ link or the whole link"
        )));
    }
    Ok(format!("https://t.me/+{hash}"))
}

/// Revoke an invite link; answers it as revoked.
#[utoipa::path(delete, path = "/v1/accounts/{account}/chats/{peer}/invite-links/{link}", tag = "invite links",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("link" = String, Path, description = "The link's hash or the whole link")),
    responses((status = 200, body = InviteLinkView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn revoke_invite_link(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat, link)): Path<(i64, String, String)>,
) -> ApiResult<Json<InviteLinkView>> {
    let chat = peer(&chat)?;
    let link = link_of(&link)?;
    let h = account_for(&state, &auth, account, true)?;
    Ok(Json(h.revoke_invite_link(&chat, &link).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImporterList {
    pub items: Vec<InviteImporter>,
}

/// Who joined through a link.
#[utoipa::path(get, path = "/v1/accounts/{account}/chats/{peer}/invite-links/{link}/importers", tag = "invite links",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("link" = String, Path, description = "The link's hash or the whole link")),
    responses((status = 200, body = ImporterList), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn invite_link_importers(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat, link)): Path<(i64, String, String)>,
) -> ApiResult<Json<ImporterList>> {
    let chat = peer(&chat)?;
    let link = link_of(&link)?;
    let h = account_for(&state, &auth, account, false)?;
    Ok(Json(ImporterList {
        items: h.invite_importers(&chat, &link).await?,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactList {
    pub items: Vec<ContactView>,
}

/// The account's Telegram contacts.
#[utoipa::path(get, path = "/v1/accounts/{account}/contacts", tag = "contacts",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 200, body = ContactList), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn list_contacts(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<Json<ContactList>> {
    let h = account_for(&state, &auth, account, false)?;
    Ok(Json(ContactList {
        items: h.contacts().await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportContacts {
    /// 1 to 100 contacts.
    pub contacts: Vec<ImportContact>,
}

/// Import contacts by phone number; answers those that have Telegram.
#[utoipa::path(post, path = "/v1/accounts/{account}/contacts", tag = "contacts",
    params(("account" = i64, Path, description = "Account id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key import once")),
    request_body = ImportContacts,
    responses((status = 201, body = ContactList), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn import_contacts(
    State(state): State<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    Path(account): Path<i64>,
    Json(body): Json<ImportContacts>,
) -> ApiResult<impl IntoResponse> {
    let h = account_for(&state, &auth, account, true)?;
    let items = h
        .import_contacts(&body.contacts, &call_options(key))
        .await?;
    Ok((StatusCode::CREATED, Json(ContactList { items })))
}

/// Remove a user from the account's contacts.
#[utoipa::path(delete, path = "/v1/accounts/{account}/contacts/{user}", tag = "contacts",
    params(("account" = i64, Path, description = "Account id"), ("user" = String, Path, description = "The contact")),
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn delete_contact(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, user)): Path<(i64, String)>,
) -> ApiResult<StatusCode> {
    let user = peer(&user)?;
    let h = account_for(&state, &auth, account, true)?;
    h.delete_contacts(&[user]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resolve a public `@username` to the user, bot, group or channel behind it.
#[utoipa::path(get, path = "/v1/accounts/{account}/resolve/{username}", tag = "contacts",
    params(("account" = i64, Path, description = "Account id"), ("username" = String, Path, description = "With or without @")),
    responses((status = 200, body = ChatView), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn resolve_username(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, username)): Path<(i64, String)>,
) -> ApiResult<Json<ChatView>> {
    let name = match peer(&format!("@{}", username.trim_start_matches('@')))? {
        PeerRef::Username(n) => n,
        _ => return Err(ApiError::invalid("username: expected a public username")),
    };
    let h = account_for(&state, &auth, account, false)?;
    Ok(Json(h.resolve_username(&name).await?))
}
