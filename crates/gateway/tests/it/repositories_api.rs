//! The repositories of the management API: listed per org, described, tags deleted, deleted.

use berth_testkit::TestApp;
use serde_json::{json, Value};

use crate::BIN;

#[tokio::test]
async fn repositories_api_lists_describes_and_deletes() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    let ivy = app.user("ivy").await;
    let jon = app.user("jon").await;
    admin
        .api_ok("POST", "/orgs", Some(json!({"name": "acme"})))
        .await;
    admin
        .api_ok(
            "PUT",
            "/orgs/acme/members/user/ivy",
            Some(json!({"role": "maintainer"})),
        )
        .await;
    admin
        .api_ok(
            "PUT",
            "/orgs/acme/members/user/jon",
            Some(json!({"role": "developer"})),
        )
        .await;
    let d1 = admin.seed_image("acme/web/frontend", "v1").await;
    admin.seed_image("acme/api", "v1").await;
    // A second tag on the same manifest.
    let r = admin.get("/v2/acme/api/manifests/v1").send().await.unwrap();
    let body = r.bytes().await.unwrap();
    let r = admin
        .put("/v2/acme/api/manifests/stable")
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let repos: Value = jon
        .api("GET", "/orgs/acme/repositories", None)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = repos
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme/api", "acme/web/frontend"]);
    assert_eq!(repos[0]["tag_count"], 2);
    assert_eq!(repos[0]["manifest_count"], 1);
    assert!(repos[0]["size"].as_i64().unwrap() > 0);

    // A name with several segments; its tags and manifests after the /-/ separator.
    let r: Value = jon
        .api("GET", "/repositories/acme/web/frontend", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["name"], "acme/web/frontend");
    let tags: Value = jon
        .api("GET", "/repositories/acme/api/-/tags", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        tags.as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["stable", "v1"]
    );
    // Tags page with n and last.
    let first = jon
        .api_ok("GET", "/repositories/acme/api/-/tags?n=1", None)
        .await;
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(first[0]["name"], "stable");
    let next = jon
        .api_ok("GET", "/repositories/acme/api/-/tags?n=1&last=stable", None)
        .await;
    assert_eq!(next[0]["name"], "v1");
    let ms: Value = jon
        .api("GET", "/repositories/acme/api/-/manifests", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ms[0]["tags"], json!(["stable", "v1"]));
    // Manifests page too (newest first, `last` = the previous page's last digest).
    let (_, newer) = admin.push_image("acme/api", "v2", "second").await;
    let mut seen = Vec::new();
    let mut last = String::new();
    loop {
        let page = jon
            .api_ok(
                "GET",
                &format!("/repositories/acme/api/-/manifests?n=1&last={last}"),
                None,
            )
            .await;
        let page = page.as_array().unwrap().clone();
        assert!(page.len() <= 1, "{page:?}");
        let Some(m) = page.first() else { break };
        last = m["digest"].as_str().unwrap().to_owned();
        seen.push((last.clone(), m["tags"].clone()));
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.contains(&(newer.clone(), json!(["v2"]))), "{seen:?}");
    assert!(seen
        .iter()
        .any(|(d, t)| *d != newer && *t == json!(["stable", "v1"])));
    assert_eq!(
        jon.api("GET", "/repositories/acme/nope", None)
            .await
            .status(),
        404
    );
    assert_eq!(
        jon.api("GET", "/repositories/Bad/Name", None)
            .await
            .status(),
        400
    );

    // Description: maintainers may change it, developers may not.
    let r = jon
        .api(
            "PATCH",
            "/repositories/acme/api",
            Some(json!({"description": "the API"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = ivy
        .api(
            "PATCH",
            "/repositories/acme/api",
            Some(json!({"description": "the API"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["description"], "the API");

    // Deletes: a tag, then a manifest, then a whole repository.
    assert_eq!(
        jon.api("DELETE", "/repositories/acme/api/-/tags/stable", None)
            .await
            .status(),
        403
    );
    assert_eq!(
        ivy.api("DELETE", "/repositories/acme/api/-/tags/stable", None)
            .await
            .status(),
        204
    );
    assert_eq!(
        ivy.api("DELETE", "/repositories/acme/api/-/tags/stable", None)
            .await
            .status(),
        404
    );
    let r = admin.v2("GET", "/v2/acme/api/manifests/stable").await;
    assert_eq!(r.status(), 404);
    let r = ivy
        .api(
            "DELETE",
            &format!("/repositories/acme/web/frontend/-/manifests/{d1}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = admin.v2("GET", "/v2/acme/web/frontend/manifests/v1").await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        ivy.api("DELETE", "/repositories/acme/api", None)
            .await
            .status(),
        204
    );
    let r = admin.v2("GET", "/v2/acme/api/tags/list").await;
    assert_eq!(r.status(), 404);
    let repos: Value = jon
        .api("GET", "/orgs/acme/repositories", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(repos.as_array().unwrap().len(), 1);
    let log = admin
        .api_ok("GET", "/audit-log?org=acme&actor=user:ivy", None)
        .await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["repository.delete", "delete", "delete", "repository.update"]
    );
}
