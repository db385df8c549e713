//! Files and media as Telegram keeps them (core.telegram.org/api/files): uploads in parts, the
//! documents and photos made from them, and the rules for downloading them back.
//!
//! [`PartLog`] and [`check_range`] are the pure rules, with Telegram's error names; [`Files`]
//! is the registry (one lock, metadata only) and [`blob::BlobStore`] the bytes on disk. The
//! registry lives beside the world rather than in it, so the disk I/O of a 512 KB part never
//! runs under the world lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use grammers_tl_types as tl;

use crate::world::Fail;

pub mod blob;
pub mod image;

pub use blob::{Blob, BlobStore, UploadKey};

/// Largest part (and the part size 512 KB must be a multiple of).
pub const MAX_PART_SIZE: usize = 512 * 1024;
/// saveFilePart is for files up to this size; bigger ones use saveBigFilePart.
pub const SMALL_FILE_MAX: u64 = 10 * 1024 * 1024;
/// `upload_max_fileparts_default` / `_premium` of help.getAppConfig.
pub const MAX_PARTS_DEFAULT: i32 = 4000;
pub const MAX_PARTS_PREMIUM: i32 = 8000;
/// Parts not touched for this long are forgotten, as Telegram keeps them "between several
/// minutes and several hours": sending the file then answers FILE_PART_0_MISSING.
pub const UPLOAD_TTL_SECS: i32 = 3600;
/// Expired uploads are looked for at most this often (each sweep walks every upload).
const SWEEP_EVERY_SECS: i32 = 60;
/// A download never crosses a boundary of this size, and never asks for more.
pub const DOWNLOAD_WINDOW: i64 = 1024 * 1024;

fn bad(name: &str) -> Fail {
    Fail::new(400, name)
}

/// A size every part but the last must have: a multiple of 1 KB that divides 512 KB.
pub fn is_regular_part_size(size: usize) -> bool {
    size > 0 && size.is_multiple_of(1024) && MAX_PART_SIZE.is_multiple_of(size)
}

/// The parts of one upload seen so far, and what they imply about its shape.
///
/// Parts arrive in any order. A part is *known not to be last* once a part with a higher index
/// exists or the total is known: it must then have the regular part size, the same as every
/// other such part. The highest part may be the last one and may be smaller. Checking only the
/// parts whose status changes keeps each call O(log n).
#[derive(Debug, Default, Clone)]
pub struct PartLog {
    /// part index → size.
    parts: BTreeMap<i32, usize>,
    /// The size of the parts known not to be last.
    part_size: Option<usize>,
    /// The index of the last part, once a total was given (saveBigFilePart, not -1).
    last: Option<i32>,
}

impl PartLog {
    /// Checks and records one part. `total` is saveBigFilePart's `file_total_parts` (-1 for a
    /// streamed upload of unknown size), `None` for saveFilePart. Nothing changes on error.
    pub fn accept(
        &mut self,
        part: i32,
        size: usize,
        total: Option<i32>,
        max_parts: i32,
    ) -> Result<(), Fail> {
        if size == 0 {
            return Err(bad("FILE_PART_EMPTY"));
        }
        if size > MAX_PART_SIZE {
            return Err(bad("FILE_PART_TOO_BIG"));
        }
        let declared_last = match total {
            Some(-1) | None => None,
            Some(t) if t >= 1 && t <= max_parts => Some(t - 1),
            Some(_) => return Err(bad("FILE_PARTS_INVALID")),
        };
        if part < 0 || part >= max_parts {
            return Err(bad("FILE_PART_INVALID"));
        }
        if let (Some(new), Some(old)) = (declared_last, self.last) {
            if new != old {
                return Err(bad("FILE_PARTS_INVALID"));
            }
        }
        let last = declared_last.or(self.last);
        let old_top = self.parts.keys().next_back().copied();
        if let Some(last) = last {
            if part > last || old_top.is_some_and(|top| top > last) {
                return Err(if part > last {
                    bad("FILE_PART_INVALID")
                } else {
                    bad("FILE_PARTS_INVALID")
                });
            }
        }
        // Where the "may be last" part sits before and after this one.
        let old_boundary = self.last.or(old_top);
        let top = old_top.map_or(part, |t| t.max(part));
        let boundary = last.unwrap_or(top);
        let mut part_size = self.part_size;
        let mut settle = |size: usize| -> Result<(), Fail> {
            if !is_regular_part_size(size) {
                return Err(bad("FILE_PART_SIZE_INVALID"));
            }
            match part_size {
                Some(known) if known != size => Err(bad("FILE_PART_SIZE_CHANGED")),
                _ => {
                    part_size = Some(size);
                    Ok(())
                }
            }
        };
        if part < boundary {
            settle(size)?;
        }
        // The part that could be last until now may have become a middle part.
        if let Some(old) = old_boundary {
            if old < boundary && old != part {
                if let Some(&old_size) = self.parts.get(&old) {
                    settle(old_size)?;
                }
            }
        }
        let candidate = if part == boundary {
            Some(size)
        } else {
            self.parts.get(&boundary).copied()
        };
        if let (Some(candidate), Some(known)) = (candidate, part_size) {
            if candidate > known {
                return Err(bad("FILE_PART_SIZE_CHANGED"));
            }
        }
        self.parts.insert(part, size);
        self.part_size = part_size;
        self.last = last;
        Ok(())
    }

    /// Checks that the file `inputFile(Big).parts` describes is complete; its size in bytes.
    pub fn complete(&self, parts: i32, max_parts: i32) -> Result<u64, Fail> {
        if parts < 1 || parts > max_parts || self.last.is_some_and(|last| last != parts - 1) {
            return Err(bad("FILE_PARTS_INVALID"));
        }
        if let Some(missing) = (0..parts).find(|p| !self.parts.contains_key(p)) {
            return Err(bad(&format!("FILE_PART_{missing}_MISSING")));
        }
        let regular = if parts > 1 { self.parts[&0] } else { 0 };
        let mut size = 0u64;
        for p in 0..parts {
            let this = self.parts[&p];
            let fits = if p < parts - 1 {
                this == regular && is_regular_part_size(this)
            } else {
                parts == 1 || this <= regular
            };
            if !fits {
                return Err(bad("FILE_PART_SIZE_INVALID"));
            }
            size += this as u64;
        }
        Ok(size)
    }

    /// The size of every part but the last (the only part's size for a one-part file).
    pub fn part_size(&self) -> u64 {
        self.part_size
            .or_else(|| self.parts.get(&0).copied())
            .unwrap_or(MAX_PART_SIZE) as u64
    }
}

/// Checks upload.getFile's `offset`/`limit` as Telegram does: without `precise`, both
/// divisible by 4 KB and 1 MB divisible by `limit`; with it, divisible by 1 KB and at most
/// 1 MB; and never across a 1 MB boundary.
pub fn check_range(offset: i64, limit: i32, precise: bool) -> Result<(), Fail> {
    let step = if precise { 1024 } else { 4096 };
    if offset < 0 || offset % step != 0 {
        return Err(bad("OFFSET_INVALID"));
    }
    let limit = limit as i64;
    if limit <= 0 || limit % step != 0 || limit > DOWNLOAD_WINDOW {
        return Err(bad("LIMIT_INVALID"));
    }
    if !precise && DOWNLOAD_WINDOW % limit != 0 {
        return Err(bad("LIMIT_INVALID"));
    }
    if offset / DOWNLOAD_WINDOW != (offset + limit - 1) / DOWNLOAD_WINDOW {
        return Err(bad("LIMIT_INVALID"));
    }
    Ok(())
}

/// What a stored file is.
#[derive(Debug, Clone)]
pub enum FileKind {
    Document {
        mime_type: String,
        attributes: Vec<tl::enums::DocumentAttribute>,
    },
    Photo {
        w: i32,
        h: i32,
        format: image::Format,
    },
}

/// A document or photo: what messages point at and upload.getFile reads.
#[derive(Debug)]
pub struct StoredFile {
    pub id: i64,
    pub access_hash: i64,
    /// The DC the file lives on (where it was sent from); other DCs answer FILE_MIGRATE_X.
    pub dc_id: i32,
    pub date: i32,
    pub kind: FileKind,
    pub blob: Arc<Blob>,
    /// Bumped to expire the file reference (control API); the reference encodes it.
    reference_epoch: AtomicU32,
    reference_salt: [u8; 8],
}

impl StoredFile {
    pub fn size(&self) -> u64 {
        self.blob.size
    }

    /// The current `file_reference`: opaque to clients, changed by [`Self::expire_reference`].
    pub fn file_reference(&self) -> Vec<u8> {
        let mut reference = vec![1u8];
        reference.extend(self.reference_epoch.load(Ordering::SeqCst).to_le_bytes());
        reference.extend(self.reference_salt);
        reference
    }

    pub fn expire_reference(&self) {
        self.reference_epoch.fetch_add(1, Ordering::SeqCst);
    }

    pub fn is_photo(&self) -> bool {
        matches!(self.kind, FileKind::Photo { .. })
    }
}

/// An upload in progress, or already sent (re-sending the same inputFile reuses the blob).
#[derive(Debug, Default)]
struct Upload {
    log: PartLog,
    sealed: Option<(i32, Arc<Blob>)>,
    /// When a part last arrived (unix seconds).
    touched: i32,
}

#[derive(Debug, Default)]
struct State {
    uploads: HashMap<UploadKey, Upload>,
    files: HashMap<i64, Arc<StoredFile>>,
    next_blob: u64,
    last_sweep: i32,
}

/// Every upload and stored file of the mock (shared by all DCs, as Telegram's storage is
/// reachable from any DC through FILE_MIGRATE).
#[derive(Debug)]
pub struct Files {
    store: BlobStore,
    state: Mutex<State>,
}

fn io_fail(error: std::io::Error) -> Fail {
    tracing::error!(%error, "blob store I/O failed");
    Fail::new(500, "FILE_WRITE_FAILED")
}

impl Files {
    pub fn new(store: BlobStore) -> Self {
        Self {
            store,
            state: Mutex::new(State::default()),
        }
    }

    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("files lock")
    }

    /// upload.saveFilePart (`total` None) / saveBigFilePart: checks the part, then writes it
    /// to disk outside the lock.
    pub fn save_part(
        &self,
        key: UploadKey,
        part: i32,
        total: Option<i32>,
        bytes: &[u8],
        max_parts: i32,
        now: i32,
    ) -> Result<(), Fail> {
        let expired = self.sweep(now);
        for old in expired {
            self.store.discard_upload(old);
        }
        {
            let mut state = self.state();
            let upload = state.uploads.entry(key).or_default();
            upload.touched = now;
            if upload.sealed.is_some() {
                // A new upload under a file_id already sent: the sent blob stays with its
                // documents, the new parts start a new log.
                *upload = Upload::default();
            }
            upload.log.accept(part, bytes.len(), total, max_parts)?;
        }
        self.store.write_part(key, part, bytes).map_err(io_fail)
    }

    /// Forgets uploads idle for [`UPLOAD_TTL_SECS`]; the keys whose parts are to be deleted
    /// (sent uploads keep their blob: documents point at it).
    fn sweep(&self, now: i32) -> Vec<UploadKey> {
        let mut state = self.state();
        if now - state.last_sweep < SWEEP_EVERY_SECS {
            return Vec::new();
        }
        state.last_sweep = now;
        let mut discard = Vec::new();
        state.uploads.retain(|key, upload| {
            let keep = now - upload.touched < UPLOAD_TTL_SECS;
            if !keep && upload.sealed.is_none() {
                discard.push(*key);
            }
            keep
        });
        discard
    }

    /// The blob an `InputFile` names, sealing the upload on first use: FILE_PARTS_INVALID,
    /// FILE_PART_X_MISSING, FILE_PART_SIZE_INVALID, and MD5_CHECKSUM_INVALID for a small file
    /// whose non-empty checksum does not match.
    pub fn blob_for(
        &self,
        user_id: i64,
        file: &tl::enums::InputFile,
        max_parts: i32,
    ) -> Result<Arc<Blob>, Fail> {
        let (key, parts, md5) = match file {
            tl::enums::InputFile::File(f) => (
                UploadKey {
                    user_id,
                    file_id: f.id,
                    big: false,
                },
                f.parts,
                Some(f.md5_checksum.as_str()),
            ),
            tl::enums::InputFile::Big(f) => (
                UploadKey {
                    user_id,
                    file_id: f.id,
                    big: true,
                },
                f.parts,
                None,
            ),
            tl::enums::InputFile::StoryDocument(_) => {
                return Err(bad("MEDIA_NOT_IMPLEMENTED_IN_MOCK"))
            }
        };
        let (size, part_size) = {
            let state = self.state();
            let Some(upload) = state.uploads.get(&key) else {
                if parts < 1 || parts > max_parts {
                    return Err(bad("FILE_PARTS_INVALID"));
                }
                return Err(bad("FILE_PART_0_MISSING"));
            };
            if let Some((sealed_parts, blob)) = &upload.sealed {
                if *sealed_parts == parts {
                    return Ok(blob.clone());
                }
                return Err(bad("FILE_PARTS_INVALID"));
            }
            let size = upload.log.complete(parts, max_parts)?;
            if !key.big && size > SMALL_FILE_MAX {
                // saveFilePart is documented for files up to 10 MB only.
                return Err(bad("FILE_PARTS_INVALID"));
            }
            (size, upload.log.part_size())
        };
        if let Some(expected) = md5.filter(|m| !m.is_empty()) {
            let actual = self.store.md5_of_upload(key, parts).map_err(io_fail)?;
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(bad("MD5_CHECKSUM_INVALID"));
            }
        }
        let mut state = self.state();
        if let Some((_, blob)) = state.uploads.get(&key).and_then(|u| u.sealed.as_ref()) {
            // Sealed by a parallel send meanwhile.
            return Ok(blob.clone());
        }
        state.next_blob += 1;
        let blob_id = state.next_blob;
        let blob = Arc::new(
            self.store
                .seal(key, blob_id, parts, part_size, size)
                .map_err(io_fail)?,
        );
        if let Some(upload) = state.uploads.get_mut(&key) {
            upload.sealed = Some((parts, blob.clone()));
        }
        Ok(blob)
    }

    /// Registers a new document or photo over a blob.
    pub fn create(&self, kind: FileKind, blob: Arc<Blob>, dc_id: i32, now: i32) -> Arc<StoredFile> {
        let mut state = self.state();
        let id = loop {
            let id = rand::random::<i64>() & i64::MAX;
            if id != 0 && !state.files.contains_key(&id) {
                break id;
            }
        };
        let file = Arc::new(StoredFile {
            id,
            access_hash: rand::random(),
            dc_id,
            date: now,
            kind,
            blob,
            reference_epoch: AtomicU32::new(0),
            reference_salt: rand::random(),
        });
        state.files.insert(id, file.clone());
        file
    }

    /// A stored file by id and access hash (photos and documents are told apart by `photo`).
    pub fn find(&self, id: i64, access_hash: i64, photo: bool) -> Option<Arc<StoredFile>> {
        self.state()
            .files
            .get(&id)
            .filter(|f| f.access_hash == access_hash && f.is_photo() == photo)
            .cloned()
    }

    /// Expires the file reference of one file, or of every file; how many were expired.
    pub fn expire_references(&self, file_id: Option<i64>) -> usize {
        let state = self.state();
        let mut count = 0;
        for file in state.files.values() {
            if file_id.is_none_or(|id| id == file.id) {
                file.expire_reference();
                count += 1;
            }
        }
        count
    }

    /// Bytes of a stored file, the range already checked by [`check_range`].
    pub fn read(&self, file: &StoredFile, offset: i64, limit: i32) -> Result<Vec<u8>, Fail> {
        self.store
            .read(&file.blob, offset as u64, limit as usize)
            .map_err(io_fail)
    }

    /// The first bytes of a blob (image headers).
    pub fn head(&self, blob: &Blob, len: usize) -> Vec<u8> {
        self.store.read(blob, 0, len).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: usize = 1024;

    fn name<T: std::fmt::Debug>(r: Result<T, Fail>) -> String {
        r.expect_err("an error").name
    }

    #[test]
    fn parts_in_any_order_complete() {
        let mut log = PartLog::default();
        for part in [3, 0, 2, 1] {
            let size = if part == 3 { 100 } else { 512 * K };
            log.accept(part, size, Some(4), 4000).unwrap();
        }
        assert_eq!(log.complete(4, 4000).unwrap(), 3 * 512 * 1024 + 100);
        assert_eq!(log.part_size(), 512 * 1024);
    }

    #[test]
    fn idle_uploads_expire_and_leave_the_disk() {
        let files = Files::new(BlobStore::temporary().unwrap());
        let key = |file_id| UploadKey {
            user_id: 1,
            file_id,
            big: false,
        };
        let input = |id| {
            tl::enums::InputFile::File(tl::types::InputFile {
                id,
                parts: 1,
                name: "a".into(),
                md5_checksum: String::new(),
            })
        };
        let t0 = 1_700_000_000;
        files
            .save_part(key(1), 0, None, &[1; 10], 4000, t0)
            .unwrap();
        files
            .save_part(key(2), 0, None, &[2; 10], 4000, t0)
            .unwrap();
        // Upload 2 is sent; upload 1 never is.
        let blob = files.blob_for(1, &input(2), 4000).unwrap();
        let uploads = files.store().root().join("uploads");
        assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 1);
        // Gone once the TTL has passed (the next saveFilePart sweeps).
        let later = t0 + UPLOAD_TTL_SECS + SWEEP_EVERY_SECS;
        files
            .save_part(key(3), 0, None, &[3; 10], 4000, later)
            .unwrap();
        assert_eq!(
            files.blob_for(1, &input(1), 4000).unwrap_err().name,
            "FILE_PART_0_MISSING"
        );
        assert_eq!(
            std::fs::read_dir(&uploads).unwrap().count(),
            1,
            "only upload 3"
        );
        // The sent file's bytes stay with its documents.
        assert_eq!(files.store().read(&blob, 0, 100).unwrap(), vec![2; 10]);
    }

    #[test]
    fn an_odd_middle_part_is_refused_when_it_is_known_to_be_middle() {
        let mut log = PartLog::default();
        log.accept(0, 1000, None, 4000).unwrap();
        // Part 0 can no longer be the last one, and 1000 is no regular size.
        assert_eq!(
            name(log.accept(1, 1024, None, 4000)),
            "FILE_PART_SIZE_INVALID"
        );
    }
}
