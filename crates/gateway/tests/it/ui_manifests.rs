//! Manifest pages in a real headless Chromium: an image's config summary (platform,
//! entrypoint, environment, labels — a hostile label stays text) and layers; a multi-arch
//! index with its platforms linked to each child; a Helm chart recognised by its config type;
//! and the artifacts that refer to an image, by artifact type.

use berth_testkit::app::{Actor, OCI_INDEX, OCI_MANIFEST};
use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::{sha256, TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::{json, Value};

use crate::BIN;

/// Pushes a manifest with `config` (of `config_type`) and `layers`; returns (digest, size).
async fn push(
    a: &Actor,
    reference: &str,
    config_type: &str,
    config: &[u8],
    layers: &[(&str, &[u8])],
    extra: Value,
) -> (String, usize) {
    let repo = "labs/app";
    let cd = a.push_blob(repo, config).await;
    let mut ls = Vec::new();
    for (t, data) in layers {
        let d = a.push_blob(repo, data).await;
        ls.push(json!({"mediaType": t, "digest": d, "size": data.len()}));
    }
    let mut m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": cd, "size": config.len()},
        "layers": ls});
    if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        m.extend(extra.clone());
    }
    let body = serde_json::to_vec(&m).unwrap();
    let r = a.put_manifest(repo, reference, OCI_MANIFEST, &body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    (sha256(&body), body.len())
}

const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

#[tokio::test]
async fn images_indexes_charts_and_referrers_show_what_they_are() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    a.org("labs", false).await;
    let payload = r#"<img src=x onerror="window.__xss=1">"#;
    let config = json!({"os": "linux", "architecture": "amd64", "created": "2026-11-30T10:00:00Z",
        "config": {"Entrypoint": ["/bin/busybox"], "Cmd": ["sh"], "Env": ["PATH=/bin", "MODE=prod"],
                   "Labels": {"org.opencontainers.image.title": "app", "evil": payload}}});
    let (image, image_size) = push(
        &a,
        "v1",
        IMAGE_CONFIG,
        &serde_json::to_vec(&config).unwrap(),
        &[(LAYER, b"layer one"), (LAYER, b"layer two!")],
        json!({}),
    )
    .await;
    // A signature referring to the image.
    push(
        &a,
        "sig",
        "application/vnd.oci.empty.v1+json",
        b"{}",
        &[(LAYER, b"signature bytes")],
        json!({"artifactType": "application/vnd.example.signature",
               "subject": {"mediaType": OCI_MANIFEST, "digest": image, "size": image_size}}),
    )
    .await;
    // Two platforms and the index over them.
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let cfg = json!({"os": "linux", "architecture": arch});
        let (d, size) = push(
            &a,
            &format!("only-{arch}"),
            IMAGE_CONFIG,
            &serde_json::to_vec(&cfg).unwrap(),
            &[(LAYER, format!("{arch} layer").as_bytes())],
            json!({}),
        )
        .await;
        children.push(json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size,
            "platform": {"os": "linux", "architecture": arch}}));
    }
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
    )
    .unwrap();
    let r = a.put_manifest("labs/app", "multi", OCI_INDEX, &index).await;
    assert_eq!(r.status(), 201);
    // A Helm chart.
    push(
        &a,
        "chart",
        "application/vnd.cncf.helm.config.v1+json",
        br#"{"name":"app","version":"0.1.0"}"#,
        &[(
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            b"chart tgz",
        )],
        json!({}),
    )
    .await;

    let b = Browser::start().await;
    b.goto(&app.b.url("/login")).await;
    b.fill("#name", ADMIN_USER).await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click_and_wait("#login-form button[type=submit]").await;

    // The image, reached from the repository page.
    b.goto(&app.b.url("/repositories/labs/app")).await;
    let tags = b.text("#tag-table").await;
    assert!(tags.contains("index") && tags.contains("image"), "{tags}");
    // Each row's kind, read from the manifest: an index names its platforms, a chart is one.
    let kinds = b
        .exec(
            "var out = {}; document.querySelectorAll('#tag-table tbody tr').forEach(function (r) { \
             out[r.querySelector('td.tag').textContent.trim()] = \
             r.querySelector('td.kind').textContent.replace(/\\s+/g, ' ').trim(); }); return out;",
            json!([]),
        )
        .await;
    assert_eq!(
        kinds["multi"], "index (linux/amd64, linux/arm64)",
        "{kinds}"
    );
    assert_eq!(kinds["chart"], "Helm chart", "{kinds}");
    assert_eq!(kinds["only-amd64"], "image", "{kinds}");
    b.click_and_wait(&format!("#tag-table a[href$='{image}']"))
        .await;
    assert_eq!(b.text("#manifest-kind").await, "image");
    assert_eq!(b.text("#manifest-digest").await, image);
    assert_eq!(b.text("#config-platform").await, "linux/amd64");
    assert!(b.text("#config-env").await.contains("MODE=prod"));
    assert!(b.text("#config-labels").await.contains(payload));
    let ran = b
        .exec("return window.__xss === undefined ? 0 : 1", json!([]))
        .await;
    assert_eq!(ran, 0, "a label's markup ran");
    assert!(b.try_find("#config-labels img").await.is_none());
    let layers = b
        .exec(
            "return document.querySelectorAll('#layer-table tbody tr').length",
            json!([]),
        )
        .await;
    assert_eq!(layers, 2);
    assert!(b
        .text("#referrer-table")
        .await
        .contains("application/vnd.example.signature"));
    b.screenshot(&screenshots_dir().join("ui-manifest.png"))
        .await;

    // The index: its platforms, each linked to its own page.
    let index_digest = sha256(&index);
    b.goto(&app.b.url(&format!(
        "/repositories/labs/app/-/manifests/{index_digest}"
    )))
    .await;
    assert_eq!(b.text("#manifest-kind").await, "index");
    let platforms = b.text("#platform-table").await;
    assert!(
        platforms.contains("linux/amd64") && platforms.contains("linux/arm64"),
        "{platforms}"
    );
    b.screenshot(&screenshots_dir().join("ui-index.png")).await;
    b.click_and_wait("#platform-table tbody tr:last-child a")
        .await;
    assert_eq!(b.text("#config-platform").await, "linux/arm64");

    // The chart.
    let chart = a
        .get("/v2/labs/app/manifests/chart")
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    b.goto(&app.b.url(&format!(
        "/repositories/labs/app/-/manifests/{}",
        sha256(&chart)
    )))
    .await;
    assert_eq!(b.text("#manifest-kind").await, "Helm chart");

    // A digest the repository does not hold.
    b.goto(&app.b.url(&format!(
        "/repositories/labs/app/-/manifests/sha256:{}",
        "0".repeat(64)
    )))
    .await;
    assert_eq!(b.text("#error h1").await, "Not found");
}
