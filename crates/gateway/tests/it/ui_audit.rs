//! The audit log in a real headless Chromium: filters by action, organization and a range of
//! days, pages of 50 events, an org's log for its members, and the 403 page for those who may
//! not read it. The API's time filters are checked alongside.

use berth_testkit::browser::Browser;
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::json;

use crate::BIN;

async fn rows(b: &Browser) -> Vec<Vec<String>> {
    let v = b
        .exec(
            "return Array.from(document.querySelectorAll('#audit-table tbody tr')).map(function (r) { \
               return Array.from(r.cells).map(function (c) { return c.textContent; }); });",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_is_scoped_by_role() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    admin.org("ops", false).await;
    admin.org("other", false).await;
    app.user_with_password("gwen", "gwen-password-123").await;
    app.user_with_password("lou", "lou-password-1234").await;
    admin.member("ops", "user", "gwen", "guest").await;
    admin.member("ops", "user", "lou", "limited-guest").await;
    for i in 0..55 {
        admin
            .api_ok(
                "POST",
                "/groups",
                Some(json!({ "name": format!("team-{i:02}") })),
            )
            .await;
    }

    let b = Browser::start().await;
    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    b.click_and_wait("#audit-link").await;
    // Newest first, 50 to a page; the next page holds the rest.
    let first = rows(&b).await;
    assert_eq!(first.len(), 50);
    b.click_and_wait("#next-page").await;
    let second = rows(&b).await;
    assert!(!second.is_empty());
    assert!(second.iter().all(|r| !first.contains(r)));

    // By action.
    b.goto(&app.b.url("/audit")).await;
    b.fill("#f-action", "org.create").await;
    b.click_and_wait("#audit-filters button").await;
    let created = rows(&b).await;
    assert_eq!(created.len(), 2, "{created:?}");
    assert!(created
        .iter()
        .all(|r| r[2] == "org.create" && r[1] == "user:admin"));
    // By organization.
    b.goto(&app.b.url("/audit?org=ops")).await;
    let ops = rows(&b).await;
    assert!(
        !ops.is_empty() && ops.iter().all(|r| r[4] == "ops"),
        "{ops:?}"
    );
    // By days: nothing from tomorrow on, everything up to today.
    let today = today_utc();
    b.goto(&app.b.url(&format!("/audit?since={}", day_after(&today))))
        .await;
    assert!(b.try_find("#no-events").await.is_some());
    b.goto(
        &app.b
            .url(&format!("/audit?action=org.create&until={today}")),
    )
    .await;
    assert_eq!(rows(&b).await.len(), 2);
    b.screenshot(&berth_testkit::browser::screenshots_dir().join("ui-audit.png"))
        .await;

    // A guest reads the org's log; a limited guest and the whole log are refused.
    b.sign_in(&app.b, "gwen", "gwen-password-123").await;
    b.goto(&app.b.url("/audit?org=ops")).await;
    assert!(!rows(&b).await.is_empty());
    b.goto(&app.b.url("/audit")).await;
    assert_eq!(b.text("#error h1").await, "Not allowed");
    b.sign_in(&app.b, "lou", "lou-password-1234").await;
    b.goto(&app.b.url("/audit?org=ops")).await;
    assert_eq!(b.text("#error h1").await, "Not allowed");

    // The API's time filters.
    let r = admin.api("GET", "/audit-log?since=yesterday", None).await;
    assert_eq!(r.status(), 400);
    let none = admin
        .api_ok(
            "GET",
            &format!("/audit-log?since={}T00:00:00Z", day_after(&today)),
            None,
        )
        .await;
    assert_eq!(none, json!([]));
}

/// Today (UTC) as `YYYY-MM-DD`.
fn today_utc() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The day after `day` (`YYYY-MM-DD`).
fn day_after(day: &str) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("{day} + 1 day"), "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
