//! Manifests over HTTP: put, get, head and validation, the size limit, tags and subjects,
//! index children and Accept negotiation.

use berth_testkit::app::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use berth_testkit::{code, header, sha256, TestApp};
use serde_json::{json, Value};

use crate::BIN;

#[tokio::test]
async fn manifest_put_get_head_and_validation() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let (body, d) = a.push_image("o/app", "v1", "one").await;

    let r = a
        .get("/v2/o/app/manifests/v1")
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert_eq!(header(&r, "content-length"), body.len().to_string());
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..]);
    let r = a
        .head(&format!("/v2/o/app/manifests/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), body.len().to_string());
    assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
    assert!(r.bytes().await.unwrap().is_empty());

    // PUT by digest: Location and digest; a mismatching digest is refused.
    let body2 = a.image_manifest("o/app", "two", None, None).await;
    let d2 = sha256(&body2);
    let r = a.put_manifest("o/app", &d2, OCI_MANIFEST, &body2).await;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location"), format!("/v2/o/app/manifests/{d2}"));
    assert_eq!(header(&r, "docker-content-digest"), d2);
    let r = a.put_manifest("o/app", &d, OCI_MANIFEST, &body2).await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    let r = a
        .put_manifest("o/app", "sha256:baddigeststring", OCI_MANIFEST, &body2)
        .await;
    assert_eq!(r.status(), 400);

    // Invalid bodies.
    for (ct, bad) in [
        (OCI_MANIFEST, "not json".to_string()),
        (
            OCI_MANIFEST,
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#
                .to_string(),
        ),
        (DOCKER_MANIFEST, String::from_utf8(body.clone()).unwrap()),
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            r#"{"schemaVersion":1}"#.to_string(),
        ),
    ] {
        let r = a.put_manifest("o/app", "bad", ct, bad.as_bytes()).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(code(r).await, "MANIFEST_INVALID", "{bad}");
    }
    // Missing blobs: one error per digest.
    let ghost = sha256(b"ghost layer");
    let ghost_cfg = sha256(b"ghost config");
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ghost_cfg, "size": 12},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ghost, "size": 11}]});
    let r = a
        .put_manifest("o/app", "ghost", OCI_MANIFEST, m.to_string().as_bytes())
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let codes: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec!["MANIFEST_BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"]
    );
    // Non-distributable layers with urls need not be pushed; layers may be empty.
    let cfg = a.push_blob("o/app", b"{}").await;
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "digest": ghost, "size": 11, "urls": ["https://example.com/l"]}]});
    assert_eq!(
        a.put_manifest("o/app", "foreign", OCI_MANIFEST, m.to_string().as_bytes())
            .await
            .status(),
        201
    );
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x.empty",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2}, "layers": []});
    assert_eq!(
        a.put_manifest("o/app", "nolayers", OCI_MANIFEST, m.to_string().as_bytes())
            .await
            .status(),
        201
    );

    // Unknown references: invalid tag 404, invalid digest 400, unknown repository NAME_UNKNOWN.
    let r = a
        .get("/v2/o/app/manifests/.INVALID_MANIFEST_NAME")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = a
        .head("/v2/o/app/manifests/.INVALID_MANIFEST_NAME")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = a
        .get("/v2/o/app/manifests/sha256:totallywrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    let r = a.get("/v2/o/app/manifests/nope").send().await.unwrap();
    assert_eq!(code(r).await, "MANIFEST_UNKNOWN");
    let r = a.get("/v2/o/none/manifests/v1").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "NAME_UNKNOWN");
    let r = a
        .put_manifest("o/app", "bad:tag", OCI_MANIFEST, &body)
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn manifest_size_limit_tags_param_and_subject() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let cfg = a.push_blob("o/big", b"{}").await;
    // ~3.9 MB of annotations is accepted (clients expect at least 4 MB) …
    let mut ann = serde_json::Map::new();
    for i in 0..390 {
        ann.insert(format!("a{i}"), json!("x".repeat(10_000)));
    }
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
        "layers": [], "annotations": ann});
    let body = m.to_string();
    assert!(body.len() > 3_900_000);
    let r = a
        .put_manifest("o/big", "large", OCI_MANIFEST, body.as_bytes())
        .await;
    assert_eq!(r.status(), 201);
    let got = a
        .get("/v2/o/big/manifests/large")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), body.as_bytes());
    // … more than the limit is 413.
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let r = a.put_manifest("o/big", "huge", OCI_MANIFEST, &huge).await;
    assert_eq!(r.status(), 413);

    // ?tag= parameters and OCI-Tag.
    let small = a.image_manifest("o/big", "tags", None, None).await;
    let d = sha256(&small);
    let r = a
        .put(&format!("/v2/o/big/manifests/{d}?tag=t1&tag=t2&tag=t3"))
        .header("content-type", OCI_MANIFEST)
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "oci-tag"), "t1, t2, t3");
    for t in ["t1", "t2", "t3"] {
        let r = a
            .head(&format!("/v2/o/big/manifests/{t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "docker-content-digest"), d);
    }

    // A subject that does not exist is accepted and echoed in OCI-Subject (manifest and index).
    let absent = sha256(b"no such subject");
    let referrer = a
        .image_manifest(
            "o/big",
            "sig",
            Some("application/x.sig"),
            Some((&absent, 100)),
        )
        .await;
    let r = a
        .put_manifest("o/big", &sha256(&referrer), OCI_MANIFEST, &referrer)
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "oci-subject"), absent);
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": absent, "size": 100}});
    let r = a
        .put_manifest("o/big", "idx", OCI_INDEX, idx.to_string().as_bytes())
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "oci-subject"), absent);
}

#[tokio::test]
async fn index_children_and_accept_negotiation() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let (amd, amd_d) = a.push_image("o/multi", "amd", "amd64").await;
    let (arm, arm_d) = a.push_image("o/multi", "arm", "arm64").await;
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": arm_d, "size": arm.len(), "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": OCI_MANIFEST, "digest": amd_d, "size": amd.len(), "platform": {"os": "linux", "architecture": "amd64"}},
    ]})
    .to_string();
    assert_eq!(
        a.put_manifest("o/multi", "latest", OCI_INDEX, idx.as_bytes())
            .await
            .status(),
        201
    );
    // Children must exist.
    let bad = idx.replace(&arm_d, &sha256(b"missing child"));
    let r = a
        .put_manifest("o/multi", "bad", OCI_INDEX, bad.as_bytes())
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "MANIFEST_BLOB_UNKNOWN");

    let get = |accept: &'static str| {
        a.get("/v2/o/multi/manifests/latest")
            .header("accept", accept)
            .send()
    };
    let r =
        get("application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
            .await
            .unwrap();
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
    assert_eq!(r.bytes().await.unwrap().as_ref(), idx.as_bytes());
    // A client that takes only image manifests gets the default platform's.
    let r = get(OCI_MANIFEST).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "docker-content-digest"), amd_d);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &amd[..]);
    // A client that takes only Docker types cannot be served an OCI manifest.
    let r = get(DOCKER_MANIFEST).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "MANIFEST_UNKNOWN");
    let r = a
        .get("/v2/o/multi/manifests/amd")
        .header("accept", DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // No Accept at all: as stored.
    let r = a.get("/v2/o/multi/manifests/latest").send().await.unwrap();
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
}
