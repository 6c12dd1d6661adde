//! S3 for the tests: a real Garage server (single node, on free loopback ports).
//!
//! [`Garage`] starts a private server with one bucket and one key; tests that stop and restart
//! the store (outage, scale-out) use their own. For the whole integration suite on S3,
//! `scripts/test.sh` starts one shared server with the `berth-it-garage` helper and exports
//! `BERTH_IT_S3_ENDPOINT` (+ `_BUCKET`, `_KEY_ID`, `_SECRET`); every Berth a test starts then
//! gets its own key prefix in that bucket ([`env_for`]).

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools;

pub const REGION: &str = "garage";
pub const BUCKET: &str = "berth-it";
pub const KEY_ID: &str = "GK0123456789abcdef01234567";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Which blob store the suite runs against: `s3` or `filesystem`.
pub fn backend() -> &'static str {
    if std::env::var_os("BERTH_IT_S3_ENDPOINT").is_some() {
        "s3"
    } else {
        "filesystem"
    }
}

/// The `BERTH_STORAGE__S3__*` settings for a Berth reaching `endpoint` with the test key.
pub fn berth_env(endpoint: &str, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    [
        ("BERTH_STORAGE__S3__ENDPOINT", endpoint),
        ("BERTH_STORAGE__S3__REGION", REGION),
        ("BERTH_STORAGE__S3__BUCKET", bucket),
        ("BERTH_STORAGE__S3__PREFIX", prefix),
        ("BERTH_STORAGE__S3__PATH_STYLE", "true"),
        ("BERTH_STORAGE__S3__ACCESS_KEY_ID", KEY_ID),
        ("BERTH_STORAGE__S3__SECRET_ACCESS_KEY", SECRET),
        // Fail fast in tests that stop the store.
        ("BERTH_STORAGE__S3__ATTEMPT_TIMEOUT_SECS", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// With the suite on S3: the environment for a server on `data`, with a key prefix of its own
/// (kept in the data directory, so a restarted server finds its blobs again).
pub fn env_for(data: &Path) -> Vec<(String, String)> {
    let Ok(endpoint) = std::env::var("BERTH_IT_S3_ENDPOINT") else {
        return Vec::new();
    };
    let bucket = std::env::var("BERTH_IT_S3_BUCKET").unwrap_or_else(|_| BUCKET.into());
    let marker = data.join(".s3-prefix");
    let prefix = match std::fs::read_to_string(&marker) {
        Ok(p) => p.trim().to_owned(),
        Err(_) => {
            let p = crate::unique_name("it");
            std::fs::write(&marker, &p).expect("prefix marker");
            p
        }
    };
    berth_env(&endpoint, &bucket, &prefix)
}

/// A running single-node Garage server.
pub struct Garage {
    child: Option<Child>,
    dir: PathBuf,
    bin: PathBuf,
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    _tmp: Option<tempfile::TempDir>,
}

impl Garage {
    /// Starts a fresh server in a temporary directory, with bucket [`BUCKET`] and the test key.
    pub fn start() -> Garage {
        let tmp = tempfile::Builder::new()
            .prefix("berth-garage-")
            .tempdir()
            .expect("temp dir");
        let mut g = Self::start_in(tmp.path());
        g._tmp = Some(tmp);
        g
    }

    /// Starts a fresh server with its state in `dir` (left behind when dropped).
    pub fn start_in(dir: &Path) -> Garage {
        let bin = tools::require("garage");
        std::fs::create_dir_all(dir.join("meta")).expect("garage dir");
        std::fs::create_dir_all(dir.join("data")).expect("garage dir");
        let (s3, rpc, web, admin) = (free_port(), free_port(), free_port(), free_port());
        let secret: String = {
            use sha2::Digest;
            let seed = format!("{:?}{}", Instant::now(), std::process::id());
            hex::encode(sha2::Sha256::digest(seed.as_bytes()))
        };
        let config = format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
             metadata_fsync = false\ndata_fsync = false\nreplication_factor = 1\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_secret = \"{secret}\"\n\
             [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
             root_domain = \".s3.garage.localhost\"\n\
             [s3_web]\nbind_addr = \"127.0.0.1:{web}\"\nroot_domain = \".web.garage.localhost\"\n\
             index = \"index.html\"\n\
             [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"berth-test-admin\"\n",
            d = dir.display()
        );
        std::fs::write(dir.join("garage.toml"), config).expect("garage config");
        let mut g = Garage {
            child: None,
            dir: dir.to_owned(),
            bin,
            endpoint: format!("http://127.0.0.1:{s3}"),
            _tmp: None,
        };
        g.spawn();
        g.wait_cli();
        let node = g.cli(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap_or_default().to_owned();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&["key", "import", "--yes", "-n", "berth-test", KEY_ID, SECRET]);
        g.cli(&["bucket", "create", BUCKET]);
        g.cli(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", KEY_ID,
        ]);
        g.wait_s3();
        g
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("GARAGE_CONFIG_FILE", self.dir.join("garage.toml"))
            .env("RUST_LOG", "garage=warn");
        c
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("garage.log"))
            .expect("garage log");
        let child = self
            .command()
            .arg("server")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start garage");
        std::fs::write(self.dir.join("garage.pid"), child.id().to_string()).expect("pid file");
        self.child = Some(child);
    }

    /// Runs a `garage` CLI command against this server, returning its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = tools::run_ok(self.command().args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_cli(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .command()
            .arg("status")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(
                Instant::now() < deadline,
                "garage did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_s3(&self) {
        let addr = self.endpoint.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "garage S3 did not open:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("garage.log")).unwrap_or_default()
    }

    /// The environment for a Berth storing its blobs under `prefix` here.
    pub fn berth_env(&self, prefix: &str) -> Vec<(String, String)> {
        berth_env(&self.endpoint, BUCKET, prefix)
    }

    /// Kills the server (its data stays); [`Garage::restart`] brings it back on the same port.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        self.wait_cli();
        self.wait_s3();
    }

    /// Leaves the server running after this value is gone (the suite-wide server).
    pub fn detach(mut self) -> u32 {
        let id = self.child.as_ref().map(|c| c.id()).unwrap_or(0);
        self.child = None;
        if let Some(t) = self._tmp.take() {
            let _ = t.keep();
        }
        id
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Direct access to the objects a Berth on `data` keeps in the suite's bucket, for tests that
/// look at (or tamper with) what the store holds. Keys are relative to the server's prefix.
pub struct Peek {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl Peek {
    /// `None` when the suite does not run on S3.
    pub async fn for_data(data: &Path) -> Option<Peek> {
        let env = env_for(data);
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        if env.is_empty() {
            return None;
        }
        Some(
            Self::new(
                &get("BERTH_STORAGE__S3__ENDPOINT"),
                &get("BERTH_STORAGE__S3__BUCKET"),
                &get("BERTH_STORAGE__S3__PREFIX"),
            )
            .await,
        )
    }

    pub async fn new(endpoint: &str, bucket: &str, prefix: &str) -> Peek {
        let cfg = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                KEY_ID, SECRET, None, None, "test",
            ))
            .load()
            .await;
        let conf = aws_sdk_s3::config::Builder::from(&cfg)
            .endpoint_url(endpoint)
            .force_path_style(true)
            .build();
        Peek {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", prefix.trim_matches('/'))
            },
        }
    }

    /// Keys (relative) under `sub`.
    pub async fn list(&self, sub: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{}{sub}", self.prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for o in page.expect("list objects").contents() {
                if let Some(k) = o.key() {
                    out.push(k[self.prefix.len()..].to_owned());
                }
            }
        }
        out
    }

    /// Open multipart uploads (relative keys) under `sub`.
    pub async fn multipart_uploads(&self, sub: &str) -> Vec<String> {
        let out = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(format!("{}{sub}", self.prefix))
            .send()
            .await
            .expect("list multipart uploads");
        out.uploads()
            .iter()
            .filter_map(|u| u.key())
            .map(|k| k[self.prefix.len()..].to_owned())
            .collect()
    }

    pub async fn get(&self, key: &str) -> Vec<u8> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(format!("{}{key}", self.prefix))
            .send()
            .await
            .expect("get object");
        out.body.collect().await.expect("object body").to_vec()
    }

    pub async fn copy(&self, from: &str, to: &str) {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(format!("{}{to}", self.prefix))
            .copy_source(format!("{}/{}{from}", self.bucket, self.prefix))
            .send()
            .await
            .expect("copy object");
    }

    pub async fn delete(&self, key: &str) {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(format!("{}{key}", self.prefix))
            .send()
            .await
            .expect("delete object");
    }

    pub async fn put(&self, key: &str, data: Vec<u8>) {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{}{key}", self.prefix))
            .body(data.into())
            .send()
            .await
            .expect("put object");
    }
}
