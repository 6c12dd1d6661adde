//! Real clients: podman: pull, tag and push against Berth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

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
