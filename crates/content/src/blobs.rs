//! Blob links: whether a blob is linked into a repository (and its size), and mounting a blob
//! linked into one repository into another without moving bytes. Reading the bytes is the
//! store's job and left to the caller, which shapes them (ranges, redirects, `sendfile`).

use berth_core::{Digest, RepoName};

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
}
