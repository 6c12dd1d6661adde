//! [`app`]: the one function that builds the application — every edge mounted, the shared
//! state attached, the outermost middleware (`HEAD` bodies, the access log) — used by the
//! `berth` binary and by tests, which can run it in-process without a socket.

use std::time::Instant;

use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpResponse};
use berth_core::ErrorCode;
use berth_registry::{OciError, Registry};

use crate::http::head_body;
use crate::AppState;

/// The application: `/v2` (`berth-registry`), `/api/v1` and the token routes (`berth-api`),
/// the web UI (`berth-ui`, unless turned off), `/healthz`, `/readyz`; anything else is an
/// OCI-style 404.
pub fn app(
    state: &AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let access = state.access_log;
    let ui = state.ui.clone();
    App::new()
        .app_data(web::Data::new(state.registry.clone()))
        .app_data(web::Data::new(state.auth.clone()))
        .app_data(web::Data::new(state.registry.service.clone()))
        .configure(berth_registry::configure)
        .configure(berth_api::configure)
        .configure(|cfg| {
            if let Some(ui) = ui {
                cfg.app_data(web::Data::new(ui));
                berth_ui::configure(cfg);
            }
        })
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
