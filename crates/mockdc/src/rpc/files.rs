//! The file API: `upload.saveFilePart`, `upload.saveBigFilePart`, `upload.getFile`,
//! `messages.sendMedia`, `messages.sendMultiMedia`, `messages.uploadMedia` and
//! `help.getAppConfig` (whose `upload_max_fileparts_*` tell clients the part limits).
//!
//! The rules are in [`crate::files`]; this module turns TL into calls there, takes the world
//! lock only to look up the user and to deliver messages (never around disk I/O), and encodes
//! documents and photos for messages.

use std::sync::Arc;

use grammers_tl_types::{self as tl, Cursor, Identifiable, Serializable};

use super::encode::Layered;
use super::messages::{deliver, delivered_updates, resolve_peer};
use super::{decode, CallContext, Handled};
use crate::files::{self, FileKind, StoredFile, UploadKey};
use crate::world::messages::StoredMessage;
use crate::world::Fail;

/// `help.appConfig.hash` of the mock's (constant) app config.
const APP_CONFIG_HASH: i32 = 0x6d6f_636b;
/// Telegram caps captions at 1024 characters (`caption_length_max` of help.getConfig).
const CAPTION_MAX: usize = 1024;
/// At most this many media per album (messages.sendMultiMedia).
const ALBUM_MAX: usize = 10;

/// The caller and the number of parts it may upload (premium users get more).
fn caller(ctx: &CallContext<'_>) -> Result<(i64, i32), Fail> {
    let world = ctx.cluster.world();
    let me = world.user_of(ctx.key_id)?;
    let premium = world.user(me).is_some_and(|u| u.premium);
    Ok((
        me,
        if premium {
            files::MAX_PARTS_PREMIUM
        } else {
            files::MAX_PARTS_DEFAULT
        },
    ))
}

fn input_file_name(file: &tl::enums::InputFile) -> String {
    match file {
        tl::enums::InputFile::File(f) => f.name.clone(),
        tl::enums::InputFile::Big(f) => f.name.clone(),
        tl::enums::InputFile::StoryDocument(_) => String::new(),
    }
}

/// The stored file an InputMedia names: a new document or photo from an upload, or an existing
/// one (whose file_reference must be current).
fn media_of(
    ctx: &CallContext<'_>,
    me: i64,
    max_parts: i32,
    media: &tl::enums::InputMedia,
) -> Result<Arc<StoredFile>, Fail> {
    let files = ctx.cluster.files();
    let current = |file: Arc<StoredFile>, reference: &[u8]| {
        if file.file_reference() == reference {
            Ok(file)
        } else {
            Err(Fail::new(400, "FILE_REFERENCE_EXPIRED"))
        }
    };
    match media {
        tl::enums::InputMedia::UploadedDocument(d) => {
            let blob = files.blob_for(me, &d.file, max_parts)?;
            let mut attributes = d.attributes.clone();
            let named = attributes
                .iter()
                .any(|a| matches!(a, tl::enums::DocumentAttribute::Filename(_)));
            let name = input_file_name(&d.file);
            if !named && !name.is_empty() {
                // Telegram names a document after its InputFile when no attribute does.
                attributes.push(tl::enums::DocumentAttribute::Filename(
                    tl::types::DocumentAttributeFilename { file_name: name },
                ));
            }
            let kind = FileKind::Document {
                mime_type: d.mime_type.clone(),
                attributes,
            };
            Ok(files.create(kind, blob, ctx.dc_id, ctx.now_secs))
        }
        tl::enums::InputMedia::UploadedPhoto(p) => {
            let blob = files.blob_for(me, &p.file, max_parts)?;
            let (format, w, h) =
                files::image::dimensions(&files.head(&blob, files::image::HEAD_LEN));
            let kind = FileKind::Photo { w, h, format };
            Ok(files.create(kind, blob, ctx.dc_id, ctx.now_secs))
        }
        tl::enums::InputMedia::Document(d) => match &d.id {
            tl::enums::InputDocument::Document(i) => {
                let file = files
                    .find(i.id, i.access_hash, false)
                    .ok_or_else(|| Fail::new(400, "MEDIA_INVALID"))?;
                current(file, &i.file_reference)
            }
            tl::enums::InputDocument::Empty => Err(Fail::new(400, "MEDIA_EMPTY")),
        },
        tl::enums::InputMedia::Photo(p) => match &p.id {
            tl::enums::InputPhoto::Photo(i) => {
                let file = files
                    .find(i.id, i.access_hash, true)
                    .ok_or_else(|| Fail::new(400, "MEDIA_INVALID"))?;
                current(file, &i.file_reference)
            }
            tl::enums::InputPhoto::Empty => Err(Fail::new(400, "MEDIA_EMPTY")),
        },
        tl::enums::InputMedia::Empty => Err(Fail::new(400, "MEDIA_EMPTY")),
        _ => Err(Fail::new(400, "MEDIA_NOT_IMPLEMENTED_IN_MOCK")),
    }
}

fn check_caption(caption: &str) -> Result<(), Fail> {
    if caption.chars().count() > CAPTION_MAX {
        return Err(Fail::new(400, "MEDIA_CAPTION_TOO_LONG"));
    }
    Ok(())
}

/// The one size every mock photo has: type "x", the uploaded image itself.
fn photo_sizes(file: &StoredFile, w: i32, h: i32) -> Vec<tl::enums::PhotoSize> {
    vec![tl::enums::PhotoSize::Size(tl::types::PhotoSize {
        r#type: "x".into(),
        w,
        h,
        size: file.size().min(i32::MAX as u64) as i32,
    })]
}

/// A stored document as clients see it.
pub(crate) fn document(file: &StoredFile) -> tl::enums::Document {
    let (mime_type, attributes) = match &file.kind {
        FileKind::Document {
            mime_type,
            attributes,
        } => (mime_type.clone(), attributes.clone()),
        FileKind::Photo { .. } => ("image/jpeg".into(), Vec::new()),
    };
    tl::enums::Document::Document(tl::types::Document {
        id: file.id,
        access_hash: file.access_hash,
        file_reference: file.file_reference(),
        date: file.date,
        mime_type,
        size: file.size() as i64,
        thumbs: None,
        video_thumbs: None,
        dc_id: file.dc_id,
        attributes,
    })
}

/// A stored photo as clients see it.
pub(crate) fn photo(file: &StoredFile) -> tl::enums::Photo {
    let (w, h) = match file.kind {
        FileKind::Photo { w, h, .. } => (w, h),
        FileKind::Document { .. } => (files::image::DEFAULT_SIDE, files::image::DEFAULT_SIDE),
    };
    tl::enums::Photo::Photo(tl::types::Photo {
        has_stickers: false,
        id: file.id,
        access_hash: file.access_hash,
        file_reference: file.file_reference(),
        date: file.date,
        sizes: photo_sizes(file, w, h),
        video_sizes: None,
        dc_id: file.dc_id,
    })
}

/// The `MessageMedia` of a message carrying `file`; video/round/voice flags follow its
/// attributes as Telegram sets them.
pub(crate) fn message_media(file: &StoredFile) -> tl::enums::MessageMedia {
    match &file.kind {
        FileKind::Photo { .. } => tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
            spoiler: false,
            live_photo: false,
            photo: Some(photo(file)),
            ttl_seconds: None,
            video: None,
        }),
        FileKind::Document { attributes, .. } => {
            let video = attributes.iter().find_map(|a| match a {
                tl::enums::DocumentAttribute::Video(v) => Some(v.round_message),
                _ => None,
            });
            let voice = attributes
                .iter()
                .any(|a| matches!(a, tl::enums::DocumentAttribute::Audio(audio) if audio.voice));
            tl::enums::MessageMedia::Document(tl::types::MessageMediaDocument {
                nopremium: false,
                spoiler: false,
                video: video == Some(false),
                round: video == Some(true),
                voice,
                document: Some(document(file)),
                alt_documents: None,
                video_cover: None,
                video_timestamp: None,
                ttl_seconds: None,
            })
        }
    }
}

fn file_type(file: &StoredFile) -> tl::enums::storage::FileType {
    match file.kind {
        FileKind::Photo {
            format: files::image::Format::Png,
            ..
        } => tl::enums::storage::FileType::FilePng,
        FileKind::Photo { .. } => tl::enums::storage::FileType::FileJpeg,
        FileKind::Document { .. } => tl::enums::storage::FileType::FilePartial,
    }
}

/// upload.getFile: the location, its DC (FILE_MIGRATE_X elsewhere), its reference, then the
/// offset/limit rules.
fn get_file(ctx: &CallContext<'_>, request: &tl::functions::upload::GetFile) -> Handled {
    caller(ctx)?;
    let files = ctx.cluster.files();
    let (id, access_hash, reference, is_photo, thumb) = match &request.location {
        tl::enums::InputFileLocation::InputDocumentFileLocation(l) => {
            (l.id, l.access_hash, &l.file_reference, false, &l.thumb_size)
        }
        tl::enums::InputFileLocation::InputPhotoFileLocation(l) => {
            (l.id, l.access_hash, &l.file_reference, true, &l.thumb_size)
        }
        _ => return Err(Fail::new(400, "LOCATION_INVALID")),
    };
    let file = files
        .find(id, access_hash, is_photo)
        .ok_or_else(|| Fail::new(400, "LOCATION_INVALID"))?;
    // Documents have no thumbnails in the mock; photos have the one size "x".
    let thumb_ok = if is_photo {
        thumb == "x"
    } else {
        thumb.is_empty()
    };
    if !thumb_ok {
        return Err(Fail::new(400, "LOCATION_INVALID"));
    }
    if file.dc_id != ctx.dc_id {
        return Err(Fail::new(303, format!("FILE_MIGRATE_{}", file.dc_id)));
    }
    if reference != &file.file_reference() {
        return Err(Fail::new(400, "FILE_REFERENCE_EXPIRED"));
    }
    files::check_range(request.offset, request.limit, request.precise)?;
    let bytes = files.read(&file, request.offset, request.limit)?;
    Ok(tl::enums::upload::File::File(tl::types::upload::File {
        r#type: file_type(&file),
        mtime: file.date,
        bytes,
    })
    .to_bytes())
}

fn app_config(hash: i32) -> Vec<u8> {
    if hash == APP_CONFIG_HASH {
        return tl::enums::help::AppConfig::NotModified.to_bytes();
    }
    let number = |key: &str, value: i32| {
        tl::enums::JsonobjectValue::JsonObjectValue(tl::types::JsonObjectValue {
            key: key.into(),
            value: tl::enums::Jsonvalue::JsonNumber(tl::types::JsonNumber {
                value: value as f64,
            }),
        })
    };
    tl::enums::help::AppConfig::Config(tl::types::help::AppConfig {
        hash: APP_CONFIG_HASH,
        config: tl::enums::Jsonvalue::JsonObject(tl::types::JsonObject {
            value: vec![
                number("upload_max_fileparts_default", files::MAX_PARTS_DEFAULT),
                number("upload_max_fileparts_premium", files::MAX_PARTS_PREMIUM),
                number("caption_length_limit_default", CAPTION_MAX as i32),
            ],
        }),
    })
    .to_bytes()
}

/// Sends drafts (one, or an album sharing a grouped_id) and answers the sender's `updates`.
fn send_drafts(
    ctx: &mut CallContext<'_>,
    me: i64,
    peer: &tl::enums::InputPeer,
    drafts: Vec<(StoredMessage, i64)>,
) -> Handled {
    let cluster = ctx.cluster;
    let (now, layer) = (ctx.now_secs, ctx.session.layer);
    let mut guard = cluster.world();
    let world = &mut *guard;
    let to = resolve_peer(world, me, peer)?;
    let mut deliveries = Vec::new();
    for (draft, random_id) in drafts {
        deliveries.push((deliver(ctx, world, me, to, draft, random_id)?, random_id));
    }
    Ok(delivered_updates(world, me, &deliveries, now).encode_for(layer))
}

/// Answers the methods of this module; `None` for any other constructor.
pub(super) fn handle(ctx: &mut CallContext<'_>, id: u32, cursor: &mut Cursor) -> Option<Handled> {
    use tl::functions::{help, messages, upload};
    Some(match id {
        upload::SaveFilePart::CONSTRUCTOR_ID => (|| {
            let request: upload::SaveFilePart = decode(cursor)?;
            let (me, max_parts) = caller(ctx)?;
            let key = UploadKey {
                user_id: me,
                file_id: request.file_id,
                big: false,
            };
            ctx.cluster.files().save_part(
                key,
                request.file_part,
                None,
                &request.bytes,
                max_parts,
                ctx.now_secs,
            )?;
            Ok(true.to_bytes())
        })(),
        upload::SaveBigFilePart::CONSTRUCTOR_ID => (|| {
            let request: upload::SaveBigFilePart = decode(cursor)?;
            let (me, max_parts) = caller(ctx)?;
            let key = UploadKey {
                user_id: me,
                file_id: request.file_id,
                big: true,
            };
            ctx.cluster.files().save_part(
                key,
                request.file_part,
                Some(request.file_total_parts),
                &request.bytes,
                max_parts,
                ctx.now_secs,
            )?;
            Ok(true.to_bytes())
        })(),
        upload::GetFile::CONSTRUCTOR_ID => (|| {
            let request: upload::GetFile = decode(cursor)?;
            get_file(ctx, &request)
        })(),
        help::GetAppConfig::CONSTRUCTOR_ID => (|| {
            let request: help::GetAppConfig = decode(cursor)?;
            Ok(app_config(request.hash))
        })(),
        messages::SendMedia::CONSTRUCTOR_ID => (|| {
            let request: messages::SendMedia = decode(cursor)?;
            let (me, max_parts) = caller(ctx)?;
            check_caption(&request.message)?;
            let file = media_of(ctx, me, max_parts, &request.media)?;
            let draft = StoredMessage {
                text: request.message,
                entities: request.entities.unwrap_or_default(),
                media: Some(file),
                ..Default::default()
            };
            send_drafts(ctx, me, &request.peer, vec![(draft, request.random_id)])
        })(),
        messages::SendMultiMedia::CONSTRUCTOR_ID => (|| {
            let request: messages::SendMultiMedia = decode(cursor)?;
            let (me, max_parts) = caller(ctx)?;
            if request.multi_media.is_empty() {
                return Err(Fail::new(400, "MEDIA_EMPTY"));
            }
            if request.multi_media.len() > ALBUM_MAX {
                return Err(Fail::new(400, "MULTI_MEDIA_TOO_LONG"));
            }
            let grouped_id = rand::random::<i64>() & i64::MAX;
            let mut drafts = Vec::new();
            for single in request.multi_media {
                let tl::enums::InputSingleMedia::Media(single) = single;
                check_caption(&single.message)?;
                let file = media_of(ctx, me, max_parts, &single.media)?;
                drafts.push((
                    StoredMessage {
                        text: single.message,
                        entities: single.entities.unwrap_or_default(),
                        media: Some(file),
                        grouped_id: Some(grouped_id),
                        ..Default::default()
                    },
                    single.random_id,
                ));
            }
            send_drafts(ctx, me, &request.peer, drafts)
        })(),
        messages::UploadMedia::CONSTRUCTOR_ID => (|| {
            let request: messages::UploadMedia = decode(cursor)?;
            let (me, max_parts) = caller(ctx)?;
            {
                let world = ctx.cluster.world();
                resolve_peer(&world, me, &request.peer)?;
            }
            let file = media_of(ctx, me, max_parts, &request.media)?;
            Ok(message_media(&file).encode_for(ctx.session.layer))
        })(),
        _ => return None,
    })
}
