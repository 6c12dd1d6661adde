//! `/api/v1/orgs/{org}/repositories` and `/api/v1/repositories/…`: repositories, their tags
//! and manifests, descriptions, and deletes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::RepoItem;
use berth_auth::Auth;
use berth_content::Service as Content;
use berth_core::{Digest, RepoName, Tag as TagName};
use berth_edge::{caller, Failure, Page};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::model::{self, ManifestSummary, Repository, Tag};
use crate::{ApiError, ApiResult};

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

/// The org's repositories.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/repositories", tag = "repositories",
    security((), ("basic" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization"),
           ("last" = Option<String>, Query, description = "the last name of the previous page"),
           ("n" = Option<i64>, Query, description = "page size, 1 to 1000 (100)"),
           ("q" = Option<String>, Query, description = "only repositories whose path inside the org contains this text")),
    responses((status = 200, description = "Repositories in name order", body = Vec<Repository>)))]
pub async fn org_repositories(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
    q: web::Query<Page>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let repos = auth
        .repositories(&c, &org, q.after(), q.limit(), q.search())
        .await?;
    Ok(HttpResponse::Ok().json(model::all::<_, Repository>(&repos)))
}

/// A repository: description, counts, size. (The same route serves `…/-/tags` and
/// `…/-/manifests`, documented below.)
#[utoipa::path(get, path = "/api/v1/repositories/{org}/{repo}", tag = "repositories",
    security((), ("basic" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization"),
           ("repo" = String, Path, description = "the repository's path inside the org (may hold /)")),
    responses((status = 200, description = "The repository", body = Repository)))]
pub async fn repo_get(
    req: HttpRequest,
    auth: web::Data<Auth>,
    tail: web::Path<String>,
    q: web::Query<Page>,
) -> ApiResult {
    let path = repo_path(&tail)?;
    let c = caller(&auth, &req).await?;
    match path {
        RepoPath::Repo(name) => {
            let repo = auth.repository(&c, &name).await?;
            Ok(HttpResponse::Ok().json(Repository::from(&repo)))
        }
        RepoPath::Tags(name, None) => {
            let tags = auth
                .repository_tags(&c, &name, q.after(), q.limit())
                .await?;
            Ok(HttpResponse::Ok().json(model::all::<_, Tag>(&tags)))
        }
        RepoPath::Manifests(name, None) => {
            let ms = auth
                .repository_manifests(&c, &name, q.after(), q.limit())
                .await?;
            Ok(HttpResponse::Ok().json(model::all::<_, ManifestSummary>(&ms)))
        }
        _ => Err(ApiError(Failure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "INVALID",
            "read single tags and manifests through /v2",
        ))),
    }
}

/// A repository to create before its first push.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRepository {
    /// The path inside the org, e.g. `app` or `team/app`.
    name: String,
    /// At most 64 KiB.
    description: Option<String>,
}

/// Create an empty repository before its first push (developer and up); its visibility is
/// the org's.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/repositories", tag = "repositories",
    request_body = NewRepository,
    params(("org" = String, Path, description = "organization")),
    responses((status = 201, description = "Created", body = Repository)))]
pub async fn create_repository(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
    body: web::Json<NewRepository>,
) -> ApiResult {
    let name = RepoName::parse(&format!("{org}/{}", body.name.trim_matches('/')))
        .map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let c = caller(&auth, &req).await?;
    let repo = auth
        .create_repository(&c, &name, body.description.as_deref())
        .await?;
    Ok(HttpResponse::Created().json(Repository::from(&repo)))
}

/// Changes to a repository; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryPatch {
    /// At most 64 KiB.
    description: Option<String>,
}

/// Change a repository's description (maintainer and up).
#[utoipa::path(patch, path = "/api/v1/repositories/{org}/{repo}", tag = "repositories",
    request_body = RepositoryPatch,
    params(("org" = String, Path, description = "organization"),
           ("repo" = String, Path, description = "the repository's path inside the org")),
    responses((status = 200, description = "The changed repository", body = Repository)))]
pub async fn repo_patch(
    req: HttpRequest,
    auth: web::Data<Auth>,
    tail: web::Path<String>,
    body: web::Json<RepositoryPatch>,
) -> ApiResult {
    let RepoPath::Repo(name) = repo_path(&tail)? else {
        return Err(ApiError::not_found("no such endpoint"));
    };
    let c = caller(&auth, &req).await?;
    let repo = auth
        .describe_repository(&c, &name, body.description.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(Repository::from(&repo)))
}

/// Delete a repository with its tags and manifests (maintainer and up); blobs are reclaimed
/// by garbage collection. (The same route deletes a tag or a manifest, documented below.)
#[utoipa::path(delete, path = "/api/v1/repositories/{org}/{repo}", tag = "repositories",
    params(("org" = String, Path, description = "organization"),
           ("repo" = String, Path, description = "the repository's path inside the org")),
    responses((status = 204, description = "Deleted"),
                   (status = 405, description = "Deletes are disabled on this registry (`UNSUPPORTED`)", body = crate::model::ErrorBody)))]
pub async fn repo_delete(
    req: HttpRequest,
    auth: web::Data<Auth>,
    content: web::Data<Content>,
    tail: web::Path<String>,
) -> ApiResult {
    let (name, item) = match repo_path(&tail)? {
        RepoPath::Repo(n) => (n, RepoItem::Repository),
        RepoPath::Tags(n, Some(t)) => {
            let t = TagName::parse(&t).map_err(|e| ApiError::invalid("tag", e.to_string()))?;
            (n, RepoItem::Tag(t))
        }
        RepoPath::Manifests(n, Some(d)) => {
            let d = Digest::parse(&d).map_err(|e| ApiError::invalid("digest", e.to_string()))?;
            (n, RepoItem::Manifest(d))
        }
        _ => return Err(ApiError::not_found("no such endpoint")),
    };
    let c = caller(&auth, &req).await?;
    auth.delete_repository_item(&c, &content, &name, &item)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The sub-resources the catch-all routes above serve, for the OpenAPI document: each of these
/// is answered by [`repo_get`] or [`repo_delete`].
pub mod sub {
    use crate::model::{ManifestSummary, Tag};

    /// The repository's tags with their manifests.
    #[utoipa::path(get, path = "/api/v1/repositories/{org}/{repo}/-/tags", tag = "repositories",
        security((), ("basic" = []), ("bearer" = [])),
        params(("org" = String, Path, description = "organization"),
               ("repo" = String, Path, description = "the repository's path inside the org"),
               ("last" = Option<String>, Query, description = "the last tag of the previous page"),
               ("n" = Option<i64>, Query, description = "page size, 1 to 1000 (100)")),
        responses((status = 200, description = "Tags in name order (bytewise), one page", body = Vec<Tag>)))]
    #[allow(dead_code)]
    pub fn tags() {}

    /// Delete a tag (the manifest stays).
    #[utoipa::path(delete, path = "/api/v1/repositories/{org}/{repo}/-/tags/{tag}", tag = "repositories",
        params(("org" = String, Path, description = "organization"),
               ("repo" = String, Path, description = "the repository's path inside the org"),
               ("tag" = String, Path, description = "tag")),
        responses((status = 204, description = "Deleted"),
                   (status = 405, description = "Deletes are disabled on this registry (`UNSUPPORTED`)", body = crate::model::ErrorBody)))]
    #[allow(dead_code)]
    pub fn delete_tag() {}

    /// The repository's manifests, newest first, with their tags, a page at a time.
    #[utoipa::path(get, path = "/api/v1/repositories/{org}/{repo}/-/manifests", tag = "repositories",
        security((), ("basic" = []), ("bearer" = [])),
        params(("org" = String, Path, description = "organization"),
               ("repo" = String, Path, description = "the repository's path inside the org"),
               ("last" = Option<String>, Query, description = "the last digest of the previous page"),
               ("n" = Option<i64>, Query, description = "page size, 1 to 1000 (100)")),
        responses((status = 200, description = "Manifests, newest first, one page", body = Vec<ManifestSummary>)))]
    #[allow(dead_code)]
    pub fn manifests() {}

    /// Delete a manifest and its tags.
    #[utoipa::path(delete, path = "/api/v1/repositories/{org}/{repo}/-/manifests/{digest}", tag = "repositories",
        params(("org" = String, Path, description = "organization"),
               ("repo" = String, Path, description = "the repository's path inside the org"),
               ("digest" = String, Path, description = "e.g. sha256:…")),
        responses((status = 204, description = "Deleted"),
                   (status = 405, description = "Deletes are disabled on this registry (`UNSUPPORTED`)", body = crate::model::ErrorBody)))]
    #[allow(dead_code)]
    pub fn delete_manifest() {}
}
