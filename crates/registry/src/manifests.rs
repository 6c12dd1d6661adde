//! `/v2` manifest reads, writes and deletes. The rules (validation, reference checks,
//! negotiation, deletes) are use-cases of [`crate::service`]; this module reads `Accept`,
//! `Content-Type`, `Content-Length`, `?tag=` and the body, and shapes the answers.

use actix_web::body::SizedStream;
use actix_web::{web, HttpRequest, HttpResponse};
use berth_core::{media, ErrorCode, NameError, Reference, RepoName};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::http::{content_length, header, Query};
use crate::service::Error as ServiceError;
use crate::{OciError, Registry};

/// The media types of the request's `Accept` headers, parameters dropped.
fn accepted(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all("accept")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(media::essence)
        .filter(|t| !t.is_empty())
        .collect()
}

/// `GET|HEAD /v2/<name>/manifests/<reference>` — the exact bytes pushed, with the pushed
/// media type as `Content-Type` and `Docker-Content-Digest`. A client whose `Accept` names no
/// index type gets the default platform's manifest from an index, as distribution does.
pub async fn get(
    reg: &Registry,
    req: &HttpRequest,
    name: &RepoName,
    reference: &str,
    head: bool,
) -> Result<HttpResponse, OciError> {
    let r = match Reference::parse(reference) {
        Ok(r) => r,
        Err(NameError::Digest(e)) => return Err(e.into()),
        // An invalid tag cannot name a manifest: 404, as the conformance suite expects.
        Err(_) => {
            return Err(ServiceError::ManifestUnknown {
                repo: name.to_string(),
                reference: reference.to_owned(),
            }
            .into())
        }
    };
    let row = reg
        .service
        .get_manifest(name, &r, &accepted(req), !head)
        .await?;
    let mut res = HttpResponse::Ok();
    res.content_type(row.media_type.as_str())
        .insert_header(("Docker-Content-Digest", row.digest.as_str()))
        .insert_header(("ETag", format!("\"{}\"", row.digest)));
    if head {
        let empty = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
        Ok(res.body(SizedStream::new(row.size.max(0) as u64, empty)))
    } else {
        Ok(res.body(row.body))
    }
}

/// The request body, refused with 413 past `max` bytes.
async fn read_limited(mut body: web::Payload, max: usize) -> Result<Bytes, OciError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            OciError::new(
                ErrorCode::ManifestInvalid,
                format!("request body failed: {e}"),
            )
        })?;
        if buf.len() + chunk.len() > max {
            return Err(ServiceError::ManifestTooLarge { max }.into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// `PUT /v2/<name>/manifests/<reference>[?tag=…]` — validates the manifest, checks that what
/// it references is in the repository (except `subject` and layers with `urls`), stores the
/// exact bytes and points the tags at them, atomically: 201 with `Location`,
/// `Docker-Content-Digest`, `OCI-Subject` and `OCI-Tag` where they apply.
pub async fn put(
    reg: &Registry,
    req: &HttpRequest,
    body: web::Payload,
    name: &RepoName,
    reference: &str,
    q: &Query,
) -> Result<HttpResponse, OciError> {
    let r = Reference::parse(reference)?;
    let max = reg.config.max_manifest_bytes;
    if content_length(req.headers()).is_some_and(|n| n > max as u64) {
        return Err(ServiceError::ManifestTooLarge { max }.into());
    }
    let bytes = read_limited(body, max).await?;
    let query_tags: Vec<String> = q.all("tag").into_iter().map(str::to_owned).collect();
    let put = reg
        .service
        .put_manifest(
            name,
            &r,
            &bytes,
            header(req.headers(), "content-type"),
            &query_tags,
        )
        .await?;

    let digest = put.digest.to_string();
    let mut res = HttpResponse::Created();
    res.insert_header(("Location", format!("/v2/{name}/manifests/{digest}")))
        .insert_header(("Docker-Content-Digest", digest.as_str()));
    if let Some(s) = &put.subject {
        res.insert_header(("OCI-Subject", s.as_str()));
    }
    if !query_tags.is_empty() {
        res.insert_header(("OCI-Tag", put.tags.join(", ")));
    }
    Ok(res.finish())
}

/// `DELETE /v2/<name>/manifests/<reference>` — by digest: the manifest and every tag on it;
/// by tag: just the tag. 202, 404 if unknown, 405 when deletes are disabled.
pub async fn delete(
    reg: &Registry,
    name: &RepoName,
    reference: &str,
) -> Result<HttpResponse, OciError> {
    // Disabled deletes answer 405 whatever the reference looks like.
    reg.service.deletes_allowed()?;
    match Reference::parse(reference)? {
        Reference::Tag(t) => reg.service.delete_tag(name, &t).await?,
        Reference::Digest(d) => reg.service.delete_manifest(name, &d).await?,
    }
    Ok(HttpResponse::Accepted().finish())
}
