//! Robot accounts in a real headless Chromium, used by the real docker CLI: an org admin
//! creates a robot on its page (a bad expiry is refused beside the form), copies the secret
//! shown once, and `docker login` + `docker push` with it succeed; the pushed repository then
//! shows on the org's page; once revoked on the page, the secret no longer logs in.

use std::process::Command;

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::tools::{output_text, require, run, run_ok, run_with_stdin};
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::json;

use crate::BIN;

/// Removes the test's images from the engine, whatever happens.
struct Images(std::path::PathBuf, std::path::PathBuf, Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for r in &self.2 {
            let _ = Command::new(&self.0)
                .env("DOCKER_CONFIG", &self.1)
                .args(["rmi", "-f", r])
                .output();
        }
    }
}

#[tokio::test]
async fn a_robot_made_on_its_page_pushes_with_docker_until_revoked() {
    let app = TestApp::start(BIN);
    app.admin().org("ci", false).await;
    let b = Browser::start().await;
    b.goto(&app.b.url("/login")).await;
    b.fill("#name", ADMIN_USER).await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click_and_wait("#login-form button[type=submit]").await;
    b.goto(&app.b.url("/orgs/ci")).await;
    b.click_and_wait("#robots-link").await;

    // A bad expiry: refused beside the form, the input kept.
    b.fill("#robot-name", "builder").await;
    b.fill("#robot-days", "forever").await;
    b.click_and_wait("#robot-form button[type=submit]").await;
    assert!(b.text("#robot-error").await.contains("number of days"));
    let kept = b
        .exec(
            "return document.getElementById('robot-name').value",
            json!([]),
        )
        .await;
    assert_eq!(kept, "builder");

    // Pull and push on every repository of the org, for 30 days.
    b.fill("#robot-days", "30").await;
    b.click("input[name=push]").await;
    b.click_and_wait("#robot-form button[type=submit]").await;
    assert_eq!(b.text("#robot-login").await, "ci+builder");
    let secret = b
        .exec(
            "return document.getElementById('robot-secret').value",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let line = b.text("#robot-login-line").await;
    assert!(
        line.contains(&format!(
            "docker login {} -u 'ci+builder' --password-stdin",
            app.b.addr
        )),
        "{line}"
    );
    // Blank the secret before the screenshot: it must not land in a file.
    b.exec(
        "document.getElementById('robot-secret').value = '••••••••'",
        json!([]),
    )
    .await;
    b.screenshot(&screenshots_dir().join("ui-robot-created.png"))
        .await;

    // The real docker CLI logs in with it and pushes.
    let tmp = tempfile::tempdir().unwrap();
    let docker_bin = require("docker");
    let config = tmp.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let docker = || {
        let mut c = Command::new(&docker_bin);
        c.env("DOCKER_CONFIG", &config);
        c
    };
    let host = app.b.addr.clone();
    let login = run_with_stdin(
        docker().args(["login", &host, "-u", "ci+builder", "--password-stdin"]),
        &secret,
    );
    assert!(
        login.status.success(),
        "docker login: {}",
        output_text(&login)
    );
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
    let image = format!("{host}/ci/tool:v1");
    let _cleanup = Images(docker_bin.clone(), config.clone(), vec![image.clone()]);
    run_ok(docker().arg("import").arg(&tarball).arg(&image));
    let push = run(docker().arg("push").arg(&image));
    assert!(push.status.success(), "docker push: {}", output_text(&push));

    // The org's page lists what the robot pushed.
    b.goto(&app.b.url("/orgs/ci")).await;
    assert!(b.text("#repo-table").await.contains("tool"));

    // The list shows the robot; revoking it there ends its logins.
    b.goto(&app.b.url("/orgs/ci/robots")).await;
    let listed = b.text("#robot-table").await;
    assert!(
        listed.contains("ci+builder") && listed.contains("pull, push on *"),
        "{listed}"
    );
    b.screenshot(&screenshots_dir().join("ui-robots.png")).await;
    b.exec("window.confirm = function () { return true; }", json!([]))
        .await;
    b.click_and_wait("form[action='/orgs/ci/robots/revoke'] button")
        .await;
    assert!(b.try_find("#no-robots").await.is_some());
    let again = run_with_stdin(
        docker().args(["login", &host, "-u", "ci+builder", "--password-stdin"]),
        &secret,
    );
    assert!(
        !again.status.success(),
        "a revoked robot logged in: {}",
        output_text(&again)
    );
}
