//! The blob store: uploaded file parts on disk, the only I/O the protocol code does.
//!
//! Parts are written one file per part (so parallel parts from several connections never
//! contend for one file) under `uploads/<user>-<file_id>-<s|b>/`; sending the file seals that
//! directory into `blobs/<n>/` as is, without copying, so a 2 GB upload costs 2 GB of disk once
//! and no RAM. A download reads the one or two part files its range touches.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Which upload a part belongs to: Telegram keys uploads by the client's random `file_id`,
/// per user, and saveFilePart / saveBigFilePart uploads are separate (inputFile vs inputFileBig).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadKey {
    pub user_id: i64,
    pub file_id: i64,
    pub big: bool,
}

/// A sealed upload: the parts of a sent file, `part_size` bytes each but the last.
#[derive(Debug)]
pub struct Blob {
    pub dir: PathBuf,
    pub part_size: u64,
    pub parts: i32,
    pub size: u64,
}

/// Where parts and blobs live. A temporary store deletes itself when dropped.
#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl BlobStore {
    /// A store in a fresh temporary directory (no `--state-dir`).
    pub fn temporary() -> std::io::Result<Self> {
        let temp = tempfile::Builder::new().prefix("mockdc-files-").tempdir()?;
        Ok(Self {
            root: temp.path().to_path_buf(),
            _temp: Some(temp),
        })
    }

    /// A store under `dir` (`<state-dir>/files`). What a previous run left is removed: the
    /// documents that referenced it lived in memory and are gone, so it could only leak disk.
    pub fn in_dir(dir: &Path) -> std::io::Result<Self> {
        for sub in ["uploads", "blobs"] {
            let path = dir.join(sub);
            if path.exists() {
                std::fs::remove_dir_all(&path)?;
            }
        }
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            root: dir.to_path_buf(),
            _temp: None,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn upload_dir(&self, key: UploadKey) -> PathBuf {
        let kind = if key.big { 'b' } else { 's' };
        self.root.join("uploads").join(format!(
            "{}-{:016x}-{kind}",
            key.user_id, key.file_id as u64
        ))
    }

    /// Stores one part. Written to a temporary name and renamed, so a part re-sent while its
    /// first copy is still being written never leaves a torn file.
    pub fn write_part(&self, key: UploadKey, part: i32, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.upload_dir(key);
        std::fs::create_dir_all(&dir)?;
        let temp = dir.join(format!("{part}.tmp{:016x}", rand::random::<u64>()));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        drop(file);
        std::fs::rename(&temp, dir.join(part.to_string()))
    }

    /// MD5 (lowercase hex, as `inputFile.md5_checksum`) of parts `0..parts` of an upload.
    pub fn md5_of_upload(&self, key: UploadKey, parts: i32) -> std::io::Result<String> {
        let dir = self.upload_dir(key);
        let mut context = md5::Context::new();
        let mut buffer = vec![0u8; 64 * 1024];
        for part in 0..parts {
            let mut file = std::fs::File::open(dir.join(part.to_string()))?;
            loop {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                context.consume(&buffer[..n]);
            }
        }
        Ok(format!("{:x}", context.finalize()))
    }

    /// Turns an upload's parts into a blob (a rename, no copy). Parts past `parts` are dropped.
    pub fn seal(
        &self,
        key: UploadKey,
        blob_id: u64,
        parts: i32,
        part_size: u64,
        size: u64,
    ) -> std::io::Result<Blob> {
        let blobs = self.root.join("blobs");
        std::fs::create_dir_all(&blobs)?;
        let dir = blobs.join(blob_id.to_string());
        std::fs::rename(self.upload_dir(key), &dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let keep = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<i32>().ok())
                .is_some_and(|n| n < parts);
            if !keep {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(Blob {
            dir,
            part_size,
            parts,
            size,
        })
    }

    /// Forgets an upload's parts (a new upload reusing a sent file_id starts afresh).
    pub fn discard_upload(&self, key: UploadKey) {
        let _ = std::fs::remove_dir_all(self.upload_dir(key));
    }

    /// Up to `limit` bytes of a blob from `offset` (fewer at the end, none past it).
    pub fn read(&self, blob: &Blob, offset: u64, limit: usize) -> std::io::Result<Vec<u8>> {
        let end = blob.size.min(offset.saturating_add(limit as u64));
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let part = at / blob.part_size;
            let within = at % blob.part_size;
            let take = (blob.part_size - within).min(end - at);
            let mut file = std::fs::File::open(blob.dir.join(part.to_string()))?;
            file.seek(SeekFrom::Start(within))?;
            let start = out.len();
            out.resize(start + take as usize, 0);
            file.read_exact(&mut out[start..])?;
            at += take;
        }
        Ok(out)
    }
}
