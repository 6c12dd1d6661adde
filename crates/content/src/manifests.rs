//! Manifests: put one from its bytes (validated, its references checked, stored as the exact
//! bytes with its tags, atomically) and get one by tag or digest, choosing an index's
//! default-platform child for a caller that accepts no index type, as distribution does.

use berth_core::{
    media, Algorithm, Digest, ManifestKind, ParsedManifest, Reference, RepoName, Tag,
};
use berth_meta::{ManifestRow, NewManifest};

use super::{Error, Service};

/// What a manifest put stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPut {
    pub digest: Digest,
    /// The digest of the manifest's `subject`, if it has one.
    pub subject: Option<String>,
    /// Every tag now pointing at it, sorted.
    pub tags: Vec<String>,
}

impl Service {
    /// The manifest `reference` names in `repo`, as a caller accepting the media types
    /// `accept` (essences; empty: any) can take it; its body only `with_body`.
    pub async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        accept: &[String],
        with_body: bool,
    ) -> Result<ManifestRow, Error> {
        let Some(row) = self.fetch(repo, reference, with_body).await? else {
            return Err(self.not_found(repo, &reference.to_string()).await);
        };
        if acceptable(accept, &row.media_type) {
            Ok(row)
        } else {
            self.negotiate(repo, reference, row, accept, with_body)
                .await
        }
    }

    /// The manifests `digests` of `repo` for one page of a listing, in one database query
    /// (not one lookup per row); missing digests are left out. Bodies over `max_body` bytes
    /// come back empty (the caller falls back to the media type), so a page's memory is
    /// bounded whatever was pushed.
    pub async fn manifests_for_page(
        &self,
        repo: &RepoName,
        digests: &[Digest],
        max_body: usize,
    ) -> Result<Vec<ManifestRow>, Error> {
        let digests: Vec<String> = digests.iter().map(ToString::to_string).collect();
        let max = i64::try_from(max_body).unwrap_or(i64::MAX);
        Ok(self
            .meta
            .manifests_by_digests(repo.as_str(), &digests, max)
            .await?)
    }

    /// Validates `body` (pushed as `content_type`) as a manifest, checks that what it
    /// references is in `repo` (except `subject` and layers with `urls`), stores the exact
    /// bytes and points `reference` (if a tag) and `extra_tags` at them, atomically.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        body: &[u8],
        content_type: Option<&str>,
        extra_tags: &[String],
    ) -> Result<ManifestPut, Error> {
        let max = self.config.max_manifest_bytes;
        if body.len() > max {
            return Err(Error::ManifestTooLarge { max });
        }
        let digest = manifest_digest(reference, body)?;
        let m = ParsedManifest::parse(body, content_type)
            .map_err(|e| Error::ManifestInvalid(e.to_string()))?;
        let tags = tags_to_point(reference, extra_tags)?;
        let (blobs, children) = referenced(&m);
        self.check_references(repo, &blobs, &children, m.kind)
            .await?;

        let digest_s = digest.to_string();
        let subject = m.subject.as_ref().map(|s| s.digest.to_string());
        self.meta
            .put_manifest(
                repo.as_str(),
                &NewManifest {
                    digest: &digest_s,
                    media_type: &m.media_type,
                    body,
                    artifact_type: m.referrer_artifact_type(),
                    subject: subject.as_deref(),
                    annotations: m.annotations.as_deref(),
                    blobs,
                    children,
                },
                &tags,
            )
            .await?;
        Ok(ManifestPut {
            digest,
            subject,
            tags,
        })
    }

    async fn fetch(
        &self,
        repo: &RepoName,
        r: &Reference,
        with_body: bool,
    ) -> Result<Option<ManifestRow>, Error> {
        Ok(match r {
            Reference::Tag(t) => {
                self.meta
                    .manifest_by_tag(repo.as_str(), t.as_str(), with_body)
                    .await?
            }
            Reference::Digest(d) => {
                self.meta
                    .manifest_by_digest(repo.as_str(), &d.to_string(), with_body)
                    .await?
            }
        })
    }

    /// A missing manifest: [`Error::RepoUnknown`] when the repository itself does not exist.
    pub(super) async fn not_found(&self, repo: &RepoName, reference: &str) -> Error {
        match self.meta.repo_exists(repo.as_str()).await {
            Ok(false) => Error::RepoUnknown {
                repo: repo.to_string(),
            },
            Ok(true) => Error::ManifestUnknown {
                repo: repo.to_string(),
                reference: reference.to_owned(),
            },
            Err(e) => e.into(),
        }
    }

    /// Finds what to serve a caller that cannot take `row`'s media type.
    async fn negotiate(
        &self,
        repo: &RepoName,
        r: &Reference,
        row: ManifestRow,
        accept: &[String],
        with_body: bool,
    ) -> Result<ManifestRow, Error> {
        let refuse = |mt: &str| Error::NotAcceptable {
            media_type: mt.to_owned(),
        };
        if !media::is_index(&row.media_type) {
            return Err(refuse(&row.media_type));
        }
        let body = if row.body.is_empty() {
            match self.fetch(repo, r, true).await? {
                Some(full) => full.body,
                None => return Err(refuse(&row.media_type)),
            }
        } else {
            row.body.clone()
        };
        let index = ParsedManifest::parse(&body, Some(&row.media_type)).map_err(|e| {
            Error::Corrupt(format!("stored index {} does not parse: {e}", row.digest))
        })?;
        let (os, arch) = &self.config.default_platform;
        let pick = index.manifests.iter().find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|(o, a)| o == os && a == arch)
                && acceptable(accept, &m.media_type)
        });
        let Some(child) = pick else {
            return Err(refuse(&row.media_type));
        };
        self.meta
            .manifest_by_digest(repo.as_str(), &child.digest.to_string(), with_body)
            .await?
            .ok_or_else(|| refuse(&row.media_type))
    }

    /// [`Error::ReferencesMissing`] for anything referenced but absent.
    async fn check_references(
        &self,
        repo: &RepoName,
        blobs: &[String],
        children: &[String],
        kind: ManifestKind,
    ) -> Result<(), Error> {
        let mut missing = self.meta.missing_blobs(repo.as_str(), blobs).await?;
        if kind == ManifestKind::Index {
            missing.extend(self.meta.missing_manifests(repo.as_str(), children).await?);
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::ReferencesMissing {
                repo: repo.to_string(),
                digests: missing,
            })
        }
    }
}

/// Whether a caller accepting `accept` can take `media_type`. A caller that names no type, or
/// a wildcard, takes anything; Docker schema 2 images are what every client takes.
pub fn acceptable(accept: &[String], media_type: &str) -> bool {
    accept.is_empty()
        || media_type == media::DOCKER_MANIFEST
        || accept
            .iter()
            .any(|a| a == media_type || a == "*/*" || a == "application/*")
}

/// The digest of `body`: in the reference's algorithm when put by digest (and then it must be
/// that digest), else sha256.
fn manifest_digest(reference: &Reference, body: &[u8]) -> Result<Digest, Error> {
    match reference {
        Reference::Tag(_) => Ok(Digest::of(Algorithm::Sha256, body)),
        Reference::Digest(d) => {
            let computed = Digest::of(d.algorithm(), body);
            if &computed == d {
                Ok(computed)
            } else {
                Err(Error::ManifestDigestMismatch {
                    computed,
                    expected: d.clone(),
                })
            }
        }
    }
}

/// The tags a put points at its manifest: the reference if it is a tag, and `extra`
/// (validated), sorted, without duplicates.
fn tags_to_point(reference: &Reference, extra: &[String]) -> Result<Vec<String>, Error> {
    let mut tags: Vec<String> = Vec::new();
    if let Reference::Tag(t) = reference {
        tags.push(t.to_string());
    }
    for t in extra {
        tags.push(Tag::parse(t)?.to_string());
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// The blobs (config and layers without `urls`) and child manifests `m` refers to.
fn referenced(m: &ParsedManifest) -> (Vec<String>, Vec<String>) {
    let blobs = m
        .config
        .iter()
        .chain(m.layers.iter().filter(|l| !l.is_external()))
        .map(|d| d.digest.to_string())
        .collect();
    let children = m.manifests.iter().map(|d| d.digest.to_string()).collect();
    (blobs, children)
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

    #[test]
    fn digest_follows_the_reference() {
        let body = b"{}";
        let tag = Reference::parse("v1").unwrap();
        assert_eq!(
            manifest_digest(&tag, body).unwrap(),
            Digest::of(Algorithm::Sha256, body)
        );
        let d512 = Digest::of(Algorithm::Sha512, body);
        let by_digest = Reference::Digest(d512.clone());
        assert_eq!(manifest_digest(&by_digest, body).unwrap(), d512);
        let other = Reference::Digest(Digest::of(Algorithm::Sha256, b"x"));
        assert!(matches!(
            manifest_digest(&other, body),
            Err(Error::ManifestDigestMismatch { .. })
        ));
    }

    #[test]
    fn tags_are_validated_sorted_and_unique() {
        let r = Reference::parse("v2").unwrap();
        let extra = vec!["v1".to_string(), "v2".to_string(), "a".to_string()];
        assert_eq!(tags_to_point(&r, &extra).unwrap(), ["a", "v1", "v2"]);
        let d = Reference::Digest(Digest::of(Algorithm::Sha256, b"x"));
        assert!(tags_to_point(&d, &[]).unwrap().is_empty());
        assert!(matches!(
            tags_to_point(&d, &["-bad".to_string()]),
            Err(Error::Name(_))
        ));
    }

    #[test]
    fn references_skip_external_layers() {
        let cfg = Digest::of(Algorithm::Sha256, b"c");
        let l1 = Digest::of(Algorithm::Sha256, b"1");
        let l2 = Digest::of(Algorithm::Sha256, b"2");
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cfg.to_string(), "size": 1},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l1.to_string(), "size": 1},
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l2.to_string(), "size": 1,
                 "urls": ["https://example.com/l2"]}
            ]
        })
        .to_string();
        let m = ParsedManifest::parse(body.as_bytes(), Some(media::OCI_MANIFEST)).unwrap();
        let (blobs, children) = referenced(&m);
        assert_eq!(blobs, [cfg.to_string(), l1.to_string()]);
        assert!(children.is_empty());
    }
}
