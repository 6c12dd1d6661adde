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

mod blobs;
mod requests;
mod ui;

use blobs::{memory, pull, pull_set, push, Mode};
use requests::{manifest, tokens};
use ui::{ui, UiPlan};

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
    /// service), ui (the web UI's page render time). auth and ui are Berth's only and need
    /// BENCH_USER and BENCH_PASSWORD of a system admin.
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
    /// Repositories of the org whose repository list the ui scenario pages through.
    #[arg(long, default_value_t = 10_000)]
    ui_repos: usize,
    /// Tags of the repository whose tag list the ui scenario pages through.
    #[arg(long, default_value_t = 10_000)]
    ui_tags: usize,
    /// Walks through every page of each list in the ui scenario.
    #[arg(long, default_value_t = 3)]
    ui_passes: usize,
    /// Concurrent requests that create the ui scenario's repositories and tags (untimed).
    #[arg(long, default_value_t = 8)]
    seed_conns: usize,
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

/// `p50_ms`, `p90_ms`, `p99_ms` and `max_ms` of latencies in microseconds (sorted here).
fn latency(lat: &mut [u32]) -> Value {
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    json!({
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
    })
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
    if a.wants("ui") {
        let creds = std::env::var("BENCH_USER")
            .ok()
            .zip(std::env::var("BENCH_PASSWORD").ok())
            .ok_or("the ui scenario needs BENCH_USER and BENCH_PASSWORD")?;
        let plan = UiPlan {
            repos: a.ui_repos,
            tags: a.ui_tags,
            passes: a.ui_passes,
            seed_conns: a.seed_conns,
        };
        let r = ui(&ctx, &plan, creds).await?;
        for (k, what) in [
            ("org_list", "repository list pages"),
            ("tag_list", "tag list pages"),
            ("search", "repository searches"),
        ] {
            eprintln!(
                "[{}] {what}: {} requests, p50 {:.2} ms, p99 {:.2} ms",
                a.name,
                r[k]["requests"],
                r[k]["p50_ms"].as_f64().unwrap_or(0.0),
                r[k]["p99_ms"].as_f64().unwrap_or(0.0)
            );
        }
        out["ui"] = r;
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
