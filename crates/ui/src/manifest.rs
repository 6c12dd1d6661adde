//! A manifest's page: what it is (image, index, Helm chart, other artifact), an image's
//! config summary (platform, created, entrypoint, command, environment, labels) and layers,
//! an index's platforms with links to each, and the artifacts that refer to it (signatures,
//! SBOMs, … by artifact type). Read through `berth-content` after `berth-auth` said the
//! visitor may see the repository; every value is shown as text.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use askama::Template;
use berth_content::Service as Content;
use berth_core::{Digest, ParsedManifest, Reference, RepoName};
use serde_json::Value;

use crate::page::{render, Nav, UiError, UiResult};
use crate::size::Size;
use crate::visitor::{services, Visitor};

/// Largest config document read to summarise an image.
const MAX_CONFIG: u64 = 1 << 20;

/// Helm charts pushed as OCI artifacts carry this config media type.
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

/// A referenced blob or manifest, as the tables show it.
pub struct Entry {
    pub media_type: String,
    pub digest: String,
    pub short: String,
    pub size: Size,
    /// `os/arch` (index entries) or the artifact type (referrers).
    pub label: String,
}

/// What a manifest is, for people: `index`, `Helm chart`, `artifact` (anything with an
/// artifact type or a config that is not an image's) or `image`.
pub fn kind_of_manifest(m: &ParsedManifest) -> &'static str {
    let config_type = m.config.as_ref().map(|c| c.media_type.as_str());
    if !m.manifests.is_empty() {
        "index"
    } else if config_type == Some(HELM_CONFIG) {
        "Helm chart"
    } else if m.artifact_type.is_some()
        || !matches!(
            config_type,
            Some(
                "application/vnd.oci.image.config.v1+json"
                    | "application/vnd.docker.container.image.v1+json"
            )
        )
    {
        "artifact"
    } else {
        "image"
    }
}

/// The `os/arch` of each entry of an index (`unknown` where an entry names none).
pub fn platforms_of(m: &ParsedManifest) -> Vec<String> {
    m.manifests
        .iter()
        .map(|c| {
            c.platform
                .as_ref()
                .map_or("unknown".to_owned(), |(os, arch)| format!("{os}/{arch}"))
        })
        .collect()
}

fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", hex.get(..12).unwrap_or(hex)),
        None => digest.to_owned(),
    }
}

/// The summary of an image's config document.
#[derive(Default)]
pub struct ConfigSummary {
    pub platform: String,
    pub created: String,
    pub entrypoint: String,
    pub cmd: String,
    pub env: Vec<String>,
    pub labels: Vec<(String, String)>,
}

fn words(v: &Value) -> String {
    match v.as_array() {
        Some(a) => a
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join(" "),
        None => String::new(),
    }
}

impl ConfigSummary {
    fn of(doc: &Value) -> ConfigSummary {
        let c = &doc["config"];
        let mut labels: Vec<(String, String)> = c["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();
        let os = doc["os"].as_str().unwrap_or_default();
        let arch = doc["architecture"].as_str().unwrap_or_default();
        ConfigSummary {
            platform: if os.is_empty() {
                String::new()
            } else {
                format!("{os}/{arch}")
            },
            created: doc["created"].as_str().unwrap_or_default().to_owned(),
            entrypoint: words(&c["Entrypoint"]),
            cmd: words(&c["Cmd"]),
            env: c["Env"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            labels,
        }
    }
}

#[derive(Template)]
#[template(path = "manifest.html")]
struct ManifestPage {
    nav: Nav,
    org: String,
    name: String,
    digest: String,
    media_type: String,
    kind: String,
    artifact_type: String,
    size: Size,
    config: Option<ConfigSummary>,
    layers: Vec<Entry>,
    platforms: Vec<Entry>,
    referrers: Vec<Entry>,
    more_referrers: bool,
}

/// `GET /repositories/{org}/{path…}/-/manifests/{digest}`.
pub async fn show(req: &HttpRequest, content: &Content, name: &RepoName, digest: &str) -> UiResult {
    let (auth, _) = services(req)?;
    let v = Visitor::of(req).await?;
    auth.repository(&v.caller, name).await?;
    let digest = Digest::parse(digest)
        .map_err(|e| UiError::from(berth_auth::Error::invalid("digest", e.to_string())))?;
    let row = content
        .get_manifest(name, &Reference::Digest(digest.clone()), &[], true)
        .await
        .map_err(berth_auth::Error::from)?;
    let m = ParsedManifest::parse(&row.body, Some(&row.media_type))
        .map_err(|e| UiError::internal(&format!("stored manifest {digest} does not parse: {e}")))?;
    let entry = |d: &berth_core::Descriptor, label: String| Entry {
        media_type: d.media_type.clone(),
        digest: d.digest.to_string(),
        short: short(&d.digest.to_string()),
        size: Size::of(d.size),
        label,
    };
    let config_type = m.config.as_ref().map(|c| c.media_type.as_str());
    let kind = kind_of_manifest(&m);
    let config = match (&m.config, kind) {
        (Some(c), "image") => content
            .small_blob(name, &c.digest, MAX_CONFIG)
            .await
            .map_err(berth_auth::Error::from)?
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|doc| ConfigSummary::of(&doc)),
        _ => None,
    };
    let refs = content
        .referrers(name, &digest, None, "")
        .await
        .map_err(berth_auth::Error::from)?;
    let total: i64 = row.size
        + m.config.as_ref().map_or(0, |c| c.size)
        + m.layers.iter().map(|l| l.size).sum::<i64>()
        + m.manifests.iter().map(|c| c.size).sum::<i64>();
    let page = ManifestPage {
        nav: v.nav(),
        org: name.org().to_owned(),
        name: name.to_string(),
        digest: digest.to_string(),
        media_type: row.media_type.clone(),
        kind: kind.to_owned(),
        artifact_type: m
            .artifact_type
            .clone()
            .or_else(|| (kind == "artifact").then(|| config_type.unwrap_or("").to_owned()))
            .unwrap_or_default(),
        size: Size::of(total),
        config,
        layers: m.layers.iter().map(|l| entry(l, String::new())).collect(),
        platforms: m
            .manifests
            .iter()
            .map(|c| {
                let p = c
                    .platform
                    .as_ref()
                    .map_or("unknown".to_owned(), |(os, arch)| format!("{os}/{arch}"));
                entry(c, p)
            })
            .collect(),
        referrers: refs
            .items
            .iter()
            .map(|r| Entry {
                media_type: r.media_type.clone(),
                digest: r.digest.clone(),
                short: short(&r.digest),
                size: Size::of(r.size),
                label: r.artifact_type.clone().unwrap_or_default(),
            })
            .collect(),
        more_referrers: refs.more,
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn config_summary() {
        let doc = json!({"os": "linux", "architecture": "arm64", "created": "2026-01-02T03:04:05Z",
            "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["run"], "Env": ["A=1"],
                       "Labels": {"b": "2", "a": "1"}}});
        let s = super::ConfigSummary::of(&doc);
        assert_eq!(s.platform, "linux/arm64");
        assert_eq!(s.entrypoint, "/bin/sh -c");
        assert_eq!(s.cmd, "run");
        assert_eq!(s.env, vec!["A=1"]);
        assert_eq!(s.labels[0], ("a".to_owned(), "1".to_owned()));
        assert_eq!(
            super::short("sha256:0123456789abcdef"),
            "sha256:0123456789ab"
        );
    }
}
