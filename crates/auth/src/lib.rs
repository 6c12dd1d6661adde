//! berth-auth: identity, access and the management use-cases, with no HTTP in them.
//!
//! Who is calling ([`Principal`], and [`Caller`] with its address), how they prove it
//! (passwords and robot secrets, refresh tokens, access tokens), what they may do (the access
//! decision of `berth-core`, fed with facts from the metadata store), the token service as one
//! call ([`Auth::issue_token`]), and the management of users, groups, orgs, members, robots,
//! repositories' descriptions and the audit log ([`manage`]). Every failure is an [`Error`]
//! that names what went wrong without an HTTP status; each edge (`berth-api`, `berth-registry`,
//! the UI) maps it once.
//!
//! Web UI sessions ([`session`]) sign in through the same check, throttle and audit.
//!
//! Depends on `berth-core`, `berth-meta`, `berth-content` (the repository deletes of the
//! management use-cases are the registry's own) and the crypto crates; never on actix or an
//! edge (CI checks it with `cargo tree`).

mod access;
mod audit;
pub mod bootstrap;
mod directory;
mod error;
mod issue;
pub mod keys;
mod limiter;
mod login;
pub mod manage;
pub mod password;
mod principal;
pub mod session;
pub mod token;
mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_core::Cidr;
use berth_meta::Meta;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use bootstrap::FirstAdmin;
pub use error::{Error, Result};
pub use issue::{Grant, Proof, TokenRequest, MAX_SCOPES};
pub use keys::KeyRing;
pub use login::clip;
pub use principal::{actor_of, Caller, Principal};
pub use session::{Session, SignedIn};
pub use token::{Claims, TokenError};

/// The records use-cases return, as the metadata store defines them (edges read them; they
/// never reach the store itself).
pub mod rows {
    pub use berth_meta::{
        AuditEvent, GroupRow, ManifestSummary, MemberRow, OrgRow, PersonalTokenRow, RepoSummary,
        RobotRow, TagRow, UserRow,
    };
}

use limiter::Limiter;
use login::BasicCache;

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
    pub trusted_proxies: Vec<Cidr>,
    /// A web UI session ends after this long without a request…
    pub session_idle: Duration,
    /// …and this long after sign-in in any case.
    pub session_max: Duration,
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
            session_idle: Duration::from_secs(3600),
            session_max: Duration::from_secs(12 * 3600),
        }
    }
}

/// The identity and access service. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub meta: Meta,
    pub config: Arc<AuthConfig>,
    pub keys: KeyRing,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) basic_cache: Arc<BasicCache>,
    pub(crate) last_key_reload: Arc<Mutex<Option<Instant>>>,
    pub(crate) verified: Arc<Mutex<HashMap<[u8; 32], Arc<Claims>>>>,
    /// The LDAP / Active Directory directory, when one is configured.
    pub(crate) directory: Option<Arc<berth_directory::Directory>>,
}

impl Auth {
    /// Builds the service and loads (or creates) the signing keys.
    pub async fn new(meta: Meta, config: AuthConfig) -> std::result::Result<Auth, String> {
        let keys = KeyRing::load(&meta, now_ms()).await?;
        Ok(Auth {
            limiter: Arc::new(Limiter::new(config.failure_window)),
            basic_cache: Arc::new(BasicCache::new()),
            last_key_reload: Arc::new(Mutex::new(None)),
            verified: Arc::new(Mutex::new(HashMap::new())),
            directory: None,
            meta,
            config: Arc::new(config),
            keys,
        })
    }
}

impl Auth {
    /// Checks the secrets of names that no local account holds against `directory`.
    pub fn with_directory(mut self, directory: Arc<berth_directory::Directory>) -> Auth {
        self.directory = Some(directory);
        self
    }

    /// The configured directory, if any.
    pub fn directory(&self) -> Option<&Arc<berth_directory::Directory>> {
        self.directory.as_ref()
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

#[cfg(test)]
mod tests {
    #[test]
    fn clips_long_names() {
        assert_eq!(super::clip("short"), "short");
        let long = "é".repeat(300);
        assert_eq!(super::clip(&long).chars().count(), 128);
    }
}
