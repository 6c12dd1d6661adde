//! `/api/v1/audit-log`: who did what, newest first.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::AuditFilter;
use berth_auth::Auth;
use berth_edge::caller;
use serde::Deserialize;

use crate::model::{self, AuditEvent};
use crate::ApiResult;

#[derive(Deserialize)]
pub struct AuditParams {
    org: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// Only events with an id below this one (the next page: the last id seen).
    before: Option<i64>,
    n: Option<i64>,
}

/// Audit events, newest first (system admins; with org, whoever may read the org's logs).
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "audit",
    params(("org" = Option<String>, Query, description = "only this org's events"),
           ("actor" = Option<String>, Query, description = "e.g. user:dora"),
           ("action" = Option<String>, Query, description = "e.g. push, org.member.set"),
           ("before" = Option<i64>, Query, description = "only events with a smaller id"),
           ("n" = Option<i64>, Query, description = "page size, 1 to 1000 (100)")),
    responses((status = 200, description = "Events", body = Vec<AuditEvent>)))]
pub async fn audit_log(
    req: HttpRequest,
    auth: web::Data<Auth>,
    q: web::Query<AuditParams>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let q = q.into_inner();
    let filter = AuditFilter {
        org: q.org,
        actor: q.actor,
        action: q.action,
        before: q.before,
        limit: q.n.unwrap_or(100).clamp(1, 1000),
    };
    let events = auth.audit_log(&c, &filter).await?;
    Ok(HttpResponse::Ok().json(model::all::<_, AuditEvent>(&events)))
}
