//! Reading the audit log: an org's events for those who may read its logs, everything for
//! system admins; newest first, paged by event id.

use berth_core::Permission;
use berth_meta::{AuditEvent, AuditQuery};

use crate::{Auth, Caller, Result};

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub org: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Only events with an id below this one.
    pub before: Option<i64>,
    /// Only events at or after this time (ms since the epoch), and before `until`.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: i64,
}

impl Auth {
    pub async fn audit_log(&self, c: &Caller, f: &AuditFilter) -> Result<Vec<AuditEvent>> {
        c.require_known()?;
        match &f.org {
            Some(org) => {
                self.org_access(c, org, Permission::ReadLogs).await?;
            }
            None => c.require_admin()?,
        }
        Ok(self
            .meta
            .list_audit(&AuditQuery {
                org: f.org.clone(),
                actor: f.actor.clone(),
                action: f.action.clone(),
                before: f.before,
                since: f.since,
                until: f.until,
                limit: f.limit,
            })
            .await?)
    }
}
