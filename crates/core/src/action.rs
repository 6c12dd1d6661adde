//! The actions a request needs on a resource, as the Docker token spec names them.

use std::fmt;

/// What a request does to a repository (or to the registry, for the catalog).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs and manifests, create tags.
    Push,
    /// Delete manifests, tags and blob links.
    Delete,
    /// List the repositories of the registry (`registry:catalog:*`).
    Catalog,
}

impl Action {
    /// The scope-grammar spelling of the action.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::Catalog => "*",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
