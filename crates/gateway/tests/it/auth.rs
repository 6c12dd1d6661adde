//! The token service and the management API over HTTP: challenges, the token endpoint (GET
//! and OAuth2 POST, refresh tokens, revocation), forged and misused tokens, throttling, users,
//! orgs, members, robots and the audit log.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use berth_testkit::{basic, http_anonymous, sha256, Berth, ADMIN_PASSWORD, ADMIN_USER};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{RequestBuilder, Response};
use serde_json::{json, Value};

use crate::api::code;
use crate::BIN;

/// A server and an anonymous client; requests add credentials explicitly.
pub struct Site {
    pub b: Berth,
    pub c: reqwest::Client,
}

pub enum Cred<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

impl Site {
    pub fn start(env: &[(&str, &str)]) -> Site {
        Site {
            b: Berth::start_env(BIN, env),
            c: http_anonymous(),
        }
    }

    pub fn with(&self, r: RequestBuilder, cred: &Cred<'_>) -> RequestBuilder {
        match cred {
            Cred::None => r,
            Cred::Basic(u, p) => r.header("authorization", basic(u, p)),
            Cred::Bearer(t) => r.header("authorization", format!("Bearer {t}")),
        }
    }

    pub fn admin(&self) -> Cred<'static> {
        Cred::Basic(ADMIN_USER, ADMIN_PASSWORD)
    }

    /// A management API call as `cred`.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        cred: &Cred<'_>,
    ) -> Response {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.c.request(m, self.b.url(&format!("/api/v1{path}")));
        if let Some(b) = body {
            r = r.json(&b);
        }
        self.with(r, cred).send().await.unwrap()
    }

    /// A management API call that must succeed; returns its JSON (or null).
    pub async fn api_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.api(method, path, body, &self.admin()).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn create_user(&self, name: &str, password: &str) {
        self.api_ok(
            "POST",
            "/users",
            Some(json!({"name": name, "password": password})),
        )
        .await;
    }

    /// GET /auth/token with `scope`s; returns (status, body).
    pub async fn token(&self, cred: &Cred<'_>, query: &str) -> (u16, Value) {
        let r = self
            .with(
                self.c
                    .get(self.b.url(&format!("/auth/token?service=berth&{query}"))),
                cred,
            )
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// An access token for `cred` and `scope` (must be issued).
    pub async fn bearer(&self, cred: &Cred<'_>, scope: &str) -> String {
        let (s, body) = self.token(cred, &format!("scope={scope}")).await;
        assert_eq!(s, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn v2(&self, method: &str, path: &str, cred: &Cred<'_>) -> Response {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.with(self.c.request(m, self.b.url(path)), cred)
            .send()
            .await
            .unwrap()
    }

    /// Pushes a small image to `repo:tag` as the system admin; returns its manifest digest.
    pub async fn seed_image(&self, repo: &str, tag: &str) -> String {
        let admin = self.admin();
        let mut digests = Vec::new();
        for data in [
            br#"{"os":"linux","architecture":"amd64"}"#.to_vec(),
            format!("layer {repo}").into_bytes(),
        ] {
            let d = sha256(&data);
            let r = self
                .with(
                    self.c
                        .post(self.b.url(&format!("/v2/{repo}/blobs/uploads/?digest={d}"))),
                    &admin,
                )
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
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[0].0, "size": digests[0].1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digests[1].0, "size": digests[1].1}],
        });
        let body = serde_json::to_vec(&m).unwrap();
        let r = self
            .with(
                self.c
                    .put(self.b.url(&format!("/v2/{repo}/manifests/{tag}"))),
                &admin,
            )
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        sha256(&body)
    }
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The payload of a JWT, decoded without verification.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn challenges_name_realm_service_and_scopes() {
    let s = Site::start(&[]);
    let r = s.v2("GET", "/v2/", &Cred::None).await;
    assert_eq!(r.status(), 401);
    let realm = format!("Bearer realm=\"{}/auth/token\",service=\"berth\"", s.b.base);
    assert_eq!(header(&r, "www-authenticate"), realm);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    let r = s.v2("GET", "/v2/acme/app/manifests/v1", &Cred::None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        header(&r, "www-authenticate"),
        format!("{realm},scope=\"repository:acme/app:pull\"")
    );
    let r = s
        .v2("POST", "/v2/acme/app/blobs/uploads/", &Cred::None)
        .await;
    assert!(header(&r, "www-authenticate").ends_with("scope=\"repository:acme/app:pull,push\""));
    // A cross-repository mount names both repositories.
    let d = sha256(b"x");
    let r = s
        .v2(
            "POST",
            &format!("/v2/acme/app/blobs/uploads/?mount={d}&from=other/lib"),
            &Cred::None,
        )
        .await;
    assert!(header(&r, "www-authenticate")
        .ends_with("scope=\"repository:acme/app:pull,push repository:other/lib:pull\""));
    let r = s.v2("GET", "/v2/_catalog", &Cred::None).await;
    assert!(header(&r, "www-authenticate").ends_with("scope=\"registry:catalog:*\""));
    // Garbage credentials: a challenge, never a 500.
    let r =
        s.c.get(s.b.url("/v2/"))
            .header("authorization", "Basic !!!")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);
    let r = s.v2("GET", "/v2/", &Cred::Bearer("not.a.jwt")).await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").contains("error=\"invalid_token\""));
    // Basic credentials work on /v2 directly; a wrong password does not.
    assert_eq!(s.v2("GET", "/v2/", &s.admin()).await.status(), 200);
    let r = s.v2("GET", "/v2/", &Cred::Basic(ADMIN_USER, "wrong")).await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn token_endpoint_get_post_refresh_and_revocation() {
    let s = Site::start(&[]);
    s.create_user("alice", "alice-password-1").await;
    let alice = Cred::Basic("alice", "alice-password-1");
    s.seed_image("alice/app", "v1").await;

    // GET with Basic credentials, two scopes in one parameter and a repeated one.
    let (st, body) = s
        .token(
            &alice,
            "scope=repository:alice/app:pull,push%20repository:nobody/x:pull&scope=registry:catalog:*&offline_token=true&client_id=test",
        )
        .await;
    assert_eq!(st, 200, "{body}");
    for k in [
        "token",
        "access_token",
        "expires_in",
        "issued_at",
        "refresh_token",
    ] {
        assert!(!body[k].is_null(), "{k} missing in {body}");
    }
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    let c = claims(body["token"].as_str().unwrap());
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["iss"], "berth");
    assert_eq!(c["aud"], "berth");
    for k in ["exp", "nbf", "iat", "jti"] {
        assert!(!c[k].is_null(), "{k}");
    }
    // Granted = requested ∩ permitted: the other org's scope is left out, not an error.
    assert_eq!(
        c["access"],
        json!([
            {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ])
    );
    let token = body["token"].as_str().unwrap();
    let r = s
        .v2("GET", "/v2/alice/app/manifests/v1", &Cred::Bearer(token))
        .await;
    assert_eq!(r.status(), 200);

    // The JWKS names the token's key by its thumbprint.
    let header_json: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header_json["alg"], "ES256");
    let jwks: Value =
        s.c.get(s.b.url("/auth/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header_json["kid"])
        .expect("the signing key is published");
    assert_eq!(key["kty"], "EC");
    assert!(key.get("d").is_none(), "no private part in the JWKS");

    // Anonymous: a token, but nothing on a private org.
    let (st, body) = s
        .token(&Cred::None, "scope=repository:alice/app:pull")
        .await;
    assert_eq!(st, 200);
    assert_eq!(claims(body["token"].as_str().unwrap())["access"], json!([]));
    assert_eq!(claims(body["token"].as_str().unwrap())["sub"], "");
    // Wrong password: 401 with a JSON error.
    let (st, body) = s.token(&Cred::Basic("alice", "nope-nope"), "").await;
    assert_eq!(st, 401);
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    // OAuth2 POST: password grant with access_type=offline, then the refresh grant.
    let post = |form: Vec<(&'static str, String)>| {
        let c = s.c.clone();
        let url = s.b.url("/auth/token");
        async move {
            let r = c.post(url).form(&form).send().await.unwrap();
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (st, body) = post(vec![
        ("grant_type", "password".into()),
        ("username", "alice".into()),
        ("password", "alice-password-1".into()),
        ("service", "berth".into()),
        ("client_id", "docker".into()),
        ("access_type", "offline".into()),
        ("scope", "repository:alice/app:pull".into()),
    ])
    .await;
    assert_eq!(st, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let (st, body) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh.clone()),
        ("service", "berth".into()),
        ("client_id", "docker".into()),
        ("scope", "repository:alice/app:pull,push".into()),
    ])
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["access"][0]["actions"],
        json!(["pull", "push"])
    );
    let (st, body) = post(vec![
        ("grant_type", "password".into()),
        ("username", "alice".into()),
        ("password", "wrong-password".into()),
    ])
    .await;
    assert_eq!((st, body["error"].as_str()), (401, Some("invalid_grant")));
    let (st, _) = post(vec![("grant_type", "client_credentials".into())]).await;
    assert_eq!(st, 400);
    // A token request may name at most 32 scopes (each costs lookups).
    let many: Vec<String> = (0..33)
        .map(|i| format!("scope=repository:alice/r{i}:pull"))
        .collect();
    let (st, body) = s.token(&alice, &many.join("&")).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_scope")));
    let (st, _) = s.token(&alice, &many[..32].join("&")).await;
    assert_eq!(st, 200);

    // Revoked refresh tokens are refused.
    let r =
        s.c.post(s.b.url("/auth/revoke"))
            .form(&[("token", &refresh)])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let (st, _) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh.clone()),
    ])
    .await;
    assert_eq!(st, 401, "a revoked refresh token must not work");

    // A password change revokes every refresh token of the user.
    let (_, body) = s.token(&alice, "offline_token=true").await;
    let refresh2 = body["refresh_token"].as_str().unwrap().to_owned();
    let r = s
        .api(
            "PUT",
            "/users/alice/password",
            Some(json!({"password": "alice-password-2", "old_password": "alice-password-1"})),
            &alice,
        )
        .await;
    assert_eq!(r.status(), 204);
    let (st, _) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh2),
    ])
    .await;
    assert_eq!(st, 401, "refresh token survived a password change");
    // The old password is gone, on /v2 too (its cached check is keyed to the old epoch).
    assert_eq!(s.v2("GET", "/v2/", &alice).await.status(), 401);
    assert_eq!(
        s.v2("GET", "/v2/", &Cred::Basic("alice", "alice-password-2"))
            .await
            .status(),
        200
    );

    // Disabling a user revokes their refresh tokens and refuses their password.
    let (_, body) = s
        .token(
            &Cred::Basic("alice", "alice-password-2"),
            "offline_token=true",
        )
        .await;
    let refresh3 = body["refresh_token"].as_str().unwrap().to_owned();
    s.api_ok("PATCH", "/users/alice", Some(json!({"disabled": true})))
        .await;
    let (st, _) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh3),
    ])
    .await;
    assert_eq!(st, 401);
    let (st, _) = s.token(&Cred::Basic("alice", "alice-password-2"), "").await;
    assert_eq!(st, 401);
}

/// Signs `claims` with `key` (ES256) and `kid`.
fn es256(claims: &Value, der: &[u8], kid: &str) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_ec_der(der)).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn forged_and_misused_tokens_are_refused() {
    let s = Site::start(&[]);
    s.create_user("bob", "bob-password-1").await;
    s.seed_image("bob/app", "v1").await;
    s.seed_image("other/app", "v1").await;
    let bob = Cred::Basic("bob", "bob-password-1");
    let good = s.bearer(&bob, "repository:bob/app:pull").await;
    let url = "/v2/bob/app/manifests/v1";
    assert_eq!(s.v2("GET", url, &Cred::Bearer(&good)).await.status(), 200);

    // The server's real signing key, read from its database, to forge claims it would sign.
    let meta = berth_meta::Meta::connect(&s.b.database_url(), &Default::default())
        .await
        .unwrap();
    let key = meta.signing_keys().await.unwrap().remove(0);
    let der = STANDARD.decode(&key.private_der).unwrap();
    let base = claims(&good);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = base.clone();
        f(&mut c);
        c
    };
    let refused = |t: String, what: &'static str| {
        let s = &s;
        async move {
            let r = s.v2("GET", url, &Cred::Bearer(&t)).await;
            assert_eq!(r.status(), 401, "{what} was accepted");
            assert!(
                header(&r, "www-authenticate").starts_with("Bearer realm="),
                "{what}"
            );
        }
    };
    // Sanity: the forging path itself produces an accepted token.
    let same = es256(&base, &der, &key.kid);
    assert_eq!(s.v2("GET", url, &Cred::Bearer(&same)).await.status(), 200);

    // alg: none
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&base).unwrap());
    refused(format!("{none_header}.{payload}."), "alg none").await;
    // HS256 keyed with the public key (the classic algorithm confusion).
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(key.kid.clone());
    let hs = jsonwebtoken::encode(
        &h,
        &base,
        &EncodingKey::from_secret(key.public_jwk.as_bytes()),
    )
    .unwrap();
    refused(hs, "HS256 with the public key").await;
    // An unknown kid, and a key the server never had.
    refused(es256(&base, &der, "no-such-kid"), "unknown kid").await;
    let rng = ring::rand::SystemRandom::new();
    let other = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    refused(
        es256(&base, other.as_ref(), &key.kid),
        "foreign key with the real kid",
    )
    .await;
    // Wrong audience and issuer.
    refused(
        es256(&with(&|c| c["aud"] = json!("elsewhere")), &der, &key.kid),
        "wrong aud",
    )
    .await;
    refused(
        es256(&with(&|c| c["iss"] = json!("mallory")), &der, &key.kid),
        "wrong iss",
    )
    .await;
    // Expired, and not yet valid.
    refused(
        es256(
            &with(&|c| {
                c["exp"] = json!(now() - 3600);
                c["iat"] = json!(now() - 4000);
                c["nbf"] = json!(now() - 4000);
            }),
            &der,
            &key.kid,
        ),
        "expired",
    )
    .await;
    refused(
        es256(
            &with(&|c| {
                c["nbf"] = json!(now() + 3600);
                c["exp"] = json!(now() + 7200);
            }),
            &der,
            &key.kid,
        ),
        "not yet valid",
    )
    .await;
    // Tampered access claim: the real signature over different claims.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let tampered = with(
        &|c| c["access"] = json!([{"type": "repository", "name": "other/app", "actions": ["pull", "push", "delete"]}]),
    );
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
    let t = parts.join(".");
    let r = s
        .v2("GET", "/v2/other/app/manifests/v1", &Cred::Bearer(&t))
        .await;
    assert_eq!(r.status(), 401, "tampered access claim");

    // A token for one repository is no good on another, nor for another action. Where a
    // fresh token could carry the action (bob may delete in his own org), the answer is 401
    // insufficient_scope with the scope to ask for; where bob may never have it (another
    // org's private repository), 403 DENIED.
    let r = s
        .v2("GET", "/v2/other/app/manifests/v1", &Cred::Bearer(&good))
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(code(r).await, "DENIED");
    let r = s
        .v2("DELETE", "/v2/bob/app/manifests/v1", &Cred::Bearer(&good))
        .await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").contains("error=\"insufficient_scope\""));
    assert!(header(&r, "www-authenticate").contains("scope=\"repository:bob/app:delete\""));
    // The same token back for the same need: 403, so a client that retries with the token it
    // holds (oras-py) asks for a new one instead of looping.
    let r = s
        .v2("DELETE", "/v2/bob/app/manifests/v1", &Cred::Bearer(&good))
        .await;
    assert_eq!(r.status(), 403);
    assert!(header(&r, "www-authenticate").contains("error=\"insufficient_scope\""));

    // A token cached from a pull, reused for a push (what containerd does): 401 naming
    // pull,push; the token the challenge asks for opens the push.
    let r = s
        .v2("POST", "/v2/bob/app/blobs/uploads/", &Cred::Bearer(&good))
        .await;
    assert_eq!(r.status(), 401);
    let www = header(&r, "www-authenticate");
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");
    let wanted = www
        .split("scope=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap()
        .to_owned();
    assert_eq!(wanted, "repository:bob/app:pull,push");
    let wider = s.bearer(&bob, &wanted).await;
    let r = s
        .v2("POST", "/v2/bob/app/blobs/uploads/", &Cred::Bearer(&wider))
        .await;
    assert_eq!(r.status(), 202);
    // An anonymous token is told to authenticate (401), never refused outright.
    let (st, body) = s.token(&Cred::None, "scope=repository:bob/app:pull").await;
    assert_eq!(st, 200);
    let anon = body["token"].as_str().unwrap().to_owned();
    let r = s
        .v2("GET", "/v2/bob/app/manifests/v1", &Cred::Bearer(&anon))
        .await;
    assert_eq!(r.status(), 401);

    // A cross-org mount without pull rights on the source mounts nothing: the client gets an
    // ordinary upload session (202), and the blob stays out of bob's repository.
    let layer = sha256(b"layer other/app");
    let t = s
        .bearer(
            &bob,
            "repository:bob/app:pull,push&scope=repository:other/app:pull",
        )
        .await;
    assert_eq!(
        claims(&t)["access"].as_array().unwrap().len(),
        1,
        "no grant on other/app"
    );
    let r = s
        .v2(
            "POST",
            &format!("/v2/bob/app/blobs/uploads/?mount={layer}&from=other/app"),
            &Cred::Bearer(&t),
        )
        .await;
    assert_eq!(r.status(), 202);
    let r = s
        .v2(
            "HEAD",
            &format!("/v2/bob/app/blobs/{layer}"),
            &Cred::Bearer(&t),
        )
        .await;
    assert_eq!(r.status(), 404);
    // With pull on the source (a public org now), the same mount works.
    s.api_ok("PATCH", "/orgs/other", Some(json!({"public": true})))
        .await;
    let t = s
        .bearer(
            &bob,
            "repository:bob/app:pull,push&scope=repository:other/app:pull",
        )
        .await;
    let r = s
        .v2(
            "POST",
            &format!("/v2/bob/app/blobs/uploads/?mount={layer}&from=other/app"),
            &Cred::Bearer(&t),
        )
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_source() {
    let s = Site::start(&[
        ("BERTH_AUTH__MAX_FAILURES_PER_ACCOUNT", "3"),
        ("BERTH_AUTH__MAX_FAILURES_PER_SOURCE", "6"),
    ]);
    s.create_user("carol", "carol-password").await;
    s.create_user("dave", "dave-password1").await;
    for _ in 0..3 {
        let (st, _) = s.token(&Cred::Basic("carol", "wrong-password"), "").await;
        assert_eq!(st, 401);
    }
    // Now even the right password waits.
    let r = s
        .with(
            s.c.get(s.b.url("/auth/token")),
            &Cred::Basic("carol", "carol-password"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after").parse::<u64>().unwrap() > 0);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    // Other accounts are unaffected until the source's own limit is reached.
    let (st, _) = s.token(&Cred::Basic("dave", "dave-password1"), "").await;
    assert_eq!(st, 200);
    for _ in 0..3 {
        s.token(&Cred::Basic("dave", "wrong-password"), "").await;
    }
    let (st, _) = s.token(&Cred::Basic("dave", "dave-password1"), "").await;
    assert_eq!(st, 429, "per-source limit");
    // The throttle shows in the audit log.
    let log = s.api_ok("GET", "/audit-log?action=login", None).await;
    let outcomes: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"throttled") && outcomes.contains(&"denied"),
        "{log}"
    );
}

#[tokio::test]
async fn management_api_users_orgs_members_robots_and_audit() {
    let s = Site::start(&[]);
    // The OpenAPI document is public and names every path.
    let doc: Value =
        s.c.get(s.b.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/orgs/{org}/robots"]["post"].is_object());

    // Users: create, list, get, validation errors, conflicts.
    s.create_user("erin", "erin-password").await;
    let users = s.api_ok("GET", "/users", None).await;
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "erin"]);
    assert!(users[0].get("password_hash").is_none());
    for (body, code) in [
        (
            json!({"name": "Bad Name", "password": "long-enough"}),
            "INVALID",
        ),
        (json!({"name": "frank", "password": "short"}), "INVALID"),
        (
            json!({"name": "erin", "password": "long-enough"}),
            "CONFLICT",
        ),
        (
            json!({"name": "frank", "password": "long-enough", "extra": 1}),
            "INVALID",
        ),
    ] {
        let r = s
            .api("POST", "/users", Some(body.clone()), &s.admin())
            .await;
        let st = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{body} → {st} {v}");
    }
    let r = s.api("GET", "/users", None, &Cred::None).await;
    assert_eq!(r.status(), 401);
    let erin = Cred::Basic("erin", "erin-password");
    let r = s.api("GET", "/users", None, &erin).await;
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "FORBIDDEN");
    assert_eq!(s.api("GET", "/users/erin", None, &erin).await.status(), 200);
    assert_eq!(
        s.api("GET", "/users/admin", None, &erin).await.status(),
        403
    );
    // The last admin cannot be removed or demoted.
    let r = s.api("DELETE", "/users/admin", None, &s.admin()).await;
    assert_eq!(r.status(), 409);
    let r = s
        .api(
            "PATCH",
            "/users/admin",
            Some(json!({"admin": false})),
            &s.admin(),
        )
        .await;
    assert_eq!(r.status(), 409);
    // A user cannot make themselves admin.
    let r = s
        .api("PATCH", "/users/erin", Some(json!({"admin": true})), &erin)
        .await;
    assert_eq!(r.status(), 403);

    // Personal namespace: erin pushes to erin/… right away.
    let t = s.bearer(&erin, "repository:erin/tool:pull,push").await;
    assert_eq!(claims(&t)["access"][0]["actions"], json!(["pull", "push"]));

    // Orgs: erin creates one and becomes its admin; names are checked.
    let r = s
        .api(
            "POST",
            "/orgs",
            Some(json!({"name": "team", "public": false})),
            &erin,
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = s
        .api("POST", "/orgs", Some(json!({"name": "team"})), &erin)
        .await;
    assert_eq!(r.status(), 409);
    let r = s
        .api("POST", "/orgs", Some(json!({"name": "erin"})), &s.admin())
        .await;
    assert_eq!(r.status(), 409, "a user's namespace");
    let r = s
        .api("POST", "/orgs", Some(json!({"name": "Team!"})), &erin)
        .await;
    assert_eq!(r.status(), 400);
    let members = s.api_ok("GET", "/orgs/team/members", None).await;
    assert_eq!(
        members,
        json!([{"kind": "user", "name": "erin", "role": "admin", "created_at": members[0]["created_at"]}])
    );
    // Members: a user and a group, with roles; bad roles and unknown users refused.
    s.create_user("gus", "gus-password").await;
    let r = s
        .api(
            "PUT",
            "/orgs/team/members/user/gus",
            Some(json!({"role": "developer"})),
            &erin,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = s
        .api(
            "PUT",
            "/orgs/team/members/group/ops",
            Some(json!({"role": "guest"})),
            &erin,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = s
        .api(
            "PUT",
            "/orgs/team/members/user/gus",
            Some(json!({"role": "owner"})),
            &erin,
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = s
        .api(
            "PUT",
            "/orgs/team/members/user/nobody",
            Some(json!({"role": "guest"})),
            &erin,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = s
        .api(
            "PUT",
            "/orgs/team/members/robot/x",
            Some(json!({"role": "guest"})),
            &erin,
        )
        .await;
    assert_eq!(r.status(), 404);
    let gus = Cred::Basic("gus", "gus-password");
    let r = s
        .api(
            "PUT",
            "/orgs/team/members/user/gus",
            Some(json!({"role": "admin"})),
            &gus,
        )
        .await;
    assert_eq!(r.status(), 403, "a developer cannot promote themselves");
    let members = s.api_ok("GET", "/orgs/team/members", None).await;
    assert_eq!(members.as_array().unwrap().len(), 3);
    // A group's role reaches its members: kim, in group ops (guest of team), may pull there.
    s.create_user("kim", "kim-password").await;
    let kim = Cred::Basic("kim", "kim-password");
    let t = s.bearer(&kim, "repository:team/app:pull").await;
    assert_eq!(claims(&t)["access"], json!([]));
    assert_eq!(
        s.api("PUT", "/groups/ops/members/kim", None, &erin)
            .await
            .status(),
        403
    );
    assert_eq!(
        s.api("PUT", "/groups/ops/members/kim", None, &s.admin())
            .await
            .status(),
        204
    );
    let t = s.bearer(&kim, "repository:team/app:pull,push").await;
    assert_eq!(claims(&t)["access"][0]["actions"], json!(["pull"]));
    let groups = s.api_ok("GET", "/groups", None).await;
    assert_eq!(
        groups,
        json!([{"name": "ops", "external_dn": null, "members": ["kim"]}])
    );
    let r = s
        .api("POST", "/groups", Some(json!({"name": "ops"})), &s.admin())
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        s.api("DELETE", "/groups/ops/members/kim", None, &s.admin())
            .await
            .status(),
        204
    );
    let t = s.bearer(&kim, "repository:team/app:pull").await;
    assert_eq!(claims(&t)["access"], json!([]));
    // The org is invisible to outsiders.
    s.create_user("hal", "hal-password").await;
    let hal = Cred::Basic("hal", "hal-password");
    assert_eq!(s.api("GET", "/orgs/team", None, &hal).await.status(), 404);
    let orgs = s
        .api("GET", "/orgs", None, &hal)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert!(!orgs.to_string().contains("\"team\""), "{orgs}");

    // Robots: created with explicit permissions, secret shown once, logs in as org+name.
    let r = s
        .api(
            "POST",
            "/orgs/team/robots",
            Some(json!({"name": "ci", "permissions": [{"repositories": "*", "actions": ["pull", "push"]}], "expires_in_days": 30})),
            &erin,
        )
        .await;
    assert_eq!(r.status(), 201);
    let robot: Value = r.json().await.unwrap();
    assert_eq!(robot["name"], "team+ci");
    let secret = robot["secret"].as_str().unwrap().to_owned();
    let listed = s.api_ok("GET", "/orgs/team/robots", None).await;
    assert!(listed[0].get("secret").is_none());
    let rc = Cred::Basic("team+ci", &secret);
    let t = s.bearer(&rc, "repository:team/app:pull,push,delete").await;
    assert_eq!(claims(&t)["sub"], "team+ci");
    assert_eq!(claims(&t)["access"][0]["actions"], json!(["pull", "push"]));
    let r = s
        .api(
            "POST",
            "/orgs/team/robots",
            Some(json!({"name": "bad", "permissions": []})),
            &erin,
        )
        .await;
    assert_eq!(r.status(), 400);
    // The secret works on /v2 directly too (and is remembered there for a minute).
    assert_eq!(s.v2("GET", "/v2/", &rc).await.status(), 200);
    // Revoked: the secret stops working, on the token endpoint and on /v2 at once, also when
    // a robot of the same name is created again.
    let r = s
        .api("DELETE", "/orgs/team/robots/team+ci", None, &erin)
        .await;
    assert_eq!(r.status(), 204);
    let (st, _) = s.token(&rc, "").await;
    assert_eq!(st, 401);
    assert_eq!(s.v2("GET", "/v2/", &rc).await.status(), 401);
    let again = json!({"name": "ci", "permissions": [{"repositories": "*", "actions": ["pull"]}]});
    assert_eq!(
        s.api("POST", "/orgs/team/robots", Some(again), &erin)
            .await
            .status(),
        201
    );
    assert_eq!(
        s.v2("GET", "/v2/", &rc).await.status(),
        401,
        "old secret of a recreated robot"
    );

    // Orgs with repositories cannot be deleted; empty ones can, by their admin.
    s.seed_image("team/app", "v1").await;
    assert_eq!(
        s.api("DELETE", "/orgs/team", None, &erin).await.status(),
        409
    );
    s.api_ok("POST", "/orgs", Some(json!({"name": "scratch"})))
        .await;
    assert_eq!(
        s.api("DELETE", "/orgs/scratch", None, &s.admin())
            .await
            .status(),
        204
    );

    // The audit log: who did what, when, from where.
    let log = s.api_ok("GET", "/audit-log?n=500", None).await;
    let seen: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (actor, action) in [
        ("user:admin", "user.create"),
        ("user:erin", "org.create"),
        ("user:erin", "org.member.set"),
        ("user:erin", "robot.create"),
        ("user:erin", "robot.delete"),
        ("user:admin", "push"),
        ("user:admin", "org.delete"),
        ("robot:team+ci", "login"),
    ] {
        assert!(
            seen.contains(&(actor.to_owned(), action.to_owned())),
            "no {actor} {action} in {seen:?}"
        );
    }
    // Timestamps are RFC 3339 UTC, e.g. 2026-12-05T07:51:37.123Z.
    let at = log[0]["at"].as_str().unwrap();
    assert!(
        at.len() == 24 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );
    assert_eq!(log[0]["source"], "127.0.0.1");
    // Org-scoped log for org members; not for outsiders.
    let r = s.api("GET", "/audit-log?org=team", None, &gus).await;
    assert_eq!(r.status(), 200);
    let team_log: Value = r.json().await.unwrap();
    assert!(team_log
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["org"] == "team"));
    assert_eq!(s.api("GET", "/audit-log", None, &gus).await.status(), 403);
    assert_eq!(
        s.api("GET", "/audit-log?org=team", None, &hal)
            .await
            .status(),
        404
    );

    // A user deleted and created again with the same name is another account: the old
    // password, remembered for Basic on /v2, stops working at once.
    s.create_user("max", "max-password-1").await;
    let max_old = Cred::Basic("max", "max-password-1");
    assert_eq!(s.v2("GET", "/v2/", &max_old).await.status(), 200);
    assert_eq!(
        s.api("DELETE", "/users/max", None, &s.admin())
            .await
            .status(),
        204
    );
    assert_eq!(s.v2("GET", "/v2/", &max_old).await.status(), 401);

    // Catalog: each caller sees only what they may.
    s.seed_image("hal/own", "v1").await;
    let cat = |cred: Cred<'static>| {
        let s = &s;
        async move {
            let t = match &cred {
                Cred::Basic(..) => s.bearer(&cred, "registry:catalog:*").await,
                _ => unreachable!(),
            };
            let v: Value = s
                .v2("GET", "/v2/_catalog", &Cred::Bearer(&t))
                .await
                .json()
                .await
                .unwrap();
            v["repositories"].clone()
        }
    };
    assert_eq!(
        cat(Cred::Basic("hal", "hal-password")).await,
        json!(["hal/own"])
    );
    assert_eq!(
        cat(Cred::Basic("gus", "gus-password")).await,
        json!(["team/app"])
    );
    assert_eq!(
        cat(Cred::Basic(ADMIN_USER, ADMIN_PASSWORD)).await,
        json!(["hal/own", "team/app"])
    );
    // Anonymous callers get no catalog grant.
    let (_, body) = s.token(&Cred::None, "scope=registry:catalog:*").await;
    let r = s
        .v2(
            "GET",
            "/v2/_catalog",
            &Cred::Bearer(body["token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn signing_keys_persist_and_rotate_without_invalidating_tokens() {
    let tmp = tempfile::Builder::new()
        .prefix("berth-keys-")
        .tempdir()
        .unwrap();
    let data = tmp.path().join("data");
    let s = Site {
        b: Berth::start_in(BIN, &data, &[]),
        c: http_anonymous(),
    };
    s.seed_image("keys/app", "v1").await;
    let admin = s.admin();
    let old = s.bearer(&admin, "repository:keys/app:pull").await;
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let db = s.b.database_url();
    drop(s);

    // A restart keeps the key: the token issued before it still works.
    let c = http_anonymous();
    let b = Berth::start_in(BIN, &data, &[]);
    let get = |b: &Berth, t: &str| {
        c.get(b.url("/v2/keys/app/manifests/v1"))
            .header("authorization", format!("Bearer {t}"))
            .send()
    };
    assert_eq!(get(&b, &old).await.unwrap().status(), 200);

    // Rotation while this server runs (as another replica would do it): a token signed with
    // the new key — a kid this process has not loaded — is accepted at once (it reloads the
    // keys on an unknown kid instead of waiting for its 30 s reload).
    let out = std::process::Command::new(BIN)
        .arg("rotate-signing-key")
        .env("BERTH_DATA_DIR", &data)
        .env("BERTH_DATABASE__URL", &db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = berth_meta::Meta::connect(&db, &Default::default())
        .await
        .unwrap();
    let rotated = meta
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.retired_at.is_none())
        .unwrap();
    assert_ne!(rotated.kid, old_kid);
    let mut c2 = claims(&old);
    c2["jti"] = json!("signed-by-the-rotated-key");
    let der = STANDARD.decode(&rotated.private_der).unwrap();
    let from_other_replica = es256(&c2, &der, &rotated.kid);
    assert_eq!(get(&b, &from_other_replica).await.unwrap().status(), 200);
    meta.close().await;
    drop(b);

    // After a restart the new key signs; the old token still verifies.
    let b = Berth::start_in(BIN, &data, &[]);
    assert_eq!(
        get(&b, &old).await.unwrap().status(),
        200,
        "old token after rotation"
    );
    let r = c
        .get(b.url("/auth/token?service=berth&scope=repository:keys/app:pull"))
        .header("authorization", basic(ADMIN_USER, ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    let new: Value = r.json().await.unwrap();
    let new = new["token"].as_str().unwrap().to_owned();
    let new_kid = jsonwebtoken::decode_header(&new).unwrap().kid.unwrap();
    assert_eq!(new_kid, rotated.kid);
    assert_eq!(get(&b, &new).await.unwrap().status(), 200);
    let jwks: Value = c
        .get(b.url("/auth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
}

#[tokio::test]
async fn repositories_api_lists_describes_and_deletes() {
    let s = Site::start(&[]);
    s.create_user("ivy", "ivy-password").await;
    s.create_user("jon", "jon-password").await;
    s.api_ok("POST", "/orgs", Some(json!({"name": "acme"})))
        .await;
    s.api_ok(
        "PUT",
        "/orgs/acme/members/user/ivy",
        Some(json!({"role": "maintainer"})),
    )
    .await;
    s.api_ok(
        "PUT",
        "/orgs/acme/members/user/jon",
        Some(json!({"role": "developer"})),
    )
    .await;
    let d1 = s.seed_image("acme/web/frontend", "v1").await;
    s.seed_image("acme/api", "v1").await;
    // A second tag on the same manifest.
    let r = s
        .with(s.c.get(s.b.url("/v2/acme/api/manifests/v1")), &s.admin())
        .send()
        .await
        .unwrap();
    let body = r.bytes().await.unwrap();
    let r = s
        .with(
            s.c.put(s.b.url("/v2/acme/api/manifests/stable")),
            &s.admin(),
        )
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ivy = Cred::Basic("ivy", "ivy-password");
    let jon = Cred::Basic("jon", "jon-password");

    let repos: Value = s
        .api("GET", "/orgs/acme/repositories", None, &jon)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = repos
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme/api", "acme/web/frontend"]);
    assert_eq!(repos[0]["tag_count"], 2);
    assert_eq!(repos[0]["manifest_count"], 1);
    assert!(repos[0]["size"].as_i64().unwrap() > 0);

    // A name with several segments; its tags and manifests after the /-/ separator.
    let r: Value = s
        .api("GET", "/repositories/acme/web/frontend", None, &jon)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["name"], "acme/web/frontend");
    let tags: Value = s
        .api("GET", "/repositories/acme/api/-/tags", None, &jon)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        tags.as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["stable", "v1"]
    );
    let ms: Value = s
        .api("GET", "/repositories/acme/api/-/manifests", None, &jon)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ms[0]["tags"], json!(["stable", "v1"]));
    assert_eq!(
        s.api("GET", "/repositories/acme/nope", None, &jon)
            .await
            .status(),
        404
    );
    assert_eq!(
        s.api("GET", "/repositories/Bad/Name", None, &jon)
            .await
            .status(),
        400
    );

    // Description: maintainers may change it, developers may not.
    let r = s
        .api(
            "PATCH",
            "/repositories/acme/api",
            Some(json!({"description": "the API"})),
            &jon,
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = s
        .api(
            "PATCH",
            "/repositories/acme/api",
            Some(json!({"description": "the API"})),
            &ivy,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["description"], "the API");

    // Deletes: a tag, then a manifest, then a whole repository.
    assert_eq!(
        s.api("DELETE", "/repositories/acme/api/-/tags/stable", None, &jon)
            .await
            .status(),
        403
    );
    assert_eq!(
        s.api("DELETE", "/repositories/acme/api/-/tags/stable", None, &ivy)
            .await
            .status(),
        204
    );
    assert_eq!(
        s.api("DELETE", "/repositories/acme/api/-/tags/stable", None, &ivy)
            .await
            .status(),
        404
    );
    let r = s
        .v2("GET", "/v2/acme/api/manifests/stable", &s.admin())
        .await;
    assert_eq!(r.status(), 404);
    let r = s
        .api(
            "DELETE",
            &format!("/repositories/acme/web/frontend/-/manifests/{d1}"),
            None,
            &ivy,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = s
        .v2("GET", "/v2/acme/web/frontend/manifests/v1", &s.admin())
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        s.api("DELETE", "/repositories/acme/api", None, &ivy)
            .await
            .status(),
        204
    );
    let r = s.v2("GET", "/v2/acme/api/tags/list", &s.admin()).await;
    assert_eq!(r.status(), 404);
    let repos: Value = s
        .api("GET", "/orgs/acme/repositories", None, &jon)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(repos.as_array().unwrap().len(), 1);
    let log = s
        .api_ok("GET", "/audit-log?org=acme&actor=user:ivy", None)
        .await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["repository.delete", "delete", "delete", "repository.update"]
    );
}

#[tokio::test]
async fn first_admin_gets_a_generated_password_printed_once() {
    let tmp = tempfile::Builder::new()
        .prefix("berth-admin-")
        .tempdir()
        .unwrap();
    let data = tmp.path().join("data");
    // An empty BERTH_ADMIN_PASSWORD: no password configured.
    let b = Berth::start_in(BIN, &data, &[("BERTH_ADMIN_PASSWORD", "")]);
    let log = b.log();
    let marker = "created system admin \"admin\" with password";
    let at = log
        .find(marker)
        .unwrap_or_else(|| panic!("no password shown:\n{log}"));
    let password = log[at + marker.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(password.len() >= 32, "{password}");
    // It was printed on stderr, not through the structured log.
    assert!(!log
        .lines()
        .any(|l| l.contains(" INFO ") && l.contains(&password)));
    let c = http_anonymous();
    let r = c
        .get(b.url("/v2/"))
        .header("authorization", basic(ADMIN_USER, &password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(b);
    // A restart finds the admin and shows nothing.
    let b = Berth::start_in(BIN, &data, &[("BERTH_ADMIN_PASSWORD", "")]);
    assert!(!b.log().contains(marker));
    let r = c
        .get(b.url("/v2/"))
        .header("authorization", basic(ADMIN_USER, &password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_and_audited() {
    let s = Site::start(&[
        (
            "BERTH_AUTH__TRUSTED_PROXIES",
            r#"["127.0.0.1", "10.0.0.0/8"]"#,
        ),
        ("BERTH_AUTH__MAX_FAILURES_PER_ACCOUNT", "0"),
        ("BERTH_AUTH__MAX_FAILURES_PER_SOURCE", "3"),
    ]);
    s.create_user("lea", "lea-password").await;
    let token = |pw: &'static str, xff: &'static str| {
        let s = &s;
        async move {
            s.c.get(s.b.url("/auth/token?service=berth"))
                .header("authorization", basic("lea", pw))
                .header("x-forwarded-for", xff)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Client 192.0.2.1 through an inner proxy 10.1.1.1; a spoofed leftmost entry is ignored.
    for _ in 0..3 {
        assert_eq!(
            token("wrong-password", "6.6.6.6, 192.0.2.1, 10.1.1.1").await,
            401
        );
    }
    assert_eq!(token("lea-password", "192.0.2.1, 10.1.1.1").await, 429);
    // Another client behind the same balancer is not locked out.
    assert_eq!(token("lea-password", "192.0.2.2").await, 200);
    let log = s.api_ok("GET", "/audit-log?action=login", None).await;
    let sources: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["source"].as_str())
        .collect();
    assert!(
        sources.contains(&"192.0.2.1") && sources.contains(&"192.0.2.2"),
        "{sources:?}"
    );
    assert!(!sources.contains(&"6.6.6.6"));
}
