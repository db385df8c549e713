//! The control API: JSON over HTTP, for tests and users' CI to drive the mock DC
//! (documented in docs/mock-dc.md). Errors are JSON `{"error": "..."}` naming what is wrong.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::cluster::Cluster;
use crate::server::ReadyInfo;
use crate::world::{AccountState, NewUser};

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) cluster: Arc<Cluster>,
    info: Arc<ReadyInfo>,
}

/// One error type for the control API; every variant maps to a status and a JSON body.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ControlError::NotFound(_) => StatusCode::NOT_FOUND,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

impl From<JsonRejection> for ControlError {
    fn from(rejection: JsonRejection) -> Self {
        ControlError::BadRequest(format!("invalid JSON body: {}", rejection.body_text()))
    }
}

pub fn router(cluster: Arc<Cluster>, info: ReadyInfo) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { Json(json!({ "ok": true })) }))
        .route("/v1/info", get(get_info))
        .route("/v1/auth-keys", post(create_auth_key))
        .route("/v1/users", post(create_user))
        .route("/v1/users/{user_id}", get(get_user).delete(delete_user))
        .route("/v1/users/{user_id}/revoke", post(revoke_user))
        .route("/v1/users/{user_id}/ban", post(ban_user))
        .route("/v1/bots", post(create_bot))
        .route("/v1/login-codes/{phone}", get(get_login_code))
        .route("/v1/messages", post(post_message))
        .route("/v1/users/{user_id}/messages", get(get_messages))
        .route("/v1/qr-login/accept", post(accept_qr_login))
        .route(
            "/v1/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .merge(crate::control_chats::routes())
        .merge(crate::control_files::routes())
        .with_state(AppState {
            cluster,
            info: Arc::new(info),
        })
}

async fn get_info(State(state): State<AppState>) -> Json<ReadyInfo> {
    Json((*state.info).clone())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAuthKey {
    dc_id: i32,
    /// Log the new key in as this user right away, as if the user had completed a login with it
    /// (benchmarks and CI that need many ready accounts skip the login dance).
    #[serde(default)]
    user_id: Option<i64>,
}

/// `POST /v1/auth-keys {"dc_id":2, "user_id"?: 42}` → `{"dc_id":2,"auth_key":"<512 hex>"}`: a
/// pre-shared key for clients that cannot complete DH against the mock's RSA key (grammers
/// hard-codes Telegram's); with `user_id`, already logged in as that user.
async fn create_auth_key(
    State(state): State<AppState>,
    body: Result<Json<CreateAuthKey>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let Json(request) = body?;
    if !state.cluster.has_dc(request.dc_id) {
        return Err(ControlError::BadRequest(format!(
            "dc_id {} does not exist; this mock serves DCs 1..={}",
            request.dc_id,
            state.cluster.dcs().len()
        )));
    }
    if let Some(user_id) = request.user_id {
        if state.cluster.world().user(user_id).is_none() {
            return Err(user_not_found(user_id));
        }
    }
    let key = state.cluster.register_random_key(request.dc_id);
    if let Some(user_id) = request.user_id {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        state
            .cluster
            .world()
            .authorize(key.id(), user_id, request.dc_id, now);
    }
    Ok(Json(
        json!({ "dc_id": request.dc_id, "auth_key": hex::encode(key.bytes()) }),
    ))
}

pub(crate) fn user_not_found(user_id: i64) -> ControlError {
    ControlError::NotFound(format!("no user {user_id}"))
}

/// `POST /v1/users {"phone","first_name","last_name?","username?","password?","dc_id?"}`.
async fn create_user(
    State(state): State<AppState>,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let Json(request) = body?;
    let dcs = state.cluster.dcs().len() as i32;
    let mut world = state.cluster.world();
    let user = world
        .create_user(request, dcs)
        .map_err(ControlError::BadRequest)?;
    Ok(Json(json!({ "user_id": user.id, "dc_id": user.dc_id })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBot {
    username: String,
    first_name: Option<String>,
}

/// `POST /v1/bots {"username","first_name?"}` → `{"user_id","token"}`.
async fn create_bot(
    State(state): State<AppState>,
    body: Result<Json<NewBot>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let Json(request) = body?;
    let dcs = state.cluster.dcs().len() as i32;
    let (user_id, token) = state
        .cluster
        .world()
        .create_bot(&request.username, request.first_name, dcs)
        .map_err(ControlError::BadRequest)?;
    Ok(Json(json!({ "user_id": user_id, "token": token })))
}

/// `GET /v1/users/{user_id}`: the account as the mock sees it (no secrets).
async fn get_user(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let world = state.cluster.world();
    let user = world.user(user_id).ok_or_else(|| user_not_found(user_id))?;
    Ok(Json(json!({
        "user_id": user.id,
        "phone": user.phone,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "dc_id": user.dc_id,
        "bot": user.bot,
        "has_password": user.password.is_some(),
        "premium": user.premium,
        "state": user.state,
        "authorizations": world.authorizations_of(user_id).len(),
    })))
}

/// `DELETE /v1/users/{user_id}`: the account is deleted (USER_DEACTIVATED from then on).
async fn delete_user(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
) -> Result<Json<serde_json::Value>, ControlError> {
    set_state(&state, user_id, AccountState::Deleted)
}

/// `POST /v1/users/{user_id}/ban`: USER_DEACTIVATED_BAN from then on.
async fn ban_user(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
) -> Result<Json<serde_json::Value>, ControlError> {
    set_state(&state, user_id, AccountState::Banned)
}

fn set_state(
    state: &AppState,
    user_id: i64,
    new_state: AccountState,
) -> Result<Json<serde_json::Value>, ControlError> {
    if !state.cluster.world().set_state(user_id, new_state) {
        return Err(user_not_found(user_id));
    }
    Ok(Json(json!({ "user_id": user_id, "state": new_state })))
}

/// `POST /v1/users/{user_id}/revoke`: every key of the user gets SESSION_REVOKED.
async fn revoke_user(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let mut world = state.cluster.world();
    if world.user(user_id).is_none() {
        return Err(user_not_found(user_id));
    }
    let revoked = world.revoke_user_keys(user_id, None);
    Ok(Json(json!({ "user_id": user_id, "revoked": revoked })))
}

/// `GET /v1/login-codes/{phone}` → `{"code"}`: the phone URL-encoded, with or without `+`.
async fn get_login_code(
    State(state): State<AppState>,
    Path(phone): Path<String>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let world = state.cluster.world();
    let code = world.login_code(&phone).ok_or_else(|| {
        ControlError::NotFound(format!("no pending login code for phone {phone:?}"))
    })?;
    Ok(Json(json!({ "code": code })))
}

pub(crate) fn now_secs() -> i32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i32)
        .unwrap_or(0)
}

/// A peer as the control API names it: a user id (number or string) or `@username`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum PeerName {
    Id(i64),
    Name(String),
}

fn resolve_peer(world: &crate::world::World, peer: &PeerName) -> Result<i64, ControlError> {
    let id = match peer {
        PeerName::Id(id) => Some(*id),
        PeerName::Name(name) if name.starts_with('@') => world.user_by_username(name).map(|u| u.id),
        PeerName::Name(name) => name.parse().ok(),
    };
    id.filter(|id| world.user(*id).is_some()).ok_or_else(|| {
        ControlError::BadRequest(match peer {
            PeerName::Id(id) => {
                format!("peer {id} is not a user of this mock (groups and channels come later)")
            }
            PeerName::Name(name) => {
                format!("peer {name:?} is neither a user id nor a known @username")
            }
        })
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    from_user_id: i64,
    peer: PeerName,
    text: String,
}

/// `POST /v1/messages {"from_user_id","peer","text"}` → `{"message_id"}` (the sender's id); the
/// recipient's online sessions get the update like any message.
async fn post_message(
    State(state): State<AppState>,
    body: Result<Json<NewMessage>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let Json(request) = body?;
    let now = now_secs();
    let (sent, pushes) = {
        let mut world = state.cluster.world();
        if world.user(request.from_user_id).is_none() {
            return Err(user_not_found(request.from_user_id));
        }
        let to = resolve_peer(&world, &request.peer)?;
        let sent = world
            .send_message(
                request.from_user_id,
                to,
                &request.text,
                Vec::new(),
                rand::random(),
                None,
                now,
            )
            .map_err(|fail| ControlError::BadRequest(format!("Telegram would answer {fail}")))?;
        let pushes =
            crate::rpc::pushes_for_sent(&state.cluster, &world, request.from_user_id, &sent);
        (sent, pushes)
    };
    for pending in pushes {
        let keys = state.cluster.world().keys_of(pending.user_id);
        state.cluster.deliver(&keys, None, &pending.push);
    }
    Ok(Json(json!({ "message_id": sent.sender_id })))
}

#[derive(serde::Deserialize)]
struct MessagesQuery {
    peer: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/users/{user_id}/messages?peer=…&limit=…`: that user's box, newest first.
async fn get_messages(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
    Query(query): Query<MessagesQuery>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let world = state.cluster.world();
    if world.user(user_id).is_none() {
        return Err(user_not_found(user_id));
    }
    let peer = query
        .peer
        .as_ref()
        .map(|p| resolve_peer(&world, &PeerName::Name(p.clone())))
        .transpose()?;
    let limit = query.limit.unwrap_or(100).min(1000);
    let messages: Vec<serde_json::Value> = world
        .mailbox(user_id)
        .map(|b| {
            b.messages
                .values()
                .rev()
                .filter(|m| peer.is_none_or(|p| m.peer == crate::world::Peer::User(p)))
                .take(limit)
                .map(|m| {
                    json!({
                        "id": m.id, "peer": m.peer.bot_api_id(), "from": m.from, "out": m.out, "date": m.date,
                        "text": m.text, "edit_date": m.edit_date, "forwarded_from": m.fwd_from.map(|f| f.0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(
        json!({ "messages": messages, "pts": world.pts_of(user_id) }),
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptQr {
    user_id: i64,
    /// The token as shown in `tg://login?token=…`: base64url, padding optional.
    token: String,
}

/// `POST /v1/qr-login/accept {"user_id","token"}`: as if that user scanned the QR code.
async fn accept_qr_login(
    State(state): State<AppState>,
    body: Result<Json<AcceptQr>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ControlError> {
    use base64::Engine;
    let Json(request) = body?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(request.token.trim_end_matches('='))
        .map_err(|e| ControlError::BadRequest(format!("token is not base64url: {e}")))?;
    let now = now_secs();
    let waiting = {
        let mut world = state.cluster.world();
        if world.user(request.user_id).is_none() {
            return Err(user_not_found(request.user_id));
        }
        world
            .accept_login_token(request.user_id, &token, now as i64)
            .map_err(|fail| ControlError::BadRequest(format!("Telegram would answer {fail}")))?
    };
    crate::rpc::notify_login_token(&state.cluster, waiting, now);
    Ok(Json(json!({ "accepted": true })))
}

async fn list_faults(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "faults": state.cluster.faults().list() }))
}

/// `POST /v1/faults` with one fault (see docs/mock-dc.md).
async fn add_fault(
    State(state): State<AppState>,
    body: Result<Json<crate::faults::FaultSpec>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let Json(spec) = body.map_err(|rejection| {
        ControlError::BadRequest(format!(
            "invalid fault: {} (expected one of method+error(+count), flood_limit, flood_preset, latency_ms, bandwidth_bytes_per_sec, drop_connections, drop_connections_every_secs, updates_too_long_for_user, channel_too_long)",
            rejection.body_text()
        ))
    })?;
    crate::faults::validate(&spec).map_err(ControlError::BadRequest)?;
    if let crate::faults::FaultSpec::UpdatesTooLong {
        updates_too_long_for_user,
    } = spec
    {
        let keys = state.cluster.world().keys_of(updates_too_long_for_user);
        if state
            .cluster
            .world()
            .user(updates_too_long_for_user)
            .is_none()
        {
            return Err(user_not_found(updates_too_long_for_user));
        }
        let push: crate::cluster::Push = std::sync::Arc::new(|_layer| {
            grammers_tl_types::Serializable::to_bytes(&grammers_tl_types::enums::Updates::TooLong)
        });
        let delivered = state.cluster.deliver(&keys, None, &push);
        return Ok(Json(json!({ "delivered": delivered })));
    }
    if let crate::faults::FaultSpec::ChannelTooLong { channel_too_long } = &spec {
        return crate::control_chats::channel_too_long(&state, channel_too_long);
    }
    if matches!(spec, crate::faults::FaultSpec::DropNow { .. }) {
        state.cluster.drop_connections();
    }
    state.cluster.faults().add(spec);
    Ok(Json(json!({ "faults": state.cluster.faults().list() })))
}

async fn clear_faults(State(state): State<AppState>) -> Json<serde_json::Value> {
    state.cluster.faults().clear();
    Json(json!({ "faults": [] }))
}
