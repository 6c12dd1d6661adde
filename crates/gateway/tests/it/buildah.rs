//! buildah builds an image from scratch (busybox-static) and pushes it; pulls it back.

use std::process::Command;

use berth_testkit::tools::{require, run_ok};
use berth_testkit::{http, Berth};
use serde_json::Value;

use crate::BIN;

#[tokio::test]
async fn buildah_push_and_pull() {
    let b = Berth::start(BIN);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let auth = root.join("auth.json");
    std::fs::write(&auth, berth_testkit::auth_json(&[&b.addr])).unwrap();
    let buildah = require("buildah");
    let busybox = std::path::Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "busybox-static is needed; ./scripts/test.sh installs it"
    );
    let cmd = || {
        let mut c = Command::new(&buildah);
        c.arg("--root")
            .arg(root.join("root"))
            .arg("--runroot")
            .arg(root.join("run"))
            .arg("--storage-driver")
            .arg("vfs")
            .env("REGISTRY_AUTH_FILE", &auth);
        c
    };
    let out = run_ok(cmd().args(["from", "scratch"]));
    let ctr = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    run_ok(cmd().args(["copy", &ctr, "/bin/busybox", "/bin/busybox"]));
    run_ok(cmd().args([
        "config",
        "--entrypoint",
        "[\"/bin/busybox\"]",
        "--os",
        "linux",
        "--arch",
        "amd64",
        &ctr,
    ]));
    run_ok(cmd().args(["commit", "-q", &ctr, "bb:local"]));
    let target = format!("docker://{}/bld/bb:v1", b.addr);
    run_ok(cmd().args(["push", "--tls-verify=false", "bb:local", &target]));

    let tags: Value = http()
        .get(b.url("/v2/bld/bb/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));

    run_ok(cmd().args(["rmi", "-a", "-f"]));
    run_ok(cmd().args(["pull", "-q", "--tls-verify=false", &target]));
    let out = run_ok(cmd().args([
        "inspect",
        "--type",
        "image",
        &format!("{}/bld/bb:v1", b.addr),
    ]));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["OCIv1"]["architecture"], "amd64");
    assert_eq!(info["OCIv1"]["config"]["Entrypoint"][0], "/bin/busybox");
}
