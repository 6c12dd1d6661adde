//! The audit log: who did what, when, from where, and whether it worked.

use sqlx::Row;

use crate::db::placeholders;
use crate::{Meta, MetaError};

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEvent {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// `user:<name>`, `robot:<org>+<name>` or `anonymous`.
    pub actor: String,
    /// What happened, e.g. `login`, `push`, `delete`, `user.create`, `org.member.set`.
    pub action: String,
    /// What it happened to, e.g. `org/app:latest`, `user:bob`.
    pub resource: String,
    /// The org concerned, for org-scoped views of the log.
    pub org: Option<String>,
    /// The client address.
    pub source: Option<String>,
    /// `ok` or `denied` / `failed`.
    pub outcome: String,
    /// Extra facts as JSON text.
    pub detail: Option<String>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this org's events.
    pub org: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Only events with an id below this one (pagination, newest first).
    pub before: Option<i64>,
    /// Only events at or after this time (ms since the epoch)…
    pub since: Option<i64>,
    /// …and before this one.
    pub until: Option<i64>,
    pub limit: i64,
}

impl Meta {
    pub async fn record_audit(&self, e: &AuditEvent) -> Result<(), MetaError> {
        self.timed(async move {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, action, resource, org, source, outcome, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(e.at)
            .bind(text(&e.actor))
            .bind(&e.action)
            .bind(text(&e.resource))
            .bind(&e.org)
            .bind(&e.source)
            .bind(&e.outcome)
            .bind(e.detail.as_deref().map(text))
            .execute(&self.write)
            .await?;
            Ok(())
        })
        .await
    }

    /// Events matching `q`, newest first.
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(
                "SELECT id, at, actor, action, resource, org, source, outcome, detail FROM audit_events \
                 WHERE ($1 IS NULL OR org = $1) AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR action = $3) \
                 AND id < $4 AND at >= $6 AND at < $7 ORDER BY id DESC LIMIT $5",
            )
            .bind(&q.org)
            .bind(&q.actor)
            .bind(&q.action)
            .bind(q.before.unwrap_or(i64::MAX))
            .bind(q.limit)
            .bind(q.since.unwrap_or(i64::MIN))
            .bind(q.until.unwrap_or(i64::MAX))
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(AuditEvent {
                        id: r.try_get(0)?,
                        at: r.try_get(1)?,
                        actor: r.try_get(2)?,
                        action: r.try_get(3)?,
                        resource: r.try_get(4)?,
                        org: r.try_get(5)?,
                        source: r.try_get(6)?,
                        outcome: r.try_get(7)?,
                        detail: r.try_get(8)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// Events of `action` in `orgs` (`None`: everywhere), newest first, at most `limit`.
    pub async fn recent_events(
        &self,
        orgs: Option<&[String]>,
        action: &str,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, MetaError> {
        if orgs.is_some_and(|o| o.is_empty()) {
            return Ok(Vec::new());
        }
        self.timed(async move {
            let scope = match orgs {
                Some(o) => format!("AND org IN ({})", placeholders(3, o.len())),
                None => String::new(),
            };
            let sql = format!(
                "SELECT id, at, actor, action, resource, org, source, outcome, detail \
                 FROM audit_events WHERE action = $1 {scope} ORDER BY id DESC LIMIT $2"
            );
            let mut q = sqlx::query(&sql).bind(action).bind(limit);
            for o in orgs.unwrap_or_default() {
                q = q.bind(o);
            }
            let rows = q.fetch_all(&self.read).await?;
            rows.iter()
                .map(|r| {
                    Ok(AuditEvent {
                        id: r.try_get(0)?,
                        at: r.try_get(1)?,
                        actor: r.try_get(2)?,
                        action: r.try_get(3)?,
                        resource: r.try_get(4)?,
                        org: r.try_get(5)?,
                        source: r.try_get(6)?,
                        outcome: r.try_get(7)?,
                        detail: r.try_get(8)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// How many events of `action` in `orgs` (`None`: everywhere) each UTC day since `since`
    /// had: (day number since the epoch, count), days without events left out.
    pub async fn events_per_day(
        &self,
        orgs: Option<&[String]>,
        action: &str,
        since: i64,
    ) -> Result<Vec<(i64, i64)>, MetaError> {
        if orgs.is_some_and(|o| o.is_empty()) {
            return Ok(Vec::new());
        }
        self.timed(async move {
            let scope = match orgs {
                Some(o) => format!("AND org IN ({})", placeholders(3, o.len())),
                None => String::new(),
            };
            let sql = format!(
                "SELECT CAST(at / 86400000 AS BIGINT) AS day, COUNT(*) FROM audit_events \
                 WHERE action = $1 AND at >= $2 {scope} GROUP BY day ORDER BY day"
            );
            let mut q = sqlx::query(&sql).bind(action).bind(since);
            for o in orgs.unwrap_or_default() {
                q = q.bind(o);
            }
            let rows = q.fetch_all(&self.read).await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)?)))
                .collect()
        })
        .await
    }
}

/// `s` as PostgreSQL text can hold it: a NUL (a client-supplied name may carry one) becomes
/// U+FFFD instead of failing the insert.
fn text(s: &str) -> String {
    s.replace('\0', "\u{fffd}")
}
