//! nginx as the load balancer in front of several Berth replicas (the Debian `nginx` binary).
//!
//! [`Nginx::start`] runs a private nginx in the foreground (`daemon off`, one process:
//! `master_process off`, so killing the child stops everything) with its configuration, logs,
//! pid file and temp directories in a temp directory, listening on a free loopback port. The
//! upstream is plain round-robin without keepalive, so consecutive requests really go to
//! consecutive replicas. Request and response bodies stream through unbuffered and unlimited,
//! and `Host` is passed on, as a registry behind a proxy needs.

use std::net::TcpStream;

use crate::{free_port, is_root};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools;

/// A running nginx balancing over some `127.0.0.1:port` backends.
pub struct Nginx {
    child: Option<Child>,
    dir: PathBuf,
    /// `127.0.0.1:<port>`
    pub addr: String,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    _tmp: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx round-robin over `backends` (each `127.0.0.1:port`); returns once its port
    /// accepts connections.
    pub fn start(backends: &[&str]) -> Nginx {
        assert!(!backends.is_empty(), "nginx needs at least one backend");
        let bin = tools::require("nginx");
        let tmp = tempfile::Builder::new()
            .prefix("berth-nginx-")
            .tempdir()
            .expect("temp dir");
        let dir = tmp.path().to_owned();
        for sub in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.join("temp").join(sub)).expect("nginx temp dir");
        }
        let port = free_port();
        let servers: String = backends
            .iter()
            .map(|b| format!("        server {b} max_fails=1 fail_timeout=5s;\n"))
            .collect();
        // Root: workers would switch to `nobody`, who cannot write the temp directory.
        let user = if is_root() { "user root;\n" } else { "" };
        let d = dir.display();
        let config = format!(
            "{user}worker_processes 1;\n\
             master_process off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log notice;\n\
             events {{\n    worker_connections 1024;\n}}\n\
             http {{\n\
             log_format upstream '$request_method $uri $status $upstream_addr $upstream_status';\n\
             access_log {d}/access.log upstream;\n\
             client_body_temp_path {d}/temp/client_body;\n\
             proxy_temp_path {d}/temp/proxy;\n\
             fastcgi_temp_path {d}/temp/fastcgi;\n\
             uwsgi_temp_path {d}/temp/uwsgi;\n\
             scgi_temp_path {d}/temp/scgi;\n\
             upstream berth {{\n{servers}    }}\n\
             server {{\n\
             listen 127.0.0.1:{port};\n\
             client_max_body_size 0;\n\
             client_body_timeout 300s;\n\
             send_timeout 300s;\n\
             location / {{\n\
             proxy_pass http://berth;\n\
             proxy_http_version 1.1;\n\
             proxy_set_header Host $http_host;\n\
             proxy_request_buffering off;\n\
             proxy_buffering off;\n\
             proxy_connect_timeout 10s;\n\
             proxy_send_timeout 300s;\n\
             proxy_read_timeout 300s;\n\
             }}\n\
             }}\n\
             }}\n"
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).expect("nginx.conf");
        let child = Command::new(&bin)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let addr = format!("127.0.0.1:{port}");
        let mut n = Nginx {
            child: Some(child),
            dir,
            base: format!("http://{addr}"),
            addr,
            _tmp: tmp,
        };
        n.wait_listening();
        n
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&self.addr).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "nginx exited with {status} before listening:\n{}",
                    self.error_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {} within 30 s:\n{}",
                self.addr,
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The access log so far: one line per request, `METHOD URI STATUS UPSTREAM_ADDR
    /// UPSTREAM_STATUS` (the upstream fields list every replica tried, comma-separated).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if std::thread::panicking() {
                eprintln!("---- nginx error log ----\n{}", self.error_log());
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
