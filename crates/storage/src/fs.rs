//! The filesystem backend: `blobs/<alg>/<2 hex>/<hex>` and `uploads/<session id>`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_core::{Algorithm, Digest, DigestHasher};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::task::{spawn_blocking, JoinHandle};

use crate::{safe_id, BlobStream, Incoming, StorageError};

/// Bytes gathered before one write to disk: small enough that the write of one piece (on the
/// blocking pool) overlaps receiving and hashing the next even for a 1 MiB blob.
const WRITE_PIECE: usize = 256 << 10;

/// Buffer size of a full read of staging data (digest of a session without a running hash).
const IO_CHUNK: usize = 1 << 20;

/// Blob store on a local (or mounted) filesystem.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: Arc<PathBuf>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
        .map_err(StorageError::Io)
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl FsStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsStore {
            root: Arc::new(root.into()),
        }
    }

    fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    fn upload_path(&self, id: &str) -> Result<PathBuf, StorageError> {
        Ok(self.uploads_dir().join(safe_id(id)?))
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    pub async fn init(&self) -> Result<(), StorageError> {
        let root = self.root.clone();
        blocking(move || {
            std::fs::create_dir_all(root.join("uploads"))?;
            std::fs::create_dir_all(root.join("blobs"))
        })
        .await
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        let dir = self.uploads_dir();
        blocking(move || std::fs::metadata(dir).map(|_| ())).await
    }

    /// Checks the session id; the staging file is created by the first append, so a session
    /// that never receives a byte costs no file.
    pub async fn begin_upload(&self, id: &str) -> Result<(), StorageError> {
        self.upload_path(id).map(|_| ())
    }

    pub async fn append<S, E>(
        &self,
        id: &str,
        offset: u64,
        body: S,
        hasher: Option<&mut DigestHasher>,
        exact_len: Option<u64>,
    ) -> Result<u64, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.upload_path(id)?;
        let mut body = Incoming::new(body, hasher, exact_len);
        if body.is_empty().await? {
            return Ok(0);
        }
        // Receive and hash on this task while the previous piece is written on the blocking
        // pool: network, hashing and disk overlap. The first write opens the staging file and
        // the last one fsyncs it, so a small body costs one trip to the blocking pool.
        let mut w = Staging {
            path: Arc::new(path),
            offset,
            file: None,
            pending: None,
            pos: offset,
        };
        let mut buf = BytesMut::with_capacity(WRITE_PIECE);
        let result: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await? {
                buf.extend_from_slice(&chunk);
                // With a known length the last piece waits for the closing write and fsync.
                if buf.len() >= WRITE_PIECE && Some(body.received()) != exact_len {
                    w.flush(&mut buf, Then::StartWriteback).await?;
                }
            }
            w.flush(&mut buf, Then::Sync).await?;
            w.finish().await
        }
        .await;

        if let Err(e) = result {
            let _ = w.finish().await;
            let path = w.path.clone();
            let rollback = blocking(move || match OpenOptions::new().write(true).open(&*path) {
                Ok(f) => f.set_len(offset),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            });
            if let Err(t) = rollback.await {
                tracing::error!(upload = id, error = %t, "could not roll back a failed chunk");
            }
            return Err(match e {
                StorageError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                    StorageError::UploadMissing
                }
                other => other,
            });
        }
        Ok(body.received())
    }

    /// Digest of the `size` staged bytes of upload `id` (a session that never received a byte
    /// has no staging file: the digest of nothing).
    pub async fn digest_upload(
        &self,
        id: &str,
        size: u64,
        algorithm: Algorithm,
    ) -> Result<Digest, StorageError> {
        let path = self.upload_path(id)?;
        let hashed = blocking(move || {
            let mut f = match File::open(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && size == 0 => {
                    return Ok(algorithm.hasher().finish())
                }
                other => other?,
            };
            let mut h = algorithm.hasher();
            let mut buf = vec![0u8; IO_CHUNK];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(h.finish())
        })
        .await;
        match hashed {
            Err(StorageError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StorageError::UploadMissing)
            }
            other => other,
        }
    }

    pub async fn commit_upload(
        &self,
        id: &str,
        size: u64,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let from = self.upload_path(id)?;
        let to = self.blob_path(digest);
        blocking(move || {
            if to.exists() {
                // Stored already (another repository, a concurrent push of the same bytes, or
                // this very upload before a crash).
                return match std::fs::remove_file(&from) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                };
            }
            let shard = to
                .parent()
                .ok_or_else(|| std::io::Error::other("blob path has no parent"))?;
            if !shard.exists() {
                std::fs::create_dir_all(shard)?;
                if let Some(alg_dir) = shard.parent() {
                    fsync_dir(alg_dir)?;
                }
            }
            if size == 0 && !from.exists() {
                // An empty blob: its session never wrote a staging file.
                File::create(&from)?;
            }
            // The staging file was fsynced by the last append; the rename makes it visible
            // whole, and syncing the directory makes the rename durable.
            std::fs::rename(&from, &to)?;
            fsync_dir(shard)
        })
        .await
    }

    pub async fn abort_upload(&self, id: &str) -> Result<(), StorageError> {
        let path = self.upload_path(id)?;
        blocking(move || match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }

    pub async fn stale_staging(&self, before_ms: i64) -> Result<Vec<String>, StorageError> {
        let dir = self.uploads_dir();
        blocking(move || {
            let cutoff =
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(before_ms.max(0) as u64);
            let mut out = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                if entry.metadata()?.modified()? < cutoff {
                    if let Some(name) = entry.file_name().to_str() {
                        out.push(name.to_owned());
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    pub async fn blob_len(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        let path = self.blob_path(digest);
        blocking(move || match std::fs::metadata(path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    pub async fn read_blob(
        &self,
        digest: &Digest,
        start: u64,
        len: u64,
    ) -> Result<BlobStream, StorageError> {
        let mut file = self.open_blob_file(digest).await?;
        if start > 0 {
            // lseek: no I/O.
            file.seek(SeekFrom::Start(start))?;
        }
        Ok(Box::pin(read_ahead(Arc::new(file), len)))
    }

    /// Opens blob `digest` for reading.
    pub async fn open_blob_file(&self, digest: &Digest) -> Result<File, StorageError> {
        let path = self.blob_path(digest);
        blocking(move || File::open(path))
            .await
            .map_err(missing_blob)
    }
}

/// A blob file that is not there although the metadata links it.
fn missing_blob(e: StorageError) -> StorageError {
    match e {
        StorageError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            StorageError::BlobMissing
        }
        other => other,
    }
}

/// Bytes read from a blob file in one blocking call when serving.
const READ_CHUNK: u64 = 1 << 20;

/// Largest piece handed to the HTTP layer at a time. actix-web copies each body piece into its
/// connection's write buffer, and frees and reallocates that buffer after a piece above 128 KiB
/// (its header included): pieces under that keep one small buffer per connection instead of a
/// megabyte of churned heap per large read.
const SEND_PIECE: usize = 120 << 10;

/// Streams `len` bytes from the file's position: reads of [`READ_CHUNK`] on the blocking pool
/// straight into the buffer that is sent (one copy out of the page cache), the next read already
/// running while the current one goes to the socket in [`SEND_PIECE`] slices (no copies).
fn read_ahead(
    file: Arc<File>,
    len: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let read = |file: Arc<File>, n: u64| {
        spawn_blocking(move || {
            let mut buf = Vec::with_capacity(n as usize);
            (&*file).take(n).read_to_end(&mut buf)?;
            if (buf.len() as u64) < n {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "blob is shorter than recorded",
                ));
            }
            Ok(Bytes::from(buf))
        })
    };
    let first = (len > 0).then(|| read(file.clone(), len.min(READ_CHUNK)));
    let remaining = len - len.min(READ_CHUNK);
    futures_util::stream::unfold(
        (file, Bytes::new(), first, remaining),
        move |(file, mut current, mut pending, mut remaining)| async move {
            if current.is_empty() {
                current = match pending.take()?.await.map_err(std::io::Error::other) {
                    Ok(Ok(b)) => b,
                    // The stream ends after the error (no read pending).
                    Ok(Err(e)) | Err(e) => return Some((Err(e), (file, current, None, 0))),
                };
                if remaining > 0 {
                    let n = remaining.min(READ_CHUNK);
                    pending = Some(read(file.clone(), n));
                    remaining -= n;
                }
            }
            let piece = current.split_to(current.len().min(SEND_PIECE));
            Some((Ok(piece), (file, current, pending, remaining)))
        },
    )
}

/// What follows a write of [`flush`].
#[derive(Clone, Copy)]
enum Then {
    /// Ask the kernel to start writing the pages to disk now, without waiting, so the fsync
    /// that ends the upload finds little left to write: disk writes overlap the upload.
    StartWriteback,
    /// fsync the data (the last piece of a request).
    Sync,
}

/// The staging file of one append: opened by the first write, one write in flight.
struct Staging {
    path: Arc<PathBuf>,
    /// Where this append starts (the session's accepted size).
    offset: u64,
    file: Option<Arc<File>>,
    pending: Option<JoinHandle<std::io::Result<Arc<File>>>>,
    /// Where the next write lands.
    pos: u64,
}

impl Staging {
    /// Writes `buf` at the end of what was handed over before, on the blocking pool, once the
    /// previous write has finished; with [`Then::Sync`] also when `buf` is empty.
    async fn flush(&mut self, buf: &mut BytesMut, then: Then) -> Result<(), StorageError> {
        if buf.is_empty() && matches!(then, Then::StartWriteback) {
            return Ok(());
        }
        self.finish().await?;
        let data = buf.split().freeze();
        let (file, path, offset, at) =
            (self.file.clone(), self.path.clone(), self.offset, self.pos);
        self.pos += data.len() as u64;
        self.pending = Some(spawn_blocking(move || {
            let f = match file {
                Some(f) => f,
                None => Arc::new(open_staging(&path, offset)?),
            };
            (&*f).write_all(&data)?;
            match then {
                Then::StartWriteback => start_writeback(&f, at, data.len() as u64),
                Then::Sync => f.sync_data()?,
            }
            Ok(f)
        }));
        if matches!(then, Then::StartWriteback) {
            buf.reserve(WRITE_PIECE);
        }
        Ok(())
    }

    /// Waits for the write in flight, if any.
    async fn finish(&mut self) -> Result<(), StorageError> {
        if let Some(p) = self.pending.take() {
            let f = p
                .await
                .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
            self.file = Some(f);
        }
        Ok(())
    }
}

/// Opens the staging file at `path` for writing at `offset`. Only the first bytes of a session
/// may create it: data for a later offset whose file is gone (expired, or committed) is refused
/// (`NotFound`).
fn open_staging(path: &Path, offset: u64) -> std::io::Result<File> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(offset == 0)
        .truncate(false)
        .open(path)?;
    // Drop whatever a failed earlier write may have left past the accepted size.
    f.set_len(offset)?;
    f.seek(SeekFrom::Start(offset))?;
    Ok(f)
}

#[cfg(target_os = "linux")]
fn start_writeback(f: &File, at: u64, len: u64) {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    // On Linux, POSIX_FADV_DONTNEED starts writeback of the range's dirty pages without
    // waiting (and only drops pages that are already clean, which these are not). Best
    // effort: where it does nothing, the final fsync does all the work as before.
    let _ = posix_fadvise(
        f,
        at as i64,
        len as i64,
        PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    );
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &File, _: u64, _: u64) {}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{stream, StreamExt};

    fn body(
        parts: Vec<Result<&'static [u8], &'static str>>,
    ) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        stream::iter(
            parts
                .into_iter()
                .map(|p| p.map(Bytes::from_static).map_err(str::to_owned)),
        )
    }

    async fn collect(s: BlobStream) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn upload_commit_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::new(dir.path());
        s.init().await.unwrap();
        s.begin_upload("u1").await.unwrap();
        let mut h = Algorithm::Sha256.hasher();
        let n = s
            .append(
                "u1",
                0,
                body(vec![Ok(b"hello "), Ok(b"world")]),
                Some(&mut h),
                None,
            )
            .await
            .unwrap();
        assert_eq!(n, 11);
        // A failing chunk leaves the upload as it was.
        let err = s
            .append("u1", 11, body(vec![Ok(b"junk"), Err("reset")]), None, None)
            .await;
        assert!(matches!(err, Err(StorageError::Body(_))));
        let err = s
            .append("u1", 11, body(vec![Ok(b"toolong")]), None, Some(3))
            .await;
        assert!(matches!(err, Err(StorageError::TooLong(3))));
        let err = s
            .append("u1", 11, body(vec![Ok(b"ab")]), None, Some(3))
            .await;
        assert!(matches!(
            err,
            Err(StorageError::TooShort {
                expected: 3,
                got: 2
            })
        ));
        let d = h.finish();
        assert_eq!(
            s.digest_upload("u1", 11, Algorithm::Sha256).await.unwrap(),
            d
        );
        s.commit_upload("u1", 11, &d).await.unwrap();
        assert_eq!(s.blob_len(&d).await.unwrap(), Some(11));
        // Committing again (a retry after a crash that followed the rename) succeeds.
        s.commit_upload("u1", 11, &d).await.unwrap();
        assert_eq!(
            collect(s.read_blob(&d, 0, 11).await.unwrap()).await,
            b"hello world"
        );
        assert_eq!(collect(s.read_blob(&d, 6, 3).await.unwrap()).await, b"wor");
        // After the commit the staging file is gone: data for it is refused, while an
        // empty body (a closing PUT) touches nothing at all.
        assert!(matches!(
            s.append("u1", 11, body(vec![Ok(b"x")]), None, None).await,
            Err(StorageError::UploadMissing)
        ));
        assert_eq!(
            s.append("u1", 0, body(vec![]), None, None).await.unwrap(),
            0
        );
        assert!(matches!(
            s.begin_upload("../x").await,
            Err(StorageError::UploadMissing)
        ));
    }

    #[tokio::test]
    async fn a_session_without_bytes_commits_the_empty_blob() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::new(dir.path());
        s.init().await.unwrap();
        s.begin_upload("e").await.unwrap();
        // No staging file until bytes arrive; an empty body creates none either.
        assert_eq!(s.append("e", 0, body(vec![]), None, None).await.unwrap(), 0);
        assert!(s.stale_staging(i64::MAX).await.unwrap().is_empty());
        let d = s.digest_upload("e", 0, Algorithm::Sha256).await.unwrap();
        assert_eq!(d, Algorithm::Sha256.hasher().finish());
        s.commit_upload("e", 0, &d).await.unwrap();
        assert_eq!(s.blob_len(&d).await.unwrap(), Some(0));
        // Missing staging data of a non-empty session is an error, not an empty blob.
        assert!(matches!(
            s.digest_upload("gone", 3, Algorithm::Sha256).await,
            Err(StorageError::UploadMissing)
        ));
    }

    #[tokio::test]
    async fn reads_span_chunks_and_detect_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::new(dir.path());
        s.init().await.unwrap();
        let data: Vec<u8> = (0..(READ_CHUNK as usize * 5 / 2))
            .map(|i| (i % 253) as u8)
            .collect();
        s.begin_upload("big").await.unwrap();
        let body = stream::iter(
            data.chunks(100_000)
                .map(|c| Ok::<_, String>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        s.append("big", 0, body, None, Some(data.len() as u64))
            .await
            .unwrap();
        let d = s
            .digest_upload("big", data.len() as u64, Algorithm::Sha256)
            .await
            .unwrap();
        s.commit_upload("big", data.len() as u64, &d).await.unwrap();
        assert_eq!(
            collect(s.read_blob(&d, 0, data.len() as u64).await.unwrap()).await,
            data
        );
        let (a, n) = (READ_CHUNK as usize - 10, READ_CHUNK as usize + 20);
        assert_eq!(
            collect(s.read_blob(&d, a as u64, n as u64).await.unwrap()).await,
            &data[a..a + n]
        );
        assert!(collect(s.read_blob(&d, 0, 0).await.unwrap())
            .await
            .is_empty());
        // Asking for more than the file holds is an error, not a short body.
        let mut st = s.read_blob(&d, 0, data.len() as u64 + 1).await.unwrap();
        let mut failed = false;
        while let Some(c) = st.next().await {
            failed |= c.is_err();
        }
        assert!(failed);
    }
}
