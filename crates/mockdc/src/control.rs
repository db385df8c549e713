//! The control API: JSON over HTTP, for tests and users' CI to drive the mock DC
//! (documented in docs/mock-dc.md). Errors are JSON `{"error": "..."}` naming what is wrong.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::cluster::Cluster;
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
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
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
