//! Tag lists and the catalog, both sorted bytewise and paginated with `n`, `last` and `Link`.

use actix_web::HttpResponse;
use berth_core::{ErrorCode, RepoName};
use serde_json::json;

use crate::http::{page_n, q_enc, Query};
use crate::{OciError, Registry};

/// A page of `items` fetched with one extra row: trims it and says whether more exist.
fn page(mut items: Vec<String>, n: i64) -> (Vec<String>, bool) {
    let more = items.len() as i64 > n;
    items.truncate(n.max(0) as usize);
    (items, more)
}

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
    if !reg.meta.repo_exists(name.as_str()).await? {
        return Err(OciError::new(
            ErrorCode::NameUnknown,
            format!("repository {name} is not known"),
        ));
    }
    let (tags, more) = if n == 0 {
        (Vec::new(), false)
    } else {
        page(reg.meta.list_tags(name.as_str(), last, n + 1).await?, n)
    };
    let next = match tags.last() {
        Some(l) if more => Some(format!("/v2/{name}/tags/list?n={n}&last={}", q_enc(l))),
        _ => None,
    };
    Ok(respond(json!({"name": name.as_str(), "tags": tags}), next))
}

/// `GET /v2/_catalog[?n=&last=]` — 200 `{"repositories"}`.
pub async fn catalog(reg: &Registry, q: &Query) -> Result<HttpResponse, OciError> {
    let n = page_n(q, reg.config.page_size)?;
    let last = q.get("last").unwrap_or("");
    let (repos, more) = if n == 0 {
        (Vec::new(), false)
    } else {
        page(reg.meta.list_repos(last, n + 1).await?, n)
    };
    let next = match repos.last() {
        Some(l) if more => Some(format!("/v2/_catalog?n={n}&last={}", q_enc(l))),
        _ => None,
    };
    Ok(respond(json!({"repositories": repos}), next))
}
