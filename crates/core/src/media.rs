//! Files: saving upload parts to Telegram, sending them as media, and downloading the media of
//! a message (any byte range, following FILE_MIGRATE to the DC that holds the file).
//!
//! Why the gateway sends parts itself instead of grammers' `upload_stream`: the API receives a
//! file in resumable pieces (tus), possibly over several requests and gateway restarts; each
//! 512 KiB part goes to Telegram as soon as it is complete, and the store remembers which
//! parts are done, so nothing is held in memory and an interrupted upload resumes.
//!
//! Parts and downloads of files on the home DC go through the account's transfer pool
//! (`transfer.rs`: several connections, no gzip of incompressible parts); a download keeps
//! `transfer_connections` chunk requests in flight and delivers them in order. Files on
//! another DC use grammers' `iter_download`, which re-authorizes on the file's DC.

use std::collections::VecDeque;
use std::sync::Arc;

use grammers_client::media::Downloadable;
use grammers_tl_types as tl;

use crate::account::{core_error, Account, CallCtx};
use crate::convert;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::ops::{channel_of, updates_messages, AccountHandle};
use crate::types::*;

/// Telegram's part size for uploads: the largest it allows (512 KiB), so a 2000 MiB file is
/// its 4000 parts.
pub const UPLOAD_PART_SIZE: usize = 512 * 1024;
/// Files above this go through `saveBigFilePart`.
pub const BIG_FILE_THRESHOLD: u64 = 10 * 1024 * 1024;
/// Telegram's part limits: 4000 parts (8000 for premium users), as `help.getAppConfig`'s
/// `upload_max_fileparts_default` / `_premium` say.
pub const MAX_PARTS: u64 = 4000;
pub const MAX_PARTS_PREMIUM: u64 = 8000;

/// Download chunk: the largest `upload.getFile` limit grammers asks for.
const CHUNK: u64 = 512 * 1024;

/// Where a message's file lives, and what it is.
#[derive(Debug, Clone)]
pub struct MediaSource {
    location: tl::enums::InputFileLocation,
    dc_id: i32,
    pub size: u64,
    pub mime_type: String,
    pub file_name: Option<String>,
}

struct Location<'a>(&'a MediaSource);

impl Downloadable for Location<'_> {
    fn to_raw_input_location(&self) -> Option<tl::enums::InputFileLocation> {
        Some(self.0.location.clone())
    }
    fn size(&self) -> Option<usize> {
        Some(self.0.size as usize)
    }
    fn dc_id(&self) -> Option<i32> {
        Some(self.0.dc_id)
    }
}

/// The bytes of a range of a file, chunk by chunk.
pub struct MediaChunks {
    source: Chunks,
    /// Bytes to drop from the first chunk (the range starts inside it).
    skip: usize,
    remaining: u64,
}

enum Chunks {
    /// Another DC: grammers follows FILE_MIGRATE and authorizes there.
    Grammers(grammers_client::client::DownloadIter),
    /// The home DC, through the transfer pool: consecutive chunks requested in parallel.
    Pool(PoolDownload),
}

/// Aborts a prefetch when the download is dropped.
struct Prefetch(tokio::task::JoinHandle<CoreResult<Vec<u8>>>);
impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct PoolDownload {
    acct: Arc<Account>,
    location: tl::enums::InputFileLocation,
    /// Offset of the next chunk to request.
    next_offset: u64,
    /// End of the wanted range, rounded up to a chunk.
    end: u64,
    window: usize,
    inflight: VecDeque<Prefetch>,
}

impl PoolDownload {
    fn fill(&mut self) {
        while self.inflight.len() < self.window && self.next_offset < self.end {
            let acct = self.acct.clone();
            let req = tl::functions::upload::GetFile {
                precise: false,
                cdn_supported: false,
                location: self.location.clone(),
                offset: self.next_offset as i64,
                limit: CHUNK as i32,
            };
            self.next_offset += CHUNK;
            self.inflight.push_back(Prefetch(tokio::spawn(async move {
                match acct.invoke_file(&req, CallCtx::read()).await? {
                    tl::enums::upload::File::File(f) => Ok(f.bytes),
                    tl::enums::upload::File::CdnRedirect(_) => Err(CoreError::new(
                        ErrorCode::TelegramError,
                        "Telegram redirected the file to a CDN (not supported)",
                    )),
                }
            })));
        }
    }

    async fn next(&mut self) -> CoreResult<Option<Vec<u8>>> {
        self.fill();
        let Some(mut first) = self.inflight.pop_front() else {
            return Ok(None);
        };
        let r = (&mut first.0)
            .await
            .map_err(|e| CoreError::internal(format!("download task: {e}")))?;
        self.fill();
        r.map(Some)
    }
}

impl MediaChunks {
    /// The next piece, `None` after the range's last byte.
    pub async fn next(&mut self) -> CoreResult<Option<Vec<u8>>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let next = match &mut self.source {
            Chunks::Grammers(iter) => iter.next().await.map_err(core_error)?,
            Chunks::Pool(p) => p.next().await?.filter(|c| !c.is_empty()),
        };
        let Some(mut chunk) = next else {
            return Err(CoreError::new(
                ErrorCode::TelegramError,
                "Telegram ended the file before its announced size",
            ));
        };
        if self.skip > 0 {
            chunk.drain(..self.skip.min(chunk.len()));
            self.skip = 0;
        }
        if chunk.len() as u64 > self.remaining {
            chunk.truncate(self.remaining as usize);
        }
        self.remaining -= chunk.len() as u64;
        Ok(Some(chunk))
    }
}

/// Checks an upload's size against Telegram's limits and says how it is cut.
/// Returns (parts, big).
pub fn upload_plan(size: u64) -> CoreResult<(i32, bool)> {
    if size == 0 {
        return Err(CoreError::new(
            ErrorCode::InvalidRequest,
            "the file is empty",
        ));
    }
    let parts = size.div_ceil(UPLOAD_PART_SIZE as u64);
    if parts > MAX_PARTS_PREMIUM {
        return Err(CoreError::new(
            ErrorCode::FileTooLarge,
            format!(
                "{size} bytes is more than Telegram accepts (8000 parts of 512 KiB for premium \
                 accounts, 4000 otherwise)"
            ),
        ));
    }
    Ok((parts as i32, size > BIG_FILE_THRESHOLD))
}

impl AccountHandle {
    /// The transfer pool's connections: (opened since the pool was made, open now).
    pub fn transfer_connections(&self) -> (u64, usize) {
        self.acct.transfer_stats()
    }

    /// Saves one part of an upload on Telegram (`part` counts from 0). Safe to repeat.
    pub async fn save_file_part(
        &self,
        file: &UploadedFile,
        part: i32,
        bytes: Vec<u8>,
    ) -> CoreResult<()> {
        let ctx = CallCtx {
            retry_safe: true, // saving the same part twice is harmless
            ..CallCtx::write()
        };
        let ok = if file.big {
            self.acct
                .invoke_file(
                    &tl::functions::upload::SaveBigFilePart {
                        file_id: file.file_id,
                        file_part: part,
                        file_total_parts: file.parts,
                        bytes,
                    },
                    ctx,
                )
                .await?
        } else {
            self.acct
                .invoke_file(
                    &tl::functions::upload::SaveFilePart {
                        file_id: file.file_id,
                        file_part: part,
                        bytes,
                    },
                    ctx,
                )
                .await?
        };
        if ok {
            Ok(())
        } else {
            Err(CoreError::new(
                ErrorCode::TelegramError,
                format!("Telegram did not accept part {part}"),
            ))
        }
    }

    /// Sends an uploaded file as a document or photo, with a caption. With an idempotency key
    /// it is posted exactly once.
    pub async fn send_media(
        &self,
        peer: &PeerRef,
        file: &UploadedFile,
        req: &SendMedia,
        opts: &CallOptions,
    ) -> CoreResult<MessageView> {
        let (caption, entities) =
            convert::formatted(&req.caption, req.parse_mode, req.entities.as_deref())?;
        if convert::utf16_len(&caption) > 1024 {
            return Err(CoreError::new(
                ErrorCode::MessageTooLong,
                "text: a caption has at most 1024 characters",
            ));
        }
        let input_file = if file.big {
            tl::enums::InputFile::Big(tl::types::InputFileBig {
                id: file.file_id,
                parts: file.parts,
                name: file.name.clone(),
            })
        } else {
            tl::enums::InputFile::File(tl::types::InputFile {
                id: file.file_id,
                parts: file.parts,
                name: file.name.clone(),
                md5_checksum: String::new(),
            })
        };
        let media = match req.kind {
            MediaKind::Photo => {
                tl::enums::InputMedia::UploadedPhoto(tl::types::InputMediaUploadedPhoto {
                    spoiler: false,
                    live_photo: false,
                    file: input_file,
                    stickers: None,
                    ttl_seconds: None,
                    video: None,
                })
            }
            MediaKind::Document | MediaKind::Video | MediaKind::Audio | MediaKind::Voice => {
                let duration = req.duration.unwrap_or(0);
                let mut attributes = vec![tl::enums::DocumentAttribute::Filename(
                    tl::types::DocumentAttributeFilename {
                        file_name: file.name.clone(),
                    },
                )];
                match req.kind {
                    MediaKind::Video => attributes.push(tl::enums::DocumentAttribute::Video(
                        tl::types::DocumentAttributeVideo {
                            round_message: false,
                            supports_streaming: true,
                            nosound: false,
                            duration: f64::from(duration),
                            w: req.width.unwrap_or(0) as i32,
                            h: req.height.unwrap_or(0) as i32,
                            preload_prefix_size: None,
                            video_start_ts: None,
                            video_codec: None,
                        },
                    )),
                    MediaKind::Audio | MediaKind::Voice => attributes.push(
                        tl::enums::DocumentAttribute::Audio(tl::types::DocumentAttributeAudio {
                            voice: req.kind == MediaKind::Voice,
                            duration: duration as i32,
                            title: None,
                            performer: None,
                            waveform: None,
                        }),
                    ),
                    _ => {}
                }
                let default_mime = match req.kind {
                    MediaKind::Video => "video/mp4",
                    MediaKind::Audio => "audio/mpeg",
                    MediaKind::Voice => "audio/ogg",
                    _ => "application/octet-stream",
                };
                tl::enums::InputMedia::UploadedDocument(tl::types::InputMediaUploadedDocument {
                    nosound_video: false,
                    // A plain document stays a file; videos and audio are shown with players.
                    force_file: req.kind == MediaKind::Document,
                    spoiler: false,
                    file: input_file,
                    thumb: None,
                    mime_type: req.mime_type.clone().unwrap_or_else(|| default_mime.into()),
                    attributes,
                    stickers: None,
                    video_cover: None,
                    video_timestamp: None,
                    ttl_seconds: None,
                })
            }
        };
        let keyed = (peer.to_string(), file, req);
        self.once("send_media", &keyed, opts, || async {
            let target = self.resolve(peer).await?;
            let random_id = self.random_id(opts, 0);
            let call = tl::functions::messages::SendMedia {
                silent: req.silent,
                background: false,
                clear_draft: false,
                noforwards: false,
                update_stickersets_order: false,
                invert_media: false,
                allow_paid_floodskip: false,
                peer: target.input.clone(),
                reply_to: req.reply_to.map(|id| {
                    tl::enums::InputReplyTo::Message(tl::types::InputReplyToMessage {
                        reply_to_msg_id: id,
                        top_msg_id: None,
                        reply_to_peer_id: None,
                        quote_text: None,
                        quote_entities: None,
                        quote_offset: None,
                        monoforum_peer_id: None,
                        todo_item_id: None,
                        poll_option: None,
                    })
                }),
                media: media.clone(),
                message: caption.clone(),
                random_id,
                reply_markup: None,
                entities: (!entities.is_empty()).then(|| entities.clone()),
                schedule_date: None,
                schedule_repeat_period: None,
                send_as: None,
                quick_reply_shortcut: None,
                effect: None,
                allow_paid_stars: None,
                suggested_post: None,
            };
            let ctx = CallCtx {
                fail_fast: opts.fail_fast,
                retry_safe: true, // the random_id makes a repeat harmless
                chat: Some(target.id),
                login: false,
            };
            let updates = self.acct.invoke(&call, ctx).await?;
            let (list, id) = updates_messages(updates, Some(random_id));
            list.into_iter()
                .find(|m| id.is_none_or(|id| m.id == id))
                .ok_or_else(|| {
                    CoreError::new(
                        ErrorCode::TelegramError,
                        "Telegram's answer did not contain the sent message",
                    )
                })
        })
        .await
    }

    /// The file of message `id` in `peer` (fetched fresh, so its file reference is current).
    pub async fn media_source(&self, peer: &PeerRef, id: i32) -> CoreResult<MediaSource> {
        let target = self.resolve(peer).await?;
        let ids = vec![tl::enums::InputMessage::Id(tl::types::InputMessageId {
            id,
        })];
        let answer = match channel_of(&target.input) {
            Some(channel) => {
                self.acct
                    .invoke(
                        &tl::functions::channels::GetMessages { channel, id: ids },
                        CallCtx::read(),
                    )
                    .await?
            }
            None => {
                self.acct
                    .invoke(
                        &tl::functions::messages::GetMessages { id: ids },
                        CallCtx::read(),
                    )
                    .await?
            }
        };
        let messages = match answer {
            tl::enums::messages::Messages::Messages(m) => m.messages,
            tl::enums::messages::Messages::Slice(m) => m.messages,
            tl::enums::messages::Messages::ChannelMessages(m) => m.messages,
            tl::enums::messages::Messages::NotModified(_) => Vec::new(),
        };
        let media = messages.into_iter().find_map(|m| match m {
            tl::enums::Message::Message(m) if m.id == id => Some(m.media),
            _ => None,
        });
        let Some(media) = media else {
            return Err(CoreError::new(
                ErrorCode::MessageNotFound,
                format!("message {id} not found in {peer}"),
            ));
        };
        source_of(media.as_ref()).ok_or_else(|| {
            CoreError::new(
                ErrorCode::MediaNotFound,
                format!("message {id} has no downloadable file"),
            )
        })
    }

    /// Bytes `offset..offset+len` of a file (clamped to its size).
    pub fn download(&self, source: &MediaSource, offset: u64, len: u64) -> CoreResult<MediaChunks> {
        let conn = self
            .acct
            .current_conn()
            .ok_or_else(|| crate::account::state_error(self.acct.state()))?;
        let offset = offset.min(source.size);
        let remaining = len.min(source.size - offset);
        let window = self.acct.rt.config.transfer_connections;
        if window > 0 && source.dc_id == conn.home_dc() {
            let start = offset / CHUNK * CHUNK;
            return Ok(MediaChunks {
                source: Chunks::Pool(PoolDownload {
                    acct: self.acct.clone(),
                    location: source.location.clone(),
                    next_offset: start,
                    end: (offset + remaining).div_ceil(CHUNK) * CHUNK,
                    window,
                    inflight: VecDeque::new(),
                }),
                skip: (offset - start) as usize,
                remaining,
            });
        }
        let iter = conn
            .client
            .iter_download(&Location(source))
            .chunk_size(CHUNK as i32)
            .skip_chunks((offset / CHUNK) as i32);
        Ok(MediaChunks {
            source: Chunks::Grammers(iter),
            skip: (offset % CHUNK) as usize,
            remaining,
        })
    }
}

fn source_of(media: Option<&tl::enums::MessageMedia>) -> Option<MediaSource> {
    match media? {
        tl::enums::MessageMedia::Document(d) => {
            let tl::enums::Document::Document(doc) = d.document.as_ref()? else {
                return None;
            };
            let file_name = doc.attributes.iter().find_map(|a| match a {
                tl::enums::DocumentAttribute::Filename(f) => Some(f.file_name.clone()),
                _ => None,
            });
            Some(MediaSource {
                location: tl::enums::InputFileLocation::InputDocumentFileLocation(
                    tl::types::InputDocumentFileLocation {
                        id: doc.id,
                        access_hash: doc.access_hash,
                        file_reference: doc.file_reference.clone(),
                        thumb_size: String::new(),
                    },
                ),
                dc_id: doc.dc_id,
                size: doc.size.max(0) as u64,
                mime_type: doc.mime_type.clone(),
                file_name,
            })
        }
        tl::enums::MessageMedia::Photo(p) => {
            let tl::enums::Photo::Photo(photo) = p.photo.as_ref()? else {
                return None;
            };
            // The largest size Telegram made.
            let (kind, size) = photo
                .sizes
                .iter()
                .filter_map(|s| match s {
                    tl::enums::PhotoSize::Size(s) => Some((s.r#type.clone(), s.size as u64)),
                    tl::enums::PhotoSize::Progressive(s) => Some((
                        s.r#type.clone(),
                        s.sizes.iter().copied().max().unwrap_or(0) as u64,
                    )),
                    _ => None,
                })
                .max_by_key(|(_, size)| *size)?;
            Some(MediaSource {
                location: tl::enums::InputFileLocation::InputPhotoFileLocation(
                    tl::types::InputPhotoFileLocation {
                        id: photo.id,
                        access_hash: photo.access_hash,
                        file_reference: photo.file_reference.clone(),
                        thumb_size: kind,
                    },
                ),
                dc_id: photo.dc_id,
                size,
                mime_type: "image/jpeg".into(),
                file_name: None,
            })
        }
        _ => None,
    }
}

impl MediaSource {
    /// A strong HTTP validator: Telegram never changes the bytes of a document or photo id.
    pub fn etag(&self) -> String {
        use tl::enums::InputFileLocation as L;
        match &self.location {
            L::InputDocumentFileLocation(d) => format!("\"d{}-{}\"", d.id, self.size),
            L::InputPhotoFileLocation(p) => format!("\"p{}-{}\"", p.id, self.size),
            _ => format!("\"f{}-{}\"", self.dc_id, self.size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_cut_into_telegram_parts() {
        assert_eq!(upload_plan(1).unwrap(), (1, false));
        assert_eq!(upload_plan(512 * 1024).unwrap(), (1, false));
        assert_eq!(upload_plan(512 * 1024 + 1).unwrap(), (2, false));
        assert_eq!(upload_plan(BIG_FILE_THRESHOLD).unwrap(), (20, false));
        assert_eq!(upload_plan(BIG_FILE_THRESHOLD + 1).unwrap(), (21, true));
        assert_eq!(upload_plan(8000 * 512 * 1024).unwrap(), (8000, true));
        let e = upload_plan(8000 * 512 * 1024 + 1).unwrap_err();
        assert_eq!(e.code, ErrorCode::FileTooLarge);
        assert_eq!(upload_plan(0).unwrap_err().code, ErrorCode::InvalidRequest);
    }
}
