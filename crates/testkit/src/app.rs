//! A running registry and the people who use it, so an integration test reads like a user
//! story: [`TestApp`] starts the real `berth` binary (through [`Berth`]) and hands out
//! [`Actor`]s — the system admin, an anonymous caller, a user created on first use, an org's
//! robot, or whoever holds a given token. An actor is an HTTP client that knows its credentials
//! and offers the calls tests repeat: the management API, `/v2`, the token service, and the
//! fixtures a story starts from (an org, a member, a small image).

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::{basic, header, http_anonymous, sha256, Berth, ADMIN_PASSWORD, ADMIN_USER};

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A `berth serve` child process and the actors that talk to it.
pub struct TestApp {
    /// The server (its address, data directory, log; stop and kill it through here).
    pub b: Berth,
    http: reqwest::Client,
    /// Users created so far, with their passwords.
    users: Mutex<HashMap<String, String>>,
}

impl TestApp {
    /// Starts `bin` (the `berth` binary under test) with a fresh data directory.
    pub fn start(bin: &str) -> TestApp {
        Self::start_env(bin, &[])
    }

    /// [`TestApp::start`] with extra environment variables.
    pub fn start_env(bin: &str, env: &[(&str, &str)]) -> TestApp {
        Self::on(Berth::start_env(bin, env))
    }

    /// Actors for a server started some other way.
    pub fn on(b: Berth) -> TestApp {
        TestApp {
            b,
            http: http_anonymous(),
            users: Mutex::new(HashMap::new()),
        }
    }

    fn actor(&self, cred: Cred) -> Actor {
        Actor {
            http: self.http.clone(),
            base: self.b.base.clone(),
            cred,
        }
    }

    /// The first system admin (Basic credentials).
    pub fn admin(&self) -> Actor {
        self.actor(Cred::Basic(ADMIN_USER.into(), ADMIN_PASSWORD.into()))
    }

    /// A caller without credentials.
    pub fn anonymous(&self) -> Actor {
        self.actor(Cred::None)
    }

    /// Whoever sends these Basic credentials (nothing is created).
    pub fn basic(&self, user: &str, password: &str) -> Actor {
        self.actor(Cred::Basic(user.into(), password.into()))
    }

    /// Whoever holds the access token `token`.
    pub fn holder(&self, token: &str) -> Actor {
        self.actor(Cred::Bearer(token.into()))
    }

    /// The user `name` with the password `<name>-password`, created by the admin on first use.
    pub async fn user(&self, name: &str) -> Actor {
        self.user_with_password(name, &format!("{name}-password"))
            .await
    }

    /// The user `name` with `password`, created by the admin on first use.
    pub async fn user_with_password(&self, name: &str, password: &str) -> Actor {
        let known = self.users.lock().unwrap().get(name).cloned();
        match known {
            Some(p) => assert_eq!(p, password, "user {name} exists with another password"),
            None => {
                self.admin()
                    .api_ok(
                        "POST",
                        "/users",
                        Some(json!({"name": name, "password": password})),
                    )
                    .await;
                self.users
                    .lock()
                    .unwrap()
                    .insert(name.to_owned(), password.to_owned());
            }
        }
        self.basic(name, password)
    }

    /// The robot `org+name` with `rules` (its `permissions`), created by the admin.
    pub async fn robot(&self, org: &str, name: &str, rules: Value) -> Actor {
        self.robot_from(org, json!({"name": name, "permissions": rules}))
            .await
    }

    /// A robot of `org` created by the admin from the full request `body` (expiry and all).
    pub async fn robot_from(&self, org: &str, body: Value) -> Actor {
        let name = body["name"].as_str().unwrap().to_owned();
        let r = self
            .admin()
            .api_ok("POST", &format!("/orgs/{org}/robots"), Some(body))
            .await;
        self.basic(&format!("{org}+{name}"), r["secret"].as_str().unwrap())
    }
}

/// How an actor proves who it is.
#[derive(Clone, Debug)]
pub enum Cred {
    None,
    Basic(String, String),
    Bearer(String),
}

/// One caller of the registry: an HTTP client that adds its credentials to every request.
#[derive(Clone, Debug)]
pub struct Actor {
    http: reqwest::Client,
    base: String,
    cred: Cred,
}

impl Actor {
    /// The first system admin of whatever answers at `base` (`http://host:port`): a server
    /// started without a [`TestApp`], or a load balancer in front of several.
    pub fn admin_at(base: &str) -> Actor {
        Actor {
            http: http_anonymous(),
            base: base.to_owned(),
            cred: Cred::Basic(ADMIN_USER.into(), ADMIN_PASSWORD.into()),
        }
    }

    /// The server's `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The credentials this actor sends.
    pub fn cred(&self) -> &Cred {
        &self.cred
    }

    /// The user name and password of a Basic actor.
    pub fn login(&self) -> (&str, &str) {
        match &self.cred {
            Cred::Basic(u, p) => (u, p),
            _ => panic!("{:?} has no password", self.cred),
        }
    }

    /// The same server as whoever holds `token`.
    pub fn holder(&self, token: &str) -> Actor {
        Actor {
            cred: Cred::Bearer(token.into()),
            ..self.clone()
        }
    }

    /// `r` with this actor's credentials.
    pub fn with(&self, r: RequestBuilder) -> RequestBuilder {
        match &self.cred {
            Cred::None => r,
            Cred::Basic(u, p) => r.header("authorization", basic(u, p)),
            Cred::Bearer(t) => r.header("authorization", format!("Bearer {t}")),
        }
    }

    /// A request to `path` on the server, with credentials.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.with(self.http.request(method, self.url(path)))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::HEAD, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// A request without a body to `path` (a `/v2` path, or any other).
    pub async fn v2(&self, method: &str, path: &str) -> Response {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        self.request(m, path).send().await.unwrap()
    }

    /// A management API call (`/api/v1{path}`).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.request(m, &format!("/api/v1{path}"));
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    /// A management API call that must succeed; returns its JSON (or null).
    pub async fn api_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.api(method, path, body).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// GET /auth/token with the query `query` (`scope=…&…`); returns (status, body).
    pub async fn token(&self, query: &str) -> (u16, Value) {
        let r = self
            .get(&format!("/auth/token?service=berth&{query}"))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// An access token for `scope` (must be issued).
    pub async fn bearer(&self, scope: &str) -> String {
        let (s, body) = self.token(&format!("scope={scope}")).await;
        assert_eq!(s, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates the org `name`, public (anyone may pull) or private.
    pub async fn org(&self, name: &str, public: bool) {
        self.api_ok(
            "POST",
            "/orgs",
            Some(json!({"name": name, "public": public})),
        )
        .await;
    }

    /// Makes `name` (a `user`, `group` or `robot`, by `kind`) a member of `org` with `role`.
    pub async fn member(&self, org: &str, kind: &str, name: &str, role: &str) {
        self.api_ok(
            "PUT",
            &format!("/orgs/{org}/members/{kind}/{name}"),
            Some(json!({"role": role})),
        )
        .await;
    }

    /// Pushes a small image to `repo:tag` (each blob in one POST); returns its manifest digest.
    pub async fn seed_image(&self, repo: &str, tag: &str) -> String {
        let mut digests = Vec::new();
        for data in [
            br#"{"os":"linux","architecture":"amd64"}"#.to_vec(),
            format!("layer {repo}").into_bytes(),
        ] {
            let d = sha256(&data);
            let r = self
                .post(&format!("/v2/{repo}/blobs/uploads/?digest={d}"))
                .header("content-type", "application/octet-stream")
                .body(data.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
            digests.push((d, data.len()));
        }
        let m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[0].0, "size": digests[0].1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digests[1].0, "size": digests[1].1}],
        });
        let body = serde_json::to_vec(&m).unwrap();
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        sha256(&body)
    }

    /// POST of a new upload session in `repo`: its `Location` and id.
    pub async fn start_upload(&self, repo: &str) -> (String, String) {
        let r = self
            .post(&format!("/v2/{repo}/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        (header(&r, "location"), header(&r, "docker-upload-uuid"))
    }

    /// Monolithic POST + PUT of `data` to `repo`; returns the digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = sha256(data);
        let (loc, _) = self.start_upload(repo).await;
        let r = self
            .put(&format!("{loc}?digest={d}"))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        d
    }

    /// PUT of manifest `body` (of `media_type`) to `repo:reference`.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Response {
        self.put(&format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes config + one layer and an image manifest tagged `tag`; returns (manifest bytes,
    /// digest).
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (Vec<u8>, String) {
        let body = self.image_manifest(repo, seed, None, None).await;
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let d = sha256(&body);
        (body, d)
    }

    /// Uploads config and layer for `seed` and returns manifest bytes (not pushed).
    pub async fn image_manifest(
        &self,
        repo: &str,
        seed: &str,
        artifact_type: Option<&str>,
        subject: Option<(&str, usize)>,
    ) -> Vec<u8> {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
        let layer = format!("layer of {seed}");
        let cd = self.push_blob(repo, config.as_bytes()).await;
        let ld = self.push_blob(repo, layer.as_bytes()).await;
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
            "annotations": {"seed": seed},
        });
        if let Some(t) = artifact_type {
            m["artifactType"] = json!(t);
        }
        if let Some((d, size)) = subject {
            m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size});
        }
        serde_json::to_vec(&m).unwrap()
    }
}

/// The first error code of an OCI error body (asserting it is one).
pub async fn code(r: Response) -> String {
    let status = r.status();
    let text = r.text().await.unwrap();
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"));
    v["errors"][0]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {text}"))
        .to_owned()
}

/// The payload of a JWT, decoded without verification.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
