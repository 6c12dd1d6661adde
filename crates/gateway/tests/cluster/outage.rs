//! Outages of PostgreSQL and of S3: Berth runs on a private PostgreSQL server and a private
//! Garage while clients push (monolithic, single-request and chunked blob uploads, manifests)
//! and pull. The dependency is stopped mid-traffic and started again, without restarting
//! Berth. During the outage every failing request must be a timely 503 with OCI error JSON
//! and `Retry-After`, `/readyz` must name the missing dependency, `/healthz` stays 200 and the
//! process neither dies nor panics. Afterwards, requests succeed again, every push that was
//! acknowledged (before, during or after the outage) reads back byte for byte, and every
//! visible manifest has all its blobs.
//!
//! Clients behave like real ones: a push that fails is retried (a blob upload from a new
//! session, a chunked upload from where `GET` on its session says it stands), so operations in
//! flight when the dependency goes away complete after it is back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::header;
use berth_testkit::pgserver::PgServer;
use berth_testkit::pseudo_random as bytes;
use berth_testkit::s3::{Garage, Peek, BUCKET};
use berth_testkit::{http, sha256, Berth};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::BIN;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const PREFIX: &str = "outage";
/// Pushers that retry every push until it is acknowledged.
const PUSHERS: usize = 3;
/// No request may take this long, outage or not: a dependency that is down is a timely 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Generous bound for every wait on progress (warm-up, outage effects, recovery).
const DEADLINE: Duration = Duration::from_secs(180);

const BEFORE: u8 = 0;
const DOWN: u8 = 1;
const AFTER: u8 = 2;
const PHASES: [&str; 3] = ["before", "down", "after"];

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
}

#[derive(Debug, Clone)]
struct ManifestRec {
    repo: String,
    tag: String,
    digest: String,
    body: Vec<u8>,
}

fn manifest(repo: &str, tag: &str, config: &BlobRec, layer: &BlobRec) -> ManifestRec {
    let body = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.len}],
        "annotations": {"tag": tag},
    })
    .to_string()
    .into_bytes();
    ManifestRec {
        repo: repo.to_owned(),
        tag: tag.to_owned(),
        digest: sha256(&body),
        body,
    }
}

/// Why a request did not give the expected answer.
#[derive(Debug)]
enum Fail {
    /// 503 (or the connection failed) while the dependency was down: try again.
    Retry,
    /// Anything else (recorded as an error of the test): give up this operation.
    Broken,
}

#[derive(Default)]
struct Log {
    blobs: Vec<(BlobRec, u8)>,
    manifests_tried: Vec<ManifestRec>,
    manifests: Vec<(ManifestRec, u8)>,
    /// Answers as expected, by phase (of the answer).
    ok: [usize; 3],
    /// 503 with OCI error JSON (only ever during the outage), and by kind of request.
    unavailable: usize,
    unavailable_by_kind: BTreeMap<&'static str, usize>,
    /// Connection-level failures while the dependency was down (never expected).
    transport: Vec<String>,
    /// Responses whose body broke off because the store died while it streamed.
    truncated: Vec<String>,
    /// Acknowledgements (201) by phase.
    acked: [usize; 3],
    /// Everything that fails the test.
    errors: Vec<String>,
    first_503: Option<Instant>,
    /// When the dependency was started again, and the first acknowledgement after that.
    restarted: Option<Instant>,
    first_ack_after_restart: Option<Instant>,
    /// The chunked upload kept open across the outage, once acknowledged.
    spanning: Option<BlobRec>,
    spanning_503: usize,
}

struct Traffic {
    base: String,
    c: reqwest::Client,
    phase: AtomicU8,
    stopping: AtomicBool,
    /// The spanning upload holds an open session with acknowledged chunks.
    paused: AtomicBool,
    /// Requests sent (any outcome).
    sent: AtomicUsize,
    log: Mutex<Log>,
}

fn with_query(url: &str, q: &str) -> String {
    if url.contains('?') {
        format!("{url}&{q}")
    } else {
        format!("{url}?{q}")
    }
}

/// Checks that `res` is a proper "dependency unavailable" answer: 503, `Retry-After`, and (for
/// anything but HEAD) `{"errors":[{"code":"UNAVAILABLE",…}]}`.
async fn check_unavailable(res: Response, head: bool) -> Result<(), String> {
    let status = res.status();
    if status != 503 {
        return Err(format!("status {status}, expected 503"));
    }
    if res.headers().get("retry-after").is_none() {
        return Err("503 without Retry-After".into());
    }
    if head {
        return Ok(());
    }
    let text = res.text().await.map_err(|e| format!("503 body: {e}"))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("503 body is not JSON ({e}): {text}"))?;
    match v["errors"][0]["code"].as_str() {
        Some("UNAVAILABLE") => Ok(()),
        _ => Err(format!("503 body is not an OCI UNAVAILABLE error: {text}")),
    }
}

impl Traffic {
    fn phase(&self) -> u8 {
        self.phase.load(Ordering::SeqCst)
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    fn error(&self, e: String) {
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

    fn location(&self, res: &Response, what: &str) -> Result<String, Fail> {
        match res.headers().get("location").and_then(|v| v.to_str().ok()) {
            Some(l) => Ok(self.url(l)),
            None => {
                self.error(format!("{what}: no Location"));
                Err(Fail::Broken)
            }
        }
    }

    fn acked(&self) {
        let mut log = self.log.lock().unwrap();
        let p = self.phase();
        log.acked[p as usize] += 1;
        if log.restarted.is_some() && log.first_ack_after_restart.is_none() {
            log.first_ack_after_restart = Some(Instant::now());
        }
    }

    fn acked_blob(&self, res: &Response, rec: &BlobRec, what: &str) -> Result<(), Fail> {
        let got = header(res, "docker-content-digest");
        if got != rec.digest {
            self.error(format!("{what}: 201 with digest {got:?}"));
            return Err(Fail::Broken);
        }
        let p = self.phase();
        self.log.lock().unwrap().blobs.push((rec.clone(), p));
        self.acked();
        Ok(())
    }

    async fn start_session(&self, repo: &str, what: &str) -> Result<String, Fail> {
        let req = self.c.post(self.url(&format!("/v2/{repo}/blobs/uploads/")));
        let res = self.call("POST upload", what, req, &[202]).await?;
        self.location(&res, what)
    }

    /// One attempt at uploading `rec` the way `kind` says; the caller retries from scratch.
    async fn upload_once(&self, rec: &BlobRec, kind: &str) -> Result<(), Fail> {
        let data = bytes(rec.seed, rec.len);
        let what = format!("{kind} upload of {} to {}", rec.digest, rec.repo);
        let res = match kind {
            "monolithic" => {
                let loc = self.start_session(&rec.repo, &what).await?;
                let req = self
                    .c
                    .put(with_query(&loc, &format!("digest={}", rec.digest)))
                    .header("content-type", "application/octet-stream")
                    .body(data);
                self.call("PUT upload", &what, req, &[201]).await?
            }
            "single-post" => {
                let req = self
                    .c
                    .post(self.url(&format!(
                        "/v2/{}/blobs/uploads/?digest={}",
                        rec.repo, rec.digest
                    )))
                    .header("content-type", "application/octet-stream")
                    .body(data);
                self.call("POST upload", &what, req, &[201]).await?
            }
            _ => {
                let mut loc = self.start_session(&rec.repo, &what).await?;
                let chunk = data.len().div_ceil(3).max(1);
                let mut start = 0;
                for part in data.chunks(chunk) {
                    let end = start + part.len() - 1;
                    let req = self
                        .c
                        .patch(loc.clone())
                        .header("content-type", "application/octet-stream")
                        .header("content-range", format!("{start}-{end}"))
                        .body(part.to_vec());
                    let res = self.call("PATCH upload", &what, req, &[202]).await?;
                    loc = self.location(&res, &what)?;
                    start = end + 1;
                }
                let req = self
                    .c
                    .put(with_query(&loc, &format!("digest={}", rec.digest)));
                self.call("PUT upload", &what, req, &[201]).await?
            }
        };
        self.acked_blob(&res, rec, &what)
    }

    /// Uploads `rec`, retrying from a new session until it is acknowledged; false when the
    /// traffic stops first or the upload broke.
    async fn upload(&self, rec: &BlobRec, kind: &str) -> bool {
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
        let req = self
            .c
            .put(self.url(&format!("/v2/{}/manifests/{}", m.repo, m.tag)))
            .header("content-type", OCI_MANIFEST)
            .body(m.body.clone());
        let res = self.call("PUT manifest", &what, req, &[201]).await?;
        let got = header(&res, "docker-content-digest");
        if got != m.digest {
            self.error(format!("{what}: 201 with digest {got:?}, not {}", m.digest));
            return Err(Fail::Broken);
        }
        let p = self.phase();
        self.log.lock().unwrap().manifests.push((m.clone(), p));
        self.acked();
        Ok(())
    }

    /// Pushes `m`, retrying until acknowledged (if `persistent`) or once.
    async fn put_manifest(&self, m: &ManifestRec, persistent: bool) -> bool {
        self.log.lock().unwrap().manifests_tried.push(m.clone());
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

    /// The upload session's size according to the server (`GET` on the session), retried until
    /// answered; `None` when the traffic stops first or the session broke.
    async fn session_size(&self, loc: &str, what: &str) -> Option<(usize, String)> {
        loop {
            if self.stopping() {
                return None;
            }
            match self
                .call("GET upload", what, self.c.get(loc.to_owned()), &[204])
                .await
            {
                Ok(res) => {
                    let range = header(&res, "range");
                    let last: usize = range.strip_prefix("0-")?.parse().ok()?;
                    // Chunks are never 1 byte long, so "0-0" is an empty session.
                    let size = if last == 0 { 0 } else { last + 1 };
                    let loc = self.location(&res, what).ok()?;
                    return Some((size, loc));
                }
                Err(Fail::Retry) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(Fail::Broken) => return None,
            }
        }
    }

    /// A chunked upload that keeps its session whatever happens: a failed chunk is resent from
    /// where the server says the session stands. With `pause`, it waits with an open session
    /// (some chunks acknowledged) until the outage has begun. Returns the 503s it met.
    async fn resumable_upload(&self, rec: &BlobRec, chunk: usize, pause: bool) -> Option<usize> {
        let data = bytes(rec.seed, rec.len);
        let what = format!("resumable upload of {} to {}", rec.digest, rec.repo);
        let mut loc = loop {
            if self.stopping() {
                return None;
            }
            match self.start_session(&rec.repo, &what).await {
                Ok(l) => break l,
                Err(Fail::Retry) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(Fail::Broken) => return None,
            }
        };
        let mut unavailable = 0;
        let mut offset = 0;
        let mut chunks = 0;
        while offset < data.len() {
            if self.stopping() {
                return None;
            }
            if pause && chunks == 3 {
                self.paused.store(true, Ordering::SeqCst);
                while self.phase() == BEFORE && !self.stopping() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let end = (offset + chunk).min(data.len()) - 1;
            let req = self
                .c
                .patch(loc.clone())
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{offset}-{end}"))
                .body(data[offset..=end].to_vec());
            match self.call("PATCH upload", &what, req, &[202]).await {
                Ok(res) => {
                    let range = header(&res, "range");
                    if range != format!("0-{end}") {
                        self.error(format!(
                            "{what}: PATCH answered Range {range:?}, not 0-{end}"
                        ));
                        return None;
                    }
                    loc = self.location(&res, &what).ok()?;
                    offset = end + 1;
                    chunks += 1;
                }
                Err(Fail::Retry) => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let (size, l) = self.session_size(&loc, &what).await?;
                    // The failed chunk was taken whole (its answer lost) or not at all.
                    if size != offset && size != end + 1 {
                        self.error(format!(
                            "{what}: session holds {size} bytes after a failed chunk {offset}-{end}"
                        ));
                        return None;
                    }
                    loc = l;
                    offset = size;
                }
                Err(Fail::Broken) => return None,
            }
            if pause {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        loop {
            if self.stopping() {
                return None;
            }
            let req = self
                .c
                .put(with_query(&loc, &format!("digest={}", rec.digest)));
            match self.call("PUT upload", &what, req, &[201]).await {
                Ok(res) => {
                    self.acked_blob(&res, rec, &what).ok()?;
                    return Some(unavailable);
                }
                Err(Fail::Retry) => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(Fail::Broken) => return None,
            }
        }
    }
}

/// Pushes images (config + layer + manifest with a tag of its own), retrying each push until it
/// is acknowledged, and pulls every fourth round.
async fn pusher(t: Arc<Traffic>, w: usize) {
    let repo = format!("outage/p{w}");
    let kinds = ["monolithic", "single-post", "chunked"];
    let mut images: Vec<(ManifestRec, Vec<BlobRec>)> = Vec::new();
    for i in 0u64.. {
        if t.stopping() {
            return;
        }
        if i % 4 == 3 && !images.is_empty() {
            let (m, blobs) = &images[(i as usize / 4) % images.len()];
            let _ = t.pull(m, blobs).await;
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
        let m = manifest(&repo, &format!("w{w}-{i}"), &config, &layer);
        if t.put_manifest(&m, true).await {
            images.push((m, vec![config, layer]));
        }
    }
}

/// Single attempts, no retries: new manifests over blobs already acknowledged (the database is
/// all they need), pulls of acknowledged images, HEAD of acknowledged blobs.
async fn mixed(t: Arc<Traffic>) {
    for i in 0usize.. {
        if t.stopping() {
            return;
        }
        let (blobs, manifests) = {
            let log = t.log.lock().unwrap();
            (
                log.blobs.iter().map(|(b, _)| b.clone()).collect::<Vec<_>>(),
                log.manifests
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
                    let m = manifest(&layer.repo, &format!("mixed-{i}"), config, layer);
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

/// Large chunked uploads (1 MiB chunks, more than one S3 part): the first one holds its
/// session open until the outage has begun and finishes after it.
async fn spanning(t: Arc<Traffic>) {
    let repo = "outage/big";
    for i in 0u64..3 {
        if t.stopping() {
            return;
        }
        let rec = BlobRec::new(repo, 0xB16_0000 + i, 10 * 1024 * 1024 + 12345);
        let Some(n503) = t.resumable_upload(&rec, 1024 * 1024, i == 0).await else {
            continue;
        };
        if i == 0 {
            let mut log = t.log.lock().unwrap();
            log.spanning = Some(rec);
            log.spanning_503 = n503;
        }
    }
}

/// Waits until `cond` holds, panicking with `what` after [`DEADLINE`].
async fn wait_for(what: &str, t: &Traffic, mut cond: impl FnMut(&Log) -> bool) {
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dependency {
    Database,
    Storage,
}

/// How the dependency goes away.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum How {
    /// PostgreSQL: fast shutdown. Garage: killed (it has no graceful stop). Connections are
    /// refused until it is started again.
    Stop,
    /// SIGKILL, including every PostgreSQL backend: crash recovery on the next start.
    Crash,
    /// SIGSTOP: connections stay open but nothing answers (a partition, a paused machine).
    /// Kept up for longer than a client waits for an answer, so a request that hangs on the
    /// dependency instead of failing in time is seen as the hang it is.
    Freeze,
}

/// A private PostgreSQL and Garage, and a Berth on them with short timeouts.
struct Cluster {
    pg: PgServer,
    garage: Garage,
    _garage_dir: tempfile::TempDir,
    berth: Berth,
}

impl Cluster {
    fn start() -> Cluster {
        let pg = PgServer::init();
        let garage_dir = tempfile::Builder::new()
            .prefix("berth-outage-garage-")
            .tempdir()
            .unwrap();
        let garage = Garage::start_in(garage_dir.path());
        let url = pg.url();
        let mut env: Vec<(String, String)> = garage.berth_env(PREFIX);
        env.extend(
            [
                ("BERTH_DATABASE__URL", url.as_str()),
                ("BERTH_DATABASE__ACQUIRE_TIMEOUT_SECS", "2"),
                ("BERTH_DATABASE__OP_TIMEOUT_SECS", "4"),
                ("BERTH_STORAGE__S3__MAX_ATTEMPTS", "2"),
                ("BERTH_STORAGE__S3__ATTEMPT_TIMEOUT_SECS", "3"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let berth = Berth::start_env(BIN, &env);
        Cluster {
            pg,
            garage,
            _garage_dir: garage_dir,
            berth,
        }
    }

    /// Sends `sig` to the Garage server (its pid file is in its directory).
    fn signal_garage(&self, sig: &str) {
        let pid = std::fs::read_to_string(self._garage_dir.path().join("garage.pid")).unwrap();
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.trim())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} garage");
    }

    fn stop(&mut self, dep: Dependency, how: How) {
        match (dep, how) {
            (Dependency::Database, How::Stop) => self.pg.stop(),
            (Dependency::Database, How::Crash) => self.pg.crash(),
            (Dependency::Database, How::Freeze) => self.pg.freeze(),
            (Dependency::Storage, How::Stop | How::Crash) => self.garage.stop(),
            (Dependency::Storage, How::Freeze) => self.signal_garage("STOP"),
        }
    }

    fn start_again(&mut self, dep: Dependency, how: How) {
        match (dep, how) {
            (Dependency::Database, How::Freeze) => self.pg.thaw(),
            (Dependency::Database, _) => self.pg.start(),
            (Dependency::Storage, How::Freeze) => self.signal_garage("CONT"),
            (Dependency::Storage, _) => self.garage.restart(),
        }
    }
}

/// `/readyz`: (status, body).
async fn readyz(c: &reqwest::Client, b: &Berth) -> (u16, Value) {
    let res = c
        .get(b.url("/readyz"))
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .expect("/readyz answers");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A request that must be answered with a proper 503 during the outage, within the timeout.
async fn expect_unavailable(req: RequestBuilder, what: &str) -> Duration {
    let req = req.timeout(REQUEST_TIMEOUT).build().unwrap();
    let head = req.method() == Method::HEAD;
    let start = Instant::now();
    let res = http()
        .execute(req)
        .await
        .unwrap_or_else(|e| panic!("{what} during the outage: {e:?}"));
    let took = start.elapsed();
    if let Err(e) = check_unavailable(res, head).await {
        panic!("{what} during the outage: {e}");
    }
    took
}

/// A request that must still succeed during the outage (it does not need the missing
/// dependency).
async fn expect_status(req: RequestBuilder, status: u16, what: &str) {
    let res = req
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what} during the outage: {e:?}"));
    assert_eq!(res.status(), status, "{what} during the outage");
}

/// The whole scenario for one dependency.
async fn outage(dep: Dependency, how: How) {
    let started = Instant::now();
    let mut cl = Cluster::start();
    let c = http();
    let (status, body) = readyz(&c, &cl.berth).await;
    assert_eq!(status, 200, "{body}");

    let t = Arc::new(Traffic {
        base: cl.berth.base.clone(),
        c: http(),
        phase: AtomicU8::new(BEFORE),
        stopping: AtomicBool::new(false),
        paused: AtomicBool::new(false),
        sent: AtomicUsize::new(0),
        log: Mutex::new(Log::default()),
    });
    let mut tasks = Vec::new();
    for w in 0..PUSHERS {
        tasks.push(tokio::spawn(pusher(t.clone(), w)));
    }
    tasks.push(tokio::spawn(mixed(t.clone())));
    tasks.push(tokio::spawn(spanning(t.clone())));

    // Traffic first: acknowledged pushes of every kind, and the spanning upload mid-session.
    wait_for("warm-up traffic", &t, |l| {
        l.manifests.len() >= 10 && l.blobs.len() >= 20
    })
    .await;
    wait_for("the spanning upload to open its session", &t, |_| {
        t.paused.load(Ordering::SeqCst)
    })
    .await;
    assert!(
        t.log.lock().unwrap().errors.is_empty(),
        "requests failed before the outage: {:#?}",
        t.log.lock().unwrap().errors
    );

    // The outage.
    t.phase.store(DOWN, Ordering::SeqCst);
    let down_at = Instant::now();
    cl.stop(dep, how);
    eprintln!("{dep:?} {how:?} after {:?} of traffic", down_at - started);
    let repo = "outage/p0";
    let (some_blob, some_manifest) = {
        let log = t.log.lock().unwrap();
        let b = log
            .blobs
            .iter()
            .find(|(b, _)| b.repo == repo)
            .unwrap()
            .0
            .clone();
        let m = log
            .manifests
            .iter()
            .find(|(m, _)| m.repo == repo)
            .unwrap()
            .0
            .clone();
        (b, m)
    };
    let mut rounds = 0;
    let mut slowest = Duration::ZERO;
    loop {
        // The process is up, and says what is missing.
        expect_status(c.get(cl.berth.url("/healthz")), 200, "/healthz").await;
        let (status, body) = readyz(&c, &cl.berth).await;
        assert_eq!(status, 503, "/readyz during the outage: {body}");
        let (down, up) = match dep {
            Dependency::Database => ("database", "storage"),
            Dependency::Storage => ("storage", "database"),
        };
        assert_eq!(body[down], "unavailable", "/readyz: {body}");
        assert_eq!(body[up], "ok", "/readyz: {body}");

        let blob_url = cl
            .berth
            .url(&format!("/v2/{repo}/blobs/{}", some_blob.digest));
        let data = format!("probe {rounds} of the outage").into_bytes();
        let single = cl.berth.url(&format!(
            "/v2/{repo}/blobs/uploads/?digest={}",
            sha256(&data)
        ));
        let manifest_url = cl
            .berth
            .url(&format!("/v2/{repo}/manifests/{}", some_manifest.tag));
        let mut probes: Vec<(RequestBuilder, &str)> = vec![
            (c.get(&blob_url), "GET blob"),
            (c.post(&single).body(data), "single-request upload"),
        ];
        match dep {
            Dependency::Database => probes.extend([
                (c.head(&blob_url), "HEAD blob"),
                (
                    c.post(cl.berth.url(&format!("/v2/{repo}/blobs/uploads/"))),
                    "POST upload",
                ),
                (
                    c.get(cl.berth.url(&format!("/v2/{repo}/tags/list"))),
                    "tag list",
                ),
                (c.get(cl.berth.url("/v2/_catalog")), "catalog"),
                // The manifest cache is off on PostgreSQL (the default), so a manifest GET
                // needs the database too.
                (
                    c.get(&manifest_url).header("accept", OCI_MANIFEST),
                    "GET manifest",
                ),
            ]),
            Dependency::Storage => {
                // What needs only the database keeps working.
                expect_status(c.head(&blob_url), 200, "HEAD blob").await;
                expect_status(
                    c.get(&manifest_url).header("accept", OCI_MANIFEST),
                    200,
                    "GET manifest",
                )
                .await;
                expect_status(
                    c.get(cl.berth.url(&format!("/v2/{repo}/tags/list"))),
                    200,
                    "tag list",
                )
                .await;
            }
        }
        let took = futures_util::future::join_all(
            probes
                .into_iter()
                .map(|(req, what)| expect_unavailable(req, what)),
        )
        .await;
        slowest = slowest.max(took.into_iter().max().unwrap_or_default());
        rounds += 1;

        let enough = {
            let log = t.log.lock().unwrap();
            assert!(
                down_at.elapsed() < DEADLINE,
                "the outage did not show within {DEADLINE:?}: {} 503s, errors {:#?}",
                log.unavailable,
                log.errors
            );
            rounds >= 3
                && (how != How::Freeze
                    || down_at.elapsed() > REQUEST_TIMEOUT + Duration::from_secs(5))
                && log.unavailable >= 10
                && (dep == Dependency::Database || log.manifests.iter().any(|(_, p)| *p == DOWN))
        };
        if enough {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let outage_len = down_at.elapsed();

    // Back, without restarting Berth.
    cl.start_again(dep, how);
    let restarted = Instant::now();
    t.log.lock().unwrap().restarted = Some(restarted);
    loop {
        let (status, body) = readyz(&c, &cl.berth).await;
        if status == 200 {
            assert_eq!(body, json!({"database": "ok", "storage": "ok"}));
            break;
        }
        assert!(
            restarted.elapsed() < DEADLINE,
            "/readyz still answers {status} {body} {DEADLINE:?} after the {dep:?} came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready_after = restarted.elapsed();
    t.phase.store(AFTER, Ordering::SeqCst);
    wait_for("traffic after the outage", &t, |l| {
        l.acked[AFTER as usize] >= 30 && l.spanning.is_some()
    })
    .await;
    t.stopping.store(true, Ordering::SeqCst);
    for task in tasks {
        tokio::time::timeout(DEADLINE, task)
            .await
            .expect("a client did not stop")
            .unwrap();
    }
    let traffic_secs = started.elapsed();
    let log = std::mem::take(&mut *t.log.lock().unwrap());
    let first_ack = log
        .first_ack_after_restart
        .map(|i| i.duration_since(restarted));
    let first_503 = log.first_503.map(|i| i.duration_since(down_at));
    eprintln!(
        "{dep:?} {how:?}: {} requests sent; answered ok before/down/after {:?}; 503 during the outage {} {:?}; \
         acknowledged before/down/after {:?}; transport failures during the outage {}; probe rounds {rounds}, \
         slowest probe 503 {slowest:?}; first 503 {first_503:?} after the stop; outage {outage_len:?}; \
         /readyz 200 {ready_after:?} and first acknowledgement {first_ack:?} after the restart; \
         the spanning upload met {} 503s; {traffic_secs:?} so far",
        t.sent.load(Ordering::SeqCst),
        log.ok,
        log.unavailable,
        log.unavailable_by_kind,
        log.acked,
        log.transport.len(),
        log.spanning_503,
    );
    assert!(
        log.errors.is_empty(),
        "{} requests went wrong: {:#?}",
        log.errors.len(),
        log.errors
    );
    assert!(
        log.transport.is_empty(),
        "connections failed during the outage instead of a 503: {:#?}",
        log.transport
    );
    if !log.truncated.is_empty() {
        eprintln!(
            "{dep:?} {how:?}: {} response bodies cut off as the dependency went down",
            log.truncated.len()
        );
    }
    assert!(
        log.spanning_503 > 0,
        "the upload open across the outage never met it"
    );

    verify(&cl, &log).await;

    let server_log = cl.berth.log();
    eprintln!(
        "{dep:?} {how:?}: berth logged {} \"dependency unavailable\" warnings",
        server_log.matches("dependency unavailable").count()
    );
    assert!(
        !server_log.contains("panicked"),
        "berth panicked:\n{server_log}"
    );
    assert!(
        !server_log.contains("internal error"),
        "berth answered 500 during the {dep:?} outage:\n{server_log}"
    );
    let (status, _) = readyz(&c, &cl.berth).await;
    assert_eq!(status, 200);
    eprintln!("{dep:?} {how:?} test done in {:?}", started.elapsed());
}

/// Everything acknowledged reads back; unacknowledged manifests are absent or whole; every
/// visible manifest has all its blobs; every stored object hashes to its name.
async fn verify(cl: &Cluster, log: &Log) {
    let c = http();
    let get = |url: String| {
        c.get(url)
            .header("accept", OCI_MANIFEST)
            .timeout(REQUEST_TIMEOUT)
            .send()
    };
    let acked: BTreeSet<&BlobRec> = log.blobs.iter().map(|(b, _)| b).collect();
    for b in &acked {
        let res = get(cl.berth.url(&format!("/v2/{}/blobs/{}", b.repo, b.digest)))
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "acknowledged blob {} of {}",
            b.digest,
            b.repo
        );
        let body = res.bytes().await.unwrap();
        assert!(
            body == bytes(b.seed, b.len),
            "acknowledged blob {} of {} came back with other bytes",
            b.digest,
            b.repo
        );
    }
    let acked_manifests: BTreeSet<&str> = log
        .manifests
        .iter()
        .map(|(m, _)| m.digest.as_str())
        .collect();
    for (m, _) in &log.manifests {
        for reference in [&m.tag, &m.digest] {
            let res = get(cl
                .berth
                .url(&format!("/v2/{}/manifests/{reference}", m.repo)))
            .await
            .unwrap();
            assert_eq!(
                res.status(),
                200,
                "acknowledged manifest {}:{reference}",
                m.repo
            );
            assert_eq!(header(&res, "docker-content-digest"), m.digest);
            assert!(res.bytes().await.unwrap() == m.body);
        }
    }
    let mut unacked_present = 0;
    for m in log
        .manifests_tried
        .iter()
        .filter(|m| !acked_manifests.contains(m.digest.as_str()))
    {
        let res = get(cl
            .berth
            .url(&format!("/v2/{}/manifests/{}", m.repo, m.digest)))
        .await
        .unwrap();
        match res.status().as_u16() {
            404 => {}
            200 => {
                assert!(res.bytes().await.unwrap() == m.body);
                unacked_present += 1;
            }
            s => panic!("unacknowledged manifest {}: status {s}", m.digest),
        }
    }

    // Every visible manifest, under every tag of every repository, has all its blobs.
    let res = get(cl.berth.url("/v2/_catalog")).await.unwrap();
    assert_eq!(res.status(), 200);
    let catalog: Value = res.json().await.unwrap();
    let mut visible = 0;
    let mut checked_blobs = BTreeSet::new();
    for repo in catalog["repositories"].as_array().unwrap() {
        let repo = repo.as_str().unwrap();
        let res = get(cl.berth.url(&format!("/v2/{repo}/tags/list")))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let tags: Value = res.json().await.unwrap();
        for tag in tags["tags"].as_array().cloned().unwrap_or_default() {
            let tag = tag.as_str().unwrap();
            let res = get(cl.berth.url(&format!("/v2/{repo}/manifests/{tag}")))
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{repo}:{tag} is listed but not served");
            let m: Value = res.json().await.unwrap();
            visible += 1;
            let mut descriptors = vec![m["config"].clone()];
            descriptors.extend(m["layers"].as_array().cloned().unwrap_or_default());
            for d in descriptors {
                let digest = d["digest"].as_str().unwrap().to_owned();
                if !checked_blobs.insert((repo.to_owned(), digest.clone())) {
                    continue;
                }
                let res = get(cl.berth.url(&format!("/v2/{repo}/blobs/{digest}")))
                    .await
                    .unwrap();
                assert_eq!(
                    res.status(),
                    200,
                    "{repo}:{tag} is visible but its blob {digest} is not"
                );
                let body = res.bytes().await.unwrap();
                assert_eq!(sha256(&body), digest, "{repo}:{tag}: blob {digest}");
                assert_eq!(Some(body.len() as u64), d["size"].as_u64());
            }
        }
    }
    assert!(visible >= log.manifests.len());

    // And the bucket holds no blob object that does not hash to its name.
    let peek = Peek::new(&cl.garage.endpoint, BUCKET, PREFIX).await;
    let keys = peek.list("blobs/").await;
    for key in &keys {
        let hex = key.rsplit('/').next().unwrap();
        let content = peek.get(key).await;
        assert_eq!(
            sha256(&content),
            format!("sha256:{hex}"),
            "blob object {key} holds other bytes"
        );
    }
    eprintln!(
        "verified {} acknowledged blobs, {} acknowledged manifests, {unacked_present} \
         unacknowledged manifests that became visible (whole), {visible} visible tags with \
         {} blob links, {} blob objects",
        acked.len(),
        log.manifests.len(),
        checked_blobs.len(),
        keys.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stop_is_503_and_recovers() {
    outage(Dependency::Database, How::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_crash_is_503_and_recovers() {
    outage(Dependency::Database, How::Crash).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_freeze_is_503_and_recovers() {
    outage(Dependency::Database, How::Freeze).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_stop_is_503_and_recovers() {
    outage(Dependency::Storage, How::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_freeze_is_503_and_recovers() {
    outage(Dependency::Storage, How::Freeze).await;
}
