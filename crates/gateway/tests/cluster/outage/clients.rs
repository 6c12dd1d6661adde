//! Clients that behave like real ones through the outage: pushers retry every push until it is
//! acknowledged (a blob upload from a new session), a mixed client makes single attempts
//! (manifests over acknowledged blobs, pulls, HEADs). Every answer is judged by the phase it
//! falls in: during the outage a failed request must be a proper 503 (and means retry), before
//! and after it every request must succeed; a connection that fails or hangs instead of a
//! timely 503 is an error of the test.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::app::OCI_MANIFEST;
use berth_testkit::{header, sha256};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use super::probes::check_unavailable;
use super::{DEADLINE, DOWN, PHASES, REQUEST_TIMEOUT};
use crate::traffic::{BlobRec, Client, Ledger, ManifestRec};

/// Why a request did not give the expected answer.
#[derive(Debug)]
pub(super) enum Fail {
    /// 503 (or the connection failed) while the dependency was down: try again.
    Retry,
    /// Anything else (recorded as an error of the test): give up this operation.
    Broken,
}

#[derive(Default)]
pub(super) struct Log {
    /// Pushes tried and acknowledged, by phase (of the acknowledgement).
    pub(super) pushes: Ledger<u8>,
    /// Answers as expected, by phase (of the answer).
    pub(super) ok: [usize; 3],
    /// 503 with OCI error JSON (only ever during the outage), and by kind of request.
    pub(super) unavailable: usize,
    pub(super) unavailable_by_kind: BTreeMap<&'static str, usize>,
    /// Connection-level failures while the dependency was down (never expected).
    pub(super) transport: Vec<String>,
    /// Responses whose body broke off because the store died while it streamed.
    pub(super) truncated: Vec<String>,
    /// Acknowledgements (201) by phase.
    pub(super) acked: [usize; 3],
    /// Everything that fails the test.
    pub(super) errors: Vec<String>,
    pub(super) first_503: Option<Instant>,
    /// When the dependency was started again, and the first acknowledgement after that.
    pub(super) restarted: Option<Instant>,
    pub(super) first_ack_after_restart: Option<Instant>,
    /// The chunked upload kept open across the outage, once acknowledged.
    pub(super) spanning: Option<BlobRec>,
    pub(super) spanning_503: usize,
}

pub(super) struct Traffic {
    pub(super) base: String,
    pub(super) c: reqwest::Client,
    pub(super) phase: AtomicU8,
    pub(super) stopping: AtomicBool,
    /// The spanning upload holds an open session with acknowledged chunks.
    pub(super) paused: AtomicBool,
    /// Requests sent (any outcome).
    pub(super) sent: AtomicUsize,
    pub(super) log: Mutex<Log>,
}

impl Client for Traffic {
    type Fail = Fail;

    fn http(&self) -> reqwest::Client {
        self.c.clone()
    }

    fn base(&self) -> &str {
        &self.base
    }

    /// Sends `req`; a status in `ok` is success. A 503 during the outage must be a proper OCI
    /// "unavailable" answer and means retry; anything else is an error of the test.
    async fn call(
        &self,
        kind: &'static str,
        what: &str,
        req: RequestBuilder,
        ok: &[u16],
    ) -> Result<Response, Fail> {
        let req = req.timeout(REQUEST_TIMEOUT).build().unwrap();
        let head = req.method() == Method::HEAD;
        let p0 = self.phase();
        self.sent.fetch_add(1, Ordering::SeqCst);
        let res = self.c.execute(req).await;
        let p1 = self.phase();
        let outage = p0 == DOWN || p1 == DOWN || p0 != p1;
        let res = match res {
            Ok(r) => r,
            Err(e) => return Err(self.transport(&format!("{kind} {what}"), p0, &e)),
        };
        let status = res.status().as_u16();
        if ok.contains(&status) {
            self.log.lock().unwrap().ok[p1 as usize] += 1;
            return Ok(res);
        }
        if status == 503 {
            if let Err(e) = check_unavailable(res, head).await {
                self.error(format!("{kind} {what}: {e}"));
                return Err(Fail::Broken);
            }
            if !outage {
                self.error(format!(
                    "{kind} {what}: 503 while the dependency was up ({})",
                    PHASES[p1 as usize]
                ));
                return Err(Fail::Retry);
            }
            let mut log = self.log.lock().unwrap();
            log.unavailable += 1;
            *log.unavailable_by_kind.entry(kind).or_default() += 1;
            log.first_503.get_or_insert_with(Instant::now);
            return Err(Fail::Retry);
        }
        let body = res.text().await.unwrap_or_default();
        self.error(format!(
            "{kind} {what} [{}]: status {status}, expected {ok:?}: {body}",
            PHASES[p1 as usize]
        ));
        Err(Fail::Broken)
    }

    /// A wrong answer is recorded as an error of the test.
    fn broken(&self, msg: String) -> Fail {
        self.error(msg);
        Fail::Broken
    }
}

impl Traffic {
    pub(super) fn phase(&self) -> u8 {
        self.phase.load(Ordering::SeqCst)
    }

    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(super) fn error(&self, e: String) {
        eprintln!("outage test error: {e}");
        self.log.lock().unwrap().errors.push(e);
    }

    /// A failure at the connection level or of a response body: tolerated (and counted) only
    /// while the dependency is down; a timeout is a hang and never tolerated.
    fn transport(&self, what: &str, p0: u8, e: &reqwest::Error) -> Fail {
        let p1 = self.phase();
        let msg = format!("{what} [{}]: {e:?}", PHASES[p1 as usize]);
        if e.is_timeout() {
            self.error(format!("no answer within {REQUEST_TIMEOUT:?}: {msg}"));
        } else if p0 == DOWN || p1 == DOWN || p0 != p1 {
            eprintln!("outage test: transport failure during the outage: {msg}");
            self.log.lock().unwrap().transport.push(msg);
        } else {
            self.error(format!("transport failure while up: {msg}"));
        }
        Fail::Retry
    }

    /// The body of a successful response. A 200 whose body breaks off during the outage is
    /// the one failure HTTP leaves (the status went out before the store died; the client
    /// sees the short body against `Content-Length`): counted apart, never a timeout.
    async fn body(&self, what: &str, p0: u8, res: Response) -> Result<bytes::Bytes, Fail> {
        res.bytes().await.map_err(|e| {
            let p1 = self.phase();
            let during = p0 == DOWN || p1 == DOWN || p0 != p1;
            if (e.is_body() || e.is_decode()) && !e.is_timeout() && during {
                let msg = format!("{what} [{}]: {e:?}", PHASES[p1 as usize]);
                eprintln!("outage test: body cut off by the outage: {msg}");
                self.log.lock().unwrap().truncated.push(msg);
                return Fail::Retry;
            }
            self.transport(what, p0, &e)
        })
    }

    fn acked(&self) {
        let mut log = self.log.lock().unwrap();
        let p = self.phase();
        log.acked[p as usize] += 1;
        if log.restarted.is_some() && log.first_ack_after_restart.is_none() {
            log.first_ack_after_restart = Some(Instant::now());
        }
    }

    /// `res` acknowledged the upload (of `kind`) of `rec`: checked and recorded.
    pub(super) fn acked_blob(
        &self,
        res: &Response,
        rec: &BlobRec,
        kind: &'static str,
        what: &str,
    ) -> Result<(), Fail> {
        self.check_digest(res, &rec.digest, what)?;
        let p = self.phase();
        self.log.lock().unwrap().pushes.acked_blob(rec, kind, p);
        self.acked();
        Ok(())
    }

    /// One attempt at uploading `rec` the way `kind` says; the caller retries from scratch.
    async fn upload_once(&self, rec: &BlobRec, kind: &'static str) -> Result<(), Fail> {
        let what = format!("{kind} upload of {} to {}", rec.digest, rec.repo);
        let res = match kind {
            "monolithic" | "single-post" => self.upload_whole(rec, kind, &what).await?,
            _ => {
                let data = rec.data();
                let mut loc = self.start_session(&rec.repo, &what).await?;
                let chunk = data.len().div_ceil(3).max(1);
                let mut start = 0;
                for part in data.chunks(chunk) {
                    let res = self.patch(&loc, start, part, &what).await?;
                    loc = self.location(&res, &what)?;
                    start += part.len();
                }
                self.close(&loc, rec, &what).await?
            }
        };
        self.acked_blob(&res, rec, kind, &what)
    }

    /// Uploads `rec`, retrying from a new session until it is acknowledged; false when the
    /// traffic stops first or the upload broke.
    async fn upload(&self, rec: &BlobRec, kind: &'static str) -> bool {
        self.log.lock().unwrap().pushes.tried_blob(rec);
        loop {
            if self.stopping() {
                return false;
            }
            match self.upload_once(rec, kind).await {
                Ok(()) => return true,
                Err(Fail::Retry) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(Fail::Broken) => return false,
            }
        }
    }

    async fn put_manifest_once(&self, m: &ManifestRec) -> Result<(), Fail> {
        let what = format!("manifest PUT {}:{}", m.repo, m.tag);
        let res = self.push_manifest(m, &what).await?;
        self.check_digest(&res, &m.digest, &what)?;
        let p = self.phase();
        self.log.lock().unwrap().pushes.acked_manifest(m, p);
        self.acked();
        Ok(())
    }

    /// Pushes `m`, retrying until acknowledged (if `persistent`) or once.
    async fn put_manifest(&self, m: &ManifestRec, persistent: bool) -> bool {
        self.log.lock().unwrap().pushes.tried_manifest(m);
        loop {
            if self.stopping() {
                return false;
            }
            match self.put_manifest_once(m).await {
                Ok(()) => return true,
                Err(Fail::Retry) if persistent => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(_) => return false,
            }
        }
    }

    /// Pulls an acknowledged manifest by tag and its blobs, checking every byte. Failures
    /// during the outage are counted by `call`; nothing is retried.
    async fn pull(&self, m: &ManifestRec, blobs: &[BlobRec]) -> Result<(), Fail> {
        let what = format!("{}:{}", m.repo, m.tag);
        let p0 = self.phase();
        let req = self
            .c
            .get(self.url(&format!("/v2/{}/manifests/{}", m.repo, m.tag)))
            .header("accept", OCI_MANIFEST);
        let res = self.call("GET manifest", &what, req, &[200]).await?;
        let body = self.body(&what, p0, res).await?;
        if body != m.body {
            self.error(format!("GET manifest {what}: other bytes than pushed"));
            return Err(Fail::Broken);
        }
        for b in blobs {
            let what = format!("{}@{}", b.repo, b.digest);
            let p0 = self.phase();
            let req = self
                .c
                .get(self.url(&format!("/v2/{}/blobs/{}", b.repo, b.digest)));
            let res = self.call("GET blob", &what, req, &[200]).await?;
            let body = self.body(&what, p0, res).await?;
            if body.len() != b.len || sha256(&body) != b.digest {
                self.error(format!(
                    "GET blob {what}: {} bytes that are not the blob",
                    body.len()
                ));
                return Err(Fail::Broken);
            }
            let req = self
                .c
                .head(self.url(&format!("/v2/{}/blobs/{}", b.repo, b.digest)));
            let res = self.call("HEAD blob", &what, req, &[200]).await?;
            if header(&res, "content-length") != b.len.to_string() {
                self.error(format!("HEAD blob {what}: wrong Content-Length"));
                return Err(Fail::Broken);
            }
        }
        Ok(())
    }
}

/// Pushes images (config + layer + manifest with a tag of its own), retrying each push until it
/// is acknowledged, and pulls every fourth round.
pub(super) async fn pusher(t: Arc<Traffic>, w: usize) {
    let repo = format!("outage/p{w}");
    let kinds = ["monolithic", "single-post", "chunked"];
    let mut images: Vec<ManifestRec> = Vec::new();
    for i in 0u64.. {
        if t.stopping() {
            return;
        }
        if i % 4 == 3 && !images.is_empty() {
            let m = &images[(i as usize / 4) % images.len()];
            let _ = t.pull(m, &m.blobs).await;
            continue;
        }
        let seed = ((w as u64) << 32) | i;
        let config = BlobRec::new(&repo, seed << 1, 200 + (seed % 300) as usize);
        let layer_len = 1 + (seed.wrapping_mul(2_654_435_761) % 400_000) as usize;
        let layer = BlobRec::new(&repo, (seed << 1) | 1, layer_len);
        if !t.upload(&config, kinds[(i as usize + w) % 3]).await {
            continue;
        }
        if !t.upload(&layer, kinds[(i as usize + w + 1) % 3]).await {
            continue;
        }
        let m = image(&repo, &format!("w{w}-{i}"), &config, &layer);
        if t.put_manifest(&m, true).await {
            images.push(m);
        }
    }
}

/// The image manifest a client of this test pushes to `repo:tag` (annotated with its tag).
fn image(repo: &str, tag: &str, config: &BlobRec, layer: &BlobRec) -> ManifestRec {
    let annotations = serde_json::json!({ "tag": tag });
    ManifestRec::image(repo, tag, config, layer, Some(annotations))
}

/// Single attempts, no retries: new manifests over blobs already acknowledged (the database is
/// all they need), pulls of acknowledged images, HEAD of acknowledged blobs.
pub(super) async fn mixed(t: Arc<Traffic>) {
    for i in 0usize.. {
        if t.stopping() {
            return;
        }
        let (blobs, manifests) = {
            let log = t.log.lock().unwrap();
            (
                log.pushes
                    .blobs
                    .iter()
                    .map(|(b, _, _)| b.clone())
                    .collect::<Vec<_>>(),
                log.pushes
                    .manifests
                    .iter()
                    .map(|(m, _)| m.clone())
                    .collect::<Vec<_>>(),
            )
        };
        if blobs.len() < 2 || manifests.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        match i % 3 {
            0 => {
                let layer = &blobs[blobs.len() - 1 - i % blobs.len().min(8)];
                let config = blobs
                    .iter()
                    .rev()
                    .find(|b| b.repo == layer.repo && b.digest != layer.digest);
                if let Some(config) = config {
                    let m = image(&layer.repo, &format!("mixed-{i}"), config, layer);
                    t.put_manifest(&m, false).await;
                }
            }
            1 => {
                let m = &manifests[(i * 7) % manifests.len()];
                let v: Value = serde_json::from_slice(&m.body).unwrap();
                let refs: Vec<BlobRec> = [&v["config"], &v["layers"][0]]
                    .iter()
                    .filter_map(|d| {
                        let digest = d["digest"].as_str()?;
                        blobs
                            .iter()
                            .find(|b| b.digest == digest && b.repo == m.repo)
                            .cloned()
                    })
                    .collect();
                let _ = t.pull(m, &refs).await;
            }
            _ => {
                let b = &blobs[(i * 13) % blobs.len()];
                let req =
                    t.c.head(t.url(&format!("/v2/{}/blobs/{}", b.repo, b.digest)));
                let _ = t.call("HEAD blob", &b.digest, req, &[200]).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `cond` holds, panicking with `what` after [`DEADLINE`].
pub(super) async fn wait_for(what: &str, t: &Traffic, mut cond: impl FnMut(&Log) -> bool) {
    let start = Instant::now();
    loop {
        {
            let log = t.log.lock().unwrap();
            if cond(&log) {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what} did not happen within {DEADLINE:?}; errors so far: {:#?}",
                log.errors
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
