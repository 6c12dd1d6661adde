//! Web UI sessions across replicas: two servers on one database (and one blob store). A
//! session opened on one is recognised by the other, and signing out on one ends it on both.
//! Plain HTTP, as a browser would send it (the cookie and the form's CSRF token).

use berth_testkit::{http_anonymous, Berth, ADMIN_PASSWORD, ADMIN_USER};
use reqwest::Response;

use crate::BIN;

/// The value of cookie `name` set by `r`.
fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The value of the first `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_session_works_on_every_replica_and_sign_out_ends_it_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let one = Berth::start_in(BIN, &data, &[]);
    let two = Berth::start_in(BIN, &data, &[]);
    let http = http_anonymous();

    // Sign in on the first replica.
    let form = http.get(one.url("/login")).send().await.unwrap();
    let login_cookie = set_cookie(&form, "berth_login").unwrap();
    let csrf = csrf_of(&form.text().await.unwrap());
    let r = http
        .post(one.url("/login"))
        .header("cookie", format!("berth_login={login_cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", ADMIN_USER),
            ("password", ADMIN_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r, "berth_session").unwrap();
    let cookie = format!("berth_session={session}");

    // The second replica knows the session.
    let page = |b: &Berth| {
        http.get(b.url("/orgs"))
            .header("cookie", cookie.clone())
            .send()
    };
    let html = page(&two).await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"signed-in-as\""), "{html}");
    let csrf = csrf_of(&html);

    // Sign out on the second; the first no longer knows the session either.
    let r = http
        .post(two.url("/logout"))
        .header("cookie", cookie.clone())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    for b in [&one, &two] {
        let html = page(b).await.unwrap().text().await.unwrap();
        assert!(!html.contains("id=\"signed-in-as\""), "{}: {html}", b.addr);
        assert!(html.contains("id=\"sign-in-link\""), "{}: {html}", b.addr);
    }
}
