//! Personal CLI tokens in a real headless Chromium, used by the real docker CLI: a user creates
//! a token on their account page (a bad expiry refused beside the form, the input kept), copies
//! the secret shown once, and `docker login` + `docker push` + `docker pull` work with it; the
//! sign-in form refuses it; once revoked on the page, neither a new login nor the login docker
//! already holds works.

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::clients::Docker;
use berth_testkit::tools::{output_text, run};
use berth_testkit::TestApp;
use serde_json::json;

use crate::BIN;

#[tokio::test]
async fn a_personal_token_logs_docker_in_until_revoked() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    admin.org("team", false).await;
    let tia = app.user_with_password("tia", "tia-password-123").await;
    admin.member("team", "user", "tia", "developer").await;
    let b = Browser::start().await;
    b.sign_in(&app.b, "tia", "tia-password-123").await;
    b.click_and_wait("#signed-in-as").await;
    assert!(b.try_find("#no-tokens").await.is_some());

    // A bad expiry: refused beside the form, the name kept.
    b.fill("#token-name-input", "laptop").await;
    b.fill("#token-days", "-3").await;
    b.exec(
        "document.getElementById('token-days').removeAttribute('min')",
        json!([]),
    )
    .await;
    b.click_and_wait("#token-form button[type=submit]").await;
    assert!(b.text("#token-error").await.contains("number of days"));
    let kept = b
        .exec(
            "return document.getElementById('token-name-input').value",
            json!([]),
        )
        .await;
    assert_eq!(kept, "laptop");
    b.fill("#token-days", "30").await;
    b.click_and_wait("#token-form button[type=submit]").await;
    assert_eq!(b.text("#token-name").await, "laptop");
    let secret = b
        .exec(
            "return document.getElementById('token-secret').value",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("bpt_"), "{secret}");
    let line = b.text("#token-login-line").await;
    assert!(
        line.contains(&format!(
            "docker login {} -u 'tia' --password-stdin",
            app.b.addr
        )),
        "{line}"
    );
    b.exec(
        "document.getElementById('token-secret').value = '••••••••'",
        json!([]),
    )
    .await;
    b.screenshot(&screenshots_dir().join("ui-token-created.png"))
        .await;

    // The API lists it, never with its secret; the same name twice is refused.
    let listed = tia.api_ok("GET", "/account/tokens", None).await;
    assert_eq!(listed[0]["name"], "laptop", "{listed}");
    assert!(listed[0].get("secret").is_none(), "{listed}");
    assert!(!listed[0]["expires_at"].is_null(), "{listed}");
    let again = tia
        .api("POST", "/account/tokens", Some(json!({"name": "laptop"})))
        .await;
    assert_eq!(again.status(), 409);

    // The sign-in form does not take it.
    let other = Browser::start().await;
    other.sign_in(&app.b, "tia", &secret).await;
    assert!(other.try_find("#signed-in-as").await.is_none());
    assert!(other
        .source()
        .await
        .contains("personal tokens are for docker login"));

    // The real docker CLI logs in with it, pushes and pulls.
    let tmp = tempfile::tempdir().unwrap();
    let docker = Docker::new(tmp.path());
    let host = app.b.addr.clone();
    let login = docker.login(&host, "tia", &secret);
    assert!(
        login.status.success(),
        "docker login: {}",
        output_text(&login)
    );
    let image = format!("{host}/team/tool:v1");
    docker.import_busybox(&image);
    let push = run(docker.cmd().arg("push").arg(&image));
    assert!(push.status.success(), "docker push: {}", output_text(&push));
    let pull = run(docker.cmd().arg("pull").arg(&image));
    assert!(pull.status.success(), "docker pull: {}", output_text(&pull));

    // The account page lists it; revoked there, it logs in no more, and the login docker
    // holds (a refresh token from the token service) has ended with it.
    b.goto(&app.b.url("/account#tokens")).await;
    let table = b.text("#token-table").await;
    assert!(table.contains("laptop"), "{table}");
    b.screenshot(&screenshots_dir().join("ui-account-tokens.png"))
        .await;
    b.exec("window.confirm = function () { return true; }", json!([]))
        .await;
    b.click_and_wait("form[action='/account/tokens/revoke'] button")
        .await;
    assert!(b.try_find("#no-tokens").await.is_some());
    let pull = run(docker.cmd().arg("pull").arg(&image));
    assert!(
        !pull.status.success(),
        "a pull after the revoke worked: {}",
        output_text(&pull)
    );
    let again = docker.login(&host, "tia", &secret);
    assert!(
        !again.status.success(),
        "a revoked token logged in: {}",
        output_text(&again)
    );
    // The password still works for tia.
    let ok = docker.login(&host, "tia", "tia-password-123");
    assert!(ok.status.success(), "docker login: {}", output_text(&ok));
}
