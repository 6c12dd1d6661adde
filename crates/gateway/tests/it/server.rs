//! The server around the distribution API: the base endpoint and health, framework errors,
//! graceful shutdown, `check-config`.

use berth_testkit::{code, header, TestApp};
use serde_json::{json, Value};

use crate::BIN;

#[tokio::test]
async fn base_health_and_framework_errors() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let r = a.get("/v2/").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );
    assert_eq!(a.get("/healthz").send().await.unwrap().status(), 200);
    let r = a.get("/readyz").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"database": "ok", "storage": "ok"})
    );
    // The container healthcheck: `berth probe` exits 0 on a 2xx answer only.
    let probe = |path: &str| {
        std::process::Command::new(BIN)
            .args(["probe", &a.url(path)])
            .output()
            .unwrap()
    };
    assert!(probe("/readyz").status.success());
    let out = probe("/nothing");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered 404"));

    let r = a.get("/v2/a/nothing/here").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "UNSUPPORTED");
    let r = a.get("/elsewhere").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "UNSUPPORTED");
    let r = a.post("/v2/a/manifests/v1").send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "allow"), "GET, HEAD, PUT, DELETE");
    assert_eq!(code(r).await, "UNSUPPORTED");
    let r = a.get("/v2/Bad_Name/tags/list").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "NAME_INVALID");
}

#[tokio::test]
async fn graceful_shutdown_on_sigterm() {
    let mut app = TestApp::start(BIN);
    let a = app.admin();
    a.push_blob("o/x", b"before shutdown").await;
    assert!(app.b.stop(), "berth exits 0 on SIGTERM");
    assert!(app.b.log().contains("berth stopped"));
}

#[test]
fn check_config_redacts_and_rejects() {
    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .env("BERTH_DATABASE__URL", "postgres://berth:s3cret@db/berth")
        .env("BERTH_HTTP__ADDR", "127.0.0.1:5999")
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("postgres://berth:***@db/berth"), "{s}");
    assert!(!s.contains("s3cret"));
    assert!(s.contains("127.0.0.1:5999"));

    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .env("BERTH_HTTP__NOPE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .env("BERTH_REGISTRY__MAX_MANIFEST_BYTES", "10")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_manifest_bytes"));
}
