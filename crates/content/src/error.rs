//! [`Error`]: what a registry use-case can fail with, in domain terms. The `/v2` edge turns it
//! into an OCI error response in one place; `berth-auth` into its own error; other callers
//! match on it.

use berth_core::{Digest, NameError};
use berth_meta::MetaError;
use berth_storage::StorageError;

/// A failed registry use-case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("repository {repo} is not known")]
    RepoUnknown { repo: String },
    #[error("manifest {reference} is not in {repo}")]
    ManifestUnknown { repo: String, reference: String },
    /// The manifest (and, for an index, the default platform's child) has a media type the
    /// caller does not accept.
    #[error("the manifest is {media_type}, which the caller does not accept")]
    NotAcceptable { media_type: String },
    #[error("blob {digest} is not in {repo}")]
    BlobUnknown { repo: String, digest: String },
    #[error("upload {id} is unknown or has expired")]
    UploadUnknown { id: String },
    /// Another request of this process is using the session.
    #[error("upload {id} is busy with another request")]
    UploadBusy { id: String },
    /// Another replica moved the session meanwhile; this call's bytes were not taken.
    #[error("upload was modified concurrently")]
    UploadMoved,
    /// A chunk that does not start where the session stands.
    #[error("chunk starts at {start}, but the upload holds {size} bytes")]
    OutOfOrder {
        repo: String,
        id: String,
        size: u64,
        start: u64,
    },
    /// Uploaded bytes whose digest is not the one expected; nothing was made visible.
    #[error("content digest is {computed}, not {expected}")]
    DigestMismatch { computed: Digest, expected: Digest },
    /// A manifest put by digest whose bytes have another digest.
    #[error("manifest digest is {computed}, not {expected}")]
    ManifestDigestMismatch { computed: Digest, expected: Digest },
    #[error("invalid manifest: {0}")]
    ManifestInvalid(String),
    #[error("manifest is larger than the {max}-byte limit")]
    ManifestTooLarge { max: usize },
    /// Blobs or child manifests a manifest refers to that are not in the repository.
    #[error("{} referenced digests are not in {repo}", digests.len())]
    ReferencesMissing { repo: String, digests: Vec<String> },
    #[error("deletes are disabled on this registry")]
    DeletesDisabled,
    /// An invalid tag (or other name) given to a use-case.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Stored data that should be valid is not (a bug or a damaged database).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
