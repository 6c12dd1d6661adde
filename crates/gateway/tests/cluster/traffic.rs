//! The client traffic the outage and scale-out tests drive, and what they check afterwards.
//!
//! Clients push images: blobs (monolithic, single-request or chunked uploads) and manifests
//! over them, recorded as [`BlobRec`] and [`ManifestRec`] (blob bytes are regenerated from a
//! seed, not kept). A [`Ledger`] holds every push tried and every push acknowledged (201), with
//! when it was acknowledged. [`Client`] sends the requests every upload is made of; each test
//! decides what a failed request means for its clients (retry, give up, or an error of the
//! test). Afterwards every acknowledged push must read back byte for byte, an unacknowledged
//! manifest is absent or whole, and every blob object in the bucket hashes to its name.

use std::collections::BTreeSet;
use std::time::Duration;

use berth_testkit::app::OCI_MANIFEST;
use berth_testkit::pseudo_random as bytes;
use berth_testkit::s3::{Garage, Peek, BUCKET};
use berth_testkit::{header, sha256};
use reqwest::{RequestBuilder, Response};
use serde_json::{json, Value};

/// A blob a client pushes to `repo`: the bytes are `pseudo_random(seed, len)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobRec {
    pub repo: String,
    pub digest: String,
    pub seed: u64,
    pub len: usize,
}

impl BlobRec {
    pub fn new(repo: &str, seed: u64, len: usize) -> BlobRec {
        BlobRec {
            repo: repo.to_owned(),
            digest: sha256(&bytes(seed, len)),
            seed,
            len,
        }
    }

    /// The blob's bytes.
    pub fn data(&self) -> Vec<u8> {
        bytes(self.seed, self.len)
    }
}

/// An image manifest a client pushes to `repo:tag`, and the blobs it names.
#[derive(Debug, Clone)]
pub struct ManifestRec {
    pub repo: String,
    pub tag: String,
    pub digest: String,
    pub body: Vec<u8>,
    pub blobs: Vec<BlobRec>,
}

impl ManifestRec {
    /// The OCI image manifest over `config` and one `layer` (with `annotations`, if any), to be
    /// pushed to `repo:tag`.
    pub fn image(
        repo: &str,
        tag: &str,
        config: &BlobRec,
        layer: &BlobRec,
        annotations: Option<Value>,
    ) -> ManifestRec {
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.len},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.len}],
        });
        if let Some(a) = annotations {
            m["annotations"] = a;
        }
        let body = serde_json::to_vec(&m).unwrap();
        ManifestRec {
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            digest: sha256(&body),
            body,
            blobs: vec![config.clone(), layer.clone()],
        }
    }
}

/// `url` with the query parameter `q` added.
pub fn with_query(url: &str, q: &str) -> String {
    if url.contains('?') {
        format!("{url}&{q}")
    } else {
        format!("{url}?{q}")
    }
}

/// What the clients pushed: every push tried, and every push acknowledged with `W`, the stage
/// of the test when the acknowledgement came (an outage phase, before or after a kill).
pub struct Ledger<W> {
    pub blobs_tried: Vec<BlobRec>,
    /// Acknowledged blobs, with the kind of upload.
    pub blobs: Vec<(BlobRec, &'static str, W)>,
    pub manifests_tried: Vec<ManifestRec>,
    pub manifests: Vec<(ManifestRec, W)>,
}

impl<W> Default for Ledger<W> {
    fn default() -> Self {
        Ledger {
            blobs_tried: Vec::new(),
            blobs: Vec::new(),
            manifests_tried: Vec::new(),
            manifests: Vec::new(),
        }
    }
}

impl<W> Ledger<W> {
    pub fn tried_blob(&mut self, rec: &BlobRec) {
        self.blobs_tried.push(rec.clone());
    }

    pub fn acked_blob(&mut self, rec: &BlobRec, kind: &'static str, when: W) {
        self.blobs.push((rec.clone(), kind, when));
    }

    pub fn tried_manifest(&mut self, m: &ManifestRec) {
        self.manifests_tried.push(m.clone());
    }

    pub fn acked_manifest(&mut self, m: &ManifestRec, when: W) {
        self.manifests.push((m.clone(), when));
    }

    /// Every blob acknowledged, once.
    pub fn acked_blobs(&self) -> BTreeSet<&BlobRec> {
        self.blobs.iter().map(|(b, _, _)| b).collect()
    }

    /// Blobs tried and never acknowledged.
    pub fn unacked_blobs(&self) -> BTreeSet<&BlobRec> {
        let acked = self.acked_blobs();
        self.blobs_tried
            .iter()
            .filter(|b| !acked.contains(b))
            .collect()
    }

    /// The digests of the manifests acknowledged.
    pub fn acked_manifest_digests(&self) -> BTreeSet<&str> {
        self.manifests
            .iter()
            .map(|(m, _)| m.digest.as_str())
            .collect()
    }

    /// Manifests tried whose digest was never acknowledged.
    pub fn unacked_manifests(&self) -> Vec<&ManifestRec> {
        let acked = self.acked_manifest_digests();
        self.manifests_tried
            .iter()
            .filter(|m| !acked.contains(m.digest.as_str()))
            .collect()
    }
}

/// A client of the registry (or of a balancer in front of replicas): how it sends a request and
/// what a wrong answer becomes. The provided methods are the requests pushes are made of; each
/// answers the response that acknowledged it, or the client's failure.
pub trait Client {
    /// Why an operation did not go through.
    type Fail;

    /// The HTTP client for the next request.
    fn http(&self) -> reqwest::Client;

    /// `http://host:port` the client talks to.
    fn base(&self) -> &str;

    /// Sends `req` (a request of `kind`, part of the operation `what`); a status in `ok` is
    /// success, anything else the client's failure.
    async fn call(
        &self,
        kind: &'static str,
        what: &str,
        req: RequestBuilder,
        ok: &[u16],
    ) -> Result<Response, Self::Fail>;

    /// An answer that is wrong (not merely failed), `msg` saying how: the client's failure.
    fn broken(&self, msg: String) -> Self::Fail;

    /// `path_or_url` on [`Client::base`] (a URL stays as it is).
    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base())
        }
    }

    /// The `Location` of `res`, as a URL.
    fn location(&self, res: &Response, what: &str) -> Result<String, Self::Fail> {
        match header(res, "location") {
            l if l.is_empty() => Err(self.broken(format!("{what}: no Location"))),
            l => Ok(self.url(&l)),
        }
    }

    /// A 201 names the digest that was pushed.
    fn check_digest(&self, res: &Response, digest: &str, what: &str) -> Result<(), Self::Fail> {
        let got = header(res, "docker-content-digest");
        if got == digest {
            Ok(())
        } else {
            Err(self.broken(format!(
                "{what}: 201 with digest {got:?}, expected {digest}"
            )))
        }
    }

    /// POST of a new upload session in `repo` (202); its URL.
    async fn start_session(&self, repo: &str, what: &str) -> Result<String, Self::Fail> {
        let req = self
            .http()
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/")));
        let res = self.call("POST upload", what, req, &[202]).await?;
        self.location(&res, what)
    }

    /// `rec` in one request: `monolithic` (a new session, then one PUT of every byte) or
    /// `single-post` (one POST with the digest); the 201.
    async fn upload_whole(
        &self,
        rec: &BlobRec,
        kind: &str,
        what: &str,
    ) -> Result<Response, Self::Fail> {
        let data = rec.data();
        if kind == "monolithic" {
            let loc = self.start_session(&rec.repo, what).await?;
            let req = self
                .http()
                .put(self.url(&with_query(&loc, &format!("digest={}", rec.digest))))
                .header("content-type", "application/octet-stream")
                .body(data);
            return self.call("PUT upload", what, req, &[201]).await;
        }
        assert_eq!(kind, "single-post", "an upload in one request");
        let req = self
            .http()
            .post(self.url(&format!(
                "/v2/{}/blobs/uploads/?digest={}",
                rec.repo, rec.digest
            )))
            .header("content-type", "application/octet-stream")
            .body(data);
        self.call("POST upload", what, req, &[201]).await
    }

    /// PATCH of `part` at offset `start` to the session at `loc` (202).
    async fn patch(
        &self,
        loc: &str,
        start: usize,
        part: &[u8],
        what: &str,
    ) -> Result<Response, Self::Fail> {
        let end = start + part.len() - 1;
        let req = self
            .http()
            .patch(self.url(loc))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{start}-{end}"))
            .body(part.to_vec());
        self.call("PATCH upload", what, req, &[202]).await
    }

    /// The closing PUT (no body) of the session at `loc` that uploads `rec` (201).
    async fn close(&self, loc: &str, rec: &BlobRec, what: &str) -> Result<Response, Self::Fail> {
        let req = self
            .http()
            .put(self.url(&with_query(loc, &format!("digest={}", rec.digest))));
        self.call("PUT upload", what, req, &[201]).await
    }

    /// PUT of `m` to `repo:tag` (201).
    async fn push_manifest(&self, m: &ManifestRec, what: &str) -> Result<Response, Self::Fail> {
        let req = self
            .http()
            .put(self.url(&format!("/v2/{}/manifests/{}", m.repo, m.tag)))
            .header("content-type", OCI_MANIFEST)
            .body(m.body.clone());
        self.call("PUT manifest", what, req, &[201]).await
    }
}

/// `GET url` (accepting OCI manifests) within `timeout`, failing the test on a transport
/// error.
pub async fn get(c: &reqwest::Client, url: &str, timeout: Duration) -> Response {
    c.get(url)
        .header("accept", OCI_MANIFEST)
        .timeout(timeout)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// `res` answers a GET of the unacknowledged manifest `m` by digest: absent (404) or whole
/// (200 with the pushed bytes). Whether it is visible.
pub async fn absent_or_whole(res: Response, m: &ManifestRec) -> bool {
    match res.status().as_u16() {
        404 => false,
        200 => {
            assert!(res.bytes().await.unwrap() == m.body);
            true
        }
        s => panic!("unacknowledged manifest {}: status {s}", m.digest),
    }
}

/// Every blob object under `prefix` in the bucket of `garage` hashes to its name; how many
/// there are.
pub async fn blob_objects_hash_to_their_names(garage: &Garage, prefix: &str) -> usize {
    let peek = Peek::new(&garage.endpoint, BUCKET, prefix).await;
    let keys = peek.list("blobs/").await;
    for key in &keys {
        let hex = key.rsplit('/').next().unwrap();
        assert_eq!(
            sha256(&peek.get(key).await),
            format!("sha256:{hex}"),
            "blob object {key} does not hash to its name"
        );
    }
    keys.len()
}
