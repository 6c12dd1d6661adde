//! Blob upload sessions over HTTP: single POST, chunked and streamed PATCH, cancel, digest
//! errors, empty blobs, a retried closing PUT after a crash, expiry of abandoned sessions.

use berth_testkit::{code, header, sha256, sha512, Berth, TestApp};
use reqwest::StatusCode;

use crate::BIN;

#[tokio::test]
async fn single_post_upload_and_digest_errors() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let data = b"single request upload";
    let d = sha256(data);
    let r = a
        .post(&format!("/v2/o/r/blobs/uploads/?digest={d}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location"), format!("/v2/o/r/blobs/{d}"));
    assert_eq!(header(&r, "docker-content-digest"), d);
    let got = a
        .get(&header(&r, "location"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), data);

    // Wrong digest: 400 and nothing becomes visible.
    let wrong = sha256(b"other");
    let r = a
        .post(&format!("/v2/o/r/blobs/uploads/?digest={wrong}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    assert_eq!(
        a.head(&format!("/v2/o/r/blobs/{wrong}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // sha512 end to end.
    let d512 = sha512(data);
    let r = a
        .post(&format!("/v2/o/r/blobs/uploads/?digest={d512}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = a
        .get(&format!("/v2/o/r/blobs/{d512}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "docker-content-digest"), d512);
    assert_eq!(r.bytes().await.unwrap().as_ref(), data);

    // ?digest= without a body opens a normal session (202), and the blob is not there yet.
    let r = a
        .post(&format!(
            "/v2/o/r/blobs/uploads/?digest={}",
            sha256(b"later")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        a.get(&format!("/v2/o/r/blobs/{}", sha256(b"later")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    for bad in ["sha256:totallywrong", "sha256:ABC", "md5:abc"] {
        let r = a
            .post(&format!("/v2/o/r/blobs/uploads/?digest={bad}"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(code(r).await, "DIGEST_INVALID");
    }
    let r = a
        .post("/v2/o/r/blobs/uploads/?digest-algorithm=md5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn chunked_upload_with_stale_urls_and_out_of_order_chunks() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let data: Vec<u8> = (0..30_000u32).map(|i| (i % 256) as u8).collect();
    let d = sha256(&data);
    let r = a
        .post("/v2/o/chunks/blobs/uploads/")
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), "0-0");
    assert!(!header(&r, "docker-upload-uuid").is_empty());
    let first = header(&r, "location");
    assert!(first.starts_with("/v2/o/chunks/blobs/uploads/"));

    let patch = |loc: String, from: usize, to: usize| {
        a.patch(&loc)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{from}-{}", to - 1))
            .body(data[from..to].to_vec())
            .send()
    };
    let r = patch(first.clone(), 0, 10_000).await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), "0-9999");
    let second = header(&r, "location");

    // The first URL stays valid: resending chunk 1 is out of order (416), status is 204.
    let r = patch(first.clone(), 0, 10_000).await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(header(&r, "range"), "0-9999");
    assert_eq!(code(r).await, "BLOB_UPLOAD_INVALID");
    let r = a.get(&first).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "range"), "0-9999");
    // A gap is out of order too.
    let r = patch(second.clone(), 10_001, 20_000).await.unwrap();
    assert_eq!(r.status(), 416);
    // A chunk shorter than its Content-Range is refused whole.
    let r = a
        .patch(&second)
        .header("content-range", "10000-19999")
        .body(data[10_000..15_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "SIZE_INVALID");
    assert_eq!(
        header(&a.get(&second).send().await.unwrap(), "range"),
        "0-9999"
    );

    let r = patch(second.clone(), 10_000, 20_000).await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), "0-19999");
    // Final chunk on the closing PUT.
    let r = a
        .put(&format!("{}?digest={d}", header(&r, "location")))
        .header("content-range", "20000-29999")
        .body(data[20_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location"), format!("/v2/o/chunks/blobs/{d}"));
    let got = a
        .get(&header(&r, "location"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), &data[..]);
    // The finished session is gone.
    let r = a.get(&first).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn streamed_patch_cancel_mismatch_and_sha512_sessions() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let data = vec![7u8; 100_000];
    // Streamed PATCH (no Content-Range), then PUT with an empty body.
    let (loc, _) = a.start_upload("o/s").await;
    let r = a.patch(&loc).body(data.clone()).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range"), "0-99999");
    let r = a
        .put(&format!("{loc}?digest={}", sha256(&data)))
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Cancel: 204, then the session is unknown.
    let (loc, _) = a.start_upload("o/s").await;
    a.patch(&loc).body("abc").send().await.unwrap();
    assert_eq!(a.delete(&loc).send().await.unwrap().status(), 204);
    let r = a.patch(&loc).body("def").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(a.delete(&loc).send().await.unwrap().status(), 404);

    // Digest mismatch on the closing PUT: 400, the session ends, nothing visible.
    let (loc, _) = a.start_upload("o/s").await;
    let wrong = sha256(b"not this");
    let r = a
        .put(&format!("{loc}?digest={wrong}"))
        .body("this")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    assert_eq!(a.get(&loc).send().await.unwrap().status(), 404);
    assert_eq!(
        a.head(&format!("/v2/o/s/blobs/{wrong}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Missing digest parameter.
    let (loc, _) = a.start_upload("o/s").await;
    let r = a.put(&loc).body("x").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    // A session belongs to its repository.
    let other = loc.replace("/v2/o/s/", "/v2/o/t/");
    assert_eq!(a.get(&other).send().await.unwrap().status(), 404);
    assert_eq!(
        a.get("/v2/o/s/blobs/uploads/not-a-session")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // sha512 chunked session.
    let r = a
        .post("/v2/o/s/blobs/uploads/?digest-algorithm=sha512")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = header(&r, "location");
    let r = a
        .patch(&loc)
        .header("content-range", "0-4")
        .body("hello")
        .send()
        .await
        .unwrap();
    let loc = header(&r, "location");
    let r = a
        .put(&format!("{loc}?digest={}", sha512(b"hello world")))
        .header("content-range", "5-10")
        .body(" world")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = a
        .get(&format!("/v2/o/s/blobs/{}", sha512(b"hello world")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello world");
}

#[tokio::test]
async fn empty_blobs_and_sessions_without_bytes() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let empty = sha256(b"");
    // A session gets no staging data until bytes arrive: POST, status, and a closing PUT with
    // no body still make the empty blob.
    let (loc, _) = a.start_upload("o/empty").await;
    assert_eq!(staging::count(&app.b).await, 0);
    let r = a.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "range"), "0-0");
    let r = a
        .put(&format!("{loc}?digest={empty}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = a
        .get(&format!("/v2/o/empty/blobs/{empty}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), "0");
    // A closing PUT that names another digest for no bytes is refused, and ends the session.
    let (loc, _) = a.start_upload("o/empty").await;
    let r = a
        .put(&format!("{loc}?digest={}", sha256(b"x")))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, "DIGEST_INVALID");
    let r = a.get(&loc).send().await.unwrap();
    assert_eq!(code(r).await, "BLOB_UPLOAD_UNKNOWN");
    // A monolithic PUT of bytes the store holds already (pushed to another repository): the
    // commit finds the blob in place, drops the staging file and links it here too.
    let data = b"stored once";
    let d = a.push_blob("o/first", data).await;
    let d2 = a.push_blob("o/second", data).await;
    assert_eq!(d, d2);
    let got = a
        .get(&format!("/v2/o/second/blobs/{d}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), data);
    assert_eq!(staging::count(&app.b).await, 0);
}

#[tokio::test]
async fn closing_put_retried_after_a_crash_that_followed_the_rename() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let data = b"renamed before the crash";
    let d = sha256(data);
    let (loc, id) = a.start_upload("o/crash").await;
    a.patch(&loc).body(data.to_vec()).send().await.unwrap();
    // What a crash between the rename and the database write leaves behind.
    staging::commit_behind_the_back(&app.b, &id, data.len(), &d).await;
    let r = a.put(&format!("{loc}?digest={d}")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let got = a
        .get(&format!("/v2/o/crash/blobs/{d}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), data);
    // In the process that saw the bytes, the running hash catches a wrong digest at once.
    let (loc, id) = a.start_upload("o/crash").await;
    a.patch(&loc).body("other bytes").send().await.unwrap();
    let r = a.put(&format!("{loc}?digest={d}")).send().await.unwrap();
    assert_eq!(code(r).await, "DIGEST_INVALID");
    // After a restart (no running hash), a session whose staging data is gone is not completed
    // with an existing blob of another size.
    let (loc, id2) = a.start_upload("o/crash").await;
    a.patch(&loc).body("other bytes").send().await.unwrap();
    let mut app = app;
    assert!(app.b.stop());
    staging::remove(&app.b, &id2, "other bytes".len()).await;
    let app2 = TestApp::on(Berth::start_in(BIN, app.b.data_dir(), &[]));
    let r = app2
        .admin()
        .put(&format!("{loc}?digest={d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UPLOAD_UNKNOWN");
    let _ = id;
}

#[tokio::test]
async fn abandoned_uploads_expire() {
    let app = TestApp::start_env(
        BIN,
        &[
            ("BERTH_UPLOADS__MAX_AGE_SECS", "1"),
            ("BERTH_UPLOADS__CLEANUP_INTERVAL_SECS", "1"),
        ],
    );
    let a = app.admin();
    let (loc, _) = a.start_upload("o/exp").await;
    a.patch(&loc).body("partial").send().await.unwrap();
    assert_eq!(staging::count(&app.b).await, 1);
    // A deadline, not a speed target: on a loaded machine the S3 cleanup can take seconds.
    let mut gone = false;
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if a.get(&loc).send().await.unwrap().status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
    }
    assert!(gone, "session should expire");
    // The session row goes first, then its staging data: wait for the second step too.
    let mut left = staging::count(&app.b).await;
    for _ in 0..300 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = staging::count(&app.b).await;
    }
    assert_eq!(left, 0, "staging data removed");
}

/// A look behind the server's back at its upload staging data, on either blob store.
mod staging {
    use berth_testkit::s3::Peek;
    use berth_testkit::Berth;

    /// Number of upload sessions with staging data.
    pub async fn count(b: &Berth) -> usize {
        match Peek::for_data(b.data_dir()).await {
            Some(p) => {
                let mut ids: Vec<String> = p
                    .list("_uploads/")
                    .await
                    .into_iter()
                    .chain(p.multipart_uploads("_uploads/").await)
                    .filter_map(|k| k.split('/').nth(1).map(str::to_owned))
                    .collect();
                ids.sort();
                ids.dedup();
                ids.len()
            }
            None => std::fs::read_dir(b.data_dir().join("storage/uploads"))
                .unwrap()
                .count(),
        }
    }

    /// Makes the staged bytes of session `id` (`size` bytes, one chunk) the blob `digest`
    /// without ending the session: what a crash right after the commit leaves.
    pub async fn commit_behind_the_back(b: &Berth, id: &str, size: usize, digest: &str) {
        let hex = &digest["sha256:".len()..];
        match Peek::for_data(b.data_dir()).await {
            Some(p) => {
                let tail = format!("_uploads/{id}/tail-{size}");
                p.copy(&tail, &format!("blobs/sha256/{}/{hex}", &hex[..2]))
                    .await;
                p.delete(&tail).await;
            }
            None => {
                let storage = b.data_dir().join("storage");
                let dir = storage.join("blobs/sha256").join(&hex[..2]);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::rename(storage.join("uploads").join(id), dir.join(hex)).unwrap();
            }
        }
    }

    /// Deletes the staged bytes of session `id` (`size` bytes, one chunk).
    pub async fn remove(b: &Berth, id: &str, size: usize) {
        match Peek::for_data(b.data_dir()).await {
            Some(p) => p.delete(&format!("_uploads/{id}/tail-{size}")).await,
            None => std::fs::remove_file(b.data_dir().join("storage/uploads").join(id)).unwrap(),
        }
    }
}
