//! Crash safety: kill -9 during concurrent uploads, restart, check what was acknowledged.
//!
//! Several tasks push blobs (monolithic POST+PUT, single-request POST, chunked PATCHes with
//! `Content-Range`) and manifests referencing them, recording every request the server
//! acknowledged with 201. The server is SIGKILLed mid-traffic and restarted on the same data
//! directory. Everything acknowledged must read back exactly; anything in flight must be
//! either absent or whole and correct; no blob file may hold bytes that do not hash to its name.

// Test code: a failed unwrap is a failed test (clippy exempts only `#[test]` fns themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod restart;

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
