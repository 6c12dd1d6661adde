//! [`AppState`]: the stores and services one gateway process serves with, opened from the
//! configuration; and the operator's one-shot database commands.

use std::time::Duration;

use berth_auth::{Auth, FirstAdmin};
use berth_meta::{Meta, MetaOptions};
use berth_registry::Registry;
use berth_storage::{BlobStore, FsStore, S3Store};

use crate::config::Config;

/// Everything the application needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub meta: Meta,
    pub auth: Auth,
    pub registry: Registry,
    /// The web UI's settings; `None` when it is turned off (`ui.enabled`).
    pub ui: Option<berth_ui::UiConfig>,
    /// Whether each request is logged (`log.access`).
    pub access_log: bool,
}

impl AppState {
    /// Opens the metadata database (migrating it when configured), the blob store and the
    /// services, and creates the first admin on an empty database. A generated password is
    /// printed once, on standard error (never into the log stream).
    pub async fn open(cfg: &Config) -> Result<AppState, String> {
        let meta = connect(cfg).await?;
        if cfg.database.migrate_on_start {
            meta.migrate().await.map_err(|e| e.to_string())?;
        }
        let store = open_store(cfg).await?;
        let mut auth = Auth::new(meta.clone(), cfg.auth_config())
            .await
            .map_err(|e| format!("cannot start the token service: {e}"))?;
        if let Some(dir) = directory(cfg)? {
            auth = auth.with_directory(std::sync::Arc::new(dir));
        }
        let password = cfg.auth.admin_password().map_err(|e| e.to_string())?;
        let admin = &cfg.auth.admin_user;
        match auth.bootstrap_admin(admin, password).await {
            Ok(FirstAdmin::Created {
                generated: Some(password),
            }) => eprintln!(
                "\n  First start: created system admin {admin:?} with password\n\n      {password}\n\n  It is shown only this once; change it with PUT /api/v1/users/{admin}/password.\n"
            ),
            Ok(_) => {}
            Err(e) => return Err(format!("cannot create the first admin: {e}")),
        }
        let registry = Registry::new(meta.clone(), store, cfg.registry_config(), auth.clone());
        Ok(AppState {
            meta,
            auth,
            registry,
            ui: cfg.ui.enabled.then(|| cfg.ui.settings()),
            access_log: cfg.log.access,
        })
    }
}

/// The configured directory (`ldap.enabled`), if any. Connects lazily.
pub(crate) fn directory(cfg: &Config) -> Result<Option<berth_directory::Directory>, String> {
    match cfg.ldap.settings().map_err(|e| e.to_string())? {
        Some(s) => berth_directory::Directory::new(s)
            .map(Some)
            .map_err(|e| format!("ldap: {e}")),
        None => Ok(None),
    }
}

/// `berth ldap-test [USER]`: binds as the search account, reads the base DNs and, given a
/// user, finds them and lists their groups (a search, no bind as the user). Prints what it
/// found; fails with the directory's reason.
pub async fn ldap_test(cfg: &Config, user: Option<&str>) -> Result<(), String> {
    let dir = directory(cfg)?.ok_or("ldap.enabled is false: no directory is configured")?;
    let report = dir.ping().await.map_err(|e| e.to_string())?;
    println!("connected to {}", report.url);
    if report.bound_as.is_empty() {
        println!("searching anonymously");
    } else {
        println!("bound as {}", report.bound_as);
    }
    for b in &report.bases {
        println!("base DN readable: {b}");
    }
    let Some(user) = user else {
        return Ok(());
    };
    let entry = dir
        .lookup(user)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("user {user:?}: no single usable entry found (see the log)"))?;
    println!(
        "user {user:?} is {} (Berth name {:?})",
        entry.dn, entry.name
    );
    if let Some(n) = &entry.display_name {
        println!("  display name: {n}");
    }
    if let Some(m) = &entry.mail {
        println!("  mail: {m}");
    }
    println!("  system admin: {}", if entry.admin { "yes" } else { "no" });
    if entry.groups.is_empty() {
        println!("  groups: none");
    }
    for g in &entry.groups {
        println!("  group {} ({})", g.name, g.dn);
    }
    Ok(())
}

pub(crate) async fn connect(cfg: &Config) -> Result<Meta, String> {
    if cfg.database.url.is_empty() {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            format!(
                "cannot create data directory {}: {e}",
                cfg.data_dir.display()
            )
        })?;
    }
    let opts = MetaOptions {
        max_connections: cfg.database.max_connections,
        acquire_timeout: Duration::from_secs(cfg.database.acquire_timeout_secs),
        sqlite_sync_full: cfg.database.sqlite_sync_full,
        op_timeout: Duration::from_secs(cfg.database.op_timeout_secs),
        manifest_cache_bytes: cfg.database.manifest_cache_mib << 20,
        manifest_cache_on_postgres: cfg.database.manifest_cache_on_postgres,
    };
    Meta::connect(&cfg.database_url(), &opts)
        .await
        .map_err(|e| format!("cannot open the metadata database: {e}"))
}

/// The blob store the configuration names, checked to be usable.
async fn open_store(cfg: &Config) -> Result<BlobStore, String> {
    if cfg.storage.s3.enabled() {
        let settings = cfg.storage.s3.settings().map_err(|e| e.to_string())?;
        let store = BlobStore::S3(
            S3Store::connect(&settings)
                .await
                .map_err(|e| format!("cannot configure S3 storage: {e}"))?,
        );
        store
            .init()
            .await
            .map_err(|e| format!("cannot reach S3 bucket {}: {e}", cfg.storage.s3.bucket))?;
        return Ok(store);
    }
    let store = BlobStore::Fs(FsStore::new(cfg.storage_path()));
    store.init().await.map_err(|e| {
        format!(
            "cannot prepare blob storage at {}: {e}",
            cfg.storage_path().display()
        )
    })?;
    Ok(store)
}

pub async fn migrate(cfg: &Config) -> Result<(), String> {
    let meta = connect(cfg).await?;
    meta.migrate().await.map_err(|e| e.to_string())?;
    tracing::info!("migrations applied");
    meta.close().await;
    Ok(())
}

/// `berth rotate-signing-key`.
pub async fn rotate_signing_key(cfg: &Config) -> Result<(), String> {
    let meta = connect(cfg).await?;
    meta.migrate().await.map_err(|e| e.to_string())?;
    let kid = berth_auth::bootstrap::rotate_signing_key(&meta)
        .await
        .map_err(|e| format!("cannot store the new key: {e}"))?;
    println!("new signing key {kid}");
    meta.close().await;
    Ok(())
}
