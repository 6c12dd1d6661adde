//! (c) Writes in flight on the victim itself when it is killed, stalled at known points in the
//! middle of their bodies: afterwards none of them is visible on the survivors, and the chunked
//! upload among them holds exactly its acknowledged chunk and is finished through them.

use std::time::Duration;

use berth_testkit::app::OCI_MANIFEST;
use berth_testkit::nginx::Nginx;
use berth_testkit::s3::{Garage, Peek, BUCKET};
use berth_testkit::{header as hdr, http, Actor, Berth};
use reqwest::{RequestBuilder, Response};

use super::{assert_blob, get, MIB, PREFIX};
use crate::traffic::{with_query, BlobRec, ManifestRec};

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
pub(super) struct Straddle {
    chunked: BlobRec,
    session: String,
    single: BlobRec,
    manifest: ManifestRec,
    stalled: Vec<Stalled>,
}

impl Straddle {
    const FIRST: usize = 3 * MIB;

    pub(super) async fn start(lb: &Nginx, victim: &Berth) -> Straddle {
        let repo = "scale/straddle";
        let c = http();
        let chunked = BlobRec::new(repo, 0x57_4add1e, 8 * MIB);
        let data = chunked.data();
        let (loc, _) = Actor::admin_at(&lb.base).start_upload(repo).await;
        let r = c
            .patch(lb.url(&loc))
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
        let manifest = ManifestRec::image(repo, "stalled", &chunked, &single, None);
        let body = &manifest.body;
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
    pub(super) async fn check(
        self,
        lb: &Nginx,
        replicas: &[Berth],
        victim: usize,
        garage: &Garage,
    ) {
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
