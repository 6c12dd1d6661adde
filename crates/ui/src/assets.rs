//! The UI's static files (`web/static`), embedded in the binary at build time and served
//! with a long cache lifetime; the file name changes with the content when it must.

use actix_web::{web, HttpResponse};

/// Name, content type and bytes of every static file.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "berth.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../web/static/berth.css"),
    ),
    (
        "berth.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/static/berth.js"),
    ),
    (
        "logo.svg",
        "image/svg+xml",
        include_bytes!("../../../web/static/logo.svg"),
    ),
];

/// `GET /static/{file}`.
pub async fn serve(file: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, ctype, body)) => HttpResponse::Ok()
            .content_type(*ctype)
            .insert_header(("Cache-Control", "public, max-age=3600"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(*body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found"),
    }
}
