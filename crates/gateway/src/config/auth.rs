//! `auth.*`: accounts and the token service — token lifetimes, throttling, trusted proxies,
//! the first admin.

use serde::{Deserialize, Serialize};

use super::storage::read_secret_file;
use super::ConfigError;

/// Accounts and the token service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// `service` of challenges and `aud` of tokens.
    pub service: String,
    /// `iss` of tokens.
    pub issuer: String,
    /// Absolute URL of the token endpoint clients are sent to; empty: derived from each
    /// request (`<scheme>://<host>/auth/token`).
    pub realm: String,
    /// Lifetime of access tokens.
    pub token_ttl_secs: u64,
    /// Lifetime of refresh tokens (what `docker login` keeps).
    pub refresh_ttl_days: u64,
    /// How long a successful password check of Basic credentials on `/v2` is remembered.
    pub basic_cache_secs: u64,
    /// Failed logins allowed per account and per source address within the window; past
    /// that, 429 until the window has passed. 0 turns a limit off.
    pub max_failures_per_account: u32,
    pub max_failures_per_source: u32,
    pub failure_window_secs: u64,
    /// Addresses or networks of load balancers in front of Berth (e.g. `10.0.0.0/8`): from
    /// such a peer, the client address for throttling and the audit log is taken from
    /// `X-Forwarded-For`. Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The first system admin, created on first start.
    pub admin_user: String,
    /// Its password (also `BERTH_ADMIN_PASSWORD`); empty: generated and printed once.
    pub admin_password: String,
    /// A file holding it (also `BERTH_ADMIN_PASSWORD_FILE`).
    pub admin_password_file: String,
}

impl Default for AuthSection {
    fn default() -> Self {
        let d = berth_auth::AuthConfig::default();
        AuthSection {
            service: d.service,
            issuer: d.issuer,
            realm: String::new(),
            token_ttl_secs: d.token_ttl.as_secs(),
            refresh_ttl_days: d.refresh_ttl.as_secs() / 86_400,
            basic_cache_secs: d.basic_cache_ttl.as_secs(),
            max_failures_per_account: d.max_failures_per_account,
            max_failures_per_source: d.max_failures_per_source,
            failure_window_secs: d.failure_window.as_secs(),
            trusted_proxies: Vec::new(),
            admin_user: "admin".into(),
            admin_password: String::new(),
            admin_password_file: String::new(),
        }
    }
}

impl AuthSection {
    pub fn settings(&self) -> berth_auth::AuthConfig {
        use std::time::Duration;
        berth_auth::AuthConfig {
            service: self.service.clone(),
            issuer: self.issuer.clone(),
            realm: (!self.realm.is_empty()).then(|| self.realm.clone()),
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            refresh_ttl: Duration::from_secs(self.refresh_ttl_days * 86_400),
            basic_cache_ttl: Duration::from_secs(self.basic_cache_secs),
            max_failures_per_account: self.max_failures_per_account,
            max_failures_per_source: self.max_failures_per_source,
            failure_window: Duration::from_secs(self.failure_window_secs),
            trusted_proxies: self
                .trusted_proxies
                .iter()
                .filter_map(|c| berth_core::Cidr::parse(c).ok())
                .collect(),
            ..berth_auth::AuthConfig::default()
        }
    }

    /// The first admin's password, if one is configured (`…_file` read).
    pub fn admin_password(&self) -> Result<Option<String>, ConfigError> {
        match (
            self.admin_password.is_empty(),
            self.admin_password_file.is_empty(),
        ) {
            (false, false) => Err(ConfigError::Invalid(
                "auth.admin_password and admin_password_file are both set".into(),
            )),
            (true, false) => {
                read_secret_file(&self.admin_password_file, "auth.admin_password").map(Some)
            }
            (false, true) => Ok(Some(self.admin_password.clone())),
            (true, true) => Ok(None),
        }
    }
}
