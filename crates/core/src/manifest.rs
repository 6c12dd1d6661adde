//! Manifest and index parsing: the media type a manifest really has, its descriptors, its
//! `subject` and `artifactType`. The bytes themselves are never re-serialised: callers keep
//! the exact body and use this only to validate and to index it.

use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::media;

/// Why a manifest body was refused (sent as `MANIFEST_INVALID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not a JSON object: {0}")]
    NotJson(String),
    #[error("Docker schema 1 manifests are not supported; push with schema 2 or OCI")]
    Schema1,
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

/// Image manifest or index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Image,
    Index,
}

/// A content descriptor (`mediaType`, `digest`, `size`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: i64,
    /// Non-empty for non-distributable layers that live elsewhere.
    pub urls: Vec<String>,
    pub artifact_type: Option<String>,
    /// `platform.os` and `platform.architecture` (index entries only).
    pub platform: Option<(String, String)>,
}

impl Descriptor {
    /// A layer the registry is not expected to hold (it names `urls` to fetch it from).
    pub fn is_external(&self) -> bool {
        !self.urls.is_empty()
    }
}

/// What Berth needs to know of a validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedManifest {
    pub media_type: String,
    pub kind: ManifestKind,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    /// The `annotations` object as compact JSON, if present.
    pub annotations: Option<String>,
}

impl ParsedManifest {
    /// Validates `body` as pushed with `content_type` (parameters ignored).
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Self, ManifestError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| ManifestError::NotJson(e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ManifestError::NotJson("top level is not an object".into()))?;

        let ct = content_type.map(media::essence).unwrap_or_default();
        if ct == media::DOCKER_SCHEMA1 || ct == media::DOCKER_SCHEMA1_SIGNED {
            return Err(ManifestError::Schema1);
        }
        match obj.get("schemaVersion") {
            Some(v) if v.as_i64() == Some(2) => {}
            Some(v) if v.as_i64() == Some(1) => return Err(ManifestError::Schema1),
            Some(v) => return Err(invalid(format!("schemaVersion must be 2, not {v}"))),
            None => return Err(invalid("schemaVersion is missing")),
        }
        let body_type = match obj.get("mediaType") {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(invalid("mediaType must be a string")),
        };
        let media_type = effective_type(&ct, body_type, obj)?;
        let kind = if media::is_index(&media_type) {
            ManifestKind::Index
        } else {
            ManifestKind::Image
        };

        let artifact_type = match obj.get("artifactType") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("artifactType must be a string")),
        };
        let subject = obj
            .get("subject")
            .map(|v| descriptor(v, "subject"))
            .transpose()?;
        let annotations = match obj.get("annotations") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                if m.values().any(|v| !v.is_string()) {
                    return Err(invalid("annotation values must be strings"));
                }
                Some(Value::Object(m.clone()).to_string())
            }
            Some(_) => return Err(invalid("annotations must be an object")),
        };

        let mut parsed = ParsedManifest {
            media_type,
            kind,
            config: None,
            layers: Vec::new(),
            manifests: Vec::new(),
            subject,
            artifact_type,
            annotations,
        };
        match kind {
            ManifestKind::Image => {
                let config = obj
                    .get("config")
                    .ok_or_else(|| invalid("config is missing"))?;
                parsed.config = Some(descriptor(config, "config")?);
                parsed.layers = descriptor_list(obj, "layers")?;
            }
            ManifestKind::Index => {
                parsed.manifests = descriptor_list(obj, "manifests")?;
            }
        }
        Ok(parsed)
    }

    /// The `artifactType` a referrers list reports: the manifest's own, else (for an image
    /// manifest) its config media type.
    pub fn referrer_artifact_type(&self) -> Option<&str> {
        self.artifact_type.as_deref().or_else(|| match self.kind {
            ManifestKind::Image => self.config.as_ref().map(|c| c.media_type.as_str()),
            ManifestKind::Index => None,
        })
    }
}

fn invalid(msg: impl Into<String>) -> ManifestError {
    ManifestError::Invalid(msg.into())
}

/// The media type the manifest is stored and served with: the Content-Type when it names a
/// manifest type (and agrees with the body), else the body's `mediaType`, else its shape.
fn effective_type(
    ct: &str,
    body_type: Option<&str>,
    obj: &Map<String, Value>,
) -> Result<String, ManifestError> {
    if media::MANIFEST_TYPES.contains(&ct) {
        if let Some(bt) = body_type {
            if bt != ct {
                return Err(invalid(format!(
                    "mediaType {bt:?} does not match Content-Type {ct:?}"
                )));
            }
        }
        return Ok(ct.to_owned());
    }
    if let Some(bt) = body_type {
        if bt == media::DOCKER_SCHEMA1 || bt == media::DOCKER_SCHEMA1_SIGNED {
            return Err(ManifestError::Schema1);
        }
        if media::MANIFEST_TYPES.contains(&bt) {
            return Ok(bt.to_owned());
        }
        return Err(invalid(format!("unsupported manifest media type {bt:?}")));
    }
    if obj.contains_key("manifests") {
        Ok(media::OCI_INDEX.to_owned())
    } else if obj.contains_key("config") {
        Ok(media::OCI_MANIFEST.to_owned())
    } else {
        Err(invalid(
            "cannot tell the manifest type: no mediaType, Content-Type, config or manifests",
        ))
    }
}

fn descriptor_list(
    obj: &Map<String, Value>,
    field: &str,
) -> Result<Vec<Descriptor>, ManifestError> {
    match obj.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| descriptor(v, &format!("{field}[{i}]")))
            .collect(),
        Some(_) => Err(invalid(format!("{field} must be an array"))),
        None => Err(invalid(format!("{field} is missing"))),
    }
}

fn descriptor(v: &Value, what: &str) -> Result<Descriptor, ManifestError> {
    let o = v
        .as_object()
        .ok_or_else(|| invalid(format!("{what} must be an object")))?;
    let media_type = o
        .get("mediaType")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{what}.mediaType is missing")))?
        .to_owned();
    let digest_str = o
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{what}.digest is missing")))?;
    let digest = Digest::parse(digest_str).map_err(|e| invalid(format!("{what}.digest: {e}")))?;
    let size = o
        .get("size")
        .and_then(Value::as_i64)
        .filter(|s| *s >= 0)
        .ok_or_else(|| invalid(format!("{what}.size must be a non-negative integer")))?;
    let urls = match o.get("urls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|u| u.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid(format!("{what}.urls must hold strings")))?,
        Some(_) => return Err(invalid(format!("{what}.urls must be an array"))),
    };
    let artifact_type = o
        .get("artifactType")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let platform = o.get("platform").and_then(Value::as_object).and_then(|p| {
        Some((
            p.get("os")?.as_str()?.to_owned(),
            p.get("architecture")?.as_str()?.to_owned(),
        ))
    });
    Ok(Descriptor {
        media_type,
        digest,
        size,
        urls,
        artifact_type,
        platform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Algorithm;

    fn d(s: &str) -> String {
        Digest::of(Algorithm::Sha256, s.as_bytes()).to_string()
    }

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":3}}]{extra}}}"#,
            media::OCI_MANIFEST,
            d("c"),
            d("l")
        )
    }

    #[test]
    fn image_manifest() {
        let m = ParsedManifest::parse(image("").as_bytes(), Some(media::OCI_MANIFEST));
        let m = m
            .as_ref()
            .map(|m| (m.kind, m.layers.len(), m.referrer_artifact_type()));
        assert_eq!(
            m,
            Ok((
                ManifestKind::Image,
                1,
                Some("application/vnd.oci.image.config.v1+json")
            ))
        );
    }

    #[test]
    fn subject_artifact_type_annotations() {
        let body = image(&format!(
            r#","artifactType":"application/x.sig","subject":{{"mediaType":"{}","digest":"{}","size":9}},"annotations":{{"a":"b"}}"#,
            media::OCI_MANIFEST,
            d("s")
        ));
        let Ok(m) = ParsedManifest::parse(body.as_bytes(), None) else {
            panic!("should parse")
        };
        assert_eq!(m.referrer_artifact_type(), Some("application/x.sig"));
        assert_eq!(m.subject.map(|s| s.digest.to_string()), Some(d("s")));
        assert_eq!(m.annotations.as_deref(), Some(r#"{"a":"b"}"#));
    }

    #[test]
    fn index_and_detection() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{}","size":5,"platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#,
            media::OCI_MANIFEST,
            d("m")
        );
        let Ok(m) = ParsedManifest::parse(body.as_bytes(), Some("application/json")) else {
            panic!("should parse")
        };
        assert_eq!(m.media_type, media::OCI_INDEX);
        assert_eq!(
            m.manifests[0].platform,
            Some(("linux".into(), "arm64".into()))
        );
        let empty = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(ParsedManifest::parse(empty.as_bytes(), Some(media::OCI_INDEX)).is_ok());
    }

    #[test]
    fn refusals() {
        let cases: Vec<(String, Option<&str>)> = vec![
            ("not json".into(), None),
            ("[]".into(), None),
            (r#"{"schemaVersion":1}"#.into(), None),
            (r#"{"schemaVersion":3,"config":{}}"#.into(), None),
            (r#"{"schemaVersion":2}"#.into(), None),
            (image(""), Some(media::DOCKER_MANIFEST)),
            (image("").replace(r#""size":3"#, r#""size":-1"#), None),
            (image("").replace(&d("l"), "sha256:nothex"), None),
            (r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#.into(), None),
            (r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":{}}"#.into(), None),
            (image(r#","annotations":{"a":1}"#), None),
            (image(""), Some(media::DOCKER_SCHEMA1_SIGNED)),
        ];
        for (body, ct) in cases {
            assert!(
                ParsedManifest::parse(body.as_bytes(), ct).is_err(),
                "{body} {ct:?}"
            );
        }
    }

    #[test]
    fn external_layers() {
        let body = image("").replace(
            r#""size":3}"#,
            r#""size":3,"urls":["https://example.com/layer"]}"#,
        );
        let Ok(m) = ParsedManifest::parse(body.as_bytes(), None) else {
            panic!("should parse")
        };
        assert!(m.layers[0].is_external());
    }
}
