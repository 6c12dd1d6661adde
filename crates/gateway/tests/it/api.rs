//! The distribution API over HTTP: every endpoint and its error cases, against the real binary.

use berth_testkit::{http, sha256, sha512, Berth};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::BIN;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A test actor: one server, one HTTP client.
pub struct Api {
    pub b: Berth,
    pub c: reqwest::Client,
}

impl Api {
    pub fn start() -> Api {
        Self::with_env(&[])
    }

    pub fn with_env(env: &[(&str, &str)]) -> Api {
        Api {
            b: Berth::start_env(BIN, env),
            c: http(),
        }
    }

    pub fn url(&self, p: &str) -> String {
        self.b.url(p)
    }

    /// Monolithic POST + PUT; returns the digest.
    /// POST of a new upload session in `repo`: its `Location` and id.
    pub async fn start_upload(&self, repo: &str) -> (String, String) {
        let r = self
            .c
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        (h(&r, "location"), h(&r, "docker-upload-uuid"))
    }

    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = sha256(data);
        let (loc, _) = self.start_upload(repo).await;
        let r = self
            .c
            .put(self.url(&format!("{loc}?digest={d}")))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        d
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Response {
        self.c
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes config + one layer and an image manifest tagged `tag`; returns (manifest bytes, digest).
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (Vec<u8>, String) {
        let body = self.image_manifest(repo, seed, None, None).await;
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let d = sha256(&body);
        (body, d)
    }

    /// Uploads config and layer for `seed` and returns manifest bytes (not pushed).
    pub async fn image_manifest(
        &self,
        repo: &str,
        seed: &str,
        artifact_type: Option<&str>,
        subject: Option<(&str, usize)>,
    ) -> Vec<u8> {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
        let layer = format!("layer of {seed}");
        let cd = self.push_blob(repo, config.as_bytes()).await;
        let ld = self.push_blob(repo, layer.as_bytes()).await;
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
            "annotations": {"seed": seed},
        });
        if let Some(t) = artifact_type {
            m["artifactType"] = json!(t);
        }
        if let Some((d, size)) = subject {
            m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size});
        }
        serde_json::to_vec(&m).unwrap()
    }
}

/// The first error code of an OCI error body (asserting it is one).
pub async fn code(r: Response) -> String {
    let status = r.status();
    let text = r.text().await.unwrap();
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"));
    v["errors"][0]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {text}"))
        .to_owned()
}

fn h(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn base_health_and_framework_errors() {
    let a = Api::start();
    let r = a.c.get(a.url("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h(&r, "docker-distribution-api-version"), "registry/2.0");
    assert_eq!(
        a.c.get(a.url("/healthz")).send().await.unwrap().status(),
        200
    );
    let r = a.c.get(a.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"database": "ok", "storage": "ok"})
    );
    // The container healthcheck: `berth probe` exits 0 on a 2xx answer only.
    let probe = |path: &str| {
        std::process::Command::new(BIN)
            .args(["probe", &a.url(path)])
            .output()
            .unwrap()
    };
    assert!(probe("/readyz").status.success());
    let out = probe("/nothing");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered 404"));

    let r = a.c.get(a.url("/v2/a/nothing/here")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "UNSUPPORTED");
    let r = a.c.get(a.url("/elsewhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "UNSUPPORTED");
    let r = a.c.post(a.url("/v2/a/manifests/v1")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(h(&r, "allow"), "GET, HEAD, PUT, DELETE");
    assert_eq!(code(r).await, "UNSUPPORTED");
    let r =
        a.c.get(a.url("/v2/Bad_Name/tags/list"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "NAME_INVALID");
}

#[tokio::test]
async fn blob_push_pull_and_ranges() {
    let a = Api::start();
    let data: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 251) as u8).collect();
    let d = a.push_blob("org/r", &data).await;

    let r =
        a.c.get(a.url(&format!("/v2/org/r/blobs/{d}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h(&r, "docker-content-digest"), d);
    assert_eq!(h(&r, "content-length"), "2048");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[..]);

    let r =
        a.c.head(a.url(&format!("/v2/org/r/blobs/{d}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h(&r, "content-length"), "2048");
    assert_eq!(h(&r, "docker-content-digest"), d);
    assert!(r.bytes().await.unwrap().is_empty());

    for (range, status, want) in [
        ("bytes=500-1499", 206, Some((500usize, 1499usize))),
        ("bytes=500-", 206, Some((500, 2047))),
        ("bytes=-500", 206, Some((1548, 2047))),
        ("bytes=2000-5000", 206, Some((2000, 2047))),
        ("bytes=500-0", 416, None),
        ("bytes=5000-10000", 416, None),
    ] {
        let r =
            a.c.get(a.url(&format!("/v2/org/r/blobs/{d}")))
                .header("range", range)
                .send()
                .await
                .unwrap();
        assert_eq!(r.status().as_u16(), status, "{range}");
        match want {
            Some((s, e)) => {
                assert_eq!(
                    h(&r, "content-range"),
                    format!("bytes {s}-{e}/2048"),
                    "{range}"
                );
                assert_eq!(h(&r, "content-length"), (e - s + 1).to_string());
                assert_eq!(r.bytes().await.unwrap().as_ref(), &data[s..=e], "{range}");
            }
            None => assert_eq!(h(&r, "content-range"), "bytes */2048"),
        }
    }

    // Blobs are per repository: stored once, but visible only where linked.
    let r =
        a.c.get(a.url(&format!("/v2/org/other/blobs/{d}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UNKNOWN");
    let r =
        a.c.get(a.url(&format!("/v2/org/r/blobs/{}", sha256(b"nope"))))
            .send()
            .await
            .unwrap();
    assert_eq!(code(r).await, "BLOB_UNKNOWN");
    let r =
        a.c.get(a.url("/v2/org/r/blobs/sha256:xyz"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    let r =
        a.c.head(a.url(&format!("/v2/org/r/blobs/{}", sha256(b"nope"))))
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

    let a = Api::with_env(&[("RUST_LOG", "info,berth::sendfile=debug")]);
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
    let r =
        a.c.get(a.url(&format!("/v2/org/raw/blobs/{big_d}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.bytes().await.unwrap() == big,
        "blob intact after a client left"
    );
    let log = a.b.log();
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
async fn single_post_upload_and_digest_errors() {
    let a = Api::start();
    let data = b"single request upload";
    let d = sha256(data);
    let r =
        a.c.post(a.url(&format!("/v2/o/r/blobs/uploads/?digest={d}")))
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(h(&r, "location"), format!("/v2/o/r/blobs/{d}"));
    assert_eq!(h(&r, "docker-content-digest"), d);
    let got =
        a.c.get(a.url(&h(&r, "location")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    assert_eq!(got.as_ref(), data);

    // Wrong digest: 400 and nothing becomes visible.
    let wrong = sha256(b"other");
    let r =
        a.c.post(a.url(&format!("/v2/o/r/blobs/uploads/?digest={wrong}")))
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    assert_eq!(
        a.c.head(a.url(&format!("/v2/o/r/blobs/{wrong}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // sha512 end to end.
    let d512 = sha512(data);
    let r =
        a.c.post(a.url(&format!("/v2/o/r/blobs/uploads/?digest={d512}")))
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    let r =
        a.c.get(a.url(&format!("/v2/o/r/blobs/{d512}")))
            .send()
            .await
            .unwrap();
    assert_eq!(h(&r, "docker-content-digest"), d512);
    assert_eq!(r.bytes().await.unwrap().as_ref(), data);

    // ?digest= without a body opens a normal session (202), and the blob is not there yet.
    let r =
        a.c.post(a.url(&format!(
            "/v2/o/r/blobs/uploads/?digest={}",
            sha256(b"later")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        a.c.get(a.url(&format!("/v2/o/r/blobs/{}", sha256(b"later"))))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    for bad in ["sha256:totallywrong", "sha256:ABC", "md5:abc"] {
        let r =
            a.c.post(a.url(&format!("/v2/o/r/blobs/uploads/?digest={bad}")))
                .body("x")
                .send()
                .await
                .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(code(r).await, "DIGEST_INVALID");
    }
    let r =
        a.c.post(a.url("/v2/o/r/blobs/uploads/?digest-algorithm=md5"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn chunked_upload_with_stale_urls_and_out_of_order_chunks() {
    let a = Api::start();
    let data: Vec<u8> = (0..30_000u32).map(|i| (i % 256) as u8).collect();
    let d = sha256(&data);
    let r =
        a.c.post(a.url("/v2/o/chunks/blobs/uploads/"))
            .header("content-length", "0")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(h(&r, "range"), "0-0");
    assert!(!h(&r, "docker-upload-uuid").is_empty());
    let first = h(&r, "location");
    assert!(first.starts_with("/v2/o/chunks/blobs/uploads/"));

    let patch = |loc: String, from: usize, to: usize| {
        a.c.patch(a.url(&loc))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{from}-{}", to - 1))
            .body(data[from..to].to_vec())
            .send()
    };
    let r = patch(first.clone(), 0, 10_000).await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(h(&r, "range"), "0-9999");
    let second = h(&r, "location");

    // The first URL stays valid: resending chunk 1 is out of order (416), status is 204.
    let r = patch(first.clone(), 0, 10_000).await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(h(&r, "range"), "0-9999");
    assert_eq!(code(r).await, "BLOB_UPLOAD_INVALID");
    let r = a.c.get(a.url(&first)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(h(&r, "range"), "0-9999");
    // A gap is out of order too.
    let r = patch(second.clone(), 10_001, 20_000).await.unwrap();
    assert_eq!(r.status(), 416);
    // A chunk shorter than its Content-Range is refused whole.
    let r =
        a.c.patch(a.url(&second))
            .header("content-range", "10000-19999")
            .body(data[10_000..15_000].to_vec())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "SIZE_INVALID");
    assert_eq!(
        h(&a.c.get(a.url(&second)).send().await.unwrap(), "range"),
        "0-9999"
    );

    let r = patch(second.clone(), 10_000, 20_000).await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(h(&r, "range"), "0-19999");
    // Final chunk on the closing PUT.
    let r =
        a.c.put(a.url(&format!("{}?digest={d}", h(&r, "location"))))
            .header("content-range", "20000-29999")
            .body(data[20_000..].to_vec())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(h(&r, "location"), format!("/v2/o/chunks/blobs/{d}"));
    let got =
        a.c.get(a.url(&h(&r, "location")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    assert_eq!(got.as_ref(), &data[..]);
    // The finished session is gone.
    let r = a.c.get(a.url(&first)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn streamed_patch_cancel_mismatch_and_sha512_sessions() {
    let a = Api::start();
    let data = vec![7u8; 100_000];
    // Streamed PATCH (no Content-Range), then PUT with an empty body.
    let (loc, _) = a.start_upload("o/s").await;
    let r =
        a.c.patch(a.url(&loc))
            .body(data.clone())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(h(&r, "range"), "0-99999");
    let r =
        a.c.put(a.url(&format!("{loc}?digest={}", sha256(&data))))
            .header("content-length", "0")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);

    // Cancel: 204, then the session is unknown.
    let (loc, _) = a.start_upload("o/s").await;
    a.c.patch(a.url(&loc)).body("abc").send().await.unwrap();
    assert_eq!(a.c.delete(a.url(&loc)).send().await.unwrap().status(), 204);
    let r = a.c.patch(a.url(&loc)).body("def").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(a.c.delete(a.url(&loc)).send().await.unwrap().status(), 404);

    // Digest mismatch on the closing PUT: 400, the session ends, nothing visible.
    let (loc, _) = a.start_upload("o/s").await;
    let wrong = sha256(b"not this");
    let r =
        a.c.put(a.url(&format!("{loc}?digest={wrong}")))
            .body("this")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    assert_eq!(a.c.get(a.url(&loc)).send().await.unwrap().status(), 404);
    assert_eq!(
        a.c.head(a.url(&format!("/v2/o/s/blobs/{wrong}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Missing digest parameter.
    let (loc, _) = a.start_upload("o/s").await;
    let r = a.c.put(a.url(&loc)).body("x").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    // A session belongs to its repository.
    let other = loc.replace("/v2/o/s/", "/v2/o/t/");
    assert_eq!(a.c.get(a.url(&other)).send().await.unwrap().status(), 404);
    assert_eq!(
        a.c.get(a.url("/v2/o/s/blobs/uploads/not-a-session"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // sha512 chunked session.
    let r =
        a.c.post(a.url("/v2/o/s/blobs/uploads/?digest-algorithm=sha512"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 202);
    let loc = h(&r, "location");
    let r =
        a.c.patch(a.url(&loc))
            .header("content-range", "0-4")
            .body("hello")
            .send()
            .await
            .unwrap();
    let loc = h(&r, "location");
    let r =
        a.c.put(a.url(&format!("{loc}?digest={}", sha512(b"hello world"))))
            .header("content-range", "5-10")
            .body(" world")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    let r =
        a.c.get(a.url(&format!("/v2/o/s/blobs/{}", sha512(b"hello world"))))
            .send()
            .await
            .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello world");
}

#[tokio::test]
async fn empty_blobs_and_sessions_without_bytes() {
    let a = Api::start();
    let empty = sha256(b"");
    // A session gets no staging data until bytes arrive: POST, status, and a closing PUT with
    // no body still make the empty blob.
    let (loc, _) = a.start_upload("o/empty").await;
    assert_eq!(staging::count(&a.b).await, 0);
    let r = a.c.get(a.url(&loc)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(h(&r, "range"), "0-0");
    let r =
        a.c.put(a.url(&format!("{loc}?digest={empty}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    let r =
        a.c.get(a.url(&format!("/v2/o/empty/blobs/{empty}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h(&r, "content-length"), "0");
    // A closing PUT that names another digest for no bytes is refused, and ends the session.
    let (loc, _) = a.start_upload("o/empty").await;
    let r =
        a.c.put(a.url(&format!("{loc}?digest={}", sha256(b"x"))))
            .send()
            .await
            .unwrap();
    assert_eq!(code(r).await, "DIGEST_INVALID");
    let r = a.c.get(a.url(&loc)).send().await.unwrap();
    assert_eq!(code(r).await, "BLOB_UPLOAD_UNKNOWN");
    // A monolithic PUT of bytes the store holds already (pushed to another repository): the
    // commit finds the blob in place, drops the staging file and links it here too.
    let data = b"stored once";
    let d = a.push_blob("o/first", data).await;
    let d2 = a.push_blob("o/second", data).await;
    assert_eq!(d, d2);
    let got =
        a.c.get(a.url(&format!("/v2/o/second/blobs/{d}")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    assert_eq!(got.as_ref(), data);
    assert_eq!(staging::count(&a.b).await, 0);
}

#[tokio::test]
async fn closing_put_retried_after_a_crash_that_followed_the_rename() {
    let a = Api::start();
    let data = b"renamed before the crash";
    let d = sha256(data);
    let (loc, id) = a.start_upload("o/crash").await;
    a.c.patch(a.url(&loc))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    // What a crash between the rename and the database write leaves behind.
    staging::commit_behind_the_back(&a.b, &id, data.len(), &d).await;
    let r =
        a.c.put(a.url(&format!("{loc}?digest={d}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    let got =
        a.c.get(a.url(&format!("/v2/o/crash/blobs/{d}")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    assert_eq!(got.as_ref(), data);
    // In the process that saw the bytes, the running hash catches a wrong digest at once.
    let (loc, id) = a.start_upload("o/crash").await;
    a.c.patch(a.url(&loc))
        .body("other bytes")
        .send()
        .await
        .unwrap();
    let r =
        a.c.put(a.url(&format!("{loc}?digest={d}")))
            .send()
            .await
            .unwrap();
    assert_eq!(code(r).await, "DIGEST_INVALID");
    // After a restart (no running hash), a session whose staging data is gone is not completed
    // with an existing blob of another size.
    let (loc, id2) = a.start_upload("o/crash").await;
    a.c.patch(a.url(&loc))
        .body("other bytes")
        .send()
        .await
        .unwrap();
    let mut a = a;
    assert!(a.b.stop());
    staging::remove(&a.b, &id2, "other bytes".len()).await;
    let b2 = Berth::start_in(BIN, a.b.data_dir(), &[]);
    let r =
        a.c.put(b2.url(&format!("{loc}?digest={d}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UPLOAD_UNKNOWN");
    let _ = id;
}

#[tokio::test]
async fn cross_repository_mount() {
    let a = Api::start();
    let d = a.push_blob("src/r", b"mount me").await;
    let r =
        a.c.post(a.url(&format!("/v2/dst/r/blobs/uploads/?mount={d}&from=src/r")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(h(&r, "location"), format!("/v2/dst/r/blobs/{d}"));
    assert_eq!(h(&r, "docker-content-digest"), d);
    let got =
        a.c.get(a.url(&h(&r, "location")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    assert_eq!(got.as_ref(), b"mount me");

    // Without `from`, or from a repository that lacks it: a normal session (202).
    let r =
        a.c.post(a.url(&format!("/v2/dst/q/blobs/uploads/?mount={d}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 202);
    assert!(h(&r, "location").starts_with("/v2/dst/q/blobs/uploads/"));
    assert_eq!(
        a.c.head(a.url(&format!("/v2/dst/q/blobs/{d}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let missing = sha256(b"absent");
    let r =
        a.c.post(a.url(&format!(
            "/v2/dst/q/blobs/uploads/?mount={missing}&from=src/r"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn manifest_put_get_head_and_validation() {
    let a = Api::start();
    let (body, d) = a.push_image("o/app", "v1", "one").await;

    let r =
        a.c.get(a.url("/v2/o/app/manifests/v1"))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h(&r, "content-type"), OCI_MANIFEST);
    assert_eq!(h(&r, "docker-content-digest"), d);
    assert_eq!(h(&r, "content-length"), body.len().to_string());
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..]);
    let r =
        a.c.head(a.url(&format!("/v2/o/app/manifests/{d}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h(&r, "content-length"), body.len().to_string());
    assert_eq!(h(&r, "content-type"), OCI_MANIFEST);
    assert!(r.bytes().await.unwrap().is_empty());

    // PUT by digest: Location and digest; a mismatching digest is refused.
    let body2 = a.image_manifest("o/app", "two", None, None).await;
    let d2 = sha256(&body2);
    let r = a.put_manifest("o/app", &d2, OCI_MANIFEST, &body2).await;
    assert_eq!(r.status(), 201);
    assert_eq!(h(&r, "location"), format!("/v2/o/app/manifests/{d2}"));
    assert_eq!(h(&r, "docker-content-digest"), d2);
    let r = a.put_manifest("o/app", &d, OCI_MANIFEST, &body2).await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    let r = a
        .put_manifest("o/app", "sha256:baddigeststring", OCI_MANIFEST, &body2)
        .await;
    assert_eq!(r.status(), 400);

    // Invalid bodies.
    for (ct, bad) in [
        (OCI_MANIFEST, "not json".to_string()),
        (
            OCI_MANIFEST,
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#
                .to_string(),
        ),
        (DOCKER_MANIFEST, String::from_utf8(body.clone()).unwrap()),
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            r#"{"schemaVersion":1}"#.to_string(),
        ),
    ] {
        let r = a.put_manifest("o/app", "bad", ct, bad.as_bytes()).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(code(r).await, "MANIFEST_INVALID", "{bad}");
    }
    // Missing blobs: one error per digest.
    let ghost = sha256(b"ghost layer");
    let ghost_cfg = sha256(b"ghost config");
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ghost_cfg, "size": 12},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ghost, "size": 11}]});
    let r = a
        .put_manifest("o/app", "ghost", OCI_MANIFEST, m.to_string().as_bytes())
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let codes: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec!["MANIFEST_BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"]
    );
    // Non-distributable layers with urls need not be pushed; layers may be empty.
    let cfg = a.push_blob("o/app", b"{}").await;
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "digest": ghost, "size": 11, "urls": ["https://example.com/l"]}]});
    assert_eq!(
        a.put_manifest("o/app", "foreign", OCI_MANIFEST, m.to_string().as_bytes())
            .await
            .status(),
        201
    );
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x.empty",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2}, "layers": []});
    assert_eq!(
        a.put_manifest("o/app", "nolayers", OCI_MANIFEST, m.to_string().as_bytes())
            .await
            .status(),
        201
    );

    // Unknown references: invalid tag 404, invalid digest 400, unknown repository NAME_UNKNOWN.
    let r =
        a.c.get(a.url("/v2/o/app/manifests/.INVALID_MANIFEST_NAME"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    let r =
        a.c.head(a.url("/v2/o/app/manifests/.INVALID_MANIFEST_NAME"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    let r =
        a.c.get(a.url("/v2/o/app/manifests/sha256:totallywrong"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "DIGEST_INVALID");
    let r =
        a.c.get(a.url("/v2/o/app/manifests/nope"))
            .send()
            .await
            .unwrap();
    assert_eq!(code(r).await, "MANIFEST_UNKNOWN");
    let r =
        a.c.get(a.url("/v2/o/none/manifests/v1"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "NAME_UNKNOWN");
    let r = a
        .put_manifest("o/app", "bad:tag", OCI_MANIFEST, &body)
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn manifest_size_limit_tags_param_and_subject() {
    let a = Api::start();
    let cfg = a.push_blob("o/big", b"{}").await;
    // ~3.9 MB of annotations is accepted (clients expect at least 4 MB) …
    let mut ann = serde_json::Map::new();
    for i in 0..390 {
        ann.insert(format!("a{i}"), json!("x".repeat(10_000)));
    }
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
        "layers": [], "annotations": ann});
    let body = m.to_string();
    assert!(body.len() > 3_900_000);
    let r = a
        .put_manifest("o/big", "large", OCI_MANIFEST, body.as_bytes())
        .await;
    assert_eq!(r.status(), 201);
    let got =
        a.c.get(a.url("/v2/o/big/manifests/large"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    assert_eq!(got.as_ref(), body.as_bytes());
    // … more than the limit is 413.
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let r = a.put_manifest("o/big", "huge", OCI_MANIFEST, &huge).await;
    assert_eq!(r.status(), 413);

    // ?tag= parameters and OCI-Tag.
    let small = a.image_manifest("o/big", "tags", None, None).await;
    let d = sha256(&small);
    let r =
        a.c.put(a.url(&format!("/v2/o/big/manifests/{d}?tag=t1&tag=t2&tag=t3")))
            .header("content-type", OCI_MANIFEST)
            .body(small.clone())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(h(&r, "oci-tag"), "t1, t2, t3");
    for t in ["t1", "t2", "t3"] {
        let r =
            a.c.head(a.url(&format!("/v2/o/big/manifests/{t}")))
                .send()
                .await
                .unwrap();
        assert_eq!(h(&r, "docker-content-digest"), d);
    }

    // A subject that does not exist is accepted and echoed in OCI-Subject (manifest and index).
    let absent = sha256(b"no such subject");
    let referrer = a
        .image_manifest(
            "o/big",
            "sig",
            Some("application/x.sig"),
            Some((&absent, 100)),
        )
        .await;
    let r = a
        .put_manifest("o/big", &sha256(&referrer), OCI_MANIFEST, &referrer)
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(h(&r, "oci-subject"), absent);
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": absent, "size": 100}});
    let r = a
        .put_manifest("o/big", "idx", OCI_INDEX, idx.to_string().as_bytes())
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(h(&r, "oci-subject"), absent);
}

#[tokio::test]
async fn index_children_and_accept_negotiation() {
    let a = Api::start();
    let (amd, amd_d) = a.push_image("o/multi", "amd", "amd64").await;
    let (arm, arm_d) = a.push_image("o/multi", "arm", "arm64").await;
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": arm_d, "size": arm.len(), "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": OCI_MANIFEST, "digest": amd_d, "size": amd.len(), "platform": {"os": "linux", "architecture": "amd64"}},
    ]})
    .to_string();
    assert_eq!(
        a.put_manifest("o/multi", "latest", OCI_INDEX, idx.as_bytes())
            .await
            .status(),
        201
    );
    // Children must exist.
    let bad = idx.replace(&arm_d, &sha256(b"missing child"));
    let r = a
        .put_manifest("o/multi", "bad", OCI_INDEX, bad.as_bytes())
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "MANIFEST_BLOB_UNKNOWN");

    let get = |accept: &'static str| {
        a.c.get(a.url("/v2/o/multi/manifests/latest"))
            .header("accept", accept)
            .send()
    };
    let r =
        get("application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
            .await
            .unwrap();
    assert_eq!(h(&r, "content-type"), OCI_INDEX);
    assert_eq!(r.bytes().await.unwrap().as_ref(), idx.as_bytes());
    // A client that takes only image manifests gets the default platform's.
    let r = get(OCI_MANIFEST).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h(&r, "docker-content-digest"), amd_d);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &amd[..]);
    // A client that takes only Docker types cannot be served an OCI manifest.
    let r = get(DOCKER_MANIFEST).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "MANIFEST_UNKNOWN");
    let r =
        a.c.get(a.url("/v2/o/multi/manifests/amd"))
            .header("accept", DOCKER_MANIFEST)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    // No Accept at all: as stored.
    let r =
        a.c.get(a.url("/v2/o/multi/manifests/latest"))
            .send()
            .await
            .unwrap();
    assert_eq!(h(&r, "content-type"), OCI_INDEX);
}

#[tokio::test]
async fn tag_list_and_catalog_pagination() {
    let a = Api::start_with_small_pages();
    let (body, _) = a.push_image("p/r", "seed", "p").await;
    for t in ["b", "A", "a", "c", "B", "_z", "1.0", "1.0-rc"] {
        assert_eq!(
            a.put_manifest("p/r", t, OCI_MANIFEST, &body).await.status(),
            201
        );
    }
    let all: Vec<String> = ["1.0", "1.0-rc", "A", "B", "_z", "a", "b", "c", "seed"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let tags = |v: Value| -> Vec<String> {
        v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    };

    let r =
        a.c.get(a.url("/v2/p/r/tags/list?n=100"))
            .send()
            .await
            .unwrap();
    assert!(
        r.headers().get("link").is_some(),
        "n is capped at the page size (5), so a Link follows"
    );
    let r =
        a.c.get(a.url("/v2/p/r/tags/list?n=4"))
            .send()
            .await
            .unwrap();
    assert_eq!(
        h(&r, "link"),
        "</v2/p/r/tags/list?n=4&last=B>; rel=\"next\""
    );
    assert_eq!(tags(r.json().await.unwrap()), all[..4]);
    let r =
        a.c.get(a.url("/v2/p/r/tags/list?n=4&last=B"))
            .send()
            .await
            .unwrap();
    assert_eq!(tags(r.json().await.unwrap()), all[4..8]);
    let r =
        a.c.get(a.url("/v2/p/r/tags/list?last=b"))
            .send()
            .await
            .unwrap();
    assert!(r.headers().get("link").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "p/r");
    assert_eq!(tags(v), all[7..]);
    let r =
        a.c.get(a.url("/v2/p/r/tags/list?n=0"))
            .send()
            .await
            .unwrap();
    assert!(r.headers().get("link").is_none());
    assert_eq!(tags(r.json().await.unwrap()), Vec::<String>::new());
    let r =
        a.c.get(a.url("/v2/p/r/tags/list?n=x"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    let r = a.c.get(a.url("/v2/p/none/tags/list")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "NAME_UNKNOWN");

    for r in ["p/s", "q/a", "p/a"] {
        a.push_blob(r, b"x").await;
    }
    let repos = |v: Value| -> Vec<String> {
        v["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    };
    let r = a.c.get(a.url("/v2/_catalog?n=2")).send().await.unwrap();
    assert_eq!(h(&r, "link"), "</v2/_catalog?n=2&last=p%2Fr>; rel=\"next\"");
    assert_eq!(repos(r.json().await.unwrap()), vec!["p/a", "p/r"]);
    let r =
        a.c.get(a.url("/v2/_catalog?n=2&last=p%2Fr"))
            .send()
            .await
            .unwrap();
    assert!(r.headers().get("link").is_none());
    assert_eq!(repos(r.json().await.unwrap()), vec!["p/s", "q/a"]);
}

impl Api {
    fn start_with_small_pages() -> Api {
        Api::with_env(&[
            ("BERTH_REGISTRY__PAGE_SIZE", "5"),
            ("BERTH_REGISTRY__REFERRERS_PAGE_SIZE", "2"),
        ])
    }
}

#[tokio::test]
async fn referrers_list_filter_and_pages() {
    let a = Api::start_with_small_pages();
    let (subject, sd) = a.push_image("o/ref", "v1", "subject").await;
    let unknown = sha256(b"unknown subject");
    let r =
        a.c.get(a.url(&format!("/v2/o/ref/referrers/{unknown}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h(&r, "content-type"), OCI_INDEX);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    );
    let r =
        a.c.get(a.url("/v2/o/ref/referrers/sha256:bad"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);

    let mut sigs = Vec::new();
    for (seed, t) in [
        ("s1", "application/x.sig"),
        ("s2", "application/x.sig"),
        ("s3", "application/x.sig"),
        ("b1", "application/x.sbom"),
    ] {
        let m = a
            .image_manifest("o/ref", seed, Some(t), Some((&sd, subject.len())))
            .await;
        let d = sha256(&m);
        assert_eq!(
            a.put_manifest("o/ref", &d, OCI_MANIFEST, &m).await.status(),
            201
        );
        if t == "application/x.sig" {
            sigs.push(d);
        }
    }
    // An image manifest without artifactType is listed with its config media type.
    let plain = a
        .image_manifest("o/ref", "plain", None, Some((&sd, subject.len())))
        .await;
    assert_eq!(
        a.put_manifest("o/ref", &sha256(&plain), OCI_MANIFEST, &plain)
            .await
            .status(),
        201
    );

    let mut seen = Vec::new();
    let mut url = format!("/v2/o/ref/referrers/{sd}");
    loop {
        let r = a.c.get(a.url(&url)).send().await.unwrap();
        let next = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let v: Value = r.json().await.unwrap();
        for m in v["manifests"].as_array().unwrap() {
            assert_eq!(m["mediaType"], OCI_MANIFEST);
            assert!(m["size"].as_u64().unwrap() > 0);
            assert!(m["annotations"]["seed"].is_string());
            seen.push((
                m["digest"].as_str().unwrap().to_owned(),
                m["artifactType"].as_str().unwrap().to_owned(),
            ));
        }
        match next {
            Some(l) => {
                url = l
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen
        .iter()
        .any(|(_, t)| t == "application/vnd.oci.image.config.v1+json"));

    let r =
        a.c.get(a.url(&format!(
            "/v2/o/ref/referrers/{sd}?artifactType=application/x.sig"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(h(&r, "oci-filters-applied"), "artifactType");
    let link = h(&r, "link");
    assert!(link.contains("artifactType=application%2Fx.sig"), "{link}");
    let v: Value = r.json().await.unwrap();
    let page1: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(page1.len(), 2);
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let v: Value =
        a.c.get(a.url(&next))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    assert!(v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["artifactType"] == "application/x.sig"));
}

#[tokio::test]
async fn deletes() {
    let a = Api::start();
    let (_, d) = a.push_image("o/del", "v1", "del").await;
    let r =
        a.c.get(a.url("/v2/o/del/manifests/v1"))
            .send()
            .await
            .unwrap();
    let body = r.bytes().await.unwrap();
    assert_eq!(
        a.put_manifest("o/del", "v2", OCI_MANIFEST, &body)
            .await
            .status(),
        201
    );

    // By tag: only the tag goes.
    assert_eq!(
        a.c.delete(a.url("/v2/o/del/manifests/v1"))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        a.c.head(a.url("/v2/o/del/manifests/v1"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        a.c.head(a.url(&format!("/v2/o/del/manifests/{d}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r =
        a.c.delete(a.url("/v2/o/del/manifests/v1"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "MANIFEST_UNKNOWN");
    // By digest: the manifest and every tag on it.
    assert_eq!(
        a.c.delete(a.url(&format!("/v2/o/del/manifests/{d}")))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        a.c.head(a.url(&format!("/v2/o/del/manifests/{d}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        a.c.head(a.url("/v2/o/del/manifests/v2"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let v: Value =
        a.c.get(a.url("/v2/o/del/tags/list"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(v["tags"], json!([]));
    assert_eq!(
        a.c.delete(a.url(&format!("/v2/o/del/manifests/{d}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r =
        a.c.delete(a.url("/v2/o/nothing/manifests/v1"))
            .send()
            .await
            .unwrap();
    assert_eq!(code(r).await, "NAME_UNKNOWN");

    // Blobs.
    let b = a.push_blob("o/del", b"blob to delete").await;
    assert_eq!(
        a.c.delete(a.url(&format!("/v2/o/del/blobs/{b}")))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        a.c.get(a.url(&format!("/v2/o/del/blobs/{b}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r =
        a.c.delete(a.url(&format!("/v2/o/del/blobs/{b}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "BLOB_UNKNOWN");
    assert_eq!(
        a.c.delete(a.url("/v2/o/del/blobs/sha256:zz"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}

#[tokio::test]
async fn deletes_can_be_disabled() {
    let a = Api::with_env(&[("BERTH_REGISTRY__DELETE_ENABLED", "false")]);
    let (_, d) = a.push_image("o/keep", "v1", "keep").await;
    for url in [
        format!("/v2/o/keep/manifests/{d}"),
        "/v2/o/keep/manifests/v1".into(),
        format!("/v2/o/keep/blobs/{d}"),
    ] {
        let r = a.c.delete(a.url(&url)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{url}");
        assert_eq!(code(r).await, "UNSUPPORTED");
    }
    assert_eq!(
        a.c.head(a.url("/v2/o/keep/manifests/v1"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn abandoned_uploads_expire() {
    let a = Api::with_env(&[
        ("BERTH_UPLOADS__MAX_AGE_SECS", "1"),
        ("BERTH_UPLOADS__CLEANUP_INTERVAL_SECS", "1"),
    ]);
    let (loc, _) = a.start_upload("o/exp").await;
    a.c.patch(a.url(&loc)).body("partial").send().await.unwrap();
    assert_eq!(staging::count(&a.b).await, 1);
    // A deadline, not a speed target: on a loaded machine the S3 cleanup can take seconds.
    let mut gone = false;
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if a.c.get(a.url(&loc)).send().await.unwrap().status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
    }
    assert!(gone, "session should expire");
    assert_eq!(staging::count(&a.b).await, 0, "staging data removed");
}

#[tokio::test]
async fn graceful_shutdown_on_sigterm() {
    let mut a = Api::start();
    a.push_blob("o/x", b"before shutdown").await;
    assert!(a.b.stop(), "berth exits 0 on SIGTERM");
    assert!(a.b.log().contains("berth stopped"));
}

#[test]
fn check_config_redacts_and_rejects() {
    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .env("BERTH_DATABASE__URL", "postgres://berth:s3cret@db/berth")
        .env("BERTH_HTTP__ADDR", "127.0.0.1:5999")
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("postgres://berth:***@db/berth"), "{s}");
    assert!(!s.contains("s3cret"));
    assert!(s.contains("127.0.0.1:5999"));

    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .env("BERTH_HTTP__NOPE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .env("BERTH_REGISTRY__MAX_MANIFEST_BYTES", "10")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_manifest_bytes"));
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
