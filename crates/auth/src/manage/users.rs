//! User accounts: create (with the personal namespace of the same name), read, change,
//! delete, and passwords. The last enabled system admin can be neither demoted, disabled nor
//! deleted; a user name may not take an existing organization's name.

use berth_core::UserName;
use berth_meta::{MetaError, NewUser, UserPatch, UserRow};

use crate::{password, Auth, Caller, Error, Principal, Result};

/// A new local account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub password: String,
    pub email: Option<String>,
    pub admin: bool,
}

/// Changes to an account; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub admin: Option<bool>,
    pub disabled: Option<bool>,
}

/// Passwords of local accounts: 8 to 256 characters.
pub(crate) fn check_password(p: &str) -> Result<()> {
    if p.chars().count() < 8 || p.len() > 256 {
        return Err(Error::invalid(
            "password",
            "passwords must be 8 to 256 characters long",
        ));
    }
    Ok(())
}

fn self_or_admin(c: &Caller, name: &str) -> Result<()> {
    c.require_known()?;
    match &c.principal {
        p if p.is_admin() => Ok(()),
        Principal::User(u) if u.name == name => Ok(()),
        _ => Err(Error::Forbidden),
    }
}

impl Auth {
    /// Creates a local account (system admins only).
    pub async fn create_user(&self, c: &Caller, new: &NewAccount) -> Result<UserRow> {
        c.require_admin()?;
        let name = UserName::parse(&new.name).map_err(|e| Error::invalid("name", e.to_string()))?;
        check_password(&new.password)?;
        if self.meta.org_by_name(name.as_str()).await?.is_some() {
            return Err(Error::conflict(format!(
                "an organization named {} exists; a user's personal namespace needs that name",
                name.as_str()
            )));
        }
        let hash = password::hash(new.password.clone())
            .await
            .map_err(Error::Internal)?;
        let u = self
            .meta
            .create_user(&NewUser {
                name: name.as_str(),
                email: new.email.as_deref(),
                password_hash: Some(&hash),
                admin: new.admin,
                source: "local",
            })
            .await
            .map_err(|e| match e {
                MetaError::Conflict => Error::conflict(format!("user {} exists", name.as_str())),
                e => e.into(),
            })?;
        self.audit_change(c, "user.create", &format!("user:{}", u.name), None)
            .await;
        Ok(u)
    }

    /// A page of accounts in name order after `after` (system admins only).
    pub async fn list_users(&self, c: &Caller, after: &str, limit: i64) -> Result<Vec<UserRow>> {
        c.require_admin()?;
        Ok(self.meta.list_users(after, limit).await?)
    }

    /// One account: one's own, or any for a system admin.
    pub async fn user(&self, c: &Caller, name: &str) -> Result<UserRow> {
        self_or_admin(c, name)?;
        self.meta
            .user_by_name(name)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    /// Changes an account: anyone their own email, system admins everything.
    pub async fn update_user(
        &self,
        c: &Caller,
        name: &str,
        changes: &UserChanges,
    ) -> Result<UserRow> {
        self_or_admin(c, name)?;
        if (changes.admin.is_some() || changes.disabled.is_some()) && !c.is_admin() {
            return Err(Error::Forbidden);
        }
        let target = self
            .meta
            .user_by_name(name)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let demotes_admin = target.admin
            && !target.disabled
            && (changes.admin == Some(false) || changes.disabled == Some(true));
        if demotes_admin && self.meta.count_admins().await? <= 1 {
            return Err(Error::conflict(
                "the last system admin cannot be demoted or disabled",
            ));
        }
        let patch = UserPatch {
            email: changes.email.clone().map(Some),
            admin: changes.admin,
            disabled: changes.disabled,
        };
        let u = self
            .meta
            .update_user(name, &patch)
            .await?
            .ok_or(Error::NotFound("user"))?;
        self.audit_change(c, "user.update", &format!("user:{}", u.name), None)
            .await;
        Ok(u)
    }

    /// Deletes an account (system admins only; never the last enabled admin).
    pub async fn delete_user(&self, c: &Caller, name: &str) -> Result<()> {
        c.require_admin()?;
        let target = self
            .meta
            .user_by_name(name)
            .await?
            .ok_or(Error::NotFound("user"))?;
        if target.admin && !target.disabled && self.meta.count_admins().await? <= 1 {
            return Err(Error::conflict("the last system admin cannot be deleted"));
        }
        self.meta.delete_user(name).await?;
        self.audit_change(c, "user.delete", &format!("user:{name}"), None)
            .await;
        Ok(())
    }

    /// Sets an account's password: one's own with the old password (admins too), any
    /// account's as a system admin.
    pub async fn set_password(
        &self,
        c: &Caller,
        name: &str,
        new: &str,
        old: Option<&str>,
    ) -> Result<()> {
        self_or_admin(c, name)?;
        check_password(new)?;
        if let Principal::User(u) = &c.principal {
            if u.name == name {
                let old = old.unwrap_or_default().to_owned();
                if !password::verify(u.password_hash.clone(), old).await {
                    return Err(Error::invalid(
                        "old_password",
                        "old_password does not match",
                    ));
                }
            }
        }
        let hash = password::hash(new.to_owned())
            .await
            .map_err(Error::Internal)?;
        if !self.meta.set_password(name, &hash).await? {
            return Err(Error::NotFound("user"));
        }
        self.audit_change(c, "user.password", &format!("user:{name}"), None)
            .await;
        Ok(())
    }
}
