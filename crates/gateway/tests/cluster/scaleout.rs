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

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::clients::{layout, Skopeo};
use berth_testkit::header as hdr;
use berth_testkit::nginx::Nginx;
use berth_testkit::oci::Layout;
use berth_testkit::pseudo_random as bytes;
use berth_testkit::s3::{Garage, Peek, BUCKET};
use berth_testkit::{http, pg, sha256, Berth};
use reqwest::{RequestBuilder, Response};
use serde_json::{json, Value};

use crate::BIN;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MIB: usize = 1024 * 1024;
/// The key prefix all replicas share in the bucket.
const PREFIX: &str = "shared";

fn with_query(url: &str, q: &str) -> String {
    if url.contains('?') {
        format!("{url}&{q}")
    } else {
        format!("{url}?{q}")
    }
}

/// `GET url` (no redirects, no proxy), failing the test on a transport error.
async fn get(url: &str) -> Response {
    http()
        .get(url)
        .header("Accept", OCI_MANIFEST)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
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

/// Access-log lines of replica `b` for `method` on exactly `path`, with `status`.
fn access_lines(b: &Berth, method: &str, path: &str, status: u16) -> usize {
    let method = format!("method={method} ");
    let status = format!("status={status} ");
    b.log()
        .lines()
        .filter(|l| l.contains("berth::access"))
        .filter(|l| l.contains(&method) && l.contains(&status))
        .filter(|l| {
            l.split_whitespace()
                .any(|w| w.trim_start_matches("path=").trim_matches('"') == path)
        })
        .count()
}

/// `psql -qAtc sql` against `db`.
fn psql(db: &str, sql: &str) -> String {
    let out =
        berth_testkit::tools::run_ok(std::process::Command::new("psql").args([db, "-qAtc", sql]));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
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

    skopeo_through_the_balancer(&lb, &replicas).await;
    let (blob, blob_digest) = chunked_upload_across_replicas(&lb, &replicas, &db, &garage).await;
    manifests_visible_across_replicas(&replicas, &blob_digest, blob.len()).await;
    drop(blob);
    kill_a_replica_during_pushes(&lb, &mut replicas, &garage).await;
    eprintln!("scale-out test done in {:?}", started.elapsed());
}

/// (a) skopeo pushes through nginx; each replica alone serves the same manifest and blobs.
async fn skopeo_through_the_balancer(lb: &Nginx, replicas: &[Berth]) {
    let tmp = tempfile::Builder::new()
        .prefix("berth-scaleout-")
        .tempdir()
        .unwrap();
    let src = tmp.path().join("src");
    let mut l = Layout::new(&src);
    // 12 MiB in the layer: more than one 5 MiB S3 part.
    let m = l.image("linux", "amd64", "/data.bin", &bytes(0x5c0_9e0, 12 * MIB));
    l.tag(&m, "v1");
    let pushed = layout::closure(&src, &m.digest);
    assert_eq!(pushed.len(), 3, "manifest, config, layer");

    let mut registries: Vec<&str> = replicas.iter().map(|b| b.addr.as_str()).collect();
    registries.push(&lb.addr);
    let sk = Skopeo::new(tmp.path()).login(&registries);
    let oci = |dir: &Path| format!("oci:{}:v1", dir.display());
    sk.copy(
        &["--preserve-digests"],
        &oci(&src),
        &format!("docker://{}/scale/skopeo:v1", lb.addr),
    );
    let (by, _, _) = spread(lb, "/v2/scale/skopeo/");
    eprintln!("(a) skopeo push through nginx: requests answered per replica {by:?}");
    assert!(
        by.len() >= 2,
        "the push did not spread over replicas: {by:?}"
    );

    for (i, b) in replicas.iter().enumerate() {
        let image = format!("docker://{}/scale/skopeo:v1", b.addr);
        let raw = sk.inspect_raw(&image);
        assert!(
            raw == pushed[&m.digest],
            "replica {i}: skopeo inspect --raw is not the pushed manifest"
        );
        let dst = tmp.path().join(format!("pull-{i}"));
        sk.copy(&["--preserve-digests"], &image, &oci(&dst));
        assert_eq!(layout::tagged(&dst, "v1")["digest"], m.digest.as_str());
        let pulled = layout::closure(&dst, &m.digest);
        assert_eq!(
            pulled.keys().collect::<Vec<_>>(),
            pushed.keys().collect::<Vec<_>>(),
            "replica {i}: other blobs"
        );
        for (d, data) in &pushed {
            assert!(pulled[d] == *data, "replica {i}: pulled {d} differs");
            if *d == m.digest {
                assert_manifest(b, "scale/skopeo", "v1", d, data).await;
                assert_manifest(b, "scale/skopeo", d, d, data).await;
            } else {
                assert_blob(b, "scale/skopeo", d, data, "(a)").await;
            }
        }
    }
    eprintln!(
        "(a) every replica served the skopeo image byte-identical ({} blobs, {} bytes)",
        pushed.len(),
        pushed.values().map(Vec::len).sum::<usize>()
    );
}

/// (b) one chunked upload through nginx, its PATCHes spread over the replicas. Returns the
/// blob and its digest (in `scale/chunked`).
async fn chunked_upload_across_replicas(
    lb: &Nginx,
    replicas: &[Berth],
    db: &str,
    garage: &Garage,
) -> (Vec<u8>, String) {
    const CHUNK: usize = 3 * MIB;
    const CHUNKS: usize = 6;
    let repo = "scale/chunked";
    let data = bytes(0xb10b, CHUNK * CHUNKS);
    let digest = sha256(&data);
    let c = http();

    let r = c
        .post(lb.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut loc = hdr(&r, "location");
    let id = hdr(&r, "docker-upload-uuid");
    let session_path = format!("/v2/{repo}/blobs/uploads/{id}");
    assert_eq!(loc, session_path, "Location is the relative session URL");

    for k in 0..CHUNKS {
        let (start, end) = (k * CHUNK, (k + 1) * CHUNK - 1);
        let r = c
            .patch(lb.url(&loc))
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{start}-{end}"))
            .body(data[start..=end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "PATCH {k}: {}", hdr(&r, "range"));
        assert_eq!(hdr(&r, "range"), format!("0-{end}"), "PATCH {k}");
        loc = hdr(&r, "location");
        assert_eq!(loc, session_path);
    }

    // Before the closing PUT: the session row in the shared database holds the S3 multipart
    // state the replicas built together, part after part.
    let row = psql(
        db,
        &format!("SELECT size || ' ' || state FROM uploads WHERE id = '{id}'"),
    );
    let (size, state) = row.split_once(' ').expect("session row");
    assert_eq!(size.parse::<usize>().unwrap(), data.len());
    let state: Value = serde_json::from_str(state).unwrap();
    let parts: Vec<u64> = state["parts"]
        .as_array()
        .expect("multipart parts in the session state")
        .iter()
        .map(|p| p["len"].as_u64().unwrap())
        .collect();
    let tail = state["tail"].as_u64().unwrap_or(0);
    assert!(
        parts.len() >= 3,
        "18 MiB in 5 MiB parts must be several parts: {state}"
    );
    assert!(
        parts.iter().all(|&n| n >= 5 * MIB as u64),
        "parts smaller than 5 MiB: {parts:?}"
    );
    assert_eq!(parts.iter().sum::<u64>() + tail, data.len() as u64);
    let peek = Peek::new(&garage.endpoint, BUCKET, PREFIX).await;
    let open = peek.multipart_uploads(&format!("_uploads/{id}/")).await;
    assert_eq!(open.len(), 1, "one open multipart upload for the session");

    let r = c
        .put(lb.url(&with_query(&loc, &format!("digest={digest}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "closing PUT");
    assert_eq!(hdr(&r, "docker-content-digest"), digest);
    assert_eq!(hdr(&r, "location"), format!("/v2/{repo}/blobs/{digest}"));

    // Who did what, from each replica's own access log.
    let mut patches = Vec::new();
    for (i, b) in replicas.iter().enumerate() {
        let n = access_lines(b, "PATCH", &session_path, 202);
        let put = access_lines(b, "PUT", &session_path, 201);
        let post = access_lines(b, "POST", &format!("/v2/{repo}/blobs/uploads/"), 202);
        eprintln!(
            "(b) replica {i} ({}): POST {post}, PATCH {n}, closing PUT {put} of upload {id}",
            b.addr
        );
        patches.push(n);
    }
    assert_eq!(
        patches.iter().sum::<usize>(),
        CHUNKS,
        "every PATCH is in exactly one replica's log: {patches:?}"
    );
    let on = patches.iter().filter(|&&n| n > 0).count();
    assert!(
        on >= 2,
        "the PATCHes of one upload should have landed on several replicas: {patches:?}"
    );
    eprintln!(
        "(b) {CHUNKS} PATCHes of {} MiB on {on} replicas {patches:?}; S3 parts {:?} MiB + tail {tail}",
        CHUNK / MIB,
        parts.iter().map(|n| *n as f64 / MIB as f64).collect::<Vec<_>>()
    );

    // The blob, from every replica, whole and in ranges across part boundaries.
    for b in replicas {
        assert_blob(b, repo, &digest, &data, "(b)").await;
        let (from, to) = (5 * MIB - 100, 13 * MIB + 100);
        let r = http()
            .get(b.url(&format!("/v2/{repo}/blobs/{digest}")))
            .header("Range", format!("bytes={from}-{to}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        assert!(
            r.bytes().await.unwrap() == data[from..=to],
            "range on {}",
            b.addr
        );
    }
    // The committed object in the bucket is the whole blob; the session left nothing open.
    let key = format!("blobs/sha256/{}/{}", &digest[7..9], &digest[7..]);
    assert!(peek.get(&key).await == data, "object {key} differs");
    let left = peek.multipart_uploads(&format!("_uploads/{id}/")).await;
    assert!(left.is_empty(), "multipart upload left open: {left:?}");
    (data, digest)
}

/// (b) a manifest pushed through one replica is visible on every other one at once (by its new
/// tag and by digest). A tag *moved* through one replica: the writer serves the new state at
/// once; the others converge (their manifest caches are invalidated through PostgreSQL
/// notifications, which arrive asynchronously), and how often an immediate read on another
/// replica still saw the previous manifest is reported.
async fn manifests_visible_across_replicas(replicas: &[Berth], layer: &str, layer_len: usize) {
    let repo = "scale/chunked";
    let c = http();
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
        let r = c
            .put(pusher.url(&format!("/v2/{repo}/manifests/{tag}")))
            .header("Content-Type", OCI_MANIFEST)
            .body(body.clone())
            .send()
            .await
            .unwrap();
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
        let r = c
            .put(replicas[writer].url(&format!("/v2/{repo}/manifests/moving")))
            .header("Content-Type", OCI_MANIFEST)
            .body(body.clone())
            .send()
            .await
            .unwrap();
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

// ---- (c) kill -9 of one replica during pushes through nginx ----

const TASKS: usize = 4;
/// PATCH size of chunked uploads under load.
const LOAD_CHUNK: usize = 2 * MIB;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BlobRec {
    repo: String,
    digest: String,
    seed: u64,
    len: usize,
}

impl BlobRec {
    fn new(repo: &str, seed: u64, len: usize) -> BlobRec {
        BlobRec {
            repo: repo.to_owned(),
            digest: sha256(&bytes(seed, len)),
            seed,
            len,
        }
    }

    fn data(&self) -> Vec<u8> {
        bytes(self.seed, self.len)
    }
}

#[derive(Debug, Clone)]
struct ManifestRec {
    repo: String,
    tag: String,
    digest: String,
    body: Vec<u8>,
    blobs: Vec<BlobRec>,
}

#[derive(Default)]
struct LoadLog {
    blobs_tried: Vec<BlobRec>,
    /// Acknowledged blobs: the upload kind, and whether the 201 came after the kill.
    blobs_acked: Vec<(BlobRec, &'static str, bool)>,
    manifests_tried: Vec<ManifestRec>,
    manifests_acked: Vec<(ManifestRec, bool)>,
    /// Failures that fail the test: any before the kill, and inconsistent answers.
    errors: Vec<String>,
    /// Failed requests after the kill (the sequence is abandoned, the write unacknowledged).
    failures_after_kill: Vec<String>,
    /// Chunked sessions continued (after a failed PATCH) where the server said they stand.
    resumed: usize,
}

struct Load {
    base: String,
    killed: AtomicBool,
    stop: AtomicBool,
    acked: AtomicUsize,
    log: Mutex<LoadLog>,
}

impl Load {
    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    async fn send(&self, req: RequestBuilder, what: &str) -> Result<Response, String> {
        req.timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| format!("{what}: {e}"))
    }

    async fn expect(&self, res: Response, status: u16, what: &str) -> Result<Response, String> {
        if res.status().as_u16() == status {
            return Ok(res);
        }
        let s = res.status();
        let body = res.text().await.unwrap_or_default();
        Err(format!("{what}: status {s}, expected {status}: {body}"))
    }

    fn location(&self, res: &Response, what: &str) -> Result<String, String> {
        match hdr(res, "location") {
            l if l.is_empty() => Err(format!("{what}: no Location")),
            l => Ok(l),
        }
    }

    /// A failed request: before the kill it fails the test; after the kill it is expected,
    /// and the client goes on with a new sequence (the failed write stays unacknowledged).
    async fn failed(&self, e: String) {
        if self.killed() {
            self.log.lock().unwrap().failures_after_kill.push(e);
            tokio::time::sleep(Duration::from_millis(100)).await;
        } else {
            self.log.lock().unwrap().errors.push(e);
        }
    }

    fn check_digest(&self, res: &Response, digest: &str, what: &str) -> Result<(), String> {
        let got = hdr(res, "docker-content-digest");
        if got == digest {
            Ok(())
        } else {
            Err(format!(
                "{what}: 201 with digest {got:?}, expected {digest}"
            ))
        }
    }

    /// Uploads `rec` the `kind` way; whether it was acknowledged.
    async fn upload_blob(&self, rec: &BlobRec, kind: &'static str) -> bool {
        self.log.lock().unwrap().blobs_tried.push(rec.clone());
        let data = rec.data();
        let what = format!("{kind} upload of {} to {}", rec.digest, rec.repo);
        let attempt = match kind {
            "monolithic" => self.monolithic(rec, &data, &what).await,
            "single-post" => self.single_post(rec, &data, &what).await,
            _ => self.chunked(rec, &data, &what).await,
        };
        match attempt {
            Ok(()) => {
                let after = self.killed();
                self.log
                    .lock()
                    .unwrap()
                    .blobs_acked
                    .push((rec.clone(), kind, after));
                self.acked.fetch_add(1, Ordering::SeqCst);
                true
            }
            Err(e) => {
                self.failed(e).await;
                false
            }
        }
    }

    async fn start_session(&self, repo: &str, what: &str) -> Result<String, String> {
        let res = self
            .send(
                http().post(self.url(&format!("/v2/{repo}/blobs/uploads/"))),
                what,
            )
            .await?;
        let res = self.expect(res, 202, what).await?;
        self.location(&res, what)
    }

    async fn monolithic(&self, rec: &BlobRec, data: &[u8], what: &str) -> Result<(), String> {
        let loc = self.start_session(&rec.repo, what).await?;
        let req = http()
            .put(self.url(&with_query(&loc, &format!("digest={}", rec.digest))))
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec());
        let res = self.send(req, what).await?;
        let res = self.expect(res, 201, what).await?;
        self.check_digest(&res, &rec.digest, what)
    }

    async fn single_post(&self, rec: &BlobRec, data: &[u8], what: &str) -> Result<(), String> {
        let req = http()
            .post(self.url(&format!(
                "/v2/{}/blobs/uploads/?digest={}",
                rec.repo, rec.digest
            )))
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec());
        let res = self.send(req, what).await?;
        let res = self.expect(res, 201, what).await?;
        self.check_digest(&res, &rec.digest, what)
    }

    /// POST, PATCHes with `Content-Range`, PUT. A failed PATCH after the kill is followed by
    /// a status request (answered by a surviving replica) and the upload goes on from there.
    async fn chunked(&self, rec: &BlobRec, data: &[u8], what: &str) -> Result<(), String> {
        let mut loc = self.start_session(&rec.repo, what).await?;
        let mut held = 0usize;
        let mut resumes = 0;
        while held < data.len() {
            let end = (held + LOAD_CHUNK).min(data.len()) - 1;
            let sent: Result<String, String> = async {
                let req = http()
                    .patch(self.url(&loc))
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{held}-{end}"))
                    .body(data[held..=end].to_vec());
                let res = self.send(req, what).await?;
                let res = self.expect(res, 202, what).await?;
                let range = hdr(&res, "range");
                if range != format!("0-{end}") {
                    return Err(format!(
                        "{what}: PATCH answered Range {range:?}, expected 0-{end}"
                    ));
                }
                self.location(&res, what)
            }
            .await;
            match sent {
                Ok(next) => {
                    loc = next;
                    held = end + 1;
                }
                Err(e) if self.killed() && resumes < 3 => {
                    self.log.lock().unwrap().failures_after_kill.push(e);
                    resumes += 1;
                    let res = self.send(http().get(self.url(&loc)), what).await?;
                    let res = self.expect(res, 204, what).await?;
                    let range = hdr(&res, "range");
                    let last: usize = range
                        .strip_prefix("0-")
                        .and_then(|l| l.parse().ok())
                        .ok_or_else(|| format!("{what}: bad Range {range:?}"))?;
                    // Chunks are taken whole: "0-0" with nothing acknowledged is empty.
                    let now = if held == 0 && last == 0 { 0 } else { last + 1 };
                    if now < held || now > data.len() {
                        let e = format!(
                            "{what}: the session holds {now} bytes after {held} were acknowledged"
                        );
                        self.log.lock().unwrap().errors.push(e.clone());
                        return Err(e);
                    }
                    loc = self.location(&res, what)?;
                    held = now;
                    self.log.lock().unwrap().resumed += 1;
                }
                Err(e) => return Err(e),
            }
        }
        let req = http().put(self.url(&with_query(&loc, &format!("digest={}", rec.digest))));
        let res = self.send(req, what).await?;
        let res = self.expect(res, 201, what).await?;
        self.check_digest(&res, &rec.digest, what)
    }

    /// PUTs the manifest; whether it was acknowledged.
    async fn put_manifest(&self, rec: &ManifestRec) -> bool {
        self.log.lock().unwrap().manifests_tried.push(rec.clone());
        let what = format!("manifest PUT {}:{}", rec.repo, rec.tag);
        let attempt: Result<(), String> = async {
            let req = http()
                .put(self.url(&format!("/v2/{}/manifests/{}", rec.repo, rec.tag)))
                .header("Content-Type", OCI_MANIFEST)
                .body(rec.body.clone());
            let res = self.send(req, &what).await?;
            let res = self.expect(res, 201, &what).await?;
            self.check_digest(&res, &rec.digest, &what)
        }
        .await;
        match attempt {
            Ok(()) => {
                let after = self.killed();
                self.log
                    .lock()
                    .unwrap()
                    .manifests_acked
                    .push((rec.clone(), after));
                self.acked.fetch_add(1, Ordering::SeqCst);
                true
            }
            Err(e) => {
                self.failed(e).await;
                false
            }
        }
    }
}

/// One client: config blob, layer blob, manifest over both; again, until told to stop.
async fn worker(load: Arc<Load>, task: usize) {
    let repo = format!("scale/load{}", task % 2);
    for i in 0u64.. {
        if load.stop.load(Ordering::SeqCst) {
            return;
        }
        let seed = ((task as u64 + 1) << 32) | (i << 1);
        // Every third config is the same bytes in every task: concurrent commits of one
        // digest on different replicas.
        let config = if i % 3 == 1 {
            BlobRec::new(&repo, 7_000 + i % 2, 777)
        } else {
            BlobRec::new(&repo, seed, 200 + (seed % 800) as usize)
        };
        let config_kind = ["single-post", "monolithic"][i as usize % 2];
        // Layers of 1 byte to 7 MiB: some fill one or more 5 MiB parts.
        let layer_seed = seed | 1;
        let layer_len = 1 + (layer_seed.wrapping_mul(2_654_435_761) % (7 * MIB as u64)) as usize;
        let layer = BlobRec::new(&repo, layer_seed, layer_len);
        let layer_kind = ["monolithic", "single-post", "chunked"][(i as usize + task) % 3];
        // A write that failed after the kill is left unacknowledged: a new sequence begins.
        if !load.upload_blob(&config, config_kind).await
            || !load.upload_blob(&layer, layer_kind).await
        {
            if load.killed() {
                continue;
            }
            return;
        }
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.len},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.len}],
            "annotations": {"task": task.to_string(), "i": i.to_string()},
        }))
        .unwrap();
        let m = ManifestRec {
            repo: repo.clone(),
            tag: format!("t{task}-{i}"),
            digest: sha256(&body),
            body,
            blobs: vec![config, layer],
        };
        if !load.put_manifest(&m).await && !load.killed() {
            return;
        }
    }
}

/// A request whose body is sent up to some point and then held back.
struct Stalled {
    what: &'static str,
    response: tokio::task::JoinHandle<reqwest::Result<Response>>,
    _more: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
}

impl Stalled {
    /// Sends `req` with `Content-Length: total` and only `head` of its body.
    async fn send(what: &'static str, req: RequestBuilder, total: usize, head: &[u8]) -> Stalled {
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(1);
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let req = req
            .header("Content-Length", total.to_string())
            .body(reqwest::Body::wrap_stream(body))
            .timeout(Duration::from_secs(300));
        let response = tokio::spawn(req.send());
        for piece in head.chunks(64 * 1024) {
            tx.send(Ok(bytes::Bytes::copy_from_slice(piece)))
                .await
                .unwrap_or_else(|_| panic!("{what}: the request ended early"));
        }
        Stalled {
            what,
            response,
            _more: tx,
        }
    }

    /// After the kill: the request failed, it was never acknowledged.
    async fn assert_failed(self) {
        let got = tokio::time::timeout(Duration::from_secs(120), self.response)
            .await
            .unwrap_or_else(|_| panic!("{}: no end after the kill", self.what))
            .unwrap();
        if let Ok(r) = &got {
            assert!(
                !r.status().is_success(),
                "{}: acknowledged with {} although its body never ended",
                self.what,
                r.status()
            );
        }
    }
}

/// Writes in flight on the victim when it is killed, at known points: a chunked upload with
/// one chunk acknowledged and the next one half sent, a single-request upload and a manifest
/// PUT with half of their bodies sent.
struct Straddle {
    chunked: BlobRec,
    session: String,
    single: BlobRec,
    manifest: ManifestRec,
    stalled: Vec<Stalled>,
}

impl Straddle {
    const FIRST: usize = 3 * MIB;

    async fn start(lb: &Nginx, victim: &Berth) -> Straddle {
        let repo = "scale/straddle";
        let c = http();
        let chunked = BlobRec::new(repo, 0x57_4add1e, 8 * MIB);
        let data = chunked.data();
        let r = c
            .post(lb.url(&format!("/v2/{repo}/blobs/uploads/")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let r = c
            .patch(lb.url(&hdr(&r, "location")))
            .header("Content-Range", format!("0-{}", Self::FIRST - 1))
            .body(data[..Self::FIRST].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let session = hdr(&r, "location");
        let mut stalled = Vec::new();
        // 3 of the next 5 MiB: with the 3 MiB held, the victim has a full part to send to S3.
        stalled.push(
            Stalled::send(
                "PATCH of the second chunk on the victim",
                c.patch(victim.url(&session)).header(
                    "Content-Range",
                    format!("{}-{}", Self::FIRST, data.len() - 1),
                ),
                data.len() - Self::FIRST,
                &data[Self::FIRST..2 * Self::FIRST],
            )
            .await,
        );
        let single = BlobRec::new(repo, 0x5_1e, 6 * MIB);
        let sdata = single.data();
        stalled.push(
            Stalled::send(
                "single-request upload on the victim",
                c.post(victim.url(&format!(
                    "/v2/{repo}/blobs/uploads/?digest={}",
                    single.digest
                ))),
                sdata.len(),
                &sdata[..4 * MIB],
            )
            .await,
        );
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": chunked.digest, "size": chunked.len},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": single.digest, "size": single.len}],
        }))
        .unwrap();
        let manifest = ManifestRec {
            repo: repo.into(),
            tag: "stalled".into(),
            digest: sha256(&body),
            body: body.clone(),
            blobs: vec![chunked.clone(), single.clone()],
        };
        stalled.push(
            Stalled::send(
                "manifest PUT on the victim",
                c.put(victim.url(&format!("/v2/{repo}/manifests/stalled")))
                    .header("Content-Type", OCI_MANIFEST),
                body.len(),
                &body[..body.len() / 2],
            )
            .await,
        );
        Straddle {
            chunked,
            session,
            single,
            manifest,
            stalled,
        }
    }

    /// After the kill: nothing of the stalled writes is visible on the survivors; the chunked
    /// upload holds exactly its acknowledged chunk and is finished through the survivors.
    async fn check(self, lb: &Nginx, replicas: &[Berth], victim: usize, garage: &Garage) {
        for s in self.stalled {
            s.assert_failed().await;
        }
        // What the victim left in the bucket for the session (reported, not asserted: it
        // depends on how far the stalled body got): multipart uploads it opened.
        let id = self.session.rsplit('/').next().unwrap();
        let peek = Peek::new(&garage.endpoint, BUCKET, PREFIX).await;
        let orphans = peek
            .multipart_uploads(&format!("_uploads/{id}/"))
            .await
            .len();
        let repo = &self.single.repo;
        for (i, b) in replicas.iter().enumerate() {
            if i == victim {
                continue;
            }
            for r in [&self.single, &self.chunked] {
                let res = get(&b.url(&format!("/v2/{repo}/blobs/{}", r.digest))).await;
                assert_eq!(
                    res.status(),
                    404,
                    "blob {} half-written on the victim",
                    r.digest
                );
            }
            for reference in [&self.manifest.tag, &self.manifest.digest] {
                let res = get(&b.url(&format!("/v2/{repo}/manifests/{reference}"))).await;
                assert_eq!(res.status(), 404, "manifest half-sent to the victim");
            }
        }
        let c = http();
        let r = c.get(lb.url(&self.session)).send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(
            hdr(&r, "range"),
            format!("0-{}", Self::FIRST - 1),
            "the session holds exactly the acknowledged chunk"
        );
        let data = self.chunked.data();
        let r = c
            .patch(lb.url(&hdr(&r, "location")))
            .header(
                "Content-Range",
                format!("{}-{}", Self::FIRST, data.len() - 1),
            )
            .body(data[Self::FIRST..].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "the second chunk again, on a survivor");
        let r = c
            .put(lb.url(&with_query(
                &hdr(&r, "location"),
                &format!("digest={}", self.chunked.digest),
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "closing PUT on a survivor");
        for (i, b) in replicas.iter().enumerate() {
            if i != victim {
                assert_blob(b, repo, &self.chunked.digest, &data, "resumed upload").await;
            }
        }
        let left = peek.multipart_uploads(&format!("_uploads/{id}/")).await;
        assert!(left.is_empty(), "multipart uploads left open: {left:?}");
        eprintln!(
            "(c) on the victim at the kill: a PATCH half sent (the session then held exactly \
             its {} MiB acknowledged chunk, the victim had left {orphans} multipart upload(s) \
             open; the upload was finished through the survivors and nothing stayed open), a \
             single POST upload and a manifest PUT half sent (neither visible afterwards)",
            Self::FIRST / MIB
        );
    }
}

/// Waits (polling) until `done()`; panics after `limit` with `what`.
async fn wait_until(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (c) SIGKILL of one replica while four clients push through nginx.
async fn kill_a_replica_during_pushes(lb: &Nginx, replicas: &mut [Berth], garage: &Garage) {
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
            log.blobs_acked.iter().filter(|b| b.2 == after).count(),
            log.manifests_acked.iter().filter(|m| m.1 == after).count(),
        )
    };
    let (blobs_before, manifests_before) = count(false);
    let (blobs_after, manifests_after) = count(true);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, k, _) in &log.blobs_acked {
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

    // Every acknowledged write, from each survivor.
    let acked_blobs: BTreeSet<BlobRec> = log.blobs_acked.iter().map(|b| b.0.clone()).collect();
    for r in &acked_blobs {
        let data = r.data();
        for b in &survivors {
            assert_blob(b, &r.repo, &r.digest, &data, "acknowledged").await;
        }
    }
    let acked_manifests: BTreeSet<String> = log
        .manifests_acked
        .iter()
        .map(|m| m.0.digest.clone())
        .collect();
    for (m, _) in &log.manifests_acked {
        for b in &survivors {
            assert_manifest(b, &m.repo, &m.tag, &m.digest, &m.body).await;
            assert_manifest(b, &m.repo, &m.digest, &m.digest, &m.body).await;
        }
    }

    // Unacknowledged writes: absent, or whole (and a manifest with all its blobs).
    let mut visible = 0;
    let unacked_blobs: BTreeSet<&BlobRec> = log
        .blobs_tried
        .iter()
        .filter(|r| !acked_blobs.contains(*r))
        .collect();
    for r in &unacked_blobs {
        let mut statuses = Vec::new();
        for b in &survivors {
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
    let unacked_manifests: Vec<&ManifestRec> = log
        .manifests_tried
        .iter()
        .filter(|m| !acked_manifests.contains(&m.digest))
        .collect();
    for m in &unacked_manifests {
        for b in &survivors {
            let res = get(&b.url(&format!("/v2/{}/manifests/{}", m.repo, m.digest))).await;
            match res.status().as_u16() {
                404 => {}
                200 => {
                    assert!(res.bytes().await.unwrap() == m.body);
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
                s => panic!("unacknowledged manifest {}: status {s}", m.digest),
            }
        }
    }
    eprintln!(
        "(c) verified {} acknowledged blobs and {} acknowledged manifests on both survivors; \
         {} unacknowledged blobs and {} unacknowledged manifests: {visible} visible-and-whole, \
         the rest absent",
        acked_blobs.len(),
        log.manifests_acked.len(),
        unacked_blobs.len(),
        unacked_manifests.len()
    );

    // Everything a survivor lists is whole: each tag's manifest with every blob it names.
    let tried: BTreeMap<(String, String), &ManifestRec> = log
        .manifests_tried
        .iter()
        .map(|m| ((m.repo.clone(), m.tag.clone()), m))
        .collect();
    let mut listed = 0;
    for repo in ["scale/load0", "scale/load1"] {
        let mut lists = Vec::new();
        for b in &survivors {
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
            for b in &survivors {
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
    let peek = Peek::new(&garage.endpoint, BUCKET, PREFIX).await;
    let keys = peek.list("blobs/").await;
    for key in &keys {
        let hex = key.rsplit('/').next().unwrap();
        assert_eq!(
            sha256(&peek.get(key).await),
            format!("sha256:{hex}"),
            "object {key} does not hash to its name"
        );
    }
    let distinct: BTreeSet<&String> = acked_blobs.iter().map(|r| &r.digest).collect();
    assert!(keys.len() >= distinct.len());
    eprintln!(
        "(c) {listed} listed tags whole on both survivors; {} blob objects in the bucket, each \
         hashing to its name",
        keys.len()
    );
}
