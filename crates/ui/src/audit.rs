//! The audit log: who did what, newest first, with filters (actor, action, organization, a
//! range of days) and pages. System admins read everything; an organization's log is read by
//! those who may read its logs — `berth-auth`'s decision, as for `/api/v1/audit-log`.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use askama::Template;
use berth_auth::manage::AuditFilter;
use berth_edge::{parse_rfc3339, Query};

use crate::page::{render, Nav, UiError, UiResult};
use crate::visitor::{services, Visitor};

/// Events per page.
const PAGE: i64 = 50;
const DAY_MS: i64 = 86_400_000;

/// An event as the table shows it.
pub struct EventItem {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub org: String,
    pub source: String,
    pub outcome: String,
}

/// The filters as given, kept in the form and in the next page's link.
#[derive(Default)]
struct Filters {
    org: String,
    actor: String,
    action: String,
    since: String,
    until: String,
}

impl Filters {
    /// The query string of these filters (for the next page's link).
    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("org", &self.org),
            ("actor", &self.actor),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    filters: Filters,
    events: Vec<EventItem>,
    /// The `before` of the next page, when there is one.
    next: Option<i64>,
    next_query: String,
}

/// A day (`YYYY-MM-DD`, as a date input sends it) as ms since the epoch at 00:00 UTC.
fn day(field: &'static str, v: &str) -> Result<Option<i64>, UiError> {
    if v.is_empty() {
        return Ok(None);
    }
    parse_rfc3339(&format!("{v}T00:00:00Z"))
        .map(Some)
        .ok_or_else(|| {
            berth_auth::Error::invalid(field, format!("{field} must be a date such as 2026-12-31"))
                .into()
        })
}

/// `GET /audit[?org=&actor=&action=&since=&until=&before=]`.
pub async fn list(req: HttpRequest) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    v.signed_in()?;
    let q = Query::parse(req.query_string().as_bytes());
    let get = |k: &str| q.get(k).unwrap_or("").trim().to_owned();
    let filters = Filters {
        org: get("org"),
        actor: get("actor"),
        action: get("action"),
        since: get("since"),
        until: get("until"),
    };
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let filter = AuditFilter {
        org: some(&filters.org),
        actor: some(&filters.actor),
        action: some(&filters.action),
        before: q.get("before").and_then(|b| b.parse().ok()),
        since: day("since", &filters.since)?,
        // The whole of the last day counts.
        until: day("until", &filters.until)?.map(|t| t + DAY_MS),
        limit: PAGE + 1,
    };
    let mut rows = auth.audit_log(&v.caller, &filter).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let page = AuditPage {
        nav: v.nav(),
        next: more.then(|| rows.last().map(|e| e.id)).flatten(),
        next_query: filters.query(),
        filters,
        events: rows
            .into_iter()
            .map(|e| EventItem {
                at: berth_edge::rfc3339(e.at)
                    .get(..19)
                    .unwrap_or("")
                    .replace('T', " "),
                actor: e.actor,
                action: e.action,
                resource: e.resource,
                org: e.org.unwrap_or_default(),
                source: e.source.unwrap_or_default(),
                outcome: e.outcome,
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}
