//! Crash safety: kill -9 during concurrent uploads, restart, check what was acknowledged.
//!
//! Several tasks push blobs (monolithic POST+PUT, single-request POST, chunked PATCHes with
//! `Content-Range`) and manifests referencing them, recording every request the server
//! acknowledged with 201. The server is SIGKILLed mid-traffic and restarted on the same data
//! directory. Everything acknowledged must read back exactly; anything in flight must be
//! either absent or whole and correct; no blob file may hold bytes that do not hash to its name.

// Test code: a failed unwrap is a failed test (clippy exempts only `#[test]` fns themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::pseudo_random as bytes;
use berth_testkit::{http, sha256, Berth};
use serde_json::json;

use crate::BIN;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const TASKS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BlobRec {
    repo: String,
    digest: String,
    seed: u64,
    len: usize,
}

#[derive(Debug, Clone)]
struct ManifestRec {
    repo: String,
    tag: String,
    digest: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct Log {
    /// Blob uploads started (whether or not acknowledged), with the kind of upload.
    blobs_tried: Vec<(BlobRec, &'static str)>,
    blobs_acked: Vec<(BlobRec, &'static str)>,
    manifests_tried: Vec<ManifestRec>,
    manifests_acked: Vec<ManifestRec>,
    /// Chunked sessions by upload URL: the blob, the bytes acknowledged (202) so far, and
    /// whether the closing PUT was sent.
    sessions: BTreeMap<String, (BlobRec, usize, bool)>,
    /// Failures while the server was up: each one fails the test.
    errors: Vec<String>,
}

struct Shared {
    base: String,
    killed: AtomicBool,
    ops: AtomicUsize,
    log: Mutex<Log>,
}

/// Why an operation stopped: the server went away (expected after the kill) or something else.
enum Stop {
    Gone,
    Failed(String),
}

impl Shared {
    /// An error from a request: after the kill it just ends the worker.
    fn fail(&self, what: String) -> Stop {
        if self.killed.load(Ordering::SeqCst) {
            Stop::Gone
        } else {
            Stop::Failed(what)
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, Stop> {
        req.timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| self.fail(format!("{what}: {e}")))
    }

    async fn expect(
        &self,
        res: reqwest::Response,
        status: u16,
        what: &str,
    ) -> Result<reqwest::Response, Stop> {
        if res.status().as_u16() == status {
            return Ok(res);
        }
        let s = res.status();
        let body = res.text().await.unwrap_or_default();
        Err(self.fail(format!("{what}: status {s}, expected {status}: {body}")))
    }

    fn location(&self, res: &reqwest::Response, what: &str) -> Result<String, Stop> {
        res.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| self.url(l))
            .ok_or_else(|| self.fail(format!("{what}: no Location")))
    }

    async fn start_session(&self, repo: &str, what: &str) -> Result<String, Stop> {
        let res = self
            .send(
                http().post(self.url(&format!("/v2/{repo}/blobs/uploads/"))),
                what,
            )
            .await?;
        let res = self.expect(res, 202, what).await?;
        self.location(&res, what)
    }

    fn with_query(url: &str, q: &str) -> String {
        if url.contains('?') {
            format!("{url}&{q}")
        } else {
            format!("{url}?{q}")
        }
    }

    /// Checks a blob-upload 201 and records the acknowledgement.
    fn acked_blob(
        &self,
        res: &reqwest::Response,
        rec: BlobRec,
        kind: &'static str,
    ) -> Result<(), Stop> {
        let got = res
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if got != rec.digest {
            return Err(self.fail(format!(
                "{kind}: 201 with digest {got:?}, expected {}",
                rec.digest
            )));
        }
        self.log.lock().unwrap().blobs_acked.push((rec, kind));
        self.ops.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn upload_blob(&self, rec: BlobRec, kind: &'static str) -> Result<(), Stop> {
        self.log
            .lock()
            .unwrap()
            .blobs_tried
            .push((rec.clone(), kind));
        let data = bytes(rec.seed, rec.len);
        let what = format!("{kind} upload of {} to {}", rec.digest, rec.repo);
        match kind {
            // POST for a session, PUT with the whole blob.
            "monolithic" => {
                let loc = self.start_session(&rec.repo, &what).await?;
                let req = http()
                    .put(Self::with_query(&loc, &format!("digest={}", rec.digest)))
                    .header("Content-Type", "application/octet-stream")
                    .body(data);
                let res = self.send(req, &what).await?;
                let res = self.expect(res, 201, &what).await?;
                self.acked_blob(&res, rec, kind)
            }
            // POST ?digest= with the whole blob.
            "single-post" => {
                let req = http()
                    .post(self.url(&format!(
                        "/v2/{}/blobs/uploads/?digest={}",
                        rec.repo, rec.digest
                    )))
                    .header("Content-Type", "application/octet-stream")
                    .body(data);
                let res = self.send(req, &what).await?;
                let res = self.expect(res, 201, &what).await?;
                self.acked_blob(&res, rec, kind)
            }
            // POST, PATCH chunks with Content-Range, PUT with no body.
            "chunked" => {
                let mut loc = self.start_session(&rec.repo, &what).await?;
                self.log
                    .lock()
                    .unwrap()
                    .sessions
                    .insert(loc.clone(), (rec.clone(), 0, false));
                let n_chunks = 1 + (rec.seed % 4) as usize;
                let chunk = data.len().div_ceil(n_chunks).max(1);
                let mut start = 0;
                for part in data.chunks(chunk) {
                    let end = start + part.len() - 1;
                    let req = http()
                        .patch(loc.clone())
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Range", format!("{start}-{end}"))
                        .body(part.to_vec());
                    let res = self.send(req, &what).await?;
                    let res = self.expect(res, 202, &what).await?;
                    let range = res
                        .headers()
                        .get("range")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    if range != format!("0-{end}") {
                        return Err(self.fail(format!(
                            "{what}: PATCH answered Range {range:?}, expected 0-{end}"
                        )));
                    }
                    let next = self.location(&res, &what)?;
                    {
                        let mut log = self.log.lock().unwrap();
                        log.sessions.remove(&loc);
                        log.sessions
                            .insert(next.clone(), (rec.clone(), end + 1, false));
                    }
                    loc = next;
                    start = end + 1;
                }
                if let Some(sess) = self.log.lock().unwrap().sessions.get_mut(&loc) {
                    sess.2 = true;
                }
                let req = http().put(Self::with_query(&loc, &format!("digest={}", rec.digest)));
                let res = self.send(req, &what).await?;
                let res = self.expect(res, 201, &what).await?;
                self.acked_blob(&res, rec, kind)
            }
            other => Err(Stop::Failed(format!("unknown upload kind {other}"))),
        }
    }

    async fn put_manifest(&self, rec: ManifestRec) -> Result<(), Stop> {
        self.log.lock().unwrap().manifests_tried.push(rec.clone());
        let what = format!("manifest PUT {}:{}", rec.repo, rec.tag);
        let req = http()
            .put(self.url(&format!("/v2/{}/manifests/{}", rec.repo, rec.tag)))
            .header("Content-Type", OCI_MANIFEST)
            .body(rec.body.clone());
        let res = self.send(req, &what).await?;
        let res = self.expect(res, 201, &what).await?;
        let got = res
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if got != rec.digest {
            return Err(self.fail(format!(
                "{what}: 201 with digest {got:?}, expected {}",
                rec.digest
            )));
        }
        self.log.lock().unwrap().manifests_acked.push(rec);
        self.ops.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// One client: uploads of every kind and manifests over its own acknowledged blobs, until the
/// server is gone.
async fn worker(s: Arc<Shared>, task: usize) {
    let repo = format!("crash/r{}", task % 3);
    let mut mine: Vec<BlobRec> = Vec::new();
    for i in 0u64.. {
        if s.killed.load(Ordering::SeqCst) {
            return;
        }
        let seed = ((task as u64) << 32) | i;
        let result = if i % 4 == 3 && mine.len() >= 2 {
            let config = &mine[(i as usize / 4) % mine.len()];
            let layer = &mine[mine.len() - 1];
            let body = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.len},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.len}],
                "annotations": {"task": task.to_string(), "i": i.to_string()},
            })
            .to_string()
            .into_bytes();
            s.put_manifest(ManifestRec {
                repo: repo.clone(),
                tag: format!("t{task}-{i}"),
                digest: sha256(&body),
                body,
            })
            .await
        } else {
            // Some blobs are pushed by every task (same bytes, same digest) to race commits.
            let (seed, len) = if i % 7 == 5 {
                (1_000 + i % 3, 300_000 + (i % 3) as usize * 1000)
            } else {
                (
                    seed,
                    1 + (seed.wrapping_mul(2_654_435_761) % (3 << 20)) as usize,
                )
            };
            let kind = ["monolithic", "single-post", "chunked"][(i as usize + task) % 3];
            let data = bytes(seed, len);
            let rec = BlobRec {
                repo: repo.clone(),
                digest: sha256(&data),
                seed,
                len,
            };
            drop(data);
            let r = s.upload_blob(rec.clone(), kind).await;
            if r.is_ok() {
                mine.push(rec);
            }
            r
        };
        match result {
            Ok(()) => {}
            Err(Stop::Gone) => return,
            Err(Stop::Failed(e)) => {
                s.log.lock().unwrap().errors.push(e);
                return;
            }
        }
    }
}

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
