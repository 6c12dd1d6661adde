//! (b) A manifest pushed to one replica is visible on the others at once (new tag, digest), and
//! so is a tag moved through one replica: no other replica ever serves its previous state (the
//! manifest cache is off on PostgreSQL by default for exactly this).

use std::time::{Duration, Instant};

use berth_testkit::app::OCI_MANIFEST;
use berth_testkit::{header as hdr, http, sha256, Actor, Berth};
use serde_json::{json, Value};

use super::{assert_blob, assert_manifest, get};

/// (b) a manifest pushed through one replica is visible on every other one at once (by its new
/// tag and by digest). A tag *moved* through one replica: the writer serves the new state at
/// once; the others converge (their manifest caches are invalidated through PostgreSQL
/// notifications, which arrive asynchronously), and how often an immediate read on another
/// replica still saw the previous manifest is reported.
pub(super) async fn manifests_visible_across_replicas(
    replicas: &[Berth],
    layer: &str,
    layer_len: usize,
) {
    let repo = "scale/chunked";
    let c = http();
    let admins: Vec<Actor> = replicas.iter().map(|b| Actor::admin_at(&b.base)).collect();
    for (i, pusher) in replicas.iter().enumerate() {
        let config = json!({"architecture": "amd64", "os": "linux", "pushed_to": i}).to_string();
        let cd = sha256(config.as_bytes());
        let r = c
            .post(pusher.url(&format!("/v2/{repo}/blobs/uploads/?digest={cd}")))
            .body(config.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_len}],
        }))
        .unwrap();
        let md = sha256(&body);
        let tag = format!("r{i}");
        let r = admins[i]
            .put_manifest(repo, &tag, OCI_MANIFEST, &body)
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        // No wait: the next request to any replica sees it.
        for other in replicas {
            assert_manifest(other, repo, &tag, &md, &body).await;
            assert_manifest(other, repo, &md, &md, &body).await;
            assert_blob(other, repo, &cd, config.as_bytes(), "(b) config").await;
        }
    }
    for b in replicas {
        let v: Value = get(&b.url(&format!("/v2/{repo}/tags/list")))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["tags"], json!(["r0", "r1", "r2"]), "on {}", b.addr);
    }

    // A tag moved again and again, each time through the next replica, right after every
    // replica read (and may have cached) its previous state.
    const MOVES: usize = 60;
    let empty = sha256(b"{}");
    let r = c
        .post(replicas[0].url(&format!("/v2/{repo}/blobs/uploads/?digest={empty}")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (mut stale, mut longest) = (0, Duration::ZERO);
    let mut previous = String::new();
    for k in 0..MOVES {
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": empty, "size": 2},
            "layers": [],
            "annotations": {"move": k.to_string()},
        }))
        .unwrap();
        let md = sha256(&body);
        let writer = k % replicas.len();
        let r = admins[writer]
            .put_manifest(repo, "moving", OCI_MANIFEST, &body)
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let moved = Instant::now();
        let url = |i: usize| replicas[i].url(&format!("/v2/{repo}/manifests/moving"));
        for i in (0..replicas.len()).map(|j| (writer + j) % replicas.len()) {
            let got = hdr(&get(&url(i)).await, "docker-content-digest");
            if got == md {
                continue;
            }
            assert!(
                i != writer,
                "move {k}: the writer itself served {got} instead of {md}"
            );
            assert_eq!(
                got, previous,
                "move {k}: replica {i} served neither the old nor the new manifest"
            );
            stale += 1;
            eprintln!("move {k}: replica {i} served the previous manifest right after the move");
            loop {
                assert!(
                    moved.elapsed() < Duration::from_secs(10),
                    "move {k}: replica {i} still serves the previous manifest"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
                if hdr(&get(&url(i)).await, "docker-content-digest") == md {
                    break;
                }
            }
            longest = longest.max(moved.elapsed());
        }
        previous = md;
    }
    eprintln!(
        "(b) new manifests pushed to each replica in turn were visible on all three at once; a \
         tag moved {MOVES} times: the writer always served the new manifest, {stale} of {} \
         immediate reads on other replicas still served the previous one (all converged, the \
         slowest after {longest:?})",
        MOVES * (replicas.len() - 1)
    );
    assert_eq!(stale, 0, "a moved tag was served stale by another replica");
}
