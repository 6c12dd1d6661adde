//! The S3 blob store beyond what the shared suite shows: multipart uploads whose chunks do
//! not line up with parts, a session continued by a restarted server (no running hash, the
//! digest is read back), cleanup of abandoned multipart uploads, presigned redirects.

use std::time::Duration;

use berth_testkit::header;
use berth_testkit::pseudo_random as bytes;
use berth_testkit::s3::{Garage, Peek, BUCKET};
use berth_testkit::{http, sha256, Berth};
use serde_json::Value;

use crate::BIN;

const MIB: usize = 1024 * 1024;

fn start(garage: &Garage, prefix: &str, data: &std::path::Path, extra: &[(&str, &str)]) -> Berth {
    let mut env: Vec<(String, String)> = garage.berth_env(prefix);
    env.push(("BERTH_STORAGE__S3__PART_SIZE_MIB".into(), "5".into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Berth::start_in(BIN, data, &env)
}

async fn patch(c: &reqwest::Client, b: &Berth, loc: &str, start: usize, chunk: &[u8]) {
    let r = c
        .patch(b.url(loc))
        .header("content-type", "application/octet-stream")
        .header(
            "content-range",
            format!("{start}-{}", start + chunk.len() - 1),
        )
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    assert_eq!(
        header(&r, "range"),
        format!("0-{}", start + chunk.len() - 1)
    );
}

#[tokio::test]
async fn multipart_sessions_survive_restarts_and_are_verified() {
    let garage = Garage::start();
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut b = start(&garage, "mp", &data_dir, &[]);
    let peek = Peek::new(&garage.endpoint, BUCKET, "mp").await;
    let c = http();

    // 17 MiB in 3 MiB chunks: parts of 6 MiB (two chunks each) and a tail that moves along.
    let blob = bytes(1, 17 * MIB);
    let digest = sha256(&blob);
    let r = c
        .post(b.url("/v2/s3/mp/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = header(&r, "location");
    let id = header(&r, "docker-upload-uuid");
    let chunks: Vec<&[u8]> = blob.chunks(3 * MIB).collect();
    for (i, chunk) in chunks.iter().enumerate().take(4) {
        patch(&c, &b, &loc, i * 3 * MIB, chunk).await;
    }
    // 12 MiB in: two parts are in the open multipart upload, no tail.
    assert_eq!(
        peek.multipart_uploads(&format!("_uploads/{id}/"))
            .await
            .len(),
        1
    );

    // A restart: the next chunks arrive at a process without the running hash.
    assert!(b.stop());
    b = start(&garage, "mp", &data_dir, &[]);
    for (i, chunk) in chunks.iter().enumerate().skip(4) {
        patch(&c, &b, &loc, i * 3 * MIB, chunk).await;
    }
    let staged = peek.list(&format!("_uploads/{id}/")).await;
    assert_eq!(
        staged,
        vec![format!("_uploads/{id}/tail-{}", blob.len())],
        "one tail left"
    );

    // The wrong digest is caught by reading the completed object back: 400, session over.
    let wrong = sha256(b"not these bytes");
    let r = c
        .put(b.url(&format!("{loc}?digest={wrong}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "DIGEST_INVALID");
    let hex = &wrong["sha256:".len()..];
    assert!(peek
        .list(&format!("blobs/sha256/{}/{hex}", &hex[..2]))
        .await
        .is_empty());
    assert!(peek.list(&format!("_uploads/{id}/")).await.is_empty());
    assert!(peek
        .multipart_uploads(&format!("_uploads/{id}/"))
        .await
        .is_empty());

    // The same upload again, closed with the right digest after a restart.
    let r = c
        .post(b.url("/v2/s3/mp/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = header(&r, "location");
    let id = header(&r, "docker-upload-uuid");
    for (i, chunk) in chunks.iter().enumerate() {
        patch(&c, &b, &loc, i * 3 * MIB, chunk).await;
    }
    assert!(b.stop());
    b = start(&garage, "mp", &data_dir, &[]);
    let r = c
        .put(b.url(&format!("{loc}?digest={digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = c
        .get(b.url(&format!("/v2/s3/mp/blobs/{digest}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        got.as_ref() == blob.as_slice(),
        "blob differs after the multipart commit"
    );
    // A client that stops reading for longer than the store's stall grace period (the
    // attempt timeout, 10 s here) still gets the whole blob: a slow consumer is not a stall.
    let mut slow = c
        .get(b.url(&format!("/v2/s3/mp/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    let mut got = slow.chunk().await.unwrap().unwrap().to_vec();
    tokio::time::sleep(Duration::from_secs(12)).await;
    while let Some(c) = slow.chunk().await.unwrap() {
        got.extend_from_slice(&c);
    }
    assert!(got == blob, "a paused download came back different");
    // A range across a part boundary.
    let r = c
        .get(b.url(&format!("/v2/s3/mp/blobs/{digest}")))
        .header("range", format!("bytes={}-{}", 6 * MIB - 10, 6 * MIB + 9))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &blob[6 * MIB - 10..6 * MIB + 10]
    );
    assert!(peek.list(&format!("_uploads/{id}/")).await.is_empty());
    assert!(peek.multipart_uploads("_uploads/").await.is_empty());
    let hex = &digest["sha256:".len()..];
    assert_eq!(
        peek.list("blobs/").await,
        vec![format!("blobs/sha256/{}/{hex}", &hex[..2])]
    );
}

#[tokio::test]
async fn abandoned_multipart_uploads_are_aborted() {
    let garage = Garage::start();
    let tmp = tempfile::tempdir().unwrap();
    let b = start(
        &garage,
        "gc",
        &tmp.path().join("data"),
        &[
            ("BERTH_UPLOADS__MAX_AGE_SECS", "2"),
            ("BERTH_UPLOADS__CLEANUP_INTERVAL_SECS", "1"),
        ],
    );
    let peek = Peek::new(&garage.endpoint, BUCKET, "gc").await;
    let c = http();
    let r = c
        .post(b.url("/v2/s3/gc/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = header(&r, "location");
    let id = header(&r, "docker-upload-uuid");
    // 7 MiB: one part in a multipart upload and a 2 MiB tail, then silence.
    patch(&c, &b, &loc, 0, &bytes(2, 7 * MIB)).await;
    assert_eq!(peek.multipart_uploads("_uploads/").await.len(), 1);
    assert_eq!(peek.list("_uploads/").await.len(), 1);
    // Staging data whose session row never got written (a crash between the two).
    peek.put("_uploads/00000000-orphan/tail-3", b"abc".to_vec())
        .await;

    let mut clean = false;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if peek.multipart_uploads("_uploads/").await.is_empty()
            && peek.list("_uploads/").await.is_empty()
        {
            clean = true;
            break;
        }
    }
    assert!(
        clean,
        "abandoned multipart upload and staging objects should be removed"
    );
    let r = c.get(b.url(&loc)).send().await.unwrap();
    assert_eq!(r.status(), 404, "session {id} expired");
}

#[tokio::test]
async fn blob_gets_redirect_to_presigned_urls_when_enabled() {
    let garage = Garage::start();
    let tmp = tempfile::tempdir().unwrap();
    let b = start(
        &garage,
        "rd",
        &tmp.path().join("data"),
        &[("BERTH_STORAGE__S3__REDIRECT_SECS", "300")],
    );
    let c = http();
    let blob = bytes(3, 300_000);
    let digest = sha256(&blob);
    let r = c
        .post(b.url(&format!("/v2/s3/rd/blobs/uploads/?digest={digest}")))
        .header("content-type", "application/octet-stream")
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .get(b.url(&format!("/v2/s3/rd/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(header(&r, "docker-content-digest"), digest);
    let location = header(&r, "location");
    assert!(location.starts_with(&garage.endpoint), "{location}");
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let got = c.get(&location).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.unwrap().as_ref() == blob.as_slice());
    // HEAD answers from Berth itself; an unknown blob is still a 404 from Berth.
    let r = c
        .head(b.url(&format!("/v2/s3/rd/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), blob.len().to_string());
    let other = sha256(b"absent");
    let r = c
        .get(b.url(&format!("/v2/s3/rd/blobs/{other}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn without_configured_keys_the_standard_aws_credential_chain_is_used() {
    let garage = Garage::start();
    let tmp = tempfile::tempdir().unwrap();
    // No BERTH_STORAGE__S3__*KEY* variables: the key comes from AWS_* as the chain reads it.
    let mut env: Vec<(String, String)> = garage
        .berth_env("chain")
        .into_iter()
        .filter(|(k, _)| !k.contains("ACCESS_KEY"))
        .collect();
    env.push(("AWS_ACCESS_KEY_ID".into(), berth_testkit::s3::KEY_ID.into()));
    env.push((
        "AWS_SECRET_ACCESS_KEY".into(),
        berth_testkit::s3::SECRET.into(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let b = Berth::start_in(BIN, &tmp.path().join("data"), &env);
    let c = http();
    let blob = bytes(4, 100_000);
    let digest = sha256(&blob);
    let r = c
        .post(b.url(&format!("/v2/s3/chain/blobs/uploads/?digest={digest}")))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = c
        .get(b.url(&format!("/v2/s3/chain/blobs/{digest}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == blob.as_slice());
    let peek = Peek::new(&garage.endpoint, BUCKET, "chain").await;
    assert_eq!(
        peek.list("blobs/").await.len(),
        1,
        "the blob is in the bucket"
    );
}
