//! berth-core: the pure domain of Berth.
//!
//! Repository names, tags, digests, media types, manifest parsing and validation, the actions a
//! request needs, scopes, roles and the access decision, and the closed set of OCI error codes, trusted-proxy networks. This crate performs no I/O and depends
//! on no async runtime, database, HTTP or cloud crate: everything here is plain Rust, unit tested
//! beside the code, and shared by every layer above it.

pub mod action;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod media;
pub mod name;
pub mod net;
pub mod role;
pub mod scope;

pub use action::Action;
pub use digest::{Algorithm, Digest, DigestError, DigestHasher};
pub use error::ErrorCode;
pub use manifest::{Descriptor, ManifestError, ManifestKind, ParsedManifest};
pub use name::{NameError, Reference, RepoName, Tag, UserName};
pub use net::Cidr;
pub use role::{MemberKind, OrgFacts, Permission, RobotAction, RobotRule, Role, Subject};
pub use scope::{Scope, ScopeError};
