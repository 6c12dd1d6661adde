//! A repository's page: its description, a ready `docker pull` line, and its tags a page at a
//! time (tag, short digest with copy, kind — image, index with its platforms, Helm chart,
//! artifact —, size, pushed time), with deletes of a tag or of the
//! whole repository (typed confirmation) for those who may delete — the registry's own deletes,
//! through `berth-auth`'s access rule, as in `/api/v1`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use berth_auth::manage::RepoItem;
use berth_auth::rows::TagRow;
use berth_content::Service as Content;
use berth_core::{media, Digest, ParsedManifest, Permission, RepoName, Tag};
use berth_edge::Query;

use crate::page::{redirect, render, Nav, UiError, UiResult};
use crate::size::Size;
use crate::visitor::{services, Visitor};

/// Tags per page.
const PAGE: i64 = 50;

/// A tag as the table shows it.
pub struct TagItem {
    pub name: String,
    pub digest: String,
    pub short: String,
    pub kind: &'static str,
    /// The `os/arch` of each entry, for an index.
    pub platforms: Vec<String>,
    pub size: Size,
    pub pushed: String,
}

/// What a manifest media type is, for people.
pub fn kind_of(media_type: &str) -> &'static str {
    match media_type {
        media::OCI_INDEX | media::DOCKER_MANIFEST_LIST => "index",
        media::OCI_MANIFEST | media::DOCKER_MANIFEST => "image",
        _ => "other",
    }
}

impl From<&TagRow> for TagItem {
    fn from(t: &TagRow) -> TagItem {
        let hex = t.digest.split_once(':').map_or("", |(_, h)| h);
        TagItem {
            name: t.name.clone(),
            digest: t.digest.clone(),
            short: format!(
                "{}:{}",
                t.digest.split(':').next().unwrap_or(""),
                hex.get(..12).unwrap_or(hex)
            ),
            kind: kind_of(&t.media_type),
            platforms: Vec::new(),
            size: Size::of(t.size),
            pushed: berth_edge::rfc3339(t.updated_at)
                .get(..16)
                .unwrap_or("")
                .replace('T', " "),
        }
    }
}

#[derive(Template)]
#[template(path = "repo.html")]
struct RepoPage {
    nav: Nav,
    org: String,
    name: String,
    short: String,
    description: String,
    tag_count: i64,
    size: Size,
    pull: String,
    may_delete: bool,
    tags: Vec<TagItem>,
    next: Option<String>,
    error: Option<String>,
}

fn repo_name(tail: &str) -> Result<RepoName, UiError> {
    let name = RepoName::parse(tail.trim_end_matches('/'))
        .map_err(|e| UiError::from(berth_auth::Error::invalid("name", e.to_string())))?;
    if !name.as_str().contains('/') {
        return Err(berth_auth::Error::NotFound("repository").into());
    }
    Ok(name)
}

/// `GET /repositories/{org}/{path…}[?last=]`, and a manifest's page at
/// `…/-/manifests/{digest}`.
pub async fn show(
    req: HttpRequest,
    tail: web::Path<String>,
    content: web::Data<Content>,
) -> UiResult {
    if let Some((repo, rest)) = tail.split_once("/-/") {
        let name = repo_name(repo)?;
        return match rest.split_once('/') {
            Some(("manifests", digest)) if !digest.contains('/') => {
                crate::manifest::show(&req, &content, &name, digest).await
            }
            _ => Err(berth_auth::Error::NotFound("page").into()),
        };
    }
    let name = repo_name(&tail)?;
    page(&req, &content, &name, None, StatusCode::OK).await
}

/// Largest manifest read to tell a tag's kind and platforms (a bigger one shows the kind its
/// media type tells): bounds a page's memory at 50 × this.
const MAX_LISTED_MANIFEST: usize = 256 << 10;

/// The tags of a page as the table shows them: the page's manifests read in one query to tell
/// a Helm chart or an artifact from an image and to list an index's platforms. A manifest that
/// cannot be read keeps the kind its media type tells; the page still renders.
async fn tag_items(content: &Content, name: &RepoName, rows: &[TagRow]) -> Vec<TagItem> {
    let digests: Vec<Digest> = rows
        .iter()
        .filter_map(|t| Digest::parse(&t.digest).ok())
        .collect();
    let manifests = content
        .manifests_for_page(name, &digests, MAX_LISTED_MANIFEST)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(repo = %name, error = %e, "cannot read the manifests of a tag page");
            Vec::new()
        });
    rows.iter()
        .map(|t| {
            let mut item = TagItem::from(t);
            let parsed = manifests
                .iter()
                .find(|m| m.digest == t.digest)
                .and_then(|m| ParsedManifest::parse(&m.body, Some(&m.media_type)).ok());
            if let Some(m) = parsed {
                item.kind = crate::manifest::kind_of_manifest(&m);
                item.platforms = crate::manifest::platforms_of(&m);
            }
            item
        })
        .collect()
}

async fn page(
    req: &HttpRequest,
    content: &Content,
    name: &RepoName,
    error: Option<String>,
    status: StatusCode,
) -> UiResult {
    let (auth, cfg) = services(req)?;
    let v = Visitor::of(req).await?;
    let q = Query::parse(req.query_string().as_bytes());
    let last = q.get("last").unwrap_or("");
    let repo = auth.repository(&v.caller, name).await?;
    let mut rows = auth
        .repository_tags(&v.caller, name, last, PAGE + 1)
        .await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let may_delete = v.session.is_some()
        && auth
            .org_access(&v.caller, name.org(), Permission::Delete)
            .await
            .is_ok();
    let host = if cfg.external_url.is_empty() {
        req.connection_info().host().to_owned()
    } else {
        cfg.external_url
            .split_once("://")
            .map_or(cfg.external_url.clone(), |(_, h)| h.to_owned())
    };
    let tag = rows.first().map_or("latest", |t| t.name.as_str());
    let page = RepoPage {
        nav: v.nav(),
        org: name.org().to_owned(),
        short: name
            .as_str()
            .split_once('/')
            .map_or(String::new(), |(_, s)| s.to_owned()),
        name: name.to_string(),
        description: repo.description.clone().unwrap_or_default(),
        tag_count: repo.tag_count,
        size: Size::of(repo.size),
        pull: format!("docker pull {host}/{name}:{tag}"),
        may_delete,
        tags: tag_items(content, name, &rows).await,
        next: more.then(|| rows.last().map(|t| t.name.clone())).flatten(),
        error,
    };
    Ok(render(status, &page))
}

/// `POST /repositories/{org}/{path…}` with `action=describe` (`description`),
/// `action=delete-tag` (`tag`) or `action=delete-repository` (`confirm`: the repository's name
/// typed again), and `csrf`.
pub async fn act(
    req: HttpRequest,
    tail: web::Path<String>,
    content: web::Data<Content>,
    body: web::Bytes,
) -> UiResult {
    let name = repo_name(&tail)?;
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let form = Query::parse(&body);
    v.check_form(&req, &form)?;
    match form.get("action") {
        Some("delete-tag") => {
            let tag = Tag::parse(form.get("tag").unwrap_or(""))
                .map_err(|e| UiError::from(berth_auth::Error::invalid("tag", e.to_string())))?;
            auth.delete_repository_item(&v.caller, &content, &name, &RepoItem::Tag(tag))
                .await?;
            Ok(redirect(&format!("/repositories/{name}")))
        }
        Some("describe") => {
            let d = form.get("description").unwrap_or("").trim();
            match auth.describe_repository(&v.caller, &name, Some(d)).await {
                Ok(_) => Ok(redirect(&format!("/repositories/{name}"))),
                Err(e @ berth_auth::Error::Invalid { .. }) => {
                    page(
                        &req,
                        &content,
                        &name,
                        Some(e.to_string()),
                        StatusCode::BAD_REQUEST,
                    )
                    .await
                }
                Err(e) => Err(e.into()),
            }
        }
        Some("delete-repository") => {
            if form.get("confirm").map(str::trim) != Some(name.as_str()) {
                let msg = format!("Type {name} to confirm that the repository is to be deleted.");
                return page(&req, &content, &name, Some(msg), StatusCode::BAD_REQUEST).await;
            }
            auth.delete_repository_item(&v.caller, &content, &name, &RepoItem::Repository)
                .await?;
            Ok(redirect(&format!("/orgs/{}", name.org())))
        }
        _ => Err(berth_auth::Error::invalid("action", "unknown action").into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn kinds() {
        assert_eq!(super::kind_of(berth_core::media::OCI_INDEX), "index");
        assert_eq!(super::kind_of(berth_core::media::DOCKER_MANIFEST), "image");
        assert_eq!(super::kind_of("application/x-unknown"), "other");
    }
}
