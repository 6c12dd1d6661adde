//! The registry operations the benchmark times, done the way real clients do them.

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{Body, Client, Response, StatusCode, Url};
use sha2::{Digest as _, Sha256};

use crate::data::Pool;
use crate::Result;

/// What docker sends when it pulls a manifest by tag.
pub const DOCKER_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json";

const OCTET: &str = "application/octet-stream";

/// A registry and the repository the benchmark works in.
#[derive(Clone)]
pub struct Target {
    pub base: Url,
    pub repo: String,
}

impl Target {
    fn url(&self, path: &str) -> Result<Url> {
        Ok(self.base.join(&format!("/v2/{}/{path}", self.repo))?)
    }
}

/// The `Authorization` header every request carries, once [`authenticate`] got a token.
static AUTHORIZATION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Logs in the way docker does when `/v2/` asks for a token: reads the Bearer challenge,
/// fetches a token for `repo` (pull, push, delete) and the catalog from its realm with Basic
/// credentials, and makes every later client send it. An open registry (200) needs nothing.
pub async fn authenticate(base: &Url, repo: &str, creds: Option<(String, String)>) -> Result<()> {
    let scopes = [
        format!("repository:{repo}:pull,push,delete"),
        "registry:catalog:*".to_owned(),
    ];
    if let Some(token) = token(base, &scopes, creds).await? {
        let _ = AUTHORIZATION.set(format!("Bearer {token}"));
    }
    Ok(())
}

/// A token for `scopes` from the realm of the registry's Bearer challenge, fetched with Basic
/// credentials; `None` from an open registry (`/v2/` answers 200).
pub async fn token(
    base: &Url,
    scopes: &[String],
    creds: Option<(String, String)>,
) -> Result<Option<String>> {
    let Some((realm, service)) = challenge(base).await? else {
        return Ok(None);
    };
    let c = Client::builder().no_proxy().build()?;
    let (user, password) =
        creds.ok_or("the registry wants credentials: set BENCH_USER and BENCH_PASSWORD")?;
    let mut query = vec![("service", service.as_str())];
    query.extend(scopes.iter().map(|s| ("scope", s.as_str())));
    let r = c
        .get(&realm)
        .basic_auth(user, Some(password))
        .query(&query)
        .send()
        .await?;
    let r = expect(r, StatusCode::OK, "token request").await?;
    let body: serde_json::Value = r.json().await?;
    let token = body["token"]
        .as_str()
        .ok_or("the token endpoint answered without a token")?;
    Ok(Some(token.to_owned()))
}

/// The realm and service of the registry's Bearer challenge, if `/v2/` asks for a token.
pub async fn challenge(base: &Url) -> Result<Option<(String, String)>> {
    let c = Client::builder().no_proxy().build()?;
    let r = c.get(base.join("/v2/")?).send().await?;
    if r.status() != StatusCode::UNAUTHORIZED {
        return Ok(None);
    }
    let h = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let param = |k: &str| {
        h.split(&format!("{k}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
    };
    Ok(param("realm").map(|r| (r, param("service").unwrap_or_default())))
}

/// One client: one keep-alive connection when used by one task at a time. Sends the run's
/// token (see [`authenticate`]).
pub fn client() -> Result<Client> {
    client_with(AUTHORIZATION.get().map(String::as_str))
}

/// [`client`] sending `authorization` instead (`None` or empty: no header).
pub fn client_with(authorization: Option<&str>) -> Result<Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(a) = authorization.filter(|a| !a.is_empty()) {
        headers.insert(reqwest::header::AUTHORIZATION, a.parse()?);
    }
    Ok(Client::builder()
        .default_headers(headers)
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(8)
        .build()?)
}

/// Fails with the server's answer unless the status is `want`.
pub async fn expect(r: Response, want: StatusCode, what: &str) -> Result<Response> {
    if r.status() == want {
        return Ok(r);
    }
    let status = r.status();
    let mut text = r.text().await.unwrap_or_default();
    text.truncate(400);
    Err(format!("{what}: expected {want}, got {status}: {text}").into())
}

fn location(r: &Response, base: &Url) -> Result<Url> {
    let loc = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("response without a Location header")?;
    Ok(base.join(loc)?)
}

fn with_digest(mut url: Url, digest: &str) -> Url {
    url.query_pairs_mut().append_pair("digest", digest);
    url
}

/// The body of bytes `from..to` of a blob, streamed piece by piece with a known length.
fn body(pool: &Pool, seed: u64, len: u64, from: u64, to: u64) -> Body {
    let pieces = pool.pieces(seed, len, from, to);
    Body::wrap_stream(futures_util::stream::iter(
        pieces.map(Ok::<Bytes, std::io::Error>),
    ))
}

async fn start_upload(c: &Client, t: &Target) -> Result<Url> {
    let r = c
        .post(t.url("blobs/uploads/")?)
        .header(CONTENT_LENGTH, 0)
        .send()
        .await?;
    let r = expect(r, StatusCode::ACCEPTED, "POST upload").await?;
    location(&r, &t.base)
}

/// Monolithic push: `POST` a session, then `PUT ?digest=` with the whole blob as body.
pub async fn push_monolithic(
    c: &Client,
    t: &Target,
    pool: &Pool,
    seed: u64,
    len: u64,
    digest: &str,
) -> Result<()> {
    let loc = start_upload(c, t).await?;
    let r = c
        .put(with_digest(loc, digest))
        .header(CONTENT_TYPE, OCTET)
        .header(CONTENT_LENGTH, len)
        .body(body(pool, seed, len, 0, len))
        .send()
        .await?;
    expect(r, StatusCode::CREATED, "PUT blob").await?;
    Ok(())
}

/// Chunked push: `POST`, one `PATCH` with `Content-Range` per `chunk` bytes, `PUT ?digest=`.
pub async fn push_chunked(
    c: &Client,
    t: &Target,
    pool: &Pool,
    seed: u64,
    len: u64,
    digest: &str,
    chunk: u64,
) -> Result<()> {
    let mut loc = start_upload(c, t).await?;
    let mut at = 0;
    while at < len {
        let end = (at + chunk).min(len);
        let r = c
            .patch(loc.clone())
            .header(CONTENT_TYPE, OCTET)
            .header(CONTENT_RANGE, format!("{at}-{}", end - 1))
            .header(CONTENT_LENGTH, end - at)
            .body(body(pool, seed, len, at, end))
            .send()
            .await?;
        let r = expect(r, StatusCode::ACCEPTED, "PATCH chunk").await?;
        loc = location(&r, &t.base)?;
        at = end;
    }
    let r = c
        .put(with_digest(loc, digest))
        .header(CONTENT_LENGTH, 0)
        .send()
        .await?;
    expect(r, StatusCode::CREATED, "PUT closing chunked upload").await?;
    Ok(())
}

/// Monolithic push of a small in-memory blob (manifest set-up).
pub async fn push_bytes(c: &Client, t: &Target, data: Bytes) -> Result<String> {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let loc = start_upload(c, t).await?;
    let r = c
        .put(with_digest(loc, &digest))
        .header(CONTENT_TYPE, OCTET)
        .header(CONTENT_LENGTH, data.len())
        .body(data)
        .send()
        .await?;
    expect(r, StatusCode::CREATED, "PUT blob").await?;
    Ok(digest)
}

/// Pulls a blob, hashing it as it arrives, and checks length and digest. Returns the length.
pub async fn pull(c: &Client, t: &Target, digest: &str, len: u64) -> Result<u64> {
    let r = c.get(t.url(&format!("blobs/{digest}"))?).send().await?;
    let mut r = expect(r, StatusCode::OK, "GET blob").await?;
    let mut h = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = r.chunk().await? {
        n += chunk.len() as u64;
        h.update(&chunk);
    }
    let got = format!("sha256:{}", hex::encode(h.finalize()));
    if n != len || got != digest {
        return Err(
            format!("pulled {n} bytes with digest {got}, wanted {len} bytes {digest}").into(),
        );
    }
    Ok(n)
}

/// `PUT` a manifest under `tag`.
pub async fn put_manifest(
    c: &Client,
    t: &Target,
    tag: &str,
    media_type: &str,
    body: Vec<u8>,
) -> Result<()> {
    let r = c
        .put(t.url(&format!("manifests/{tag}"))?)
        .header(CONTENT_TYPE, media_type)
        .body(body)
        .send()
        .await?;
    expect(r, StatusCode::CREATED, "PUT manifest").await?;
    Ok(())
}

/// `GET` a manifest by tag as docker does; true if it came back 200 with a body.
pub async fn get_manifest(c: &Client, url: &Url) -> Result<bool> {
    let r = c
        .get(url.clone())
        .header(ACCEPT, DOCKER_ACCEPT)
        .send()
        .await?;
    let ok = r.status() == StatusCode::OK;
    let body = r.bytes().await?;
    Ok(ok && !body.is_empty())
}

/// The URL of manifest `tag`.
pub fn manifest_url(t: &Target, tag: &str) -> Result<Url> {
    t.url(&format!("manifests/{tag}"))
}
