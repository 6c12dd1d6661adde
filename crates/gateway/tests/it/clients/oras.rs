//! Real clients: oras: artifacts and referrers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// (e) oras-py: an artifact pushed and pulled, then two referrers to it (one pushed with
/// oras-py's `subject`, one with an explicit `artifactType`), listed by the referrers API.
#[tokio::test]
async fn oras_artifact_and_referrers() {
    let b = Berth::start(BIN);
    let tmp = tempdir();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/scripts/oras_referrers.py"
    );
    run_ok(
        oras_script(script.as_ref(), &tmp.path().join("home"))
            .arg(&b.addr)
            .arg(tmp.path())
            .env("ORAS_USER", berth_testkit::ADMIN_USER)
            .env("ORAS_PASSWORD", berth_testkit::ADMIN_PASSWORD),
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
