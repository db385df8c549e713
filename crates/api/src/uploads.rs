//! Files over HTTP: resumable uploads (the tus 1.0 core protocol with creation and
//! termination) and media downloads with `Range`.
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
        .routes(routes!(create_upload))
        .routes(routes!(upload_status, upload_append, delete_upload))
        .routes(routes!(download_media))
}

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

fn tus_headers(offset: i64, length: i64) -> [(header::HeaderName, HeaderValue); 4] {
    [
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

/// The upload, if it belongs to this account.
async fn load(state: &AppState, account: i64, id: &str) -> ApiResult<Upload> {
    match state.store().upload(id).await? {
        Some(u) if u.account_id == account => Ok(u),
        _ => Err(ApiError::new(
            ErrorCode::UploadNotFound,
            format!("upload {id} not found"),
        )),
    }
}

/// Start a resumable upload (tus creation): `Upload-Length` (bytes) and optionally
/// `Upload-Metadata` (`filename`, `filetype`/`mime_type`, base64 values). Then PATCH the bytes.
#[utoipa::path(post, path = "/v1/accounts/{account}/uploads", tag = "media",
    params(("account" = i64, Path, description = "Account id"),
        ("Upload-Length" = i64, Header, description = "The file's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: `filename <base64>,filetype <base64>`")),
    responses((status = 201, body = UploadInfo, headers(("Location" = String, description = "The upload's URL"))),
        (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn create_upload(
    State(state): State<AppState>,
    auth: Auth,
    Path(account): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    account_for(&state, &auth, account, true)?;
    let length: i64 = header_str(&headers, "upload-length")
        .ok_or_else(|| ApiError::invalid("Upload-Length: required (the file's size in bytes)"))?
        .trim()
        .parse()
        .ok()
        .filter(|n: &i64| *n >= 0)
        .ok_or_else(|| ApiError::invalid("Upload-Length: expected a number of bytes"))?;
    let (parts, big) = upload_plan(length as u64)?;
    let meta = metadata(&headers)?;
    let get = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let name = get("filename")
        .or_else(|| get("name"))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "file".into());
    if name.len() > 255 || name.contains(['/', '\\', '\0']) {
        return Err(ApiError::invalid(
            "Upload-Metadata filename: at most 255 bytes, without path separators",
        ));
    }
    let mime_type = get("filetype")
        .or_else(|| get("mime_type"))
        .filter(|m| !m.is_empty());
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
    };
    let dir = state.config().data_dir.join("uploads");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
    tokio::fs::File::create(spool_path(&state, &id))
        .await
        .map_err(|e| ApiError::internal(format!("creating the spool file: {e}")))?;
    state.store().put_upload(&upload).await?;
    let location = format!("/v1/accounts/{account}/uploads/{id}");
    let info = info_of(&state, &upload).await;
    let mut response = (StatusCode::CREATED, tus_headers(0, length), Json(info)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
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
    Ok((tus_headers(info.offset, info.length), Json(info)).into_response())
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
    send_complete_parts(&state, &handle, &mut u, received).await?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok((StatusCode::NO_CONTENT, tus_headers(received, u.total_size)).into_response())
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
        *u = state.store().mark_upload_part(&u.id, part).await?;
    }
    if (0..u.total_parts).all(|p| u.part_done(p)) {
        if u.state == RECEIVING {
            u.state = UPLOADED.into();
            state.store().put_upload(u).await?;
        }
        let _ = tokio::fs::remove_file(&path).await;
    }
    Ok(())
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

/// The media part of a send: `{"upload": "up_…", "kind": "document"|"photo", "mime_type"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaRef {
    /// A complete upload of this account (state `complete`).
    pub upload: String,
    #[serde(default)]
    pub kind: telegate_core::MediaKind,
    /// Overrides the upload's `filetype`.
    #[serde(default)]
    pub mime_type: Option<String>,
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
    let req = telegate_core::SendMedia {
        kind: media.kind,
        mime_type: media.mime_type.clone().or_else(|| u.mime_type.clone()),
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
        ("Range" = Option<String>, Header, description = "bytes=START-END")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, content_type = "application/octet-stream", body = Vec<u8>),
        (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn download_media(
    State(state): State<AppState>,
    auth: Auth,
    Path((account, chat, id)): Path<(i64, String, i32)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let chat = peer(&chat)?;
    let handle = account_for(&state, &auth, account, false)?;
    let source = handle.media_source(&chat, id).await?;
    let size = source.size;
    let (status, start, len) = match header_str(&headers, "range") {
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
