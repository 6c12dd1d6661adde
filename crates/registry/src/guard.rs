//! The one place `/v2` requests are authorized, right after parsing.
//!
//! A request carries a bearer token from the token service (the usual case: verified without
//! a database round trip), HTTP Basic credentials (checked through `berth-auth`, the password
//! check remembered briefly), or nothing. Without credentials, or with ones that do not
//! verify, the answer is 401 with a `WWW-Authenticate: Bearer` challenge naming the scopes
//! the request needs; with a valid token that lacks them, `DENIED` with
//! `error="insufficient_scope"` — 401 when a fresh token could grant them, 403 when the
//! subject may not have them (see [`refusal_status`]); with Basic credentials that lack them,
//! 403 `DENIED`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use berth_auth::{Claims, Error as AuthError, Principal};
use berth_core::{Action, ErrorCode, RepoName, Scope};
use berth_edge::{challenge, credentials, source, Credentials, RETRY_AFTER_UNAVAILABLE_SECS};

use sha2::{Digest, Sha256};

use crate::http::Query;
use crate::{Endpoint, OciError, Registry};

/// Who is calling, as far as the handlers need to know.
pub struct Caller {
    /// The verified token, for token-authenticated requests.
    pub claims: Option<std::sync::Arc<Claims>>,
    /// The principal, for Basic-authenticated requests (loaded on demand for tokens).
    pub principal: Option<Principal>,
    /// Whether a `?mount=&from=` may read the `from` repository.
    pub may_mount: bool,
}

impl Caller {
    /// The audit log's name for the caller.
    pub fn actor(&self) -> String {
        if let Some(p) = &self.principal {
            return p.actor();
        }
        berth_auth::actor_of(self.claims.as_ref().map_or("", |c| c.sub.as_str()))
    }

    /// The full principal (one lookup for token callers).
    pub async fn principal(&self, reg: &Registry) -> Result<Principal, OciError> {
        if let Some(p) = &self.principal {
            return Ok(p.clone());
        }
        match &self.claims {
            Some(c) => reg.auth.principal_of(c).await.map_err(auth_err),
            None => Ok(Principal::Anonymous),
        }
    }
}

/// The scopes a request needs, as a challenge names them: push endpoints ask for
/// `pull,push` (what clients request for a push), a mount adds `pull` on its source.
fn needed(endpoint: &Endpoint, q: &Query) -> Vec<Scope> {
    let Some(action) = endpoint.required_action() else {
        return Vec::new();
    };
    if action == Action::Catalog {
        return vec![Scope::catalog()];
    }
    let Some(name) = endpoint.repository() else {
        return Vec::new();
    };
    let actions: &[&str] = match action {
        Action::Push => &["pull", "push"],
        Action::Delete => &["delete"],
        _ => &["pull"],
    };
    let mut out = vec![Scope::repository(name.as_str(), actions)];
    if let Some(from) = mount_source(endpoint, q) {
        if from != *name {
            out.push(Scope::repository(from.as_str(), &["pull"]));
        }
    }
    out
}

fn mount_source(endpoint: &Endpoint, q: &Query) -> Option<RepoName> {
    match endpoint {
        Endpoint::StartUpload { .. } if q.get("mount").is_some() => {
            q.get("from").and_then(|f| RepoName::parse(f).ok())
        }
        _ => None,
    }
}

pub(crate) fn auth_err(e: AuthError) -> OciError {
    match e {
        AuthError::Unavailable { what, cause } => {
            tracing::warn!(error = %cause, "dependency unavailable: {what}");
            OciError::new(
                ErrorCode::Unavailable,
                "service temporarily unavailable, retry later",
            )
            .header("retry-after", RETRY_AFTER_UNAVAILABLE_SECS.to_string())
        }
        AuthError::RateLimited(secs) => OciError::new(
            ErrorCode::TooManyRequests,
            format!("too many failed logins; retry in {secs} s"),
        )
        .header("retry-after", secs.to_string()),
        AuthError::BadCredentials => {
            OciError::new(ErrorCode::Unauthorized, "invalid user name or password")
        }
        AuthError::Forbidden => OciError::new(
            ErrorCode::Denied,
            "requested access to the resource is denied",
        ),
        AuthError::Internal(m) => OciError::internal(&m),
        // Not raised by the calls the guard makes; a failure all the same.
        e @ (AuthError::NotFound(_)
        | AuthError::Conflict(_)
        | AuthError::Invalid { .. }
        | AuthError::Disabled(_)) => OciError::internal(&e),
    }
}

/// Whether `granted` (what the token service would grant `p` for the request's scopes) allows
/// the request.
fn permits(
    p: &Principal,
    granted: &[Scope],
    action: Option<Action>,
    target: Option<&RepoName>,
) -> bool {
    match (action, target) {
        (None, _) => true,
        (Some(Action::Catalog), _) => !matches!(p, Principal::Anonymous),
        (Some(a), Some(name)) => granted
            .iter()
            .any(|s| s.allows("repository", name.as_str(), a.as_str())),
        (Some(_), None) => false,
    }
}

/// The status for a valid token that lacks what the request needs.
///
/// 401 with `error="insufficient_scope"` when a fresh token could carry it — the subject may
/// do this, or the token is anonymous and signing in might allow it — so that clients which
/// reuse a cached token (containerd, the OCI conformance suite) ask for a wider one, as
/// distribution answers. 403 `DENIED` when the subject may not do it at all. And 403 when the
/// same token comes back for the same need after that 401 (remembered by this process for a
/// minute): a client that retries with the token it has (oras-py) asks for a new one only on
/// a 403, and RFC 6750 gives insufficient scope 403 anyway.
async fn refusal_status(
    reg: &Registry,
    token: &str,
    claims: &Claims,
    endpoint: &Endpoint,
    q: &Query,
) -> Result<StatusCode, OciError> {
    if claims.sub.is_empty() {
        return Ok(StatusCode::UNAUTHORIZED);
    }
    let scopes = needed(endpoint, q);
    let key = Refusals::key(token, &scopes);
    if reg.refusals.told_before(&key) {
        return Ok(StatusCode::FORBIDDEN);
    }
    let principal = reg.auth.principal_of(claims).await.map_err(auth_err)?;
    if matches!(principal, Principal::Anonymous) {
        // The subject is gone: only new credentials can help.
        return Ok(StatusCode::UNAUTHORIZED);
    }
    // What the subject may do, without `grant`'s side effect (an admin's push creating an org).
    let may = match (endpoint.required_action(), endpoint.repository()) {
        (Some(Action::Catalog), _) => true,
        (Some(a), Some(name)) => reg
            .auth
            .repo_actions(&principal, name.as_str())
            .await
            .map_err(auth_err)?
            .contains(&a),
        _ => false,
    };
    if may {
        reg.refusals.remember(key);
        Ok(StatusCode::UNAUTHORIZED)
    } else {
        Ok(StatusCode::FORBIDDEN)
    }
}

/// Tokens recently told 401 `insufficient_scope`, by a hash of the token and the needed
/// scopes (never the token itself), so a second try with the same token gets 403.
#[derive(Default)]
pub(crate) struct Refusals {
    told: Mutex<HashMap<[u8; 32], Instant>>,
}

/// How long a 401 is remembered, and how many at most.
const REFUSAL_TTL: Duration = Duration::from_secs(60);
const REFUSALS_MAX: usize = 10_000;

impl Refusals {
    fn key(token: &str, scopes: &[Scope]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(token.as_bytes());
        for s in scopes {
            h.update(b"\0");
            h.update(s.to_string().as_bytes());
        }
        h.finalize().into()
    }

    fn told_before(&self, key: &[u8; 32]) -> bool {
        self.told
            .lock()
            .ok()
            .and_then(|m| m.get(key).map(|at| at.elapsed() < REFUSAL_TTL))
            .unwrap_or(false)
    }

    fn remember(&self, key: [u8; 32]) {
        if let Ok(mut m) = self.told.lock() {
            if m.len() >= REFUSALS_MAX {
                m.retain(|_, at| at.elapsed() < REFUSAL_TTL);
                if m.len() >= REFUSALS_MAX {
                    m.clear();
                }
            }
            m.insert(key, Instant::now());
        }
    }
}

/// Authorizes `endpoint` for the request's credentials.
pub(crate) async fn authorize(
    reg: &Registry,
    req: &HttpRequest,
    endpoint: &Endpoint,
    q: &Query,
) -> Result<Caller, OciError> {
    let auth = &reg.auth;
    // The scopes are spelled out only for a challenge or a Basic caller's grant: a request
    // with a good token (the hot path) builds none.
    let challenge = |error: Option<&str>| challenge(auth, req, &needed(endpoint, q), error);
    let unauthorized = |msg: &str, error: Option<&str>| {
        OciError::new(ErrorCode::Unauthorized, msg.to_owned())
            .header("www-authenticate", challenge(error))
    };
    let creds = credentials(req)
        .map_err(|_| unauthorized("unreadable Authorization header", Some("invalid_request")))?;
    let action = endpoint.required_action();
    let target = endpoint.repository();
    let from = mount_source(endpoint, q);
    match creds {
        None => Err(unauthorized("authentication required", None)),
        Some(Credentials::Bearer(t)) => {
            let claims = auth
                .verify_access(&t)
                .await
                .map_err(|_| unauthorized("invalid or expired token", Some("invalid_token")))?;
            let ok = match (action, target) {
                (None, _) => true,
                (Some(Action::Catalog), _) => claims.allows("registry", "catalog", "*"),
                (Some(a), Some(name)) => claims.allows("repository", name.as_str(), a.as_str()),
                (Some(_), None) => false,
            };
            if !ok {
                let status = refusal_status(reg, &t, &claims, endpoint, q).await?;
                return Err(OciError::new(
                    ErrorCode::Denied,
                    "requested access to the resource is denied",
                )
                .status(status)
                .header("www-authenticate", challenge(Some("insufficient_scope"))));
            }
            let may_mount = from
                .as_ref()
                .is_some_and(|f| claims.allows("repository", f.as_str(), "pull"));
            Ok(Caller {
                claims: Some(claims),
                principal: None,
                may_mount,
            })
        }
        Some(Credentials::Basic(user, pass)) => {
            let principal = match auth.login_basic(&user, &pass, source(req)).await {
                Ok(p) => p,
                Err(AuthError::BadCredentials) => {
                    return Err(unauthorized("invalid user name or password", None))
                }
                Err(e) => return Err(auth_err(e)),
            };
            let granted = auth
                .grant(&principal, &needed(endpoint, q))
                .await
                .map_err(auth_err)?;
            if !permits(&principal, &granted, action, target) {
                return Err(OciError::new(
                    ErrorCode::Denied,
                    "requested access to the resource is denied",
                ));
            }
            let may_mount = from.as_ref().is_some_and(|f| {
                granted
                    .iter()
                    .any(|s| s.allows("repository", f.as_str(), "pull"))
            });
            Ok(Caller {
                claims: None,
                principal: Some(principal),
                may_mount,
            })
        }
    }
}
