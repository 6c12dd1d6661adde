//! [`OciError`]: every failure of the distribution API as `{"errors":[{code,message,detail}]}`.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use berth_core::{DigestError, ErrorCode, NameError};
use berth_meta::MetaError;
use berth_storage::StorageError;
use serde_json::{json, Value};

use crate::endpoint::RouteError;
use crate::http::upload_range;
use crate::service::Error as ServiceError;

/// One OCI error response.
#[derive(Debug)]
pub struct OciError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<Value>,
    /// Further entries in the `errors` array (e.g. one per missing blob).
    pub more: Vec<(ErrorCode, String, Option<Value>)>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl OciError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        OciError {
            status: StatusCode::from_u16(code.default_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
            detail: None,
            more: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn header(mut self, name: &'static str, value: impl AsRef<str>) -> Self {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }

    /// A server-side failure: the cause goes to the log, the client reads "internal error".
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        OciError::new(ErrorCode::Internal, "internal error")
    }

    /// A dependency is down: 503 with a retry hint, cause logged.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        OciError::new(
            ErrorCode::Unavailable,
            "service temporarily unavailable, retry later",
        )
        .header(
            "retry-after",
            berth_edge::RETRY_AFTER_UNAVAILABLE_SECS.to_string(),
        )
    }

    pub fn digest_invalid(e: impl std::fmt::Display) -> Self {
        OciError::new(ErrorCode::DigestInvalid, e.to_string())
    }
}

impl std::fmt::Display for OciError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for OciError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let entry = |code: ErrorCode, message: &str, detail: &Option<Value>| {
            let mut e = json!({"code": code.as_str(), "message": message});
            if let Some(d) = detail {
                e["detail"] = d.clone();
            }
            e
        };
        let mut errors = vec![entry(self.code, &self.message, &self.detail)];
        errors.extend(self.more.iter().map(|(c, m, d)| entry(*c, m, d)));
        let mut res = HttpResponse::build(self.status);
        for (k, v) in &self.headers {
            res.insert_header((k.clone(), v.clone()));
        }
        res.content_type("application/json")
            .body(json!({"errors": errors}).to_string())
    }
}

impl From<MetaError> for OciError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Unavailable(_) | MetaError::Timeout(_) => OciError::unavailable(&e),
            other => OciError::internal(&other),
        }
    }
}

impl From<StorageError> for OciError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Body(m) => OciError::new(
                ErrorCode::BlobUploadInvalid,
                format!("request body failed: {m}"),
            ),
            StorageError::TooLong(n) => OciError::new(
                ErrorCode::SizeInvalid,
                format!("body is longer than the {n} bytes declared by Content-Range"),
            ),
            StorageError::TooShort { expected, got } => OciError::new(
                ErrorCode::SizeInvalid,
                format!("body has {got} bytes but Content-Range declares {expected}"),
            ),
            StorageError::UploadMissing => {
                OciError::new(ErrorCode::BlobUploadUnknown, "upload session data is gone")
            }
            StorageError::BlobMissing => {
                OciError::internal(&"blob recorded in metadata is missing from storage")
            }
            StorageError::Io(_) => OciError::unavailable(&e),
        }
    }
}

/// The one map from a registry use-case's failure to its OCI answer.
impl From<ServiceError> for OciError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        match e {
            E::RepoUnknown { repo } => OciError::new(
                ErrorCode::NameUnknown,
                format!("repository {repo} is not known"),
            ),
            E::ManifestUnknown { repo, reference } => OciError::new(
                ErrorCode::ManifestUnknown,
                format!("manifest {reference} is not in {repo}"),
            ),
            E::NotAcceptable { media_type } => OciError::new(
                ErrorCode::ManifestUnknown,
                format!(
                    "the manifest is {media_type}, which the request's Accept header does not allow"
                ),
            ),
            E::BlobUnknown { repo, digest } => OciError::new(
                ErrorCode::BlobUnknown,
                format!("blob {digest} is not in {repo}"),
            ),
            E::UploadUnknown { id } => OciError::new(
                ErrorCode::BlobUploadUnknown,
                format!("upload {id} is unknown or has expired"),
            ),
            E::UploadBusy { id } => OciError::new(
                ErrorCode::BlobUploadInvalid,
                format!("upload {id} is busy with another request"),
            )
            .status(StatusCode::CONFLICT),
            E::UploadMoved => OciError::new(
                ErrorCode::BlobUploadInvalid,
                "upload was modified concurrently",
            )
            .status(StatusCode::CONFLICT),
            // 416 with the session's real range, so the client can resume from there.
            E::OutOfOrder {
                repo,
                id,
                size,
                start,
            } => OciError::new(
                ErrorCode::BlobUploadInvalid,
                format!("chunk starts at {start}, but the upload holds {size} bytes"),
            )
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header("location", format!("/v2/{repo}/blobs/uploads/{id}"))
            .header("range", upload_range(size as i64))
            .header("docker-upload-uuid", &id),
            E::DigestMismatch { computed, expected } => {
                OciError::digest_invalid(format!("content digest is {computed}, not {expected}"))
            }
            E::ManifestDigestMismatch { computed, expected } => {
                OciError::digest_invalid(format!("manifest digest is {computed}, not {expected}"))
            }
            E::ManifestInvalid(m) => OciError::new(ErrorCode::ManifestInvalid, m),
            E::ManifestTooLarge { max } => OciError::new(
                ErrorCode::SizeInvalid,
                format!("manifest is larger than the {max}-byte limit"),
            )
            .status(StatusCode::PAYLOAD_TOO_LARGE),
            E::ReferencesMissing { repo, digests } => {
                let entry = |d: &String| {
                    (
                        ErrorCode::ManifestBlobUnknown,
                        format!("{d} is not in {repo}"),
                        Some(json!({"digest": d})),
                    )
                };
                let mut entries = digests.iter().map(entry);
                let Some((code, message, detail)) = entries.next() else {
                    return OciError::internal(&"missing references reported without a digest");
                };
                let mut e = OciError::new(code, message);
                e.detail = detail;
                e.more = entries.collect();
                e
            }
            E::DeletesDisabled => OciError::new(
                ErrorCode::Unsupported,
                "deletes are disabled on this registry",
            )
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header("allow", "GET, HEAD"),
            E::Name(e) => e.into(),
            E::Corrupt(cause) => OciError::internal(&cause),
            E::Meta(e) => e.into(),
            E::Storage(e) => e.into(),
        }
    }
}

impl From<RouteError> for OciError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::NotFound => OciError::new(ErrorCode::Unsupported, "no such endpoint")
                .status(StatusCode::NOT_FOUND),
            RouteError::MethodNotAllowed(allow) => OciError::new(
                ErrorCode::Unsupported,
                "method not allowed on this endpoint",
            )
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header("allow", allow),
            RouteError::InvalidName(n) => OciError::new(ErrorCode::NameInvalid, n.to_string()),
        }
    }
}

impl From<DigestError> for OciError {
    fn from(e: DigestError) -> Self {
        OciError::digest_invalid(e)
    }
}

impl From<NameError> for OciError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::Digest(d) => d.into(),
            NameError::InvalidTag(_) => OciError::new(ErrorCode::TagInvalid, e.to_string()),
            NameError::InvalidName(_) | NameError::NameTooLong | NameError::InvalidAccount(_) => {
                OciError::new(ErrorCode::NameInvalid, e.to_string())
            }
        }
    }
}
