//! Wiring: stores, services, the HTTP server, background jobs, logging.

use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::Service;
use actix_web::http::header::{HeaderValue, CONTENT_LENGTH};
use actix_web::{web, App, HttpResponse};
use berth_auth::Auth;
use berth_core::ErrorCode;
use berth_meta::{Meta, MetaOptions, NewUser};
use berth_registry::{OciError, Registry};
use berth_storage::{BlobStore, FsStore, S3Store};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogConfig};

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

async fn connect(cfg: &Config) -> Result<Meta, String> {
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
    let key = berth_auth::keys::generate(berth_auth::now_ms())?;
    meta.add_signing_key(&key, true)
        .await
        .map_err(|e| format!("cannot store the new key: {e}"))?;
    println!("new signing key {}", key.kid);
    meta.close().await;
    Ok(())
}

/// `berth serve`.
pub fn run(cfg: Config) -> Result<(), String> {
    actix_web::rt::System::new().block_on(serve(cfg))
}

async fn serve(cfg: Config) -> Result<(), String> {
    let meta = connect(&cfg).await?;
    if cfg.database.migrate_on_start {
        meta.migrate().await.map_err(|e| e.to_string())?;
    }
    let store = open_store(&cfg).await?;
    let store_kind = store.kind();
    let auth = Auth::new(meta.clone(), cfg.auth.settings())
        .await
        .map_err(|e| format!("cannot start the token service: {e}"))?;
    bootstrap_admin(&cfg, &meta).await?;
    let registry = Registry::new(meta.clone(), store, cfg.registry_config(), auth.clone());

    let listener = std::net::TcpListener::bind(&cfg.http.addr)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.http.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let workers = match cfg.http.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let access = cfg.log.access;
    let data = web::Data::new(registry.clone());
    let auth_data = web::Data::new(auth.clone());
    let app = move || {
        App::new()
            .app_data(data.clone())
            .app_data(auth_data.clone())
            .configure(berth_registry::configure)
            .configure(berth_auth::http::configure)
            .configure(berth_auth::api::configure)
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .default_service(web::to(not_found))
            .wrap_fn(move |req, srv| {
                let start = Instant::now();
                let method = req.method().clone();
                let path = req.path().to_owned();
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?.map_into_boxed_body();
                    if method == actix_web::http::Method::HEAD {
                        res = res.map_body(head_body);
                    }
                    if access {
                        tracing::info!(
                            target: "berth::access",
                            %method,
                            path,
                            status = res.status().as_u16(),
                            micros = start.elapsed().as_micros() as u64,
                        );
                    }
                    Ok(res)
                }
            })
    };
    let server = http_server(app, listener, workers, cfg.http.shutdown_timeout_secs)
        .map_err(|e| e.to_string())?;

    let key_reload = actix_web::rt::spawn(reload_keys(auth.clone()));
    let listener_meta = meta.clone();
    let cache_listener =
        actix_web::rt::spawn(async move { listener_meta.run_cache_listener().await });
    let cleanup = actix_web::rt::spawn(berth_registry::cleanup::run(
        registry,
        Duration::from_secs(cfg.uploads.cleanup_interval_secs),
        Duration::from_secs(cfg.uploads.max_age_secs),
    ));
    tracing::info!(%addr, workers, storage = store_kind, data_dir = %cfg.data_dir.display(), "berth listening on http://{addr}");
    let result = server.await.map_err(|e| e.to_string());
    cleanup.abort();
    cache_listener.abort();
    key_reload.abort();
    meta.close().await;
    tracing::info!("berth stopped");
    result
}

/// The HTTP/1.1 server, built from its parts as actix-web's `HttpServer` builds it (same
/// timeouts, graceful shutdown on SIGTERM/SIGINT), with one difference: each connection's
/// socket is wrapped in a [`ConnIo`](berth_registry::sendfile::ConnIo) (Linux), which lets
/// blob reads go from the file to the socket with `sendfile` instead of through actix-web's
/// write buffer.
fn http_server<F, T>(
    app: F,
    listener: std::net::TcpListener,
    workers: usize,
    shutdown_timeout_secs: u64,
) -> std::io::Result<actix_server::Server>
where
    F: Fn() -> App<T> + Clone + Send + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
    use actix_web::dev::AppConfig;

    let addr = listener.local_addr()?;
    let builder = actix_server::Server::build()
        .workers(workers)
        .backlog(1024)
        .shutdown_timeout(shutdown_timeout_secs);
    let shutdown = builder.graceful_shutdown_signal();
    Ok(builder
        .listen("berth-http", listener, move || {
            let shutdown = shutdown.clone();
            let service = actix_http::HttpService::build()
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr);
            #[cfg(target_os = "linux")]
            let service = service.on_connect_ext(
                |io: &berth_registry::sendfile::ConnIo, ext: &mut actix_http::Extensions| {
                    ext.insert(io.slot());
                },
            );
            let factory = app()
                .into_factory()
                .map_err(|e: actix_web::Error| e.as_response_error().error_response());
            // `AppConfig` has no public constructor but this one; it is what `HttpServer`
            // gives each app (scheme, default host, local address).
            let service = service.finish(map_config(factory, move |_| {
                AppConfig::__priv_test_new(false, addr.to_string(), addr)
            }));
            fn_service(move |io: actix_web::rt::net::TcpStream| async move {
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, actix_http::error::DispatchError>((
                    wrap_socket(io),
                    actix_http::Protocol::Http1,
                    peer,
                ))
            })
            .and_then(service)
        })?
        .run())
}

/// The body of a response to `HEAD`: none, with the length a `GET` would have had in a
/// `Content-Length` the server writes as is.
///
/// actix-http decides whether to write a body by the method of the last request it decoded on
/// the connection, which with pipelining can be a later one than the request being answered. A
/// sized body would then be owed and never come, and actix-http would drop the connection. An
/// empty stream without chunked encoding writes the same bytes either way: the head with this
/// `Content-Length`, and no body.
fn head_body(head: &mut actix_web::dev::ResponseHead, body: BoxBody) -> BoxBody {
    match body.size() {
        BodySize::Sized(n) if n > 0 => {
            head.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(n));
            head.no_chunking(true);
            BoxBody::new(NoBody)
        }
        _ => body,
    }
}

/// A body of unknown length that ends at once (see [`head_body`]).
struct NoBody;

impl MessageBody for NoBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<web::Bytes, Self::Error>>> {
        std::task::Poll::Ready(None)
    }
}

#[cfg(target_os = "linux")]
fn wrap_socket(io: actix_web::rt::net::TcpStream) -> berth_registry::sendfile::ConnIo {
    berth_registry::sendfile::ConnIo::new(io)
}

#[cfg(not(target_os = "linux"))]
fn wrap_socket(io: actix_web::rt::net::TcpStream) -> actix_web::rt::net::TcpStream {
    io
}

/// Creates the first system admin when the database has no user at all. The password comes
/// from the configuration (`BERTH_ADMIN_PASSWORD`, `…_FILE`) or is generated and printed once
/// on standard error (never into the log stream).
async fn bootstrap_admin(cfg: &Config, meta: &Meta) -> Result<(), String> {
    let any = meta
        .list_users("", 1)
        .await
        .map_err(|e| format!("cannot read users: {e}"))?;
    if !any.is_empty() {
        return Ok(());
    }
    let (password, generated) = match cfg.auth.admin_password().map_err(|e| e.to_string())? {
        Some(p) => (p, false),
        None => (berth_auth::new_secret(""), true),
    };
    let hash = berth_auth::password::hash(password.clone()).await?;
    let user = NewUser {
        name: &cfg.auth.admin_user,
        email: None,
        password_hash: Some(&hash),
        admin: true,
        source: "local",
    };
    match meta.create_user(&user).await {
        Ok(_) => {}
        // Another replica created it first.
        Err(berth_meta::MetaError::Conflict) => return Ok(()),
        Err(e) => return Err(format!("cannot create the first admin: {e}")),
    }
    if generated {
        eprintln!(
            "\n  First start: created system admin {:?} with password\n\n      {password}\n\n  It is shown only this once; change it with PUT /api/v1/users/{}/password.\n",
            cfg.auth.admin_user, cfg.auth.admin_user
        );
    }
    tracing::info!(user = %cfg.auth.admin_user, generated, "created the first system admin");
    Ok(())
}

/// Picks up signing keys rotated by any replica; forgets keys retired longer ago than any
/// token they signed can live, and expired refresh tokens.
async fn reload_keys(auth: Auth) {
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let now = berth_auth::now_ms();
        if let Err(e) = auth.keys.reload(&auth.meta, now).await {
            tracing::warn!(error = %e, "could not reload token signing keys");
        }
        let horizon = auth.config.token_ttl.as_millis() as i64 + 120_000;
        if let Err(e) = auth.meta.purge_signing_keys(now - horizon).await {
            tracing::warn!(error = %e, "could not purge retired signing keys");
        }
        if let Err(e) = auth.meta.purge_refresh_tokens(now).await {
            tracing::warn!(error = %e, "could not purge expired refresh tokens");
        }
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Ready when both the database and the blob store answer.
async fn readyz(reg: web::Data<Registry>) -> HttpResponse {
    let db = reg.meta.ping().await;
    let store = reg.store.ping().await;
    let status = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = serde_json::json!({
        "database": status(db.is_ok()),
        "storage": status(store.is_ok()),
    });
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database");
    }
    if let Err(e) = &store {
        tracing::warn!(error = %e, "readiness: storage");
    }
    if db.is_ok() && store.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn not_found() -> Result<HttpResponse, OciError> {
    Err(OciError::new(ErrorCode::Unsupported, "no such endpoint")
        .status(actix_web::http::StatusCode::NOT_FOUND))
}
