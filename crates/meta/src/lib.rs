//! berth-meta: the metadata store.
//!
//! The registry graph — repositories, blobs and their per-repository links, manifests (exact
//! bytes), what they reference, tags, referrer subjects and upload sessions — and the identities around it (users, groups, orgs,
//! members, robots, refresh tokens, web UI sessions, signing keys, audit events) live here, in
//! SQLite (the embedded default) or PostgreSQL, through sqlx's `Any` driver. All SQL is
//! written once with `$N` placeholders, which both dialects accept; schema differences live in
//! `migrations/<dialect>/`. Depends on `berth-core` and sqlx only; no HTTP and no storage.

mod audit;
mod blobs;
mod cache;
mod db;
mod identity;
mod manifests;
mod repos;
mod sessions;
mod stats;
mod tokens;
mod uploads;

pub use audit::{AuditEvent, AuditQuery};
pub use db::{Backend, Meta, MetaError, MetaOptions};
pub use identity::{
    DirectorySync, DirectorySyncError, DirectoryUser, GroupRow, MemberRow, NewRobot, NewUser,
    OrgRow, PersonalTokenRow, RobotRow, UserPatch, UserRow,
};
pub use manifests::{ManifestRow, NewManifest, ReferrerRow};
pub use repos::{ManifestSummary, RepoSummary, TagRow, Visibility};
pub use sessions::SessionRow;
pub use stats::SystemCounts;
pub use tokens::{KeyRow, RefreshRow};
pub use uploads::UploadRow;

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
