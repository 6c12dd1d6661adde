//! The application built in-process from `app(state)`: no socket, no child process. The
//! same function the `berth` binary serves with, on a fresh SQLite database and blob
//! directory, answers the distribution API, the token service and the management API.

use actix_web::http::StatusCode;
use actix_web::test::{call_service, init_service, read_body_json, TestRequest};
use berth_gateway::{app, AppState, Config};
use berth_testkit::{basic, ADMIN_PASSWORD, ADMIN_USER};
use serde_json::Value;

#[actix_web::test]
async fn app_answers_every_surface_without_a_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        data_dir: tmp.path().join("data"),
        ..Config::default()
    };
    cfg.auth.admin_password = ADMIN_PASSWORD.into();
    let state = AppState::open(&cfg).await.unwrap();
    let svc = init_service(app(&state)).await;

    // /v2 without credentials: the Bearer challenge of the token service.
    let res = call_service(&svc, TestRequest::get().uri("/v2/").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");

    // A token from the token service opens /v2.
    let admin = basic(ADMIN_USER, ADMIN_PASSWORD);
    let req = TestRequest::get()
        .uri("/auth/token?service=berth&scope=registry:catalog:*")
        .insert_header(("authorization", admin.as_str()))
        .to_request();
    let res = call_service(&svc, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = read_body_json(res).await;
    let token = body["token"].as_str().unwrap().to_owned();
    let req = TestRequest::get()
        .uri("/v2/_catalog")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let res = call_service(&svc, req).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The management API: the first admin exists, with an RFC 3339 creation time.
    let req = TestRequest::get()
        .uri(&format!("/api/v1/users/{ADMIN_USER}"))
        .insert_header(("authorization", admin.as_str()))
        .to_request();
    let res = call_service(&svc, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let user: Value = read_body_json(res).await;
    assert_eq!(user["admin"], true);
    let created = user["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.contains('T'), "{created}");

    // Health, and the OCI-style 404 of an unknown path.
    let res = call_service(&svc, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = call_service(&svc, TestRequest::get().uri("/nope").to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body: Value = read_body_json(res).await;
    assert_eq!(body["errors"][0]["code"], "UNSUPPORTED");
}
