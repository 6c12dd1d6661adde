//! Outages of PostgreSQL and of S3: Berth runs on a private PostgreSQL server and a private
//! Garage while clients push (monolithic, single-request and chunked blob uploads, manifests)
//! and pull. The dependency is stopped mid-traffic and started again, without restarting
//! Berth. During the outage every failing request must be a timely 503 with OCI error JSON
//! and `Retry-After`, `/readyz` must name the missing dependency, `/healthz` stays 200 and the
//! process neither dies nor panics. Afterwards, requests succeed again, every push that was
//! acknowledged (before, during or after the outage) reads back byte for byte, and every
//! visible manifest has all its blobs.
//!
//! Clients behave like real ones: a push that fails is retried (a blob upload from a new
//! session, a chunked upload from where `GET` on its session says it stands), so operations in
//! flight when the dependency goes away complete after it is back.
//!
//! The files: `cluster.rs` (the private servers and how a dependency goes away), `clients.rs`
//! (the clients and how they judge answers), `spanning.rs` (the upload open across the
//! outage), `probes.rs` (what the outage looks like from outside), `verify.rs` (what must hold
//! afterwards).

mod clients;
mod cluster;
mod probes;
mod spanning;
mod verify;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::http;

use clients::{mixed, pusher, wait_for, Log, Traffic};
use cluster::{Cluster, Dependency, How};
use probes::{probe_the_outage, readyz, wait_ready_again};

const PREFIX: &str = "outage";
/// Pushers that retry every push until it is acknowledged.
const PUSHERS: usize = 3;
/// No request may take this long, outage or not: a dependency that is down is a timely 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Generous bound for every wait on progress (warm-up, outage effects, recovery).
const DEADLINE: Duration = Duration::from_secs(180);

const BEFORE: u8 = 0;
const DOWN: u8 = 1;
const AFTER: u8 = 2;
const PHASES: [&str; 3] = ["before", "down", "after"];

/// The whole scenario for one dependency.
async fn outage(dep: Dependency, how: How) {
    let started = Instant::now();
    let mut cl = Cluster::start();
    let c = http();
    let (status, body) = readyz(&c, &cl.berth).await;
    assert_eq!(status, 200, "{body}");

    let t = Arc::new(Traffic {
        base: cl.berth.base.clone(),
        c: http(),
        phase: AtomicU8::new(BEFORE),
        stopping: AtomicBool::new(false),
        paused: AtomicBool::new(false),
        sent: AtomicUsize::new(0),
        log: Mutex::new(Log::default()),
    });
    let mut tasks = Vec::new();
    for w in 0..PUSHERS {
        tasks.push(tokio::spawn(pusher(t.clone(), w)));
    }
    tasks.push(tokio::spawn(mixed(t.clone())));
    tasks.push(tokio::spawn(spanning::spanning(t.clone())));

    // Traffic first: acknowledged pushes of every kind, and the spanning upload mid-session.
    wait_for("warm-up traffic", &t, |l| {
        l.pushes.manifests.len() >= 10 && l.pushes.blobs.len() >= 20
    })
    .await;
    wait_for("the spanning upload to open its session", &t, |_| {
        t.paused.load(Ordering::SeqCst)
    })
    .await;
    assert!(
        t.log.lock().unwrap().errors.is_empty(),
        "requests failed before the outage: {:#?}",
        t.log.lock().unwrap().errors
    );

    // The outage.
    t.phase.store(DOWN, Ordering::SeqCst);
    let down_at = Instant::now();
    cl.stop(dep, how);
    eprintln!("{dep:?} {how:?} after {:?} of traffic", down_at - started);
    let (rounds, slowest) = probe_the_outage(&c, &cl, &t, dep, how, down_at).await;
    let outage_len = down_at.elapsed();

    // Back, without restarting Berth.
    cl.start_again(dep, how);
    let restarted = Instant::now();
    t.log.lock().unwrap().restarted = Some(restarted);
    wait_ready_again(&c, &cl.berth, dep, restarted).await;
    let ready_after = restarted.elapsed();
    t.phase.store(AFTER, Ordering::SeqCst);
    wait_for("traffic after the outage", &t, |l| {
        l.acked[AFTER as usize] >= 30 && l.spanning.is_some()
    })
    .await;
    t.stopping.store(true, Ordering::SeqCst);
    for task in tasks {
        tokio::time::timeout(DEADLINE, task)
            .await
            .expect("a client did not stop")
            .unwrap();
    }
    let traffic_secs = started.elapsed();
    let log = std::mem::take(&mut *t.log.lock().unwrap());
    let first_ack = log
        .first_ack_after_restart
        .map(|i| i.duration_since(restarted));
    let first_503 = log.first_503.map(|i| i.duration_since(down_at));
    eprintln!(
        "{dep:?} {how:?}: {} requests sent; answered ok before/down/after {:?}; 503 during the outage {} {:?}; \
         acknowledged before/down/after {:?}; transport failures during the outage {}; probe rounds {rounds}, \
         slowest probe 503 {slowest:?}; first 503 {first_503:?} after the stop; outage {outage_len:?}; \
         /readyz 200 {ready_after:?} and first acknowledgement {first_ack:?} after the restart; \
         the spanning upload met {} 503s; {traffic_secs:?} so far",
        t.sent.load(Ordering::SeqCst),
        log.ok,
        log.unavailable,
        log.unavailable_by_kind,
        log.acked,
        log.transport.len(),
        log.spanning_503,
    );
    assert!(
        log.errors.is_empty(),
        "{} requests went wrong: {:#?}",
        log.errors.len(),
        log.errors
    );
    assert!(
        log.transport.is_empty(),
        "connections failed during the outage instead of a 503: {:#?}",
        log.transport
    );
    if !log.truncated.is_empty() {
        eprintln!(
            "{dep:?} {how:?}: {} response bodies cut off as the dependency went down",
            log.truncated.len()
        );
    }
    assert!(
        log.spanning_503 > 0,
        "the upload open across the outage never met it"
    );

    verify::verify(&cl, &log).await;

    let server_log = cl.berth.log();
    eprintln!(
        "{dep:?} {how:?}: berth logged {} \"dependency unavailable\" warnings",
        server_log.matches("dependency unavailable").count()
    );
    assert!(
        !server_log.contains("panicked"),
        "berth panicked:\n{server_log}"
    );
    assert!(
        !server_log.contains("internal error"),
        "berth answered 500 during the {dep:?} outage:\n{server_log}"
    );
    let (status, _) = readyz(&c, &cl.berth).await;
    assert_eq!(status, 200);
    eprintln!("{dep:?} {how:?} test done in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stop_is_503_and_recovers() {
    outage(Dependency::Database, How::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_crash_is_503_and_recovers() {
    outage(Dependency::Database, How::Crash).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_freeze_is_503_and_recovers() {
    outage(Dependency::Database, How::Freeze).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_stop_is_503_and_recovers() {
    outage(Dependency::Storage, How::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_freeze_is_503_and_recovers() {
    outage(Dependency::Storage, How::Freeze).await;
}
