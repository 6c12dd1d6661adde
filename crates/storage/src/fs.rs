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

/// Bytes gathered before one write to disk, and the read size when serving.
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

    pub async fn begin_upload(&self, id: &str) -> Result<(), StorageError> {
        let path = self.upload_path(id)?;
        blocking(move || File::create(path).map(|_| ())).await
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
        let file = blocking(move || {
            let mut f = match OpenOptions::new().write(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(std::io::Error::new(e.kind(), "upload data missing"))
                }
                Err(e) => return Err(e),
            };
            // Drop whatever a failed earlier write may have left past the accepted size.
            f.set_len(offset)?;
            f.seek(SeekFrom::Start(offset))?;
            Ok(Arc::new(f))
        })
        .await
        .map_err(|e| match e {
            StorageError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                StorageError::UploadMissing
            }
            other => other,
        })?;

        // Receive and hash on this task while the previous megabyte is written on the blocking
        // pool: network, hashing and disk overlap.
        let mut buf = BytesMut::with_capacity(IO_CHUNK);
        let mut pending: Option<JoinHandle<std::io::Result<()>>> = None;
        let mut pos = offset;
        let result: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await? {
                buf.extend_from_slice(&chunk);
                if buf.len() >= IO_CHUNK {
                    flush(&file, &mut buf, &mut pending, &mut pos, true).await?;
                }
            }
            flush(&file, &mut buf, &mut pending, &mut pos, false).await?;
            finish(&mut pending).await?;
            let f = file.clone();
            blocking(move || f.sync_data()).await
        }
        .await;

        if let Err(e) = result {
            let _ = finish(&mut pending).await;
            let f = file.clone();
            if let Err(t) = blocking(move || f.set_len(offset)).await {
                tracing::error!(upload = id, error = %t, "could not roll back a failed chunk");
            }
            return Err(e);
        }
        Ok(body.received())
    }

    pub async fn digest_upload(
        &self,
        id: &str,
        algorithm: Algorithm,
    ) -> Result<Digest, StorageError> {
        let path = self.upload_path(id)?;
        let hashed = blocking(move || {
            let mut f = File::open(path)?;
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

    pub async fn commit_upload(&self, id: &str, digest: &Digest) -> Result<(), StorageError> {
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
        let path = self.blob_path(digest);
        let file = blocking(move || {
            let mut f = File::open(path)?;
            if start > 0 {
                f.seek(SeekFrom::Start(start))?;
            }
            Ok(Arc::new(f))
        })
        .await
        .map_err(|e| match e {
            StorageError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                StorageError::BlobMissing
            }
            other => other,
        })?;
        Ok(Box::pin(read_ahead(file, len)))
    }
}

/// Streams `len` bytes from the file's position in chunks of [`IO_CHUNK`], each read on the
/// blocking pool straight into the buffer that is sent (one copy out of the page cache), with
/// the next read already running while the current chunk goes to the socket.
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
    let first = (len > 0).then(|| read(file.clone(), len.min(IO_CHUNK as u64)));
    let remaining = len - len.min(IO_CHUNK as u64);
    futures_util::stream::unfold(
        (file, first, remaining),
        move |(file, pending, remaining)| async move {
            let chunk = match pending?.await {
                Ok(r) => r,
                Err(e) => Err(std::io::Error::other(e)),
            };
            let next = (chunk.is_ok() && remaining > 0)
                .then(|| read(file.clone(), remaining.min(IO_CHUNK as u64)));
            let left = remaining - remaining.min(IO_CHUNK as u64);
            Some((chunk, (file, next, left)))
        },
    )
}

/// Hands the gathered bytes to the blocking pool, after the previous write has finished.
/// Writes `buf` at `*pos` on the blocking pool (one write in flight). With `writeback`, the
/// kernel is also asked to start writing those pages to disk now (without waiting), so the fsync that ends the upload finds little left to write: disk writes
/// overlap the upload instead of following it.
async fn flush(
    file: &Arc<File>,
    buf: &mut BytesMut,
    pending: &mut Option<JoinHandle<std::io::Result<()>>>,
    pos: &mut u64,
    writeback: bool,
) -> Result<(), StorageError> {
    if buf.is_empty() {
        return Ok(());
    }
    finish(pending).await?;
    let data = buf.split().freeze();
    let f = file.clone();
    let at = *pos;
    *pos += data.len() as u64;
    *pending = Some(spawn_blocking(move || {
        (&*f).write_all(&data)?;
        if writeback {
            start_writeback(&f, at, data.len() as u64);
        }
        Ok(())
    }));
    buf.reserve(IO_CHUNK);
    Ok(())
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

async fn finish(pending: &mut Option<JoinHandle<std::io::Result<()>>>) -> Result<(), StorageError> {
    if let Some(p) = pending.take() {
        p.await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
    }
    Ok(())
}

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
        assert_eq!(s.digest_upload("u1", Algorithm::Sha256).await.unwrap(), d);
        s.commit_upload("u1", &d).await.unwrap();
        assert_eq!(s.blob_len(&d).await.unwrap(), Some(11));
        // Committing again (a retry after a crash that followed the rename) succeeds.
        s.commit_upload("u1", &d).await.unwrap();
        assert_eq!(
            collect(s.read_blob(&d, 0, 11).await.unwrap()).await,
            b"hello world"
        );
        assert_eq!(collect(s.read_blob(&d, 6, 3).await.unwrap()).await, b"wor");
        // After the commit the staging file is gone: data for it is refused, while an
        // empty body (a closing PUT) touches nothing at all.
        assert!(matches!(
            s.append("u1", 0, body(vec![Ok(b"x")]), None, None).await,
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
    async fn reads_span_chunks_and_detect_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::new(dir.path());
        s.init().await.unwrap();
        let data: Vec<u8> = (0..(IO_CHUNK * 5 / 2)).map(|i| (i % 253) as u8).collect();
        s.begin_upload("big").await.unwrap();
        let body = stream::iter(
            data.chunks(100_000)
                .map(|c| Ok::<_, String>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        s.append("big", 0, body, None, Some(data.len() as u64))
            .await
            .unwrap();
        let d = s.digest_upload("big", Algorithm::Sha256).await.unwrap();
        s.commit_upload("big", &d).await.unwrap();
        assert_eq!(
            collect(s.read_blob(&d, 0, data.len() as u64).await.unwrap()).await,
            data
        );
        let (a, n) = (IO_CHUNK - 10, IO_CHUNK + 20);
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
