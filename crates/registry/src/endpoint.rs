//! Parses a `/v2/…` request into one [`Endpoint`], before any handler runs.
//!
//! Repository names span several path segments, so routes are not registered per depth: the
//! path is split once and read from its end, where the resource kind always stands
//! (`…/manifests/<ref>`, `…/blobs/<digest>`, `…/blobs/uploads/<id>`, `…/tags/list`,
//! `…/referrers/<digest>`). Each endpoint says which [`Action`] it needs, so authorization is
//! one decision made right after parsing. Pure logic: unit tested without a server.

use berth_core::{Action, ErrorCode, NameError, RepoName};

/// One operation of the distribution API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /v2/` — API version check.
    Base,
    /// `GET /v2/_catalog`
    Catalog,
    /// `GET /v2/<name>/tags/list`
    ListTags { name: RepoName },
    /// `GET|HEAD /v2/<name>/manifests/<reference>`
    GetManifest {
        name: RepoName,
        reference: String,
        head: bool,
    },
    /// `PUT /v2/<name>/manifests/<reference>`
    PutManifest { name: RepoName, reference: String },
    /// `DELETE /v2/<name>/manifests/<reference>`
    DeleteManifest { name: RepoName, reference: String },
    /// `GET|HEAD /v2/<name>/blobs/<digest>`
    GetBlob {
        name: RepoName,
        digest: String,
        head: bool,
    },
    /// `DELETE /v2/<name>/blobs/<digest>`
    DeleteBlob { name: RepoName, digest: String },
    /// `POST /v2/<name>/blobs/uploads/` (also `?digest=`, `?mount=&from=`)
    StartUpload { name: RepoName },
    /// `GET /v2/<name>/blobs/uploads/<id>`
    UploadStatus { name: RepoName, id: String },
    /// `PATCH /v2/<name>/blobs/uploads/<id>`
    PatchUpload { name: RepoName, id: String },
    /// `PUT /v2/<name>/blobs/uploads/<id>?digest=`
    FinishUpload { name: RepoName, id: String },
    /// `DELETE /v2/<name>/blobs/uploads/<id>`
    CancelUpload { name: RepoName, id: String },
    /// `GET /v2/<name>/referrers/<digest>`
    Referrers { name: RepoName, digest: String },
}

/// Why a request matched no endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    /// The path is an endpoint, the method is not; carries the methods that are.
    MethodNotAllowed(&'static str),
    InvalidName(NameError),
}

impl RouteError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RouteError::InvalidName(_) => ErrorCode::NameInvalid,
            RouteError::NotFound | RouteError::MethodNotAllowed(_) => ErrorCode::Unsupported,
        }
    }
}

/// The resource a path names, before the method is considered.
enum Kind<'a> {
    Base,
    Catalog,
    Tags,
    Manifest(&'a str),
    Blob(&'a str),
    UploadStart,
    Upload(&'a str),
    Referrers(&'a str),
}

impl Endpoint {
    /// Parses `method` and `path` (the full path, starting `/v2`).
    pub fn parse(method: &str, path: &str) -> Result<Endpoint, RouteError> {
        let rest = path.strip_prefix("/v2").ok_or(RouteError::NotFound)?;
        let rest = match rest {
            "" | "/" => return Self::with_method(method, Kind::Base, None),
            r => r.strip_prefix('/').ok_or(RouteError::NotFound)?,
        };
        if rest == "_catalog" {
            return Self::with_method(method, Kind::Catalog, None);
        }
        let segs: Vec<&str> = rest.split('/').collect();
        let n = segs.len();
        let at = |i: usize| if i < n { segs[n - 1 - i] } else { "" };
        // (kind, number of trailing segments that are not the name)
        let (kind, tail) = match (at(2), at(1), at(0)) {
            (_, "tags", "list") => (Kind::Tags, 2),
            ("blobs", "uploads", "") => (Kind::UploadStart, 3),
            ("blobs", "uploads", id) => (Kind::Upload(id), 3),
            (_, "blobs", "uploads") => (Kind::UploadStart, 2),
            (_, "manifests", r) if !r.is_empty() => (Kind::Manifest(r), 2),
            (_, "blobs", d) if !d.is_empty() => (Kind::Blob(d), 2),
            (_, "referrers", d) if !d.is_empty() => (Kind::Referrers(d), 2),
            _ => return Err(RouteError::NotFound),
        };
        if n <= tail {
            return Err(RouteError::NotFound);
        }
        let name = RepoName::parse(&segs[..n - tail].join("/")).map_err(RouteError::InvalidName)?;
        Self::with_method(method, kind, Some(name))
    }

    fn with_method(
        method: &str,
        kind: Kind<'_>,
        name: Option<RepoName>,
    ) -> Result<Endpoint, RouteError> {
        use RouteError::MethodNotAllowed as No;
        let name = || name.clone().ok_or(RouteError::NotFound);
        let head = method == "HEAD";
        Ok(match (kind, method) {
            (Kind::Base, "GET" | "HEAD") => Endpoint::Base,
            (Kind::Base, _) => return Err(No("GET, HEAD")),
            (Kind::Catalog, "GET") => Endpoint::Catalog,
            (Kind::Catalog, _) => return Err(No("GET")),
            (Kind::Tags, "GET") => Endpoint::ListTags { name: name()? },
            (Kind::Tags, _) => return Err(No("GET")),
            (Kind::Manifest(r), "GET" | "HEAD") => Endpoint::GetManifest {
                name: name()?,
                reference: r.into(),
                head,
            },
            (Kind::Manifest(r), "PUT") => Endpoint::PutManifest {
                name: name()?,
                reference: r.into(),
            },
            (Kind::Manifest(r), "DELETE") => Endpoint::DeleteManifest {
                name: name()?,
                reference: r.into(),
            },
            (Kind::Manifest(_), _) => return Err(No("GET, HEAD, PUT, DELETE")),
            (Kind::Blob(d), "GET" | "HEAD") => Endpoint::GetBlob {
                name: name()?,
                digest: d.into(),
                head,
            },
            (Kind::Blob(d), "DELETE") => Endpoint::DeleteBlob {
                name: name()?,
                digest: d.into(),
            },
            (Kind::Blob(_), _) => return Err(No("GET, HEAD, DELETE")),
            (Kind::UploadStart, "POST") => Endpoint::StartUpload { name: name()? },
            (Kind::UploadStart, _) => return Err(No("POST")),
            (Kind::Upload(id), "GET") => Endpoint::UploadStatus {
                name: name()?,
                id: id.into(),
            },
            (Kind::Upload(id), "PATCH") => Endpoint::PatchUpload {
                name: name()?,
                id: id.into(),
            },
            (Kind::Upload(id), "PUT") => Endpoint::FinishUpload {
                name: name()?,
                id: id.into(),
            },
            (Kind::Upload(id), "DELETE") => Endpoint::CancelUpload {
                name: name()?,
                id: id.into(),
            },
            (Kind::Upload(_), _) => return Err(No("GET, PATCH, PUT, DELETE")),
            (Kind::Referrers(d), "GET") => Endpoint::Referrers {
                name: name()?,
                digest: d.into(),
            },
            (Kind::Referrers(_), _) => return Err(No("GET")),
        })
    }

    /// The repository the endpoint acts on (none for `/v2/` and the catalog).
    pub fn repository(&self) -> Option<&RepoName> {
        match self {
            Endpoint::Base | Endpoint::Catalog => None,
            Endpoint::ListTags { name }
            | Endpoint::GetManifest { name, .. }
            | Endpoint::PutManifest { name, .. }
            | Endpoint::DeleteManifest { name, .. }
            | Endpoint::GetBlob { name, .. }
            | Endpoint::DeleteBlob { name, .. }
            | Endpoint::StartUpload { name }
            | Endpoint::UploadStatus { name, .. }
            | Endpoint::PatchUpload { name, .. }
            | Endpoint::FinishUpload { name, .. }
            | Endpoint::CancelUpload { name, .. }
            | Endpoint::Referrers { name, .. } => Some(name),
        }
    }

    /// The action the caller needs on [`Endpoint::repository`] (or on the registry, for the
    /// catalog); `None` for `/v2/`, which any authenticated caller may reach. A cross-repository
    /// mount additionally needs `pull` on its `from` repository, checked where it is read.
    pub fn required_action(&self) -> Option<Action> {
        match self {
            Endpoint::Base => None,
            Endpoint::Catalog => Some(Action::Catalog),
            Endpoint::ListTags { .. }
            | Endpoint::GetManifest { .. }
            | Endpoint::GetBlob { .. }
            | Endpoint::Referrers { .. } => Some(Action::Pull),
            Endpoint::PutManifest { .. }
            | Endpoint::StartUpload { .. }
            | Endpoint::UploadStatus { .. }
            | Endpoint::PatchUpload { .. }
            | Endpoint::FinishUpload { .. }
            | Endpoint::CancelUpload { .. } => Some(Action::Push),
            Endpoint::DeleteManifest { .. } | Endpoint::DeleteBlob { .. } => Some(Action::Delete),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    #[test]
    fn parses_every_endpoint() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases = vec![
            ("GET", "/v2/".to_string(), Endpoint::Base),
            ("GET", "/v2".to_string(), Endpoint::Base),
            ("GET", "/v2/_catalog".to_string(), Endpoint::Catalog),
            (
                "GET",
                "/v2/a/b/tags/list".to_string(),
                Endpoint::ListTags { name: n("a/b") },
            ),
            (
                "HEAD",
                "/v2/a/manifests/v1".to_string(),
                Endpoint::GetManifest {
                    name: n("a"),
                    reference: "v1".into(),
                    head: true,
                },
            ),
            (
                "PUT",
                "/v2/a/b/c/manifests/v1".to_string(),
                Endpoint::PutManifest {
                    name: n("a/b/c"),
                    reference: "v1".into(),
                },
            ),
            (
                "DELETE",
                format!("/v2/a/manifests/{d}"),
                Endpoint::DeleteManifest {
                    name: n("a"),
                    reference: d.clone(),
                },
            ),
            (
                "GET",
                format!("/v2/a/blobs/{d}"),
                Endpoint::GetBlob {
                    name: n("a"),
                    digest: d.clone(),
                    head: false,
                },
            ),
            (
                "DELETE",
                format!("/v2/a/blobs/{d}"),
                Endpoint::DeleteBlob {
                    name: n("a"),
                    digest: d.clone(),
                },
            ),
            (
                "POST",
                "/v2/a/b/blobs/uploads/".to_string(),
                Endpoint::StartUpload { name: n("a/b") },
            ),
            (
                "POST",
                "/v2/a/b/blobs/uploads".to_string(),
                Endpoint::StartUpload { name: n("a/b") },
            ),
            (
                "PATCH",
                "/v2/a/blobs/uploads/u-1".to_string(),
                Endpoint::PatchUpload {
                    name: n("a"),
                    id: "u-1".into(),
                },
            ),
            (
                "PUT",
                "/v2/a/blobs/uploads/u-1".to_string(),
                Endpoint::FinishUpload {
                    name: n("a"),
                    id: "u-1".into(),
                },
            ),
            (
                "GET",
                "/v2/a/blobs/uploads/u-1".to_string(),
                Endpoint::UploadStatus {
                    name: n("a"),
                    id: "u-1".into(),
                },
            ),
            (
                "DELETE",
                "/v2/a/blobs/uploads/u-1".to_string(),
                Endpoint::CancelUpload {
                    name: n("a"),
                    id: "u-1".into(),
                },
            ),
            (
                "GET",
                format!("/v2/a/referrers/{d}"),
                Endpoint::Referrers {
                    name: n("a"),
                    digest: d.clone(),
                },
            ),
            // Repositories whose names end in a resource word still parse.
            (
                "GET",
                "/v2/x/manifests/manifests/v1".to_string(),
                Endpoint::GetManifest {
                    name: n("x/manifests"),
                    reference: "v1".into(),
                    head: false,
                },
            ),
            (
                "GET",
                "/v2/tags/tags/tags/list".to_string(),
                Endpoint::ListTags {
                    name: n("tags/tags"),
                },
            ),
        ];
        for (m, p, want) in cases {
            assert_eq!(Endpoint::parse(m, &p), Ok(want), "{m} {p}");
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Endpoint::parse("GET", "/v2/a/nothing/here"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            Endpoint::parse("GET", "/v2/manifests/v1"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            Endpoint::parse("GET", "/v2/blobs/uploads/"),
            Err(RouteError::NotFound)
        );
        assert_eq!(Endpoint::parse("GET", "/v3/"), Err(RouteError::NotFound));
        assert_eq!(
            Endpoint::parse("POST", "/v2/a/manifests/v1"),
            Err(RouteError::MethodNotAllowed("GET, HEAD, PUT, DELETE"))
        );
        assert_eq!(
            Endpoint::parse("POST", "/v2/"),
            Err(RouteError::MethodNotAllowed("GET, HEAD"))
        );
        assert!(matches!(
            Endpoint::parse("GET", "/v2/A/tags/list"),
            Err(RouteError::InvalidName(_))
        ));
        assert!(matches!(
            Endpoint::parse("GET", "/v2/a//b/tags/list"),
            Err(RouteError::InvalidName(_))
        ));
    }

    #[test]
    fn actions() {
        let e = |m, p| Endpoint::parse(m, p).unwrap().required_action();
        assert_eq!(e("GET", "/v2/"), None);
        assert_eq!(e("GET", "/v2/_catalog"), Some(Action::Catalog));
        assert_eq!(e("HEAD", "/v2/a/manifests/x"), Some(Action::Pull));
        assert_eq!(e("PATCH", "/v2/a/blobs/uploads/x"), Some(Action::Push));
        assert_eq!(e("DELETE", "/v2/a/manifests/x"), Some(Action::Delete));
    }
}
