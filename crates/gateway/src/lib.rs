//! berth-gateway: the top floor. Loads the configuration, opens the stores and services
//! ([`AppState`]), builds the application with [`app`] — the one function that mounts every
//! edge — and serves it; runs the background jobs. The `berth` binary (`main.rs`) is a thin
//! command line over this library, and tests build the same application in-process.
//!
//! The only crate that knows every other one.

mod app;
pub mod config;
mod http;
mod state;

use std::time::Duration;

use tracing_subscriber::EnvFilter;

pub use app::app;
pub use config::Config;
pub use state::{ldap_test, migrate, rotate_signing_key, AppState};

use crate::config::LogConfig;

pub fn init_tracing(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs a future on a fresh current-thread runtime (for the one-shot subcommands).
pub fn block_on<F: std::future::Future<Output = Result<(), String>>>(f: F) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?
        .block_on(f)
}

/// `berth serve`.
pub fn run(cfg: Config) -> Result<(), String> {
    actix_web::rt::System::new().block_on(serve(cfg))
}

async fn serve(cfg: Config) -> Result<(), String> {
    let state = AppState::open(&cfg).await?;
    let store_kind = state.registry.store.kind();
    let listener = std::net::TcpListener::bind(&cfg.http.addr)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.http.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let workers = match cfg.http.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let app_state = state.clone();
    let server = http::http_server(
        move || app(&app_state),
        listener,
        workers,
        cfg.http.shutdown_timeout_secs,
    )
    .map_err(|e| e.to_string())?;

    let key_upkeep =
        actix_web::rt::spawn(state.auth.clone().maintain_keys(Duration::from_secs(30)));
    let listener_meta = state.meta.clone();
    let cache_listener =
        actix_web::rt::spawn(async move { listener_meta.run_cache_listener().await });
    let cleanup = actix_web::rt::spawn(berth_registry::cleanup::run(
        state.registry.clone(),
        Duration::from_secs(cfg.uploads.cleanup_interval_secs),
        Duration::from_secs(cfg.uploads.max_age_secs),
    ));
    tracing::info!(%addr, workers, storage = store_kind, data_dir = %cfg.data_dir.display(), "berth listening on http://{addr}");
    let result = server.await.map_err(|e| e.to_string());
    cleanup.abort();
    cache_listener.abort();
    key_upkeep.abort();
    state.meta.close().await;
    tracing::info!("berth stopped");
    result
}
