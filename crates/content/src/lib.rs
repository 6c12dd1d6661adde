//! berth-content: the registry's content use-cases as plain functions, without HTTP. Ingest a
//! stream of bytes against a digest, run an upload session, put, get and delete manifests,
//! look up, mount and delete blob links, list tags, repositories and referrers, delete a
//! repository. The `/v2` edge (`berth-registry`) parses a request and calls one of these; the
//! management API (through `berth-auth`'s access rules) and background jobs (upload expiry,
//! later garbage collection, quotas, proxy cache and replication) call the same ones.
//!
//! A service crate: no actix. Inputs are typed names, digests, byte streams and plain numbers,
//! outputs are values or an [`Error`] that says what went wrong, never how to answer it.
//! Depends on `berth-core`, `berth-meta` and `berth-storage` only.

mod blobs;
mod deletes;
mod error;
mod ingest;
mod listing;
mod manifests;
mod sessions;
mod uploads;

use std::sync::Arc;

use berth_meta::Meta;
use berth_storage::BlobStore;

use sessions::Sessions;

pub use error::Error;
pub use listing::Page;
pub use manifests::{acceptable, ManifestPut};
pub use uploads::{Chunk, UploadSession, UploadState};

/// Settings of the distribution API.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Largest manifest body accepted; larger PUTs get 413.
    pub max_manifest_bytes: usize,
    /// Whether deletes of manifests, tags, blob links and repositories are allowed, on `/v2`
    /// and in the management API alike.
    pub delete_enabled: bool,
    /// Page size of tag lists and the catalog when the client gives no `n`, and the cap on `n`.
    pub page_size: i64,
    /// Entries per page of a referrers list.
    pub referrers_page_size: i64,
    /// Platform (`os/arch`) picked from an index for a client that accepts no index type.
    pub default_platform: (String, String),
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            max_manifest_bytes: 4 * 1024 * 1024,
            delete_enabled: true,
            page_size: 1000,
            referrers_page_size: 500,
            default_platform: ("linux".into(), "amd64".into()),
        }
    }
}

/// The registry's use-cases over one metadata store and one blob store. Cheap to clone;
/// every clone shares the per-process upload state.
#[derive(Clone)]
pub struct Service {
    meta: Meta,
    store: BlobStore,
    config: Arc<RegistryConfig>,
    sessions: Arc<Sessions>,
}

impl Service {
    pub fn new(meta: Meta, store: BlobStore, config: Arc<RegistryConfig>) -> Self {
        Service {
            meta,
            store,
            config,
            sessions: Arc::new(Sessions::default()),
        }
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }
}
