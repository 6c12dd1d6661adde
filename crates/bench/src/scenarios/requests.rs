//! The request-rate scenarios: manifest GETs and token requests under concurrent load.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Pushes a small docker image (config, one layer, schema 2 manifest) tagged `bench`.
pub(super) async fn manifest_setup(ctx: &Ctx) -> Result<Url> {
    let c = client::client()?;
    let layer: Vec<u8> = ctx
        .pool
        .pieces(mix(&[ctx.nonce, 0xfeed]), 4096, 0, 4096)
        .flatten()
        .collect();
    let layer_len = layer.len();
    let layer_digest = client::push_bytes(&c, &ctx.target, Bytes::from(layer)).await?;
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": format!("berth-bench {}", ctx.nonce)}],
    }))?;
    let config_len = config.len();
    let config_digest = client::push_bytes(&c, &ctx.target, Bytes::from(config)).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config_len,
            "digest": config_digest,
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": layer_len,
            "digest": layer_digest,
        }],
    }))?;
    client::put_manifest(
        &c,
        &ctx.target,
        "bench",
        "application/vnd.docker.distribution.manifest.v2+json",
        manifest,
    )
    .await?;
    let url = client::manifest_url(&ctx.target, "bench")?;
    if !client::get_manifest(&c, &url).await? {
        return Err("the manifest just pushed cannot be pulled by tag".into());
    }
    Ok(url)
}

pub(super) async fn manifest(ctx: &Ctx, conns: usize, secs: f64) -> Result<Value> {
    let url = manifest_setup(ctx).await?;
    ctx.settle();
    load(ctx, conns, secs, None, move |c| {
        let url = url.clone();
        async move { client::get_manifest(&c, &url).await }
    })
    .await
}

/// `conns` tasks, each with its own client (sending `authorization`, or the run's token when
/// `None`), repeat `op` for two seconds of warm-up and `secs` measured seconds; returns
/// requests, errors (`op` returned false), req/s and latency percentiles of the measured part.
pub(super) async fn load<F, Fut>(
    ctx: &Ctx,
    conns: usize,
    secs: f64,
    authorization: Option<String>,
    op: F,
) -> Result<Value>
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<bool>> + Send,
{
    let start = Instant::now() + Duration::from_secs(2);
    let end = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let op = op.clone();
        let authorization = authorization.clone();
        tasks.push(tokio::spawn(async move {
            let c = match authorization {
                Some(a) => client::client_with(Some(&a))?,
                None => client::client()?,
            };
            let mut lat: Vec<u32> = Vec::with_capacity(64 * 1024);
            let mut errors = 0u64;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let ok = op(c.clone()).await?;
                if t >= start {
                    lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    errors += u64::from(!ok);
                }
            }
            Ok::<_, Error>((lat, errors))
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let w = ctx.begin();
    tokio::time::sleep_until(end.into()).await;
    let m = ctx.end(w);
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        lat.extend(l);
        errors += e;
    }
    Ok(merge(
        merge(
            json!({
                "conns": conns,
                "measured_secs": secs,
                "requests": lat.len(),
                "errors": errors,
                "req_s": lat.len() as f64 / secs,
            }),
            latency(&mut lat),
        ),
        m,
    ))
}

/// The token service (Berth): token requests per second with a refresh token (the OAuth2
/// POST docker sends) and with Basic credentials (an argon2id check each), then manifest
/// GETs with a user's token and with an anonymous token on a public org.
pub(super) async fn tokens(
    ctx: &Ctx,
    conns: usize,
    secs: f64,
    creds: (String, String),
) -> Result<Value> {
    let Some((realm, service)) = client::challenge(&ctx.target.base).await? else {
        return Err(
            "the registry asks for no token: the auth scenario needs a token service".into(),
        );
    };
    let (admin, admin_password) = creds;
    let scope = format!("repository:{}:pull", ctx.target.repo);
    let plain = client::client_with(None)?;
    // The measured logins are an ordinary user's: a developer of the repository's org, so
    // every grant looks up the org and the membership, as it does for most callers.
    let url = manifest_setup(ctx).await?;
    let org = ctx
        .target
        .repo
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let (user, password) = ("bench-user".to_owned(), "bench-user-password".to_owned());
    let api = |path: &str| ctx.target.base.join(&format!("/api/v1{path}"));
    let r = plain
        .post(api("/users")?)
        .basic_auth(&admin, Some(&admin_password))
        .json(&json!({"name": user, "password": password}))
        .send()
        .await?;
    if !(r.status().is_success() || r.status() == StatusCode::CONFLICT) {
        return Err(format!("cannot create {user}: {}", r.status()).into());
    }
    let r = plain
        .put(api(&format!("/orgs/{org}/members/user/{user}"))?)
        .basic_auth(&admin, Some(&admin_password))
        .json(&json!({"role": "developer"}))
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(format!("cannot add {user} to {org}: {}", r.status()).into());
    }
    let r = plain
        .get(&realm)
        .basic_auth(&user, Some(&password))
        .query(&[("service", service.as_str()), ("offline_token", "true")])
        .send()
        .await?;
    let body: Value = r.json().await?;
    let refresh = body["refresh_token"]
        .as_str()
        .ok_or("no refresh token from the token endpoint")?
        .to_owned();

    let form = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh),
        ("service".to_owned(), service.clone()),
        ("client_id".to_owned(), "berth-bench".to_owned()),
        ("scope".to_owned(), scope.clone()),
    ];
    let realm2 = realm.clone();
    let with_refresh = load(ctx, conns, secs, Some(String::new()), move |c| {
        let (realm, form) = (realm2.clone(), form.clone());
        async move {
            let r = c.post(&realm).form(&form).send().await?;
            let ok = r.status() == StatusCode::OK;
            Ok(ok && !r.bytes().await?.is_empty())
        }
    })
    .await?;

    let (realm2, service2, scope2) = (realm.clone(), service.clone(), scope.clone());
    let (u, p) = (user.clone(), password.clone());
    let with_basic = load(ctx, conns, secs, Some(String::new()), move |c| {
        let (realm, service, scope, u, p) = (
            realm2.clone(),
            service2.clone(),
            scope2.clone(),
            u.clone(),
            p.clone(),
        );
        async move {
            let r = c
                .get(&realm)
                .basic_auth(u, Some(p))
                .query(&[("service", service.as_str()), ("scope", scope.as_str())])
                .send()
                .await?;
            let ok = r.status() == StatusCode::OK;
            Ok(ok && !r.bytes().await?.is_empty())
        }
    })
    .await?;

    // Manifest GETs: the user's token, then an anonymous token once the org is public.
    let get = move |c: reqwest::Client| {
        let url = url.clone();
        async move { client::get_manifest(&c, &url).await }
    };
    let r = plain
        .get(&realm)
        .basic_auth(&user, Some(&password))
        .query(&[("service", service.as_str()), ("scope", scope.as_str())])
        .send()
        .await?;
    let user_token: Value = r.json().await?;
    let user_token = user_token["token"]
        .as_str()
        .ok_or("no token for the user")?;
    let user_get = load(
        ctx,
        32,
        secs,
        Some(format!("Bearer {user_token}")),
        get.clone(),
    )
    .await?;
    let r = plain
        .patch(api(&format!("/orgs/{org}"))?)
        .basic_auth(&admin, Some(&admin_password))
        .json(&json!({"public": true}))
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(format!("cannot make org {org} public: {}", r.status()).into());
    }
    let r = plain
        .get(&realm)
        .query(&[("service", service.as_str()), ("scope", scope.as_str())])
        .send()
        .await?;
    let anon: Value = r.json().await?;
    let anon = anon["token"].as_str().ok_or("no anonymous token")?;
    let anon_get = load(ctx, 32, secs, Some(format!("Bearer {anon}")), get).await?;
    Ok(json!({
        "refresh": with_refresh,
        "basic": with_basic,
        "manifest_user": user_get,
        "manifest_anonymous": anon_get,
    }))
}
