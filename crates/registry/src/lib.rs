//! berth-registry: the OCI distribution API, the `/v2` edge.
//!
//! The registry's use-cases (ingest a stream against a digest, upload sessions, manifests,
//! lists, deletes) are request-free functions of `berth-content`, re-exported here as
//! [`service`]; the management API and background jobs call the same ones.
//!
//! One handler receives every `/v2/…` request, parses it into an [`Endpoint`],
//! authorizes it (`guard`) and calls the module of its resource: `blobs`, `uploads`,
//! `manifests`, `listing` (tags, catalog) and `referrers`. Handlers stay thin: read the
//! request, call one service function, shape the response; every failure is an [`OciError`]
//! (a service [`service::Error`] becomes one in `error`). Routes call services, services call
//! the stores, never backwards.
//!
//! Depends on `berth-core`, `berth-meta`, `berth-storage`, `berth-content` (the use-cases),
//! `berth-auth` (the access decision), `berth-edge` and actix-web; never on another edge.

mod blobs;
pub mod cleanup;
pub mod endpoint;
pub mod error;
pub mod guard;
mod http;
mod listing;
mod manifests;
mod referrers;
#[cfg(target_os = "linux")]
pub mod sendfile;
mod uploads;

use std::sync::Arc;

use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::Auth;
use berth_meta::Meta;
use berth_storage::BlobStore;

pub use berth_content as service;
pub use berth_content::{RegistryConfig, Service};
pub use endpoint::Endpoint;
pub use error::OciError;

/// Everything a request handler needs; built once, shared by every worker.
#[derive(Clone)]
pub struct Registry {
    pub meta: Meta,
    pub store: BlobStore,
    pub config: Arc<RegistryConfig>,
    pub auth: Auth,
    /// The use-cases over the same `meta`, `store` and `config`.
    pub service: Service,
    pub(crate) refusals: Arc<guard::Refusals>,
}

impl Registry {
    pub fn new(meta: Meta, store: BlobStore, config: RegistryConfig, auth: Auth) -> Self {
        let config = Arc::new(config);
        let service = Service::new(meta.clone(), store.clone(), config.clone());
        Registry {
            meta,
            store,
            config,
            auth,
            service,
            refusals: Arc::new(guard::Refusals::default()),
        }
    }
}

/// Mounts `/v2` and everything below it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/v2", "/v2/{tail:.*}"])
            .wrap(DefaultHeaders::new().add(("Docker-Distribution-Api-Version", "registry/2.0")))
            .to(dispatch),
    );
}

/// Parses the request into an endpoint and runs it.
async fn dispatch(
    req: HttpRequest,
    body: web::Payload,
    reg: web::Data<Registry>,
) -> Result<HttpResponse, OciError> {
    let method = req.method().as_str().to_owned();
    let endpoint = Endpoint::parse(&method, req.path())?;
    let reg = reg.get_ref();
    let q = http::Query::parse(req.query_string().as_bytes());
    let caller = guard::authorize(reg, &req, &endpoint, &q).await?;
    let audited = audit_action(&endpoint);
    let result = run(reg, &req, body, endpoint.clone(), &q, &caller).await;
    if let (Some((action, resource)), Ok(res)) = (audited, &result) {
        if res.status().is_success() {
            let org = endpoint.repository().map(|n| n.org().to_owned());
            reg.auth
                .audit_as(
                    &caller.actor(),
                    action,
                    &resource,
                    org.as_deref(),
                    berth_edge::source(&req),
                )
                .await;
        }
    }
    result
}

/// The audit action and resource of a changing request.
fn audit_action(e: &Endpoint) -> Option<(&'static str, String)> {
    match e {
        Endpoint::PutManifest { name, reference } => Some(("push", format!("{name}:{reference}"))),
        Endpoint::DeleteManifest { name, reference } => {
            Some(("delete", format!("{name}:{reference}")))
        }
        Endpoint::DeleteBlob { name, digest } => Some(("delete.blob", format!("{name}@{digest}"))),
        _ => None,
    }
}

async fn run(
    reg: &Registry,
    req: &HttpRequest,
    body: web::Payload,
    endpoint: Endpoint,
    q: &http::Query,
    caller: &guard::Caller,
) -> Result<HttpResponse, OciError> {
    match endpoint {
        Endpoint::Base => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body("{}")),
        Endpoint::Catalog => listing::catalog(reg, q, caller).await,
        Endpoint::ListTags { name } => listing::tags(reg, &name, q).await,
        Endpoint::GetManifest {
            name,
            reference,
            head,
        } => manifests::get(reg, req, &name, &reference, head).await,
        Endpoint::PutManifest { name, reference } => {
            manifests::put(reg, req, body, &name, &reference, q).await
        }
        Endpoint::DeleteManifest { name, reference } => {
            manifests::delete(reg, &name, &reference).await
        }
        Endpoint::GetBlob { name, digest, head } => {
            blobs::get(reg, req, &name, &digest, head).await
        }
        Endpoint::DeleteBlob { name, digest } => blobs::delete(reg, &name, &digest).await,
        Endpoint::StartUpload { name } => {
            uploads::start(reg, req, body, &name, q, caller.may_mount).await
        }
        Endpoint::UploadStatus { name, id } => uploads::status(reg, &name, &id).await,
        Endpoint::PatchUpload { name, id } => uploads::patch(reg, req, body, &name, &id).await,
        Endpoint::FinishUpload { name, id } => uploads::finish(reg, req, body, &name, &id, q).await,
        Endpoint::CancelUpload { name, id } => uploads::cancel(reg, &name, &id).await,
        Endpoint::Referrers { name, digest } => referrers::list(reg, &name, &digest, q).await,
    }
}
