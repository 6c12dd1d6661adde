//! The web UI in a real headless Chromium: signing in and out, the first admin's empty
//! state, creating an organization (with a refused name shown beside the field), what an
//! anonymous visitor sees, escaped user data, the session cookie's flags, the security
//! headers, and forms posted without this session's CSRF token or from another site.
//! Screenshots of each page go to the screenshots directory (`BERTH_SCREENSHOTS_DIR`).

use berth_testkit::browser::{screenshots_dir, Browser};
use berth_testkit::{TestApp, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::BIN;

async fn shot(b: &Browser, name: &str) {
    b.screenshot(&screenshots_dir().join(format!("ui-{name}.png")))
        .await;
}

/// Signs `user` in through the form.
#[tokio::test]
async fn admin_signs_in_creates_an_org_and_signs_out() {
    let app = TestApp::start(BIN);
    let b = Browser::start().await;

    // Nothing public yet: an anonymous visitor at / is sent to the sign-in form.
    b.goto(&app.b.url("/")).await;
    assert!(b.url().await.ends_with("/login"), "{}", b.url().await);
    assert_eq!(b.title().await, "Sign in · Berth");
    shot(&b, "sign-in").await;

    // A wrong password: a readable message, the name kept.
    b.sign_in(&app.b, ADMIN_USER, "not-the-password").await;
    assert_eq!(b.text("#login-error").await, "Wrong user name or password.");
    let kept = b
        .exec("return document.getElementById('name').value", json!([]))
        .await;
    assert_eq!(kept, ADMIN_USER);
    shot(&b, "sign-in-error").await;

    // The first admin lands on the empty state that says what to do first.
    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    assert!(b.url().await.ends_with('/'), "{}", b.url().await);
    assert!(b.text("#signed-in-as").await.starts_with(ADMIN_USER));
    assert!(b
        .text("#empty-state")
        .await
        .contains("Start by creating one"));
    shot(&b, "dashboard-empty").await;

    // The session cookie: HttpOnly, SameSite=Lax, scoped to the whole site.
    let cookies = b.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "berth_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Lax", "{session}");
    assert_eq!(session["path"], "/", "{session}");
    // Not readable from the page's scripts.
    let visible = b.exec("return document.cookie", json!([])).await;
    assert!(!visible.as_str().unwrap_or("").contains("berth_session"));

    // A name the registry refuses: the error beside the field, the input kept.
    b.goto(&app.b.url("/orgs")).await;
    b.fill("#org-name", ADMIN_USER).await;
    b.click_and_wait("#create-org button[type=submit]").await;
    let err = b.text("#org-name-error").await;
    assert!(err.contains(ADMIN_USER), "{err}");
    let kept = b
        .exec(
            "return document.getElementById('org-name').value",
            json!([]),
        )
        .await;
    assert_eq!(kept, ADMIN_USER);
    shot(&b, "org-create-error").await;

    // A private org: created, then its page.
    b.fill("#org-name", "team-a").await;
    b.click_and_wait("#create-org button[type=submit]").await;
    assert!(b.url().await.ends_with("/orgs/team-a"), "{}", b.url().await);
    assert!(b.text("#org-name").await.starts_with("team-a"));
    assert!(b.text("#org-name").await.contains("private"));
    shot(&b, "org").await;
    let org = app.admin().api_ok("GET", "/orgs/team-a", None).await;
    assert_eq!(org["public"], false, "{org}");

    // The list shows it.
    b.goto(&app.b.url("/orgs")).await;
    assert!(b.text("#org-table").await.contains("team-a"));
    shot(&b, "orgs").await;

    // Signing out ends the session: the private org is gone from view.
    b.click_and_wait("header form[action='/logout'] button")
        .await;
    assert!(b.url().await.ends_with("/login"), "{}", b.url().await);
    assert!(b
        .cookies()
        .await
        .iter()
        .all(|c| c["name"] != "berth_session"));
    b.goto(&app.b.url("/orgs/team-a")).await;
    // Private orgs are hidden from anonymous visitors, as in the API; the page offers to sign in.
    assert_eq!(b.text("#error h1").await, "Not found");
    assert!(b.try_find("#error a[href='/login']").await.is_some());
    shot(&b, "error").await;
}

#[tokio::test]
async fn anonymous_visitors_see_public_orgs_and_user_data_stays_inert() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    admin.org("open", true).await;
    admin.org("closed", false).await;
    admin.seed_image("open/tool", "v1").await;
    let payload = r#"<script>window.__xss=1</script><img src=x onerror="window.__xss=2"><a href="javascript:window.__xss=3">x</a>"#;
    admin
        .api_ok(
            "PATCH",
            "/repositories/open/tool",
            Some(json!({ "description": payload })),
        )
        .await;

    let b = Browser::start().await;
    b.goto(&app.b.url("/")).await;
    let list = b.text("#org-list").await;
    assert!(list.contains("open"), "{list}");
    assert!(!list.contains("closed"), "{list}");
    assert!(b.try_find("#sign-in-link").await.is_some());
    shot(&b, "anonymous-home").await;

    // The description is shown as text; nothing in it ran.
    b.goto(&app.b.url("/orgs/open")).await;
    let table = b.text("#repo-table").await;
    assert!(table.contains("<script>window.__xss=1</script>"), "{table}");
    let ran = b
        .exec(
            "return window.__xss === undefined ? 0 : window.__xss",
            json!([]),
        )
        .await;
    assert_eq!(ran, 0, "an injected script ran");
    assert!(b.try_find("#repo-table img").await.is_none());
    shot(&b, "anonymous-org").await;

    // The CSP blocks an inline script even if one reached the page.
    let blocked = b
        .exec(
            "var s = document.createElement('script'); s.textContent = 'window.__csp = 1'; \
             document.body.appendChild(s); return window.__csp === undefined;",
            json!([]),
        )
        .await;
    assert_eq!(blocked, true, "an inline script ran despite the CSP");

    // A private org is not found for an anonymous visitor (as in the API).
    b.goto(&app.b.url("/orgs/closed")).await;
    assert!(b.text("#error").await.contains("404"));
}

/// Every UI answer carries the security headers.
#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let app = TestApp::start(BIN);
    let http = berth_testkit::http_anonymous();
    for path in ["/", "/login", "/orgs", "/orgs/nope"] {
        let r = http.get(app.b.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
}

/// Serves one page on another loopback port: a form that posts itself to `target` (what a
/// hostile site would do), with `fields`.
async fn hostile_site(target: String, fields: Vec<(&'static str, String)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{v}">"#))
        .collect();
    let page = format!(
        r#"<!doctype html><title>win a prize</title><form id="f" method="post" action="{target}">{inputs}</form><script>document.getElementById('f').submit()</script>"#
    );
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let res = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = s.write_all(res.as_bytes()).await;
        }
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn forms_without_this_sessions_token_or_from_another_site_change_nothing() {
    let app = TestApp::start(BIN);
    let b = Browser::start().await;
    b.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
    let csrf = b
        .exec(
            "return document.querySelector('input[name=csrf]').value",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = b
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "berth_session")
        .and_then(|c| c["value"].as_str().map(str::to_owned))
        .unwrap();

    // A page on another port posts a form to Berth in the signed-in browser, even with the
    // right token: refused by the origin check.
    let site = hostile_site(
        app.b.url("/orgs"),
        vec![("name", "evil-one".into()), ("csrf", csrf.clone())],
    )
    .await;
    b.goto(&site).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let shown = b.source().await;
    assert!(shown.contains("sent from another site"), "{shown}");
    shot(&b, "csrf-refused").await;

    // Without the token, or with another session's token: refused.
    let http = berth_testkit::http_anonymous();
    let other = {
        let b2 = Browser::start().await;
        b2.sign_in(&app.b, ADMIN_USER, ADMIN_PASSWORD).await;
        b2.exec(
            "return document.querySelector('input[name=csrf]').value",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
    };
    assert_ne!(other, csrf);
    for (name, token) in [("evil-two", ""), ("evil-three", other.as_str())] {
        let r = http
            .post(app.b.url("/orgs"))
            .header("cookie", format!("berth_session={cookie}"))
            .form(&[("name", name), ("csrf", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{name}");
    }
    // The same request with this session's token works (the checks above refused only the
    // forgery).
    let r = http
        .post(app.b.url("/orgs"))
        .header("cookie", format!("berth_session={cookie}"))
        .form(&[("name", "fine"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    let orgs: Value = app.admin().api_ok("GET", "/orgs", None).await;
    let listed = orgs.to_string();
    assert!(listed.contains("\"fine\""), "{listed}");
    for evil in ["evil-one", "evil-two", "evil-three"] {
        assert!(!listed.contains(evil), "{evil} was created: {listed}");
    }
}
