//! berth-ui: the web UI, an edge beside `/v2` and `/api/v1`.
//!
//! Server-rendered HTML (askama templates from the repository's `web/templates`, compiled into
//! the binary) and a few static assets (`web/static`, embedded too). Every handler is *read the
//! visitor and the form → call one service function → render a page*: the rules and the access
//! decision are `berth-auth`'s (the same calls `/api/v1` makes), never repeated here or in a
//! template. Pages work without JavaScript; the little there is only adds conveniences.
//!
//! Security: a server-side session (see `berth_auth::session`) in an `HttpOnly`,
//! `SameSite=Lax` cookie (`__Host-` prefixed and `Secure` when the external URL is https); a
//! CSRF token and a same-origin check on every state-changing form; a strict
//! Content-Security-Policy and related headers on every answer; every value escaped.
//!
//! Depends on `berth-core`, `berth-auth`, `berth-content`, `berth-edge`, actix-web and askama;
//! never on another edge.

mod account;
mod assets;
mod audit;
mod groups;
mod home;
mod login;
mod manifest;
mod members;
mod org_settings;
mod orgs;
mod page;
mod repos;
mod robots;
mod size;
mod system;
mod tokens;
mod users;
mod visitor;

use actix_web::web;

pub use page::UiError;
pub use visitor::Visitor;

/// Settings of the web UI.
#[derive(Debug, Clone, Default)]
pub struct UiConfig {
    /// The address people reach Berth at (e.g. `https://registry.example.com`); empty: taken
    /// from each request. When it is https, cookies are `Secure` and `__Host-` prefixed.
    pub external_url: String,
}

impl UiConfig {
    /// Whether cookies must be `Secure` (the UI is reached over https).
    pub fn secure(&self) -> bool {
        self.external_url.starts_with("https://")
    }
}

/// Mounts the UI: `/`, `/login`, `/logout`, `/orgs…` (members and robots included),
/// `/repositories/…`, `/audit`, `/account…`, `/admin/users…`, `/admin/groups…`,
/// `/admin/system` and `/static/…`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home::home))
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::logout))
        .route("/orgs", web::get().to(orgs::list))
        .route("/orgs", web::post().to(orgs::create))
        .route("/orgs/{org}", web::get().to(orgs::show))
        .route(
            "/orgs/{org}/repositories",
            web::post().to(orgs::create_repo),
        )
        .route("/orgs/{org}/settings", web::get().to(org_settings::show))
        .route("/orgs/{org}/settings", web::post().to(org_settings::save))
        .route("/orgs/{org}/delete", web::post().to(org_settings::delete))
        .route("/orgs/{org}/members", web::get().to(members::list))
        .route("/orgs/{org}/members", web::post().to(members::set))
        .route(
            "/orgs/{org}/members/remove",
            web::post().to(members::remove),
        )
        .route("/orgs/{org}/robots", web::get().to(robots::list))
        .route("/orgs/{org}/robots", web::post().to(robots::create))
        .route("/orgs/{org}/robots/revoke", web::post().to(robots::revoke))
        .route("/repositories/{tail:.+}", web::get().to(repos::show))
        .route("/repositories/{tail:.+}", web::post().to(repos::act))
        .route("/audit", web::get().to(audit::list))
        .route("/account", web::get().to(account::show))
        .route("/admin/users", web::get().to(users::list))
        .route("/admin/users", web::post().to(users::create))
        .route("/admin/users/update", web::post().to(users::update))
        .route("/admin/groups", web::get().to(groups::list))
        .route("/admin/groups", web::post().to(groups::create))
        .route("/admin/groups/members", web::post().to(groups::members))
        .route("/admin/system", web::get().to(system::show))
        .route("/account/password", web::post().to(account::password))
        .route("/account/tokens", web::post().to(tokens::create))
        .route("/account/tokens/revoke", web::post().to(tokens::revoke))
        .route("/static/{file}", web::get().to(assets::serve));
}
