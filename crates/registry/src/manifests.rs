//! Manifest reads, writes and deletes.

use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use berth_core::{
    media, Algorithm, Digest, ErrorCode, ManifestKind, NameError, ParsedManifest, Reference,
    RepoName, Tag,
};
use berth_meta::{ManifestRow, NewManifest};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::json;

use crate::blobs::deletes_disabled;
use crate::http::{content_length, header, Query};
use crate::{OciError, Registry};

/// 404 for a missing manifest: `NAME_UNKNOWN` when the repository itself does not exist.
async fn not_found(reg: &Registry, name: &RepoName, reference: &str) -> OciError {
    match reg.meta.repo_exists(name.as_str()).await {
        Ok(false) => OciError::new(
            ErrorCode::NameUnknown,
            format!("repository {name} is not known"),
        ),
        Ok(true) => OciError::new(
            ErrorCode::ManifestUnknown,
            format!("manifest {reference} is not in {name}"),
        ),
        Err(e) => e.into(),
    }
}

async fn fetch(
    reg: &Registry,
    name: &RepoName,
    r: &Reference,
    with_body: bool,
) -> Result<Option<ManifestRow>, OciError> {
    Ok(match r {
        Reference::Tag(t) => {
            reg.meta
                .manifest_by_tag(name.as_str(), t.as_str(), with_body)
                .await?
        }
        Reference::Digest(d) => {
            reg.meta
                .manifest_by_digest(name.as_str(), &d.to_string(), with_body)
                .await?
        }
    })
}

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

/// Whether a client with `accept` can take `media_type`. A client that names no type, or a
/// wildcard, takes anything; Docker schema 2 images are what every client takes.
fn acceptable(accept: &[String], media_type: &str) -> bool {
    accept.is_empty()
        || media_type == media::DOCKER_MANIFEST
        || accept
            .iter()
            .any(|a| a == media_type || a == "*/*" || a == "application/*")
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
            return Err(OciError::new(
                ErrorCode::ManifestUnknown,
                format!("manifest {reference} is not in {name}"),
            ))
        }
    };
    let Some(mut row) = fetch(reg, name, &r, !head).await? else {
        return Err(not_found(reg, name, reference).await);
    };
    let accept = accepted(req);
    if !acceptable(&accept, &row.media_type) {
        row = negotiate(reg, name, &r, row, &accept, head).await?;
    }
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

/// Finds what to serve a client that cannot take `row`'s media type.
async fn negotiate(
    reg: &Registry,
    name: &RepoName,
    r: &Reference,
    row: ManifestRow,
    accept: &[String],
    head: bool,
) -> Result<ManifestRow, OciError> {
    let refuse = |mt: &str| {
        OciError::new(
            ErrorCode::ManifestUnknown,
            format!("the manifest is {mt}, which the request's Accept header does not allow"),
        )
    };
    if !media::is_index(&row.media_type) {
        return Err(refuse(&row.media_type));
    }
    let body = if row.body.is_empty() {
        match fetch(reg, name, r, true).await? {
            Some(full) => full.body,
            None => return Err(refuse(&row.media_type)),
        }
    } else {
        row.body.clone()
    };
    let index = ParsedManifest::parse(&body, Some(&row.media_type)).map_err(|e| {
        OciError::internal(&format!("stored index {} does not parse: {e}", row.digest))
    })?;
    let (os, arch) = &reg.config.default_platform;
    let pick = index.manifests.iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|(o, a)| o == os && a == arch)
            && acceptable(accept, &m.media_type)
    });
    let Some(child) = pick else {
        return Err(refuse(&row.media_type));
    };
    reg.meta
        .manifest_by_digest(name.as_str(), &child.digest.to_string(), !head)
        .await?
        .ok_or_else(|| refuse(&row.media_type))
}

fn too_large(max: usize) -> OciError {
    OciError::new(
        ErrorCode::SizeInvalid,
        format!("manifest is larger than the {max}-byte limit"),
    )
    .status(StatusCode::PAYLOAD_TOO_LARGE)
}

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
            return Err(too_large(max));
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
        return Err(too_large(max));
    }
    let bytes = read_limited(body, max).await?;
    let algorithm = match &r {
        Reference::Digest(d) => d.algorithm(),
        Reference::Tag(_) => Algorithm::Sha256,
    };
    let digest = Digest::of(algorithm, &bytes);
    if let Reference::Digest(d) = &r {
        if d != &digest {
            return Err(OciError::digest_invalid(format!(
                "manifest digest is {digest}, not {d}"
            )));
        }
    }
    let m = ParsedManifest::parse(&bytes, header(req.headers(), "content-type"))
        .map_err(|e| OciError::new(ErrorCode::ManifestInvalid, e.to_string()))?;

    let mut tags: Vec<String> = Vec::new();
    if let Reference::Tag(t) = &r {
        tags.push(t.to_string());
    }
    let query_tags = q.all("tag");
    for t in &query_tags {
        tags.push(Tag::parse(t)?.to_string());
    }
    tags.sort();
    tags.dedup();

    let blobs: Vec<String> = m
        .config
        .iter()
        .chain(m.layers.iter().filter(|l| !l.is_external()))
        .map(|d| d.digest.to_string())
        .collect();
    let children: Vec<String> = m.manifests.iter().map(|d| d.digest.to_string()).collect();
    check_references(reg, name, &blobs, &children, m.kind).await?;

    let digest_s = digest.to_string();
    let subject = m.subject.as_ref().map(|s| s.digest.to_string());
    reg.meta
        .put_manifest(
            name.as_str(),
            &NewManifest {
                digest: &digest_s,
                media_type: &m.media_type,
                body: &bytes,
                artifact_type: m.referrer_artifact_type(),
                subject: subject.as_deref(),
                annotations: m.annotations.as_deref(),
                blobs,
                children,
            },
            &tags,
        )
        .await?;

    let mut res = HttpResponse::Created();
    res.insert_header(("Location", format!("/v2/{name}/manifests/{digest_s}")))
        .insert_header(("Docker-Content-Digest", digest_s.as_str()));
    if let Some(s) = &subject {
        res.insert_header(("OCI-Subject", s.as_str()));
    }
    if !query_tags.is_empty() {
        res.insert_header(("OCI-Tag", tags.join(", ")));
    }
    Ok(res.finish())
}

/// `MANIFEST_BLOB_UNKNOWN` (one error entry per digest) for anything referenced but absent.
async fn check_references(
    reg: &Registry,
    name: &RepoName,
    blobs: &[String],
    children: &[String],
    kind: ManifestKind,
) -> Result<(), OciError> {
    let mut missing = reg.meta.missing_blobs(name.as_str(), blobs).await?;
    if kind == ManifestKind::Index {
        missing.extend(reg.meta.missing_manifests(name.as_str(), children).await?);
    }
    let Some(first) = missing.first() else {
        return Ok(());
    };
    let mut e = OciError::new(
        ErrorCode::ManifestBlobUnknown,
        format!("{first} is not in {name}"),
    )
    .detail(json!({"digest": first}));
    e.more = missing[1..]
        .iter()
        .map(|d| {
            (
                ErrorCode::ManifestBlobUnknown,
                format!("{d} is not in {name}"),
                Some(json!({"digest": d})),
            )
        })
        .collect();
    Err(e)
}

/// `DELETE /v2/<name>/manifests/<reference>` — by digest: the manifest and every tag on it;
/// by tag: just the tag. 202, 404 if unknown, 405 when deletes are disabled.
pub async fn delete(
    reg: &Registry,
    name: &RepoName,
    reference: &str,
) -> Result<HttpResponse, OciError> {
    if !reg.config.delete_enabled {
        return Err(deletes_disabled());
    }
    let deleted = match Reference::parse(reference)? {
        Reference::Tag(t) => reg.meta.delete_tag(name.as_str(), t.as_str()).await?,
        Reference::Digest(d) => {
            reg.meta
                .delete_manifest(name.as_str(), &d.to_string())
                .await?
        }
    };
    if deleted {
        Ok(HttpResponse::Accepted().finish())
    } else {
        Err(not_found(reg, name, reference).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(acceptable(&[], media::OCI_INDEX));
        assert!(acceptable(&a(&["*/*"]), media::OCI_MANIFEST));
        assert!(acceptable(
            &a(&[media::DOCKER_MANIFEST_LIST]),
            media::DOCKER_MANIFEST
        ));
        assert!(!acceptable(
            &a(&[media::DOCKER_MANIFEST]),
            media::OCI_MANIFEST
        ));
        assert!(!acceptable(&a(&[media::DOCKER_MANIFEST]), media::OCI_INDEX));
    }
}
