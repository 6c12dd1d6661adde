//! `/api/v1/audit-log`: who did what, newest first.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::AuditFilter;
use berth_auth::Auth;
use berth_edge::caller;
use serde::Deserialize;

use crate::{json, ApiResult};

#[derive(Deserialize)]
pub struct AuditParams {
    org: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// Only events with an id below this one (the next page: the last id seen).
    before: Option<i64>,
    n: Option<i64>,
}

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
    Ok(HttpResponse::Ok().json(events.iter().map(json::audit_event).collect::<Vec<_>>()))
}
