//! The measured scenarios: blob push, blob pull, manifest GET, and memory while a big blob
//! streams in. Each one prepares untimed (digests computed, blobs seeded, `sync` run), then
//! measures wall time, the server's and this process's CPU time, and the server's peak RSS.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};

use crate::client::{self, Target};
use crate::data::{mix, Pool};
use crate::procfs::{self, RssSampler};
use crate::{report, Error, Result};

const MIB: u64 = 1 << 20;

/// Options of `berth-bench run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Base URL of the registry, e.g. http://127.0.0.1:5000
    #[arg(long)]
    url: String,
    /// PID of the server process (on this machine), for its CPU time and memory.
    #[arg(long)]
    pid: Option<u32>,
    /// Name of the registry in the tables.
    #[arg(long, default_value = "registry")]
    name: String,
    /// Repository the benchmark pushes to and pulls from. A registry that asks for a token gets
    /// one for it, with the credentials in BENCH_USER / BENCH_PASSWORD.
    #[arg(long, default_value = "bench/blobs")]
    repo: String,
    /// Also write the figures as JSON to this file (input of `berth-bench report`).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Scenarios to run, comma-separated: push, pull, manifest, memory, auth (the token
    /// service; Berth only, needs BENCH_USER and BENCH_PASSWORD of a system admin).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "push,pull,manifest,memory"
    )]
    scenarios: Vec<String>,
    /// Blob sizes of the push scenarios, MiB.
    #[arg(long, value_delimiter = ',', default_value = "1,64,512")]
    push_sizes: Vec<u64>,
    /// Concurrent clients of the push scenarios.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    push_clients: Vec<usize>,
    /// Pushes per client of blobs up to 4 MiB.
    #[arg(long, default_value_t = 200)]
    iters_small: usize,
    /// Pushes per client of blobs up to 128 MiB (halved, at least 1, with several clients).
    #[arg(long, default_value_t = 6)]
    iters_medium: usize,
    /// Pushes per client of larger blobs (halved, at least 1, with several clients).
    #[arg(long, default_value_t = 2)]
    iters_large: usize,
    /// Size of one PATCH of a chunked push, MiB.
    #[arg(long, default_value_t = 8)]
    chunk_mib: u64,
    /// Blob sizes of the pull scenarios, MiB.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pull_sizes: Vec<u64>,
    /// Concurrent clients of the pull scenarios.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pull_clients: Vec<usize>,
    /// Pulls per client of blobs up to 4 MiB.
    #[arg(long, default_value_t = 400)]
    pull_iters_small: usize,
    /// Pulls per client of larger blobs (enough for a second or more of measurement: CPU time
    /// is counted in 10 ms ticks).
    #[arg(long, default_value_t = 24)]
    pull_iters_large: usize,
    /// Concurrent keep-alive connections of the manifest GET scenario.
    #[arg(long, default_value_t = 32)]
    conns: usize,
    /// Measured seconds of the manifest GET scenario (after two seconds of warm-up).
    #[arg(long, default_value_t = 10.0)]
    manifest_secs: f64,
    /// Size of the blob pushed while the server's memory is sampled, MiB.
    #[arg(long, default_value_t = 1024)]
    big_mib: u64,
    /// Multiplies every iteration count and the manifest duration (0.1 for a smoke run).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Do not run `sync` before each measured scenario.
    #[arg(long)]
    no_sync: bool,
}

impl RunArgs {
    fn scaled(&self, n: usize) -> usize {
        ((n as f64 * self.scale).round() as usize).max(1)
    }

    fn push_iters(&self, size_mib: u64, clients: usize) -> usize {
        let (base, big) = if size_mib <= 4 {
            (self.iters_small, false)
        } else if size_mib <= 128 {
            (self.iters_medium, true)
        } else {
            (self.iters_large, true)
        };
        let n = if big && clients > 1 { base / 2 } else { base };
        self.scaled(n.max(1))
    }

    fn pull_iters(&self, size_mib: u64) -> usize {
        self.scaled(if size_mib <= 4 {
            self.pull_iters_small
        } else {
            self.pull_iters_large
        })
    }

    fn wants(&self, s: &str) -> bool {
        self.scenarios.iter().any(|x| x.trim() == s)
    }
}

struct Ctx {
    target: Target,
    pool: Pool,
    pid: Option<u32>,
    tck: f64,
    rss: Option<RssSampler>,
    nonce: u64,
    sync: bool,
    next_id: std::sync::atomic::AtomicU64,
}

/// Start of a measured window.
struct Window {
    t0: Instant,
    server0: Option<f64>,
    client0: Option<f64>,
}

impl Ctx {
    fn scenario_id(&self) -> u64 {
        self.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn settle(&self) {
        if self.sync {
            // Writes the previous scenario left in the page cache must not be flushed during
            // this one (a server that does not fsync would otherwise slow down the next test).
            let _ = std::process::Command::new("sync").status();
        }
    }

    fn server_cpu(&self) -> Option<f64> {
        self.pid
            .and_then(|p| procfs::cpu_seconds(&p.to_string(), self.tck))
    }

    fn begin(&self) -> Window {
        if let Some(r) = &self.rss {
            r.reset();
        }
        Window {
            server0: self.server_cpu(),
            client0: procfs::cpu_seconds("self", self.tck),
            t0: Instant::now(),
        }
    }

    /// Seconds, server CPU s, client CPU s, peak server RSS MiB of the window.
    fn end(&self, w: Window) -> Value {
        let secs = w.t0.elapsed().as_secs_f64();
        let server = self.server_cpu().zip(w.server0).map(|(b, a)| b - a);
        let client = procfs::cpu_seconds("self", self.tck)
            .zip(w.client0)
            .map(|(b, a)| b - a);
        let rss = self.rss.as_ref().map(|r| r.window().0 as f64 / 1024.0);
        json!({
            "secs": secs,
            "server_cpu_s": server,
            "client_cpu_s": client,
            "peak_rss_mib": rss,
        })
    }
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// Digests of blobs `(seed, len)`, computed on every core before the timed part.
async fn digests(pool: &Pool, seeds: &[Vec<u64>], len: u64) -> Result<Vec<Vec<String>>> {
    let pool = pool.clone();
    let seeds = seeds.to_vec();
    tokio::task::spawn_blocking(move || -> Result<Vec<Vec<String>>> {
        let flat: Vec<u64> = seeds.iter().flatten().copied().collect();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let per = flat.len().div_ceil(threads).max(1);
        let mut all = Vec::with_capacity(flat.len());
        std::thread::scope(|s| -> Result<()> {
            let handles: Vec<_> = flat
                .chunks(per)
                .map(|part| {
                    let pool = &pool;
                    s.spawn(move || {
                        part.iter()
                            .map(|&seed| pool.digest(seed, len))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                all.extend(h.join().map_err(|_| "a digest thread panicked")?);
            }
            Ok(())
        })?;
        let mut it = all.into_iter();
        Ok(seeds
            .iter()
            .map(|v| it.by_ref().take(v.len()).collect())
            .collect())
    })
    .await?
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Monolithic,
    Chunked,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Monolithic => "monolithic",
            Mode::Chunked => "chunked",
        }
    }
}

async fn push(
    ctx: &Ctx,
    mode: Mode,
    size_mib: u64,
    clients: usize,
    iters: usize,
    chunk: u64,
) -> Result<Value> {
    let len = size_mib * MIB;
    let sid = ctx.scenario_id();
    let seeds: Vec<Vec<u64>> = (0..clients as u64)
        .map(|c| {
            (0..iters as u64)
                .map(|i| mix(&[ctx.nonce, sid, c, i]))
                .collect()
        })
        .collect();
    let digests = digests(&ctx.pool, &seeds, len).await?;
    ctx.settle();
    let w = ctx.begin();
    let mut tasks = Vec::new();
    for (ss, ds) in seeds.into_iter().zip(digests) {
        let (t, pool) = (ctx.target.clone(), ctx.pool.clone());
        tasks.push(tokio::spawn(async move {
            let c = client::client()?;
            for (s, d) in ss.iter().zip(&ds) {
                match mode {
                    Mode::Monolithic => client::push_monolithic(&c, &t, &pool, *s, len, d).await?,
                    Mode::Chunked => client::push_chunked(&c, &t, &pool, *s, len, d, chunk).await?,
                }
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let m = ctx.end(w);
    let blobs = (clients * iters) as u64;
    Ok(merge(
        json!({
            "mode": mode.name(),
            "size_mib": size_mib,
            "clients": clients,
            "blobs": blobs,
            "bytes": blobs * len,
            "chunk_mib": (mode == Mode::Chunked).then_some(chunk / MIB),
        }),
        m,
    ))
}

/// Pushes `count` blobs of `size_mib` (untimed) and pulls each once to warm the server.
async fn pull_set(ctx: &Ctx, size_mib: u64, count: usize) -> Result<Arc<Vec<String>>> {
    let len = size_mib * MIB;
    let sid = ctx.scenario_id();
    let seeds = vec![(0..count as u64)
        .map(|i| mix(&[ctx.nonce, sid, i]))
        .collect::<Vec<_>>()];
    let ds = digests(&ctx.pool, &seeds, len).await?;
    let c = client::client()?;
    let mut set = Vec::new();
    for (s, d) in seeds[0].iter().zip(ds.into_iter().flatten()) {
        client::push_monolithic(&c, &ctx.target, &ctx.pool, *s, len, &d).await?;
        set.push(d);
    }
    for d in &set {
        client::pull(&c, &ctx.target, d, len).await?;
    }
    Ok(Arc::new(set))
}

async fn pull(
    ctx: &Ctx,
    size_mib: u64,
    set: &Arc<Vec<String>>,
    clients: usize,
    iters: usize,
) -> Result<Value> {
    let len = size_mib * MIB;
    ctx.settle();
    let w = ctx.begin();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (t, set) = (ctx.target.clone(), set.clone());
        tasks.push(tokio::spawn(async move {
            let cl = client::client()?;
            for i in 0..iters {
                let d = &set[(c * 5 + i) % set.len()];
                client::pull(&cl, &t, d, len).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let m = ctx.end(w);
    let pulls = (clients * iters) as u64;
    Ok(merge(
        json!({
            "size_mib": size_mib,
            "clients": clients,
            "pulls": pulls,
            "bytes": pulls * len,
        }),
        m,
    ))
}

/// Pushes a small docker image (config, one layer, schema 2 manifest) tagged `bench`.
async fn manifest_setup(ctx: &Ctx) -> Result<Url> {
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

async fn manifest(ctx: &Ctx, conns: usize, secs: f64) -> Result<Value> {
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
async fn load<F, Fut>(
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
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    Ok(merge(
        json!({
            "conns": conns,
            "measured_secs": secs,
            "requests": lat.len(),
            "errors": errors,
            "req_s": lat.len() as f64 / secs,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": pct(1.0),
        }),
        m,
    ))
}

/// The token service (Berth): token requests per second with a refresh token (the OAuth2
/// POST docker sends) and with Basic credentials (an argon2id check each), then manifest
/// GETs with a user's token and with an anonymous token on a public org.
async fn tokens(ctx: &Ctx, conns: usize, secs: f64, creds: (String, String)) -> Result<Value> {
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

/// One big monolithic push while the server's RSS is sampled every 50 ms.
async fn memory(ctx: &Ctx, pid: u32, big_mib: u64) -> Result<Value> {
    let len = big_mib * MIB;
    let seed = mix(&[ctx.nonce, ctx.scenario_id()]);
    let d = digests(&ctx.pool, &[vec![seed]], len).await?;
    let digest = d.into_iter().flatten().next().ok_or("no digest computed")?;
    ctx.settle();
    let idle = procfs::memory_kib(pid).map(|m| m.0 as f64 / 1024.0);
    let reset = procfs::reset_peak(pid);
    let c = client::client()?;
    let w = ctx.begin();
    client::push_monolithic(&c, &ctx.target, &ctx.pool, seed, len, &digest).await?;
    let m = ctx.end(w);
    let samples = ctx.rss.as_ref().map(|r| r.window().1);
    let hwm = procfs::memory_kib(pid).map(|m| m.1 as f64 / 1024.0);
    Ok(merge(
        json!({
            "size_mib": big_mib,
            "bytes": len,
            "idle_rss_mib": idle,
            "samples": samples,
            "hwm_mib": if reset { hwm } else { None },
        }),
        m,
    ))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Checks that the URL is a registry this benchmark can use (no authentication).
async fn check_registry(base: &Url) -> Result<()> {
    let c = client::client()?;
    let r = c.get(base.join("/v2/")?).send().await?;
    match r.status() {
        StatusCode::OK => Ok(()),
        s => {
            Err(format!("GET {base}v2/ answered {s}; the benchmark needs an open registry").into())
        }
    }
}

pub async fn run(a: RunArgs) -> Result<()> {
    let base = Url::parse(&a.url)?;
    let creds = std::env::var("BENCH_USER")
        .ok()
        .zip(std::env::var("BENCH_PASSWORD").ok());
    client::authenticate(&base, &a.repo, creds).await?;
    check_registry(&base).await?;
    if let Some(p) = a.pid {
        if procfs::memory_kib(p).is_none() {
            return Err(format!("no readable process {p} (/proc/{p}/status)").into());
        }
    }
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let pool = tokio::task::spawn_blocking(move || Pool::new(nonce)).await?;
    let ctx = Ctx {
        target: Target {
            base: base.clone(),
            repo: a.repo.clone(),
        },
        pool,
        pid: a.pid,
        tck: procfs::clk_tck(),
        rss: a
            .pid
            .map(|p| RssSampler::start(p, Duration::from_millis(50))),
        nonce,
        sync: !a.no_sync,
        next_id: 1.into(),
    };
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = json!({
        "name": a.name,
        "url": a.url,
        "pid": a.pid,
        "nproc": nproc,
        "cpu_model": cpu_model(),
        "started_unix": nonce / 1_000_000_000,
        "push": [],
        "pull": [],
        "manifest": null,
        "memory": null,
    });
    let log = |what: &str, v: &Value| {
        let mbps = v["bytes"]
            .as_f64()
            .zip(v["secs"].as_f64())
            .map(|(b, s)| b / s / 1e6);
        eprintln!(
            "[{}] {what}: {:.2} s{}",
            a.name,
            v["secs"].as_f64().unwrap_or(0.0),
            mbps.map(|m| format!(", {m:.1} MB/s")).unwrap_or_default()
        );
    };

    if a.wants("push") {
        let mut rows = Vec::new();
        for &size in &a.push_sizes {
            for &clients in &a.push_clients {
                for mode in [Mode::Monolithic, Mode::Chunked] {
                    let iters = a.push_iters(size, clients);
                    let r = push(&ctx, mode, size, clients, iters, a.chunk_mib * MIB).await?;
                    log(
                        &format!(
                            "push {} {size} MiB x{iters} by {clients} client(s)",
                            mode.name()
                        ),
                        &r,
                    );
                    rows.push(r);
                }
            }
        }
        out["push"] = Value::Array(rows);
    }
    if a.wants("pull") {
        let mut rows = Vec::new();
        for &size in &a.pull_sizes {
            let count = if size <= 4 { 64 } else { 8 };
            let set = pull_set(&ctx, size, count).await?;
            for &clients in &a.pull_clients {
                let iters = a.pull_iters(size);
                let r = pull(&ctx, size, &set, clients, iters).await?;
                log(
                    &format!("pull {size} MiB x{iters} by {clients} client(s)"),
                    &r,
                );
                rows.push(r);
            }
        }
        out["pull"] = Value::Array(rows);
    }
    if a.wants("manifest") {
        let r = manifest(&ctx, a.conns, (a.manifest_secs * a.scale).max(1.0)).await?;
        eprintln!(
            "[{}] manifest GET, {} conns: {:.0} req/s, p99 {:.2} ms",
            a.name,
            a.conns,
            r["req_s"].as_f64().unwrap_or(0.0),
            r["p99_ms"].as_f64().unwrap_or(0.0)
        );
        out["manifest"] = r;
    }
    if a.wants("auth") {
        let creds = std::env::var("BENCH_USER")
            .ok()
            .zip(std::env::var("BENCH_PASSWORD").ok())
            .ok_or("the auth scenario needs BENCH_USER and BENCH_PASSWORD")?;
        let secs = (a.manifest_secs * a.scale).max(1.0);
        let r = tokens(&ctx, 8, secs, creds).await?;
        for (k, what) in [
            ("refresh", "token requests with a refresh token"),
            ("basic", "token requests with Basic credentials"),
            ("manifest_user", "manifest GET with a user's token"),
            ("manifest_anonymous", "manifest GET with an anonymous token"),
        ] {
            eprintln!(
                "[{}] {what}: {:.0} req/s, p99 {:.2} ms, {} errors",
                a.name,
                r[k]["req_s"].as_f64().unwrap_or(0.0),
                r[k]["p99_ms"].as_f64().unwrap_or(0.0),
                r[k]["errors"]
            );
        }
        out["auth"] = r;
    }
    // The kernel's peak mark of the whole run, read before the memory scenario resets it.
    let mut hwm = a.pid.and_then(procfs::memory_kib).map(|m| m.1);
    if let (true, Some(pid)) = (a.wants("memory"), a.pid) {
        let r = memory(&ctx, pid, a.big_mib).await?;
        log(&format!("memory: push {} MiB", a.big_mib), &r);
        out["memory"] = r;
        hwm = hwm.max(procfs::memory_kib(pid).map(|m| m.1));
    }
    out["peak_rss_overall_mib"] = json!(hwm.map(|k| k as f64 / 1024.0));

    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_vec_pretty(&out)?)?;
    }
    print!("{}", report::render(&out));
    Ok(())
}
