//! `/api/v1/system/info`: the installation as a system admin sees it (version, backends, what
//! the registry holds and the bytes its blobs take).

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::Auth;
use berth_content::Service as Content;
use berth_edge::caller;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiResult;

/// What the registry holds.
#[derive(Serialize, ToSchema)]
pub struct Counts {
    pub users: i64,
    pub groups: i64,
    pub orgs: i64,
    pub repositories: i64,
    pub tags: i64,
    pub manifests: i64,
    /// Distinct blobs: a layer shared by several repositories counts once.
    pub blobs: i64,
    /// Uploads started and not yet finished or expired.
    pub uploads: i64,
}

/// The installation.
#[derive(Serialize, ToSchema)]
pub struct SystemInfo {
    /// Berth's version.
    pub version: String,
    /// `sqlite` or `postgresql`.
    pub metadata_backend: String,
    /// `filesystem` or `s3`.
    pub blob_backend: String,
    /// Whether deletes are allowed (`registry.delete_enabled`).
    pub delete_enabled: bool,
    /// Bytes of every distinct blob: the storage the registry's content uses.
    pub storage_bytes: i64,
    pub counts: Counts,
}

/// The version, backends and figures of this installation (system admins).
#[utoipa::path(get, path = "/api/v1/system/info", tag = "system",
    responses((status = 200, description = "The installation", body = SystemInfo)))]
pub async fn system_info(
    req: HttpRequest,
    auth: web::Data<Auth>,
    content: web::Data<Content>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let s = auth.system_info(&c, &content).await?;
    let n = s.counts;
    Ok(HttpResponse::Ok().json(SystemInfo {
        version: s.version.into(),
        metadata_backend: s.metadata_backend.into(),
        blob_backend: s.blob_backend.into(),
        delete_enabled: s.delete_enabled,
        storage_bytes: n.blob_bytes,
        counts: Counts {
            users: n.users,
            groups: n.groups,
            orgs: n.orgs,
            repositories: n.repositories,
            tags: n.tags,
            manifests: n.manifests,
            blobs: n.blobs,
            uploads: n.uploads,
        },
    }))
}
