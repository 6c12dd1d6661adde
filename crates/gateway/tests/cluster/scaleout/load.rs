//! (c) The clients that push through the balancer while a replica is killed: each pushes a
//! config blob, a layer blob (monolithic, single-request or chunked) and a manifest over both,
//! again and again. A failed request before the kill fails the test; after it, the sequence is
//! abandoned (the write stays unacknowledged) and a new one begins, except that a chunked
//! upload whose PATCH failed continues where a surviving replica says the session stands.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_testkit::{header as hdr, http};
use reqwest::{RequestBuilder, Response};
use serde_json::json;

use super::MIB;
use crate::traffic::{BlobRec, Client, Ledger, ManifestRec};

/// Clients pushing at the same time.
pub(super) const TASKS: usize = 4;
/// PATCH size of chunked uploads under load.
const LOAD_CHUNK: usize = 2 * MIB;

#[derive(Default)]
pub(super) struct LoadLog {
    /// Pushes tried and acknowledged, with whether the 201 came after the kill.
    pub(super) pushes: Ledger<bool>,
    /// Failures that fail the test: any before the kill, and inconsistent answers.
    pub(super) errors: Vec<String>,
    /// Failed requests after the kill (the sequence is abandoned, the write unacknowledged).
    pub(super) failures_after_kill: Vec<String>,
    /// Chunked sessions continued (after a failed PATCH) where the server said they stand.
    pub(super) resumed: usize,
}

pub(super) struct Load {
    pub(super) base: String,
    pub(super) killed: AtomicBool,
    pub(super) stop: AtomicBool,
    pub(super) acked: AtomicUsize,
    pub(super) log: Mutex<LoadLog>,
}

impl Client for Load {
    /// What went wrong.
    type Fail = String;

    /// A new client for every request.
    fn http(&self) -> reqwest::Client {
        http()
    }

    fn base(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        _kind: &'static str,
        what: &str,
        req: RequestBuilder,
        ok: &[u16],
    ) -> Result<Response, String> {
        let res = req
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        if ok.contains(&res.status().as_u16()) {
            return Ok(res);
        }
        let s = res.status();
        let body = res.text().await.unwrap_or_default();
        Err(format!("{what}: status {s}, expected {ok:?}: {body}"))
    }

    fn broken(&self, msg: String) -> String {
        msg
    }
}

impl Load {
    pub(super) fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
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

    /// Uploads `rec` the `kind` way; whether it was acknowledged.
    async fn upload_blob(&self, rec: &BlobRec, kind: &'static str) -> bool {
        self.log.lock().unwrap().pushes.tried_blob(rec);
        let what = format!("{kind} upload of {} to {}", rec.digest, rec.repo);
        let attempt = match kind {
            "monolithic" | "single-post" => self.upload_whole(rec, kind, &what).await,
            _ => self.chunked(rec, &what).await,
        };
        match attempt.and_then(|res| self.check_digest(&res, &rec.digest, &what)) {
            Ok(()) => {
                let after = self.killed();
                self.log.lock().unwrap().pushes.acked_blob(rec, kind, after);
                self.acked.fetch_add(1, Ordering::SeqCst);
                true
            }
            Err(e) => {
                self.failed(e).await;
                false
            }
        }
    }

    /// POST, PATCHes with `Content-Range`, PUT. A failed PATCH after the kill is followed by
    /// a status request (answered by a surviving replica) and the upload goes on from there.
    async fn chunked(&self, rec: &BlobRec, what: &str) -> Result<Response, String> {
        let data = rec.data();
        let mut loc = self.start_session(&rec.repo, what).await?;
        let mut held = 0usize;
        let mut resumes = 0;
        while held < data.len() {
            let end = (held + LOAD_CHUNK).min(data.len()) - 1;
            let sent: Result<String, String> = async {
                let res = self.patch(&loc, held, &data[held..=end], what).await?;
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
                    let req = self.http().get(self.url(&loc));
                    let res = self.call("GET upload", what, req, &[204]).await?;
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
        self.close(&loc, rec, what).await
    }

    /// PUTs the manifest; whether it was acknowledged.
    async fn put_manifest(&self, rec: &ManifestRec) -> bool {
        self.log.lock().unwrap().pushes.tried_manifest(rec);
        let what = format!("manifest PUT {}:{}", rec.repo, rec.tag);
        let attempt = self.push_manifest(rec, &what).await;
        match attempt.and_then(|res| self.check_digest(&res, &rec.digest, &what)) {
            Ok(()) => {
                let after = self.killed();
                self.log.lock().unwrap().pushes.acked_manifest(rec, after);
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
pub(super) async fn worker(load: Arc<Load>, task: usize) {
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
        let annotations = json!({"task": task.to_string(), "i": i.to_string()});
        let m = ManifestRec::image(
            &repo,
            &format!("t{task}-{i}"),
            &config,
            &layer,
            Some(annotations),
        );
        if !load.put_manifest(&m).await && !load.killed() {
            return;
        }
    }
}
