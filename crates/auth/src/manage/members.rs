//! An org's members: users and groups, each with one of the five roles. Groups named as
//! members are created on first use; with a directory configured, a name (or DN) the
//! directory knows as a group makes a mirrored group, so a directory group can be given a role
//! before anyone of it has signed in.

use berth_core::{MemberKind, Permission, Role};

use super::groups::check_group_name;
use crate::{Auth, Caller, Error, Result};

/// One member as set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub kind: MemberKind,
    pub name: String,
    pub role: Role,
}

impl Auth {
    pub async fn list_members(&self, c: &Caller, org: &str) -> Result<Vec<berth_meta::MemberRow>> {
        c.require_known()?;
        let row = self.org_access(c, org, Permission::ReadMembers).await?;
        Ok(self.meta.list_members(row.id).await?)
    }

    /// The id of member `name` of `kind` (groups are created on first use when `create`).
    async fn member_id(&self, kind: MemberKind, name: &str, create: bool) -> Result<i64> {
        match kind {
            MemberKind::User => Ok(self
                .meta
                .user_by_name(name)
                .await?
                .ok_or(Error::NotFound("user"))?
                .id),
            MemberKind::Group => {
                check_group_name(name)?;
                if let Some(g) = self.meta.group_by_name(name).await? {
                    return Ok(g.id);
                }
                if let Some(dir) = self.directory.clone() {
                    // A directory group, by DN or by its name: mirrored under the directory's
                    // name, so its members' logins fill it.
                    if let Some(g) = dir.find_group(name).await.map_err(|e| Error::Unavailable {
                        what: "directory",
                        cause: e.to_string(),
                    })? {
                        if let Some(m) = self.meta.group_by_external_dn(&g.dn).await? {
                            return Ok(m.id);
                        }
                        if !create {
                            return Err(Error::NotFound("group"));
                        }
                        let m = self.meta.ensure_group(&g.name, Some(&g.dn)).await?;
                        if m.external_dn.as_deref().map(berth_directory::normalize_dn)
                            != Some(berth_directory::normalize_dn(&g.dn))
                        {
                            return Err(Error::conflict(format!(
                                "a local group named {} exists; the directory group {} cannot take its name",
                                g.name, g.dn
                            )));
                        }
                        return Ok(m.id);
                    }
                }
                if create {
                    Ok(self.meta.ensure_group(name, None).await?.id)
                } else {
                    Ok(self
                        .meta
                        .group_by_name(name)
                        .await?
                        .ok_or(Error::NotFound("group"))?
                        .id)
                }
            }
        }
    }

    /// Gives `member` its role in `org` (adding it, or changing its role).
    pub async fn set_member(&self, c: &Caller, org: &str, member: &Member) -> Result<()> {
        c.require_known()?;
        let row = self.org_access(c, org, Permission::ManageMembers).await?;
        let id = self.member_id(member.kind, &member.name, true).await?;
        self.meta
            .set_member(row.id, member.kind.as_str(), id, member.role.as_str())
            .await?;
        self.audit_change(
            c,
            "org.member.set",
            &format!("{}:{}={}", member.kind, member.name, member.role),
            Some(&row.name),
        )
        .await;
        Ok(())
    }

    pub async fn remove_member(
        &self,
        c: &Caller,
        org: &str,
        kind: MemberKind,
        name: &str,
    ) -> Result<()> {
        c.require_known()?;
        let row = self.org_access(c, org, Permission::ManageMembers).await?;
        let id = self.member_id(kind, name, false).await?;
        if !self.meta.remove_member(row.id, kind.as_str(), id).await? {
            return Err(Error::NotFound("member"));
        }
        self.audit_change(
            c,
            "org.member.remove",
            &format!("{kind}:{name}"),
            Some(&row.name),
        )
        .await;
        Ok(())
    }
}
