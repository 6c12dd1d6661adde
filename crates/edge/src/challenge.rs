//! `WWW-Authenticate: Bearer` challenges: where the token service is (the realm) and what a
//! token must grant (the scopes).

use actix_web::HttpRequest;
use berth_auth::Auth;
use berth_core::Scope;

/// The realm of challenges: configured, or `<scheme>://<host>/auth/token` of the request.
pub fn realm(auth: &Auth, req: &HttpRequest) -> String {
    if let Some(r) = &auth.config.realm {
        return r.clone();
    }
    let info = req.connection_info();
    format!("{}://{}/auth/token", info.scheme(), info.host())
}

/// A `WWW-Authenticate: Bearer …` value for `scopes`, with `error` when a token was presented
/// but is not enough.
pub fn challenge(auth: &Auth, req: &HttpRequest, scopes: &[Scope], error: Option<&str>) -> String {
    let mut v = format!(
        "Bearer realm=\"{}\",service=\"{}\"",
        realm(auth, req),
        auth.config.service
    );
    if !scopes.is_empty() {
        let s: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        v.push_str(&format!(",scope=\"{}\"", s.join(" ")));
    }
    if let Some(e) = error {
        v.push_str(&format!(",error=\"{e}\""));
    }
    v
}
