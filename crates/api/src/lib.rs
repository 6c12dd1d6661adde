//! berth-api: the management API under `/api/v1` and the token routes (`/auth/token`,
//! `/auth/jwks`, `/auth/revoke`).
//!
//! Every handler is *parse → call one service function of `berth-auth` → map one error*
//! ([`ApiError`]); no rule and no database call lives here. Callers authenticate with HTTP
//! Basic credentials or a bearer access token of this service. Errors are JSON
//! `{"error": {"code", "message"}}` with a stable `code` (see `berth_edge::Failure`); an org
//! the caller may not see answers 404, as if it did not exist. Timestamps are RFC 3339 UTC.
//! The OpenAPI document is generated from the handlers (`utoipa`), see [`openapi`].
//!
//! Depends on `berth-core`, `berth-auth`, `berth-edge` and actix-web; never on another edge.

mod account;
mod audit;
mod error;
mod groups;
mod ldap;
mod model;
mod openapi;
mod orgs;
mod repos;
mod robots;
mod system;
mod token;
mod users;

use actix_web::{web, HttpResponse};

pub use error::{ApiError, ApiResult};

/// Declares the `/api/v1` routes once: [`ROUTES`] lists them (the OpenAPI test reads it) and
/// `mount` mounts exactly those.
macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        /// Every route under `/api/v1`: (method, path) as mounted.
        pub const ROUTES: &[(&str, &str)] = &[ $( (stringify!($method), $path) ),* ];

        fn mount(scope: actix_web::Scope) -> actix_web::Scope {
            scope $( .route($path, web::$method().to($handler)) )*
        }
    };
}

routes! {
    get "/openapi.json" => serve_openapi,
    post "/users" => users::create_user,
    get "/users" => users::list_users,
    get "/users/{name}" => users::get_user,
    patch "/users/{name}" => users::patch_user,
    delete "/users/{name}" => users::delete_user,
    put "/users/{name}/password" => users::set_password,
    post "/account/tokens" => account::create_token,
    get "/account/tokens" => account::list_tokens,
    delete "/account/tokens/{name}" => account::delete_token,
    post "/groups" => groups::create_group,
    get "/groups" => groups::list_groups,
    put "/groups/{name}/members/{user}" => groups::put_group_member,
    delete "/groups/{name}/members/{user}" => groups::delete_group_member,
    post "/orgs" => orgs::create_org,
    get "/orgs" => orgs::list_orgs,
    get "/orgs/{org}" => orgs::get_org,
    patch "/orgs/{org}" => orgs::patch_org,
    delete "/orgs/{org}" => orgs::delete_org,
    get "/orgs/{org}/members" => orgs::list_members,
    put "/orgs/{org}/members/{kind}/{name}" => orgs::put_member,
    delete "/orgs/{org}/members/{kind}/{name}" => orgs::delete_member,
    post "/orgs/{org}/robots" => robots::create_robot,
    get "/orgs/{org}/robots" => robots::list_robots,
    delete "/orgs/{org}/robots/{name}" => robots::delete_robot,
    get "/orgs/{org}/repositories" => repos::org_repositories,
    post "/orgs/{org}/repositories" => repos::create_repository,
    get "/repositories/{tail:.+}" => repos::repo_get,
    patch "/repositories/{tail:.+}" => repos::repo_patch,
    delete "/repositories/{tail:.+}" => repos::repo_delete,
    get "/audit-log" => audit::audit_log,
    get "/system/info" => system::system_info,
    post "/ldap/ping" => ldap::ping,
    get "/ldap/users" => ldap::users,
    get "/ldap/groups" => ldap::groups,
}

/// Mounts `/api/v1` and the token routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    token::configure(cfg);
    let json = web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|e, _| {
            let msg = e.to_string();
            let res = actix_web::ResponseError::error_response(&ApiError::invalid("body", msg));
            actix_web::error::InternalError::from_response(e, res).into()
        });
    let query = web::QueryConfig::default().error_handler(|e, _| {
        let msg = e.to_string();
        let res = actix_web::ResponseError::error_response(&ApiError::invalid("query", msg));
        actix_web::error::InternalError::from_response(e, res).into()
    });
    cfg.service(
        mount(web::scope("/api/v1").app_data(json).app_data(query)).default_service(web::to(
            || async { Err::<HttpResponse, _>(ApiError::not_found("no such endpoint")) },
        )),
    );
}

async fn serve_openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi::json())
}
