//! Robot accounts of an org: named `<org>+<name>`, holding explicit pull/push/delete rules on
//! repository patterns of their org and an optional expiry; the secret is generated, shown
//! once and kept only as a hash.

use berth_core::{Permission, RobotRule, UserName};
use berth_meta::{MetaError, NewRobot, RobotRow};

use crate::{new_secret, secret_hash, Auth, Caller, Error, Result};

/// A robot to create.
#[derive(Debug, Clone)]
pub struct NewRobotSpec {
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<RobotRule>,
    /// Expiry in ms since the epoch; `None`: never.
    pub expires_at: Option<i64>,
}

/// A created robot and its secret (shown once).
#[derive(Debug, Clone)]
pub struct RobotCreated {
    pub robot: RobotRow,
    pub secret: String,
}

impl Auth {
    pub async fn create_robot(
        &self,
        c: &Caller,
        org: &str,
        spec: &NewRobotSpec,
    ) -> Result<RobotCreated> {
        c.require_known()?;
        let row = self.org_access(c, org, Permission::ManageRobots).await?;
        let name =
            UserName::parse(&spec.name).map_err(|e| Error::invalid("name", e.to_string()))?;
        if spec.permissions.is_empty() || spec.permissions.iter().any(|r| r.actions.is_empty()) {
            return Err(Error::invalid(
                "permissions",
                "permissions must list at least one {repositories, actions} with an action",
            ));
        }
        let secret = new_secret("");
        let rules = serde_json::to_string(&spec.permissions)
            .map_err(|e| Error::invalid("permissions", e.to_string()))?;
        let created_by = c.principal.actor();
        let robot = self
            .meta
            .create_robot(&NewRobot {
                org: &row.name,
                name: name.as_str(),
                description: spec.description.as_deref(),
                secret_hash: &secret_hash(&secret),
                rules: &rules,
                expires_at: spec.expires_at,
                created_by: Some(&created_by),
            })
            .await
            .map_err(|e| match e {
                MetaError::Conflict => Error::conflict(format!("robot {} exists", name.as_str())),
                e => e.into(),
            })?
            .ok_or(Error::NotFound("organization"))?;
        self.audit_change(
            c,
            "robot.create",
            &format!("robot:{}+{}", robot.org, robot.name),
            Some(&row.name),
        )
        .await;
        Ok(RobotCreated { robot, secret })
    }

    pub async fn list_robots(&self, c: &Caller, org: &str) -> Result<Vec<RobotRow>> {
        c.require_known()?;
        let row = self.org_access(c, org, Permission::ReadRobots).await?;
        Ok(self.meta.list_robots(&row.name).await?)
    }

    /// Deletes robot `name` (or `<org>+<name>`) of `org`.
    pub async fn delete_robot(&self, c: &Caller, org: &str, name: &str) -> Result<()> {
        c.require_known()?;
        let row = self.org_access(c, org, Permission::ManageRobots).await?;
        let short = name
            .strip_prefix(&format!("{}+", row.name))
            .unwrap_or(name)
            .to_owned();
        if !self.meta.delete_robot(&row.name, &short).await? {
            return Err(Error::NotFound("robot"));
        }
        self.audit_change(
            c,
            "robot.delete",
            &format!("robot:{}+{short}", row.name),
            Some(&row.name),
        )
        .await;
        Ok(())
    }
}
