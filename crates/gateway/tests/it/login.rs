//! Real clients through the token flow: `docker login` (the engine on this machine) with a user
//! and with a robot, push and pull, `docker logout`; `podman login`, `skopeo login`, oras-py
//! with credentials; a wrong password refused by each.

use std::process::Command;

use berth_testkit::clients::{oras_python, Podman, Skopeo};
use berth_testkit::oci::Layout;
use berth_testkit::tools::{output_text, require, run, run_ok, run_with_stdin};
use berth_testkit::TestApp;
use serde_json::{json, Value};

use crate::BIN;

/// A user `dora` (developer of org `shop`) and a robot `shop+ci` that may push and pull.
async fn shop(app: &TestApp) -> String {
    let admin = app.admin();
    app.user("dora").await;
    admin
        .api_ok("POST", "/orgs", Some(json!({"name": "shop"})))
        .await;
    admin.member("shop", "user", "dora", "developer").await;
    let robot = app
        .robot(
            "shop",
            "ci",
            json!([{"repositories": "*", "actions": ["pull", "push"]}]),
        )
        .await;
    robot.login().1.to_owned()
}

#[tokio::test]
async fn docker_login_push_pull_logout_as_user_and_robot() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    let robot_secret = shop(&app).await;
    let tmp = tempfile::Builder::new()
        .prefix("berth-login-")
        .tempdir()
        .unwrap();
    let docker_bin = require("docker");
    let config = tmp.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let docker = || {
        let mut c = Command::new(&docker_bin);
        c.env("DOCKER_CONFIG", &config);
        c
    };
    let host = app.b.addr.clone();

    // A wrong password is refused.
    let out = run_with_stdin(
        docker().args(["login", &host, "-u", "dora", "--password-stdin"]),
        "not-her-password",
    );
    assert!(
        !out.status.success(),
        "docker login with a wrong password: {}",
        output_text(&out)
    );

    // A right one: the engine logs in through the token service and the CLI keeps an identity
    // token (our refresh token), not the password.
    let out = run_with_stdin(
        docker().args(["login", &host, "-u", "dora", "--password-stdin"]),
        "dora-password",
    );
    assert!(out.status.success(), "docker login: {}", output_text(&out));
    let cfg = std::fs::read_to_string(config.join("config.json")).unwrap();
    assert!(!cfg.contains("dora-password"));
    let cfg: Value = serde_json::from_str(&cfg).unwrap();
    let entry = &cfg["auths"][&host];
    assert!(
        entry["identitytoken"]
            .as_str()
            .is_some_and(|t| t.starts_with("brt_")),
        "docker keeps the refresh token: {cfg}"
    );

    // An image made here, pushed and pulled back.
    let root = tmp.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let tarball = tmp.path().join("rootfs.tar");
    run_ok(
        Command::new(require("tar"))
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tarball)
            .arg("."),
    );
    let image = format!("{host}/shop/app:v1");
    let robot_image = format!("{host}/shop/robot:v1");
    let _cleanup = Cleanup {
        docker: docker_bin.clone(),
        config: config.clone(),
        refs: vec![image.clone(), robot_image.clone()],
    };
    run_ok(docker().arg("import").arg(&tarball).arg(&image));
    let push = run(docker().arg("push").arg(&image));
    assert!(
        push.status.success(),
        "docker push as dora: {}",
        output_text(&push)
    );
    run_ok(docker().args(["rmi", &image]));
    let pull = run(docker().args(["pull", &image]));
    assert!(
        pull.status.success(),
        "docker pull as dora: {}",
        output_text(&pull)
    );

    // The audit log saw dora log in and push.
    let log = admin.api_ok("GET", "/audit-log?org=shop", None).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "user:dora" && e["action"] == "push"),
        "{log}"
    );

    // Logged out: the private image is out of reach.
    run_ok(docker().args(["logout", &host]));
    run_ok(docker().args(["rmi", &image]));
    let pull = run(docker().args(["pull", &image]));
    assert!(
        !pull.status.success(),
        "pulled a private image after logout"
    );

    // The robot logs in with its secret and pushes.
    let out = run_with_stdin(
        docker().args(["login", &host, "-u", "shop+ci", "--password-stdin"]),
        &robot_secret,
    );
    assert!(
        out.status.success(),
        "docker login as robot: {}",
        output_text(&out)
    );
    run_ok(docker().args([
        "tag",
        &image_id(&docker_bin, &config, &tarball, &image),
        &robot_image,
    ]));
    let push = run(docker().arg("push").arg(&robot_image));
    assert!(
        push.status.success(),
        "docker push as robot: {}",
        output_text(&push)
    );
    let out = run_with_stdin(
        docker().args(["login", &host, "-u", "shop+ci", "--password-stdin"]),
        "wrong-secret",
    );
    assert!(!out.status.success(), "robot login with a wrong secret");
}

/// Re-imports the tarball (the test removed the image) and returns its id.
fn image_id(
    docker: &std::path::Path,
    config: &std::path::Path,
    tarball: &std::path::Path,
    image: &str,
) -> String {
    let out = run_ok(
        Command::new(docker)
            .env("DOCKER_CONFIG", config)
            .arg("import")
            .arg(tarball)
            .arg(image),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Cleanup {
    docker: std::path::PathBuf,
    config: std::path::PathBuf,
    refs: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for r in &self.refs {
            let _ = Command::new(&self.docker)
                .env("DOCKER_CONFIG", &self.config)
                .args(["rmi", "-f", r])
                .output();
        }
    }
}

#[tokio::test]
async fn podman_skopeo_and_oras_log_in_and_refuse_wrong_passwords() {
    let app = TestApp::start(BIN);
    shop(&app).await;
    let tmp = tempfile::Builder::new()
        .prefix("berth-login-")
        .tempdir()
        .unwrap();
    let host = app.b.addr.clone();
    // A real image (a tar layer), pushed by the system admin.
    let src = tmp.path().join("src");
    let mut l = Layout::new(&src);
    let m = l.image("linux", "amd64", "/hello.txt", b"hello login\n");
    l.tag(&m, "v1");
    Skopeo::new(&tmp.path().join("admin")).login(&[&host]).copy(
        &[],
        &format!("oci:{}:v1", src.display()),
        &format!("docker://{host}/shop/base:v1"),
    );

    // podman: wrong password refused, right one stored, then a pull and a push.
    let pm = Podman::new(tmp.path());
    let login = |pw: &str| {
        run_with_stdin(
            pm.cmd().args([
                "login",
                "--tls-verify=false",
                "-u",
                "dora",
                "--password-stdin",
                &host,
            ]),
            pw,
        )
    };
    assert!(!login("wrong-password").status.success());
    let out = login("dora-password");
    assert!(out.status.success(), "podman login: {}", output_text(&out));
    pm.run_ok(&[
        "pull",
        "--tls-verify=false",
        &format!("{host}/shop/base:v1"),
    ]);
    pm.run_ok(&[
        "tag",
        &format!("{host}/shop/base:v1"),
        &format!("{host}/shop/copy:v1"),
    ]);
    pm.run_ok(&[
        "push",
        "--tls-verify=false",
        &format!("{host}/shop/copy:v1"),
    ]);
    pm.run_ok(&["logout", &host]);
    let out = run(pm.cmd().args([
        "pull",
        "--tls-verify=false",
        &format!("{host}/shop/copy:v1"),
    ]));
    assert!(
        !out.status.success(),
        "podman pulled a private image after logout"
    );

    // skopeo: login, inspect; a wrong password refused.
    let sk = Skopeo::new(&tmp.path().join("sk"));
    let sk_login = |pw: &str| {
        run_with_stdin(
            sk.cmd().args([
                "login",
                "--tls-verify=false",
                "-u",
                "dora",
                "--password-stdin",
                &host,
            ]),
            pw,
        )
    };
    assert!(!sk_login("wrong-password").status.success());
    let out = sk_login("dora-password");
    assert!(out.status.success(), "skopeo login: {}", output_text(&out));
    let raw = sk.inspect_raw(&format!("docker://{host}/shop/copy:v1"));
    assert!(serde_json::from_slice::<Value>(&raw).is_ok());

    // oras-py with credentials: the right ones list tags, wrong ones fail.
    let script = r#"
import sys, time, oras.client
# oras-py retries a refused request five times over two minutes; the answer will not change.
time.sleep = lambda _s: None
host, user, pw = sys.argv[1], sys.argv[2], sys.stdin.read()
c = oras.client.OrasClient(hostname=host, insecure=True)
c.login(username=user, password=pw, hostname=host)
print(",".join(c.get_tags(f"{host}/shop/base")))
"#;
    let oras = |pw: &str| {
        let home = tmp.path().join("orashome");
        std::fs::create_dir_all(&home).unwrap();
        run_with_stdin(
            Command::new(oras_python())
                .args(["-c", script, &host, "dora"])
                .env("HOME", &home)
                .env("DOCKER_CONFIG", home.join(".docker"))
                .env_remove("http_proxy")
                .env_remove("HTTP_PROXY"),
            pw,
        )
    };
    let out = oras("dora-password");
    assert!(out.status.success(), "oras-py: {}", output_text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v1");
    let out = oras("wrong-password");
    assert!(
        !out.status.success() || String::from_utf8_lossy(&out.stdout).trim() != "v1",
        "oras-py read tags with a wrong password: {}",
        output_text(&out)
    );
}
