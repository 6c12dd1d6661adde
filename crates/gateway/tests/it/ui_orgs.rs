//! An organization's settings in a real headless Chromium: visibility and a description (shown
//! as text on the org's page), the 403 page for a member who may not manage it, and deleting
//! it — its name typed again, refused while it holds repositories unless they go too.

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::json;

use crate::BIN;

#[tokio::test]
async fn org_admins_change_settings_and_delete_the_org_with_its_repositories() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    admin.org("acme", false).await;
    admin.seed_image("acme/app", "v1").await;
    app.user_with_password("dev", "dev-password-123").await;
    admin.member("acme", "user", "dev", "developer").await;

    // A developer may not open the settings.
    let b = Browser::start().await;
    b.sign_in(&app.b, "dev", "dev-password-123").await;
    b.goto(&app.b.url("/orgs/acme")).await;
    assert!(b.try_find("#settings-link").await.is_none());
    b.goto(&app.b.url("/orgs/acme/settings")).await;
    assert_eq!(b.text("#error h1").await, "Not allowed");

    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    b.goto(&app.b.url("/orgs/acme")).await;
    b.click_and_wait("#settings-link").await;
    let payload = r#"Our <script>window.__xss=1</script> images"#;
    b.fill("#org-description", payload).await;
    b.click("#org-public").await;
    b.click_and_wait("#settings-form button[type=submit]").await;
    assert!(b.url().await.ends_with("/orgs/acme"));
    assert_eq!(b.text("#org-description").await, payload);
    assert!(b.text("#org-name").await.contains("public"));
    let ran = b
        .exec("return window.__xss === undefined ? 0 : 1", json!([]))
        .await;
    assert_eq!(ran, 0);
    let org = admin.api_ok("GET", "/orgs/acme", None).await;
    assert_eq!(org["public"], true, "{org}");
    assert_eq!(org["description"], payload, "{org}");

    // Deleting: the name must be typed; with repositories, they must be asked to go too.
    b.click_and_wait("#settings-link").await;
    b.click_and_wait("#delete-org-form button").await;
    assert!(b.text("#settings-error").await.contains("Type acme"));
    b.fill("#confirm-org", "acme").await;
    b.click_and_wait("#delete-org-form button").await;
    assert!(b
        .text("#settings-error")
        .await
        .contains("still holds repositories"));
    b.screenshot(&screenshots_dir().join("ui-org-settings.png"))
        .await;
    b.fill("#confirm-org", "acme").await;
    b.click("#with-repos").await;
    b.click_and_wait("#delete-org-form button").await;
    assert!(b.url().await.ends_with("/orgs"), "{}", b.url().await);
    assert_eq!(admin.api("GET", "/orgs/acme", None).await.status(), 404);
    assert_eq!(
        admin
            .get("/v2/acme/app/manifests/v1")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn organizations_and_repositories_are_searched_by_name() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    for o in ["alpha-team", "beta-team", "gamma"] {
        admin.org(o, false).await;
    }
    for r in ["web/api", "web/ui", "tools"] {
        admin.seed_image(&format!("gamma/{r}"), "v1").await;
    }
    let b = Browser::start().await;
    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    b.goto(&app.b.url("/orgs")).await;
    b.fill("#org-q", "team").await;
    b.click_and_wait("#org-search button").await;
    let shown = b.text("#org-table").await;
    assert!(
        shown.contains("alpha-team") && shown.contains("beta-team"),
        "{shown}"
    );
    assert!(!shown.contains("gamma"), "{shown}");

    b.goto(&app.b.url("/orgs/gamma")).await;
    b.fill("#repo-q", "web").await;
    b.click_and_wait("#repo-search button").await;
    let shown = b.text("#repo-table").await;
    assert!(
        shown.contains("web/api") && shown.contains("web/ui"),
        "{shown}"
    );
    assert!(!shown.contains("tools"), "{shown}");
    // The org's own name is not part of what is searched.
    b.goto(&app.b.url("/orgs/gamma?q=gamma")).await;
    assert!(b.try_find("#no-match").await.is_some());
    // The API takes the same search.
    let found = admin.api_ok("GET", "/orgs?q=team", None).await;
    assert_eq!(found.as_array().unwrap().len(), 2, "{found}");
    let found = admin
        .api_ok("GET", "/orgs/gamma/repositories?q=web", None)
        .await;
    assert_eq!(found.as_array().unwrap().len(), 2, "{found}");
}
