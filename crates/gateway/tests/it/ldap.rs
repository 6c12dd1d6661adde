//! Directory sign-in end to end: the real gateway configured against a real OpenLDAP server
//! (testkit's private slapd). Directory users get tokens through the token endpoint and
//! `docker login`, hold the roles their directory groups were given, are re-checked when they
//! use a refresh token, and cannot be impersonated by a filter injection; a local account
//! wins over a directory entry of the same name; a directory that never answers is a 503 in
//! bounded time while local accounts keep working; `berth ldap-test` and `berth check-config`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_testkit::clients::{Docker, Podman, Skopeo};
use berth_testkit::ldap::{
    group_dn, user_dn, Slapd, ALICE_PASSWORD, BOB_PASSWORD, CAROL_PASSWORD, DAVE_PASSWORD,
    GROUPS_DN, PEOPLE_DN, SEARCH_DN, SEARCH_PASSWORD,
};
use berth_testkit::tools::{output_text, run_with_stdin};
use berth_testkit::{basic, claims, http_anonymous, TestApp, ADMIN_PASSWORD};
use serde_json::{json, Value};

use crate::BIN;

/// A config file for `urls` with the test directory's layout; `extra` is appended to the
/// `ldap:` section (indented by the caller).
fn write_config(dir: &Path, urls: &[String], extra: &str) -> PathBuf {
    let urls: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    let yaml = format!(
        "ldap:\n  enabled: true\n  urls: [{}]\n  bind_dn: \"{SEARCH_DN}\"\n  bind_password: \"{SEARCH_PASSWORD}\"\n  user_base_dns: [\"{PEOPLE_DN}\"]\n  group_base_dn: \"{GROUPS_DN}\"\n  admin_group_dn: \"{}\"\n  connect_timeout_secs: 2\n  operation_timeout_secs: 2\n{extra}",
        urls.join(", "),
        group_dn("registry-admins"),
    );
    let path = dir.join("berth.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The gateway against `urls`; the config file lives in the returned temp dir.
fn start(urls: &[String], extra: &str) -> (TestApp, tempfile::TempDir) {
    let tmp = tempfile::Builder::new()
        .prefix("berth-ldap-")
        .tempdir()
        .unwrap();
    let cfg = write_config(tmp.path(), urls, extra);
    let app = TestApp::start_env(BIN, &[("BERTH_CONFIG", cfg.to_str().unwrap())]);
    (app, tmp)
}

/// The access a token request grants `user` on `scope`: (status, the actions granted).
async fn grant(app: &TestApp, user: &str, password: &str, scope: &str) -> (u16, Vec<String>) {
    let (st, body) = app
        .basic(user, password)
        .token(&format!("scope={scope}"))
        .await;
    if st != 200 {
        return (st, Vec::new());
    }
    let c = claims(body["token"].as_str().unwrap());
    let actions = c["access"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|a| a["actions"].as_array())
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (st, actions)
}

/// The org `shop` with the directory group `developers` (by name) as developer and
/// `readers` (by DN) as guest.
async fn shop(app: &TestApp) {
    let admin = app.admin();
    admin
        .api_ok("POST", "/orgs", Some(json!({"name": "shop"})))
        .await;
    admin
        .member("shop", "group", "developers", "developer")
        .await;
    let r = admin
        .api(
            "PUT",
            &format!("/orgs/shop/members/group/{}", group_dn("readers")),
            Some(json!({"role": "guest"})),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn directory_users_sign_in_and_hold_their_groups_roles() {
    let slapd = Slapd::start();
    let (app, _cfg) = start(&[slapd.url()], "");
    shop(&app).await;
    let admin = app.admin();
    // Both groups are mirrored under the directory's names, with their DNs.
    let groups = admin.api_ok("GET", "/groups", None).await;
    let text = groups.to_string();
    assert!(text.contains(&group_dn("developers")), "{text}");
    assert!(text.contains(&group_dn("readers")), "{text}");

    let scope = "repository:shop/app:pull,push";
    assert_eq!(
        grant(&app, "bob", BOB_PASSWORD, scope).await,
        (200, vec!["pull".into(), "push".into()])
    );
    assert_eq!(
        grant(&app, "carol", CAROL_PASSWORD, scope).await,
        (200, vec!["pull".into()])
    );
    assert_eq!(
        grant(&app, "dave", DAVE_PASSWORD, scope).await,
        (200, vec![])
    );
    // The first login onboarded them: source ldap, the directory's name and mail, no password.
    let bob = admin.api_ok("GET", "/users/bob", None).await;
    assert_eq!(bob["source"], "ldap", "{bob}");
    assert_eq!(bob["email"], "bob@example.org", "{bob}");
    // alice is in registry-admins: a system admin.
    let r = app
        .basic("alice", ALICE_PASSWORD)
        .api("GET", "/users", None)
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .basic("bob", BOB_PASSWORD)
        .api("GET", "/users", None)
        .await;
    assert_eq!(r.status(), 403);
    // The login name matches without case; the account is the same.
    assert_eq!(grant(&app, "BOB", BOB_PASSWORD, scope).await.0, 200);
    // Basic credentials on /v2 are checked against the directory once, then remembered,
    // whatever the spelling.
    let binds = slapd.binds_as(&user_dn("bob"));
    for _ in 0..3 {
        let r = app.basic("BOB", BOB_PASSWORD).v2("GET", "/v2/").await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(slapd.binds_as(&user_dn("bob")), binds + 1);
    let users = admin.api_ok("GET", "/users", None).await.to_string();
    assert!(!users.contains("\"BOB\""), "{users}");

    // Wrong, empty and other people's passwords; names that would widen a search.
    for (user, password) in [
        ("bob", "wrong"),
        ("bob", ""),
        ("bob", CAROL_PASSWORD),
        ("nobody", BOB_PASSWORD),
        ("*", BOB_PASSWORD),
        ("b*", BOB_PASSWORD),
        ("bob)(uid=*", BOB_PASSWORD),
        ("*)(|(uid=*", BOB_PASSWORD),
        ("bob\0", BOB_PASSWORD),
        ("bob\\", BOB_PASSWORD),
    ] {
        let (st, _) = grant(&app, user, password, scope).await;
        assert_eq!(st, 401, "{user:?} / {password:?}");
    }
    let long = "a".repeat(10 * 1024);
    let r = http_anonymous()
        .get(app.b.url("/auth/token?service=berth"))
        .header("authorization", basic(&long, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // No directory name ever appeared as a Berth user through those.
    let users = admin.api_ok("GET", "/users?n=100", None).await.to_string();
    assert!(!users.contains('*'), "{users}");

    // The audit log says why a directory login failed, and never holds a password.
    let log = admin
        .api_ok("GET", "/audit-log?action=login.directory", None)
        .await
        .to_string();
    assert!(log.contains("invalid credentials"), "{log}");
    assert!(log.contains("empty password"), "{log}");
    assert!(
        !log.contains(BOB_PASSWORD) && !log.contains(CAROL_PASSWORD),
        "{log}"
    );
    assert!(!app.b.log().contains(BOB_PASSWORD));
    // Every refusal was recorded, the NUL name's too (PostgreSQL text holds no NUL).
    assert!(
        !app.b.log().contains("could not write an audit event"),
        "{}",
        app.b.log()
    );
}

#[tokio::test]
async fn concurrent_first_logins_onboard_once() {
    let slapd = Slapd::start();
    let (app, _cfg) = start(&[slapd.url()], "");
    shop(&app).await;
    // Sixteen first logins of two users sharing a group, at once: every one succeeds and
    // each user holds the group's role (PostgreSQL commits concurrently; SQLite serialises).
    let tries = (0..16).map(|i| {
        let (user, password) = if i % 2 == 0 {
            ("bob", BOB_PASSWORD)
        } else {
            ("alice", ALICE_PASSWORD)
        };
        let actor = app.basic(user, password);
        async move { actor.token("scope=repository:shop/app:pull,push").await }
    });
    for (st, body) in futures_util::future::join_all(tries).await {
        assert_eq!(st, 200, "{body}");
        let c = claims(body["token"].as_str().unwrap());
        assert_eq!(c["access"][0]["actions"], json!(["pull", "push"]), "{c}");
    }
    let groups = app.admin().api_ok("GET", "/groups", None).await;
    let devs: Vec<&Value> = groups
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["name"] == "developers")
        .collect();
    assert_eq!(devs.len(), 1, "{groups}");
    // Healthy pooled connections were not mistaken for ones left inside a transaction.
    assert!(
        !app.b.log().contains("left inside a transaction"),
        "{}",
        app.b.log()
    );
}

#[tokio::test]
async fn a_local_account_wins_over_a_directory_entry_of_the_same_name() {
    let slapd = Slapd::start();
    let (app, _cfg) = start(&[slapd.url()], "");
    // A local `dave` made before the directory user ever signed in.
    app.user_with_password("dave", "dave-local-password").await;
    let binds = slapd.binds_as(&user_dn("dave"));
    let (st, _) = grant(&app, "dave", DAVE_PASSWORD, "registry:catalog:*").await;
    assert_eq!(
        st, 401,
        "the directory password does not open the local account"
    );
    assert_eq!(slapd.binds_as(&user_dn("dave")), binds, "not even tried");
    let (st, _) = grant(&app, "dave", "dave-local-password", "registry:catalog:*").await;
    assert_eq!(st, 200);
    let dave = app.admin().api_ok("GET", "/users/dave", None).await;
    assert_eq!(dave["source"], "local");
    // The local admin is never checked against the directory, nor is another spelling of
    // its name: its password never reaches the directory.
    let before = slapd.binds();
    assert_eq!(app.admin().v2("GET", "/v2/").await.status(), 200);
    for spelling in ["Admin", "EXAMPLE\\admin", "admin@example.org"] {
        let (st, _) = grant(&app, spelling, ADMIN_PASSWORD, "registry:catalog:*").await;
        assert_eq!(st, 401, "{spelling}");
    }
    assert_eq!(slapd.binds(), before);
}

#[tokio::test]
async fn refresh_tokens_recheck_the_directory_without_binding() {
    let slapd = Slapd::start();
    let (app, _cfg) = start(&[slapd.url()], "  cache_ttl_secs: 1\n");
    shop(&app).await;
    let (st, body) = app
        .basic("bob", BOB_PASSWORD)
        .token("scope=repository:shop/app:pull,push&offline_token=true")
        .await;
    assert_eq!(st, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let by_refresh = |scope: &str| {
        let (base, refresh, scope) = (app.b.base.clone(), refresh.clone(), scope.to_owned());
        async move {
            let r = http_anonymous()
                .post(format!("{base}/auth/token"))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                    ("service", "berth"),
                    ("scope", scope.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (st, body)
        }
    };
    let actions = |body: &Value| -> Vec<String> {
        let c = claims(body["access_token"].as_str().unwrap());
        c["access"][0]["actions"]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let binds = slapd.binds_as(&user_dn("bob"));
    let (st, body) = by_refresh("repository:shop/app:pull,push").await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(actions(&body), ["pull", "push"]);

    // bob leaves developers in the directory: once cache_ttl has passed, the refresh token
    // carries no push any more.
    slapd.modify_ldif(&format!(
        "dn: {}\nchangetype: modify\ndelete: member\nmember: {}\n",
        group_dn("developers"),
        user_dn("bob")
    ));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (st, body) = by_refresh("repository:shop/app:pull,push").await;
    assert_eq!(st, 200, "{body}");
    assert!(actions(&body).is_empty(), "{body}");

    // bob is deleted from the directory: the refresh token stops working.
    slapd.modify_ldif(&format!("dn: {}\nchangetype: delete\n", user_dn("bob")));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (st, body) = by_refresh("repository:shop/app:pull").await;
    assert_eq!(st, 401, "{body}");
    assert_eq!(
        slapd.binds_as(&user_dn("bob")),
        binds,
        "refreshes search, they never bind as the user"
    );

    // Another entry that takes the name `bob` later is not handed the old bob's account.
    let new_bob = format!("cn=Robert New,{PEOPLE_DN}");
    slapd.add_ldif(&format!(
        "dn: {new_bob}\nobjectClass: inetOrgPerson\ncn: Robert New\nsn: New\nuid: bob\nuserPassword: new-bob-password\n"
    ));
    let (st, _) = grant(&app, "bob", "new-bob-password", "repository:shop/app:pull").await;
    assert_eq!(st, 401);
    assert_eq!(
        slapd.binds_as(&new_bob),
        1,
        "the directory accepted the password"
    );
    let log = app
        .admin()
        .api_ok("GET", "/audit-log?action=login.directory", None)
        .await
        .to_string();
    assert!(log.contains("belongs to the directory entry"), "{log}");
}

#[tokio::test]
async fn a_directory_that_never_answers_is_503_in_bounded_time() {
    // Accepts TCP connections (the kernel's backlog) and never says a word.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let (app, _cfg) = start(
        &[format!("ldap://{}", hang.local_addr().unwrap())],
        "  connect_timeout_secs: 1\n  operation_timeout_secs: 1\n",
    );
    let started = Instant::now();
    let r = app
        .basic("bob", BOB_PASSWORD)
        .get("/auth/token?service=berth")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("directory"), "{body}");
    // On /v2 with Basic credentials: an OCI error.
    let r = app.basic("bob", BOB_PASSWORD).v2("GET", "/v2/").await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(body["errors"][0]["code"].is_string(), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Local accounts do not need the directory.
    assert_eq!(app.admin().v2("GET", "/v2/").await.status(), 200);
    let (st, _) = app.admin().token("scope=registry:catalog:*").await;
    assert_eq!(st, 200);
    assert_eq!(
        app.anonymous()
            .get("/readyz")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    drop(hang);
}

#[tokio::test]
async fn docker_podman_and_skopeo_sign_in_as_directory_users() {
    let slapd = Slapd::start();
    let (app, _cfg) = start(&[slapd.url()], "");
    shop(&app).await;
    let host = app.b.addr.clone();
    let tmp = tempfile::Builder::new()
        .prefix("berth-ldap-clients-")
        .tempdir()
        .unwrap();

    // bob (developers → developer) pushes with docker.
    let bob = Docker::new(&tmp.path().join("bob"));
    let out = bob.login(&host, "bob", BOB_PASSWORD);
    assert!(out.status.success(), "docker login: {}", output_text(&out));
    let image = format!("{host}/shop/app:v1");
    bob.import_busybox(&image);
    let out = bob.cmd().args(["push", &image]).output().unwrap();
    assert!(out.status.success(), "docker push: {}", output_text(&out));
    // The CLI keeps a refresh token, not the password.
    let cfg = std::fs::read_to_string(bob.config_dir().join("config.json")).unwrap();
    assert!(!cfg.contains(BOB_PASSWORD) && cfg.contains("brt_"), "{cfg}");

    // carol (readers → guest) pulls, and may not push.
    let carol = Docker::new(&tmp.path().join("carol"));
    let out = carol.login(&host, "carol", CAROL_PASSWORD);
    assert!(out.status.success(), "docker login: {}", output_text(&out));
    carol.forget_on_drop(&image);
    let out = carol.cmd().args(["pull", &image]).output().unwrap();
    assert!(out.status.success(), "docker pull: {}", output_text(&out));
    let mine = format!("{host}/shop/app:carol");
    carol.forget_on_drop(&mine);
    let out = carol.cmd().args(["tag", &image, &mine]).output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let out = carol.cmd().args(["push", &mine]).output().unwrap();
    assert!(
        !out.status.success(),
        "a guest pushed: {}",
        output_text(&out)
    );
    // A wrong directory password is refused by the CLI's login.
    let out = Docker::new(&tmp.path().join("x")).login(&host, "bob", "wrong");
    assert!(!out.status.success());

    // podman and skopeo sign in as directory users too.
    // podman's run root must stay under 50 characters: its own short temp dir.
    let short = tempfile::Builder::new().prefix("bp").tempdir().unwrap();
    let podman = Podman::new(short.path());
    let out = run_with_stdin(
        podman.cmd().args([
            "login",
            "--tls-verify=false",
            &host,
            "-u",
            "carol",
            "--password-stdin",
        ]),
        CAROL_PASSWORD,
    );
    assert!(out.status.success(), "podman login: {}", output_text(&out));
    let skopeo = Skopeo::new(&tmp.path().join("skopeo"));
    let out = run_with_stdin(
        skopeo.cmd().args([
            "login",
            "--tls-verify=false",
            &host,
            "-u",
            "bob",
            "--password-stdin",
        ]),
        BOB_PASSWORD,
    );
    assert!(out.status.success(), "skopeo login: {}", output_text(&out));
    let out = skopeo
        .cmd()
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        output_text(&out)
    );
}

#[test]
fn ldap_test_and_check_config_from_the_command_line() {
    let slapd = Slapd::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &[slapd.url()], "");
    let berth = |args: &[&str], cfg: &Path| {
        Command::new(BIN)
            .args(args)
            .env("BERTH_CONFIG", cfg)
            .env("BERTH_DATA_DIR", tmp.path().join("data"))
            .output()
            .unwrap()
    };
    let out = berth(&["ldap-test", "alice"], &cfg);
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("bound as {SEARCH_DN}")), "{text}");
    assert!(text.contains(&user_dn("alice")), "{text}");
    assert!(text.contains("system admin: yes"), "{text}");
    assert!(
        text.contains(&format!("group developers ({})", group_dn("developers"))),
        "{text}"
    );
    let out = berth(&["ldap-test", "nobody"], &cfg);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("nobody"),
        "{}",
        output_text(&out)
    );

    let out = berth(&["check-config"], &cfg);
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(SEARCH_PASSWORD), "{text}");
    assert!(text.contains("***"), "{text}");

    // Bad settings: exit 2 with the reason.
    for (extra, reason) in [
        ("  ca_file: /nonexistent/ca.pem\n", "ldap.ca_file"),
        ("  membership: groups\n", "memberof or member"),
        ("  user_filter: objectClass=person\n", "not an LDAP filter"),
    ] {
        let bad = tmp.path().join("bad");
        std::fs::create_dir_all(&bad).unwrap();
        let cfg = write_config(&bad, &[slapd.url()], extra);
        let out = berth(&["check-config"], &cfg);
        assert_eq!(out.status.code(), Some(2), "{extra}: {}", output_text(&out));
        assert!(output_text(&out).contains(reason), "{}", output_text(&out));
    }
    let bad = tmp.path().join("bad-url");
    std::fs::create_dir_all(&bad).unwrap();
    let cfg = write_config(&bad, &["http://127.0.0.1:389".into()], "");
    let out = berth(&["check-config"], &cfg);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        output_text(&out).contains("not an ldap://"),
        "{}",
        output_text(&out)
    );
    // A server that is not there: ldap-test fails and says so.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = write_config(&bad, &[format!("ldap://{dead}")], "");
    let out = berth(&["ldap-test"], &cfg);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("unavailable"),
        "{}",
        output_text(&out)
    );
}

#[tokio::test]
async fn the_management_api_tests_and_searches_the_directory() {
    let slapd = Slapd::start();
    let (app, _cfg) = start(&[slapd.url()], "");
    let admin = app.admin();
    let ping = admin.api_ok("POST", "/ldap/ping", None).await;
    assert_eq!(ping["ok"], true, "{ping}");
    assert_eq!(ping["url"], slapd.url());
    assert_eq!(ping["bound_as"], SEARCH_DN);
    assert_eq!(ping["bases"], json!([PEOPLE_DN, GROUPS_DN]));

    let users = admin.api_ok("GET", "/ldap/users?q=ali", None).await;
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users[0]["name"], "alice");
    assert_eq!(users[0]["dn"], user_dn("alice"));
    assert_eq!(users[0]["email"], "alice@example.org");
    // A star is a literal star: it matches nobody.
    let none = admin.api_ok("GET", "/ldap/users?q=%2A", None).await;
    assert_eq!(none, json!([]));
    let all = admin.api_ok("GET", "/ldap/users?q=&n=2", None).await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let groups = admin.api_ok("GET", "/ldap/groups?q=dev", None).await;
    assert_eq!(
        groups,
        json!([{"name": "developers", "dn": group_dn("developers")}])
    );
    let r = admin
        .api("GET", &format!("/ldap/groups?q={}", "x".repeat(200)), None)
        .await;
    assert_eq!(r.status(), 400);

    // System admins only.
    let r = app
        .basic("bob", BOB_PASSWORD)
        .api("POST", "/ldap/ping", None)
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .basic("bob", BOB_PASSWORD)
        .api("GET", "/ldap/users?q=a", None)
        .await;
    assert_eq!(r.status(), 403);

    // A failing test is an answer with the reason.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &[slapd.url()], "");
    let yaml = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(SEARCH_PASSWORD, "not-the-password");
    std::fs::write(&cfg, yaml).unwrap();
    let wrong = TestApp::start_env(BIN, &[("BERTH_CONFIG", cfg.to_str().unwrap())]);
    let ping = wrong.admin().api_ok("POST", "/ldap/ping", None).await;
    assert_eq!(ping["ok"], false, "{ping}");
    assert!(
        ping["error"].as_str().unwrap().contains("search account"),
        "{ping}"
    );
    assert!(!ping.to_string().contains("not-the-password"));

    // Without a directory: a conflict that says so.
    let plain = TestApp::start(BIN);
    let r = plain.admin().api("POST", "/ldap/ping", None).await;
    assert_eq!(r.status(), 409);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("no directory is configured"));
}

#[tokio::test]
async fn a_directory_user_signs_in_on_the_ui_until_the_directory_drops_them() {
    use berth_testkit::browser::{screenshots_dir, Browser};
    let slapd = Slapd::start();
    let (app, _cfg) = start(&[slapd.url()], "  cache_ttl_secs: 1\n");
    shop(&app).await;
    let b = Browser::start().await;
    // A wrong directory password is refused on the form like a local one.
    b.sign_in(&app.b, "bob", "wrong").await;
    assert!(b.try_find("#signed-in-as").await.is_none());
    // bob signs in with his directory password and sees the org his group belongs to.
    b.sign_in(&app.b, "bob", BOB_PASSWORD).await;
    assert!(b.text("#signed-in-as").await.starts_with("bob"));
    b.goto(&app.b.url("/orgs")).await;
    assert!(b.source().await.contains("/orgs/shop"), "bob sees shop");
    b.screenshot(&screenshots_dir().join("ldap-user-orgs.png"))
        .await;
    // Removed from the directory: the session ends once cache_ttl has passed.
    slapd.modify_ldif(&format!("dn: {}\nchangetype: delete\n", user_dn("bob")));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    b.goto(&app.b.url("/orgs")).await;
    assert!(
        b.try_find("#signed-in-as").await.is_none(),
        "the session outlived the directory entry"
    );
}
