//! The typed configuration tree: defaults, then an optional YAML file, then `BERTH_…`
//! environment variables (`__` descends: `BERTH_HTTP__ADDR`), then command-line flags.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Yaml};
use figment::Figment;
use serde::{Deserialize, Serialize};

mod auth;
mod ldap;
mod storage;
mod ui;

pub use auth::AuthSection;
pub use ldap::LdapSection;
pub use storage::{S3Config, StorageConfig};
pub use ui::UiSection;

/// Everything `berth serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the embedded defaults: the SQLite file and the filesystem blob store.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub registry: RegistrySection,
    pub uploads: UploadsConfig,
    pub auth: AuthSection,
    pub ldap: LdapSection,
    pub ui: UiSection,
    pub log: LogConfig,
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on; port 0 picks a free port (printed in the log).
    pub addr: String,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Seconds in-flight requests get to finish on SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
}

/// The metadata database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; empty means `<data_dir>/berth.db`.
    pub url: String,
    /// Pooled connections.
    pub max_connections: u32,
    /// Seconds a request waits for a pooled connection before a 503.
    pub acquire_timeout_secs: u64,
    /// Seconds one metadata operation may take before it fails with 503 (a database that
    /// stopped answering without closing its connections).
    pub op_timeout_secs: u64,
    /// SQLite: fsync every commit (`synchronous=FULL`); false trades the last commits before a
    /// power loss for faster writes (`NORMAL`; a process crash still loses nothing).
    pub sqlite_sync_full: bool,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
    /// MiB of memory for cached manifests (hot GETs skip the database); 0 turns it off.
    pub manifest_cache_mib: usize,
    /// Use the manifest cache on PostgreSQL too. Replicas then invalidate each other's entries
    /// through LISTEN/NOTIFY, and may serve a moved or deleted tag's previous manifest for the
    /// millisecond or so until the notification arrives; off, every GET reads the database.
    pub manifest_cache_on_postgres: bool,
}

/// Distribution API behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySection {
    /// Largest manifest accepted, in bytes (413 above).
    pub max_manifest_bytes: usize,
    /// Allow DELETE of manifests, tags and blobs (405 when false).
    pub delete_enabled: bool,
    /// Default and largest page of tag lists and the catalog.
    pub page_size: i64,
    /// Entries per page of a referrers list.
    pub referrers_page_size: i64,
    /// `os/arch` served from an index to a client that accepts no index type.
    pub default_platform: String,
}

/// Upload sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadsConfig {
    /// Seconds without activity after which an upload session is abandoned and removed.
    pub max_age_secs: u64,
    /// Seconds between two runs of the cleanup job.
    pub cleanup_interval_secs: u64,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `berth=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
    /// One line per HTTP request (method, path, status, duration).
    pub access: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./berth-data"),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            storage: StorageConfig::default(),
            registry: RegistrySection::default(),
            uploads: UploadsConfig::default(),
            auth: AuthSection::default(),
            ldap: LdapSection::default(),
            ui: UiSection::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: "0.0.0.0:5000".into(),
            workers: 0,
            shutdown_timeout_secs: 30,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 16,
            acquire_timeout_secs: 5,
            op_timeout_secs: 10,
            sqlite_sync_full: true,
            migrate_on_start: true,
            manifest_cache_mib: 16,
            manifest_cache_on_postgres: false,
        }
    }
}

impl Default for RegistrySection {
    fn default() -> Self {
        let d = berth_registry::RegistryConfig::default();
        RegistrySection {
            max_manifest_bytes: d.max_manifest_bytes,
            delete_enabled: d.delete_enabled,
            page_size: d.page_size,
            referrers_page_size: d.referrers_page_size,
            default_platform: format!("{}/{}", d.default_platform.0, d.default_platform.1),
        }
    }
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig {
            max_age_secs: 24 * 3600,
            cleanup_interval_secs: 600,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
            access: true,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults ← `file` ← `BERTH_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    f.display()
                )));
            }
            fig = fig.merge(Yaml::file(f));
        }
        // BERTH_ADMIN_PASSWORD and other single-underscore names belong to later sections of
        // the product, not to this tree: only keys with a `__` path or a top-level field are read.
        fig = fig.merge(
            Env::prefixed("BERTH_")
                .filter(|k| {
                    k.as_str().contains("__") || k.as_str().eq_ignore_ascii_case("data_dir")
                })
                .split("__"),
        );
        let mut cfg: Config = fig.extract().map_err(Box::new)?;
        // DESIGN's names for the first admin's password.
        if let Ok(p) = std::env::var("BERTH_ADMIN_PASSWORD") {
            cfg.auth.admin_password = p;
        }
        if let Ok(f) = std::env::var("BERTH_ADMIN_PASSWORD_FILE") {
            cfg.auth.admin_password_file = f;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.http.addr.parse::<std::net::SocketAddr>().is_err() {
            return bad(format!("http.addr {:?} is not host:port", self.http.addr));
        }
        if !self.database.url.is_empty()
            && !["sqlite:", "postgres:", "postgresql:"]
                .iter()
                .any(|p| self.database.url.starts_with(p))
        {
            return bad("database.url must start with sqlite: or postgres:".into());
        }
        if self.registry.max_manifest_bytes < 4 * 1024 * 1024 {
            return bad(
                "registry.max_manifest_bytes must be at least 4 MiB (OCI clients expect it)".into(),
            );
        }
        if self.registry.page_size < 1 || self.registry.referrers_page_size < 1 {
            return bad("registry page sizes must be positive".into());
        }
        if self.auth.token_ttl_secs < 10 || self.auth.token_ttl_secs > 86_400 {
            return bad("auth.token_ttl_secs must be between 10 and 86400".into());
        }
        let realm = &self.auth.realm;
        if !(realm.is_empty() || realm.starts_with("http://") || realm.starts_with("https://")) {
            return bad("auth.realm must be an absolute http(s) URL".into());
        }
        if berth_core::name::UserName::parse(&self.auth.admin_user).is_err() {
            return bad(format!(
                "auth.admin_user {:?} is not a valid user name",
                self.auth.admin_user
            ));
        }
        self.auth.admin_password()?;
        for c in &self.auth.trusted_proxies {
            berth_core::Cidr::parse(c)
                .map_err(|e| ConfigError::Invalid(format!("auth.trusted_proxies: {e}")))?;
        }
        let url = &self.ui.external_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return bad("ui.external_url must be an absolute http(s) URL".into());
        }
        if self.ui.session_idle_mins == 0 || self.ui.session_max_hours == 0 {
            return bad("ui.session_idle_mins and ui.session_max_hours must be positive".into());
        }
        if self.platform().is_none() {
            return bad(format!(
                "registry.default_platform {:?} is not os/arch",
                self.registry.default_platform
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return bad(format!(
                "log.format {:?} must be text or json",
                self.log.format
            ));
        }
        let s3 = &self.storage.s3;
        if s3.enabled() {
            if s3.region.is_empty() {
                return bad("storage.s3.region must not be empty".into());
            }
            let scheme_ok =
                s3.endpoint.starts_with("http://") || s3.endpoint.starts_with("https://");
            if !s3.endpoint.is_empty() && !scheme_ok {
                return bad(format!(
                    "storage.s3.endpoint {:?} must be an http:// or https:// URL",
                    s3.endpoint
                ));
            }
            if s3.part_size_mib < 5 || s3.part_size_mib > 5 * 1024 {
                return bad("storage.s3.part_size_mib must be between 5 and 5120".into());
            }
            if s3.max_attempts == 0 || s3.attempt_timeout_secs == 0 {
                return bad(
                    "storage.s3.max_attempts and attempt_timeout_secs must be positive".into(),
                );
            }
            s3.settings()?;
        }
        if self.database.op_timeout_secs == 0 {
            return bad("database.op_timeout_secs must be positive".into());
        }
        if self.uploads.cleanup_interval_secs == 0 {
            return bad("uploads.cleanup_interval_secs must be positive".into());
        }
        self.ldap.settings()?;
        Ok(())
    }

    fn platform(&self) -> Option<(String, String)> {
        let (os, arch) = self.registry.default_platform.split_once('/')?;
        (!os.is_empty() && !arch.is_empty()).then(|| (os.to_owned(), arch.to_owned()))
    }

    /// The database URL, defaulting to the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("berth.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    pub fn storage_path(&self) -> PathBuf {
        if self.storage.path.is_empty() {
            self.data_dir.join("storage")
        } else {
            PathBuf::from(&self.storage.path)
        }
    }

    /// The token service's settings, with the UI's session lifetimes.
    pub fn auth_config(&self) -> berth_auth::AuthConfig {
        let mut a = self.auth.settings();
        a.session_idle = std::time::Duration::from_secs(self.ui.session_idle_mins * 60);
        a.session_max = std::time::Duration::from_secs(self.ui.session_max_hours * 3600);
        a
    }

    pub fn registry_config(&self) -> berth_registry::RegistryConfig {
        berth_registry::RegistryConfig {
            max_manifest_bytes: self.registry.max_manifest_bytes,
            delete_enabled: self.registry.delete_enabled,
            page_size: self.registry.page_size,
            referrers_page_size: self.registry.referrers_page_size,
            default_platform: self
                .platform()
                .unwrap_or_else(|| ("linux".into(), "amd64".into())),
        }
    }

    /// The effective configuration as YAML, with the password of a database URL and every
    /// secret redacted.
    pub fn redacted_yaml(&self) -> String {
        let mut c = self.clone();
        c.database.url = redact_url(&c.database_url());
        if !c.storage.s3.secret_access_key.is_empty() {
            c.storage.s3.secret_access_key = "***".into();
        }
        if !c.auth.admin_password.is_empty() {
            c.auth.admin_password = "***".into();
        }
        if !c.ldap.bind_password.is_empty() {
            c.ldap.bind_password = "***".into();
        }
        serde_yaml_like(&c)
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((auth, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Pretty JSON is valid YAML; it keeps this crate free of a second YAML writer.
fn serde_yaml_like(c: &Config) -> String {
    serde_json::to_string_pretty(c).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn s3_secrets_from_files_and_refusals() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "s3cr3t\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut c = Config::default();
        c.storage.s3.bucket = "b".into();
        c.storage.s3.access_key_id = "AK".into();
        c.storage.s3.secret_access_key_file = f.display().to_string();
        let s = c.storage.s3.settings().unwrap();
        assert_eq!(s.secret_access_key.as_deref(), Some("s3cr3t"));
        assert!(c.validate().is_ok());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("readable by every user"), "{e}");
        c.storage.s3.secret_access_key_file.clear();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("both access_key_id and secret_access_key"),
            "{e}"
        );
        c.storage.s3.secret_access_key = "x".into();
        c.storage.s3.part_size_mib = 1;
        assert!(c.validate().is_err());
        c.storage.s3.part_size_mib = 8;
        c.storage.s3.endpoint = "ftp://x".into();
        assert!(c.validate().is_err());
        c.storage.s3.endpoint = "http://127.0.0.1:3900".into();
        assert!(c.validate().is_ok());
        assert!(c.redacted_yaml().contains("\"secret_access_key\": \"***\""));
    }

    #[test]
    fn defaults_validate() {
        assert!(Config::default().validate().is_ok());
        let mut c = Config::default();
        c.http.addr = "nope".into();
        assert!(c.validate().is_err());
    }
}
