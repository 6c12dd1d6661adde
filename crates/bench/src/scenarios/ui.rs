//! The web UI's render time (Berth only). Untimed, through `/api/v1` and `/v2`: a private org
//! with `repos` repositories, and in one of them `tags` tags, each on a manifest of its own
//! (every tenth an index of two platforms, the rest images), so the tag list reads a different
//! manifest for every row. Timed: a signed-in client (the session cookie of the real sign-in
//! form) walks every page of the org's repository list and of the repository's tag list,
//! following each page's "Next page" link, `passes` times, then asks the repository search for
//! a name that only the last repository matches. One keep-alive connection, one request at a
//! time: the latency is what a person's browser waits for the HTML, measured on loopback (an
//! upper bound of the server's render time). Every walk checks it saw every row exactly once.

#[allow(clippy::wildcard_imports)]
use super::*;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::Client;
use std::sync::atomic::{AtomicUsize, Ordering};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Sizes of the `ui` scenario.
pub(super) struct UiPlan {
    pub repos: usize,
    pub tags: usize,
    pub passes: usize,
    pub seed_conns: usize,
}

pub(super) async fn ui(ctx: &Ctx, plan: &UiPlan, creds: (String, String)) -> Result<Value> {
    if plan.repos == 0 || plan.tags == 0 {
        return Err("the ui scenario needs at least one repository and one tag".into());
    }
    let base = ctx.target.base.clone();
    let (user, password) = creds;
    let org = format!("ui{}", ctx.nonce % 1_000_000_000);
    let plain = client::client_with(None)?;
    let r = plain
        .post(base.join("/api/v1/orgs")?)
        .basic_auth(&user, Some(&password))
        .json(&json!({"name": org, "public": false}))
        .send()
        .await?;
    client::expect(r, StatusCode::CREATED, "create the org").await?;

    let t0 = Instant::now();
    seed_repos(&base, &org, plan, &user, &password).await?;
    let repos_secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "ui: {} repositories created in {repos_secs:.1} s",
        plan.repos
    );
    let repo = format!("{org}/{}", repo_name(0));
    let t0 = Instant::now();
    seed_tags(ctx, &repo, plan, (user.clone(), password.clone())).await?;
    let tags_secs = t0.elapsed().as_secs_f64();
    eprintln!("ui: {} tags pushed in {tags_secs:.1} s", plan.tags);

    let c = Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = sign_in(&c, &base, &user, &password).await?;
    ctx.settle();

    let w = ctx.begin();
    let org_list = walk(
        &c,
        &base,
        &cookie,
        &format!("/orgs/{org}"),
        "<tr><td><a href=\"/repositories/",
        plan.repos,
        plan.passes,
    )
    .await?;
    let tag_list = walk(
        &c,
        &base,
        &cookie,
        &format!("/repositories/{repo}"),
        "<td class=\"tag\">",
        plan.tags,
        plan.passes,
    )
    .await?;
    let last = repo_name(plan.repos - 1);
    let search = walk(
        &c,
        &base,
        &cookie,
        &format!("/orgs/{org}?q={last}"),
        "<tr><td><a href=\"/repositories/",
        1,
        (plan.passes * 20).max(20),
    )
    .await?;
    let m = ctx.end(w);
    Ok(merge(
        json!({
            "repos": plan.repos,
            "tags": plan.tags,
            "passes": plan.passes,
            "seed_repos_secs": repos_secs,
            "seed_tags_secs": tags_secs,
            "org_list": org_list,
            "tag_list": tag_list,
            "search": search,
        }),
        m,
    ))
}

fn repo_name(i: usize) -> String {
    format!("r-{i:05}")
}

/// Runs `op(i)` for every `i` in `0..n` on `conns` concurrent tasks.
async fn each<F, Fut>(n: usize, conns: usize, op: F) -> Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns.max(1) {
        let (next, op) = (next.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, Error>(());
                }
                op(i).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// `repos` empty repositories, created before any push (`POST /api/v1/orgs/{org}/repositories`).
async fn seed_repos(
    base: &Url,
    org: &str,
    plan: &UiPlan,
    user: &str,
    password: &str,
) -> Result<()> {
    let c = client::client_with(None)?;
    let url = base.join(&format!("/api/v1/orgs/{org}/repositories"))?;
    let (user, password) = (user.to_owned(), password.to_owned());
    each(plan.repos, plan.seed_conns, move |i| {
        let (c, url, user, password) = (c.clone(), url.clone(), user.clone(), password.clone());
        async move {
            let r = c
                .post(url)
                .basic_auth(&user, Some(&password))
                .json(&json!({"name": repo_name(i), "description": format!("repository {i}")}))
                .send()
                .await?;
            client::expect(r, StatusCode::CREATED, "create a repository").await?;
            Ok(())
        }
    })
    .await
}

/// Two platform images pushed by digest, then `tags` tags: every tenth an index of both, the
/// others an image; each manifest is made distinct by an annotation.
async fn seed_tags(ctx: &Ctx, repo: &str, plan: &UiPlan, creds: (String, String)) -> Result<()> {
    let scopes = [format!("repository:{repo}:pull,push")];
    let token = client::token(&ctx.target.base, &scopes, Some(creds)).await?;
    let c = client::client_with(token.map(|t| format!("Bearer {t}")).as_deref())?;
    let target = Target {
        base: ctx.target.base.clone(),
        repo: repo.to_owned(),
    };
    let layer: Vec<u8> = ctx
        .pool
        .pieces(mix(&[ctx.nonce, 0x0071]), 4096, 0, 4096)
        .flatten()
        .collect();
    let layer_desc = json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "size": layer.len(),
        "digest": client::push_bytes(&c, &target, Bytes::from(layer)).await?,
    });
    let mut platforms = Vec::new();
    let mut images = Vec::new();
    for arch in ["amd64", "arm64"] {
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Entrypoint": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        }))?;
        let config_desc = json!({
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": config.len(),
            "digest": client::push_bytes(&c, &target, Bytes::from(config)).await?,
        });
        let image = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_desc,
            "layers": [layer_desc],
        });
        let body = serde_json::to_vec(&image)?;
        let digest = format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))
        );
        client::put_manifest(&c, &target, &digest, OCI_MANIFEST, body.clone()).await?;
        platforms.push(json!({
            "mediaType": OCI_MANIFEST,
            "size": body.len(),
            "digest": digest,
            "platform": {"os": "linux", "architecture": arch},
        }));
        images.push(image);
    }
    let image = Arc::new(images.swap_remove(0));
    let platforms = Arc::new(platforms);
    each(plan.tags, plan.seed_conns, move |i| {
        let (c, target, image, platforms) =
            (c.clone(), target.clone(), image.clone(), platforms.clone());
        async move {
            let note = json!({"org.example.bench.n": i.to_string()});
            let (media_type, doc) = if i % 10 == 9 {
                let doc = json!({
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": *platforms,
                    "annotations": note,
                });
                (OCI_INDEX, doc)
            } else {
                let mut doc = (*image).clone();
                doc["annotations"] = note;
                (OCI_MANIFEST, doc)
            };
            let tag = format!("t-{i:05}");
            client::put_manifest(&c, &target, &tag, media_type, serde_json::to_vec(&doc)?).await
        }
    })
    .await
}

/// Signs in through the sign-in form as a browser does (its CSRF cookie and field, the
/// `Origin` header); returns the `Cookie` header value that carries the session.
async fn sign_in(c: &Client, base: &Url, user: &str, password: &str) -> Result<String> {
    let r = c.get(base.join("/login")?).send().await?;
    let login_cookie = cookies(&r).join("; ");
    let html = client::expect(r, StatusCode::OK, "GET /login")
        .await?
        .text()
        .await?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .ok_or("the sign-in form has no csrf field")?;
    let mut form = Url::parse("http://form.invalid/")?;
    form.query_pairs_mut()
        .append_pair("csrf", csrf)
        .append_pair("next", "/")
        .append_pair("name", user)
        .append_pair("password", password);
    let origin = base.origin().ascii_serialization();
    let r = c
        .post(base.join("/login")?)
        .header(COOKIE, login_cookie)
        .header(ORIGIN, origin)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form.query().unwrap_or_default().to_owned())
        .send()
        .await?;
    if r.status() != StatusCode::SEE_OTHER || r.headers().get(LOCATION).is_none() {
        return Err(format!("signing in to the UI answered {}", r.status()).into());
    }
    let session: Vec<String> = cookies(&r)
        .into_iter()
        .filter(|c| c.contains("berth_session="))
        .collect();
    if session.is_empty() {
        return Err("signing in to the UI set no session cookie".into());
    }
    Ok(session.join("; "))
}

/// The `name=value` parts of a response's `Set-Cookie` headers.
fn cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|s| s.trim().to_owned())
        .collect()
}

/// The target of the page's `rel="next"` link, if it has one.
fn next_link(html: &str) -> Option<String> {
    let head = &html[..html.find("rel=\"next\"")?];
    let href = &head[head.rfind("href=\"")? + 6..];
    Some(href[..href.find('"')?].replace("&amp;", "&"))
}

/// `passes` walks from `first` through every next page; each walk must show `rows` rows
/// (counted by `marker`). Latency percentiles over every page fetched.
async fn walk(
    c: &Client,
    base: &Url,
    cookie: &str,
    first: &str,
    marker: &str,
    rows: usize,
    passes: usize,
) -> Result<Value> {
    let mut lat = Vec::new();
    let (mut bytes, mut pages) = (0usize, 0usize);
    for _ in 0..passes {
        let (mut path, mut seen) = (first.to_owned(), 0);
        loop {
            let t = Instant::now();
            let r = c
                .get(base.join(&path)?)
                .header(COOKIE, cookie)
                .send()
                .await?;
            let r = client::expect(r, StatusCode::OK, &format!("GET {path}")).await?;
            let html = r.text().await?;
            lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            bytes += html.len();
            pages += 1;
            seen += html.matches(marker).count();
            match next_link(&html) {
                Some(next) => path = next,
                None => break,
            }
        }
        if seen != rows {
            return Err(format!("walking {first} showed {seen} rows, not {rows}").into());
        }
    }
    Ok(merge(
        json!({
            "requests": lat.len(),
            "pages_per_walk": pages / passes.max(1),
            "kib_per_page": bytes as f64 / pages.max(1) as f64 / 1024.0,
        }),
        latency(&mut lat),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_next_link_is_read_from_the_pager() {
        let html = "<p class=\"pager\"><a href=\"/orgs/a?q=&amp;last=a%2Fr-00049\" rel=\"next\">Next page</a></p>";
        assert_eq!(
            super::next_link(html).as_deref(),
            Some("/orgs/a?q=&last=a%2Fr-00049")
        );
        assert_eq!(super::next_link("<p>no pager</p>"), None);
    }
}
