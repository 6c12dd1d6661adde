//! What the outage looks like to requests that are never retried: `/healthz` stays 200,
//! `/readyz` answers 503 and names the missing dependency (and 200 again once it is back), what
//! needs the dependency is a timely 503 with OCI error JSON and `Retry-After`, and what does not
//! need it (HEAD of a blob, a manifest, the tag list while S3 is down) keeps working.

use std::time::{Duration, Instant};

use berth_testkit::app::OCI_MANIFEST;
use berth_testkit::{http, sha256, Berth};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use super::clients::Traffic;
use super::cluster::{Cluster, Dependency, How};
use super::{DEADLINE, DOWN, REQUEST_TIMEOUT};

/// Checks that `res` is a proper "dependency unavailable" answer: 503, `Retry-After`, and (for
/// anything but HEAD) `{"errors":[{"code":"UNAVAILABLE",…}]}`.
pub(super) async fn check_unavailable(res: Response, head: bool) -> Result<(), String> {
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

/// `/readyz`: (status, body).
pub(super) async fn readyz(c: &reqwest::Client, b: &Berth) -> (u16, Value) {
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

/// Rounds of probes from the moment `dep` went away (`down_at`) until the outage has been seen
/// long enough: at least three rounds, past a client's timeout when frozen, ten 503s met by the
/// clients and (S3 down) a manifest acknowledged meanwhile. Returns the rounds and the slowest
/// 503.
pub(super) async fn probe_the_outage(
    c: &reqwest::Client,
    cl: &Cluster,
    t: &Traffic,
    dep: Dependency,
    how: How,
    down_at: Instant,
) -> (usize, Duration) {
    let repo = "outage/p0";
    let (some_blob, some_manifest) = {
        let log = t.log.lock().unwrap();
        let b = log
            .pushes
            .blobs
            .iter()
            .find(|(b, _, _)| b.repo == repo)
            .unwrap()
            .0
            .clone();
        let m = log
            .pushes
            .manifests
            .iter()
            .find(|(m, _)| m.repo == repo)
            .unwrap()
            .0
            .clone();
        (b, m)
    };
    // A signal or a stop takes a moment to reach the dependency: a request that was already
    // being answered may still succeed. Wait (bounded) until /readyz first names the outage;
    // from then on, every round must.
    let settle = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = readyz(c, &cl.berth).await;
        if status == 503 {
            break;
        }
        assert!(
            Instant::now() < settle,
            "/readyz still reports {body} 10 s into the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut rounds = 0;
    let mut slowest = Duration::ZERO;
    loop {
        // The process is up, and says what is missing.
        expect_status(c.get(cl.berth.url("/healthz")), 200, "/healthz").await;
        let (status, body) = readyz(c, &cl.berth).await;
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
                && (dep == Dependency::Database
                    || log.pushes.manifests.iter().any(|(_, p)| *p == DOWN))
        };
        if enough {
            return (rounds, slowest);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `/readyz` after `dep` was started again (at `restarted`) until it answers 200 with
/// both dependencies ok.
pub(super) async fn wait_ready_again(
    c: &reqwest::Client,
    b: &Berth,
    dep: Dependency,
    restarted: Instant,
) {
    loop {
        let (status, body) = readyz(c, b).await;
        if status == 200 {
            assert_eq!(body, json!({"database": "ok", "storage": "ok"}));
            return;
        }
        assert!(
            restarted.elapsed() < DEADLINE,
            "/readyz still answers {status} {body} {DEADLINE:?} after the {dep:?} came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
