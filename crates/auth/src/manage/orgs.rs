//! Organizations: create, list (what the caller may see), read, change, delete — and
//! [`Auth::org_access`], the one rule for who may see and manage an org. A user's personal
//! namespace is an org of the user's name, so an org may not take a user's name; an org that
//! still holds repositories is not deleted, unless its admin asks for its repositories to go
//! first.

use berth_content::Service as Content;
use berth_core::{Permission, RepoName, UserName};
use berth_meta::{MetaError, OrgRow};

use crate::{Auth, Caller, Error, Principal, Result};

/// An org with what its page shows.
#[derive(Debug, Clone)]
pub struct OrgDetails {
    pub org: OrgRow,
    pub repository_count: i64,
}

/// Changes to an org; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct OrgChanges {
    pub public: Option<bool>,
    /// The new description (empty: none).
    pub description: Option<String>,
}

/// Longest org description accepted.
pub const MAX_ORG_DESCRIPTION_BYTES: usize = 4096;

impl Auth {
    /// The org `name` if the caller holds `perm` in it. An org the caller cannot see is
    /// [`Error::NotFound`], as if it did not exist; anyone may read a public org.
    pub async fn org_access(&self, c: &Caller, name: &str, perm: Permission) -> Result<OrgRow> {
        let row = self
            .meta
            .org_by_name(name)
            .await?
            .ok_or(Error::NotFound("organization"))?;
        if c.is_admin() {
            return Ok(row);
        }
        let role = match &c.principal {
            Principal::User(u) => self.role_in(row.id, u.id).await?,
            _ => None,
        };
        if !(row.public || role.is_some()) {
            return Err(Error::NotFound("organization"));
        }
        let allowed = match role {
            Some(r) => r.can(perm),
            None => perm == Permission::ReadOrg && row.public,
        };
        match (allowed, &c.principal) {
            (true, _) => Ok(row),
            // Anonymous callers are asked to sign in rather than refused.
            (false, Principal::Anonymous) => Err(Error::BadCredentials),
            (false, _) => Err(Error::Forbidden),
        }
    }

    /// Creates an org owned by the calling user, who becomes its admin.
    pub async fn create_org(&self, c: &Caller, name: &str, public: bool) -> Result<OrgRow> {
        c.require_known()?;
        let Principal::User(u) = &c.principal else {
            return Err(Error::Forbidden);
        };
        let name = UserName::parse(name).map_err(|e| Error::invalid("name", e.to_string()))?;
        if self.meta.user_by_name(name.as_str()).await?.is_some() {
            return Err(Error::conflict(format!(
                "{} is a user's personal namespace",
                name.as_str()
            )));
        }
        let org = self
            .meta
            .create_org(name.as_str(), public, Some(u.id))
            .await
            .map_err(|e| match e {
                MetaError::Conflict => {
                    Error::conflict(format!("organization {} exists", name.as_str()))
                }
                e => e.into(),
            })?;
        self.audit_change(
            c,
            "org.create",
            &format!("org:{}", org.name),
            Some(&org.name),
        )
        .await;
        Ok(org)
    }

    /// A page of the orgs the caller may see (all for a system admin, public ones and the
    /// caller's for a user, public ones for anonymous callers) whose name contains `search`
    /// (empty: all).
    pub async fn list_orgs(
        &self,
        c: &Caller,
        after: &str,
        limit: i64,
        search: &str,
    ) -> Result<Vec<OrgRow>> {
        let visible_to = match &c.principal {
            p if p.is_admin() => None,
            Principal::User(u) => Some(u.id),
            _ => Some(-1),
        };
        Ok(self
            .meta
            .list_orgs(after, limit, visible_to, search)
            .await?)
    }

    pub async fn org(&self, c: &Caller, name: &str) -> Result<OrgDetails> {
        let org = self.org_access(c, name, Permission::ReadOrg).await?;
        let repository_count = self.meta.org_repo_count(&org.name).await?;
        Ok(OrgDetails {
            org,
            repository_count,
        })
    }

    pub async fn update_org(&self, c: &Caller, name: &str, changes: &OrgChanges) -> Result<OrgRow> {
        c.require_known()?;
        let row = self.org_access(c, name, Permission::ManageOrg).await?;
        if let Some(d) = &changes.description {
            if d.len() > MAX_ORG_DESCRIPTION_BYTES {
                return Err(Error::invalid(
                    "description",
                    format!("a description holds at most {MAX_ORG_DESCRIPTION_BYTES} bytes"),
                ));
            }
        }
        let row = self
            .meta
            .update_org(
                &row.name,
                changes.public.unwrap_or(row.public),
                changes.description.as_deref(),
            )
            .await?
            .ok_or(Error::NotFound("organization"))?;
        self.audit_change(
            c,
            "org.update",
            &format!("org:{}", row.name),
            Some(&row.name),
        )
        .await;
        Ok(row)
    }

    /// Deletes an org and, first, every repository it holds, each through the registry's own
    /// delete (refused while deletes are disabled) and audited; for an org admin who confirmed
    /// that the repositories go too.
    pub async fn delete_org_and_repositories(
        &self,
        c: &Caller,
        name: &str,
        content: &Content,
    ) -> Result<()> {
        c.require_known()?;
        let row = self.org_access(c, name, Permission::ManageOrg).await?;
        loop {
            // Always the first page: what is deleted leaves it.
            let page = self.meta.org_repos(&row.name, "", 100, "").await?;
            if page.is_empty() {
                break;
            }
            for repo in page {
                let repo_name = RepoName::parse(&repo.name)
                    .map_err(|e| Error::Internal(format!("stored name {}: {e}", repo.name)))?;
                content.delete_repository(&repo_name).await?;
                self.audit_change(c, "repository.delete", &repo.name, Some(&row.name))
                    .await;
            }
        }
        self.delete_org(c, &row.name).await
    }

    /// Deletes an org that holds no repository.
    pub async fn delete_org(&self, c: &Caller, name: &str) -> Result<()> {
        c.require_known()?;
        let row = self.org_access(c, name, Permission::ManageOrg).await?;
        if self.meta.org_repo_count(&row.name).await? > 0 {
            return Err(Error::conflict(
                "the organization still has repositories; delete them first",
            ));
        }
        self.meta.delete_org(&row.name).await?;
        self.audit_change(
            c,
            "org.delete",
            &format!("org:{}", row.name),
            Some(&row.name),
        )
        .await;
        Ok(())
    }
}
