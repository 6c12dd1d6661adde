//! The management API over HTTP: users, orgs, members, groups, robots and the audit log, and
//! the first admin's generated password.

use berth_testkit::{basic, claims, http_anonymous, Actor, Berth, TestApp, ADMIN_USER};
use serde_json::{json, Value};

use crate::BIN;

#[tokio::test]
async fn management_api_users_orgs_members_robots_and_audit() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    let anon = app.anonymous();
    // The OpenAPI document is public and names every path.
    let doc: Value = anon
        .get("/api/v1/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/orgs/{org}/robots"]["post"].is_object());

    // Users: create, list, get, validation errors, conflicts.
    let erin = app.user("erin").await;
    let users = admin.api_ok("GET", "/users", None).await;
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "erin"]);
    assert!(users[0].get("password_hash").is_none());
    for (body, code) in [
        (
            json!({"name": "Bad Name", "password": "long-enough"}),
            "INVALID",
        ),
        (json!({"name": "frank", "password": "short"}), "INVALID"),
        (
            json!({"name": "erin", "password": "long-enough"}),
            "CONFLICT",
        ),
        (
            json!({"name": "frank", "password": "long-enough", "extra": 1}),
            "INVALID",
        ),
    ] {
        let r = admin.api("POST", "/users", Some(body.clone())).await;
        let st = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{body} → {st} {v}");
    }
    let r = anon.api("GET", "/users", None).await;
    assert_eq!(r.status(), 401);
    let r = erin.api("GET", "/users", None).await;
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "FORBIDDEN");
    assert_eq!(erin.api("GET", "/users/erin", None).await.status(), 200);
    assert_eq!(erin.api("GET", "/users/admin", None).await.status(), 403);
    // The last admin cannot be removed or demoted.
    let r = admin.api("DELETE", "/users/admin", None).await;
    assert_eq!(r.status(), 409);
    let r = admin
        .api("PATCH", "/users/admin", Some(json!({"admin": false})))
        .await;
    assert_eq!(r.status(), 409);
    // A user cannot make themselves admin.
    let r = erin
        .api("PATCH", "/users/erin", Some(json!({"admin": true})))
        .await;
    assert_eq!(r.status(), 403);

    // Personal namespace: erin pushes to erin/… right away.
    let t = erin.bearer("repository:erin/tool:pull,push").await;
    assert_eq!(claims(&t)["access"][0]["actions"], json!(["pull", "push"]));

    // Orgs: erin creates one and becomes its admin; names are checked.
    let r = erin
        .api(
            "POST",
            "/orgs",
            Some(json!({"name": "team", "public": false})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = erin
        .api("POST", "/orgs", Some(json!({"name": "team"})))
        .await;
    assert_eq!(r.status(), 409);
    let r = admin
        .api("POST", "/orgs", Some(json!({"name": "erin"})))
        .await;
    assert_eq!(r.status(), 409, "a user's namespace");
    let r = erin
        .api("POST", "/orgs", Some(json!({"name": "Team!"})))
        .await;
    assert_eq!(r.status(), 400);
    let members = admin.api_ok("GET", "/orgs/team/members", None).await;
    assert_eq!(
        members,
        json!([{"kind": "user", "name": "erin", "role": "admin", "created_at": members[0]["created_at"]}])
    );
    // Members: a user and a group, with roles; bad roles and unknown users refused.
    let gus = app.user("gus").await;
    let r = erin
        .api(
            "PUT",
            "/orgs/team/members/user/gus",
            Some(json!({"role": "developer"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = erin
        .api(
            "PUT",
            "/orgs/team/members/group/ops",
            Some(json!({"role": "guest"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = erin
        .api(
            "PUT",
            "/orgs/team/members/user/gus",
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = erin
        .api(
            "PUT",
            "/orgs/team/members/user/nobody",
            Some(json!({"role": "guest"})),
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = erin
        .api(
            "PUT",
            "/orgs/team/members/robot/x",
            Some(json!({"role": "guest"})),
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = gus
        .api(
            "PUT",
            "/orgs/team/members/user/gus",
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), 403, "a developer cannot promote themselves");
    let members = admin.api_ok("GET", "/orgs/team/members", None).await;
    assert_eq!(members.as_array().unwrap().len(), 3);
    // A group's role reaches its members: kim, in group ops (guest of team), may pull there.
    let kim = app.user("kim").await;
    let t = kim.bearer("repository:team/app:pull").await;
    assert_eq!(claims(&t)["access"], json!([]));
    assert_eq!(
        erin.api("PUT", "/groups/ops/members/kim", None)
            .await
            .status(),
        403
    );
    assert_eq!(
        admin
            .api("PUT", "/groups/ops/members/kim", None)
            .await
            .status(),
        204
    );
    let t = kim.bearer("repository:team/app:pull,push").await;
    assert_eq!(claims(&t)["access"][0]["actions"], json!(["pull"]));
    let groups = admin.api_ok("GET", "/groups", None).await;
    assert_eq!(
        groups,
        json!([{"name": "ops", "external_dn": null, "members": ["kim"]}])
    );
    let r = admin
        .api("POST", "/groups", Some(json!({"name": "ops"})))
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        admin
            .api("DELETE", "/groups/ops/members/kim", None)
            .await
            .status(),
        204
    );
    let t = kim.bearer("repository:team/app:pull").await;
    assert_eq!(claims(&t)["access"], json!([]));
    // The org is invisible to outsiders.
    let hal = app.user("hal").await;
    assert_eq!(hal.api("GET", "/orgs/team", None).await.status(), 404);
    let orgs = hal
        .api("GET", "/orgs", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert!(!orgs.to_string().contains("\"team\""), "{orgs}");

    // Robots: created with explicit permissions, secret shown once, logs in as org+name.
    let r = erin.api("POST", "/orgs/team/robots", Some(json!({"name": "ci", "permissions": [{"repositories": "*", "actions": ["pull", "push"]}], "expires_in_days": 30})))
        .await;
    assert_eq!(r.status(), 201);
    let robot: Value = r.json().await.unwrap();
    assert_eq!(robot["name"], "team+ci");
    let secret = robot["secret"].as_str().unwrap().to_owned();
    let listed = admin.api_ok("GET", "/orgs/team/robots", None).await;
    assert!(listed[0].get("secret").is_none());
    let rc = app.basic("team+ci", &secret);
    let t = rc.bearer("repository:team/app:pull,push,delete").await;
    assert_eq!(claims(&t)["sub"], "team+ci");
    assert_eq!(claims(&t)["access"][0]["actions"], json!(["pull", "push"]));
    let r = erin
        .api(
            "POST",
            "/orgs/team/robots",
            Some(json!({"name": "bad", "permissions": []})),
        )
        .await;
    assert_eq!(r.status(), 400);
    // The secret works on /v2 directly too (and is remembered there for a minute).
    assert_eq!(rc.v2("GET", "/v2/").await.status(), 200);
    // Revoked: the secret stops working, on the token endpoint and on /v2 at once, also when
    // a robot of the same name is created again.
    let r = erin.api("DELETE", "/orgs/team/robots/team+ci", None).await;
    assert_eq!(r.status(), 204);
    let (st, _) = rc.token("").await;
    assert_eq!(st, 401);
    assert_eq!(rc.v2("GET", "/v2/").await.status(), 401);
    let again = json!({"name": "ci", "permissions": [{"repositories": "*", "actions": ["pull"]}]});
    assert_eq!(
        erin.api("POST", "/orgs/team/robots", Some(again))
            .await
            .status(),
        201
    );
    assert_eq!(
        rc.v2("GET", "/v2/").await.status(),
        401,
        "old secret of a recreated robot"
    );

    // Orgs with repositories cannot be deleted; empty ones can, by their admin.
    admin.seed_image("team/app", "v1").await;
    assert_eq!(erin.api("DELETE", "/orgs/team", None).await.status(), 409);
    admin
        .api_ok("POST", "/orgs", Some(json!({"name": "scratch"})))
        .await;
    assert_eq!(
        admin.api("DELETE", "/orgs/scratch", None).await.status(),
        204
    );

    // The audit log: who did what, when, from where.
    let log = admin.api_ok("GET", "/audit-log?n=500", None).await;
    let seen: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (actor, action) in [
        ("user:admin", "user.create"),
        ("user:erin", "org.create"),
        ("user:erin", "org.member.set"),
        ("user:erin", "robot.create"),
        ("user:erin", "robot.delete"),
        ("user:admin", "push"),
        ("user:admin", "org.delete"),
        ("robot:team+ci", "login"),
    ] {
        assert!(
            seen.contains(&(actor.to_owned(), action.to_owned())),
            "no {actor} {action} in {seen:?}"
        );
    }
    // Timestamps are RFC 3339 UTC, e.g. 2026-12-05T07:51:37.123Z.
    let at = log[0]["at"].as_str().unwrap();
    assert!(
        at.len() == 24 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );
    assert_eq!(log[0]["source"], "127.0.0.1");
    // Org-scoped log for org members; not for outsiders.
    let r = gus.api("GET", "/audit-log?org=team", None).await;
    assert_eq!(r.status(), 200);
    let team_log: Value = r.json().await.unwrap();
    assert!(team_log
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["org"] == "team"));
    assert_eq!(gus.api("GET", "/audit-log", None).await.status(), 403);
    assert_eq!(
        hal.api("GET", "/audit-log?org=team", None).await.status(),
        404
    );

    // A user deleted and created again with the same name is another account: the old
    // password, remembered for Basic on /v2, stops working at once.
    let max_old = app.user_with_password("max", "max-password-1").await;
    assert_eq!(max_old.v2("GET", "/v2/").await.status(), 200);
    assert_eq!(admin.api("DELETE", "/users/max", None).await.status(), 204);
    assert_eq!(max_old.v2("GET", "/v2/").await.status(), 401);

    // Catalog: each caller sees only what they may.
    admin.seed_image("hal/own", "v1").await;
    let cat = |who: &Actor| {
        let app = &app;
        let who = who.clone();
        async move {
            let t = who.bearer("registry:catalog:*").await;
            let v: Value = app
                .holder(&t)
                .v2("GET", "/v2/_catalog")
                .await
                .json()
                .await
                .unwrap();
            v["repositories"].clone()
        }
    };
    assert_eq!(cat(&hal).await, json!(["hal/own"]));
    assert_eq!(cat(&gus).await, json!(["team/app"]));
    assert_eq!(cat(&admin).await, json!(["hal/own", "team/app"]));
    // Anonymous callers get no catalog grant.
    let (_, body) = anon.token("scope=registry:catalog:*").await;
    let r = app
        .holder(body["token"].as_str().unwrap())
        .v2("GET", "/v2/_catalog")
        .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn first_admin_gets_a_generated_password_printed_once() {
    let tmp = tempfile::Builder::new()
        .prefix("berth-admin-")
        .tempdir()
        .unwrap();
    let data = tmp.path().join("data");
    // An empty BERTH_ADMIN_PASSWORD: no password configured.
    let b = Berth::start_in(BIN, &data, &[("BERTH_ADMIN_PASSWORD", "")]);
    let log = b.log();
    let marker = "created system admin \"admin\" with password";
    let at = log
        .find(marker)
        .unwrap_or_else(|| panic!("no password shown:\n{log}"));
    let password = log[at + marker.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(password.len() >= 32, "{password}");
    // It was printed on stderr, not through the structured log.
    assert!(!log
        .lines()
        .any(|l| l.contains(" INFO ") && l.contains(&password)));
    let c = http_anonymous();
    let r = c
        .get(b.url("/v2/"))
        .header("authorization", basic(ADMIN_USER, &password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(b);
    // A restart finds the admin and shows nothing.
    let b = Berth::start_in(BIN, &data, &[("BERTH_ADMIN_PASSWORD", "")]);
    assert!(!b.log().contains(marker));
    let r = c
        .get(b.url("/v2/"))
        .header("authorization", basic(ADMIN_USER, &password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
