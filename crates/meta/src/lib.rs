//! berth-meta: the metadata store.
//!
//! The registry graph — repositories, blobs and their per-repository links, manifests (exact
//! bytes), what they reference, tags, referrer subjects and upload sessions — lives here, in
//! SQLite (the embedded default) or PostgreSQL, through sqlx's `Any` driver. All SQL is
//! written once with `$N` placeholders, which both dialects accept; schema differences live in
//! `migrations/<dialect>/`. Depends on `berth-core` and sqlx only; no HTTP and no storage.

mod blobs;
mod cache;
mod db;
mod manifests;
mod repos;
mod uploads;

pub use db::{Backend, Meta, MetaError, MetaOptions};
pub use manifests::{ManifestRow, NewManifest, ReferrerRow};
pub use uploads::UploadRow;

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
