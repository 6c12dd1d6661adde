//! Blob links: whether a blob is linked into a repository (and its size), and mounting a blob
//! linked into one repository into another without moving bytes. Reading the bytes is the
//! store's job and left to the caller, which shapes them (ranges, redirects, `sendfile`);
//! only small documents (an image's config) are read whole here, up to a stated limit.

use berth_core::{Digest, RepoName};
use futures_util::StreamExt;

use super::{Error, Service};

impl Service {
    /// Size of blob `digest` if it is linked into `repo`; [`Error::BlobUnknown`] otherwise.
    /// Reading a blob goes through this check: a digest alone never reads another
    /// repository's bytes.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64, Error> {
        let d = digest.to_string();
        match self.meta.blob_in_repo(repo.as_str(), &d).await? {
            Some(size) => Ok(size.max(0) as u64),
            None => Err(Error::BlobUnknown {
                repo: repo.to_string(),
                digest: d,
            }),
        }
    }

    /// Links blob `digest` of `from` into `repo`; false (nothing changed) when `from` does
    /// not hold it. Whether the caller may read `from` is decided before.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: &RepoName,
    ) -> Result<bool, Error> {
        let d = digest.to_string();
        let Some(size) = self.meta.blob_in_repo(from.as_str(), &d).await? else {
            return Ok(false);
        };
        self.meta.link_blob(repo.as_str(), &d, size).await?;
        Ok(true)
    }

    /// The bytes of blob `digest` of `repo` when it holds at most `max` bytes (a config
    /// document, not a layer); `None` when it is larger. [`Error::BlobUnknown`] when `repo`
    /// does not hold it.
    pub async fn small_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        max: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let size = self.blob_size(repo, digest).await?;
        if size > max {
            return Ok(None);
        }
        let mut stream = self.store.read_blob(digest, 0, size).await?;
        let mut bytes = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(berth_storage::StorageError::Io)?;
            if bytes.len() + chunk.len() > max as usize {
                return Ok(None);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }
}
