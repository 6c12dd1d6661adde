//! (c) Killing a replica (SIGKILL) while clients push through the balancer loses nothing that
//! was acknowledged: every acknowledged blob and manifest reads back exactly from each survivor,
//! interrupted chunked uploads continue on another replica where the database says they stand,
//! and nothing unacknowledged is half-visible (a visible manifest has all its blobs; a visible
//! blob has all its bytes; every stored object hashes to its name).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::nginx::Nginx;
use berth_testkit::s3::Garage;
use berth_testkit::{header as hdr, http, Berth};
use serde_json::Value;

use super::load::{worker, Load, LoadLog, TASKS};
use super::straddle::Straddle;
use super::{assert_blob, assert_manifest, get, spread, PREFIX};
use crate::traffic::{absent_or_whole, blob_objects_hash_to_their_names, ManifestRec};

/// Waits (polling) until `done()`; panics after `limit` with `what`.
async fn wait_until(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (c) SIGKILL of one replica while four clients push through nginx.
pub(super) async fn kill_a_replica_during_pushes(
    lb: &Nginx,
    replicas: &mut [Berth],
    garage: &Garage,
) {
    const VICTIM: usize = 2;
    let load = Arc::new(Load {
        base: lb.base.clone(),
        killed: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        acked: AtomicUsize::new(0),
        log: Mutex::new(LoadLog::default()),
    });
    let started = Instant::now();
    let workers: Vec<_> = (0..TASKS)
        .map(|t| tokio::spawn(worker(load.clone(), t)))
        .collect();

    // About a second of traffic, and something acknowledged, before the kill; meanwhile
    // requests straight to the victim that will be stalled in the middle of their bodies.
    let l = load.clone();
    let (straddle, ()) = tokio::join!(
        Straddle::start(lb, &replicas[VICTIM]),
        wait_until(
            Duration::from_secs(120),
            "no push acknowledged",
            move || {
                l.acked.load(Ordering::SeqCst) >= 6 && started.elapsed() >= Duration::from_secs(1)
            },
        )
    );
    let before = load.acked.load(Ordering::SeqCst);
    load.killed.store(true, Ordering::SeqCst);
    replicas[VICTIM].kill9();
    let killed_at = started.elapsed();
    straddle.check(lb, replicas, VICTIM, garage).await;

    // Then at least three more sequences per client, and long enough (> nginx's
    // `fail_timeout`) that nginx tries the dead replica again and passes requests on.
    let l = load.clone();
    wait_until(
        Duration::from_secs(300),
        "the two survivors did not keep acknowledging pushes",
        move || {
            l.acked.load(Ordering::SeqCst) >= before + 3 * 3 * TASKS
                && started.elapsed() >= killed_at + Duration::from_secs(7)
        },
    )
    .await;
    load.stop.store(true, Ordering::SeqCst);
    for w in workers {
        tokio::time::timeout(Duration::from_secs(300), w)
            .await
            .expect("a client did not finish its sequence")
            .unwrap();
    }
    let log = std::mem::take(&mut *load.log.lock().unwrap());
    assert!(
        log.errors.is_empty(),
        "pushes failed (before the kill, inconsistently, or on every retry): {:#?}",
        log.errors
    );

    let count = |after: bool| {
        (
            log.pushes.blobs.iter().filter(|b| b.2 == after).count(),
            log.pushes.manifests.iter().filter(|m| m.1 == after).count(),
        )
    };
    let (blobs_before, manifests_before) = count(false);
    let (blobs_after, manifests_after) = count(true);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, k, _) in &log.pushes.blobs {
        *kinds.entry(k).or_default() += 1;
    }
    let (by, passed_on, bad_gateway) = spread(lb, "/v2/scale/load");
    eprintln!(
        "(c) replica {VICTIM} ({}) killed after {killed_at:?}; run {:?}. Acknowledged before the \
         kill: {blobs_before} blobs + {manifests_before} manifests; after: {blobs_after} blobs + \
         {manifests_after} manifests; blob kinds {kinds:?}. {} requests failed after the kill \
         (their sequences abandoned), {} chunked sessions resumed on a survivor. nginx: answered by {by:?}, \
         {passed_on} passed to the next replica, {bad_gateway} × 502",
        replicas[VICTIM].addr,
        started.elapsed(),
        log.failures_after_kill.len(),
        log.resumed,
    );
    for f in log.failures_after_kill.iter().take(8) {
        eprintln!("    after the kill: {f}");
    }
    assert!(blobs_before > 0 && manifests_before + blobs_before >= 6);
    assert!(
        manifests_after > 0,
        "no manifest acknowledged after the kill"
    );
    for k in ["monolithic", "single-post", "chunked"] {
        assert!(kinds.contains_key(k), "no {k} upload was acknowledged");
    }

    let survivors: Vec<&Berth> = replicas
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != VICTIM)
        .map(|(_, b)| b)
        .collect();

    verify(&survivors, &log, garage).await;
}

/// After the kill, on each survivor: every acknowledged write reads back exactly, every
/// unacknowledged one is absent or whole, everything listed is whole; in the bucket, every blob
/// object hashes to its name.
async fn verify(survivors: &[&Berth], log: &LoadLog, garage: &Garage) {
    // Every acknowledged write, from each survivor.
    let acked_blobs = log.pushes.acked_blobs();
    for r in &acked_blobs {
        let data = r.data();
        for b in survivors {
            assert_blob(b, &r.repo, &r.digest, &data, "acknowledged").await;
        }
    }
    for (m, _) in &log.pushes.manifests {
        for b in survivors {
            assert_manifest(b, &m.repo, &m.tag, &m.digest, &m.body).await;
            assert_manifest(b, &m.repo, &m.digest, &m.digest, &m.body).await;
        }
    }

    // Unacknowledged writes: absent, or whole (and a manifest with all its blobs).
    let mut visible = 0;
    let unacked_blobs = log.pushes.unacked_blobs();
    for r in &unacked_blobs {
        let mut statuses = Vec::new();
        for b in survivors {
            let res = get(&b.url(&format!("/v2/{}/blobs/{}", r.repo, r.digest))).await;
            statuses.push(res.status().as_u16());
            if res.status() == 200 {
                let body = res.bytes().await.unwrap();
                assert!(
                    body == r.data(),
                    "unacknowledged blob {} is not whole",
                    r.digest
                );
            } else {
                assert_eq!(res.status(), 404, "unacknowledged blob {}", r.digest);
            }
        }
        assert!(
            statuses.windows(2).all(|w| w[0] == w[1]),
            "survivors disagree: {statuses:?}"
        );
        visible += usize::from(statuses[0] == 200);
    }
    let unacked_manifests = log.pushes.unacked_manifests();
    for m in &unacked_manifests {
        for b in survivors {
            let res = get(&b.url(&format!("/v2/{}/manifests/{}", m.repo, m.digest))).await;
            if absent_or_whole(res, m).await {
                for r in &m.blobs {
                    assert_blob(
                        b,
                        &r.repo,
                        &r.digest,
                        &r.data(),
                        "blob of a visible manifest",
                    )
                    .await;
                }
                visible += 1;
            }
        }
    }
    eprintln!(
        "(c) verified {} acknowledged blobs and {} acknowledged manifests on both survivors; \
         {} unacknowledged blobs and {} unacknowledged manifests: {visible} visible-and-whole, \
         the rest absent",
        acked_blobs.len(),
        log.pushes.manifests.len(),
        unacked_blobs.len(),
        unacked_manifests.len()
    );

    // Everything a survivor lists is whole: each tag's manifest with every blob it names.
    let tried: BTreeMap<(String, String), &ManifestRec> = log
        .pushes
        .manifests_tried
        .iter()
        .map(|m| ((m.repo.clone(), m.tag.clone()), m))
        .collect();
    let mut listed = 0;
    for repo in ["scale/load0", "scale/load1"] {
        let mut lists = Vec::new();
        for b in survivors {
            let v: Value = get(&b.url(&format!("/v2/{repo}/tags/list")))
                .await
                .json()
                .await
                .unwrap();
            lists.push(v["tags"].clone());
        }
        assert!(
            lists.windows(2).all(|w| w[0] == w[1]),
            "survivors list other tags"
        );
        for tag in lists[0].as_array().unwrap() {
            let tag = tag.as_str().unwrap();
            let m = tried
                .get(&(repo.to_owned(), tag.to_owned()))
                .unwrap_or_else(|| panic!("{repo}:{tag} was never pushed"));
            for b in survivors {
                assert_manifest(b, repo, tag, &m.digest, &m.body).await;
                for r in &m.blobs {
                    let res = http()
                        .head(b.url(&format!("/v2/{}/blobs/{}", r.repo, r.digest)))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200, "{repo}:{tag} names {} ", r.digest);
                    assert_eq!(hdr(&res, "content-length"), r.len.to_string());
                }
            }
            listed += 1;
        }
    }

    // And in the bucket: every blob object hashes to its name.
    let objects = blob_objects_hash_to_their_names(garage, PREFIX).await;
    let distinct: BTreeSet<&String> = acked_blobs.iter().map(|r| &r.digest).collect();
    assert!(objects >= distinct.len());
    eprintln!(
        "(c) {listed} listed tags whole on both survivors; {objects} blob objects in the bucket, \
         each hashing to its name"
    );
}
