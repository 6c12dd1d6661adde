//! The registry's use-cases as plain functions, without HTTP: ingest a stream of bytes against
//! a digest, run an upload session, put, get and delete manifests, look up, mount and delete
//! blob links, delete a repository. The `/v2` edge parses a request and calls one of these;
//! the management API and background jobs (upload expiry, later proxy cache, replication and
//! garbage collection) call the same ones.
//!
//! Nothing in this module knows actix: inputs are typed names, digests, byte streams and
//! plain numbers, outputs are values or an [`Error`] that says what went wrong, never how
//! to answer it. Uses `berth-core`, `berth-meta`, `berth-storage` and the plain
//! [`RegistryConfig`](crate::RegistryConfig); never the edge beside it.

mod blobs;
mod deletes;
mod error;
mod ingest;
mod manifests;
pub(crate) mod sessions;
mod uploads;

use std::sync::Arc;

use berth_meta::Meta;
use berth_storage::BlobStore;

use crate::RegistryConfig;
use sessions::Sessions;

pub use error::Error;
pub use manifests::{acceptable, ManifestPut};
pub use uploads::{Chunk, UploadSession, UploadState};

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
