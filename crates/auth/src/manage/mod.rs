//! The management use-cases: users, groups, orgs, members, robots, repositories, the audit
//! log and the directory's search and test. Every call takes the [`Caller`](crate::Caller), decides with the access rules, applies
//! the rules of the domain (the last admin stays, user and org names do not clash, an org
//! holding repositories is not deleted, robot rules are valid), writes, and audits the change.
//! The `/api/v1` edge and the UI call these; neither talks to the metadata store itself.

mod audit_log;
mod dashboard;
mod directory;
mod groups;
mod members;
mod orgs;
mod personal_tokens;
mod repos;
mod robots;
mod system;
mod users;

pub use audit_log::AuditFilter;
pub use dashboard::{Dashboard, DASHBOARD_DAYS, DASHBOARD_ORGS};
pub use directory::{DirectoryTest, MAX_DIRECTORY_HITS};
pub use members::Member;
pub use orgs::{OrgChanges, OrgDetails};
pub use personal_tokens::{is_personal_token, MAX_PERSONAL_TOKENS, PERSONAL_TOKEN_PREFIX};
pub use repos::RepoItem;
pub use robots::{NewRobotSpec, RobotCreated};
pub use system::SystemInfo;
pub use users::{NewAccount, UserChanges};

use crate::{Auth, Caller};

impl Auth {
    /// Audits a successful change by `c`.
    async fn audit_change(&self, c: &Caller, action: &str, resource: &str, org: Option<&str>) {
        self.audit(&c.principal, action, resource, org, c.source, "ok")
            .await;
    }
}

#[cfg(test)]
mod tests;
