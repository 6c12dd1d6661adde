//! `/api/v1/orgs/{org}/repositories` and `/api/v1/repositories/…`: repositories, their tags
//! and manifests, descriptions, and deletes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::RepoItem;
use berth_auth::Auth;
use berth_core::{Digest, RepoName};
use berth_edge::{caller, Failure, Page};
use serde::Deserialize;

use crate::{json, ApiError, ApiResult};

/// What a `/repositories/…` path names: `<name>`, `<name>/-/tags[/<tag>]` or
/// `<name>/-/manifests[/<digest>]` (`-` cannot be a name component, so this is unambiguous).
enum RepoPath {
    Repo(RepoName),
    Tags(RepoName, Option<String>),
    Manifests(RepoName, Option<String>),
}

fn repo_path(tail: &str) -> Result<RepoPath, ApiError> {
    let (name, rest) = match tail.split_once("/-/") {
        Some((n, r)) => (n, Some(r)),
        None => (tail, None),
    };
    let name = RepoName::parse(name.trim_end_matches('/'))
        .map_err(|e| ApiError::invalid("name", e.to_string()))?;
    if !name.as_str().contains('/') {
        return Err(ApiError::not_found(
            "repository not found (names are <org>/<path>)",
        ));
    }
    let item = |r: &str| (!r.is_empty()).then(|| r.to_owned());
    match rest {
        None => Ok(RepoPath::Repo(name)),
        Some("tags") => Ok(RepoPath::Tags(name, None)),
        Some("manifests") => Ok(RepoPath::Manifests(name, None)),
        Some(r) => match r.split_once('/') {
            Some(("tags", t)) if !t.contains('/') => Ok(RepoPath::Tags(name, item(t))),
            Some(("manifests", d)) if !d.contains('/') => Ok(RepoPath::Manifests(name, item(d))),
            _ => Err(ApiError::not_found("no such endpoint")),
        },
    }
}

pub async fn org_repositories(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
    q: web::Query<Page>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let repos = auth.repositories(&c, &org, q.after(), q.limit()).await?;
    Ok(HttpResponse::Ok().json(repos.iter().map(json::repo).collect::<Vec<_>>()))
}

pub async fn repo_get(
    req: HttpRequest,
    auth: web::Data<Auth>,
    tail: web::Path<String>,
) -> ApiResult {
    let path = repo_path(&tail)?;
    let c = caller(&auth, &req).await?;
    match path {
        RepoPath::Repo(name) => {
            let repo = auth.repository(&c, &name).await?;
            Ok(HttpResponse::Ok().json(json::repo(&repo)))
        }
        RepoPath::Tags(name, None) => {
            let tags = auth.repository_tags(&c, &name).await?;
            Ok(HttpResponse::Ok().json(tags.iter().map(json::tag).collect::<Vec<_>>()))
        }
        RepoPath::Manifests(name, None) => {
            let ms = auth.repository_manifests(&c, &name).await?;
            Ok(HttpResponse::Ok().json(ms.iter().map(json::manifest).collect::<Vec<_>>()))
        }
        _ => Err(ApiError(Failure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "INVALID",
            "read single tags and manifests through /v2",
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoPatchBody {
    description: Option<String>,
}

pub async fn repo_patch(
    req: HttpRequest,
    auth: web::Data<Auth>,
    tail: web::Path<String>,
    body: web::Json<RepoPatchBody>,
) -> ApiResult {
    let RepoPath::Repo(name) = repo_path(&tail)? else {
        return Err(ApiError::not_found("no such endpoint"));
    };
    let c = caller(&auth, &req).await?;
    let repo = auth
        .describe_repository(&c, &name, body.description.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(json::repo(&repo)))
}

pub async fn repo_delete(
    req: HttpRequest,
    auth: web::Data<Auth>,
    tail: web::Path<String>,
) -> ApiResult {
    let (name, item) = match repo_path(&tail)? {
        RepoPath::Repo(n) => (n, RepoItem::Repository),
        RepoPath::Tags(n, Some(t)) => (n, RepoItem::Tag(t)),
        RepoPath::Manifests(n, Some(d)) => {
            let d = Digest::parse(&d).map_err(|e| ApiError::invalid("digest", e.to_string()))?;
            (n, RepoItem::Manifest(d))
        }
        _ => return Err(ApiError::not_found("no such endpoint")),
    };
    let c = caller(&auth, &req).await?;
    auth.delete_repository_item(&c, &name, &item).await?;
    Ok(HttpResponse::NoContent().finish())
}
