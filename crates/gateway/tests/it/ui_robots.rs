//! The robot story in a real headless Chromium, with the real docker, skopeo and oras clients:
//! an org admin creates a robot on its page (a bad expiry is refused beside the form), copies
//! the secret shown once, and `docker login` + `docker push` with it succeed; the repository
//! page then shows the digest and size `skopeo inspect` reports (and the manifest page each
//! layer with its size), a multi-arch index made with `docker manifest` shows its platforms, and an
//! SBOM attached with oras shows under its subject; once revoked on the page, the secret no
//! longer logs in.

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::clients::{oras_script, Docker, Skopeo};
use berth_testkit::tools::{output_text, run, run_ok};
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::{json, Value};

use crate::BIN;

/// The tag list's row of `tag`: full digest, exact size (`N bytes`) and kind as shown.
async fn tag_row(b: &Browser, tag: &str) -> Value {
    b.exec(
        "var want = arguments[0]; \
         var rows = Array.from(document.querySelectorAll('#tag-table tbody tr')); \
         var r = rows.find(function (r) { return r.querySelector('td.tag').textContent.trim() === want; }); \
         if (!r) { return null; } \
         return {digest: r.querySelector('code.digest').getAttribute('data-copy'), \
                 size: r.querySelector('td.size').title, \
                 kind: r.querySelector('td.kind').textContent.replace(/\\s+/g, ' ').trim()};",
        json!([tag]),
    )
    .await
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

    // The repository page shows the digest skopeo reports and the size a pull moves (the
    // manifest, its config and its layers); the manifest page shows each layer's size.
    let sk = Skopeo::new(tmp.path());
    let creds = format!("ci+builder:{secret}");
    let inspect = |extra: &[&str]| {
        let mut c = sk.cmd();
        c.args(["inspect", "--tls-verify=false", "--creds", &creds])
            .args(extra)
            .arg(format!("docker://{image}"));
        run_ok(&mut c).stdout
    };
    let info: Value = serde_json::from_slice(&inspect(&[])).unwrap();
    let raw = inspect(&["--raw"]);
    let m: Value = serde_json::from_slice(&raw).unwrap();
    let layers: Vec<(String, i64)> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_owned(),
                l["size"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        json!(layers.iter().map(|l| &l.0).collect::<Vec<_>>()),
        info["Layers"],
        "skopeo's layers"
    );
    let pulled = raw.len() as i64
        + m["config"]["size"].as_i64().unwrap()
        + layers.iter().map(|l| l.1).sum::<i64>();
    b.goto(&app.b.url("/repositories/ci/tool")).await;
    let row = tag_row(&b, "v1").await;
    assert_eq!(row["digest"], info["Digest"], "{row}");
    assert_eq!(row["size"], format!("{pulled} bytes"), "{row}");
    assert_eq!(row["kind"], "image", "{row}");
    let digest = info["Digest"].as_str().unwrap().to_owned();
    b.click_and_wait(&format!("#tag-table a[href$='{digest}']"))
        .await;
    let shown = b
        .exec(
            "return Array.from(document.querySelectorAll('#layer-table tbody tr')).map(function (r) { \
             return [r.querySelector('code').getAttribute('data-copy'), r.querySelector('td.size').title]; })",
            json!([]),
        )
        .await;
    let want: Vec<(String, String)> = layers
        .iter()
        .map(|(d, n)| (d.clone(), format!("{n} bytes")))
        .collect();
    assert_eq!(shown, json!(want));

    // A multi-arch index made with `docker manifest` (a second image annotated as the arm64
    // one, as people do for images built elsewhere) shows its platforms in the tag list.
    let arm = format!("{host}/ci/tool:arm64");
    docker.import_busybox_with(&arm, &["ENV VARIANT=arm64"]);
    let push = run(docker.cmd().arg("push").arg(&arm));
    assert!(push.status.success(), "docker push: {}", output_text(&push));
    let multi = format!("{host}/ci/tool:multi");
    let manifest = |args: &[&str]| run_ok(docker.cmd().arg("manifest").args(args));
    manifest(&["create", "--insecure", &multi, &image, &arm]);
    manifest(&["annotate", "--os", "linux", "--arch", "arm64", &multi, &arm]);
    manifest(&["push", "--insecure", &multi]);
    b.goto(&app.b.url("/repositories/ci/tool")).await;
    let row = tag_row(&b, "multi").await;
    let kind = row["kind"].as_str().unwrap_or_default();
    assert!(
        kind.starts_with("index (") && kind.contains("linux/amd64") && kind.contains("linux/arm64"),
        "{row}"
    );
    b.screenshot(&screenshots_dir().join("ui-repository-pushed.png"))
        .await;

    // An SBOM attached with oras shows under the image it refers to.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/scripts/oras_attach.py"
    );
    let work = tmp.path().join("oras");
    std::fs::create_dir_all(&work).unwrap();
    let out = run_ok(
        oras_script(script.as_ref(), &tmp.path().join("oras-home"))
            .args([host.as_str(), "ci/tool", "v1"])
            .arg(&work)
            .env("ORAS_USER", "ci+builder")
            .env("ORAS_PASSWORD", &secret),
    );
    let sbom = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(sbom.starts_with("sha256:"), "{sbom}");
    b.goto(
        &app.b
            .url(&format!("/repositories/ci/tool/-/manifests/{digest}")),
    )
    .await;
    let referrers = b.text("#referrer-table").await;
    assert!(
        referrers.contains("application/vnd.example.sbom.v1+json"),
        "{referrers}"
    );
    assert!(b
        .try_find(&format!("#referrer-table a[href$='{sbom}']"))
        .await
        .is_some());

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
