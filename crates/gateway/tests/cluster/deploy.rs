//! The deployment files at the top of the repository: the compose file parses with the real
//! compose tool, and the environment it gives the berth service is a configuration `berth`
//! accepts (every variable names a real setting; PostgreSQL and S3 are selected).

use std::path::Path;
use std::process::Command;

use berth_testkit::tools;

use crate::BIN;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
}

/// `docker compose config` (plugin) or the standalone `docker-compose config`.
fn compose_config(file: &Path) -> String {
    let plugin = Command::new("docker")
        .args(["compose", "-f"])
        .arg(file)
        .arg("config")
        .output();
    if let Ok(out) = plugin {
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
    }
    let bin = tools::require("docker-compose");
    let out = tools::run_ok(Command::new(bin).arg("-f").arg(file).arg("config"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn compose_file_is_valid_and_configures_berth() {
    let rendered = compose_config(&repo_root().join("docker-compose.yml"));
    for service in ["berth:", "postgres:", "minio:"] {
        assert!(
            rendered.contains(&format!("\n  {service}")),
            "service {service} missing:\n{rendered}"
        );
    }
    // The berth service's environment: `      BERTH_X: value` lines of the rendered file.
    let env: Vec<(String, String)> = rendered
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("BERTH_").map(|r| (l, r)))
        .filter_map(|(_, r)| r.split_once(": "))
        .map(|(k, v)| (format!("BERTH_{k}"), v.trim().trim_matches('"').to_owned()))
        .collect();
    assert!(
        env.iter().any(|(k, _)| k == "BERTH_DATABASE__URL"),
        "{env:?}"
    );
    assert!(
        env.iter().any(|(k, _)| k == "BERTH_STORAGE__S3__BUCKET"),
        "{env:?}"
    );
    let out = Command::new(BIN)
        .arg("check-config")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "berth rejects the compose environment: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"bucket\": \"berth\""), "{stdout}");
    assert!(
        stdout.contains("postgres://berth:***@postgres:5432/berth"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("berth-minio-password"),
        "secret leaked: {stdout}"
    );
}

#[test]
fn dockerfile_healthcheck_uses_an_existing_command() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let line = dockerfile
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    assert!(line.contains("\"berth\", \"probe\""), "{line}");
    let out = Command::new(BIN)
        .args(["probe", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
}
