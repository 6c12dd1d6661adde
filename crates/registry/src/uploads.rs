//! `/v2` blob uploads: monolithic (POST+PUT, single POST with `?digest=`), chunked (PATCH with
//! `Content-Range`), streamed (PATCH without), status, cancel, and cross-repository mount.
//!
//! Each handler reads the query and the `Content-Range` / `Content-Length` headers, calls one
//! use-case of [`crate::service`] and shapes its answer; the session rules live there.

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use berth_core::{Algorithm, Digest, RepoName};

use crate::http::{chunk_range, content_length, upload_range, Query};
use crate::service::{Chunk, UploadState};
use crate::{OciError, Registry};

fn created(name: &RepoName, digest: &Digest) -> HttpResponse {
    HttpResponse::Created()
        .insert_header(("Location", format!("/v2/{name}/blobs/{digest}")))
        .insert_header(("Docker-Content-Digest", digest.to_string()))
        .finish()
}

fn in_progress(status: StatusCode, name: &RepoName, u: &UploadState) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Location", format!("/v2/{name}/blobs/uploads/{}", u.id)))
        .insert_header(("Range", upload_range(u.size as i64)))
        .insert_header(("Docker-Upload-UUID", u.id.as_str()))
        .finish()
}

/// The chunk a request body is: `Content-Range` gives its start and length, else
/// `Content-Length` its length.
fn chunk_of(headers: &HeaderMap) -> Result<Chunk, OciError> {
    Ok(match chunk_range(headers)? {
        Some((start, end)) => Chunk {
            start: Some(start),
            len: Some(end - start + 1),
        },
        None => Chunk {
            start: None,
            len: content_length(headers),
        },
    })
}

/// `POST /v2/<name>/blobs/uploads/` — 202 with a session `Location`; with `?mount=&from=` a
/// 201 mount when the blob is in `from`; with `?digest=` and a body, a single-request upload
/// (201); `?digest-algorithm=` picks the session's algorithm.
pub async fn start(
    reg: &Registry,
    req: &HttpRequest,
    body: web::Payload,
    name: &RepoName,
    q: &Query,
    may_mount: bool,
) -> Result<HttpResponse, OciError> {
    if let Some(mount) = q.get("mount") {
        let digest = Digest::parse(mount)?;
        // Without `from`, no blob is mounted: a digest alone must never give access to bytes
        // of a repository the caller cannot read. The client gets a session and uploads.
        // Nor is one mounted from a repository the caller may not pull from (the guard decided).
        if let Some(from) = q
            .get("from")
            .and_then(|f| RepoName::parse(f).ok())
            .filter(|_| may_mount)
        {
            if reg.service.mount_blob(name, &digest, &from).await? {
                return Ok(created(name, &digest));
            }
        }
    }
    if let Some(d) = q.get("digest") {
        let digest = Digest::parse(d)?;
        let declared = content_length(req.headers());
        let has_body = declared.unwrap_or(0) > 0 || req.headers().contains_key("transfer-encoding");
        if has_body {
            reg.service.ingest(name, &digest, body, declared).await?;
            return Ok(created(name, &digest));
        }
    }
    let algorithm = match q.get("digest-algorithm") {
        None => Algorithm::Sha256,
        Some(a) => a.parse::<Algorithm>()?,
    };
    let u = reg.service.start_upload(name, algorithm).await?;
    Ok(in_progress(StatusCode::ACCEPTED, name, &u))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>` — 202 with `Range: 0-<last byte>`; 416 for a chunk
/// that does not start at the current size.
pub async fn patch(
    reg: &Registry,
    req: &HttpRequest,
    body: web::Payload,
    name: &RepoName,
    id: &str,
) -> Result<HttpResponse, OciError> {
    let mut session = reg.service.open_upload(name, id).await?;
    let u = session.append(chunk_of(req.headers())?, body).await?;
    Ok(in_progress(StatusCode::ACCEPTED, name, &u))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=` — appends an optional last chunk, verifies the
/// digest and makes the blob visible: 201. A mismatch ends the session with 400.
pub async fn finish(
    reg: &Registry,
    req: &HttpRequest,
    body: web::Payload,
    name: &RepoName,
    id: &str,
    q: &Query,
) -> Result<HttpResponse, OciError> {
    let digest = Digest::parse(
        q.get("digest")
            .ok_or_else(|| OciError::digest_invalid("the digest query parameter is required"))?,
    )?;
    let session = reg.service.open_upload(name, id).await?;
    session
        .finish(&digest, chunk_of(req.headers())?, body)
        .await?;
    Ok(created(name, &digest))
}

/// `GET /v2/<name>/blobs/uploads/<id>` — 204 with the `Range` received so far.
pub async fn status(reg: &Registry, name: &RepoName, id: &str) -> Result<HttpResponse, OciError> {
    let u = reg.service.upload_status(name, id).await?;
    Ok(in_progress(StatusCode::NO_CONTENT, name, &u))
}

/// `DELETE /v2/<name>/blobs/uploads/<id>` — 204; the session and its bytes are gone.
pub async fn cancel(reg: &Registry, name: &RepoName, id: &str) -> Result<HttpResponse, OciError> {
    reg.service.open_upload(name, id).await?.cancel().await;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_RANGE};

    #[test]
    fn chunks_from_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(chunk_of(&h).ok(), Some(Chunk::default()));
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("7"));
        let by_length = Chunk {
            start: None,
            len: Some(7),
        };
        assert_eq!(chunk_of(&h).ok(), Some(by_length));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("10-19"));
        let by_range = Chunk {
            start: Some(10),
            len: Some(10),
        };
        assert_eq!(chunk_of(&h).ok(), Some(by_range));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("9-1"));
        let e = chunk_of(&h).err().map(|e| e.status);
        assert_eq!(e, Some(StatusCode::RANGE_NOT_SATISFIABLE));
    }
}
