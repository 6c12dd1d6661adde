//! The members page in a real headless Chromium: an org admin adds users with roles through
//! the form (an unknown user is refused beside the form, the input kept), changes a role and
//! removes a member; the roles table comes from the one role table; a developer reads the
//! members without the forms and cannot post them; a guest and a limited guest get the 403 page
//! on the members and the robots pages.

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::json;

use crate::BIN;

/// Signs in as `user`, who must then be signed in.
async fn sign_in(b: &Browser, app: &TestApp, user: &str, password: &str) {
    b.sign_in(&app.b, user, password).await;
    assert!(
        b.text("#signed-in-as").await.starts_with(user),
        "{user} is not signed in"
    );
}

async fn add(b: &Browser, name: &str, role: &str) {
    b.fill("#member-name", name).await;
    b.exec(
        "document.getElementById('member-role').value = arguments[0]",
        json!([role]),
    )
    .await;
    b.click_and_wait("#member-form button[type=submit]").await;
}

#[tokio::test]
async fn org_admins_manage_members_and_roles_decide_who_sees_what() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    admin.org("crew", false).await;
    for u in ["dev", "gus", "lim"] {
        app.user_with_password(u, &format!("{u}-password-123"))
            .await;
    }
    let b = Browser::start().await;
    sign_in(&b, &app, ADMIN_USER, ADMIN_PASSWORD).await;
    b.goto(&app.b.url("/orgs/crew")).await;
    b.click_and_wait("#members-link").await;
    assert!(b.url().await.ends_with("/orgs/crew/members"));

    add(&b, "dev", "developer").await;
    add(&b, "gus", "developer").await;
    add(&b, "lim", "limited-guest").await;
    // An unknown user: refused beside the form, the input kept.
    add(&b, "nobody", "guest").await;
    assert!(b.text("#member-error").await.contains("not found"));
    let kept = b
        .exec(
            "return document.getElementById('member-name').value",
            json!([]),
        )
        .await;
    assert_eq!(kept, "nobody");

    // Change gus to guest with the row's own form.
    b.exec(
        "document.getElementById('role-user-gus').value = 'guest'",
        json!([]),
    )
    .await;
    b.click_and_wait("#role-user-gus ~ button").await;
    let members = admin.api_ok("GET", "/orgs/crew/members", None).await;
    let roles: Vec<(String, String)> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [
        ("dev", "developer"),
        ("gus", "guest"),
        ("lim", "limited-guest"),
    ] {
        assert!(
            roles.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} not in {roles:?}"
        );
    }
    // The roles table: five roles; only admin manages members.
    let table = b.text("#roles").await;
    for r in ["admin", "maintainer", "developer", "guest", "limited-guest"] {
        assert!(table.contains(r), "{table}");
    }
    let managers = b
        .exec(
            "var rows = Array.from(document.querySelectorAll('#roles tbody tr')); \
             var r = rows.find(function (x) { return x.cells[0].textContent.indexOf('Add, change and remove members') === 0; }); \
             return Array.from(r.cells).slice(1).map(function (c) { return c.textContent.trim(); });",
            json!([]),
        )
        .await;
    assert_eq!(managers, json!(["✓", "–", "–", "–", "–"]));
    b.screenshot(&screenshots_dir().join("ui-members.png"))
        .await;

    // A developer reads the members, without the forms, and a forged post is refused.
    sign_in(&b, &app, "dev", "dev-password-123").await;
    b.goto(&app.b.url("/orgs/crew/members")).await;
    assert!(b.text("#member-table").await.contains("gus"));
    assert!(b.try_find("#member-form").await.is_none());
    let csrf = b
        .exec(
            "return document.querySelector('input[name=csrf]').value",
            json!([]),
        )
        .await;
    let refused = b
        .exec(
            "var f = new FormData(); f.append('csrf', arguments[0]); f.append('kind', 'user'); \
             f.append('name', 'dev'); f.append('role', 'admin'); \
             return fetch('/orgs/crew/members', {method: 'POST', body: new URLSearchParams(f)}).then(function (r) { return r.status; });",
            json!([csrf]),
        )
        .await;
    assert_eq!(refused, 403);

    // A guest and a limited guest may see neither the members nor the robots.
    for (user, password) in [("gus", "gus-password-123"), ("lim", "lim-password-123")] {
        sign_in(&b, &app, user, password).await;
        for page in ["/orgs/crew/members", "/orgs/crew/robots"] {
            b.goto(&app.b.url(page)).await;
            assert_eq!(b.text("#error h1").await, "Not allowed", "{user} at {page}");
        }
    }
    b.screenshot(&screenshots_dir().join("ui-forbidden.png"))
        .await;

    // The admin removes a member.
    sign_in(&b, &app, ADMIN_USER, ADMIN_PASSWORD).await;
    b.goto(&app.b.url("/orgs/crew/members")).await;
    b.exec("window.confirm = function () { return true; }", json!([]))
        .await;
    b.click_and_wait("form[action='/orgs/crew/members/remove']:has(input[value='lim']) button")
        .await;
    let members = admin.api_ok("GET", "/orgs/crew/members", None).await;
    assert!(!members.to_string().contains("\"lim\""), "{members}");
}
