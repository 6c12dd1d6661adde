//! berth-storage: the blob store.
//!
//! Blobs are content-addressed and stored once, however many repositories link them (the links
//! live in `berth-meta`). Uploads stream into a per-session staging object, are hashed as they
//! arrive, are verified against the client's digest, and only then become visible under their
//! digest by an atomic rename (filesystem) — so a crash or a mismatch never leaves a
//! half-written blob where a reader could see it. Nothing here holds a whole blob in memory.
//!
//! Depends on `berth-core` and tokio only. The S3 backend joins [`BlobStore`] as a second
//! variant.

mod fs;

use std::pin::Pin;

use berth_core::{Algorithm, Digest, DigestHasher};
use bytes::Bytes;
use futures_util::Stream;

pub use fs::FsStore;

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
}

impl BlobStore {
    /// Creates what the store needs (directories, bucket checks).
    pub async fn init(&self) -> Result<(), StorageError> {
        match self {
            BlobStore::Fs(s) => s.init().await,
        }
    }

    /// Checks that the store is reachable (readiness).
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            BlobStore::Fs(s) => s.ping().await,
        }
    }

    /// Creates the staging object of a new upload; returns opaque backend state to keep with
    /// the session.
    pub async fn begin_upload(&self, id: &str) -> Result<Option<String>, StorageError> {
        match self {
            BlobStore::Fs(s) => s.begin_upload(id).await.map(|()| None),
        }
    }

    /// Appends `body` to upload `id` at `offset`, feeding `hasher` if given; with `exact_len`, the
    /// body must be exactly that long. On any error the upload is left exactly as it was before the call.
    /// Returns the number of bytes appended; they are durable when this returns.
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
        match self {
            BlobStore::Fs(s) => s.append(id, offset, body, hasher, exact_len).await,
        }
    }

    /// Digest of everything uploaded so far, read back from the staging object (used when the
    /// incremental hash state of a session is not in this process).
    pub async fn digest_upload(
        &self,
        id: &str,
        algorithm: Algorithm,
    ) -> Result<Digest, StorageError> {
        match self {
            BlobStore::Fs(s) => s.digest_upload(id, algorithm).await,
        }
    }

    /// Makes the verified upload `id` visible as blob `digest` and removes the staging object.
    /// Idempotent: when the blob is stored already and the staging object is gone (a crash
    /// after the rename), it succeeds.
    pub async fn commit_upload(&self, id: &str, digest: &Digest) -> Result<(), StorageError> {
        match self {
            BlobStore::Fs(s) => s.commit_upload(id, digest).await,
        }
    }

    /// Drops the staging object of upload `id` (missing is fine).
    pub async fn abort_upload(&self, id: &str) -> Result<(), StorageError> {
        match self {
            BlobStore::Fs(s) => s.abort_upload(id).await,
        }
    }

    /// Staging objects last written before `before` (Unix ms), for cleanup of sessions whose
    /// database row never got written.
    pub async fn stale_staging(&self, before_ms: i64) -> Result<Vec<String>, StorageError> {
        match self {
            BlobStore::Fs(s) => s.stale_staging(before_ms).await,
        }
    }

    /// Size of blob `digest` if it is stored.
    pub async fn blob_len(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match self {
            BlobStore::Fs(s) => s.blob_len(digest).await,
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
        }
    }
}
