//! Blobs over HTTP: push, pull, ranges, blob bodies sharing a connection with other responses,
//! cross-repository mounts.

use berth_testkit::{code, header, sha256, TestApp};

use crate::BIN;

#[tokio::test]
async fn blob_push_pull_and_ranges() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let data: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 251) as u8).collect();
    let d = a.push_blob("org/r", &data).await;

    let r = a.get(&format!("/v2/org/r/blobs/{d}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert_eq!(header(&r, "content-length"), "2048");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[..]);

    let r = a
        .head(&format!("/v2/org/r/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), "2048");
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert!(r.bytes().await.unwrap().is_empty());

    for (range, status, want) in [
        ("bytes=500-1499", 206, Some((500usize, 1499usize))),
        ("bytes=500-", 206, Some((500, 2047))),
        ("bytes=-500", 206, Some((1548, 2047))),
        ("bytes=2000-5000", 206, Some((2000, 2047))),
        ("bytes=500-0", 416, None),
        ("bytes=5000-10000", 416, None),
    ] {
        let r = a
            .get(&format!("/v2/org/r/blobs/{d}"))
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{range}");
        match want {
            Some((s, e)) => {
                assert_eq!(
                    header(&r, "content-range"),
                    format!("bytes {s}-{e}/2048"),
                    "{range}"
                );
                assert_eq!(header(&r, "content-length"), (e - s + 1).to_string());
                assert_eq!(r.bytes().await.unwrap().as_ref(), &data[s..=e], "{range}");
            }
            None => assert_eq!(header(&r, "content-range"), "bytes */2048"),
        }
    }

    // Blobs are per repository: stored once, but visible only where linked.
    let r = a
        .get(&format!("/v2/org/other/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UNKNOWN");
    let r = a
        .get(&format!("/v2/org/r/blobs/{}", sha256(b"nope")))
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, "BLOB_UNKNOWN");
    let r = a.get("/v2/org/r/blobs/sha256:xyz").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    let r = a
        .head(&format!("/v2/org/r/blobs/{}", sha256(b"nope")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// One raw HTTP/1.1 response: status, lower-cased headers, body (read by Content-Length).
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn content_length(&self) -> usize {
        self.header("content-length")
            .parse()
            .expect("content-length")
    }
}

/// Reads the next response off a connection; `head` when it answers a HEAD request.
async fn read_response(
    conn: &mut tokio::io::BufReader<tokio::net::TcpStream>,
    head: bool,
) -> RawResponse {
    use tokio::io::AsyncReadExt;
    let mut r = read_head(conn).await;
    if !head {
        r.body = vec![0; r.content_length()];
        conn.read_exact(&mut r.body).await.unwrap();
    }
    r
}

/// Reads the status line and headers of the next response, not its body.
async fn read_head(conn: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> RawResponse {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    conn.read_line(&mut line).await.unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        conn.read_line(&mut line).await.unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let r = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    assert!(r.header("transfer-encoding").is_empty(), "not chunked");
    r
}

/// Blob bodies leave the filesystem store with `sendfile`, between the bytes of other
/// responses on the same connection: pipelined requests (`HEAD` among them), ranges, a slow
/// reader, a client that leaves half-way, and the connection keeps serving afterwards.
#[tokio::test]
async fn blob_bodies_share_connections_with_other_responses() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::start_env(BIN, &[("RUST_LOG", "info,berth::sendfile=debug")]);
    let a = app.admin();
    // Larger than the socket buffers and than what one connection sends per turn.
    let big: Vec<u8> = (0..9_437_185u32).map(|i| (i % 253) as u8).collect();
    let small = b"small blob".to_vec();
    let big_d = a.push_blob("org/raw", &big).await;
    let small_d = a.push_blob("org/raw", &small).await;
    let auth = berth_testkit::basic(berth_testkit::ADMIN_USER, berth_testkit::ADMIN_PASSWORD);
    let host = a.url("").trim_start_matches("http://").to_owned();
    let request = |method: &str, path: &str, extra: &str| {
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n{extra}\r\n")
    };
    let connect = || async {
        tokio::io::BufReader::new(tokio::net::TcpStream::connect(&host).await.unwrap())
    };

    // Six requests in one write; the answers come back whole and in order.
    let mut conn = connect().await;
    let burst = [
        request("GET", &format!("/v2/org/raw/blobs/{big_d}"), ""),
        request("HEAD", &format!("/v2/org/raw/blobs/{big_d}"), ""),
        request("GET", "/v2/", ""),
        request(
            "GET",
            &format!("/v2/org/raw/blobs/{big_d}"),
            "Range: bytes=4194000-5000000\r\n",
        ),
        request("GET", &format!("/v2/org/raw/blobs/{small_d}"), ""),
        request("GET", &format!("/v2/org/raw/blobs/{}", sha256(b"nope")), ""),
    ]
    .concat();
    conn.get_mut().write_all(burst.as_bytes()).await.unwrap();
    let r = read_response(&mut conn, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), big_d);
    assert!(r.body == big, "whole blob intact");
    let r = read_response(&mut conn, true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), "9437185");
    let r = read_response(&mut conn, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"{}");
    let r = read_response(&mut conn, false).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), "bytes 4194000-5000000/9437185");
    assert!(r.body == big[4194000..=5000000], "range intact");
    let r = read_response(&mut conn, false).await;
    assert_eq!(r.body, small);
    let r = read_response(&mut conn, false).await;
    assert_eq!(r.status, 404);
    // HEADs first, with GETs after them in the same write: each HEAD answer is a head with the
    // blob's length and nothing after it, whatever was read behind it.
    let burst = [
        request("HEAD", &format!("/v2/org/raw/blobs/{small_d}"), ""),
        request(
            "HEAD",
            &format!("/v2/org/raw/blobs/{}", sha256(b"nope")),
            "",
        ),
        request("GET", &format!("/v2/org/raw/blobs/{small_d}"), ""),
    ]
    .concat();
    conn.get_mut().write_all(burst.as_bytes()).await.unwrap();
    let r = read_response(&mut conn, true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), small.len().to_string());
    let r = read_response(&mut conn, true).await;
    assert_eq!(r.status, 404);
    let r = read_response(&mut conn, false).await;
    assert_eq!(r.body, small);
    // (A HEAD is never the last request of a burst here: actix-http writes or skips a body by
    // the method of the last request it has read, so an answer still pending when a HEAD is
    // read behind it loses its body, unless it is a blob sent with sendfile.)

    // A reader that takes its time: the server waits for room in the socket.
    conn.get_mut()
        .write_all(request("GET", &format!("/v2/org/raw/blobs/{big_d}"), "").as_bytes())
        .await
        .unwrap();
    let mut r = read_head(&mut conn).await;
    assert_eq!(r.status, 200);
    r.body = vec![0; r.content_length()];
    for piece in r.body.chunks_mut(1 << 20) {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        conn.read_exact(piece).await.unwrap();
    }
    assert!(r.body == big, "slowly read blob intact");

    // A client that leaves half-way does not disturb anyone else.
    let mut gone = connect().await;
    gone.get_mut()
        .write_all(request("GET", &format!("/v2/org/raw/blobs/{big_d}"), "").as_bytes())
        .await
        .unwrap();
    let mut some = vec![0; 200_000];
    gone.read_exact(&mut some).await.unwrap();
    drop(gone);

    // The first connection is still in step, and other clients are served.
    conn.get_mut()
        .write_all(request("GET", &format!("/v2/org/raw/blobs/{small_d}"), "").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut conn, false).await.body, small);
    let r = a
        .get(&format!("/v2/org/raw/blobs/{big_d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.bytes().await.unwrap() == big,
        "blob intact after a client left"
    );
    let log = app.b.log();
    assert!(!log.contains("panicked"), "{log}");
    // On the filesystem store every blob body above went out by sendfile (the one whose
    // client left may or may not have been all handed to the socket); S3 streams.
    let sent = |bytes: usize| {
        log.lines()
            .filter(|l| l.contains("blob sent with sendfile"))
            .filter(|l| l.split_whitespace().any(|w| w == format!("bytes={bytes}")))
            .count()
    };
    if log.contains("storage=\"filesystem\"") {
        assert!(sent(big.len()) >= 3, "{log}");
        assert_eq!(sent(806_001), 1, "{log}");
        assert_eq!(sent(small.len()), 3, "{log}");
    } else {
        assert_eq!(sent(big.len()) + sent(small.len()), 0, "{log}");
    }
}

#[tokio::test]
async fn cross_repository_mount() {
    let app = TestApp::start(BIN);
    let a = app.admin();
    let d = a.push_blob("src/r", b"mount me").await;
    let r = a
        .post(&format!("/v2/dst/r/blobs/uploads/?mount={d}&from=src/r"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location"), format!("/v2/dst/r/blobs/{d}"));
    assert_eq!(header(&r, "docker-content-digest"), d);
    let got = a
        .get(&header(&r, "location"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), b"mount me");

    // Without `from`, or from a repository that lacks it: a normal session (202).
    let r = a
        .post(&format!("/v2/dst/q/blobs/uploads/?mount={d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(header(&r, "location").starts_with("/v2/dst/q/blobs/uploads/"));
    assert_eq!(
        a.head(&format!("/v2/dst/q/blobs/{d}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let missing = sha256(b"absent");
    let r = a
        .post(&format!(
            "/v2/dst/q/blobs/uploads/?mount={missing}&from=src/r"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}
