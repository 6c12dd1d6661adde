//! The OpenAPI document of `/api/v1`, generated from the handlers' `#[utoipa::path]`
//! annotations and the request and answer types (`utoipa`), served at
//! `/api/v1/openapi.json`. A test checks that every mounted route is documented and every
//! documented route mounted.

use std::sync::OnceLock;

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::{account, audit, groups, ldap, model, orgs, repos, robots, system, users};

/// The answers every operation may give besides its own: the failure policy of `/api/v1`.
const FAILURES: &[(&str, &str, &str)] = &[
    (
        "400",
        "Invalid",
        "A value of the request is not acceptable (code INVALID, with field)",
    ),
    (
        "401",
        "Unauthorized",
        "Missing or wrong credentials (code UNAUTHORIZED)",
    ),
    (
        "403",
        "Forbidden",
        "The caller may not do this (code FORBIDDEN)",
    ),
    (
        "404",
        "NotFound",
        "No such thing, or one the caller may not see (code NOT_FOUND)",
    ),
    (
        "409",
        "Conflict",
        "Clashes with the current state; the message says with what (code CONFLICT)",
    ),
    (
        "429",
        "TooManyRequests",
        "Too many failed logins (code TOOMANYREQUESTS); see Retry-After",
    ),
    (
        "500",
        "Internal",
        "An unexpected failure (code INTERNAL_ERROR); the cause is in the server's log",
    ),
    (
        "503",
        "Unavailable",
        "A dependency does not answer (code UNAVAILABLE); Retry-After: 1",
    ),
];

/// This document itself.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of /api/v1")))]
#[allow(dead_code)]
fn document() {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Berth management API",
        version = "1",
        description = "Users, groups, organizations, members, robot accounts, repositories, the audit log, the directory and the system information of a Berth registry. Authenticate with HTTP Basic credentials or a bearer access token from /auth/token. A repository name spans several path segments, so its sub-resources follow a /-/ separator (- cannot be a name component). Timestamps are RFC 3339 UTC."
    ),
    paths(
        document,
        users::create_user, users::list_users, users::get_user, users::patch_user,
        users::delete_user, users::set_password,
        account::create_token, account::list_tokens, account::delete_token,
        groups::create_group, groups::list_groups, groups::put_group_member,
        groups::delete_group_member,
        orgs::create_org, orgs::list_orgs, orgs::get_org, orgs::patch_org, orgs::delete_org,
        orgs::list_members, orgs::put_member, orgs::delete_member,
        robots::create_robot, robots::list_robots, robots::delete_robot,
        repos::org_repositories, repos::create_repository, repos::repo_get, repos::repo_patch, repos::repo_delete,
        repos::sub::tags, repos::sub::delete_tag, repos::sub::manifests,
        repos::sub::delete_manifest,
        audit::audit_log,
        system::system_info,
        ldap::ping, ldap::users, ldap::groups,
    ),
    components(schemas(model::ErrorBody, model::ErrorDetail, model::RobotRuleDoc)),
    modifiers(&Common),
    security(("basic" = []), ("bearer" = [])),
    tags(
        (name = "users", description = "Accounts: local, and directory accounts onboarded at their first sign-in"),
        (name = "account", description = "The caller's own personal CLI tokens"),
        (name = "groups", description = "Groups of users, usable as org members"),
        (name = "orgs", description = "Organizations"),
        (name = "members", description = "Who holds which role in an org"),
        (name = "robots", description = "Robot accounts for CI"),
        (name = "repositories", description = "Repositories, tags and manifests"),
        (name = "audit", description = "The audit log"),
        (name = "system", description = "The installation: version, backends, figures"),
        (name = "ldap", description = "The LDAP / Active Directory directory: test the settings, search users and groups"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// Adds the security schemes and, to every operation but the document's own, the shared
/// failure answers.
struct Common;

impl Modify for Common {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let comps = api.components.get_or_insert_with(Default::default);
        comps.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        comps.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        for (_, name, description) in FAILURES {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let response = ResponseBuilder::new()
                .description(*description)
                .content("application/json", content)
                .build();
            comps
                .responses
                .insert((*name).to_owned(), RefOr::T(response));
        }
        for (path, item) in api.paths.paths.iter_mut() {
            if path.ends_with("/openapi.json") {
                continue;
            }
            let ops: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                for (status, name, _) in FAILURES {
                    op.responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
                }
            }
        }
    }
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_pretty_json().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    /// Every route mounted is documented, and nothing else.
    #[test]
    fn openapi_documents_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::json()).unwrap();
        let mut documented = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for m in ops.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&m.as_str()) {
                    documented.push(format!("{} {path}", m.to_uppercase()));
                }
            }
        }
        documented.sort();
        let mut mounted = Vec::new();
        for (method, path) in crate::ROUTES {
            // One catch-all route serves a repository, its tags and its manifests.
            let paths: &[&str] = if *path == "/repositories/{tail:.+}" {
                match *method {
                    "get" => &[
                        "/repositories/{org}/{repo}",
                        "/repositories/{org}/{repo}/-/tags",
                        "/repositories/{org}/{repo}/-/manifests",
                    ],
                    "delete" => &[
                        "/repositories/{org}/{repo}",
                        "/repositories/{org}/{repo}/-/tags/{tag}",
                        "/repositories/{org}/{repo}/-/manifests/{digest}",
                    ],
                    _ => &["/repositories/{org}/{repo}"],
                }
            } else {
                std::slice::from_ref(path)
            };
            for p in paths {
                mounted.push(format!("{} /api/v1{p}", method.to_uppercase()));
            }
        }
        mounted.sort();
        assert_eq!(documented, mounted);
    }

    /// Each operation carries the shared failures, timestamps are date-times, and the
    /// security schemes are declared.
    #[test]
    fn openapi_shape() {
        let doc: serde_json::Value = serde_json::from_str(super::json()).unwrap();
        let op = &doc["paths"]["/api/v1/orgs/{org}/robots"]["post"];
        for s in [
            "201", "400", "401", "403", "404", "409", "429", "500", "503",
        ] {
            assert!(!op["responses"][s].is_null(), "{s} missing: {op}");
        }
        let user = &doc["components"]["schemas"]["User"]["properties"]["created_at"];
        assert_eq!(user["format"], "date-time", "{user}");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["components"]["schemas"]["RobotRule"].is_object());
        assert!(doc["components"]["schemas"]["NewRobot"].is_object());
    }
}
