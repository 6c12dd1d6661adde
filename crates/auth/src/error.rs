//! [`Error`]: every way a service call of this crate can fail, with no HTTP in it. Each edge
//! maps it once to its own answer (status, code, headers); the causes of unavailable and
//! internal failures stay in the variant for the edge to log, never to send.

use berth_meta::MetaError;

/// A failed service call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, unreadable or wrong credentials.
    #[error("invalid user name or password")]
    BadCredentials,
    /// Too many failed logins for the account or the source; retry after this many seconds.
    #[error("too many failed logins; retry in {0} s")]
    RateLimited(u64),
    /// The named thing does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller is known but may not do this.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// The change clashes with the current state; the message says with what.
    #[error("{0}")]
    Conflict(String),
    /// A value of the request is not acceptable; `field` names it.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The registry is configured not to do this (e.g. deletes are disabled).
    #[error("{0}")]
    Disabled(&'static str),
    /// A dependency (`what`) does not answer; `cause` is for the log.
    #[error("the {what} is unavailable")]
    Unavailable { what: &'static str, cause: String },
    /// Anything else; `0` is the cause, for the log.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Error {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error::Conflict(message.into())
    }
}

impl From<MetaError> for Error {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Unavailable(_) | MetaError::Timeout(_) => Error::Unavailable {
                what: "metadata database",
                cause: e.to_string(),
            },
            MetaError::Conflict => Error::Conflict("already exists".into()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<berth_content::Error> for Error {
    fn from(e: berth_content::Error) -> Self {
        use berth_content::Error as C;
        match e {
            C::RepoUnknown { .. } => Error::NotFound("repository"),
            C::ManifestUnknown { .. } => Error::NotFound("tag or manifest"),
            C::BlobUnknown { .. } => Error::NotFound("blob"),
            C::UploadUnknown { .. } => Error::NotFound("upload"),
            C::DeletesDisabled => Error::Disabled("deletes are disabled on this registry"),
            C::Name(n) => Error::invalid("name", n.to_string()),
            C::Meta(m) => m.into(),
            C::Storage(berth_storage::StorageError::Io(io)) => Error::Unavailable {
                what: "blob store",
                cause: io.to_string(),
            },
            other => Error::Internal(other.to_string()),
        }
    }
}

/// The result of a service call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
