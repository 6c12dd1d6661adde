//! Scale-out: three `berth` replicas share one PostgreSQL database and one S3 bucket prefix (a
//! real Garage, 5 MiB multipart parts) behind nginx round-robin. The test proves that
//!
//! - an image pushed by skopeo through the balancer (its requests spread over the replicas)
//!   is served byte-identical by every replica on its own;
//! - a chunked upload is a shared session: its PATCHes land on different replicas (each
//!   replica's access log shows PATCHes of that one upload id), the S3 multipart upload
//!   behind it holds parts written by different processes, and the closing PUT (wherever it
//!   lands) yields an 18 MiB blob that every replica serves byte for byte;
//! - a manifest pushed to one replica is visible on the others at once (new tag, digest), and
//!   so is a tag moved through one replica: no other replica ever serves its previous state
//!   (the manifest cache is off on PostgreSQL by default for exactly this);
//! - killing a replica (SIGKILL) while clients push through the balancer loses nothing that
//!   was acknowledged: every acknowledged blob and manifest reads back exactly from each
//!   survivor, interrupted chunked uploads continue on another replica where the database says
//!   they stand, and nothing unacknowledged is half-visible (a visible manifest has all its
//!   blobs; a visible blob has all its bytes; every stored object hashes to its name).
//!
//! No assertion depends on timing: deadlines are generous and only bound the waiting.
//!
//! The stories live in their own files: (a) `skopeo.rs`, (b) `chunked.rs` and `manifests.rs`,
//! (c) `kill.rs` with its clients in `load.rs` and the writes it interrupts in `straddle.rs`.

mod chunked;
mod kill;
mod load;
mod manifests;
mod skopeo;
mod straddle;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_testkit::app::OCI_MANIFEST;
use berth_testkit::header as hdr;
use berth_testkit::nginx::Nginx;
use berth_testkit::s3::{Garage, BUCKET};
use berth_testkit::{http, pg, sha256, Berth};
use reqwest::Response;

use crate::traffic;
use crate::BIN;

const MIB: usize = 1024 * 1024;
/// The key prefix all replicas share in the bucket.
const PREFIX: &str = "shared";

/// `GET url` (no redirects, no proxy), failing the test on a transport error.
async fn get(url: &str) -> Response {
    traffic::get(&http(), url, Duration::from_secs(120)).await
}

/// The blob `digest` of `repo` from replica `b`: 200 and exactly `expected`.
async fn assert_blob(b: &Berth, repo: &str, digest: &str, expected: &[u8], what: &str) {
    let r = get(&b.url(&format!("/v2/{repo}/blobs/{digest}"))).await;
    assert_eq!(
        r.status(),
        200,
        "{what}: blob {digest} of {repo} on {}",
        b.addr
    );
    assert_eq!(hdr(&r, "docker-content-digest"), digest);
    let body = r.bytes().await.unwrap();
    assert_eq!(
        body.len(),
        expected.len(),
        "{what}: blob {digest} on {} has the wrong length",
        b.addr
    );
    assert_eq!(sha256(&body), digest, "{what}: blob {digest} on {}", b.addr);
    assert!(
        body == expected,
        "{what}: blob {digest} on {} differs",
        b.addr
    );
}

/// The manifest `reference` of `repo` from replica `b`: 200, digest `digest`, exactly `body`.
async fn assert_manifest(b: &Berth, repo: &str, reference: &str, digest: &str, body: &[u8]) {
    let r = get(&b.url(&format!("/v2/{repo}/manifests/{reference}"))).await;
    assert_eq!(r.status(), 200, "manifest {repo}:{reference} on {}", b.addr);
    assert_eq!(
        hdr(&r, "docker-content-digest"),
        digest,
        "manifest {repo}:{reference} on {}",
        b.addr
    );
    assert_eq!(hdr(&r, "content-type"), OCI_MANIFEST);
    let got = r.bytes().await.unwrap();
    assert!(
        got == body,
        "manifest {repo}:{reference} on {} is not the pushed bytes",
        b.addr
    );
}

/// Requests in the nginx access log whose URI contains `needle`, by the replica that answered
/// (the last upstream nginx tried), plus how many went to the next replica after a failure and
/// how many ended in 502.
fn spread(lb: &Nginx, needle: &str) -> (BTreeMap<String, usize>, usize, usize) {
    let mut by = BTreeMap::new();
    let (mut passed_on, mut bad_gateway) = (0, 0);
    for line in lb.access_log().lines() {
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        if f.len() < 4 || !f[1].contains(needle) {
            continue;
        }
        if f[2] == "502" {
            bad_gateway += 1;
        }
        // `$upstream_addr $upstream_status`: "a:1, b:2 502, 201" when nginx passed it on.
        let ups = f[3];
        if ups.contains(',') {
            passed_on += 1;
        }
        let answered = ups
            .split([',', ' '])
            .rfind(|s| s.starts_with("127.0.0.1:"))
            .unwrap_or("-")
            .to_owned();
        *by.entry(answered).or_default() += 1;
    }
    (by, passed_on, bad_gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_behind_nginx() {
    let started = Instant::now();
    let garage = Garage::start();
    let db = pg::fresh_database();
    let mut env = garage.berth_env(PREFIX);
    env.push(("BERTH_DATABASE__URL".into(), db.clone()));
    env.push(("BERTH_STORAGE__S3__PART_SIZE_MIB".into(), "5".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // One after the other: the first applies the migrations.
    let mut replicas: Vec<Berth> = (0..3).map(|_| Berth::start_env(BIN, &env)).collect();
    let addrs: Vec<&str> = replicas.iter().map(|b| b.addr.as_str()).collect();
    let lb = Nginx::start(&addrs);
    eprintln!(
        "cluster: replicas {:?} behind nginx {} on one database and s3://{BUCKET}/{PREFIX}/ (started in {:?})",
        addrs,
        lb.addr,
        started.elapsed()
    );

    skopeo::skopeo_through_the_balancer(&lb, &replicas).await;
    let (blob, blob_digest) =
        chunked::chunked_upload_across_replicas(&lb, &replicas, &db, &garage).await;
    manifests::manifests_visible_across_replicas(&replicas, &blob_digest, blob.len()).await;
    drop(blob);
    kill::kill_a_replica_during_pushes(&lb, &mut replicas, &garage).await;
    eprintln!("scale-out test done in {:?}", started.elapsed());
}
