//! `/api/v1/audit-log`: who did what, newest first.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::AuditFilter;
use berth_auth::Auth;
use berth_edge::{caller, parse_rfc3339};
use serde::Deserialize;

use crate::model::{self, AuditEvent};
use crate::{ApiError, ApiResult};

#[derive(Deserialize)]
pub struct AuditParams {
    org: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// Only events with an id below this one (the next page: the last id seen).
    before: Option<i64>,
    since: Option<String>,
    until: Option<String>,
    n: Option<i64>,
}

/// An RFC 3339 time of the query, as ms since the epoch.
fn time_param(field: &'static str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        parse_rfc3339(s).ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("{field} must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z"),
            )
        })
    })
    .transpose()
}

/// Audit events, newest first (system admins; with org, whoever may read the org's logs).
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "audit",
    params(("org" = Option<String>, Query, description = "only this org's events"),
           ("actor" = Option<String>, Query, description = "e.g. user:dora"),
           ("action" = Option<String>, Query, description = "e.g. push, org.member.set"),
           ("before" = Option<i64>, Query, description = "only events with a smaller id"),
           ("since" = Option<String>, Query, description = "only events at or after this RFC 3339 time"),
           ("until" = Option<String>, Query, description = "only events before this RFC 3339 time"),
           ("n" = Option<i64>, Query, description = "page size, 1 to 1000 (100)")),
    responses((status = 200, description = "Events", body = Vec<AuditEvent>)))]
pub async fn audit_log(
    req: HttpRequest,
    auth: web::Data<Auth>,
    q: web::Query<AuditParams>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let q = q.into_inner();
    let since = time_param("since", q.since.as_deref())?;
    let until = time_param("until", q.until.as_deref())?;
    let filter = AuditFilter {
        org: q.org,
        actor: q.actor,
        action: q.action,
        before: q.before,
        since,
        until,
        limit: q.n.unwrap_or(100).clamp(1, 1000),
    };
    let events = auth.audit_log(&c, &filter).await?;
    Ok(HttpResponse::Ok().json(model::all::<_, AuditEvent>(&events)))
}
