//! `/v2` blob reads and deletes. Whether a blob is linked here, and deleting its link, are
//! use-cases of [`crate::service`]; this module shapes the bytes: redirects, `Range`, `HEAD`,
//! `sendfile` or a stream.

use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use berth_core::{Digest, ErrorCode, RepoName};
use bytes::Bytes;

use crate::http::{byte_range, header, ByteRange};
use crate::{OciError, Registry};

/// `GET|HEAD /v2/<name>/blobs/<digest>` — 200 with the bytes (or 206 for a `Range`), with
/// `Content-Length`, `Docker-Content-Digest`; 404 `BLOB_UNKNOWN` unless the blob is linked
/// into this repository; 416 for a range outside the blob.
pub async fn get(
    reg: &Registry,
    req: &HttpRequest,
    name: &RepoName,
    digest: &str,
    head: bool,
) -> Result<HttpResponse, OciError> {
    let digest = Digest::parse(digest)?;
    let digest_s = digest.to_string();
    let size = reg.service.blob_size(name, &digest).await?;
    if !head {
        // With S3 redirects on, the client fetches the bytes from the store itself (a
        // presigned, short-lived URL); the access check above still happened here.
        if let Some(url) = reg.store.redirect_url(&digest).await? {
            return Ok(HttpResponse::TemporaryRedirect()
                .insert_header(("Location", url))
                .insert_header(("Docker-Content-Digest", digest_s.as_str()))
                .finish());
        }
    }
    let mut res = HttpResponse::Ok();
    res.content_type("application/octet-stream")
        .insert_header(("Docker-Content-Digest", digest_s.as_str()))
        .insert_header(("ETag", format!("\"{digest_s}\"")))
        .insert_header(("Accept-Ranges", "bytes"))
        .insert_header(("Cache-Control", "max-age=31536000"));
    let (start, len) = match byte_range(header(req.headers(), "range"), size) {
        ByteRange::Full => (0, size),
        ByteRange::Part(s, e) => {
            res.status(StatusCode::PARTIAL_CONTENT)
                .insert_header(("Content-Range", format!("bytes {s}-{e}/{size}")));
            (s, e - s + 1)
        }
        ByteRange::Unsatisfiable => {
            return Err(OciError::new(
                ErrorCode::BlobUnknown,
                "requested range is outside the blob",
            )
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header("content-range", format!("bytes */{size}")))
        }
    };
    if head {
        let empty = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
        return Ok(res.body(SizedStream::new(len, empty)));
    }
    #[cfg(target_os = "linux")]
    if len > 0 {
        if let Some(slot) = req.conn_data::<crate::sendfile::SendSlot>() {
            if let Some(file) = reg.store.open_blob_file(&digest).await? {
                return Ok(crate::sendfile::respond(res, slot, file, start, len));
            }
        }
    }
    let stream = reg.store.read_blob(&digest, start, len).await?;
    Ok(res.body(SizedStream::new(len, stream)))
}

/// `DELETE /v2/<name>/blobs/<digest>` — 202; removes the blob from this repository (its bytes
/// are reclaimed by garbage collection once nothing links them). 404 if not linked, 405 when
/// deletes are disabled.
pub async fn delete(
    reg: &Registry,
    name: &RepoName,
    digest: &str,
) -> Result<HttpResponse, OciError> {
    // Disabled deletes answer 405 whatever the digest looks like.
    reg.service.deletes_allowed()?;
    let digest = Digest::parse(digest)?;
    reg.service.delete_blob(name, &digest).await?;
    Ok(HttpResponse::Accepted().finish())
}
