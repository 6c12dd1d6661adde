//! A private PostgreSQL server for tests that stop, crash and restart the database (outage
//! tests). It never touches the shared cluster other tests use: [`PgServer::init`] runs
//! `initdb` into a temporary directory and starts `postgres` on a free loopback port with its
//! socket in that directory. [`PgServer::stop`] (fast shutdown) or [`PgServer::crash`]
//! (SIGKILL) take it down, [`PgServer::start`] brings it back on the same port and data.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, every PostgreSQL command runs
//! as the `postgres` user through `runuser`, and the directory is handed to that user. The role
//! and database are both `berth` (password `berth`; TCP connections authenticate with
//! SCRAM, the local socket is trusted for the test's own `psql`).

use crate::{free_port, is_root};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "berth";
pub const PASSWORD: &str = "berth";
pub const DATABASE: &str = "berth";

/// A running (or stopped) private PostgreSQL server.
pub struct PgServer {
    /// The `runuser` wrapper (as root) or `postgres` itself.
    child: Option<Child>,
    /// Pid of the postmaster, from `postmaster.pid`.
    postmaster: Option<u32>,
    /// Processes stopped by [`PgServer::freeze`].
    frozen: Vec<u32>,
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    as_root: bool,
    pub port: u16,
    _tmp: tempfile::TempDir,
}

/// The directory of `initdb`/`postgres`: `$BERTH_PG_BIN`, the newest
/// `/usr/lib/postgresql/<v>/bin`, or PATH.
fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BERTH_PG_BIN") {
        return PathBuf::from(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    match crate::tools::find("initdb") {
        Some(p) => p.parent().map(Path::to_owned).unwrap_or_default(),
        None => panic!(
            "PostgreSQL server binaries (initdb, postgres) are not installed; \
             run ./scripts/test.sh, which installs every tool the tests use"
        ),
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Whether `pid` is a live process (a zombie is not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // `pid (comm) state ...`; comm may contain spaces and parentheses.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z" | "X") | None)
        }
        Err(_) => false,
    }
}

/// Direct children of `pid` (the postmaster's backends and auxiliary processes).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

impl PgServer {
    /// Creates a fresh cluster in a temporary directory, starts it and creates the `berth`
    /// role and database.
    pub fn init() -> PgServer {
        let tmp = tempfile::Builder::new()
            .prefix("berth-pg-")
            .tempdir()
            .expect("temp dir");
        let dir = tmp.path().to_owned();
        let as_root = is_root();
        if as_root {
            crate::tools::run_ok(Command::new("chown").arg("postgres:").arg(&dir));
        }
        let mut pg = PgServer {
            child: None,
            postmaster: None,
            frozen: Vec::new(),
            bin: bin_dir(),
            data: dir.join("data"),
            dir,
            as_root,
            port: free_port(),
            _tmp: tmp,
        };
        let pwfile = pg.dir.join("pwfile");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).expect("password file");
        if as_root {
            crate::tools::run_ok(Command::new("chown").arg("postgres:").arg(&pwfile));
        }
        let mut initdb = pg.command("initdb");
        initdb
            .arg("-D")
            .arg(&pg.data)
            .args(["-U", USER, "-E", "UTF8", "--no-locale", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()));
        crate::tools::run_ok(&mut initdb);
        pg.start();
        pg.psql("postgres", &format!("CREATE DATABASE {DATABASE}"));
        pg
    }

    /// A command of the PostgreSQL installation, run as the `postgres` user when we are root.
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// `postgres://berth:berth@127.0.0.1:<port>/berth`
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// The server's log (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.postmaster.is_some_and(alive)
    }

    /// Starts the server on its port and data directory and waits until it accepts
    /// connections. Panics with the server log if it does not come up.
    pub fn start(&mut self) {
        assert!(!self.is_running(), "PostgreSQL is already running");
        self.reap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("postgres.log"))
            .expect("postgres log");
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            // A process kill does not lose the OS page cache: fsync only costs time here.
            .args(["-c", "fsync=off"])
            .args(["-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = cmd.spawn().expect("start postgres");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .command("pg_isready")
                .arg("-q")
                .arg("-h")
                .arg(&self.dir)
                .arg("-p")
                .arg(self.port.to_string())
                .args(["-U", USER, "-d", "postgres"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
                    .ok()
                    .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()));
                if let Some(pid) = pid {
                    self.postmaster = Some(pid);
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "postgres exited with {status} before accepting connections:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `sql` with `psql` over the local socket as the superuser; returns its output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = crate::tools::run_ok(
            self.command("psql")
                .arg("-h")
                .arg(&self.dir)
                .arg("-p")
                .arg(self.port.to_string())
                .args([
                    "-U",
                    USER,
                    "-d",
                    database,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAtc",
                    sql,
                ]),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Fast shutdown (SIGINT: sessions are terminated, the server checkpoints and exits);
    /// waits until it is gone.
    pub fn stop(&mut self) {
        let Some(pid) = self.postmaster.take() else {
            return;
        };
        signal(pid, "INT");
        let deadline = Instant::now() + Duration::from_secs(60);
        while alive(pid) {
            if Instant::now() > deadline {
                signal(pid, "KILL");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.reap();
    }

    /// A crash: SIGKILL to the postmaster and every process it started, no shutdown at all.
    /// The next [`PgServer::start`] runs crash recovery.
    pub fn crash(&mut self) {
        let Some(pid) = self.postmaster.take() else {
            return;
        };
        let kids = children(pid);
        signal(pid, "KILL");
        for k in &kids {
            signal(*k, "KILL");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while alive(pid) || kids.iter().any(|k| alive(*k)) {
            assert!(
                Instant::now() < deadline,
                "postgres processes survived SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.reap();
    }

    /// Freezes the server (SIGSTOP to the postmaster and every process it started): connections
    /// stay open and connects are queued by the kernel, but nothing answers — what clients see
    /// of a network partition or a paused machine. [`PgServer::thaw`] resumes it.
    pub fn freeze(&mut self) {
        let Some(pid) = self.postmaster else {
            return;
        };
        signal(pid, "STOP");
        self.frozen = vec![pid];
        self.frozen.extend(children(pid));
        for k in &self.frozen[1..] {
            signal(*k, "STOP");
        }
    }

    /// Resumes what [`PgServer::freeze`] stopped.
    pub fn thaw(&mut self) {
        for p in std::mem::take(&mut self.frozen) {
            signal(p, "CONT");
        }
    }

    /// Waits for the wrapper process (it exits with the postmaster).
    fn reap(&mut self) {
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- postgres log ----\n{}", self.log());
        }
        self.crash();
    }
}
