//! The blob scenarios: push (monolithic or chunked uploads), pull, and the server's memory
//! while a big blob streams in; digests are computed before the timed part.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Digests of blobs `(seed, len)`, computed on every core before the timed part.
pub(super) async fn digests(pool: &Pool, seeds: &[Vec<u64>], len: u64) -> Result<Vec<Vec<String>>> {
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
pub(super) enum Mode {
    Monolithic,
    Chunked,
}

impl Mode {
    pub(super) fn name(self) -> &'static str {
        match self {
            Mode::Monolithic => "monolithic",
            Mode::Chunked => "chunked",
        }
    }
}

pub(super) async fn push(
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
pub(super) async fn pull_set(ctx: &Ctx, size_mib: u64, count: usize) -> Result<Arc<Vec<String>>> {
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

pub(super) async fn pull(
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

/// One big monolithic push while the server's RSS is sampled every 50 ms.
pub(super) async fn memory(ctx: &Ctx, pid: u32, big_mib: u64) -> Result<Value> {
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
