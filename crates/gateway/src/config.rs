//! The typed configuration tree: defaults, then an optional YAML file, then `BERTH_…`
//! environment variables (`__` descends: `BERTH_HTTP__ADDR`), then command-line flags.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Yaml};
use figment::Figment;
use serde::{Deserialize, Serialize};

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
    pub log: LogConfig,
}

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

/// The blob store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Filesystem root; empty means `<data_dir>/storage`.
    pub path: String,
    /// An S3-compatible bucket instead of the filesystem (used when `bucket` is set).
    pub s3: S3Config,
}

/// `storage.s3.*`: blobs in an S3-compatible object store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL, e.g. `http://minio:9000`; empty means AWS S3 itself.
    pub endpoint: String,
    pub region: String,
    /// The bucket; setting it switches the blob store to S3.
    pub bucket: String,
    /// Key prefix for everything Berth stores in the bucket.
    pub prefix: String,
    /// Path-style requests (`endpoint/bucket/key`), which most self-hosted stores need.
    pub path_style: bool,
    /// Static credentials (each also as `…_file`, a file holding the value); without them the
    /// standard AWS credential chain (environment, profile, web identity, instance role).
    pub access_key_id: String,
    pub access_key_id_file: String,
    pub secret_access_key: String,
    pub secret_access_key_file: String,
    /// Size of one multipart-upload part in MiB (at least 5); a blob can have 10,000 parts.
    pub part_size_mib: usize,
    /// Attempts per S3 request; transient failures are retried with exponential backoff.
    pub max_attempts: u32,
    /// Seconds one S3 request attempt may take.
    pub attempt_timeout_secs: u64,
    /// When positive, blob GETs answer 307 to a presigned URL valid this many seconds, so the
    /// bytes flow from the store to the client directly.
    pub redirect_secs: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: String::new(),
            path_style: false,
            access_key_id: String::new(),
            access_key_id_file: String::new(),
            secret_access_key: String::new(),
            secret_access_key_file: String::new(),
            part_size_mib: 8,
            max_attempts: 4,
            attempt_timeout_secs: 60,
            redirect_secs: 0,
        }
    }
}

/// Reads a secret from `file`, refusing a file other users can read.
fn read_secret_file(file: &str, what: &str) -> Result<String, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file)
        .map_err(|e| ConfigError::Invalid(format!("{what}_file {file}: {e}")))?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(ConfigError::Invalid(format!(
            "{what}_file {file} is readable by every user; chmod o-r it"
        )));
    }
    let value = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::Invalid(format!("{what}_file {file}: {e}")))?;
    Ok(value.trim_end_matches(['\r', '\n']).to_owned())
}

impl S3Config {
    pub fn enabled(&self) -> bool {
        !self.bucket.is_empty()
    }

    /// The settings for the store, with `…_file` secrets read.
    pub fn settings(&self) -> Result<berth_storage::S3Settings, ConfigError> {
        let pick = |value: &str, file: &str, what: &str| -> Result<Option<String>, ConfigError> {
            match (value.is_empty(), file.is_empty()) {
                (false, false) => Err(ConfigError::Invalid(format!(
                    "storage.s3.{what} and {what}_file are both set"
                ))),
                (false, true) => Ok(Some(value.to_owned())),
                (true, false) => read_secret_file(file, &format!("storage.s3.{what}")).map(Some),
                (true, true) => Ok(None),
            }
        };
        let access_key_id = pick(
            &self.access_key_id,
            &self.access_key_id_file,
            "access_key_id",
        )?;
        let secret_access_key = pick(
            &self.secret_access_key,
            &self.secret_access_key_file,
            "secret_access_key",
        )?;
        if access_key_id.is_some() != secret_access_key.is_some() {
            return Err(ConfigError::Invalid(
                "storage.s3: set both access_key_id and secret_access_key, or neither".into(),
            ));
        }
        Ok(berth_storage::S3Settings {
            endpoint: (!self.endpoint.is_empty()).then(|| self.endpoint.clone()),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            path_style: self.path_style,
            access_key_id,
            secret_access_key,
            part_size: self.part_size_mib * 1024 * 1024,
            max_attempts: self.max_attempts,
            attempt_timeout_secs: self.attempt_timeout_secs,
            redirect_secs: self.redirect_secs,
        })
    }
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

    /// The effective configuration as YAML, with the password of a database URL redacted.
    pub fn redacted_yaml(&self) -> String {
        let mut c = self.clone();
        c.database.url = redact_url(&c.database_url());
        if !c.storage.s3.secret_access_key.is_empty() {
            c.storage.s3.secret_access_key = "***".into();
        }
        if !c.auth.admin_password.is_empty() {
            c.auth.admin_password = "***".into();
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
