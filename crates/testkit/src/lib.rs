//! berth-testkit: test-only helpers.
//!
//! [`Berth`] starts the real `berth` binary as a child process on an ephemeral loopback port
//! with its own data directory, and stops it on drop. [`oci`] writes OCI image layouts that
//! real clients (skopeo, podman, oras) push. [`tools`] finds and runs those clients, failing
//! loudly when one is missing: a missing tool is never a silent skip.

// Test support only: a failed setup step should stop the test with its message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod app;
pub mod browser;
pub mod clients;
pub mod ldap;
pub mod nginx;
pub mod oci;
pub mod pg;
pub mod pgserver;
pub mod s3;
pub mod tools;

pub use app::{claims, code, Actor, TestApp};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first system admin of every server the tests start.
pub const ADMIN_USER: &str = "admin";
/// Its password (`BERTH_ADMIN_PASSWORD`).
pub const ADMIN_PASSWORD: &str = "berth-it-admin-password";

/// `Basic <base64(user:password)>`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A containers-auth.json / docker config.json granting the admin's credentials on each of
/// `registries` (`host:port`).
pub fn auth_json(registries: &[&str]) -> String {
    auth_json_for(registries, ADMIN_USER, ADMIN_PASSWORD)
}

/// [`auth_json`] for any account.
pub fn auth_json_for(registries: &[&str], user: &str, password: &str) -> String {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let auths: serde_json::Map<String, serde_json::Value> = registries
        .iter()
        .map(|r| ((*r).to_owned(), serde_json::json!({ "auth": auth })))
        .collect();
    serde_json::json!({ "auths": auths }).to_string()
}

/// A running `berth serve` child process.
pub struct Berth {
    child: Option<Child>,
    /// `127.0.0.1:<port>`
    pub addr: String,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    data: PathBuf,
    log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Berth {
    /// Starts `bin` with a fresh data directory.
    pub fn start(bin: &str) -> Berth {
        Self::start_env(bin, &[])
    }

    /// Starts `bin` with a fresh data directory and extra environment variables.
    pub fn start_env(bin: &str, env: &[(&str, &str)]) -> Berth {
        let tmp = tempfile::Builder::new()
            .prefix("berth-it-")
            .tempdir()
            .expect("temp dir");
        let data = tmp.path().join("data");
        let mut b = Self::start_in(bin, &data, env);
        b._tmp = Some(tmp);
        b
    }

    /// Starts `bin` on the data directory `data` (kept: used to restart after a crash).
    pub fn start_in(bin: &str, data: &Path, env: &[(&str, &str)]) -> Berth {
        std::fs::create_dir_all(data).expect("data dir");
        let log = data.with_extension(format!("log.{}", std::process::id()));
        let log = unique(log);
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data)
            .env_remove("BERTH_CONFIG")
            .env(
                "RUST_LOG",
                std::env::var("BERTH_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(Stdio::null())
            .stderr(log_file);
        if let Some(url) = pg::database_for(data) {
            cmd.env("BERTH_DATABASE__URL", url);
        }
        for (k, v) in s3::env_for(data) {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let mut b = Berth {
            child: Some(child),
            addr: String::new(),
            base: String::new(),
            data: data.to_owned(),
            log,
            _tmp: None,
        };
        b.addr = b.wait_listening();
        b.base = format!("http://{}", b.addr);
        b
    }

    fn wait_listening(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if let Some(i) = log.find("berth listening on http://") {
                let rest = &log[i + "berth listening on http://".len()..];
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                return addr;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("berth exited with {status} before listening:\n{log}");
            }
            if Instant::now() > deadline {
                panic!("berth did not start within 30 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server's metadata database URL (PostgreSQL when the suite runs on it).
    pub fn database_url(&self) -> String {
        pg::database_for(&self.data)
            .unwrap_or_else(|| format!("sqlite://{}?mode=rw", self.data.join("berth.db").display()))
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// SIGKILL, no chance to clean up: a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a graceful exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let pid = c.id() as i32;
        // SAFETY-free: libc::kill is called through the safe std API where possible; std has no
        // SIGTERM, so shell out to kill(1).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn unique(p: PathBuf) -> PathBuf {
    let mut i = 0;
    loop {
        let candidate = if i == 0 {
            p.clone()
        } else {
            p.with_extension(format!("{i}"))
        };
        if !candidate.exists() {
            return candidate;
        }
        i += 1;
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- berth log ({}) ----\n{}",
                self.log.display(),
                self.log()
            );
        }
        self.kill9();
    }
}

/// A reqwest client that ignores proxy settings of the environment (tests talk to loopback)
/// and sends the system admin's Basic credentials with every request.
pub fn http() -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&basic(ADMIN_USER, ADMIN_PASSWORD)).expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(h)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// [`http`] without credentials.
pub fn http_anonymous() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// `sha512:<hex>` of `data`.
pub fn sha512(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(data)))
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for servers that must be told their
/// port up front (Garage, nginx, PostgreSQL).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether this process runs as root (the services drop privileges differently then).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A name no other server of this test run uses: `<prefix>_<pid>_<n>_<ns>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}

/// Deterministic pseudo-random bytes of `len` from `seed` (xorshift64*): blob contents a test
/// can regenerate instead of keeping them in memory.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A response header as text; empty when absent or not text.
pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
