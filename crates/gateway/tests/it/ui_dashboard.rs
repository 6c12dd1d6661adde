//! The dashboard in a real headless Chromium: a member's organizations, the latest pushes
//! into them, storage per organization and pushes per day as server-rendered SVG charts.

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::TestApp;
use serde_json::json;

use crate::BIN;

#[tokio::test]
async fn the_dashboard_shows_pushes_and_storage_of_my_organizations() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    admin.org("one", false).await;
    admin.org("two", false).await;
    admin.seed_image("one/app", "v1").await;
    admin.push_image("one/app", "v2", "second").await;
    admin.seed_image("two/secret", "v1").await;
    app.user_with_password("mia", "mia-password-123").await;
    admin.member("one", "user", "mia", "developer").await;

    let b = Browser::start().await;
    b.goto(&app.b.url("/login")).await;
    b.fill("#name", "mia").await;
    b.fill("#password", "mia-password-123").await;
    b.click_and_wait("#login-form button[type=submit]").await;
    assert!(b.url().await.ends_with('/'));

    // Only what mia may see: org one, not two.
    let orgs = b.text("#org-list").await;
    assert!(orgs.contains("one") && !orgs.contains("two"), "{orgs}");
    let pushes = b.text("#push-table").await;
    assert!(
        pushes.contains("one/app:v1") && pushes.contains("one/app:v2"),
        "{pushes}"
    );
    assert!(!pushes.contains("two/"), "{pushes}");
    // The storage chart has a bar for one; the pushes chart counts today's two pushes.
    let storage = b
        .exec(
            "return Array.from(document.querySelectorAll('#storage-chart title')).map(function (t) { return t.textContent; })",
            json!([]),
        )
        .await;
    let storage: Vec<String> = serde_json::from_value(storage).unwrap();
    assert!(
        storage
            .iter()
            .any(|t| t.starts_with("one: ") && !t.ends_with(": 0 B")),
        "{storage:?}"
    );
    let days = b
        .exec(
            "return Array.from(document.querySelectorAll('#pushes-chart title')).map(function (t) { return t.textContent; })",
            json!([]),
        )
        .await;
    let days: Vec<String> = serde_json::from_value(days).unwrap();
    assert_eq!(days.len(), 30);
    // Two pushes into one (whichever day they fell on, if a test runs across midnight).
    let total: i64 = days
        .iter()
        .map(|t| {
            t.rsplit(": ")
                .next()
                .and_then(|n| n.strip_suffix(" pushes"))
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap()
        })
        .sum();
    assert_eq!(total, 2, "{days:?}");
    b.screenshot(&screenshots_dir().join("ui-dashboard.png"))
        .await;
}
