//! The HTTP/1.1 server the gateway runs the application in, and the `HEAD` answer rule.
//!
//! Built from actix-http's and actix-server's parts as actix-web's `HttpServer` builds it, so
//! that each accepted socket can be wrapped for `sendfile` (see `berth_registry::sendfile`).

use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::header::{HeaderValue, CONTENT_LENGTH};
use actix_web::{web, App};

/// The HTTP/1.1 server, built from its parts as actix-web's `HttpServer` builds it (same
/// timeouts, graceful shutdown on SIGTERM/SIGINT), with one difference: each connection's
/// socket is wrapped in a [`ConnIo`](berth_registry::sendfile::ConnIo) (Linux), which lets
/// blob reads go from the file to the socket with `sendfile` instead of through actix-web's
/// write buffer.
pub(crate) fn http_server<F, T>(
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
pub(crate) fn head_body(head: &mut actix_web::dev::ResponseHead, body: BoxBody) -> BoxBody {
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
