//! A repository's page in a real headless Chromium: the tags with the digests and sizes the
//! registry serves, the `docker pull` line, a tag deleted on the page that can no longer be
//! pulled, a repository deleted after typing its name, and no delete controls for a guest.

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::json;

use crate::BIN;

#[tokio::test]
async fn tags_are_listed_deleted_and_gone_from_the_registry() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    admin.org("shop", false).await;
    let d1 = admin.seed_image("shop/web/api", "v1").await;
    let (_, d2) = admin.push_image("shop/web/api", "v2", "second").await;
    app.user_with_password("gil", "gil-password-123").await;
    admin.member("shop", "user", "gil", "guest").await;

    let b = Browser::start().await;
    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    b.goto(&app.b.url("/orgs/shop")).await;
    b.click_and_wait("#repo-table a").await;
    assert!(b.url().await.ends_with("/repositories/shop/web/api"));
    assert_eq!(b.text("#repo-name").await, "web/api");
    assert_eq!(
        b.text("#pull-line").await,
        format!("docker pull {}/shop/web/api:v1", app.b.addr)
    );
    // The digests on the page are the ones the registry serves, with the manifest sizes.
    let rows = b
        .exec(
            "return Array.from(document.querySelectorAll('#tag-table tbody tr')).map(function (r) { \
               return [r.querySelector('.tag').textContent, r.querySelector('.digest').getAttribute('data-copy'), r.cells[2].textContent, r.cells[3].textContent]; });",
            json!([]),
        )
        .await;
    // What a pull of the tag moves: the manifest, its config and its layers.
    let size = |tag: &str| {
        let admin = app.admin();
        let tag = tag.to_owned();
        async move {
            let body = admin
                .get(&format!("/v2/shop/web/api/manifests/{tag}"))
                .header("accept", berth_testkit::app::OCI_MANIFEST)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let blobs: i64 = m["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["size"].as_i64().unwrap())
                .sum::<i64>()
                + m["config"]["size"].as_i64().unwrap();
            format!("{} B", body.len() as i64 + blobs)
        }
    };
    assert_eq!(
        rows,
        json!([
            ["v1", d1, "image", size("v1").await],
            ["v2", d2, "image", size("v2").await]
        ])
    );
    b.screenshot(&screenshots_dir().join("ui-repository.png"))
        .await;

    // A guest sees the tags without delete controls.
    b.sign_in(&app.b, "gil", "gil-password-123").await;
    b.goto(&app.b.url("/repositories/shop/web/api")).await;
    assert!(b.try_find("#tag-table").await.is_some());
    assert!(b.try_find("#tag-table form").await.is_none());
    assert!(b.try_find("#delete-repository").await.is_none());

    // The admin deletes v1 on the page: it can no longer be pulled.
    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    b.goto(&app.b.url("/repositories/shop/web/api")).await;
    b.exec("window.confirm = function () { return true; }", json!([]))
        .await;
    b.click_and_wait("#tag-table tbody tr:first-child form button")
        .await;
    assert!(!b.text("#tag-table").await.contains("v1\n"));
    assert_eq!(
        admin
            .get("/v2/shop/web/api/manifests/v1")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        admin
            .get("/v2/shop/web/api/manifests/v2")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Deleting the repository asks for its name typed again.
    b.fill("#confirm-name", "shop/web/ap").await;
    b.click_and_wait("#delete-repo-form button").await;
    assert!(b.text("#repo-error").await.contains("Type shop/web/api"));
    b.fill("#confirm-name", "shop/web/api").await;
    b.click_and_wait("#delete-repo-form button").await;
    assert!(b.url().await.ends_with("/orgs/shop"), "{}", b.url().await);
    assert!(b.try_find("#no-repos").await.is_some());
    let r = admin.api("GET", "/repositories/shop/web/api", None).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn repositories_are_created_before_the_first_push_and_described() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    admin.org("team", true).await;
    app.user_with_password("dev", "dev-password-123").await;
    admin.member("team", "user", "dev", "developer").await;
    let b = Browser::start().await;
    b.sign_in(&app.b, "dev", "dev-password-123").await;
    b.goto(&app.b.url("/orgs/team")).await;

    // A name the registry refuses: the error beside the form, the input kept.
    b.fill("#new-repo-name", "Bad Name").await;
    b.click_and_wait("#create-repo-form button").await;
    assert!(b.try_find("#repo-create-error").await.is_some());
    let kept = b
        .exec(
            "return document.getElementById('new-repo-name').value",
            json!([]),
        )
        .await;
    assert_eq!(kept, "Bad Name");
    b.fill("#new-repo-name", "svc/api").await;
    b.fill("#new-repo-description", "The API <b>service</b>")
        .await;
    b.click_and_wait("#create-repo-form button").await;
    assert!(b.url().await.ends_with("/repositories/team/svc/api"));
    assert_eq!(b.text("#repo-description").await, "The API <b>service</b>");
    assert!(b.try_find("#no-tags").await.is_some());
    // A developer may not edit the description (maintainers and up may).
    assert!(b.try_find("#describe-form").await.is_none());
    // The same name again: a conflict, through the API as well.
    let r = admin
        .api(
            "POST",
            "/orgs/team/repositories",
            Some(json!({"name": "svc/api"})),
        )
        .await;
    assert_eq!(r.status(), 409);
    let made = admin
        .api_ok(
            "POST",
            "/orgs/team/repositories",
            Some(json!({"name": "other", "description": "x"})),
        )
        .await;
    assert_eq!(made["name"], "team/other");
    // The first push goes into the repository made beforehand.
    admin.seed_image("team/svc/api", "v1").await;
    let repo = admin
        .api_ok("GET", "/repositories/team/svc/api", None)
        .await;
    assert_eq!(repo["description"], "The API <b>service</b>", "{repo}");

    // The admin edits the description.
    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    b.goto(&app.b.url("/repositories/team/svc/api")).await;
    b.fill("#repo-description-input", "Public API").await;
    b.click_and_wait("#describe-form button").await;
    assert_eq!(b.text("#repo-description").await, "Public API");
}
