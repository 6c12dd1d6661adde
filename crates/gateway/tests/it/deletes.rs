//! Deletes over HTTP: manifests, tags and blobs, and a registry with deletes disabled.

use berth_testkit::app::OCI_MANIFEST;
use berth_testkit::{code, TestApp};
use serde_json::{json, Value};

use crate::BIN;

#[tokio::test]
async fn deletes() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let (_, d) = a.push_image("o/del", "v1", "del").await;
    let r = a.get("/v2/o/del/manifests/v1").send().await.unwrap();
    let body = r.bytes().await.unwrap();
    assert_eq!(
        a.put_manifest("o/del", "v2", OCI_MANIFEST, &body)
            .await
            .status(),
        201
    );

    // By tag: only the tag goes.
    assert_eq!(
        a.delete("/v2/o/del/manifests/v1")
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        a.head("/v2/o/del/manifests/v1")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        a.head(&format!("/v2/o/del/manifests/{d}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = a.delete("/v2/o/del/manifests/v1").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "MANIFEST_UNKNOWN");
    // By digest: the manifest and every tag on it.
    assert_eq!(
        a.delete(&format!("/v2/o/del/manifests/{d}"))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        a.head(&format!("/v2/o/del/manifests/{d}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        a.head("/v2/o/del/manifests/v2")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let v: Value = a
        .get("/v2/o/del/tags/list")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["tags"], json!([]));
    assert_eq!(
        a.delete(&format!("/v2/o/del/manifests/{d}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = a.delete("/v2/o/nothing/manifests/v1").send().await.unwrap();
    assert_eq!(code(r).await, "NAME_UNKNOWN");

    // Blobs.
    let b = a.push_blob("o/del", b"blob to delete").await;
    assert_eq!(
        a.delete(&format!("/v2/o/del/blobs/{b}"))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        a.get(&format!("/v2/o/del/blobs/{b}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = a
        .delete(&format!("/v2/o/del/blobs/{b}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UNKNOWN");
    assert_eq!(
        a.delete("/v2/o/del/blobs/sha256:zz")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}

#[tokio::test]
async fn deletes_can_be_disabled() {
    let app = TestApp::start_env(BIN, &[("BERTH_REGISTRY__DELETE_ENABLED", "false")]);
    let a = app.admin();
    let (_, d) = a.push_image("o/keep", "v1", "keep").await;
    for url in [
        format!("/v2/o/keep/manifests/{d}"),
        "/v2/o/keep/manifests/v1".into(),
        format!("/v2/o/keep/blobs/{d}"),
    ] {
        let r = a.delete(&url).send().await.unwrap();
        assert_eq!(r.status(), 405, "{url}");
        assert_eq!(code(r).await, "UNSUPPORTED");
    }
    // The management API runs the same deletes, so it is refused with the same code.
    for path in [
        format!("/repositories/o/keep/-/manifests/{d}"),
        "/repositories/o/keep/-/tags/v1".into(),
        "/repositories/o/keep".into(),
    ] {
        let r = a.api("DELETE", &path, None).await;
        assert_eq!(r.status(), 405, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "UNSUPPORTED", "{path}: {body}");
    }
    assert_eq!(
        a.head("/v2/o/keep/manifests/v1")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
