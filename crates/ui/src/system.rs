//! System information (system admins): Berth's version, the metadata and blob backends, the
//! storage the registry's content uses and what it holds, as `GET /api/v1/system/info`
//! reports them (the same service call).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use berth_content::Service as Content;

use crate::page::{render, Nav, UiResult};
use crate::size::human_size;
use crate::visitor::Visitor;

#[derive(Template)]
#[template(path = "system.html")]
struct SystemPage {
    nav: Nav,
    version: &'static str,
    metadata_backend: &'static str,
    blob_backend: &'static str,
    delete_enabled: bool,
    storage: String,
    storage_bytes: i64,
    /// (what, how many), in the order shown.
    counts: Vec<(&'static str, i64)>,
}

/// `GET /admin/system` (system admins).
pub async fn show(req: HttpRequest, content: web::Data<Content>) -> UiResult {
    let (auth, _) = crate::visitor::services(&req)?;
    let v = Visitor::of(&req).await?;
    let s = auth.system_info(&v.caller, &content).await?;
    let n = &s.counts;
    let page = SystemPage {
        nav: v.nav(),
        version: s.version,
        metadata_backend: s.metadata_backend,
        blob_backend: s.blob_backend,
        delete_enabled: s.delete_enabled,
        storage: human_size(n.blob_bytes),
        storage_bytes: n.blob_bytes,
        counts: vec![
            ("Users", n.users),
            ("Groups", n.groups),
            ("Organizations", n.orgs),
            ("Repositories", n.repositories),
            ("Tags", n.tags),
            ("Manifests", n.manifests),
            ("Blobs", n.blobs),
            ("Uploads in progress", n.uploads),
        ],
    };
    Ok(render(StatusCode::OK, &page))
}
