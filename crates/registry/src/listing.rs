//! Tag lists and the catalog, both sorted bytewise and paginated with `n`, `last` and `Link`.

use actix_web::HttpResponse;
use berth_auth::Principal;
use berth_core::{Action, RepoName};
use berth_meta::Visibility;
use serde_json::json;

use crate::guard::Caller;
use crate::http::{page_n, q_enc, Query};
use crate::{OciError, Registry};

fn respond(body: serde_json::Value, next: Option<String>) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    if let Some(url) = next {
        res.insert_header(("Link", format!("<{url}>; rel=\"next\"")));
    }
    res.content_type("application/json").body(body.to_string())
}

/// `GET /v2/<name>/tags/list[?n=&last=]` — 200 `{"name","tags"}`; 404 `NAME_UNKNOWN`.
pub async fn tags(reg: &Registry, name: &RepoName, q: &Query) -> Result<HttpResponse, OciError> {
    let n = page_n(q, reg.config.page_size)?;
    let last = q.get("last").unwrap_or("");
    let page = reg.service.tags(name, last, n).await?;
    let (tags, more) = (page.items, page.more);
    let next = match tags.last() {
        Some(l) if more => Some(format!("/v2/{name}/tags/list?n={n}&last={}", q_enc(l))),
        _ => None,
    };
    Ok(respond(json!({"name": name.as_str(), "tags": tags}), next))
}

/// `GET /v2/_catalog[?n=&last=]` — 200 `{"repositories"}`: only what the caller may see
/// (system admins: everything; users: public orgs and their orgs; robots: public orgs and the
/// repositories of their org their rules let them pull).
pub async fn catalog(reg: &Registry, q: &Query, caller: &Caller) -> Result<HttpResponse, OciError> {
    let n = page_n(q, reg.config.page_size)?;
    let last = q.get("last").unwrap_or("");
    let principal = caller.principal(reg).await?;
    let visibility = match &principal {
        p if p.is_admin() => Visibility::All,
        Principal::User(u) => Visibility::Scoped {
            user_id: Some(u.id),
            org: None,
        },
        Principal::Robot(r, _) => Visibility::Scoped {
            user_id: None,
            org: Some(r.org.clone()),
        },
        Principal::Anonymous => Visibility::Scoped {
            user_id: None,
            org: None,
        },
    };
    let page = reg.service.repositories(&visibility, last, n).await?;
    let (mut repos, more) = (page.items, page.more);
    if let Principal::Robot(..) = principal {
        let mut kept = Vec::with_capacity(repos.len());
        for r in repos {
            let may = reg.auth.repo_actions(&principal, &r).await;
            if may.map_err(crate::guard::auth_err)?.contains(&Action::Pull) {
                kept.push(r);
            }
        }
        repos = kept;
    }
    let next = match repos.last() {
        Some(l) if more => Some(format!("/v2/_catalog?n={n}&last={}", q_enc(l))),
        _ => None,
    };
    Ok(respond(json!({"repositories": repos}), next))
}
