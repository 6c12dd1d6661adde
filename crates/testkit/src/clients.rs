//! Real OCI clients set up for tests: skopeo and podman with every piece of state (auth file,
//! storage, temporary files) in a test's own directory, the Python of the tools venv that has
//! oras-py, the docker CLI with its own config, and readers of OCI image layouts that clients
//! wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::sha256;
use crate::tools::{require, run_ok};

/// skopeo with its auth file and big-file temp dir in a test directory, an accept-anything
/// signature policy, and TLS verification off (loopback registries speak plain HTTP).
pub struct Skopeo {
    bin: PathBuf,
    dir: PathBuf,
}

impl Skopeo {
    /// Keeps skopeo's state under `dir` (which must exist).
    pub fn new(dir: &Path) -> Skopeo {
        let dir = dir.join("skopeo");
        std::fs::create_dir_all(dir.join("tmp"))
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        write_empty_auth(&dir);
        Skopeo {
            bin: require("skopeo"),
            dir,
        }
    }

    /// Stores the system admin's credentials for `registry` (`host:port`) in the auth file.
    pub fn login(self, registries: &[&str]) -> Self {
        std::fs::write(self.dir.join("auth.json"), crate::auth_json(registries))
            .expect("auth file");
        self
    }

    /// `skopeo --insecure-policy` with the test's environment; add the subcommand and args.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("REGISTRY_AUTH_FILE", self.dir.join("auth.json"))
            .env("TMPDIR", self.dir.join("tmp"))
            .arg("--insecure-policy");
        c
    }

    /// `skopeo copy <extra…> <src> <dst>` with TLS verification off on both sides; panics on
    /// failure with skopeo's output.
    pub fn copy(&self, extra: &[&str], src: &str, dst: &str) -> Output {
        run_ok(
            self.cmd()
                .arg("copy")
                .arg("--src-tls-verify=false")
                .arg("--dest-tls-verify=false")
                .args(extra)
                .arg(src)
                .arg(dst),
        )
    }

    /// `skopeo inspect --raw <image>`: the manifest bytes as the registry serves them.
    pub fn inspect_raw(&self, image: &str) -> Vec<u8> {
        run_ok(
            self.cmd()
                .arg("inspect")
                .arg("--tls-verify=false")
                .arg("--raw")
                .arg(image),
        )
        .stdout
    }
}

/// podman with its own storage (`--root`, `--runroot`, `--tmpdir`, vfs driver) and auth file
/// under a test directory, so tests share nothing with each other or the machine.
pub struct Podman {
    bin: PathBuf,
    dir: PathBuf,
}

impl Podman {
    /// Keeps podman's state under `dir` (which must exist).
    pub fn new(dir: &Path) -> Podman {
        let dir = dir.join("podman");
        for sub in ["root", "runroot", "tmp"] {
            std::fs::create_dir_all(dir.join(sub))
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        write_empty_auth(&dir);
        Podman {
            bin: require("podman"),
            dir,
        }
    }

    /// Stores the system admin's credentials for `registries` (`host:port`) in the auth file.
    pub fn login(self, registries: &[&str]) -> Self {
        std::fs::write(self.dir.join("auth.json"), crate::auth_json(registries))
            .expect("auth file");
        self
    }

    /// `podman` with the isolating global flags; add the subcommand and args.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("REGISTRY_AUTH_FILE", self.dir.join("auth.json"))
            .env("TMPDIR", self.dir.join("tmp"))
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .arg("--storage-driver")
            .arg("vfs")
            .arg("--events-backend")
            .arg("none");
        c
    }

    /// Runs `podman <args…>`, panicking with its output on failure; returns stdout as text.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = run_ok(self.cmd().args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// An empty `auth.json` (podman refuses a `REGISTRY_AUTH_FILE` that does not exist).
fn write_empty_auth(dir: &Path) {
    let path = dir.join("auth.json");
    std::fs::write(&path, "{\"auths\":{}}")
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The tools venv's Python running `script` (an oras-py script) with `HOME` and
/// `DOCKER_CONFIG` under `home` (oras-py reads and may write `~/.docker/config.json`) and no
/// proxy settings (registries are on loopback).
pub fn oras_script(script: &Path, home: &Path) -> Command {
    std::fs::create_dir_all(home).expect("oras home");
    let mut c = Command::new(oras_python());
    c.arg(script)
        .env("HOME", home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY");
    c
}

/// The Python interpreter of the tools venv that has oras-py (made by
/// `scripts/install-test-deps.sh`). Looked up in `$BERTH_TOOLS_DIR` (the venv's `bin`, or the
/// venv, or a directory holding `venv`), then `$BERTH_CACHE_DIR/venv`, then
/// `$HOME/.cache/berth/venv`. Panics with an install hint when none can `import oras`.
pub fn oras_python() -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(d) = std::env::var("BERTH_TOOLS_DIR") {
        let d = PathBuf::from(d);
        candidates.push(d.join("python"));
        candidates.push(d.join("bin/python"));
        candidates.push(d.join("venv/bin/python"));
    }
    if let Ok(d) = std::env::var("BERTH_CACHE_DIR") {
        candidates.push(PathBuf::from(d).join("venv/bin/python"));
    }
    if let Ok(h) = std::env::var("HOME") {
        candidates.push(PathBuf::from(h).join(".cache/berth/venv/bin/python"));
    }
    for p in &candidates {
        if !p.is_file() {
            continue;
        }
        let ok = Command::new(p)
            .args(["-c", "import oras.client"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return p.clone();
        }
    }
    panic!(
        "required test tool `oras` (Python package oras-py) is not installed: no Python with \
         `import oras` among {candidates:?}; run ./scripts/install-test-deps.sh (or set \
         BERTH_TOOLS_DIR to the venv's bin directory)"
    );
}

/// Reads OCI image layouts written by clients (`oci:DIR:tag`).
pub mod layout {
    use super::*;

    fn read_json(path: &Path) -> Value {
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    }

    /// The descriptor `index.json` of the layout at `dir` gives for `tag`.
    pub fn tagged(dir: &Path, tag: &str) -> Value {
        let index = read_json(&dir.join("index.json"));
        let found = index["manifests"].as_array().and_then(|ms| {
            ms.iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
                .cloned()
        });
        found.unwrap_or_else(|| panic!("{}: no tag {tag} in index.json: {index}", dir.display()))
    }

    /// The bytes of blob `digest`, checked to hash to it.
    pub fn blob(dir: &Path, digest: &str) -> Vec<u8> {
        let (alg, hex) = digest
            .split_once(':')
            .unwrap_or_else(|| panic!("bad digest {digest}"));
        let path = dir.join("blobs").join(alg).join(hex);
        let data =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert_eq!(alg, "sha256", "only sha256 layouts are read here");
        assert_eq!(
            sha256(&data),
            digest,
            "{} does not hash to its name",
            path.display()
        );
        data
    }

    /// Every blob reachable from the manifest or index `digest` (itself included), by digest.
    pub fn closure(dir: &Path, digest: &str) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(dir, digest, &mut out);
        out
    }

    fn walk(dir: &Path, digest: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        if out.contains_key(digest) {
            return;
        }
        let data = blob(dir, digest);
        let m: Value = serde_json::from_slice(&data)
            .unwrap_or_else(|e| panic!("manifest {digest} is not JSON: {e}"));
        out.insert(digest.to_owned(), data);
        if let Some(children) = m["manifests"].as_array() {
            for c in children {
                walk(dir, c["digest"].as_str().unwrap_or_default(), out);
            }
            return;
        }
        let mut descs: Vec<&Value> = Vec::new();
        if m["config"].is_object() {
            descs.push(&m["config"]);
        }
        if let Some(layers) = m["layers"].as_array() {
            descs.extend(layers.iter());
        }
        for d in descs {
            let dg = d["digest"].as_str().unwrap_or_default();
            let data = blob(dir, dg);
            assert_eq!(
                Some(data.len() as u64),
                d["size"].as_u64(),
                "blob {dg} has the wrong size for its descriptor"
            );
            out.insert(dg.to_owned(), data);
        }
    }
}

/// The docker CLI with its config (logins) in a test directory, talking to the machine's
/// engine; every image it imported or was told to forget is removed from the engine when it
/// drops, whatever the test did.
pub struct Docker {
    bin: PathBuf,
    config: PathBuf,
    dir: PathBuf,
    images: std::sync::Mutex<Vec<String>>,
}

impl Docker {
    pub fn new(dir: &Path) -> Docker {
        let config = dir.join("docker-config");
        std::fs::create_dir_all(&config).expect("docker config dir");
        Docker {
            bin: require("docker"),
            config,
            dir: dir.to_owned(),
            images: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The directory holding `config.json` (to write logins into directly).
    pub fn config_dir(&self) -> &Path {
        &self.config
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("DOCKER_CONFIG", &self.config);
        c
    }

    /// `docker login host -u user --password-stdin` with `secret` on standard input.
    pub fn login(&self, host: &str, user: &str, secret: &str) -> Output {
        crate::tools::run_with_stdin(
            self.cmd()
                .args(["login", host, "-u", user, "--password-stdin"]),
            secret,
        )
    }

    /// Removes `image` from the engine when this client drops.
    pub fn forget_on_drop(&self, image: &str) {
        if let Ok(mut v) = self.images.lock() {
            v.push(image.to_owned());
        }
    }

    /// Imports a one-file image (`/bin/busybox` of this machine) into the engine as `image`
    /// (no registry is needed to make it), removed again when this client drops.
    pub fn import_busybox(&self, image: &str) {
        self.import_busybox_with(image, &[]);
    }

    /// [`Docker::import_busybox`] with Dockerfile instructions applied to its config
    /// (`docker import --change`, e.g. `ENV VARIANT=arm64`), for images that must differ.
    pub fn import_busybox_with(&self, image: &str, changes: &[&str]) {
        let root = self.dir.join("rootfs");
        std::fs::create_dir_all(root.join("bin")).expect("rootfs");
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy /bin/busybox");
        let tarball = self.dir.join("rootfs.tar");
        run_ok(
            Command::new(require("tar"))
                .arg("-C")
                .arg(&root)
                .arg("-cf")
                .arg(&tarball)
                .arg("."),
        );
        self.forget_on_drop(image);
        let mut import = self.cmd();
        import.arg("import");
        for c in changes {
            import.arg("--change").arg(c);
        }
        run_ok(import.arg(&tarball).arg(image));
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let images = self.images.lock().map(|v| v.clone()).unwrap_or_default();
        for r in images {
            let _ = self.cmd().args(["rmi", "-f", &r]).output();
        }
    }
}
