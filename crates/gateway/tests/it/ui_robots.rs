//! Robot accounts in a real headless Chromium, used by the real docker CLI: an org admin
//! creates a robot on its page (a bad expiry is refused beside the form), copies the secret
//! shown once, and `docker login` + `docker push` with it succeed; the pushed repository then
//! shows on the org's page; once revoked on the page, the secret no longer logs in.

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::clients::Docker;
use berth_testkit::tools::{output_text, run};
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::json;

use crate::BIN;

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
    let docker = Docker::new(tmp.path());
    let host = app.b.addr.clone();
    let login = docker.login(&host, "ci+builder", &secret);
    assert!(
        login.status.success(),
        "docker login: {}",
        output_text(&login)
    );
    let image = format!("{host}/ci/tool:v1");
    docker.import_busybox(&image);
    let push = run(docker.cmd().arg("push").arg(&image));
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
    let again = docker.login(&host, "ci+builder", &secret);
    assert!(
        !again.status.success(),
        "a revoked robot logged in: {}",
        output_text(&again)
    );
}
