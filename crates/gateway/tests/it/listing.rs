//! Listing over HTTP: tags and the catalog with pagination, referrers with filter and pages.

use berth_testkit::app::{OCI_INDEX, OCI_MANIFEST};
use berth_testkit::{code, header, sha256, TestApp};
use serde_json::{json, Value};

use crate::BIN;

#[tokio::test]
async fn tag_list_and_catalog_pagination() {
    let app = start_with_small_pages();
    let a = app.admin();
    let (body, _) = a.push_image("p/r", "seed", "p").await;
    for t in ["b", "A", "a", "c", "B", "_z", "1.0", "1.0-rc"] {
        assert_eq!(
            a.put_manifest("p/r", t, OCI_MANIFEST, &body).await.status(),
            201
        );
    }
    let all: Vec<String> = ["1.0", "1.0-rc", "A", "B", "_z", "a", "b", "c", "seed"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let tags = |v: Value| -> Vec<String> {
        v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    };

    let r = a.get("/v2/p/r/tags/list?n=100").send().await.unwrap();
    assert!(
        r.headers().get("link").is_some(),
        "n is capped at the page size (5), so a Link follows"
    );
    let r = a.get("/v2/p/r/tags/list?n=4").send().await.unwrap();
    assert_eq!(
        header(&r, "link"),
        "</v2/p/r/tags/list?n=4&last=B>; rel=\"next\""
    );
    assert_eq!(tags(r.json().await.unwrap()), all[..4]);
    let r = a.get("/v2/p/r/tags/list?n=4&last=B").send().await.unwrap();
    assert_eq!(tags(r.json().await.unwrap()), all[4..8]);
    let r = a.get("/v2/p/r/tags/list?last=b").send().await.unwrap();
    assert!(r.headers().get("link").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "p/r");
    assert_eq!(tags(v), all[7..]);
    let r = a.get("/v2/p/r/tags/list?n=0").send().await.unwrap();
    assert!(r.headers().get("link").is_none());
    assert_eq!(tags(r.json().await.unwrap()), Vec::<String>::new());
    let r = a.get("/v2/p/r/tags/list?n=x").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = a.get("/v2/p/none/tags/list").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "NAME_UNKNOWN");

    for r in ["p/s", "q/a", "p/a"] {
        a.push_blob(r, b"x").await;
    }
    let repos = |v: Value| -> Vec<String> {
        v["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    };
    let r = a.get("/v2/_catalog?n=2").send().await.unwrap();
    assert_eq!(
        header(&r, "link"),
        "</v2/_catalog?n=2&last=p%2Fr>; rel=\"next\""
    );
    assert_eq!(repos(r.json().await.unwrap()), vec!["p/a", "p/r"]);
    let r = a.get("/v2/_catalog?n=2&last=p%2Fr").send().await.unwrap();
    assert!(r.headers().get("link").is_none());
    assert_eq!(repos(r.json().await.unwrap()), vec!["p/s", "q/a"]);
}

fn start_with_small_pages() -> TestApp {
    TestApp::start_env(
        BIN,
        &[
            ("BERTH_REGISTRY__PAGE_SIZE", "5"),
            ("BERTH_REGISTRY__REFERRERS_PAGE_SIZE", "2"),
        ],
    )
}

#[tokio::test]
async fn referrers_list_filter_and_pages() {
    let app = start_with_small_pages();
    let a = app.admin();
    let (subject, sd) = a.push_image("o/ref", "v1", "subject").await;
    let unknown = sha256(b"unknown subject");
    let r = a
        .get(&format!("/v2/o/ref/referrers/{unknown}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    );
    let r = a
        .get("/v2/o/ref/referrers/sha256:bad")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let mut sigs = Vec::new();
    for (seed, t) in [
        ("s1", "application/x.sig"),
        ("s2", "application/x.sig"),
        ("s3", "application/x.sig"),
        ("b1", "application/x.sbom"),
    ] {
        let m = a
            .image_manifest("o/ref", seed, Some(t), Some((&sd, subject.len())))
            .await;
        let d = sha256(&m);
        assert_eq!(
            a.put_manifest("o/ref", &d, OCI_MANIFEST, &m).await.status(),
            201
        );
        if t == "application/x.sig" {
            sigs.push(d);
        }
    }
    // An image manifest without artifactType is listed with its config media type.
    let plain = a
        .image_manifest("o/ref", "plain", None, Some((&sd, subject.len())))
        .await;
    assert_eq!(
        a.put_manifest("o/ref", &sha256(&plain), OCI_MANIFEST, &plain)
            .await
            .status(),
        201
    );

    let mut seen = Vec::new();
    let mut url = format!("/v2/o/ref/referrers/{sd}");
    loop {
        let r = a.get(&url).send().await.unwrap();
        let next = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let v: Value = r.json().await.unwrap();
        for m in v["manifests"].as_array().unwrap() {
            assert_eq!(m["mediaType"], OCI_MANIFEST);
            assert!(m["size"].as_u64().unwrap() > 0);
            assert!(m["annotations"]["seed"].is_string());
            seen.push((
                m["digest"].as_str().unwrap().to_owned(),
                m["artifactType"].as_str().unwrap().to_owned(),
            ));
        }
        match next {
            Some(l) => {
                url = l
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen
        .iter()
        .any(|(_, t)| t == "application/vnd.oci.image.config.v1+json"));

    let r = a
        .get(&format!(
            "/v2/o/ref/referrers/{sd}?artifactType=application/x.sig"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    let link = header(&r, "link");
    assert!(link.contains("artifactType=application%2Fx.sig"), "{link}");
    let v: Value = r.json().await.unwrap();
    let page1: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(page1.len(), 2);
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let v: Value = a.get(&next).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    assert!(v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["artifactType"] == "application/x.sig"));
}
