//! A signed-in user's dashboard: the organizations they see (a first page), the storage each
//! of those uses, the latest pushes into them and pushes per day over the last days. A system
//! admin's counts cover every organization. Nothing here reads more than one page of a table.

use berth_meta::{AuditEvent, OrgRow};

use crate::{now_ms, Auth, Caller, Result};

/// What the dashboard shows.
#[derive(Debug, Clone, Default)]
pub struct Dashboard {
    pub orgs: Vec<OrgRow>,
    /// More orgs exist than `orgs` holds.
    pub more_orgs: bool,
    /// Bytes per org of `orgs`, in the same order.
    pub storage: Vec<i64>,
    /// The latest pushes, newest first.
    pub recent_pushes: Vec<AuditEvent>,
    /// Pushes per UTC day (day number since the epoch), oldest first, one entry per day of
    /// the window (zero included).
    pub pushes_per_day: Vec<(i64, i64)>,
}

/// Orgs on a dashboard.
pub const DASHBOARD_ORGS: i64 = 20;
/// Days of the pushes chart.
pub const DASHBOARD_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

impl Auth {
    /// The dashboard of the caller (a known account).
    pub async fn dashboard(&self, c: &Caller) -> Result<Dashboard> {
        c.require_known()?;
        let mut orgs = self.list_orgs(c, "", DASHBOARD_ORGS + 1, "").await?;
        let more_orgs = orgs.len() as i64 > DASHBOARD_ORGS;
        orgs.truncate(DASHBOARD_ORGS as usize);
        let mut storage = Vec::with_capacity(orgs.len());
        for o in &orgs {
            storage.push(self.meta.org_storage(&o.name).await?);
        }
        // A system admin's activity covers every org; a user's, the orgs on the dashboard.
        let names: Vec<String> = orgs.iter().map(|o| o.name.clone()).collect();
        let scope = (!c.is_admin()).then_some(names.as_slice());
        let recent_pushes = self.meta.recent_events(scope, "push", 10).await?;
        let today = now_ms().div_euclid(DAY_MS);
        let first = today - (DASHBOARD_DAYS - 1);
        let counts = self
            .meta
            .events_per_day(scope, "push", first * DAY_MS)
            .await?;
        let pushes_per_day = (first..=today)
            .map(|d| {
                let n = counts.iter().find(|(day, _)| *day == d).map_or(0, |c| c.1);
                (d, n)
            })
            .collect();
        Ok(Dashboard {
            orgs,
            more_orgs,
            storage,
            recent_pushes,
            pushes_per_day,
        })
    }
}
