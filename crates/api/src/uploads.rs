//! Files over HTTP: resumable uploads (the tus 1.0 core protocol with the creation,
//! termination and expiration extensions), simple `multipart/form-data` uploads of small files,
//! content checks, and media downloads with `Range` and `ETag`.
//!
//! Content checks, so that a wrong file fails here with a clear error instead of on Telegram
//! with a vague one (or, worse, is sent as the wrong thing): the first bytes are sniffed
//! (`infer`) as soon as they arrive; a declared type they contradict is refused (415) and a
//! missing or generic one is replaced by what they are. An image is decoded once complete, and
//! the verdict kept, since the spool file is gone when it is sent: sending as a photo a file
//! that is not a decodable image of Telegram's photo limits is refused (415/413/422).
//!
//! Progress is visible through `HEAD`/`GET` (`Upload-Offset`, `parts_done`) and as
//! `upload.progress` events (every tenth of the parts on Telegram, and at completion:
//! `upload.completed`) on the event streams and webhooks.
//!
//! An upload is spooled to `<data_dir>/uploads/<id>` as it arrives, and every complete 512 KiB
//! part goes to Telegram within the PATCH that completed it (the store remembers which parts
//! are done), so memory stays flat whatever the file size, an interrupted upload resumes from
//! `HEAD`'s `Upload-Offset`, and the last PATCH only has the tail left to send. Once every part
//! is on Telegram the spool file is deleted; `POST …/messages` with `{"media": {"upload"}}`
//! sends it.
//!
//! Downloads stream the message's file from Telegram chunk by chunk (grammers follows
//! FILE_MIGRATE to the file's DC); one `Range: bytes=a-b` per request, so clients fetch large
//! files in parallel with several ranged requests.

use std::io::SeekFrom;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use telegate_core::{upload_plan, AccountHandle, ErrorCode, UploadedFile, UPLOAD_PART_SIZE};
use telegate_store::Upload;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::accounts::{account_for, peer};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::{rfc3339, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload, upload_options))
        .routes(routes!(upload_status, upload_append, delete_upload))
        .routes(routes!(download_media))
        .routes(routes!(download_media_by_id))
        // Multipart bodies are limited by this, not by the JSON limit (the inner layer wins);
        // tus PATCH bodies stream and are bounded by `Upload-Length`.
        .layer(axum::extract::DefaultBodyLimit::max(
            MULTIPART_MAX_BYTES as usize + 64 * 1024,
        ))
}

/// The largest file a `multipart/form-data` upload takes; bigger files go through tus, which
/// resumes after a broken connection.
pub const MULTIPART_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Telegram's limit for photos; bigger images are sent as documents.
const PHOTO_MAX_BYTES: i64 = 10 * 1024 * 1024;
/// How many leading bytes the type is sniffed from (enough for every format `infer` knows).
const SNIFF_BYTES: i64 = 8192;

const TUS_VERSION: &str = "1.0.0";

/// Per-upload locks (see `Inner::upload_locks`).
#[derive(Default)]
pub struct Locks(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
);

impl Locks {
    async fn lock(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(id.to_owned()).or_default().clone()
        };
        m.lock_owned().await
    }

    fn forget(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}
/// Unsent uploads are forgotten after this (Telegram drops unsent parts within hours too).
const UPLOAD_TTL_MS: i64 = 6 * 3600 * 1000;

/// Upload states: parts arriving; every part on Telegram (ready to send); sent in a message.
const RECEIVING: &str = "receiving";
const UPLOADED: &str = "complete";
const SENT: &str = "sent";

fn spool_path(state: &AppState, id: &str) -> PathBuf {
    state.config().data_dir.join("uploads").join(id)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// tus `Upload-Metadata`: `key base64value,key2 base64value2`.
fn metadata(headers: &HeaderMap) -> ApiResult<Vec<(String, String)>> {
    let Some(raw) = header_str(headers, "upload-metadata") else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let mut it = pair.trim().splitn(2, ' ');
            let key = it.next().unwrap_or_default().to_owned();
            let value = match it.next() {
                Some(v) => base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        ApiError::invalid(format!(
                            "Upload-Metadata: the value of {key:?} is not base64 of UTF-8"
                        ))
                    })?,
                None => String::new(),
            };
            Ok((key, value))
        })
        .collect()
}

/// An upload as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadInfo {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    pub length: i64,
    /// Bytes received so far.
    pub offset: i64,
    /// `receiving`, `complete` (every part is on Telegram: ready to send) or `sent`.
    pub state: String,
    /// 512 KiB parts on Telegram so far, of `total_parts`.
    pub parts_done: i32,
    pub total_parts: i32,
    pub expires_at: String,
}

async fn offset_of(state: &AppState, u: &Upload) -> i64 {
    if u.state != RECEIVING {
        return u.total_size;
    }
    match tokio::fs::metadata(spool_path(state, &u.id)).await {
        Ok(m) => m.len() as i64,
        Err(_) => 0,
    }
}

async fn info_of(state: &AppState, u: &Upload) -> UploadInfo {
    UploadInfo {
        id: u.id.clone(),
        name: u.name.clone(),
        mime_type: u.mime_type.clone(),
        length: u.total_size,
        offset: offset_of(state, u).await,
        state: u.state.clone(),
        parts_done: (0..u.total_parts).filter(|p| u.part_done(*p)).count() as i32,
        total_parts: u.total_parts,
        expires_at: rfc3339(u.expires_at),
    }
}

/// RFC 9110's HTTP-date (`Upload-Expires`).
fn http_date(ms: i64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

fn tus_headers(u: &Upload, offset: i64) -> [(header::HeaderName, HeaderValue); 5] {
    let (length, expires) = (u.total_size, u.expires_at);
    [
        (
            header::HeaderName::from_static("upload-expires"),
            HeaderValue::from_str(&http_date(expires)).unwrap_or(HeaderValue::from_static("")),
        ),
        (
            header::HeaderName::from_static("tus-resumable"),
            HeaderValue::from_static(TUS_VERSION),
        ),
        (
            header::HeaderName::from_static("upload-offset"),
            HeaderValue::from(offset),
        ),
        (
            header::HeaderName::from_static("upload-length"),
            HeaderValue::from(length),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// The upload, if it belongs to this account and has not expired (an expired one is deleted:
/// 410, as tus' expiration extension says).
async fn load(state: &AppState, account: i64, id: &str) -> ApiResult<Upload> {
    match state.store().upload(id).await? {
        Some(u) if u.account_id == account => {
            if u.expires_at <= telegate_store::now_ms() {
                let _ = tokio::fs::remove_file(spool_path(state, id)).await;
                state.store().delete_upload(id).await?;
                return Err(ApiError::new(
                    ErrorCode::UploadExpired,
                    format!(
                        "upload {id} expired at {} before it was finished and sent; start a new one",
                        rfc3339(u.expires_at)
                    ),
                ));
            }
            Ok(u)
        }
        _ => Err(ApiError::new(
            ErrorCode::UploadNotFound,
            format!("upload {id} not found"),
        )),
    }
}

/// Deletes expired uploads and spool files no upload owns (e.g. after a crash between the two
/// deletes), at start and every ten minutes, until shutdown.
pub async fn sweep(state: AppState) {
    let mut shutdown = state.inner.shutdown.clone();
    loop {
        if let Err(e) = sweep_once(&state).await {
            tracing::warn!(error = %e, "upload sweeper: will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn sweep_once(state: &AppState) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let gone = state
        .store()
        .expire_uploads(telegate_store::now_ms())
        .await?;
    let dir = state.config().data_dir.join("uploads");
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut orphans = 0;
    while let Some(entry) = entries.next_entry().await? {
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        // The record is written before its spool file, so a file without one is an orphan.
        if state.store().upload(&id).await?.is_none() {
            let _busy = state.inner.upload_locks.lock(&id).await;
            if state.store().upload(&id).await?.is_none() {
                let _ = tokio::fs::remove_file(entry.path()).await;
                orphans += 1;
            }
        }
    }
    if gone > 0 || orphans > 0 {
        tracing::info!(
            expired = gone,
            orphans,
            "upload sweeper: removed expired uploads"
        );
    }
    Ok(())
}

/// tus discovery: the protocol version, the extensions and the largest size.
#[utoipa::path(options, path = "/v1/accounts/{account}/uploads", tag = "media",
    params(("account" = i64, Path, description = "Account id")),
    responses((status = 204, headers(("Tus-Version" = String), ("Tus-Extension" = String), ("Tus-Max-Size" = i64))),
        (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn upload_options(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
) -> ApiResult<Response> {
    account_for(&state, &auth, account, false)?;
    let max = telegate_core::MAX_PARTS_PREMIUM * UPLOAD_PART_SIZE as u64;
    Ok((
        StatusCode::NO_CONTENT,
        [
            ("tus-resumable", TUS_VERSION.to_owned()),
            ("tus-version", TUS_VERSION.to_owned()),
            (
                "tus-extension",
                "creation,termination,expiration".to_owned(),
            ),
            ("tus-max-size", max.to_string()),
        ],
    )
        .into_response())
}

/// Start an upload. tus creation: `Upload-Length` (bytes) and optionally `Upload-Metadata`
/// (`filename`, `filetype`/`mime_type`, base64 values), then PATCH the bytes. Or, for files up
/// to 50 MiB, one `multipart/form-data` request with the file in a part named `file` (its
/// filename and Content-Type are kept): it answers once every part is on Telegram.
#[utoipa::path(post, path = "/v1/accounts/{account}/uploads", tag = "media",
    params(("account" = i64, Path, description = "Account id"),
        ("Upload-Length" = Option<i64>, Header, description = "tus: the file's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: `filename <base64>,filetype <base64>`")),
    request_body(content = Vec<u8>, content_type = "multipart/form-data", description = "Without `Upload-Length`: the file in a part named `file`"),
    responses((status = 201, body = UploadInfo, headers(("Location" = String, description = "The upload's URL"))),
        (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn create_upload(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    let handle = account_for(&state, &auth, account, true)?;
    let headers = request.headers().clone();
    if header_str(&headers, "content-type")
        .is_some_and(|c| c.trim_start().starts_with("multipart/form-data"))
    {
        return create_multipart(&state, &handle, account, request).await;
    }
    let length: i64 = header_str(&headers, "upload-length")
        .ok_or_else(|| {
            ApiError::invalid(
                "Upload-Length: required (the file's size in bytes), or send the file as \
                 multipart/form-data",
            )
        })?
        .trim()
        .parse()
        .ok()
        .filter(|n: &i64| *n >= 0)
        .ok_or_else(|| ApiError::invalid("Upload-Length: expected a number of bytes"))?;
    let meta = metadata(&headers)?;
    let get = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let name = get("filename").or_else(|| get("name"));
    let mime_type = get("filetype").or_else(|| get("mime_type"));
    let upload = new_upload(&state, &handle, account, length, name, mime_type).await?;
    let info = info_of(&state, &upload).await;
    Ok(created(&upload, info))
}

fn created(upload: &Upload, info: UploadInfo) -> Response {
    let location = format!("/v1/accounts/{}/uploads/{}", upload.account_id, upload.id);
    let mut response = (
        StatusCode::CREATED,
        tus_headers(upload, info.offset),
        Json(info),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Checks the size against Telegram's limits for this account and records a new upload with
/// an empty spool file.
async fn new_upload(
    state: &AppState,
    handle: &AccountHandle,
    account: i64,
    length: i64,
    name: Option<String>,
    mime_type: Option<String>,
) -> ApiResult<Upload> {
    let (parts, big) = upload_plan(length as u64)?;
    if parts as u64 > telegate_core::MAX_PARTS && !handle.me().await?.premium {
        return Err(ApiError::new(
            ErrorCode::FileTooLarge,
            format!(
                "{length} bytes is more than Telegram accepts from this account (2000 MiB; \
                 4000 MiB for premium accounts)"
            ),
        ));
    }
    let name = name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "file".into());
    if name.len() > 255 || name.contains(['/', '\\', '\0']) {
        return Err(ApiError::invalid(
            "filename: at most 255 bytes, without path separators",
        ));
    }
    let mime_type = mime_type
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty());
    if let Some(m) = &mime_type {
        if m.len() > 255
            || !m.contains('/')
            || m.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ApiError::invalid(format!(
                "filetype {m:?}: expected a media type such as image/png"
            )));
        }
    }
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).map_err(|e| ApiError::internal(e.to_string()))?;
    let id = format!("up_{}", hex::encode(raw));
    let mut file_id = [0u8; 8];
    getrandom::fill(&mut file_id).map_err(|e| ApiError::internal(e.to_string()))?;
    let upload = Upload {
        id: id.clone(),
        account_id: account,
        file_id: i64::from_le_bytes(file_id),
        name,
        mime_type,
        total_size: length,
        part_size: UPLOAD_PART_SIZE as i32,
        total_parts: parts,
        big,
        parts_done: vec![0; (parts as usize).div_ceil(8)],
        state: RECEIVING.into(),
        expires_at: telegate_store::now_ms() + UPLOAD_TTL_MS,
        media_check: None,
    };
    let dir = state.config().data_dir.join("uploads");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
    // The record first: the sweeper deletes spool files without one.
    state.store().put_upload(&upload).await?;
    tokio::fs::File::create(spool_path(state, &id))
        .await
        .map_err(|e| ApiError::internal(format!("creating the spool file: {e}")))?;
    Ok(upload)
}

/// A whole small file in one `multipart/form-data` request: spooled as it arrives (never whole
/// in memory), then its parts go to Telegram; answers the complete upload.
async fn create_multipart(
    state: &AppState,
    handle: &AccountHandle,
    account: i64,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    use axum::extract::FromRequest;
    let too_large = || {
        ApiError::new(
            ErrorCode::FileTooLarge,
            format!(
                "multipart uploads take files up to {} MiB; upload bigger files with tus \
                 (Upload-Length, then PATCH), which also resumes after a broken connection",
                MULTIPART_MAX_BYTES / (1024 * 1024)
            ),
        )
    };
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::invalid(format!("multipart/form-data body: {}", e.body_text()))
        }
    };
    let mut form = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|e| ApiError::invalid(format!("multipart/form-data body: {}", e.body_text())))?;
    // Spool under a temporary name until the size (and so Telegram's plan) is known.
    let dir = state.config().data_dir.join("uploads");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).map_err(|e| ApiError::internal(e.to_string()))?;
    let temp = dir.join(format!(".multipart-{}", hex::encode(raw)));
    let result = async {
        while let Some(mut field) = form.next_field().await.map_err(bad)? {
            if field.name() != Some("file") {
                continue;
            }
            let name = field.file_name().map(str::to_owned);
            let mime = field
                .content_type()
                .map(str::to_owned)
                .filter(|m| m != "application/octet-stream");
            let mut file = tokio::fs::File::create(&temp)
                .await
                .map_err(|e| ApiError::internal(format!("creating the spool file: {e}")))?;
            let mut size: u64 = 0;
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                size += chunk.len() as u64;
                if size > MULTIPART_MAX_BYTES {
                    return Err(too_large());
                }
                file.write_all(&chunk)
                    .await
                    .map_err(|e| ApiError::internal(format!("writing the spool file: {e}")))?;
            }
            file.flush()
                .await
                .map_err(|e| ApiError::internal(format!("writing the spool file: {e}")))?;
            return Ok((name, mime, size as i64));
        }
        Err(ApiError::invalid(
            "multipart/form-data body: expected the file in a part named `file`",
        ))
    }
    .await;
    let (name, mime, size) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
    };
    let mut upload = match new_upload(state, handle, account, size, name, mime).await {
        Ok(u) => u,
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
    };
    let _busy = state.inner.upload_locks.lock(&upload.id).await;
    tokio::fs::rename(&temp, spool_path(state, &upload.id))
        .await
        .map_err(|e| ApiError::internal(format!("moving the spool file: {e}")))?;
    if let Err(e) = check_head(state, &mut upload, 0, size).await {
        let _ = tokio::fs::remove_file(spool_path(state, &upload.id)).await;
        state.store().delete_upload(&upload.id).await?;
        return Err(e);
    }
    send_complete_parts(state, handle, &mut upload, size).await?;
    let info = info_of(state, &upload).await;
    Ok(created(&upload, info))
}

/// An upload's state as JSON, with the tus headers (`Upload-Offset`, `Upload-Length`); `HEAD`
/// on the same URL answers the headers only, as tus clients expect.
#[utoipa::path(get, path = "/v1/accounts/{account}/uploads/{upload}", tag = "media",
    params(("account" = i64, Path, description = "Account id"), ("upload" = String, Path, description = "Upload id")),
    responses((status = 200, body = UploadInfo), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn upload_status(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, id)): Path<(i64, String)>,
) -> ApiResult<Response> {
    auth.require_account_read(account)?;
    load(&state, account, &id).await?;
    let _busy = state.inner.upload_locks.lock(&id).await;
    let u = load(&state, account, &id).await?;
    let info = info_of(&state, &u).await;
    Ok((tus_headers(&u, info.offset), Json(info)).into_response())
}

/// tus: append bytes at `Upload-Offset` (`Content-Type: application/offset+octet-stream`).
/// Every part completed by these bytes goes to Telegram before the answer; the answer's
/// `Upload-Offset` is the new position.
#[utoipa::path(patch, path = "/v1/accounts/{account}/uploads/{upload}", tag = "media",
    params(("account" = i64, Path, description = "Account id"), ("upload" = String, Path, description = "Upload id"),
        ("Upload-Offset" = i64, Header, description = "Where these bytes start")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn upload_append(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, id)): Path<(i64, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let handle = account_for(&state, &auth, account, true)?;
    load(&state, account, &id).await?;
    let _busy = state.inner.upload_locks.lock(&id).await;
    let mut u = load(&state, account, &id).await?;
    if header_str(&headers, "content-type")
        .is_none_or(|c| !c.starts_with("application/offset+octet-stream"))
    {
        return Err(ApiError::new(
            ErrorCode::MediaTypeMismatch,
            "Content-Type: expected application/offset+octet-stream (tus)",
        ));
    }
    let claimed: i64 = header_str(&headers, "upload-offset")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ApiError::invalid("Upload-Offset: required, a number of bytes"))?;
    let offset = offset_of(&state, &u).await;
    if u.state != RECEIVING {
        return Err(ApiError::new(
            ErrorCode::UploadOffsetMismatch,
            format!("upload {id} is complete ({})", u.state),
        ));
    }
    if claimed != offset {
        return Err(ApiError::new(
            ErrorCode::UploadOffsetMismatch,
            format!("Upload-Offset {claimed}: the upload stands at {offset}; continue from there"),
        ));
    }
    // Activity keeps an upload alive (tus expiration: each answer says until when).
    u.expires_at = telegate_store::now_ms() + UPLOAD_TTL_MS;
    state.store().put_upload(&u).await?;
    // Append the body to the spool file as it arrives (never the whole body in memory).
    let path = spool_path(&state, &id);
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("opening the spool file: {e}")))?;
    let mut received = offset;
    let mut stream = body.into_data_stream();
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                // The client went away: keep what arrived; it resumes from HEAD's offset.
                failure = Some(ApiError::invalid(format!("the body was cut off: {e}")));
                break;
            }
        };
        if received + chunk.len() as i64 > u.total_size {
            failure = Some(ApiError::invalid(format!(
                "the bytes go past Upload-Length ({})",
                u.total_size
            )));
            break;
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(format!("writing the spool file: {e}")))?;
        received += chunk.len() as i64;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::internal(format!("writing the spool file: {e}")))?;
    drop(file);
    if let Err(e) = check_head(&state, &mut u, offset, received).await {
        // Refused content: drop what this request brought, keep what came before.
        if let Ok(f) = tokio::fs::OpenOptions::new().write(true).open(&path).await {
            let _ = f.set_len(offset as u64).await;
        }
        return Err(e);
    }
    send_complete_parts(&state, &handle, &mut u, received).await?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok((StatusCode::NO_CONTENT, tus_headers(&u, received)).into_response())
}

/// Whether a declared media type and the one the bytes show disagree. Only a different
/// top-level type, or a different image format, counts: containers are ambiguous (an `.m4a` is
/// sniffed as `video/mp4`, a `.docx` as `application/zip`…).
fn types_conflict(declared: &str, sniffed: &str) -> bool {
    let norm = |m: &str| match m {
        "image/jpg" | "image/pjpeg" => "image/jpeg".to_owned(),
        other => other.to_owned(),
    };
    let (declared, sniffed) = (norm(declared), norm(sniffed));
    if declared == sniffed || declared == "application/octet-stream" {
        return false;
    }
    let top = |m: &str| m.split('/').next().unwrap_or_default().to_owned();
    let (dt, st) = (top(&declared), top(&sniffed));
    match (dt.as_str(), st.as_str()) {
        ("image", "image") => true,
        // Audio in video containers (mp4/webm/ogg) and vice versa.
        ("audio", "video") | ("video", "audio") => false,
        // Zip-based formats (office documents, epub, jar…) are sniffed as application/zip.
        ("application", "application") => false,
        ("image" | "video" | "audio", _) | (_, "image" | "video" | "audio") => dt != st,
        _ => false,
    }
}

/// Once the first bytes are in (this request moved the offset past them): sniff the type,
/// refuse a declared type the bytes contradict (415), and record the sniffed type when none
/// (or only `application/octet-stream`) was declared.
async fn check_head(state: &AppState, u: &mut Upload, before: i64, received: i64) -> ApiResult<()> {
    let head_len = SNIFF_BYTES.min(u.total_size);
    if before >= head_len || received < head_len || head_len == 0 {
        return Ok(());
    }
    let mut head = vec![0u8; head_len as usize];
    let mut f = tokio::fs::File::open(spool_path(state, &u.id))
        .await
        .map_err(|e| ApiError::internal(format!("reading the spool file: {e}")))?;
    f.read_exact(&mut head)
        .await
        .map_err(|e| ApiError::internal(format!("reading the spool file: {e}")))?;
    let Some(sniffed) = infer::get(&head).map(|t| t.mime_type().to_owned()) else {
        return Ok(());
    };
    match u.mime_type.as_deref() {
        Some(declared) if types_conflict(declared, &sniffed) => Err(ApiError::new(
            ErrorCode::MediaTypeMismatch,
            format!(
                "the file was declared {declared}, but its content is {sniffed}; declare the \
                 right type (or none) and upload it again"
            ),
        )),
        Some(declared) if declared != "application/octet-stream" => Ok(()),
        _ => {
            u.mime_type = Some(sniffed);
            state.store().put_upload(u).await?;
            Ok(())
        }
    }
}

/// Telegram's photos: JPEG, PNG, WebP or GIF (a first frame), sides summing to at most 10,000
/// pixels with a ratio of at most 20.
fn is_photo_type(mime: &str) -> bool {
    matches!(
        mime,
        "image/jpeg" | "image/jpg" | "image/png" | "image/webp" | "image/gif"
    )
}

/// Decodes a complete image upload (on a blocking thread; memory bounded by the dimension
/// limits) and says what it is: `image WxH` or `invalid: reason`.
async fn check_image(path: PathBuf) -> String {
    let verdict = tokio::task::spawn_blocking(move || {
        let mut reader = image::ImageReader::open(&path)
            .map_err(|e| e.to_string())?
            .with_guessed_format()
            .map_err(|e| e.to_string())?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(20_000);
        limits.max_image_height = Some(20_000);
        limits.max_alloc = Some(512 * 1024 * 1024);
        reader.limits(limits);
        let img = reader.decode().map_err(|e| e.to_string())?;
        Ok::<_, String>((img.width(), img.height()))
    })
    .await;
    match verdict {
        Ok(Ok((w, h))) => format!("image {w}x{h}"),
        Ok(Err(e)) => format!("invalid: {e}"),
        Err(e) => format!("invalid: the decoder failed ({e})"),
    }
}

/// Sends every part that is complete on disk and not yet on Telegram; when all are, deletes
/// the spool file and marks the upload ready.
async fn send_complete_parts(
    state: &AppState,
    handle: &AccountHandle,
    u: &mut Upload,
    received: i64,
) -> ApiResult<()> {
    let part_size = u.part_size as i64;
    // Completion (checks, event) happens once: in the request that finishes a receiving upload.
    let receiving = u.state == RECEIVING;
    let path = spool_path(state, &u.id);
    let file = uploaded_file(u);
    let mut spool: Option<tokio::fs::File> = None;
    for part in 0..u.total_parts {
        if u.part_done(part) {
            continue;
        }
        let start = part as i64 * part_size;
        let end = (start + part_size).min(u.total_size);
        if end > received {
            break;
        }
        if spool.is_none() {
            spool = Some(
                tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| ApiError::internal(format!("reading the spool file: {e}")))?,
            );
        }
        let f = spool.as_mut().expect("opened above");
        let mut bytes = vec![0u8; (end - start) as usize];
        f.seek(SeekFrom::Start(start as u64))
            .await
            .map_err(|e| ApiError::internal(format!("reading the spool file: {e}")))?;
        f.read_exact(&mut bytes)
            .await
            .map_err(|e| ApiError::internal(format!("reading the spool file: {e}")))?;
        handle.save_file_part(&file, part, bytes).await?;
        let before = (0..u.total_parts).filter(|p| u.part_done(*p)).count() as i64;
        *u = state.store().mark_upload_part(&u.id, part).await?;
        // A progress event each tenth of the parts (not per part: 4000 events for 2 GB).
        let total = u.total_parts as i64;
        if (before * 10 / total) != ((before + 1) * 10 / total) && before + 1 < total {
            progress_event(state, u, "upload.progress", before + 1).await;
        }
    }
    if (0..u.total_parts).all(|p| u.part_done(p)) {
        if receiving {
            u.state = UPLOADED.into();
            // The spool file goes next: decide now whether it can be sent as a photo.
            if u.media_check.is_none()
                && u.total_size <= PHOTO_MAX_BYTES
                && u.mime_type.as_deref().is_some_and(is_photo_type)
            {
                u.media_check = Some(check_image(path.clone()).await);
            }
            state.store().put_upload(u).await?;
            progress_event(state, u, "upload.completed", u.total_parts as i64).await;
        }
        let _ = tokio::fs::remove_file(&path).await;
    }
    Ok(())
}

/// Appends an upload event (`upload.progress` / `upload.completed`) to the event log; a
/// failure to write it is logged, never fails the upload.
async fn progress_event(state: &AppState, u: &Upload, kind: &str, parts_done: i64) {
    let payload = serde_json::json!({
        "upload": u.id,
        "name": u.name,
        "length": u.total_size,
        "parts_done": parts_done,
        "total_parts": u.total_parts,
        "offset": (parts_done * u.part_size as i64).min(u.total_size),
    });
    let event = telegate_store::NewEvent {
        account_id: Some(u.account_id),
        kind: kind.into(),
        payload,
    };
    match state.store().append_events(&[event]).await {
        Ok(ids) => {
            if let Some(last) = ids.last() {
                state.inner.bell.ring(*last);
            }
        }
        Err(e) => tracing::warn!(error = %e, upload = %u.id, "could not write an upload event"),
    }
}

fn uploaded_file(u: &Upload) -> UploadedFile {
    UploadedFile {
        file_id: u.file_id,
        parts: u.total_parts,
        name: u.name.clone(),
        big: u.big,
    }
}

/// Cancel an upload (tus termination): its spool file and record are deleted.
#[utoipa::path(delete, path = "/v1/accounts/{account}/uploads/{upload}", tag = "media",
    params(("account" = i64, Path, description = "Account id"), ("upload" = String, Path, description = "Upload id")),
    responses((status = 204), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn delete_upload(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, id)): Path<(i64, String)>,
) -> ApiResult<StatusCode> {
    auth.require_account_write(account)?;
    load(&state, account, &id).await?;
    let _busy = state.inner.upload_locks.lock(&id).await;
    let _ = tokio::fs::remove_file(spool_path(&state, &id)).await;
    state.store().delete_upload(&id).await?;
    state.inner.upload_locks.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// The media part of a send: `{"upload": "up_…", "kind": "document"|"photo"|"video"|"audio"|"voice",
/// "mime_type", "duration", "width", "height"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaRef {
    /// A complete upload of this account (state `complete`).
    pub upload: String,
    #[serde(default)]
    pub kind: telegate_core::MediaKind,
    /// Overrides the upload's `filetype` (or sniffed type).
    #[serde(default)]
    pub mime_type: Option<String>,
    /// `video`, `audio`, `voice`: the duration in seconds.
    #[serde(default)]
    pub duration: Option<u32>,
    /// `video`: the width and height in pixels.
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
}

/// Sends an upload as a message (used by `POST …/messages` with `media`), once.
pub(crate) async fn send_upload(
    state: &AppState,
    handle: &AccountHandle,
    account: i64,
    chat: &telegate_core::PeerRef,
    msg: &telegate_core::SendMessage,
    media: &MediaRef,
    opts: &telegate_core::CallOptions,
) -> ApiResult<telegate_core::MessageView> {
    let mut u = load(state, account, &media.upload).await?;
    match u.state.as_str() {
        UPLOADED => {}
        SENT if opts.idempotency_key.is_some() => {} // a retry answers the first send
        SENT => {
            return Err(ApiError::invalid(format!(
                "upload {} was already sent: forward that message to send the file again",
                u.id
            )))
        }
        _ => {
            let offset = offset_of(state, &u).await;
            return Err(ApiError::new(
                ErrorCode::UploadIncomplete,
                format!(
                    "upload {} has {offset} of {} bytes: finish it with PATCH first",
                    u.id, u.total_size
                ),
            ));
        }
    }
    let mime_type = media.mime_type.clone().or_else(|| u.mime_type.clone());
    check_kind(&u, media.kind, mime_type.as_deref())?;
    let req = telegate_core::SendMedia {
        kind: media.kind,
        duration: media.duration,
        width: media.width,
        height: media.height,
        mime_type,
        caption: msg.text.clone(),
        parse_mode: msg.parse_mode,
        entities: msg.entities.clone(),
        reply_to: msg.reply_to,
        silent: msg.silent,
    };
    let sent = handle
        .send_media(chat, &uploaded_file(&u), &req, opts)
        .await?;
    if u.state != SENT {
        u.state = SENT.into();
        state.store().put_upload(&u).await?;
    }
    Ok(sent)
}

/// Whether the upload can go as this kind of media, before Telegram is asked.
fn check_kind(u: &Upload, kind: telegate_core::MediaKind, mime: Option<&str>) -> ApiResult<()> {
    use telegate_core::MediaKind as K;
    let mime = mime.unwrap_or("application/octet-stream");
    let wrong_type = |what: &str| {
        Err(ApiError::new(
            ErrorCode::MediaTypeMismatch,
            format!(
                "upload {} is {mime}, not {what}: send it with \"kind\": \"document\"",
                u.id
            ),
        ))
    };
    match kind {
        K::Document => Ok(()),
        K::Photo => {
            if !is_photo_type(mime) {
                return wrong_type("an image Telegram takes as a photo (JPEG, PNG, WebP, GIF)");
            }
            if u.total_size > PHOTO_MAX_BYTES {
                return Err(ApiError::new(
                    ErrorCode::FileTooLarge,
                    format!(
                        "photos are at most 10 MiB on Telegram; upload {} has {} bytes: send it \
                         as a document",
                        u.id, u.total_size
                    ),
                ));
            }
            match u.media_check.as_deref() {
                Some(check) if check.starts_with("invalid") => Err(ApiError::new(
                    ErrorCode::MediaInvalid,
                    format!(
                        "upload {} does not decode as an image ({}); send it as a document",
                        u.id,
                        check.trim_start_matches("invalid: ")
                    ),
                )),
                Some(check) => {
                    let dims = check.trim_start_matches("image ");
                    let (w, h) = dims
                        .split_once('x')
                        .and_then(|(w, h)| Some((w.parse::<u64>().ok()?, h.parse::<u64>().ok()?)))
                        .unwrap_or((1, 1));
                    let ratio = w.max(h) as f64 / w.min(h).max(1) as f64;
                    if w + h > 10_000 || ratio > 20.0 {
                        return Err(ApiError::new(
                            ErrorCode::MediaInvalid,
                            format!(
                                "a {w}x{h} image is outside Telegram's photo limits (width + \
                                 height at most 10000, sides at most 20:1): send it as a document"
                            ),
                        ));
                    }
                    Ok(())
                }
                None => Ok(()),
            }
        }
        K::Video if !mime.starts_with("video/") && mime != "application/octet-stream" => {
            wrong_type("a video")
        }
        K::Audio | K::Voice
            if !mime.starts_with("audio/") && mime != "application/octet-stream" =>
        {
            wrong_type("audio")
        }
        _ => Ok(()),
    }
}

/// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range → (start, length), or 416.
fn parse_range(raw: &str, size: u64) -> ApiResult<(u64, u64)> {
    let bad = || {
        ApiError::new(
            ErrorCode::RangeNotSatisfiable,
            format!("Range {raw:?}: expected one bytes=START-END within the file's {size} bytes"),
        )
    };
    let spec = raw.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    if spec.contains(',') {
        return Err(ApiError::new(
            ErrorCode::RangeNotSatisfiable,
            "Range: one range per request (send several requests in parallel)",
        ));
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().map_err(|_| bad())?, size.saturating_sub(1)),
        (a, b) => (
            a.parse().map_err(|_| bad())?,
            b.parse::<u64>()
                .map_err(|_| bad())?
                .min(size.saturating_sub(1)),
        ),
    };
    if size == 0 || start >= size || end < start {
        return Err(bad());
    }
    Ok((start, end - start + 1))
}

/// Download the file of a message (document or photo). Supports one `Range: bytes=a-b`
/// (206 with `Content-Range`); fetch big files with several ranged requests in parallel.
#[utoipa::path(get, path = "/v1/accounts/{account}/chats/{peer}/messages/{id}/media", tag = "media",
    params(("account" = i64, Path, description = "Account id"), ("peer" = String, Path, description = "Chat"),
        ("id" = i32, Path, description = "Message id"),
        ("Range" = Option<String>, Header, description = "bytes=START-END"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier download: 304 when unchanged")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304),
        (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn download_media(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat, id)): Path<(i64, String, i32)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let chat = peer(&chat)?;
    let handle = account_for(&state, &auth, account, false)?;
    download(&handle, &chat, id, &headers).await
}

/// Download a file by the `media_id` a message's `media` shows (`{chat_id}_{message_id}`);
/// the same as `GET …/chats/{peer}/messages/{id}/media`.
#[utoipa::path(get, path = "/v1/accounts/{account}/media/{media}", tag = "media",
    params(("account" = i64, Path, description = "Account id"),
        ("media" = String, Path, description = "A message's `media.media_id`: `{chat_id}_{message_id}`"),
        ("Range" = Option<String>, Header, description = "bytes=START-END"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier download: 304 when unchanged")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304),
        (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn download_media_by_id(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, media)): Path<(i64, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let handle = account_for(&state, &auth, account, false)?;
    let bad = || {
        ApiError::invalid(format!(
            "media {media:?}: expected {{chat_id}}_{{message_id}}, as a message's media.media_id"
        ))
    };
    let (chat, id) = media.rsplit_once('_').ok_or_else(bad)?;
    let id: i32 = id.parse().ok().filter(|i| *i > 0).ok_or_else(bad)?;
    if chat.parse::<i64>().is_err() {
        return Err(bad());
    }
    let chat = peer(chat)?;
    download(&handle, &chat, id, &headers).await
}

async fn download(
    handle: &AccountHandle,
    chat: &telegate_core::PeerRef,
    id: i32,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let source = handle.media_source(chat, id).await?;
    let size = source.size;
    let etag = source.etag();
    let matches = |raw: &str| {
        raw.split(',')
            .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag)
    };
    if header_str(headers, "if-none-match").is_some_and(matches) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        return Ok(r);
    }
    // If-Range with another validator: the file changed, so the whole file, not a range.
    let range = match header_str(headers, "if-range") {
        Some(v) if v.trim() != etag => None,
        _ => header_str(headers, "range"),
    };
    let (status, start, len) = match range {
        Some(r) => {
            let (start, len) = parse_range(r, size)?;
            (StatusCode::PARTIAL_CONTENT, start, len)
        }
        None => (StatusCode::OK, 0, size),
    };
    let chunks = handle.download(&source, start, len)?;
    let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
        match chunks.next().await {
            Ok(Some(bytes)) => Some((Ok::<_, std::io::Error>(bytes), chunks)),
            Ok(None) => None,
            Err(e) => {
                // Mid-body: the status is sent already; cut the body so the client sees a
                // short read (Content-Length says how much was promised).
                tracing::warn!(code = %e.code, "download failed mid-stream");
                Some((Err(std::io::Error::other(e.message)), chunks))
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    let mime = HeaderValue::from_str(&source.mime_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, mime);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {start}-{}/{size}",
            start + len.saturating_sub(1)
        )) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if let Some(name) = &source.file_name {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_conflict_only_where_the_bytes_say_otherwise() {
        assert!(types_conflict("image/png", "image/jpeg"));
        assert!(types_conflict("image/png", "application/pdf"));
        assert!(types_conflict("text/plain", "image/png"));
        assert!(types_conflict("video/mp4", "image/gif"));
        assert!(!types_conflict("image/jpg", "image/jpeg"));
        assert!(!types_conflict("application/octet-stream", "image/png"));
        assert!(!types_conflict("audio/mp4", "video/mp4"));
        assert!(!types_conflict(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/zip"
        ));
        assert!(!types_conflict("text/csv", "application/zip"));
    }

    #[test]
    fn upload_expires_is_an_http_date() {
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn ranges_parse_like_http_says() {
        assert_eq!(parse_range("bytes=0-99", 1000).unwrap(), (0, 100));
        assert_eq!(parse_range("bytes=900-", 1000).unwrap(), (900, 100));
        assert_eq!(parse_range("bytes=-10", 1000).unwrap(), (990, 10));
        assert_eq!(parse_range("bytes=990-5000", 1000).unwrap(), (990, 10));
        for bad in [
            "bytes=1000-",
            "items=0-1",
            "bytes=5-2",
            "bytes=0-1,4-5",
            "bytes=-0",
            "bytes=x-",
        ] {
            assert_eq!(
                parse_range(bad, 1000).unwrap_err().code(),
                ErrorCode::RangeNotSatisfiable,
                "{bad}"
            );
        }
    }
}
