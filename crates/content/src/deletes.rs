//! Deletes: a tag, a manifest (with every tag on it), a blob's link into a repository, a whole
//! repository. Only metadata goes; bytes no longer linked anywhere are reclaimed by garbage
//! collection. Every delete is refused while the registry's deletes are disabled.

use berth_core::{Digest, RepoName, Tag};

use super::{Error, Service};

impl Service {
    /// [`Error::DeletesDisabled`] unless the registry allows deletes. Every delete checks it
    /// first; a caller may check it before parsing what to delete.
    pub fn deletes_allowed(&self) -> Result<(), Error> {
        if self.config.delete_enabled {
            Ok(())
        } else {
            Err(Error::DeletesDisabled)
        }
    }

    /// Removes tag `tag` of `repo` (the manifest stays).
    pub async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<(), Error> {
        self.deletes_allowed()?;
        if self.meta.delete_tag(repo.as_str(), tag.as_str()).await? {
            Ok(())
        } else {
            Err(self.not_found(repo, tag.as_str()).await)
        }
    }

    /// Removes manifest `digest` of `repo` and every tag pointing at it.
    pub async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<(), Error> {
        self.deletes_allowed()?;
        let d = digest.to_string();
        if self.meta.delete_manifest(repo.as_str(), &d).await? {
            Ok(())
        } else {
            Err(self.not_found(repo, &d).await)
        }
    }

    /// Unlinks blob `digest` from `repo`.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<(), Error> {
        self.deletes_allowed()?;
        let d = digest.to_string();
        if self.meta.unlink_blob(repo.as_str(), &d).await? {
            Ok(())
        } else {
            Err(Error::BlobUnknown {
                repo: repo.to_string(),
                digest: d,
            })
        }
    }

    /// Removes `repo` with its tags, manifests and blob links.
    pub async fn delete_repository(&self, repo: &RepoName) -> Result<(), Error> {
        self.deletes_allowed()?;
        if self.meta.delete_repo(repo.as_str()).await? {
            Ok(())
        } else {
            Err(Error::RepoUnknown {
                repo: repo.to_string(),
            })
        }
    }
}
