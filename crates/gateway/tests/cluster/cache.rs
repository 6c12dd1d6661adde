//! The opt-in manifest cache across replicas (`database.manifest_cache_on_postgres`): two
//! servers on one PostgreSQL database; a tag moved or deleted through one is served in its new
//! state by the other, whose cache held the old one, as soon as the notification arrives.
//! (Without the option, the default, every GET reads the database: see
//! `scaleout/manifests.rs`, which checks that a moved tag is never stale on another replica.)

use std::time::{Duration, Instant};

use berth_testkit::{http, pg, sha256, Berth};

use crate::BIN;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

async fn push_blob(c: &reqwest::Client, b: &Berth, repo: &str, data: &[u8]) -> String {
    let d = sha256(data);
    let r = c
        .post(b.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}")))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    d
}

async fn push_manifest(c: &reqwest::Client, b: &Berth, repo: &str, tag: &str, n: u32) -> String {
    let config = format!("{{\"n\":{n}}}");
    let cd = push_blob(c, b, repo, config.as_bytes()).await;
    let body = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{cd}\",\"size\":{}}},\"layers\":[]}}",
        config.len()
    );
    let r = c
        .put(b.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    sha256(body.as_bytes())
}

async fn digest_of(c: &reqwest::Client, b: &Berth, repo: &str, tag: &str) -> Option<String> {
    let r = c
        .get(b.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        200 => Some(
            r.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_owned(),
        ),
        404 => None,
        s => panic!("unexpected status {s}"),
    }
}

/// Polls `b` until `tag` resolves to `want`; returns how long that took.
async fn until(c: &reqwest::Client, b: &Berth, tag: &str, want: Option<&str>) -> Duration {
    let start = Instant::now();
    loop {
        if digest_of(c, b, "c/app", tag).await.as_deref() == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "replica still serves the old state of {tag}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn replicas_invalidate_each_others_manifest_cache() {
    let db = pg::fresh_database();
    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().display().to_string();
    let env = [
        ("BERTH_DATABASE__URL", db.as_str()),
        ("BERTH_STORAGE__PATH", storage_path.as_str()),
        ("BERTH_DATABASE__MANIFEST_CACHE_ON_POSTGRES", "true"),
    ];
    let a = Berth::start_env(BIN, &env);
    let b = Berth::start_env(BIN, &env);
    let c = http();

    let d1 = push_manifest(&c, &a, "c/app", "v1", 1).await;
    // B reads v1 twice (the second from its cache) and by digest.
    assert_eq!(
        digest_of(&c, &b, "c/app", "v1").await.as_deref(),
        Some(d1.as_str())
    );
    assert_eq!(
        digest_of(&c, &b, "c/app", "v1").await.as_deref(),
        Some(d1.as_str())
    );
    assert_eq!(
        digest_of(&c, &b, "c/app", &d1).await.as_deref(),
        Some(d1.as_str())
    );
    // Proof that B answers from its cache: drop the tag behind both servers' backs (no
    // notification). B still serves it; A, which never read it, asks the database: 404.
    let out = std::process::Command::new("psql")
        .arg(&db)
        .args(["-qAtc", "DELETE FROM tags WHERE name = 'v1'"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        digest_of(&c, &b, "c/app", "v1").await.as_deref(),
        Some(d1.as_str())
    );
    assert_eq!(digest_of(&c, &a, "c/app", "v1").await, None);

    // A new tag is never stale: B has nothing cached for it.
    let d2 = push_manifest(&c, &a, "c/app", "v2", 2).await;
    assert_eq!(
        digest_of(&c, &b, "c/app", "v2").await.as_deref(),
        Some(d2.as_str())
    );

    // v1 moves on A: B follows once PostgreSQL delivers the notification.
    let d3 = push_manifest(&c, &a, "c/app", "v1", 3).await;
    let moved = until(&c, &b, "v1", Some(&d3)).await;
    // Deleting the tag and then the manifest on A: gone on B too.
    let r = c
        .delete(a.url("/v2/c/app/manifests/v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let tag_gone = until(&c, &b, "v2", None).await;
    let r = c
        .delete(a.url(&format!("/v2/c/app/manifests/{d1}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let digest_gone = until(&c, &b, &d1, None).await;
    eprintln!(
        "replica B caught up after: moved tag {moved:?}, deleted tag {tag_gone:?}, deleted manifest {digest_gone:?}"
    );
    // And A itself never serves its own old state.
    assert_eq!(
        digest_of(&c, &a, "c/app", "v1").await.as_deref(),
        Some(d3.as_str())
    );
    assert_eq!(digest_of(&c, &a, "c/app", "v2").await, None);
}
