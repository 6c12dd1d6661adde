//! Ingest: a whole blob as one stream of bytes, stored into a repository against the digest
//! the caller expects. The bytes are staged, hashed as they arrive, verified, committed under
//! their digest and linked into the repository; nothing becomes visible unless the digest
//! matches, and a failure leaves no staging data behind. The `/v2` single-request upload
//! (`POST …/blobs/uploads/?digest=` with a body) is this; so will be a proxy cache filling
//! itself from an upstream, or replication pulling a blob.

use berth_core::{Digest, RepoName};
use bytes::Bytes;
use futures_util::Stream;

use super::{Error, Service};

impl Service {
    /// Stores `body` as blob `digest` of `repo`. With `exact_len`, the body must be exactly
    /// that long. Returns the blob's size.
    pub async fn ingest<S, E>(
        &self,
        repo: &RepoName,
        digest: &Digest,
        body: S,
        exact_len: Option<u64>,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let id = uuid::Uuid::new_v4().to_string();
        let state = self.store.begin_upload(&id).await?;
        let mut hasher = digest.algorithm().hasher();
        let result = async {
            let (size, state) = self
                .store
                .append(&id, state.as_deref(), 0, body, Some(&mut hasher), exact_len)
                .await?;
            check_digest(hasher.finish(), digest)?;
            self.store
                .commit_upload(&id, state.as_deref(), size, digest)
                .await?;
            self.meta
                .link_blob(repo.as_str(), &digest.to_string(), size as i64)
                .await?;
            Ok(size)
        }
        .await;
        if result.is_err() {
            let _ = self.store.abort_upload(&id).await;
        }
        result
    }
}

/// `Ok` when the bytes' digest is the one expected.
pub(super) fn check_digest(computed: Digest, expected: &Digest) -> Result<(), Error> {
    if &computed == expected {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            computed,
            expected: expected.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::Algorithm;

    #[test]
    fn digests_must_match() {
        let a = Digest::of(Algorithm::Sha256, b"a");
        let b = Digest::of(Algorithm::Sha256, b"b");
        assert!(check_digest(a.clone(), &a).is_ok());
        match check_digest(a.clone(), &b) {
            Err(Error::DigestMismatch { computed, expected }) => {
                assert_eq!((computed, expected), (a, b));
            }
            other => panic!("{other:?}"),
        }
    }
}
