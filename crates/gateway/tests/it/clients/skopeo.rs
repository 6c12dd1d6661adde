//! Real clients: skopeo: OCI layouts, multi-arch indexes and Docker media types through Berth and back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

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
