//! Real clients: the docker engine: login, push and pull.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use berth_testkit::clients::Docker;

/// (f) docker CLI and the local engine: import a busybox image, push it to Berth, remove it,
/// pull it back; same image id and repo digest.
#[tokio::test]
async fn docker_push_pull() {
    let b = Berth::start(BIN);
    let tmp = tempdir();
    // The CLI's config (the admin's login) and the imported image live in the test's
    // directory and are removed with it, whatever happens.
    let client = Docker::new(tmp.path());
    std::fs::write(
        client.config_dir().join("config.json"),
        berth_testkit::auth_json(&[&b.addr]),
    )
    .unwrap();
    let docker = || client.cmd();
    let info = run(docker().args(["version", "--format", "{{.Server.Version}}"]));
    assert!(
        info.status.success(),
        "the docker engine is not reachable from the docker CLI: {}",
        String::from_utf8_lossy(&info.stderr)
    );

    let image = format!("{}/dock/bb:v1", b.addr);
    client.import_busybox(&image);
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
