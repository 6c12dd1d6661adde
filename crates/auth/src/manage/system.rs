//! What a system admin reads about the installation as a whole: the version, the metadata and
//! blob backends, and what the registry holds (see `berth_meta::SystemCounts`).

use berth_content::Service as Content;
use berth_meta::{Backend, SystemCounts};

use crate::{Auth, Caller, Result};

/// The installation as a system admin sees it.
#[derive(Debug, Clone)]
pub struct SystemInfo {
    /// Berth's version (all crates share it).
    pub version: &'static str,
    /// `sqlite` or `postgresql`.
    pub metadata_backend: &'static str,
    /// `filesystem` or `s3`.
    pub blob_backend: &'static str,
    /// Whether deletes through `/v2` and `/api/v1` are allowed (`registry.delete_enabled`).
    pub delete_enabled: bool,
    pub counts: SystemCounts,
}

impl Auth {
    pub async fn system_info(&self, c: &Caller, content: &Content) -> Result<SystemInfo> {
        c.require_admin()?;
        Ok(SystemInfo {
            version: env!("CARGO_PKG_VERSION"),
            metadata_backend: match self.meta.backend() {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgresql",
            },
            blob_backend: content.store().kind(),
            delete_enabled: content.config().delete_enabled,
            counts: self.meta.system_counts().await?,
        })
    }
}
