//! After the outage: every push that was acknowledged (before, during or after it) reads back
//! byte for byte, an unacknowledged manifest is absent or whole, every visible manifest has all
//! its blobs, and every blob object in the bucket hashes to its name.

use std::collections::BTreeSet;

use berth_testkit::{header, http, sha256};
use serde_json::Value;

use super::clients::Log;
use super::cluster::Cluster;
use super::{PREFIX, REQUEST_TIMEOUT};
use crate::traffic::{self, absent_or_whole, blob_objects_hash_to_their_names};

/// Everything acknowledged reads back; unacknowledged manifests are absent or whole; every
/// visible manifest has all its blobs; every stored object hashes to its name.
pub(super) async fn verify(cl: &Cluster, log: &Log) {
    let c = &http();
    let get = |url: String| async move { traffic::get(c, &url, REQUEST_TIMEOUT).await };
    let acked = log.pushes.acked_blobs();
    for b in &acked {
        let res = get(cl.berth.url(&format!("/v2/{}/blobs/{}", b.repo, b.digest))).await;
        assert_eq!(
            res.status(),
            200,
            "acknowledged blob {} of {}",
            b.digest,
            b.repo
        );
        let body = res.bytes().await.unwrap();
        assert!(
            body == b.data(),
            "acknowledged blob {} of {} came back with other bytes",
            b.digest,
            b.repo
        );
    }
    for (m, _) in &log.pushes.manifests {
        for reference in [&m.tag, &m.digest] {
            let res = get(cl
                .berth
                .url(&format!("/v2/{}/manifests/{reference}", m.repo)))
            .await;
            assert_eq!(
                res.status(),
                200,
                "acknowledged manifest {}:{reference}",
                m.repo
            );
            assert_eq!(header(&res, "docker-content-digest"), m.digest);
            assert!(res.bytes().await.unwrap() == m.body);
        }
    }
    let mut unacked_present = 0;
    for m in log.pushes.unacked_manifests() {
        let res = get(cl
            .berth
            .url(&format!("/v2/{}/manifests/{}", m.repo, m.digest)))
        .await;
        unacked_present += usize::from(absent_or_whole(res, m).await);
    }

    // Every visible manifest, under every tag of every repository, has all its blobs.
    let res = get(cl.berth.url("/v2/_catalog")).await;
    assert_eq!(res.status(), 200);
    let catalog: Value = res.json().await.unwrap();
    let mut visible = 0;
    let mut checked_blobs = BTreeSet::new();
    for repo in catalog["repositories"].as_array().unwrap() {
        let repo = repo.as_str().unwrap();
        let res = get(cl.berth.url(&format!("/v2/{repo}/tags/list"))).await;
        assert_eq!(res.status(), 200);
        let tags: Value = res.json().await.unwrap();
        for tag in tags["tags"].as_array().cloned().unwrap_or_default() {
            let tag = tag.as_str().unwrap();
            let res = get(cl.berth.url(&format!("/v2/{repo}/manifests/{tag}"))).await;
            assert_eq!(res.status(), 200, "{repo}:{tag} is listed but not served");
            let m: Value = res.json().await.unwrap();
            visible += 1;
            let mut descriptors = vec![m["config"].clone()];
            descriptors.extend(m["layers"].as_array().cloned().unwrap_or_default());
            for d in descriptors {
                let digest = d["digest"].as_str().unwrap().to_owned();
                if !checked_blobs.insert((repo.to_owned(), digest.clone())) {
                    continue;
                }
                let res = get(cl.berth.url(&format!("/v2/{repo}/blobs/{digest}"))).await;
                assert_eq!(
                    res.status(),
                    200,
                    "{repo}:{tag} is visible but its blob {digest} is not"
                );
                let body = res.bytes().await.unwrap();
                assert_eq!(sha256(&body), digest, "{repo}:{tag}: blob {digest}");
                assert_eq!(Some(body.len() as u64), d["size"].as_u64());
            }
        }
    }
    assert!(visible >= log.pushes.manifests.len());

    // And the bucket holds no blob object that does not hash to its name.
    let objects = blob_objects_hash_to_their_names(&cl.garage, PREFIX).await;
    eprintln!(
        "verified {} acknowledged blobs, {} acknowledged manifests, {unacked_present} \
         unacknowledged manifests that became visible (whole), {visible} visible tags with \
         {} blob links, {objects} blob objects",
        acked.len(),
        log.pushes.manifests.len(),
        checked_blobs.len(),
    );
}
