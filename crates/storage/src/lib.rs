//! berth-storage: the blob store.
//!
//! Blobs are content-addressed and stored once, however many repositories link them (the links
//! live in `berth-meta`). Uploads stream into a per-session staging object, are hashed as they
//! arrive, are verified against the client's digest, and only then become visible under their
//! digest by an atomic rename (filesystem) — so a crash or a mismatch never leaves a
//! half-written blob where a reader could see it. Nothing here holds a whole blob in memory.
//!
//! Two backends: the local filesystem ([`FsStore`]) and any S3-compatible object store
//! ([`S3Store`]). Upload sessions carry opaque backend state (kept in the session's database
//! row by the caller), so a session can continue on any replica.

mod fs;
mod s3;

use std::pin::Pin;

use berth_core::{Algorithm, Digest, DigestHasher};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

pub use fs::FsStore;
pub use s3::{S3Settings, S3Store};

/// A request body on its way into a store: every chunk is counted against the declared
/// length (`exact_len`) and fed to the running hash as it arrives. Both backends read through
/// it, so the body rules live in one place and the backends only decide where bytes go.
pub(crate) struct Incoming<'h, S> {
    body: S,
    hasher: Option<&'h mut DigestHasher>,
    exact_len: Option<u64>,
    received: u64,
    /// A chunk read by [`Incoming::is_empty`], not yet counted or hashed.
    peeked: Option<Bytes>,
}

impl<'h, S, E> Incoming<'h, S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    pub(crate) fn new(
        body: S,
        hasher: Option<&'h mut DigestHasher>,
        exact_len: Option<u64>,
    ) -> Self {
        Incoming {
            body,
            hasher,
            exact_len,
            received: 0,
            peeked: None,
        }
    }

    /// The end of the body: an error if it is shorter than declared.
    fn end(&self) -> Result<(), StorageError> {
        match self.exact_len {
            Some(expected) if self.received < expected => Err(StorageError::TooShort {
                expected,
                got: self.received,
            }),
            _ => Ok(()),
        }
    }

    async fn raw(&mut self) -> Result<Option<Bytes>, StorageError> {
        if let Some(c) = self.peeked.take() {
            return Ok(Some(c));
        }
        match self.body.next().await {
            Some(Ok(c)) => Ok(Some(c)),
            Some(Err(e)) => Err(StorageError::Body(e.to_string())),
            None => Ok(None),
        }
    }

    /// True for a body without bytes (checked against the declared length), which a store
    /// must not touch anything for: a closing PUT usually has none.
    pub(crate) async fn is_empty(&mut self) -> Result<bool, StorageError> {
        match self.raw().await? {
            Some(c) => {
                self.peeked = Some(c);
                Ok(false)
            }
            None => self.end().map(|()| true),
        }
    }

    /// The next chunk, counted and hashed; `None` at the end of a body of the declared length.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, StorageError> {
        let Some(chunk) = self.raw().await? else {
            self.end()?;
            return Ok(None);
        };
        self.received += chunk.len() as u64;
        if let Some(max) = self.exact_len {
            if self.received > max {
                return Err(StorageError::TooLong(max));
            }
        }
        if let Some(h) = self.hasher.as_deref_mut() {
            h.update(&chunk);
        }
        Ok(Some(chunk))
    }

    /// Bytes taken so far.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }
}

/// An upload id is a server-made UUID; anything else never reaches a store.
pub(crate) fn safe_id(id: &str) -> Result<&str, StorageError> {
    if !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(id)
    } else {
        Err(StorageError::UploadMissing)
    }
}

/// A stream of blob bytes being served.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The client's request body failed (disconnect, malformed chunked encoding).
    #[error("request body: {0}")]
    Body(String),
    /// The body was longer than the declared range.
    #[error("body is longer than the {0} bytes declared")]
    TooLong(u64),
    /// The body ended before the declared length.
    #[error("body has {got} bytes, {expected} were declared")]
    TooShort { expected: u64, got: u64 },
    /// The staging object of an upload session is gone.
    #[error("upload data not found")]
    UploadMissing,
    #[error("blob not found")]
    BlobMissing,
    /// The backing store failed (disk, network): a server-side problem.
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The blob store behind the registry.
#[derive(Debug, Clone)]
pub enum BlobStore {
    Fs(FsStore),
    S3(S3Store),
}

impl BlobStore {
    /// Creates what the store needs (directories) and checks that it is reachable.
    pub async fn init(&self) -> Result<(), StorageError> {
        match self {
            BlobStore::Fs(s) => s.init().await,
            BlobStore::S3(s) => s.init().await,
        }
    }

    /// Checks that the store is reachable (readiness).
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            BlobStore::Fs(s) => s.ping().await,
            BlobStore::S3(s) => s.ping().await,
        }
    }

    /// Short name for logs and readiness output.
    pub fn kind(&self) -> &'static str {
        match self {
            BlobStore::Fs(_) => "filesystem",
            BlobStore::S3(_) => "s3",
        }
    }

    /// Creates the staging area of a new upload; returns the backend state to keep with the
    /// session.
    pub async fn begin_upload(&self, id: &str) -> Result<Option<String>, StorageError> {
        match self {
            BlobStore::Fs(s) => s.begin_upload(id).await.map(|()| None),
            BlobStore::S3(s) => s.begin_upload(id),
        }
    }

    /// Appends `body` to upload `id` (backend `state`, `offset` bytes so far), feeding `hasher`
    /// if given; with `exact_len`, the body must be exactly that long. On any error the upload
    /// is left exactly as it was before the call. Returns the number of bytes appended (durable
    /// when this returns) and the session's new backend state.
    pub async fn append<S, E>(
        &self,
        id: &str,
        state: Option<&str>,
        offset: u64,
        body: S,
        hasher: Option<&mut DigestHasher>,
        exact_len: Option<u64>,
    ) -> Result<(u64, Option<String>), StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        match self {
            BlobStore::Fs(s) => s
                .append(id, offset, body, hasher, exact_len)
                .await
                .map(|n| (n, state.map(str::to_owned))),
            BlobStore::S3(s) => s.append(id, state, offset, body, hasher, exact_len).await,
        }
    }

    /// Frees what the superseded state `old` (at `old_size` bytes) held, once the state after
    /// an append (at `new_size`) is recorded. Best effort.
    pub async fn release(&self, id: &str, old: Option<&str>, old_size: u64, new_size: u64) {
        if let BlobStore::S3(s) = self {
            s.release(id, old, old_size, new_size).await;
        }
    }

    /// Digest of everything uploaded so far, read back from the store (used when the
    /// incremental hash state of a session is not in this process).
    pub async fn digest_upload(
        &self,
        id: &str,
        state: Option<&str>,
        size: u64,
        algorithm: Algorithm,
    ) -> Result<Digest, StorageError> {
        match self {
            BlobStore::Fs(s) => s.digest_upload(id, size, algorithm).await,
            BlobStore::S3(s) => s.digest_upload(id, state, size, algorithm).await,
        }
    }

    /// Makes the verified upload `id` visible as blob `digest` and removes its staging data.
    /// Idempotent: when the blob is stored already and the staging data is gone (a crash after
    /// the commit), it succeeds.
    pub async fn commit_upload(
        &self,
        id: &str,
        state: Option<&str>,
        size: u64,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        match self {
            BlobStore::Fs(s) => s.commit_upload(id, size, digest).await,
            BlobStore::S3(s) => s.commit_upload(id, state, size, digest).await,
        }
    }

    /// Drops the staging data of upload `id` (missing is fine).
    pub async fn abort_upload(&self, id: &str) -> Result<(), StorageError> {
        match self {
            BlobStore::Fs(s) => s.abort_upload(id).await,
            BlobStore::S3(s) => s.abort_upload(id).await,
        }
    }

    /// Upload sessions with staging data last written before `before` (Unix ms), for cleanup
    /// of sessions whose database row is gone or never got written.
    pub async fn stale_staging(&self, before_ms: i64) -> Result<Vec<String>, StorageError> {
        match self {
            BlobStore::Fs(s) => s.stale_staging(before_ms).await,
            BlobStore::S3(s) => s.stale_staging(before_ms).await,
        }
    }

    /// Size of blob `digest` if it is stored.
    pub async fn blob_len(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match self {
            BlobStore::Fs(s) => s.blob_len(digest).await,
            BlobStore::S3(s) => s.blob_len(digest).await,
        }
    }

    /// Streams `len` bytes of blob `digest` from `start`.
    pub async fn read_blob(
        &self,
        digest: &Digest,
        start: u64,
        len: u64,
    ) -> Result<BlobStream, StorageError> {
        match self {
            BlobStore::Fs(s) => s.read_blob(digest, start, len).await,
            BlobStore::S3(s) => s.read_blob(digest, start, len).await,
        }
    }

    /// The file holding blob `digest`, for stores that keep blobs in local files (the gateway
    /// sends it to the socket with `sendfile`); `None` for stores that do not.
    pub async fn open_blob_file(
        &self,
        digest: &Digest,
    ) -> Result<Option<std::fs::File>, StorageError> {
        match self {
            BlobStore::Fs(s) => s.open_blob_file(digest).await.map(Some),
            BlobStore::S3(_) => Ok(None),
        }
    }

    /// Where a client may fetch the blob directly (a presigned S3 URL), if configured.
    pub async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>, StorageError> {
        match self {
            BlobStore::Fs(_) => Ok(None),
            BlobStore::S3(s) => s.redirect_url(digest).await,
        }
    }
}
