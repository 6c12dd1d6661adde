//! Local groups of users (system admins only). A group can be an org member, so its users
//! hold the role it is given; directory groups arrive with the directory.

use berth_meta::GroupRow;

use crate::{Auth, Caller, Error, Result};

/// Group names: 1 to 256 characters, no `/` (they appear in paths) and no control characters.
pub(crate) fn check_group_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(Error::invalid(
            "name",
            "group names are 1 to 256 characters, without / or control characters",
        ));
    }
    Ok(())
}

impl Auth {
    pub async fn create_group(&self, c: &Caller, name: &str) -> Result<GroupRow> {
        c.require_admin()?;
        check_group_name(name)?;
        if self.meta.group_by_name(name).await?.is_some() {
            return Err(Error::conflict(format!("group {name} exists")));
        }
        let g = self.meta.ensure_group(name, None).await?;
        self.audit_change(c, "group.create", &format!("group:{}", g.name), None)
            .await;
        Ok(g)
    }

    /// A page of groups by name (after `after`, at most `limit`), each with the names of its
    /// members.
    pub async fn list_groups(
        &self,
        c: &Caller,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(GroupRow, Vec<String>)>> {
        c.require_admin()?;
        Ok(self.meta.list_groups(after, limit).await?)
    }

    async fn group_and_user(&self, group: &str, user: &str) -> Result<(i64, i64)> {
        let g = self
            .meta
            .group_by_name(group)
            .await?
            .ok_or(Error::NotFound("group"))?;
        let u = self
            .meta
            .user_by_name(user)
            .await?
            .ok_or(Error::NotFound("user"))?;
        Ok((g.id, u.id))
    }

    pub async fn add_group_member(&self, c: &Caller, group: &str, user: &str) -> Result<()> {
        c.require_admin()?;
        let (g, u) = self.group_and_user(group, user).await?;
        self.meta.set_group_memberships(u, &[g], false).await?;
        self.audit_change(
            c,
            "group.member.add",
            &format!("group:{group}+user:{user}"),
            None,
        )
        .await;
        Ok(())
    }

    pub async fn remove_group_member(&self, c: &Caller, group: &str, user: &str) -> Result<()> {
        c.require_admin()?;
        let (g, u) = self.group_and_user(group, user).await?;
        if !self.meta.remove_group_member(g, u).await? {
            return Err(Error::NotFound("group member"));
        }
        self.audit_change(
            c,
            "group.member.remove",
            &format!("group:{group}+user:{user}"),
            None,
        )
        .await;
        Ok(())
    }
}
