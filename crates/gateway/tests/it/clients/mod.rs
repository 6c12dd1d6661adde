//! Real clients (skopeo, podman, oras, docker) against the real gateway.
//!
//! Every test starts its own Berth and keeps every client's state (auth files, storage, temp
//! files) in its own temp directory. A missing tool fails the test with an install hint.
//! This file holds the shared helpers; each client has its own file.

// Test code: a failed unwrap is a failed test (clippy exempts only `#[test]` fns themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod docker;
mod oras;
mod podman;
mod skopeo;

use std::collections::BTreeMap;
use std::path::Path;

use berth_testkit::clients::{layout, oras_script, Podman, Skopeo};
use berth_testkit::oci::Layout;
use berth_testkit::tools::{run, run_ok};
use berth_testkit::{http, sha256, Berth};
use serde_json::Value;

use crate::BIN;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-clients-")
        .tempdir()
        .unwrap()
}

fn oci(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}

fn docker(b: &Berth, image: &str) -> String {
    format!("docker://{}/{image}", b.addr)
}

/// GET of a manifest with `accept`: (status, content type, digest header, body).
async fn get_manifest(b: &Berth, repo: &str, reference: &str, accept: &[&str]) -> Fetched {
    let mut req = http().get(b.url(&format!("/v2/{repo}/manifests/{reference}")));
    for a in accept {
        req = req.header("Accept", *a);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, digest) = (h("content-type"), h("docker-content-digest"));
    let body = r.bytes().await.unwrap().to_vec();
    Fetched {
        status,
        content_type,
        digest,
        body,
    }
}

struct Fetched {
    status: u16,
    content_type: String,
    digest: String,
    body: Vec<u8>,
}

async fn get_blob(b: &Berth, repo: &str, digest: &str) -> Vec<u8> {
    let r = http()
        .get(b.url(&format!("/v2/{repo}/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET blob {digest} of {repo}");
    let body = r.bytes().await.unwrap().to_vec();
    assert_eq!(
        sha256(&body),
        digest,
        "blob {digest} of {repo} came back with other bytes"
    );
    body
}

async fn tags(b: &Berth, repo: &str) -> Vec<String> {
    let r = http()
        .get(b.url(&format!("/v2/{repo}/tags/list")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "tags of {repo}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], repo);
    let mut t: Vec<String> = v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

/// Asserts two blob sets are the same digests with the same bytes (without printing bytes).
fn assert_same_blobs(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, what: &str) {
    let ka: Vec<&String> = a.keys().collect();
    let kb: Vec<&String> = b.keys().collect();
    assert_eq!(ka, kb, "{what}: different blob sets");
    for (d, bytes) in a {
        assert!(b[d] == *bytes, "{what}: blob {d} differs");
    }
}

/// Every blob a manifest or index in Berth references, fetched over HTTP, checked against `expected`.
async fn assert_registry_has(b: &Berth, repo: &str, expected: &BTreeMap<String, Vec<u8>>) {
    for (d, bytes) in expected {
        let m: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        let is_manifest = m["schemaVersion"] == 2;
        let got = if is_manifest {
            let f = get_manifest(
                b,
                repo,
                d,
                &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST],
            )
            .await;
            assert_eq!(f.status, 200, "manifest {d}");
            assert_eq!(f.digest, *d);
            f.body
        } else {
            get_blob(b, repo, d).await
        };
        assert!(
            got == *bytes,
            "{repo}: {d} is not byte-identical to what was pushed"
        );
    }
}
