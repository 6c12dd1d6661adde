//! The system admin's groups and system-information pages in a real headless Chromium:
//! groups are created (a bad name refused beside the form, the input kept), get and lose
//! members, and page 50 at a time; the system page shows the version, the backends and the
//! storage `GET /api/v1/system/info` reports; other users get the 403 page and no link.

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::json;

use crate::BIN;

/// The group names in the table, in order.
async fn group_names(b: &Browser) -> Vec<String> {
    let v = b
        .exec(
            "return Array.from(document.querySelectorAll('#group-table tbody tr')).map(function (r) { \
             return r.cells[0].textContent.trim(); });",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn admins_manage_groups_and_read_the_system_information() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    app.user_with_password("ana", "ana-password-123").await;
    app.user_with_password("bo", "bo-password-1234").await;
    let b = Browser::start().await;
    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    b.click_and_wait("#groups-link").await;
    assert!(b.try_find("#no-groups").await.is_some());

    // A bad name: refused beside the form, the input kept.
    b.fill("#group-name", "ops/x").await;
    b.click_and_wait("#group-form button[type=submit]").await;
    assert!(b.text("#groups-error").await.contains("without /"));
    let kept = b
        .exec(
            "return document.getElementById('group-name').value",
            json!([]),
        )
        .await;
    assert_eq!(kept, "ops/x");
    b.fill("#group-name", "ops").await;
    b.click_and_wait("#group-form button[type=submit]").await;
    assert_eq!(group_names(&b).await, ["ops"]);

    // Members: added by name (an unknown one refused), then removed.
    b.fill("#add-ops", "ana").await;
    b.click_and_wait("#group-table form:has(#add-ops) button")
        .await;
    b.fill("#add-ops", "nobody").await;
    b.click_and_wait("#group-table form:has(#add-ops) button")
        .await;
    assert!(b.text("#groups-error").await.contains("not found"));
    b.goto(&app.b.url("/admin/groups")).await;
    assert!(b.text("#group-table").await.contains("ana"));
    let groups = admin.api_ok("GET", "/groups", None).await;
    assert_eq!(groups[0]["members"], json!(["ana"]), "{groups}");
    b.screenshot(&screenshots_dir().join("ui-groups.png")).await;
    b.exec("window.confirm = function () { return true; }", json!([]))
        .await;
    b.click_and_wait("#group-table button[value=remove]").await;
    let groups = admin.api_ok("GET", "/groups", None).await;
    assert_eq!(groups[0]["members"], json!([]), "{groups}");

    // 52 more groups: the page holds 50, the next page the rest; the API pages the same way.
    for i in 0..52 {
        admin
            .api_ok(
                "POST",
                "/groups",
                Some(json!({ "name": format!("g{i:02}") })),
            )
            .await;
    }
    b.goto(&app.b.url("/admin/groups")).await;
    let first = group_names(&b).await;
    assert_eq!(first.len(), 50);
    assert_eq!((first[0].as_str(), first[49].as_str()), ("g00", "g49"));
    b.click_and_wait("a[rel=next]").await;
    assert_eq!(group_names(&b).await, ["g50", "g51", "ops"]);
    assert!(b.try_find("a[rel=next]").await.is_none());
    let page = admin.api_ok("GET", "/groups?n=2&last=g49", None).await;
    let names: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["g50", "g51"]);

    // The system page reports what the API reports, content included.
    admin.org("shop", false).await;
    admin.push_image("shop/app", "v1", "system-page").await;
    let info = admin.api_ok("GET", "/system/info", None).await;
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let on_pg = std::env::var("BERTH_IT_PG_URL").is_ok_and(|u| !u.is_empty());
    assert_eq!(
        info["metadata_backend"],
        if on_pg { "postgresql" } else { "sqlite" }
    );
    assert_eq!(info["counts"]["repositories"], 1, "{info}");
    assert_eq!(info["counts"]["groups"], 53, "{info}");
    assert!(info["storage_bytes"].as_i64().unwrap() > 0, "{info}");
    b.click_and_wait("#system-link").await;
    assert_eq!(b.text("#system-version").await, info["version"]);
    assert_eq!(b.text("#system-metadata").await, info["metadata_backend"]);
    assert_eq!(b.text("#system-blobs").await, info["blob_backend"]);
    let bytes = b
        .exec(
            "return Number(document.getElementById('system-storage').dataset.bytes)",
            json!([]),
        )
        .await;
    assert_eq!(bytes, info["storage_bytes"]);
    assert!(b.text("#system-counts").await.contains("Repositories"));
    b.screenshot(&screenshots_dir().join("ui-system.png")).await;

    // Anyone else: no links, the 403 page, and a 403 from the API.
    b.sign_in(&app.b, "bo", "bo-password-1234").await;
    assert!(b.try_find("#signed-in-as").await.is_some());
    assert!(b.try_find("#groups-link").await.is_none());
    assert!(b.try_find("#system-link").await.is_none());
    for page in ["/admin/groups", "/admin/system"] {
        b.goto(&app.b.url(page)).await;
        assert_eq!(b.text("#error h1").await, "Not allowed", "{page}");
    }
    let bo = app.basic("bo", "bo-password-1234");
    assert_eq!(bo.api("GET", "/system/info", None).await.status(), 403);
    assert_eq!(bo.api("GET", "/groups", None).await.status(), 403);
}
