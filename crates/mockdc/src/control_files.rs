//! Control API routes for files and limits: force FILE_REFERENCE_EXPIRED, mark users premium
//! (documented in docs/mock-dc.md).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::control::{user_not_found, AppState, ControlError};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/files/expire-references", post(expire_references))
        .route("/v1/users/{user_id}/premium", post(set_premium))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireReferences {
    /// One document or photo id; every stored file when absent.
    file_id: Option<i64>,
}

/// An optional JSON body: an empty one means the defaults.
fn optional<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ControlError::BadRequest(format!("invalid JSON body: {e}")))
}

/// `POST /v1/files/expire-references` `{"file_id"?}` → `{"expired": n}`: the files' current
/// file_reference becomes stale, so upload.getFile and re-sends answer FILE_REFERENCE_EXPIRED
/// until the client fetches the message again (which carries the new reference).
async fn expire_references(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ControlError> {
    let request: ExpireReferences = optional(&body)?;
    let expired = state.cluster.files().expire_references(request.file_id);
    if let (Some(id), 0) = (request.file_id, expired) {
        return Err(ControlError::NotFound(format!("no file {id}")));
    }
    Ok(Json(json!({ "expired": expired })))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Premium {
    premium: bool,
}

impl Default for Premium {
    fn default() -> Self {
        Self { premium: true }
    }
}

/// `POST /v1/users/{user_id}/premium` `{"premium"?: true}`: premium users may upload 8000
/// parts (`upload_max_fileparts_premium`) instead of 4000, and show as premium.
async fn set_premium(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ControlError> {
    let request: Premium = optional(&body)?;
    if !state.cluster.world().set_premium(user_id, request.premium) {
        return Err(user_not_found(user_id));
    }
    Ok(Json(
        json!({ "user_id": user_id, "premium": request.premium }),
    ))
}
