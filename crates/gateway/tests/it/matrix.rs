//! The permission matrix: every kind of caller × every `/v2` action and every management
//! endpoint, on a public and on a private org, checked over HTTP against the expected
//! allow/deny. One table; a mismatch prints the whole table.

use serde_json::json;

use berth_testkit::{sha256, Actor, TestApp};

use crate::BIN;

const PASSWORD: &str = "matrix-password";

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    SysAdmin,
    Admin,
    Maintainer,
    Developer,
    Guest,
    LimitedGuest,
    NonMember,
    Disabled,
    RobotPull,
    RobotPush,
    RobotDelete,
    RobotExpired,
}

const EVERYONE: [Who; 13] = [
    Who::Anonymous,
    Who::SysAdmin,
    Who::Admin,
    Who::Maintainer,
    Who::Developer,
    Who::Guest,
    Who::LimitedGuest,
    Who::NonMember,
    Who::Disabled,
    Who::RobotPull,
    Who::RobotPush,
    Who::RobotDelete,
    Who::RobotExpired,
];

/// What is tried.
#[derive(Clone, Copy, Debug)]
enum Act {
    Pull,
    Push,
    Delete,
    Catalog,
    GetOrg,
    PatchOrg,
    ListMembers,
    SetMember,
    ListRobots,
    CreateRobot,
    OrgAuditLog,
    ListUsers,
    CreateUser,
    ListRepos,
    GetRepo,
    PatchRepo,
    DeleteTag,
    DeleteMember,
    DeleteRobot,
    DeleteOrg,
}

const ACTS: [Act; 20] = [
    Act::Pull,
    Act::Push,
    Act::Delete,
    Act::Catalog,
    Act::GetOrg,
    Act::PatchOrg,
    Act::ListMembers,
    Act::SetMember,
    Act::ListRobots,
    Act::CreateRobot,
    Act::OrgAuditLog,
    Act::ListUsers,
    Act::CreateUser,
    Act::ListRepos,
    Act::GetRepo,
    Act::PatchRepo,
    Act::DeleteTag,
    Act::DeleteMember,
    Act::DeleteRobot,
    Act::DeleteOrg,
];

/// The expected decision: the table the product promises.
fn expected(who: Who, act: Act, public: bool) -> bool {
    use Act::*;
    use Who::*;
    let member_role = matches!(who, Admin | Maintainer | Developer | Guest | LimitedGuest);
    match act {
        Pull => match who {
            SysAdmin | Admin | Maintainer | Developer | Guest | LimitedGuest | RobotPull => true,
            Disabled | RobotExpired => false,
            // Anyone else reads a public org.
            _ => public,
        },
        Push => matches!(who, SysAdmin | Admin | Maintainer | Developer | RobotPush),
        Delete => matches!(who, SysAdmin | Admin | Maintainer | RobotDelete),
        Catalog => !matches!(who, Anonymous | Disabled | RobotExpired),
        GetOrg | ListRepos | GetRepo => match who {
            SysAdmin => true,
            _ if member_role => true,
            Disabled | RobotExpired => false,
            _ => public,
        },
        PatchOrg | SetMember | DeleteMember | DeleteOrg => matches!(who, SysAdmin | Admin),
        PatchRepo | DeleteTag => matches!(who, SysAdmin | Admin | Maintainer),
        DeleteRobot => matches!(who, SysAdmin | Admin | Maintainer),
        ListMembers | ListRobots => matches!(who, SysAdmin | Admin | Maintainer | Developer),
        OrgAuditLog => matches!(who, SysAdmin | Admin | Maintainer | Developer | Guest),
        CreateRobot => matches!(who, SysAdmin | Admin | Maintainer),
        ListUsers | CreateUser => who == SysAdmin,
    }
}

/// A fresh number for throwaway names.
fn next() -> u32 {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

struct Fixture {
    /// The robots of both orgs, by their login (`org+name`).
    robots: std::collections::HashMap<String, Actor>,
}

fn user_of(who: Who) -> Option<&'static str> {
    Some(match who {
        Who::Admin => "m-admin",
        Who::Maintainer => "m-maint",
        Who::Developer => "m-dev",
        Who::Guest => "m-guest",
        Who::LimitedGuest => "m-lguest",
        Who::NonMember => "m-none",
        Who::Disabled => "m-disabled",
        _ => return None,
    })
}

fn robot_of(who: Who) -> Option<&'static str> {
    Some(match who {
        Who::RobotPull => "r-pull",
        Who::RobotPush => "r-push",
        Who::RobotDelete => "r-delete",
        Who::RobotExpired => "r-expired",
        _ => return None,
    })
}

async fn setup(app: &TestApp) -> Fixture {
    let admin = app.admin();
    for who in EVERYONE {
        if let Some(u) = user_of(who) {
            app.user_with_password(u, PASSWORD).await;
        }
    }
    let mut robots = std::collections::HashMap::new();
    for (org, public) in [("pubo", true), ("privo", false)] {
        admin.org(org, public).await;
        for (who, role) in [
            (Who::Admin, "admin"),
            (Who::Maintainer, "maintainer"),
            (Who::Developer, "developer"),
            (Who::Guest, "guest"),
            (Who::LimitedGuest, "limited-guest"),
            (Who::Disabled, "developer"),
        ] {
            let u = user_of(who).unwrap();
            admin.member(org, "user", u, role).await;
        }
        for (who, action) in [
            (Who::RobotPull, "pull"),
            (Who::RobotPush, "push"),
            (Who::RobotDelete, "delete"),
            (Who::RobotExpired, "pull"),
        ] {
            let name = robot_of(who).unwrap();
            let mut body =
                json!({"name": name, "permissions": [{"repositories": "*", "actions": [action]}]});
            if who == Who::RobotExpired {
                body["expires_at"] = json!("1970-01-01T00:00:01Z");
            }
            let robot = app.robot_from(org, body).await;
            robots.insert(format!("{org}+{name}"), robot);
        }
        admin.seed_image(&format!("{org}/app"), "v1").await;
    }
    admin
        .api_ok(
            "PATCH",
            "/users/m-disabled",
            Some(json!({"disabled": true})),
        )
        .await;
    Fixture { robots }
}

/// The caller for `org` (robots are the org's own).
fn actor(app: &TestApp, f: &Fixture, who: Who, org: &str) -> Actor {
    if who == Who::SysAdmin {
        return app.admin();
    }
    if let Some(u) = user_of(who) {
        return app.basic(u, PASSWORD);
    }
    if let Some(r) = robot_of(who) {
        return f.robots[&format!("{org}+{r}")].clone();
    }
    app.anonymous()
}

/// Tries `act` on `org` the way a client does: a token from the token service for the scopes
/// the request needs (anonymous callers get an anonymous token), then the request with it;
/// management calls use the credentials directly. Returns whether it was allowed.
async fn attempt(
    app: &TestApp,
    f: &Fixture,
    who: Who,
    act: Act,
    org: &str,
) -> Result<bool, String> {
    let c = actor(app, f, who, org);
    let anon = app.anonymous();
    let repo = format!("{org}/app");
    let v2 = |scope: String, method: &'static str, path: String| {
        let (c, anon) = (&c, &anon);
        async move {
            let (st, body) = c.token(&format!("scope={scope}")).await;
            if st == 401 {
                // Disabled users and expired robots get no token at all.
                return Ok::<_, String>(anon.v2(method, &path).await);
            }
            if st != 200 {
                return Err(format!("token endpoint answered {st}: {body}"));
            }
            let t = body["token"].as_str().unwrap().to_owned();
            Ok(app.holder(&t).v2(method, &path).await)
        }
    };
    let r = match act {
        Act::Pull => {
            v2(
                format!("repository:{repo}:pull"),
                "GET",
                format!("/v2/{repo}/manifests/v1"),
            )
            .await?
        }
        Act::Push => {
            v2(
                format!("repository:{repo}:pull,push"),
                "POST",
                format!("/v2/{repo}/blobs/uploads/"),
            )
            .await?
        }
        // Deleting a blob the repository does not hold: 404 when allowed, nothing destroyed.
        Act::Delete => {
            let d = sha256(b"never pushed");
            v2(
                format!("repository:{repo}:delete"),
                "DELETE",
                format!("/v2/{repo}/blobs/{d}"),
            )
            .await?
        }
        Act::Catalog => v2("registry:catalog:*".into(), "GET", "/v2/_catalog".into()).await?,
        Act::GetOrg => c.api("GET", &format!("/orgs/{org}"), None).await,
        Act::PatchOrg => {
            c.api(
                "PATCH",
                &format!("/orgs/{org}"),
                Some(json!({"public": org == "pubo"})),
            )
            .await
        }
        Act::ListMembers => c.api("GET", &format!("/orgs/{org}/members"), None).await,
        Act::SetMember => {
            c.api(
                "PUT",
                &format!("/orgs/{org}/members/user/m-none"),
                Some(json!({"role": "guest"})),
            )
            .await
        }
        Act::ListRobots => c.api("GET", &format!("/orgs/{org}/robots"), None).await,
        Act::CreateRobot => {
            let name = format!("tmp{}", next());
            c.api("POST", &format!("/orgs/{org}/robots"), Some(json!({"name": name, "permissions": [{"repositories": "*", "actions": ["pull"]}]})))
            .await
        }
        Act::OrgAuditLog => c.api("GET", &format!("/audit-log?org={org}"), None).await,
        Act::ListUsers => c.api("GET", "/users", None).await,
        Act::ListRepos => {
            c.api("GET", &format!("/orgs/{org}/repositories"), None)
                .await
        }
        Act::GetRepo => c.api("GET", &format!("/repositories/{repo}"), None).await,
        Act::PatchRepo => {
            c.api(
                "PATCH",
                &format!("/repositories/{repo}"),
                Some(json!({"description": "x"})),
            )
            .await
        }
        // Probes that change nothing when allowed: a tag, a member and a robot that do not
        // exist (404 with the allowed handler's message), an org that still has a repository
        // (409).
        Act::DeleteTag => {
            c.api("DELETE", &format!("/repositories/{repo}/-/tags/none"), None)
                .await
        }
        Act::DeleteMember => {
            c.api("DELETE", &format!("/orgs/{org}/members/user/m-none"), None)
                .await
        }
        Act::DeleteRobot => {
            c.api("DELETE", &format!("/orgs/{org}/robots/none"), None)
                .await
        }
        Act::DeleteOrg => c.api("DELETE", &format!("/orgs/{org}"), None).await,
        Act::CreateUser => {
            let name = format!("tmp{}", next());
            c.api(
                "POST",
                "/users",
                Some(json!({"name": name, "password": "long-enough"})),
            )
            .await
        }
    };
    let st = r.status().as_u16();
    // A blob delete that was allowed finds nothing (404 BLOB_UNKNOWN); an org read that was
    // refused as invisible is a 404 NOT_FOUND: tell them apart by the body.
    let text = r.text().await.unwrap_or_default();
    match (act, st) {
        (Act::Delete, 404) if text.contains("BLOB_UNKNOWN") => Ok(true),
        (Act::DeleteTag, 404) if text.contains("tag or manifest not found") => Ok(true),
        (Act::DeleteMember, 404) if text.contains("member not found") => Ok(true),
        (Act::DeleteRobot, 404) if text.contains("robot not found") => Ok(true),
        (Act::DeleteOrg, 409) => Ok(true),
        (_, 200..=299) => Ok(true),
        (_, 401 | 403 | 404) => Ok(false),
        _ => Err(format!("unexpected {st}: {text}")),
    }
}

#[tokio::test]
async fn every_caller_every_action_public_and_private() {
    // Disabled users and expired robots fail every login: keep the throttle out of the table
    // (it has its own test).
    let app = TestApp::start_env(
        BIN,
        &[
            ("BERTH_AUTH__MAX_FAILURES_PER_ACCOUNT", "0"),
            ("BERTH_AUTH__MAX_FAILURES_PER_SOURCE", "0"),
        ],
    );
    let admin = app.admin();
    let f = setup(&app).await;
    let mut table = String::new();
    let mut wrong = Vec::new();
    for org in ["pubo", "privo"] {
        let public = org == "pubo";
        table.push_str(&format!(
            "\n{org} ({})\n{:<14}",
            if public { "public" } else { "private" },
            ""
        ));
        for act in ACTS {
            table.push_str(&format!("{:<12}", format!("{act:?}")));
        }
        table.push('\n');
        for who in EVERYONE {
            table.push_str(&format!("{:<14}", format!("{who:?}")));
            for act in ACTS {
                let got = attempt(&app, &f, who, act, org).await;
                let want = expected(who, act, public);
                let cell = match &got {
                    Ok(true) => "allow",
                    Ok(false) => "deny",
                    Err(_) => "ERROR",
                };
                let mark = if got.as_ref().ok() == Some(&want) {
                    " "
                } else {
                    "!"
                };
                table.push_str(&format!("{:<12}", format!("{cell}{mark}")));
                if got.as_ref().ok() != Some(&want) {
                    wrong.push(format!("{org} {who:?} {act:?}: want {want}, got {got:?}"));
                }
                if matches!(act, Act::SetMember) && got == Ok(true) {
                    admin
                        .api_ok("DELETE", &format!("/orgs/{org}/members/user/m-none"), None)
                        .await;
                }
            }
            table.push('\n');
        }
    }
    println!("{table}");
    assert!(wrong.is_empty(), "{}\n{table}", wrong.join("\n"));
}
