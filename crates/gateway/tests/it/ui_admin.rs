//! Accounts in a real headless Chromium: changing one's own password (the old one checked,
//! other sessions ended, this one kept), and the system admin's users page — create a local
//! account, disable and enable it, the admin flag (the last admin stays), a new password.

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::json;

use crate::BIN;

async fn signed_in(b: &Browser) -> bool {
    b.try_find("#signed-in-as").await.is_some()
}

/// Clicks the button `action` in the row of user `name`.
async fn user_action(b: &Browser, name: &str, action: &str) {
    b.click_and_wait(&format!(
        "#user-table form:has(input[name=name][value='{name}']) button[value='{action}']"
    ))
    .await;
}

#[tokio::test]
async fn admins_manage_accounts_and_users_change_their_password() {
    let app = TestApp::start(BIN);
    let b = Browser::start().await;
    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    b.click_and_wait("#users-link").await;

    // The last admin cannot lose the flag.
    user_action(&b, ADMIN_USER, "revoke-admin").await;
    assert!(b.text("#users-error").await.contains("last system admin"));

    // A password too short: refused, the name kept.
    b.fill("#user-name", "nia").await;
    b.fill("#user-password", "short").await;
    b.click_and_wait("#user-form button[type=submit]").await;
    assert!(b.text("#users-error").await.contains("8 to 256"));
    let kept = b
        .exec(
            "return document.getElementById('user-name').value",
            json!([]),
        )
        .await;
    assert_eq!(kept, "nia");
    b.fill("#user-password", "nia-password-1").await;
    b.click_and_wait("#user-form button[type=submit]").await;
    assert!(b.text("#user-table").await.contains("nia"));
    b.screenshot(&screenshots_dir().join("ui-users.png")).await;

    // Disabled, nia cannot sign in; enabled again, she can.
    user_action(&b, "nia", "disable").await;
    assert!(b.text("#user-table").await.contains("disabled"));
    let other = Browser::start().await;
    other.sign_in(&app.b, "nia", "nia-password-1").await;
    assert!(!signed_in(&other).await);
    user_action(&b, "nia", "enable").await;
    other.sign_in(&app.b, "nia", "nia-password-1").await;
    assert!(signed_in(&other).await);

    // A new password set by the admin; the admin flag.
    b.fill("#pw-nia", "nia-password-2").await;
    b.click_and_wait("#user-table form:has(#pw-nia) button")
        .await;
    user_action(&b, "nia", "grant-admin").await;
    let nia = app.admin().api_ok("GET", "/users/nia", None).await;
    assert_eq!(nia["admin"], true, "{nia}");
    // The new password ended nia's session; the new one works.
    other.goto(&app.b.url("/orgs")).await;
    assert!(!signed_in(&other).await);
    other.sign_in(&app.b, "nia", "nia-password-2").await;
    assert!(signed_in(&other).await);

    // nia changes her own password: the old one is checked, the two new ones must match.
    other.click_and_wait("#signed-in-as").await;
    let change = |old: &'static str, new: &'static str, again: &'static str| {
        let other = &other;
        async move {
            other.fill("#old-password", old).await;
            other.fill("#new-password", new).await;
            other.fill("#confirm-password", again).await;
            other
                .click_and_wait("#password-form button[type=submit]")
                .await;
        }
    };
    change("not-it-at-all", "nia-password-3", "nia-password-3").await;
    assert!(other
        .text("#old-password-error")
        .await
        .contains("does not match"));
    change("nia-password-2", "nia-password-3", "nia-password-4").await;
    assert!(other.text("#confirm-error").await.contains("differ"));
    // A session elsewhere, ended by the change; this browser stays signed in.
    let third = Browser::start().await;
    third.sign_in(&app.b, "nia", "nia-password-2").await;
    assert!(signed_in(&third).await);
    change("nia-password-2", "nia-password-3", "nia-password-3").await;
    assert!(other.try_find("#password-changed").await.is_some());
    assert!(signed_in(&other).await);
    other
        .screenshot(&screenshots_dir().join("ui-account.png"))
        .await;
    third.goto(&app.b.url("/orgs")).await;
    assert!(!signed_in(&third).await);

    // A user who is not a system admin gets the 403 page.
    app.user_with_password("ray", "ray-password-1").await;
    third.sign_in(&app.b, "ray", "ray-password-1").await;
    third.goto(&app.b.url("/admin/users")).await;
    assert_eq!(third.text("#error h1").await, "Not allowed");
}
