//! Blob uploads: monolithic (POST+PUT, single POST with `?digest=`), chunked (PATCH with
//! `Content-Range`), streamed (PATCH without), status, cancel, and cross-repository mount.
//!
//! Session state (repository, algorithm, bytes accepted) is a database row and the bytes a
//! staging object, so any replica can continue any session and every URL handed out stays
//! valid. A chunk is accepted whole or not at all: a failed or short chunk is rolled back.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use berth_core::{Algorithm, Digest, DigestHasher, ErrorCode, RepoName};
use berth_meta::UploadRow;
use berth_storage::StorageError;

use crate::http::{chunk_range, content_length, upload_range, Query};
use crate::sessions::SessionGuard;
use crate::{OciError, Registry};

fn upload_location(name: &RepoName, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn blob_location(name: &RepoName, digest: &Digest) -> String {
    format!("/v2/{name}/blobs/{digest}")
}

fn created(name: &RepoName, digest: &Digest) -> HttpResponse {
    HttpResponse::Created()
        .insert_header(("Location", blob_location(name, digest)))
        .insert_header(("Docker-Content-Digest", digest.to_string()))
        .finish()
}

fn in_progress(status: StatusCode, name: &RepoName, u: &UploadRow) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Location", upload_location(name, &u.id)))
        .insert_header(("Range", upload_range(u.size)))
        .insert_header(("Docker-Upload-UUID", u.id.as_str()))
        .finish()
}

fn unknown_upload(id: &str) -> OciError {
    OciError::new(
        ErrorCode::BlobUploadUnknown,
        format!("upload {id} is unknown or has expired"),
    )
}

/// A chunk that does not start where the session stands: 416 with the session's real range.
fn out_of_order(name: &RepoName, u: &UploadRow, start: u64) -> OciError {
    OciError::new(
        ErrorCode::BlobUploadInvalid,
        format!(
            "chunk starts at {start}, but the upload holds {} bytes",
            u.size
        ),
    )
    .status(StatusCode::RANGE_NOT_SATISFIABLE)
    .header("location", upload_location(name, &u.id))
    .header("range", upload_range(u.size))
    .header("docker-upload-uuid", &u.id)
}

async fn load(reg: &Registry, name: &RepoName, id: &str) -> Result<UploadRow, OciError> {
    match reg.meta.get_upload(id).await? {
        Some(u) if u.repo == name.as_str() => Ok(u),
        _ => Err(unknown_upload(id)),
    }
}

fn algorithm_of(u: &UploadRow) -> Algorithm {
    u.algorithm.parse().unwrap_or(Algorithm::Sha256)
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
            let d = digest.to_string();
            if let Some(size) = reg.meta.blob_in_repo(from.as_str(), &d).await? {
                reg.meta.link_blob(name.as_str(), &d, size).await?;
                return Ok(created(name, &digest));
            }
        }
    }
    if let Some(d) = q.get("digest") {
        let digest = Digest::parse(d)?;
        let has_body = content_length(req.headers()).unwrap_or(0) > 0
            || req.headers().contains_key("transfer-encoding");
        if has_body {
            return single_request(reg, req, body, name, &digest).await;
        }
    }
    let algorithm = match q.get("digest-algorithm") {
        None => Algorithm::Sha256,
        Some(a) => a.parse::<Algorithm>()?,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let state = reg.store.begin_upload(&id).await?;
    let u = reg
        .meta
        .create_upload(&id, name.as_str(), algorithm.as_str(), state.as_deref())
        .await?;
    Ok(in_progress(StatusCode::ACCEPTED, name, &u))
}

/// `POST …/uploads/?digest=` with the whole blob as body: staged, verified, committed.
async fn single_request(
    reg: &Registry,
    req: &HttpRequest,
    body: web::Payload,
    name: &RepoName,
    digest: &Digest,
) -> Result<HttpResponse, OciError> {
    let id = uuid::Uuid::new_v4().to_string();
    let state = reg.store.begin_upload(&id).await?;
    let mut hasher = digest.algorithm().hasher();
    let result = async {
        let (size, state) = reg
            .store
            .append(
                &id,
                state.as_deref(),
                0,
                body,
                Some(&mut hasher),
                content_length(req.headers()),
            )
            .await?;
        verify(hasher, digest)?;
        reg.store
            .commit_upload(&id, state.as_deref(), size, digest)
            .await?;
        reg.meta
            .link_blob(name.as_str(), &digest.to_string(), size as i64)
            .await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = reg.store.abort_upload(&id).await;
        return Err(e);
    }
    Ok(created(name, digest))
}

fn verify(hasher: DigestHasher, expected: &Digest) -> Result<(), OciError> {
    let got = hasher.finish();
    if &got == expected {
        Ok(())
    } else {
        Err(OciError::digest_invalid(format!(
            "content digest is {got}, not {expected}"
        )))
    }
}

/// Appends the request body to the session at its current size (checking `Content-Range`),
/// keeping the running hash when it covers all bytes so far. With `record`, writes the
/// session's new size and backend state to its row; a closing PUT does not, since the same
/// transaction that links the blob removes the row (checking it still holds the old size).
async fn append_body(
    reg: &Registry,
    req: &HttpRequest,
    body: web::Payload,
    name: &RepoName,
    u: &mut UploadRow,
    guard: &SessionGuard,
    record: bool,
) -> Result<(), OciError> {
    let range = chunk_range(req.headers())?;
    let declared = match range {
        Some((start, end)) => {
            if start != u.size as u64 {
                return Err(out_of_order(name, u, start));
            }
            Some(end - start + 1)
        }
        None => content_length(req.headers()),
    };
    if declared == Some(0) {
        return Ok(());
    }
    let offset = u.size as u64;
    let mut hasher = guard
        .take_hash(offset)
        .or_else(|| (offset == 0).then(|| algorithm_of(u).hasher()));
    let (n, state) = reg
        .store
        .append(
            &u.id,
            u.state.as_deref(),
            offset,
            body,
            hasher.as_mut(),
            declared,
        )
        .await?;
    if n == 0 {
        return Ok(());
    }
    let new_size = u.size + n as i64;
    if record
        && !reg
            .meta
            .advance_upload(&u.id, u.size, new_size, state.as_deref())
            .await?
    {
        return Err(moved_meanwhile());
    }
    if let Some(h) = hasher {
        guard.keep_hash(new_size as u64, h);
    }
    reg.store
        .release(&u.id, u.state.as_deref(), offset, new_size as u64)
        .await;
    u.size = new_size;
    u.state = state;
    Ok(())
}

/// Another replica moved the session meanwhile: this request's bytes cannot be trusted.
fn moved_meanwhile() -> OciError {
    OciError::new(
        ErrorCode::BlobUploadInvalid,
        "upload was modified concurrently",
    )
    .status(StatusCode::CONFLICT)
}

fn busy(id: &str) -> OciError {
    OciError::new(
        ErrorCode::BlobUploadInvalid,
        format!("upload {id} is busy with another request"),
    )
    .status(StatusCode::CONFLICT)
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
    let mut u = load(reg, name, id).await?;
    let guard = reg.sessions.acquire(id).ok_or_else(|| busy(id))?;
    append_body(reg, req, body, name, &mut u, &guard, true).await?;
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
    let mut u = load(reg, name, id).await?;
    let guard = reg.sessions.acquire(id).ok_or_else(|| busy(id))?;
    let recorded = u.size;
    append_body(reg, req, body, name, &mut u, &guard, false).await?;

    let computed = match guard.take_hash(u.size as u64) {
        Some(h) if h.algorithm() == digest.algorithm() => h.finish(),
        _ => match reg
            .store
            .digest_upload(id, u.state.as_deref(), u.size as u64, digest.algorithm())
            .await
        {
            Ok(d) => d,
            // A crash after the staging data was renamed into place, before the session ended:
            // the blob under this digest is that data (it was verified before the rename).
            Err(StorageError::UploadMissing)
                if reg.store.blob_len(&digest).await? == Some(u.size as u64) =>
            {
                digest.clone()
            }
            Err(e) => return Err(e.into()),
        },
    };
    if computed != digest {
        end_session(reg, id).await;
        return Err(OciError::digest_invalid(format!(
            "content digest is {computed}, not {digest}"
        )));
    }
    reg.store
        .commit_upload(id, u.state.as_deref(), u.size as u64, &digest)
        .await?;
    if !reg
        .meta
        .link_blob_ending(
            name.as_str(),
            &digest.to_string(),
            u.size,
            Some((id, recorded)),
        )
        .await?
    {
        return Err(moved_meanwhile());
    }
    drop(guard);
    reg.sessions.forget(id);
    Ok(created(name, &digest))
}

/// `GET /v2/<name>/blobs/uploads/<id>` — 204 with the `Range` received so far.
pub async fn status(reg: &Registry, name: &RepoName, id: &str) -> Result<HttpResponse, OciError> {
    let u = load(reg, name, id).await?;
    Ok(in_progress(StatusCode::NO_CONTENT, name, &u))
}

/// `DELETE /v2/<name>/blobs/uploads/<id>` — 204; the session and its bytes are gone.
pub async fn cancel(reg: &Registry, name: &RepoName, id: &str) -> Result<HttpResponse, OciError> {
    load(reg, name, id).await?;
    let _guard = reg.sessions.acquire(id).ok_or_else(|| busy(id))?;
    end_session(reg, id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a session's row and staging object; failures are logged (cleanup retries).
pub(crate) async fn end_session(reg: &Registry, id: &str) {
    if let Err(e) = reg.meta.delete_upload(id).await {
        tracing::warn!(upload = id, error = %e, "could not delete upload session");
    }
    if let Err(e) = reg.store.abort_upload(id).await {
        tracing::warn!(upload = id, error = %e, "could not delete upload data");
    }
    reg.sessions.forget(id);
}
