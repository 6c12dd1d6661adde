//! Markdown tables of one run, and the comparison of two runs against the project's targets.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::Result;

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn f(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "–".into(),
    }
}

fn mbps(r: &Value) -> Option<f64> {
    Some(num(&r["bytes"])? / num(&r["secs"])? / 1e6)
}

/// CPU seconds per GB (10^9 bytes) moved.
fn per_gb(r: &Value, key: &str) -> Option<f64> {
    Some(num(&r[key])? / (num(&r["bytes"])? / 1e9))
}

fn per_sec(r: &Value, count: &str) -> Option<f64> {
    Some(num(&r[count])? / num(&r["secs"])?)
}

fn rows(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The tables of one run.
pub fn render(v: &Value) -> String {
    let mut s = String::new();
    let name = v["name"].as_str().unwrap_or("registry");
    let _ = writeln!(s, "### {name}\n");
    let _ =
        writeln!(
        s,
        "Server at {} (PID {}); {} CPUs ({}) shared by the benchmark client and the server, so \
         client CPU is taken from the server's budget.\n",
        v["url"].as_str().unwrap_or("?"),
        v["pid"].as_u64().map_or("not given".into(), |p| p.to_string()),
        v["nproc"],
        v["cpu_model"].as_str().unwrap_or("?"),
    );
    if !rows(&v["push"]).is_empty() {
        let _ = writeln!(s, "#### Blob push\n");
        let _ = writeln!(
            s,
            "| blob | clients | mode | blobs | MiB moved | seconds | MB/s | blobs/s | server CPU s/GB | client CPU s/GB | server peak RSS MiB |"
        );
        let _ = writeln!(s, "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in rows(&v["push"]) {
            let mode = match r["chunk_mib"].as_u64() {
                Some(c) => format!("chunked ({c} MiB PATCHes)"),
                None => r["mode"].as_str().unwrap_or("?").to_owned(),
            };
            let _ = writeln!(
                s,
                "| {} MiB | {} | {mode} | {} | {} | {} | **{}** | {} | {} | {} | {} |",
                r["size_mib"],
                r["clients"],
                r["blobs"],
                f(num(&r["bytes"]).map(|b| b / 1048576.0), 0),
                f(num(&r["secs"]), 2),
                f(mbps(r), 1),
                f(per_sec(r, "blobs"), 1),
                f(per_gb(r, "server_cpu_s"), 2),
                f(per_gb(r, "client_cpu_s"), 2),
                f(num(&r["peak_rss_mib"]), 1),
            );
        }
        s.push('\n');
    }
    if !rows(&v["pull"]).is_empty() {
        let _ = writeln!(
            s,
            "#### Blob pull (client verifies sha256 while downloading)\n"
        );
        let _ = writeln!(
            s,
            "| blob | clients | pulls | MiB moved | seconds | MB/s | pulls/s | server CPU s/GB | client CPU s/GB | server peak RSS MiB |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in rows(&v["pull"]) {
            let _ = writeln!(
                s,
                "| {} MiB | {} | {} | {} | {} | **{}** | {} | {} | {} | {} |",
                r["size_mib"],
                r["clients"],
                r["pulls"],
                f(num(&r["bytes"]).map(|b| b / 1048576.0), 0),
                f(num(&r["secs"]), 2),
                f(mbps(r), 1),
                f(per_sec(r, "pulls"), 1),
                f(per_gb(r, "server_cpu_s"), 2),
                f(per_gb(r, "client_cpu_s"), 2),
                f(num(&r["peak_rss_mib"]), 1),
            );
        }
        s.push('\n');
    }
    let a = &v["auth"];
    if a.is_object() {
        let _ = writeln!(s, "#### Token service and authenticated pulls\n");
        let _ = writeln!(
            s,
            "| what | connections | requests | errors | req/s | p50 ms | p99 ms | server CPU (cores) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for (k, what) in [
            (
                "refresh",
                "token request with a refresh token (OAuth2 POST)",
            ),
            ("basic", "token request with Basic credentials (argon2id)"),
            ("manifest_user", "manifest GET by tag, user's token"),
            (
                "manifest_anonymous",
                "manifest GET by tag, anonymous token (public org)",
            ),
        ] {
            let r = &a[k];
            let cores = Some(
                num(&r["server_cpu_s"]).unwrap_or(f64::NAN) / num(&r["secs"]).unwrap_or(f64::NAN),
            );
            let _ = writeln!(
                s,
                "| {what} | {} | {} | {} | **{}** | {} | {} | {} |",
                r["conns"],
                r["requests"],
                r["errors"],
                f(num(&r["req_s"]), 0),
                f(num(&r["p50_ms"]), 2),
                f(num(&r["p99_ms"]), 2),
                f(cores.filter(|c| c.is_finite()), 2),
            );
        }
        s.push('\n');
    }
    let m = &v["manifest"];
    if m.is_object() {
        let _ = writeln!(
            s,
            "#### Manifest GET by tag (keep-alive connections, docker's Accept header)\n"
        );
        let _ = writeln!(
            s,
            "| connections | seconds | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms | server CPU (cores) | client CPU (cores) |"
        );
        let _ = writeln!(
            s,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let cores = |k: &str| Some(num(&m[k])? / num(&m["secs"])?);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | **{}** | {} | {} | **{}** | {} | {} | {} |\n",
            m["conns"],
            f(num(&m["measured_secs"]), 0),
            m["requests"],
            m["errors"],
            f(num(&m["req_s"]), 0),
            f(num(&m["p50_ms"]), 2),
            f(num(&m["p90_ms"]), 2),
            f(num(&m["p99_ms"]), 2),
            f(num(&m["max_ms"]), 1),
            f(cores("server_cpu_s"), 2),
            f(cores("client_cpu_s"), 2),
        );
    }
    let u = &v["ui"];
    if u.is_object() {
        let _ = writeln!(
            s,
            "#### Web UI pages (one signed-in client, one request at a time; {} repositories in the org, {} tags in the repository, seeded in {} s + {} s)\n",
            u["repos"],
            u["tags"],
            f(num(&u["seed_repos_secs"]), 0),
            f(num(&u["seed_tags_secs"]), 0),
        );
        let _ = writeln!(
            s,
            "| page | pages per walk | requests | KiB per page | p50 ms | p90 ms | p99 ms | max ms |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for (k, what) in [
            ("org_list", "an org's repository list, every page"),
            ("tag_list", "a repository's tag list, every page"),
            ("search", "repository search matching one name"),
        ] {
            let r = &u[k];
            let _ = writeln!(
                s,
                "| {what} | {} | {} | {} | {} | {} | **{}** | {} |",
                r["pages_per_walk"],
                r["requests"],
                f(num(&r["kib_per_page"]), 1),
                f(num(&r["p50_ms"]), 2),
                f(num(&r["p90_ms"]), 2),
                f(num(&r["p99_ms"]), 2),
                f(num(&r["max_ms"]), 1),
            );
        }
        s.push('\n');
    }
    let mem = &v["memory"];
    let overall = num(&v["peak_rss_overall_mib"]);
    if mem.is_object() || overall.is_some() {
        let _ = writeln!(s, "#### Server memory\n");
        let _ = writeln!(s, "| measure | value |\n|---|---:|");
        if mem.is_object() {
            let size = &mem["size_mib"];
            let _ = writeln!(
                s,
                "| RSS before the {size} MiB push (idle, after all other scenarios) | {} MiB |",
                f(num(&mem["idle_rss_mib"]), 1)
            );
            let _ = writeln!(
                s,
                "| **peak RSS while one {size} MiB blob streams in** (monolithic PUT; max of {} samples every 50 ms) | **{} MiB** |",
                mem["samples"],
                f(num(&mem["peak_rss_mib"]), 1)
            );
            let _ = writeln!(
                s,
                "| peak RSS during that push (VmHWM after resetting it via clear_refs) | {} MiB |",
                f(num(&mem["hwm_mib"]), 1)
            );
            let _ = writeln!(
                s,
                "| throughput of that push | {} MB/s ({} s) |",
                f(mbps(mem), 1),
                f(num(&mem["secs"]), 2)
            );
        }
        let _ = writeln!(
            s,
            "| peak RSS over the whole run (VmHWM) | {} MiB |\n",
            f(overall, 1)
        );
    }
    s
}

fn find<'a>(
    v: &'a Value,
    list: &str,
    size: u64,
    clients: u64,
    mode: Option<&str>,
) -> Option<&'a Value> {
    rows(&v[list]).iter().find(|r| {
        r["size_mib"].as_u64() == Some(size)
            && r["clients"].as_u64() == Some(clients)
            && mode.is_none_or(|m| r["mode"].as_str() == Some(m))
    })
}

struct Line {
    what: String,
    berth: Option<f64>,
    reference: Option<f64>,
    unit: &'static str,
    /// (goal text, met?)
    goal: Option<(String, Option<bool>)>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn at_least(l: Option<f64>, x: f64) -> Option<bool> {
    l.map(|r| r >= x)
}

fn yes_no(m: Option<bool>) -> &'static str {
    match m {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

/// Prints the comparison of Berth's run with the reference's, then both runs' tables.
pub fn compare(berth: &Path, reference: &Path) -> Result<()> {
    let b: Value = serde_json::from_slice(&std::fs::read(berth)?)?;
    let r: Value = serde_json::from_slice(&std::fs::read(reference)?)?;
    let bn = b["name"].as_str().unwrap_or("Berth").to_owned();
    let rn = r["name"].as_str().unwrap_or("reference").to_owned();
    let mut targets: Vec<Line> = Vec::new();
    let push =
        |v: &Value, size, clients, mode| find(v, "push", size, clients, Some(mode)).and_then(mbps);
    let pull = |v: &Value, size, clients| find(v, "pull", size, clients, None).and_then(mbps);
    let pull_cpu = |v: &Value, size, clients| {
        find(v, "pull", size, clients, None).and_then(|x| per_gb(x, "server_cpu_s"))
    };

    let (x, y) = (push(&b, 64, 1, "monolithic"), push(&r, 64, 1, "monolithic"));
    targets.push(Line {
        what: "64 MiB monolithic push, 1 client".into(),
        berth: x,
        reference: y,
        unit: "MB/s",
        goal: Some(("≥ 2.5×".into(), at_least(ratio(x, y), 2.5))),
    });
    for mode in ["monolithic", "chunked"] {
        for clients in [1, 4] {
            let (x, y) = (push(&b, 1, clients, mode), push(&r, 1, clients, mode));
            targets.push(Line {
                what: format!("1 MiB {mode} push, {clients} client(s)"),
                berth: x,
                reference: y,
                unit: "MB/s",
                goal: Some(("≥ 3×".into(), at_least(ratio(x, y), 3.0))),
            });
        }
    }
    for clients in [1, 8] {
        let (x, y) = (pull(&b, 64, clients), pull(&r, 64, clients));
        targets.push(Line {
            what: format!("64 MiB pull, {clients} client(s)"),
            berth: x,
            reference: y,
            unit: "MB/s",
            goal: Some(("≥ 1.2×".into(), at_least(ratio(x, y), 1.2))),
        });
        let (x, y) = (pull_cpu(&b, 64, clients), pull_cpu(&r, 64, clients));
        targets.push(Line {
            what: format!("64 MiB pull, {clients} client(s): server CPU per GB"),
            berth: x,
            reference: y,
            unit: "CPU s/GB",
            goal: Some(("≤ 0.5×".into(), ratio(x, y).map(|q| q <= 0.5))),
        });
    }
    for clients in [1, 8] {
        let (x, y) = (pull(&b, 1, clients), pull(&r, 1, clients));
        targets.push(Line {
            what: format!("1 MiB pull, {clients} client(s)"),
            berth: x,
            reference: y,
            unit: "MB/s",
            goal: Some(("≥ 2×".into(), at_least(ratio(x, y), 2.0))),
        });
    }
    let conns = b["manifest"]["conns"].as_u64().unwrap_or(32);
    let (x, y) = (num(&b["manifest"]["req_s"]), num(&r["manifest"]["req_s"]));
    targets.push(Line {
        what: format!("manifest GET by tag, {conns} connections"),
        berth: x,
        reference: y,
        unit: "req/s",
        goal: Some(("≥ 5×".into(), at_least(ratio(x, y), 5.0))),
    });
    let (x, y) = (num(&b["manifest"]["p99_ms"]), num(&r["manifest"]["p99_ms"]));
    targets.push(Line {
        what: format!("manifest GET p99 latency, {conns} connections"),
        berth: x,
        reference: y,
        unit: "ms",
        goal: Some((format!("{bn} < 10 ms"), x.map(|p| p < 10.0))),
    });
    let (x, y) = (
        num(&b["memory"]["peak_rss_mib"]),
        num(&r["memory"]["peak_rss_mib"]),
    );
    let big = b["memory"]["size_mib"].as_u64().unwrap_or(1024);
    targets.push(Line {
        what: format!("server peak RSS while a {big} MiB blob streams in"),
        berth: x,
        reference: y,
        unit: "MiB",
        goal: Some((format!("{bn} < 64 MiB"), x.map(|m| m < 64.0))),
    });

    let mut s = String::new();
    let _ = writeln!(s, "### Targets\n");
    let _ = writeln!(s, "| figure | {bn} | {rn} | {bn} / {rn} | target | |");
    let _ = writeln!(s, "|---|---:|---:|---:|---|---|");
    for l in &targets {
        let (goal, met) = match &l.goal {
            Some((g, m)) => (g.clone(), yes_no(*m)),
            None => (String::new(), ""),
        };
        let _ = writeln!(
            s,
            "| {} | {} {} | {} {} | {}× | {goal} | {met} |",
            l.what,
            f(l.berth, 2),
            l.unit,
            f(l.reference, 2),
            l.unit,
            f(ratio(l.berth, l.reference), 2),
        );
    }
    let _ = writeln!(s, "\n### Side by side (throughput, MB/s)\n");
    let _ = writeln!(
        s,
        "| scenario | {bn} | {rn} | {bn} / {rn} |\n|---|---:|---:|---:|"
    );
    for x in rows(&b["push"]) {
        let (size, clients, mode) = (
            x["size_mib"].as_u64().unwrap_or(0),
            x["clients"].as_u64().unwrap_or(0),
            x["mode"].as_str().unwrap_or("?"),
        );
        let y = find(&r, "push", size, clients, Some(mode)).and_then(mbps);
        let _ = writeln!(
            s,
            "| push {size} MiB, {mode}, {clients} client(s) | {} | {} | {}× |",
            f(mbps(x), 1),
            f(y, 1),
            f(ratio(mbps(x), y), 2)
        );
    }
    for x in rows(&b["pull"]) {
        let (size, clients) = (
            x["size_mib"].as_u64().unwrap_or(0),
            x["clients"].as_u64().unwrap_or(0),
        );
        let y = find(&r, "pull", size, clients, None).and_then(mbps);
        let _ = writeln!(
            s,
            "| pull {size} MiB, {clients} client(s) | {} | {} | {}× |",
            f(mbps(x), 1),
            f(y, 1),
            f(ratio(mbps(x), y), 2)
        );
    }
    s.push('\n');
    s.push_str(&render(&b));
    s.push_str(&render(&r));
    print!("{s}");
    Ok(())
}
