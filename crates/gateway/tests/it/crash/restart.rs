//! Crash safety: the kill, the restart, and the checks of what was acknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// Every stored blob (a file under `storage/blobs/<alg>/<2 hex>/<hex>`, or the object under
/// the same key in the S3 bucket) hashes to its name.
async fn check_blob_files(data: &Path) -> usize {
    if let Some(peek) = berth_testkit::s3::Peek::for_data(data).await {
        let mut bad = Vec::new();
        let keys = peek.list("blobs/").await;
        for key in &keys {
            let parts: Vec<&str> = key.split('/').collect();
            assert_eq!(parts.len(), 4, "unexpected key {key}");
            assert_eq!(parts[1], "sha256", "unexpected algorithm in {key}");
            assert!(
                parts[3].starts_with(parts[2]),
                "{key} is in the wrong shard"
            );
            let content = peek.get(key).await;
            if sha256(&content) != format!("sha256:{}", parts[3]) {
                bad.push(format!("{key} ({} bytes)", content.len()));
            }
        }
        assert!(
            bad.is_empty(),
            "blob objects whose content does not hash to their name: {bad:#?}"
        );
        return keys.len();
    }
    let root = data.join("storage/blobs");
    let mut n = 0;
    let mut bad = Vec::new();
    for alg in std::fs::read_dir(&root).unwrap() {
        let alg = alg.unwrap().path();
        let alg_name = alg.file_name().unwrap().to_string_lossy().into_owned();
        for shard in std::fs::read_dir(&alg).unwrap() {
            let shard = shard.unwrap().path();
            let shard_name = shard.file_name().unwrap().to_string_lossy().into_owned();
            for f in std::fs::read_dir(&shard).unwrap() {
                let f = f.unwrap().path();
                let name = f.file_name().unwrap().to_string_lossy().into_owned();
                assert_eq!(
                    alg_name,
                    "sha256",
                    "unexpected algorithm directory {}",
                    alg.display()
                );
                assert!(
                    name.starts_with(&shard_name),
                    "{} is in the wrong shard",
                    f.display()
                );
                let content = std::fs::read(&f).unwrap();
                if sha256(&content) != format!("sha256:{name}") {
                    bad.push(format!("{} ({} bytes)", f.display(), content.len()));
                }
                n += 1;
            }
        }
    }
    assert!(
        bad.is_empty(),
        "blob files whose content does not hash to their name: {bad:#?}"
    );
    n
}

async fn get(url: String) -> reqwest::Response {
    http()
        .get(url)
        .header("Accept", OCI_MANIFEST)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_during_uploads_keeps_every_acknowledged_write() {
    let tmp = tempfile::Builder::new()
        .prefix("berth-crash-")
        .tempdir()
        .unwrap();
    let data = tmp.path().join("data");
    let mut b = Berth::start_in(BIN, &data, &[]);

    let s = Arc::new(Shared {
        base: b.base.clone(),
        killed: AtomicBool::new(false),
        ops: AtomicUsize::new(0),
        log: Mutex::new(Log::default()),
    });
    let workers: Vec<_> = (0..TASKS)
        .map(|t| tokio::spawn(worker(s.clone(), t)))
        .collect();

    // Let traffic build up (enough acknowledged writes of every kind), then crash mid-stream.
    let started = Instant::now();
    while s.ops.load(Ordering::SeqCst) < 120 && started.elapsed() < Duration::from_secs(20) {
        if !s.log.lock().unwrap().errors.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(137)).await;
    s.killed.store(true, Ordering::SeqCst);
    b.kill9();
    for w in workers {
        tokio::time::timeout(Duration::from_secs(90), w)
            .await
            .expect("worker did not stop after the crash")
            .unwrap();
    }
    let log = std::mem::take(&mut *s.log.lock().unwrap());
    assert!(
        log.errors.is_empty(),
        "requests failed before the crash: {:#?}",
        log.errors
    );

    let acked_blobs: BTreeSet<BlobRec> = log.blobs_acked.iter().map(|(r, _)| r.clone()).collect();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, k) in &log.blobs_acked {
        *kinds.entry(k).or_default() += 1;
    }
    let in_flight_blobs: BTreeSet<BlobRec> = log
        .blobs_tried
        .iter()
        .map(|(r, _)| r.clone())
        .filter(|r| !acked_blobs.contains(r))
        .collect();
    let acked_manifests: BTreeSet<String> = log
        .manifests_acked
        .iter()
        .map(|m| m.digest.clone())
        .collect();
    let in_flight_manifests: Vec<&ManifestRec> = log
        .manifests_tried
        .iter()
        .filter(|m| !acked_manifests.contains(&m.digest))
        .collect();
    eprintln!(
        "crash after {:?}: acknowledged {} blobs {kinds:?} and {} manifests; in flight {} blobs, {} manifests",
        started.elapsed(),
        acked_blobs.len(),
        log.manifests_acked.len(),
        in_flight_blobs.len(),
        in_flight_manifests.len()
    );
    for k in ["monolithic", "single-post", "chunked"] {
        assert!(
            kinds.get(k).copied().unwrap_or(0) > 0,
            "no {k} upload was acknowledged"
        );
    }
    assert!(
        !log.manifests_acked.is_empty(),
        "no manifest was acknowledged"
    );
    assert!(
        !in_flight_blobs.is_empty() || !in_flight_manifests.is_empty(),
        "nothing was in flight at the crash"
    );

    // Restart on the same data directory.
    let b = Berth::start_in(BIN, &data, &[]);

    for r in &acked_blobs {
        let res = get(b.url(&format!("/v2/{}/blobs/{}", r.repo, r.digest))).await;
        assert_eq!(
            res.status(),
            200,
            "acknowledged blob {} of {} is gone",
            r.digest,
            r.repo
        );
        let body = res.bytes().await.unwrap();
        assert_eq!(
            sha256(&body),
            r.digest,
            "acknowledged blob {} came back with other bytes",
            r.digest
        );
        assert!(
            body == bytes(r.seed, r.len),
            "acknowledged blob {} differs",
            r.digest
        );
    }
    for m in &log.manifests_acked {
        for reference in [&m.tag, &m.digest] {
            let res = get(b.url(&format!("/v2/{}/manifests/{reference}", m.repo))).await;
            assert_eq!(
                res.status(),
                200,
                "acknowledged manifest {}:{reference} is gone",
                m.repo
            );
            assert_eq!(res.headers()["docker-content-digest"], m.digest.as_str());
            assert_eq!(res.headers()["content-type"], OCI_MANIFEST);
            let body = res.bytes().await.unwrap();
            assert!(
                body == m.body,
                "acknowledged manifest {}:{reference} differs",
                m.repo
            );
        }
    }

    // In flight: absent, or whole and correct.
    let mut present = 0;
    for r in &in_flight_blobs {
        let res = get(b.url(&format!("/v2/{}/blobs/{}", r.repo, r.digest))).await;
        match res.status().as_u16() {
            404 => {}
            200 => {
                let body = res.bytes().await.unwrap_or_else(|e| {
                    panic!(
                        "unacknowledged blob {} of {} is listed but unreadable: {e}",
                        r.digest, r.repo
                    )
                });
                assert_eq!(
                    sha256(&body),
                    r.digest,
                    "unacknowledged blob {} has wrong bytes",
                    r.digest
                );
                assert!(body == bytes(r.seed, r.len));
                present += 1;
            }
            s => panic!("unacknowledged blob {} of {}: status {s}", r.digest, r.repo),
        }
    }
    for m in &in_flight_manifests {
        let res = get(b.url(&format!("/v2/{}/manifests/{}", m.repo, m.digest))).await;
        match res.status().as_u16() {
            404 => {}
            200 => {
                let body = res.bytes().await.unwrap();
                assert!(
                    body == m.body,
                    "unacknowledged manifest {} has wrong bytes",
                    m.digest
                );
                present += 1;
            }
            s => panic!("unacknowledged manifest {}: status {s}", m.digest),
        }
    }
    eprintln!("{present} unacknowledged writes were complete after the restart");

    // Chunked uploads cut short between or during PATCHes continue where the server says they
    // stand, which is at least everything it acknowledged.
    let mut resumed = 0;
    for (url, (r, acked, put_sent)) in &log.sessions {
        if *put_sent || acked_blobs.contains(r) {
            continue;
        }
        let url = url.replace(&s.base, &b.base);
        let res = get(url.clone()).await;
        assert_eq!(res.status(), 204, "status of the interrupted upload {url}");
        let range = res.headers()["range"].to_str().unwrap().to_owned();
        let last: usize = range.strip_prefix("0-").unwrap().parse().unwrap();
        let held = if *acked == 0 && last == 0 {
            0
        } else {
            last + 1
        };
        assert!(
            held >= *acked,
            "upload {url} holds {held} bytes but {acked} were acknowledged"
        );
        assert!(
            held <= r.len,
            "upload {url} holds {held} bytes of a {}-byte blob",
            r.len
        );
        let data = bytes(r.seed, r.len);
        let mut loc = res.headers()["location"].to_str().unwrap().to_owned();
        if held < r.len {
            let res = http()
                .patch(b.url(&loc))
                .header("Content-Range", format!("{held}-{}", r.len - 1))
                .body(data[held..].to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202, "resuming {url} at {held}");
            loc = res.headers()["location"].to_str().unwrap().to_owned();
        }
        let sep = if loc.contains('?') { '&' } else { '?' };
        let res = http()
            .put(b.url(&format!("{loc}{sep}digest={}", r.digest)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "finishing the resumed upload {url}");
        let res = get(b.url(&format!("/v2/{}/blobs/{}", r.repo, r.digest))).await;
        assert_eq!(res.status(), 200);
        assert!(
            res.bytes().await.unwrap() == data,
            "resumed upload {url} has wrong bytes"
        );
        resumed += 1;
    }
    eprintln!("{resumed} interrupted chunked uploads resumed");

    let files = check_blob_files(&data).await;
    assert!(
        files
            >= acked_blobs
                .iter()
                .map(|r| &r.digest)
                .collect::<BTreeSet<_>>()
                .len()
    );

    // And the restarted server takes new writes.
    let blob = b"after the crash".to_vec();
    let d = sha256(&blob);
    let res = http()
        .post(b.url(&format!("/v2/crash/after/blobs/uploads/?digest={d}")))
        .body(blob)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}
