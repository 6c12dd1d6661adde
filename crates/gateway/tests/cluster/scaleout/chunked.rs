//! (b) A chunked upload is a shared session: its PATCHes land on different replicas (each
//! replica's access log shows PATCHes of that one upload id), the S3 multipart upload behind it
//! holds parts written by different processes, and the closing PUT (wherever it lands) yields
//! an 18 MiB blob that every replica serves byte for byte.

use berth_testkit::nginx::Nginx;
use berth_testkit::pseudo_random as bytes;
use berth_testkit::s3::{Garage, Peek, BUCKET};
use berth_testkit::{header as hdr, http, sha256, Actor, Berth};
use serde_json::Value;

use super::{assert_blob, MIB, PREFIX};
use crate::traffic::with_query;

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

/// (b) one chunked upload through nginx, its PATCHes spread over the replicas. Returns the
/// blob and its digest (in `scale/chunked`).
pub(super) async fn chunked_upload_across_replicas(
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

    let (mut loc, id) = Actor::admin_at(&lb.base).start_upload(repo).await;
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
