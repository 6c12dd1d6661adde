//! Repositories as the management API and the UI see them: lists per org, a summary, its tags
//! and manifests, its description, and deletes of the repository, a tag or a manifest. A delete
//! is the registry's own (`berth_content`), the one `/v2` runs too, after this crate's access
//! rule; only metadata changes, garbage collection reclaims the bytes.

use berth_content::Service as Content;
use berth_core::{Digest, Permission, RepoName, Tag};
use berth_meta::{ManifestSummary, RepoSummary, TagRow};

use crate::{Auth, Caller, Error, Result};

/// What a delete removes.
#[derive(Debug, Clone)]
pub enum RepoItem {
    /// The repository, its tags and manifests.
    Repository,
    /// One tag (the manifest stays).
    Tag(Tag),
    /// One manifest and every tag on it.
    Manifest(Digest),
}

/// Longest repository description accepted.
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;

impl Auth {
    /// A page of `org`'s repositories (anyone who may read the org) whose path inside the org
    /// contains `search` (empty: all).
    pub async fn repositories(
        &self,
        c: &Caller,
        org: &str,
        after: &str,
        limit: i64,
        search: &str,
    ) -> Result<Vec<RepoSummary>> {
        let row = self.org_access(c, org, Permission::ReadOrg).await?;
        Ok(self.meta.org_repos(&row.name, after, limit, search).await?)
    }

    pub async fn repository(&self, c: &Caller, name: &RepoName) -> Result<RepoSummary> {
        self.org_access(c, name.org(), Permission::ReadOrg).await?;
        self.meta
            .repo_summary(name.as_str())
            .await?
            .ok_or(Error::NotFound("repository"))
    }

    /// A page of the repository's tags with their manifests: up to `limit` after `after`.
    pub async fn repository_tags(
        &self,
        c: &Caller,
        name: &RepoName,
        after: &str,
        limit: i64,
    ) -> Result<Vec<TagRow>> {
        self.repository(c, name).await?;
        Ok(self.meta.tag_rows(name.as_str(), after, limit).await?)
    }

    /// A page of the repository's manifests, newest first (after the digest `after`).
    pub async fn repository_manifests(
        &self,
        c: &Caller,
        name: &RepoName,
        after: &str,
        limit: i64,
    ) -> Result<Vec<ManifestSummary>> {
        self.repository(c, name).await?;
        Ok(self.meta.manifest_rows(name.as_str(), after, limit).await?)
    }

    /// Creates an empty repository before its first push (Docker Hub's flow; those who may
    /// push in the org). Its visibility is the org's.
    pub async fn create_repository(
        &self,
        c: &Caller,
        name: &RepoName,
        description: Option<&str>,
    ) -> Result<RepoSummary> {
        c.require_known()?;
        if !name.as_str().contains('/') {
            return Err(Error::invalid(
                "name",
                "a repository is named <org>/<path>; give the path inside the org",
            ));
        }
        self.org_access(c, name.org(), Permission::Push).await?;
        let description = description.map(str::trim).filter(|d| !d.is_empty());
        if description.is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES) {
            return Err(Error::invalid(
                "description",
                "description is longer than 64 KiB",
            ));
        }
        if !self.meta.create_repo(name.as_str(), description).await? {
            return Err(Error::conflict(format!("repository {name} exists")));
        }
        self.audit_change(c, "repository.create", name.as_str(), Some(name.org()))
            .await;
        self.meta
            .repo_summary(name.as_str())
            .await?
            .ok_or(Error::NotFound("repository"))
    }

    /// Sets the repository's description (those who may delete in the org).
    pub async fn describe_repository(
        &self,
        c: &Caller,
        name: &RepoName,
        description: Option<&str>,
    ) -> Result<RepoSummary> {
        c.require_known()?;
        self.org_access(c, name.org(), Permission::Delete).await?;
        if let Some(d) = description {
            if d.len() > MAX_DESCRIPTION_BYTES {
                return Err(Error::invalid(
                    "description",
                    "description is longer than 64 KiB",
                ));
            }
            if !self.meta.set_repo_description(name.as_str(), d).await? {
                return Err(Error::NotFound("repository"));
            }
        }
        let repo = self
            .meta
            .repo_summary(name.as_str())
            .await?
            .ok_or(Error::NotFound("repository"))?;
        self.audit_change(c, "repository.update", name.as_str(), Some(name.org()))
            .await;
        Ok(repo)
    }

    /// Deletes the repository, a tag or a manifest (those who may delete in the org) with
    /// `content`'s delete, which refuses while the registry's deletes are disabled.
    pub async fn delete_repository_item(
        &self,
        c: &Caller,
        content: &Content,
        name: &RepoName,
        item: &RepoItem,
    ) -> Result<()> {
        c.require_known()?;
        self.org_access(c, name.org(), Permission::Delete).await?;
        let (action, resource) = match item {
            RepoItem::Repository => {
                content.delete_repository(name).await?;
                ("repository.delete", name.to_string())
            }
            RepoItem::Tag(tag) => {
                content.delete_tag(name, tag).await?;
                ("delete", format!("{name}:{tag}"))
            }
            RepoItem::Manifest(d) => {
                content.delete_manifest(name, d).await?;
                ("delete", format!("{name}@{d}"))
            }
        };
        self.audit_change(c, action, &resource, Some(name.org()))
            .await;
        Ok(())
    }
}
