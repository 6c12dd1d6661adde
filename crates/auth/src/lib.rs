//! berth-auth: identity and access.
//!
//! Who is calling ([`Principal`]: anonymous, a local user, a robot), how they prove it
//! (passwords and robot secrets, refresh tokens, access tokens), and what they may do (the
//! access decision of `berth-core`, fed with facts from the metadata store). The token service
//! of the Docker token spec and its routes live in [`http`]; the `/v2` guard in
//! `berth-registry` and the management API call into [`Auth`].
//!
//! Depends on `berth-core`, `berth-meta`, actix-web and the crypto crates; never on the
//! registry or the UI.

pub mod api;
pub mod http;
pub mod keys;
mod limiter;
pub mod password;
pub mod token;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_core::{Action, OrgFacts, RepoName, RobotRule, Role, Scope, Subject};
use berth_meta::{AuditEvent, Meta, MetaError, RobotRow, UserRow};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use keys::KeyRing;
pub use token::{Claims, TokenError};

use limiter::Limiter;

/// Settings of the token service.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The `service` of challenges and the `aud` of tokens.
    pub service: String,
    /// The `iss` of tokens.
    pub issuer: String,
    /// Absolute URL of the token endpoint for challenges; `None`: derived from each request's
    /// scheme and host (`<scheme>://<host>/auth/token`).
    pub realm: Option<String>,
    pub token_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a successful password check of HTTP Basic credentials on `/v2` is remembered.
    pub basic_cache_ttl: Duration,
    /// Failed logins allowed per account / per source address within `failure_window`.
    pub max_failures_per_account: u32,
    pub max_failures_per_source: u32,
    pub failure_window: Duration,
    /// Load balancers whose `X-Forwarded-For` names the client (throttling, audit).
    pub trusted_proxies: Vec<http::Cidr>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            service: "berth".into(),
            issuer: "berth".into(),
            realm: None,
            token_ttl: Duration::from_secs(300),
            refresh_ttl: Duration::from_secs(90 * 86_400),
            basic_cache_ttl: Duration::from_secs(60),
            max_failures_per_account: 10,
            max_failures_per_source: 50,
            failure_window: Duration::from_secs(300),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    User(UserRow),
    Robot(RobotRow, Vec<RobotRule>),
}

impl Principal {
    /// The token subject: the user name, `<org>+<robot>`, or empty for anonymous.
    pub fn subject(&self) -> String {
        match self {
            Principal::Anonymous => String::new(),
            Principal::User(u) => u.name.clone(),
            Principal::Robot(r, _) => format!("{}+{}", r.org, r.name),
        }
    }

    /// How the audit log names the caller.
    pub fn actor(&self) -> String {
        actor_of(&self.subject())
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::User(u) if u.admin)
    }

    pub fn user(&self) -> Option<&UserRow> {
        match self {
            Principal::User(u) => Some(u),
            _ => None,
        }
    }
}

/// The audit log's name for a token subject: `anonymous`, `user:<name>`,
/// `robot:<org>+<name>`.
pub fn actor_of(subject: &str) -> String {
    match subject {
        "" => "anonymous".into(),
        s if s.contains('+') => format!("robot:{s}"),
        s => format!("user:{s}"),
    }
}

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid credentials")]
    BadCredentials,
    #[error("too many failed logins; retry in {0} s")]
    RateLimited(u64),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("{0}")]
    Internal(String),
}

/// The identity and access service. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub meta: Meta,
    pub config: Arc<AuthConfig>,
    pub keys: KeyRing,
    limiter: Arc<Limiter>,
    basic_cache: Arc<BasicCache>,
    last_key_reload: Arc<Mutex<Option<Instant>>>,
    verified: Arc<Mutex<HashMap<[u8; 32], Arc<Claims>>>>,
}

/// Verified access tokens kept at most (cleared of expired ones, or wholly, when full).
const VERIFIED_MAX: usize = 20_000;

/// Remembers successful password checks of Basic credentials for a short time, keyed by an
/// HMAC of the credentials under a per-process random key (the plain password is never kept).
/// An entry holds the account's epoch; a password change or disable bumps the epoch and the
/// entry stops matching on the next request, on every replica.
struct BasicCache {
    key: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Checked>>,
}

/// A remembered check: account name, account id, credential epoch, when it was checked.
type Checked = (String, i64, i64, Instant);

const BASIC_CACHE_MAX: usize = 10_000;

impl BasicCache {
    fn new() -> BasicCache {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        BasicCache {
            key,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fingerprint(&self, user: &str, secret: &str) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(user.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// SHA-256 hex of a high-entropy secret (refresh tokens, robot secrets).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh random secret: `prefix` and 32 random bytes in base64url.
pub fn new_secret(prefix: &str) -> String {
    use base64::Engine;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

pub fn now_ms() -> i64 {
    berth_meta::now_ms()
}

impl Auth {
    /// Builds the service and loads (or creates) the signing keys.
    pub async fn new(meta: Meta, config: AuthConfig) -> Result<Auth, String> {
        let keys = KeyRing::load(&meta, now_ms()).await?;
        Ok(Auth {
            limiter: Arc::new(Limiter::new(config.failure_window)),
            basic_cache: Arc::new(BasicCache::new()),
            last_key_reload: Arc::new(Mutex::new(None)),
            verified: Arc::new(Mutex::new(HashMap::new())),
            meta,
            config: Arc::new(config),
            keys,
        })
    }

    /// Checks a user name (or `<org>+<robot>`) and password, with failed-login throttling.
    /// Every attempt costs one argon2id verification (robots: a SHA-256 of their generated
    /// secret), also for unknown accounts.
    pub async fn login(
        &self,
        name: &str,
        secret: &str,
        source: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let now = Instant::now();
        // Keys and audit records hold at most 128 characters of whatever name was sent.
        let acct = format!("acct:{}", clip(name));
        let src = source.map(|ip| format!("ip:{ip}"));
        let c = &self.config;
        if let Some(wait) = self
            .limiter
            .blocked(&acct, c.max_failures_per_account, now)
            .or_else(|| {
                src.as_ref()
                    .and_then(|s| self.limiter.blocked(s, c.max_failures_per_source, now))
            })
        {
            return Err(AuthError::RateLimited(wait.as_secs().max(1)));
        }
        match self.check_secret(name, secret).await {
            Ok(p) => {
                self.limiter.reset(&acct);
                Ok(p)
            }
            Err(AuthError::BadCredentials) => {
                self.limiter.record_failure(&acct, now);
                if let Some(s) = &src {
                    self.limiter.record_failure(s, now);
                }
                Err(AuthError::BadCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// [`Auth::login`] for HTTP Basic credentials on `/v2`: a successful check is remembered
    /// for `basic_cache_ttl`, so a client that sends its password on every request costs one
    /// argon2id check per minute, not one per request.
    pub async fn login_basic(
        &self,
        name: &str,
        secret: &str,
        source: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let fp = self.basic_cache.fingerprint(name, secret);
        let cached = self
            .basic_cache
            .entries
            .lock()
            .ok()
            .and_then(|m| m.get(&fp).cloned());
        if let Some((cached_name, id, epoch, at)) = cached {
            if at.elapsed() < self.config.basic_cache_ttl && cached_name == name {
                if let Some(p) = self.current(name, id, epoch).await? {
                    return Ok(p);
                }
            }
        }
        let p = self.login(name, secret, source).await?;
        let (id, epoch) = match &p {
            Principal::User(u) => (u.id, u.epoch),
            Principal::Robot(r, _) => (r.id, 0),
            Principal::Anonymous => (0, 0),
        };
        if let Ok(mut m) = self.basic_cache.entries.lock() {
            if m.len() >= BASIC_CACHE_MAX {
                m.clear();
            }
            m.insert(fp, (name.to_owned(), id, epoch, Instant::now()));
        }
        Ok(p)
    }

    /// The account `name` if it is still the same account (`id`: a deleted and recreated
    /// account of the same name is another one) and usable at `epoch` (users) or at all
    /// (robots).
    async fn current(
        &self,
        name: &str,
        id: i64,
        epoch: i64,
    ) -> Result<Option<Principal>, AuthError> {
        if let Some((org, robot)) = name.split_once('+') {
            let Some(r) = self.meta.robot(org, robot).await?.filter(|r| r.id == id) else {
                return Ok(None);
            };
            return Ok(robot_principal(r));
        }
        Ok(self
            .meta
            .user_by_name(name)
            .await?
            .filter(|u| u.id == id && !u.disabled && u.epoch == epoch)
            .map(Principal::User))
    }

    async fn check_secret(&self, name: &str, secret: &str) -> Result<Principal, AuthError> {
        if let Some((org, robot)) = name.split_once('+') {
            let row = self.meta.robot(org, robot).await?;
            let ok = row
                .as_ref()
                .is_some_and(|r| constant_eq(&r.secret_hash, &secret_hash(secret)));
            return match row {
                Some(r) if ok => robot_principal(r).ok_or(AuthError::BadCredentials),
                _ => Err(AuthError::BadCredentials),
            };
        }
        let user = self.meta.user_by_name(name).await?;
        let phc = user.as_ref().and_then(|u| u.password_hash.clone());
        let ok = password::verify(phc, secret.to_owned()).await;
        match user {
            Some(u) if ok && !u.disabled => Ok(Principal::User(u)),
            _ => Err(AuthError::BadCredentials),
        }
    }

    /// Issues a refresh token for `p` (not for anonymous).
    pub async fn issue_refresh(&self, p: &Principal) -> Result<String, AuthError> {
        let (kind, id, epoch) = match p {
            Principal::User(u) => ("user", u.id, u.epoch),
            Principal::Robot(r, _) => ("robot", r.id, 0),
            Principal::Anonymous => return Err(AuthError::BadCredentials),
        };
        let token = new_secret("brt_");
        let expires = now_ms() + self.config.refresh_ttl.as_millis() as i64;
        self.meta
            .insert_refresh_token(&secret_hash(&token), kind, id, epoch, expires)
            .await?;
        Ok(token)
    }

    /// The principal a refresh token stands for, if it is unrevoked, unexpired, of the
    /// subject's current epoch, and the subject is still enabled.
    pub async fn refresh(&self, token: &str) -> Result<Principal, AuthError> {
        let Some(row) = self.meta.refresh_token(&secret_hash(token)).await? else {
            return Err(AuthError::BadCredentials);
        };
        if row.revoked || row.expires_at <= now_ms() {
            return Err(AuthError::BadCredentials);
        }
        let p = match row.kind.as_str() {
            "user" => self
                .meta
                .user_by_id(row.subject_id)
                .await?
                .filter(|u| !u.disabled && u.epoch == row.epoch)
                .map(Principal::User),
            "robot" => self
                .meta
                .robot_by_id(row.subject_id)
                .await?
                .and_then(robot_principal),
            _ => None,
        };
        p.ok_or(AuthError::BadCredentials)
    }

    /// Revokes a refresh token (logout). Unknown tokens are ignored.
    pub async fn revoke(&self, token: &str) -> Result<(), AuthError> {
        self.meta.revoke_refresh_token(&secret_hash(token)).await?;
        Ok(())
    }

    /// The principal an access token was issued to, loaded fresh (for views that filter by
    /// identity, like the catalog). A subject that no longer exists is anonymous.
    pub async fn principal_of(&self, claims: &Claims) -> Result<Principal, AuthError> {
        if claims.sub.is_empty() {
            return Ok(Principal::Anonymous);
        }
        if let Some((org, robot)) = claims.sub.split_once('+') {
            let r = self.meta.robot(org, robot).await?;
            return Ok(r.and_then(robot_principal).unwrap_or(Principal::Anonymous));
        }
        Ok(self
            .meta
            .user_by_name(&claims.sub)
            .await?
            .filter(|u| !u.disabled)
            .map(Principal::User)
            .unwrap_or(Principal::Anonymous))
    }

    /// What `p` may do to repository `repo`.
    pub async fn repo_actions(
        &self,
        p: &Principal,
        repo: &str,
    ) -> Result<BTreeSet<Action>, AuthError> {
        if p.is_admin() {
            return Ok(berth_core::role::repo_actions(
                &Subject::User {
                    admin: true,
                    role: None,
                },
                repo,
                None,
            ));
        }
        let org_name = repo.split('/').next().unwrap_or(repo);
        let Some(org) = self.meta.org_by_name(org_name).await? else {
            return Ok(BTreeSet::new());
        };
        let facts = Some(OrgFacts { public: org.public });
        let actions = match p {
            Principal::Anonymous => {
                berth_core::role::repo_actions(&Subject::Anonymous, repo, facts)
            }
            Principal::User(u) => {
                let role = self.role_in(org.id, u.id).await?;
                berth_core::role::repo_actions(&Subject::User { admin: false, role }, repo, facts)
            }
            Principal::Robot(r, rules) => {
                berth_core::role::repo_actions(&Subject::Robot { org: &r.org, rules }, repo, facts)
            }
        };
        Ok(actions)
    }

    /// The strongest role `user_id` holds in `org_id`, directly or through a group.
    pub async fn role_in(&self, org_id: i64, user_id: i64) -> Result<Option<Role>, AuthError> {
        Ok(self
            .meta
            .member_roles(org_id, user_id)
            .await?
            .iter()
            .filter_map(|r| Role::parse(r).ok())
            .min())
    }

    /// Requested ∩ permitted, scope by scope; a scope with nothing granted is left out.
    /// A system admin granted push into an org that does not exist yet creates it (private).
    pub async fn grant(&self, p: &Principal, requested: &[Scope]) -> Result<Vec<Scope>, AuthError> {
        let mut out: Vec<Scope> = Vec::new();
        for s in requested {
            let granted: BTreeSet<String> = match (s.kind.as_str(), s.name.as_str()) {
                ("registry", "catalog") => {
                    if matches!(p, Principal::Anonymous) || !s.actions.contains("*") {
                        BTreeSet::new()
                    } else {
                        ["*".to_owned()].into()
                    }
                }
                ("repository", name) => {
                    let Ok(repo) = RepoName::parse(name) else {
                        continue;
                    };
                    let allowed = self.repo_actions(p, repo.as_str()).await?;
                    let wants_all = s.actions.contains("*");
                    let g: BTreeSet<String> = allowed
                        .iter()
                        .map(|a| a.as_str().to_owned())
                        .filter(|a| wants_all || s.actions.contains(a))
                        .collect();
                    if p.is_admin()
                        && g.contains("push")
                        && repo.as_str().contains('/')
                        && self.meta.org_by_name(repo.org()).await?.is_none()
                    {
                        self.meta.ensure_org(repo.org()).await?;
                    }
                    g
                }
                _ => BTreeSet::new(),
            };
            if granted.is_empty() {
                continue;
            }
            match out
                .iter_mut()
                .find(|o| o.kind == s.kind && o.name == s.name)
            {
                Some(o) => o.actions.extend(granted),
                None => out.push(Scope {
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    actions: granted,
                }),
            }
        }
        Ok(out)
    }

    /// Signs an access token for `p` carrying `access`.
    pub fn issue_access(
        &self,
        p: &Principal,
        access: Vec<Scope>,
    ) -> Result<(String, Claims), AuthError> {
        let now = now_ms() / 1000;
        let claims = Claims {
            iss: self.config.issuer.clone(),
            sub: p.subject(),
            aud: self.config.service.clone(),
            exp: now + self.config.token_ttl.as_secs() as i64,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            access,
        };
        let t = token::sign(&self.keys, &claims).map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok((t, claims))
    }

    /// Verifies an access token presented to this service. A token signed with a key this
    /// process has not seen (another replica generated or rotated one a moment ago) triggers
    /// one reload of the keys, at most once a second.
    pub async fn verify_access(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        // A client sends the same token until it expires: its verified claims are kept under
        // the SHA-256 of the whole token, so only the first use pays the ECDSA check.
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = now_ms() / 1000;
        if let Some(c) = self.verified.lock().ok().and_then(|m| m.get(&key).cloned()) {
            if c.exp > now {
                return Ok(c);
            }
        }
        let claims = Arc::new(self.verify_uncached(token).await?);
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= VERIFIED_MAX {
                m.retain(|_, c| c.exp > now);
                if m.len() >= VERIFIED_MAX {
                    m.clear();
                }
            }
            m.insert(key, claims.clone());
        }
        Ok(claims)
    }

    async fn verify_uncached(&self, token: &str) -> Result<Claims, TokenError> {
        match token::verify(&self.keys, token, &self.config.issuer, &self.config.service) {
            Err(TokenError::UnknownKey) if self.may_reload_keys() => {
                if let Err(e) = self.keys.reload(&self.meta, now_ms()).await {
                    tracing::warn!(error = %e, "could not reload token signing keys");
                }
                token::verify(&self.keys, token, &self.config.issuer, &self.config.service)
            }
            r => r,
        }
    }

    fn may_reload_keys(&self) -> bool {
        let Ok(mut last) = self.last_key_reload.lock() else {
            return false;
        };
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Writes an audit event; a failure to write is logged, never fatal to the request.
    pub async fn audit(
        &self,
        p: &Principal,
        action: &str,
        resource: &str,
        org: Option<&str>,
        source: Option<IpAddr>,
        outcome: &str,
    ) {
        self.audit_full(&p.actor(), action, resource, org, source, outcome)
            .await
    }

    /// [`Auth::audit`] of a successful action by an actor known by name.
    pub async fn audit_as(
        &self,
        actor: &str,
        action: &str,
        resource: &str,
        org: Option<&str>,
        source: Option<IpAddr>,
    ) {
        self.audit_full(actor, action, resource, org, source, "ok")
            .await
    }

    async fn audit_full(
        &self,
        actor: &str,
        action: &str,
        resource: &str,
        org: Option<&str>,
        source: Option<IpAddr>,
        outcome: &str,
    ) {
        let e = AuditEvent {
            id: 0,
            at: now_ms(),
            actor: actor.to_owned(),
            action: action.into(),
            resource: resource.into(),
            org: org.map(str::to_owned),
            source: source.map(|s| s.to_string()),
            outcome: outcome.into(),
            detail: None,
        };
        if let Err(err) = self.meta.record_audit(&e).await {
            tracing::warn!(error = %err, action, "could not write an audit event");
        }
    }
}

/// A robot row as a principal, unless disabled, expired or with unreadable rules.
fn robot_principal(r: RobotRow) -> Option<Principal> {
    if r.disabled || r.expires_at.is_some_and(|t| t <= now_ms()) {
        return None;
    }
    let rules: Vec<RobotRule> = serde_json::from_str(&r.rules).ok()?;
    Some(Principal::Robot(r, rules))
}

/// At most 128 characters of a client-supplied name, for keys and log records.
pub fn clip(s: &str) -> &str {
    match s.char_indices().nth(128) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn clips_long_names() {
        assert_eq!(super::clip("short"), "short");
        let long = "é".repeat(300);
        assert_eq!(super::clip(&long).chars().count(), 128);
    }
}
