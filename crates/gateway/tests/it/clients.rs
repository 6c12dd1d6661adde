//! Real clients (skopeo, podman, oras, docker) against the real gateway.
//!
//! Every test starts its own Berth and keeps every client's state (auth files, storage, temp
//! files) in its own temp directory. A missing tool fails the test with an install hint.

// Test code: a failed unwrap is a failed test (clippy exempts only `#[test]` fns themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use berth_testkit::clients::{layout, oras_python, Podman, Skopeo};
use berth_testkit::oci::Layout;
use berth_testkit::tools::{require, run, run_ok};
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

/// (a) skopeo: an OCI layout to Berth and back; manifest and blobs byte-identical throughout.
#[tokio::test]
async fn skopeo_single_arch_roundtrip() {
    let b = Berth::start(BIN);
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let mut l = Layout::new(&src);
    let m = l.image(
        "linux",
        "amd64",
        "/hello.txt",
        b"hello from the skopeo test\n",
    );
    l.tag(&m, "v1");
    let pushed = layout::closure(&src, &m.digest);
    assert_eq!(pushed.len(), 3, "manifest, config, layer");

    let sk = Skopeo::new(tmp.path()).login(&[&b.addr]);
    // --preserve-digests: skopeo would otherwise gzip the uncompressed layer on the way to a
    // registry (and rewrite the manifest); the point here is a byte-exact round trip.
    sk.copy(
        &["--preserve-digests"],
        &oci(&src, "v1"),
        &docker(&b, "org/img:v1"),
    );

    let f = get_manifest(&b, "org/img", "v1", &[OCI_MANIFEST]).await;
    assert_eq!(f.status, 200);
    assert_eq!(f.content_type, OCI_MANIFEST);
    assert_eq!(f.digest, m.digest);
    assert!(f.body == pushed[&m.digest], "manifest bytes changed");
    assert_registry_has(&b, "org/img", &pushed).await;
    assert_eq!(tags(&b, "org/img").await, ["v1"]);

    // The OCI layout destination, too, gzips uncompressed layers unless digests are preserved.
    let dst = tmp.path().join("dst");
    sk.copy(
        &["--preserve-digests"],
        &docker(&b, "org/img:v1"),
        &oci(&dst, "v1"),
    );
    let desc = layout::tagged(&dst, "v1");
    assert_eq!(desc["digest"], m.digest.as_str());
    assert_eq!(desc["mediaType"], OCI_MANIFEST);
    let pulled = layout::closure(&dst, &m.digest);
    assert_same_blobs(&pushed, &pulled, "skopeo round trip");
}

/// (b) a two-platform index: pushed with `--all`, served as pushed to index-aware clients, the
/// linux/amd64 child to clients that accept only an image manifest, and copied back whole.
#[tokio::test]
async fn skopeo_multi_arch_index() {
    let b = Berth::start(BIN);
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let mut l = Layout::new(&src);
    let amd = l.image("linux", "amd64", "/arch", b"amd64\n");
    let arm = l.image("linux", "arm64", "/arch", b"arm64\n");
    let idx = l.index(&[
        (amd.clone(), "linux", "amd64"),
        (arm.clone(), "linux", "arm64"),
    ]);
    l.tag(&idx, "v1");
    let pushed = layout::closure(&src, &idx.digest);
    assert_eq!(pushed.len(), 7, "index, 2 manifests, 2 configs, 2 layers");

    let sk = Skopeo::new(tmp.path()).login(&[&b.addr]);
    sk.copy(
        &["--all", "--preserve-digests"],
        &oci(&src, "v1"),
        &docker(&b, "org/multi:v1"),
    );

    let f = get_manifest(&b, "org/multi", "v1", &[OCI_INDEX]).await;
    assert_eq!(f.status, 200);
    assert_eq!(f.content_type, OCI_INDEX);
    assert_eq!(f.digest, idx.digest);
    assert!(f.body == pushed[&idx.digest], "index bytes changed");

    // A client that takes only image manifests gets the default platform's (linux/amd64).
    let f = get_manifest(&b, "org/multi", "v1", &[OCI_MANIFEST]).await;
    assert_eq!(f.status, 200);
    assert_eq!(f.content_type, OCI_MANIFEST);
    assert_eq!(f.digest, amd.digest, "expected the linux/amd64 child");
    assert!(f.body == pushed[&amd.digest]);

    assert_registry_has(&b, "org/multi", &pushed).await;

    let raw = sk.inspect_raw(&docker(&b, "org/multi:v1"));
    assert!(
        raw == pushed[&idx.digest],
        "skopeo inspect --raw is not the pushed index"
    );
    // skopeo's own platform choice from the index.
    let out = run_ok(
        sk.cmd()
            .args(["--override-os", "linux", "--override-arch", "arm64"])
            .args(["inspect", "--tls-verify=false"])
            .arg(docker(&b, "org/multi:v1")),
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    // skopeo reports the digest of what the tag names (the index) and the chosen image's details.
    assert_eq!(info["Digest"], idx.digest.as_str());
    assert_eq!(info["Architecture"], "arm64");
    let arm_manifest: Value = serde_json::from_slice(&pushed[&arm.digest]).unwrap();
    assert_eq!(
        info["Layers"],
        serde_json::json!([arm_manifest["layers"][0]["digest"]])
    );

    let dst = tmp.path().join("dst");
    sk.copy(
        &["--all", "--preserve-digests"],
        &docker(&b, "org/multi:v1"),
        &oci(&dst, "v1"),
    );
    assert_eq!(layout::tagged(&dst, "v1")["digest"], idx.digest.as_str());
    let pulled = layout::closure(&dst, &idx.digest);
    assert_same_blobs(&pushed, &pulled, "multi-arch round trip");
}

/// (c) Docker media types: a schema 2 manifest and a manifest list made by skopeo's
/// conversion, stored and served with their Docker media types.
#[tokio::test]
async fn skopeo_docker_media_types() {
    let b = Berth::start(BIN);
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let mut l = Layout::new(&src);
    let single = l.image("linux", "amd64", "/hello.txt", b"docker schema 2\n");
    l.tag(&single, "single");
    let amd = l.image("linux", "amd64", "/arch", b"amd64 docker\n");
    let arm = l.image("linux", "arm64", "/arch", b"arm64 docker\n");
    let idx = l.index(&[(amd, "linux", "amd64"), (arm, "linux", "arm64")]);
    l.tag(&idx, "multi");
    let sk = Skopeo::new(tmp.path()).login(&[&b.addr]);

    // Schema 2 image.
    sk.copy(
        &["--format", "v2s2"],
        &oci(&src, "single"),
        &docker(&b, "org/dk:v1"),
    );
    let f = get_manifest(&b, "org/dk", "v1", &[DOCKER_MANIFEST]).await;
    assert_eq!(f.status, 200);
    assert_eq!(f.content_type, DOCKER_MANIFEST);
    assert_eq!(f.digest, sha256(&f.body));
    let m: Value = serde_json::from_slice(&f.body).unwrap();
    assert_eq!(m["mediaType"], DOCKER_MANIFEST);
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    let config = get_blob(&b, "org/dk", m["config"]["digest"].as_str().unwrap()).await;
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["architecture"], "amd64");
    for layer in m["layers"].as_array().unwrap() {
        assert!(layer["mediaType"]
            .as_str()
            .unwrap()
            .starts_with("application/vnd.docker.image.rootfs.diff.tar"));
        let data = get_blob(&b, "org/dk", layer["digest"].as_str().unwrap()).await;
        assert_eq!(Some(data.len() as u64), layer["size"].as_u64());
    }
    // Docker schema 2 is served whatever the client accepts.
    let g = get_manifest(&b, "org/dk", "v1", &[OCI_MANIFEST]).await;
    assert_eq!((g.status, g.content_type.as_str()), (200, DOCKER_MANIFEST));
    assert!(g.body == f.body);
    assert!(sk.inspect_raw(&docker(&b, "org/dk:v1")) == f.body);

    // Manifest list: skopeo converts the OCI index and its children to Docker types.
    sk.copy(
        &["--all", "--format", "v2s2"],
        &oci(&src, "multi"),
        &docker(&b, "org/dklist:v1"),
    );
    let f = get_manifest(&b, "org/dklist", "v1", &[DOCKER_LIST, DOCKER_MANIFEST]).await;
    assert_eq!(f.status, 200);
    assert_eq!(
        f.content_type, DOCKER_LIST,
        "stored media type of the converted list"
    );
    assert_eq!(f.digest, sha256(&f.body));
    let list: Value = serde_json::from_slice(&f.body).unwrap();
    assert_eq!(list["mediaType"], DOCKER_LIST);
    let children = list["manifests"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    for c in children {
        assert_eq!(c["mediaType"], DOCKER_MANIFEST);
        let d = c["digest"].as_str().unwrap();
        let cf = get_manifest(&b, "org/dklist", d, &[DOCKER_MANIFEST]).await;
        assert_eq!(
            (cf.status, cf.content_type.as_str()),
            (200, DOCKER_MANIFEST)
        );
        assert_eq!(cf.digest, d);
        assert_eq!(Some(cf.body.len() as u64), c["size"].as_u64());
    }
    assert!(sk.inspect_raw(&docker(&b, "org/dklist:v1")) == f.body);
    // A client that takes no list gets the linux/amd64 child.
    let amd_child = children
        .iter()
        .find(|c| c["platform"]["architecture"] == "amd64")
        .unwrap();
    let g = get_manifest(&b, "org/dklist", "v1", &[DOCKER_MANIFEST]).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.digest, amd_child["digest"].as_str().unwrap());
}

/// (d) podman: pull what skopeo pushed, tag it, push it to another repository.
#[tokio::test]
async fn podman_pull_tag_push() {
    let b = Berth::start(BIN);
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let mut l = Layout::new(&src);
    let m = l.image("linux", "amd64", "/hello.txt", b"hello podman\n");
    l.tag(&m, "v1");
    let pushed = layout::closure(&src, &m.digest);
    let config_digest = serde_json::from_slice::<Value>(&pushed[&m.digest]).unwrap()["config"]
        ["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    Skopeo::new(tmp.path()).login(&[&b.addr]).copy(
        &["--preserve-digests"],
        &oci(&src, "v1"),
        &docker(&b, "org/pod:v1"),
    );

    let pm = Podman::new(tmp.path()).login(&[&b.addr]);
    let image = format!("{}/org/pod:v1", b.addr);
    pm.run_ok(&["pull", "--tls-verify=false", &image]);
    let digest = pm.run_ok(&["image", "inspect", "--format", "{{.Digest}}", &image]);
    assert_eq!(
        digest.trim(),
        m.digest,
        "podman's digest of the pulled image"
    );
    let id = pm.run_ok(&["image", "inspect", "--format", "{{.ID}}", &image]);
    assert_eq!(
        format!("sha256:{}", id.trim()),
        config_digest,
        "image id is the config digest"
    );

    let other = format!("{}/org/pod-copy:v2", b.addr);
    pm.run_ok(&["tag", &image, &other]);
    pm.run_ok(&["push", "--tls-verify=false", &other]);
    assert_eq!(tags(&b, "org/pod-copy").await, ["v2"]);
    assert_eq!(tags(&b, "org/pod").await, ["v1"]);

    // What podman pushed: a valid image with the same config.
    let f = get_manifest(&b, "org/pod-copy", "v2", &[OCI_MANIFEST, DOCKER_MANIFEST]).await;
    assert_eq!(f.status, 200);
    assert_eq!(f.digest, sha256(&f.body));
    let pm_manifest: Value = serde_json::from_slice(&f.body).unwrap();
    assert_eq!(pm_manifest["config"]["digest"], config_digest.as_str());
    get_blob(&b, "org/pod-copy", &config_digest).await;
    for layer in pm_manifest["layers"].as_array().unwrap() {
        let data = get_blob(&b, "org/pod-copy", layer["digest"].as_str().unwrap()).await;
        assert_eq!(Some(data.len() as u64), layer["size"].as_u64());
    }

    // And pulls back into a fresh store under the new name.
    let pm2 = Podman::new(&tmp.path().join("second")).login(&[&b.addr]);
    pm2.run_ok(&["pull", "--tls-verify=false", &other]);
    let id2 = pm2.run_ok(&["image", "inspect", "--format", "{{.ID}}", &other]);
    assert_eq!(id2.trim(), id.trim());
}

/// (e) oras-py: an artifact pushed and pulled, then two referrers to it (one pushed with
/// oras-py's `subject`, one with an explicit `artifactType`), listed by the referrers API.
#[tokio::test]
async fn oras_artifact_and_referrers() {
    let b = Berth::start(BIN);
    let tmp = tempdir();
    let python = oras_python();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/scripts/oras_referrers.py"
    );
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    run_ok(
        Command::new(&python)
            .arg(script)
            .arg(&b.addr)
            .arg(tmp.path())
            // oras-py reads and may write ~/.docker/config.json: keep it in the test.
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join(".docker"))
            .env("ORAS_USER", berth_testkit::ADMIN_USER)
            .env("ORAS_PASSWORD", berth_testkit::ADMIN_PASSWORD)
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY"),
    );
    let res: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("result.json")).unwrap()).unwrap();

    // The artifact came back intact, with its annotations.
    let pulled = std::fs::read(tmp.path().join("out/artifact.txt")).unwrap();
    assert!(
        pulled == b"hello from oras-py\n".repeat(100),
        "pulled artifact differs"
    );
    let m = &res["manifest"];
    assert_eq!(m["annotations"]["org.example.purpose"], "berth-test");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.example.artifact.config.v1+json"
    );
    assert_eq!(m["layers"][0]["mediaType"], "application/vnd.example.text");
    let subject = res["subject"]["digest"].as_str().unwrap().to_owned();
    assert_eq!(res["subject_digest_header"], subject.as_str());
    let f = get_manifest(&b, "art/demo", "v1", &[OCI_MANIFEST]).await;
    assert_eq!(f.digest, subject);
    assert_eq!(Some(f.body.len() as u64), res["subject"]["size"].as_u64());

    let sbom_type = "application/vnd.example.sbom.v1+json";
    let sig_type = "application/vnd.example.signature.v1";
    for (k, _) in [("referrer_a", sbom_type), ("referrer_b", sig_type)] {
        assert_eq!(res[k]["status"], 201, "{k}");
        assert_eq!(
            res[k]["oci_subject"],
            subject.as_str(),
            "{k}: OCI-Subject header"
        );
    }
    let a = res["referrer_a"]["digest"].as_str().unwrap().to_owned();
    let bd = res["referrer_b"]["digest"].as_str().unwrap().to_owned();

    // All referrers.
    let r = http()
        .get(b.url(&format!("/v2/art/demo/referrers/{subject}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert!(r.headers().get("oci-filters-applied").is_none());
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["mediaType"], OCI_INDEX);
    let mut found: Vec<(String, String)> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["mediaType"], OCI_MANIFEST);
            (
                d["digest"].as_str().unwrap().to_owned(),
                d["artifactType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let mut expected = vec![
        (a.clone(), sbom_type.to_owned()),
        (bd.clone(), sig_type.to_owned()),
    ];
    expected.sort();
    assert_eq!(found, expected);
    for d in list["manifests"].as_array().unwrap() {
        let f = get_manifest(
            &b,
            "art/demo",
            d["digest"].as_str().unwrap(),
            &[OCI_MANIFEST],
        )
        .await;
        assert_eq!(f.status, 200);
        assert_eq!(Some(f.body.len() as u64), d["size"].as_u64());
        let rm: Value = serde_json::from_slice(&f.body).unwrap();
        assert_eq!(rm["subject"]["digest"], subject.as_str());
        assert_eq!(
            d["annotations"], rm["annotations"],
            "descriptor annotations are the manifest's"
        );
    }

    // Filtered by artifactType.
    let r = http()
        .get(b.url(&format!(
            "/v2/art/demo/referrers/{subject}?artifactType={sig_type}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let list: Value = r.json().await.unwrap();
    let ms = list["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 1, "{list}");
    assert_eq!(ms[0]["digest"], bd.as_str());
    assert_eq!(ms[0]["artifactType"], sig_type);

    // A type nothing has: an empty list, still filtered.
    let r = http()
        .get(b.url(&format!(
            "/v2/art/demo/referrers/{subject}?artifactType=application/vnd.example.none"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["manifests"].as_array().unwrap().len(), 0);
}

/// Removes the docker engine images a test made, whatever happens.
struct DockerImages {
    docker: std::path::PathBuf,
    config: std::path::PathBuf,
    refs: Vec<String>,
}

impl Drop for DockerImages {
    fn drop(&mut self) {
        for r in &self.refs {
            let _ = Command::new(&self.docker)
                .env("DOCKER_CONFIG", &self.config)
                .args(["rmi", "-f", r])
                .output();
        }
    }
}

/// (f) docker CLI and the local engine: import a busybox image, push it to Berth, remove it,
/// pull it back; same image id and repo digest.
#[tokio::test]
async fn docker_push_pull() {
    let b = Berth::start(BIN);
    let tmp = tempdir();
    let docker_bin = require("docker");
    let config = tmp.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        berth_testkit::auth_json(&[&b.addr]),
    )
    .unwrap();
    let docker = || {
        let mut c = Command::new(&docker_bin);
        c.env("DOCKER_CONFIG", &config);
        c
    };
    let info = run(docker().args(["version", "--format", "{{.Server.Version}}"]));
    assert!(
        info.status.success(),
        "the docker engine is not reachable from the docker CLI: {}",
        String::from_utf8_lossy(&info.stderr)
    );

    // A rootfs with just /bin/busybox, as a tarball.
    let root = tmp.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let tarball = tmp.path().join("rootfs.tar");
    run_ok(
        Command::new(require("tar"))
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tarball)
            .arg("."),
    );

    let image = format!("{}/dock/bb:v1", b.addr);
    let _cleanup = DockerImages {
        docker: docker_bin.clone(),
        config: config.clone(),
        refs: vec![image.clone()],
    };
    run_ok(docker().arg("import").arg(&tarball).arg(&image));
    let inspect = |what: &str| {
        let out = run_ok(docker().args(["image", "inspect", "--format", what, &image]));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let id = inspect("{{.Id}}");

    // The engine, not the CLI, talks to the registry: it must reach the host's loopback port.
    // It runs on this machine, and 127.0.0.0/8 is an insecure registry by default.
    let push = run(docker().arg("push").arg(&image));
    if !push.status.success() {
        let err = String::from_utf8_lossy(&push.stderr);
        panic!(
            "docker push to {image} failed. If the error is a connection failure, the docker \
             engine cannot reach 127.0.0.1 of this host (a remote DOCKER_HOST, or an engine in \
             another network namespace, e.g. rootless docker); this test needs an engine on this \
             machine.\nstdout:\n{}\nstderr:\n{err}",
            String::from_utf8_lossy(&push.stdout)
        );
    }
    let push_out = String::from_utf8_lossy(&push.stdout);
    let pushed_digest = push_out
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest in docker push output:\n{push_out}"))
        .to_owned();

    let f = get_manifest(&b, "dock/bb", "v1", &[DOCKER_MANIFEST]).await;
    assert_eq!(f.status, 200);
    assert_eq!(f.content_type, DOCKER_MANIFEST);
    assert_eq!(f.digest, pushed_digest);
    assert_eq!(sha256(&f.body), pushed_digest);
    let m: Value = serde_json::from_slice(&f.body).unwrap();
    assert_eq!(
        m["config"]["digest"],
        id.as_str(),
        "the image id is the config digest"
    );
    get_blob(&b, "dock/bb", &id).await;
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let data = get_blob(&b, "dock/bb", layer).await;
    assert_eq!(Some(data.len() as u64), m["layers"][0]["size"].as_u64());
    let repo_digest_before = inspect("{{index .RepoDigests 0}}");
    assert_eq!(
        repo_digest_before,
        format!("{}/dock/bb@{pushed_digest}", b.addr)
    );

    run_ok(docker().args(["rmi", &image]));
    let gone = run(docker().args(["image", "inspect", &image]));
    assert!(!gone.status.success(), "image still present after rmi");

    run_ok(docker().args(["pull", &image]));
    assert_eq!(inspect("{{.Id}}"), id, "pulled image id");
    assert_eq!(
        inspect("{{index .RepoDigests 0}}"),
        repo_digest_before,
        "pulled repo digest"
    );
    assert_eq!(tags(&b, "dock/bb").await, ["v1"]);
}
