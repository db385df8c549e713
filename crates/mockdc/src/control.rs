//! The control API: JSON over HTTP, for tests and users' CI to drive the mock DC
//! (documented in docs/mock-dc.md). Errors are JSON `{"error": "..."}` naming what is wrong.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::cluster::Cluster;
use crate::world::{AccountState, NewUser};
use crate::server::ReadyInfo;

#[derive(Clone)]
struct AppState {
    cluster: Arc<Cluster>,
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
}

/// `POST /v1/auth-keys {"dc_id":2}` → `{"dc_id":2,"auth_key":"<512 hex>"}`: a pre-shared key for
/// clients that cannot complete DH against the mock's RSA key (grammers hard-codes Telegram's).
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
    let key = state.cluster.register_random_key(request.dc_id);
    Ok(Json(json!({ "dc_id": request.dc_id, "auth_key": hex::encode(key.bytes()) })))
}

fn user_not_found(user_id: i64) -> ControlError {
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
    let user = world.create_user(request, dcs).map_err(ControlError::BadRequest)?;
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
async fn get_user(State(state): State<AppState>, Path(user_id): Path<i64>) -> Result<Json<serde_json::Value>, ControlError> {
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
async fn delete_user(State(state): State<AppState>, Path(user_id): Path<i64>) -> Result<Json<serde_json::Value>, ControlError> {
    set_state(&state, user_id, AccountState::Deleted)
}

/// `POST /v1/users/{user_id}/ban`: USER_DEACTIVATED_BAN from then on.
async fn ban_user(State(state): State<AppState>, Path(user_id): Path<i64>) -> Result<Json<serde_json::Value>, ControlError> {
    set_state(&state, user_id, AccountState::Banned)
}

fn set_state(state: &AppState, user_id: i64, new_state: AccountState) -> Result<Json<serde_json::Value>, ControlError> {
    if !state.cluster.world().set_state(user_id, new_state) {
        return Err(user_not_found(user_id));
    }
    Ok(Json(json!({ "user_id": user_id, "state": new_state })))
}

/// `POST /v1/users/{user_id}/revoke`: every key of the user gets SESSION_REVOKED.
async fn revoke_user(State(state): State<AppState>, Path(user_id): Path<i64>) -> Result<Json<serde_json::Value>, ControlError> {
    let mut world = state.cluster.world();
    if world.user(user_id).is_none() {
        return Err(user_not_found(user_id));
    }
    let revoked = world.revoke_user_keys(user_id, None);
    Ok(Json(json!({ "user_id": user_id, "revoked": revoked })))
}

/// `GET /v1/login-codes/{phone}` → `{"code"}`: the phone URL-encoded, with or without `+`.
async fn get_login_code(State(state): State<AppState>, Path(phone): Path<String>) -> Result<Json<serde_json::Value>, ControlError> {
    let world = state.cluster.world();
    let code = world
        .login_code(&phone)
        .ok_or_else(|| ControlError::NotFound(format!("no pending login code for phone {phone:?}")))?;
    Ok(Json(json!({ "code": code })))
}
