//! The token service over HTTP: the challenges of `/v2`, the token endpoint (GET and OAuth2
//! POST, refresh tokens, revocation), forged and misused tokens, and signing keys that persist
//! and rotate.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use berth_testkit::{
    basic, claims, code, header, http_anonymous, sha256, Berth, TestApp, ADMIN_PASSWORD, ADMIN_USER,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::BIN;

#[tokio::test]
async fn challenges_name_realm_service_and_scopes() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    let anon = app.anonymous();
    let r = anon.v2("GET", "/v2/").await;
    assert_eq!(r.status(), 401);
    let realm = format!(
        "Bearer realm=\"{}/auth/token\",service=\"berth\"",
        app.b.base
    );
    assert_eq!(header(&r, "www-authenticate"), realm);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    let r = anon.v2("GET", "/v2/acme/app/manifests/v1").await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        header(&r, "www-authenticate"),
        format!("{realm},scope=\"repository:acme/app:pull\"")
    );
    let r = anon.v2("POST", "/v2/acme/app/blobs/uploads/").await;
    assert!(header(&r, "www-authenticate").ends_with("scope=\"repository:acme/app:pull,push\""));
    // A cross-repository mount names both repositories.
    let d = sha256(b"x");
    let r = anon
        .v2(
            "POST",
            &format!("/v2/acme/app/blobs/uploads/?mount={d}&from=other/lib"),
        )
        .await;
    assert!(header(&r, "www-authenticate")
        .ends_with("scope=\"repository:acme/app:pull,push repository:other/lib:pull\""));
    let r = anon.v2("GET", "/v2/_catalog").await;
    assert!(header(&r, "www-authenticate").ends_with("scope=\"registry:catalog:*\""));
    // Garbage credentials: a challenge, never a 500.
    let r = anon
        .get("/v2/")
        .header("authorization", "Basic !!!")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app.holder("not.a.jwt").v2("GET", "/v2/").await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").contains("error=\"invalid_token\""));
    // Basic credentials work on /v2 directly; a wrong password does not.
    assert_eq!(admin.v2("GET", "/v2/").await.status(), 200);
    let r = app.basic(ADMIN_USER, "wrong").v2("GET", "/v2/").await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn token_endpoint_get_post_refresh_and_revocation() {
    let app = TestApp::start(BIN);
    let admin = app.admin();
    let anon = app.anonymous();
    let alice = app.user_with_password("alice", "alice-password-1").await;
    admin.seed_image("alice/app", "v1").await;

    // GET with Basic credentials, two scopes in one parameter and a repeated one.
    let (st, body) = alice.token("scope=repository:alice/app:pull,push%20repository:nobody/x:pull&scope=registry:catalog:*&offline_token=true&client_id=test")
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
    let r = app
        .holder(token)
        .v2("GET", "/v2/alice/app/manifests/v1")
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
    let jwks: Value = anon
        .get("/auth/jwks")
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
    let (st, body) = anon.token("scope=repository:alice/app:pull").await;
    assert_eq!(st, 200);
    assert_eq!(claims(body["token"].as_str().unwrap())["access"], json!([]));
    assert_eq!(claims(body["token"].as_str().unwrap())["sub"], "");
    // Wrong password: 401 with a JSON error.
    let (st, body) = app.basic("alice", "nope-nope").token("").await;
    assert_eq!(st, 401);
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    // OAuth2 POST: password grant with access_type=offline, then the refresh grant.
    let post = |form: Vec<(&'static str, String)>| {
        let anon = anon.clone();
        async move {
            let r = anon.post("/auth/token").form(&form).send().await.unwrap();
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
    let (st, body) = alice.token(&many.join("&")).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_scope")));
    let (st, _) = alice.token(&many[..32].join("&")).await;
    assert_eq!(st, 200);

    // Revoked refresh tokens are refused.
    let r = anon
        .post("/auth/revoke")
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
    let (_, body) = alice.token("offline_token=true").await;
    let refresh2 = body["refresh_token"].as_str().unwrap().to_owned();
    let r = alice
        .api(
            "PUT",
            "/users/alice/password",
            Some(json!({"password": "alice-password-2", "old_password": "alice-password-1"})),
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
    assert_eq!(alice.v2("GET", "/v2/").await.status(), 401);
    assert_eq!(
        app.basic("alice", "alice-password-2")
            .v2("GET", "/v2/")
            .await
            .status(),
        200
    );

    // Disabling a user revokes their refresh tokens and refuses their password.
    let (_, body) = app
        .basic("alice", "alice-password-2")
        .token("offline_token=true")
        .await;
    let refresh3 = body["refresh_token"].as_str().unwrap().to_owned();
    admin
        .api_ok("PATCH", "/users/alice", Some(json!({"disabled": true})))
        .await;
    let (st, _) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh3),
    ])
    .await;
    assert_eq!(st, 401);
    let (st, _) = app.basic("alice", "alice-password-2").token("").await;
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
    let app = TestApp::start(BIN);
    let admin = app.admin();
    let anon = app.anonymous();
    let bob = app.user_with_password("bob", "bob-password-1").await;
    admin.seed_image("bob/app", "v1").await;
    admin.seed_image("other/app", "v1").await;
    let good = bob.bearer("repository:bob/app:pull").await;
    let url = "/v2/bob/app/manifests/v1";
    assert_eq!(app.holder(&good).v2("GET", url).await.status(), 200);

    // The server's real signing key, read from its database, to forge claims it would sign.
    let meta = berth_meta::Meta::connect(&app.b.database_url(), &Default::default())
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
        let app = &app;
        async move {
            let r = app.holder(&t).v2("GET", url).await;
            assert_eq!(r.status(), 401, "{what} was accepted");
            assert!(
                header(&r, "www-authenticate").starts_with("Bearer realm="),
                "{what}"
            );
        }
    };
    // Sanity: the forging path itself produces an accepted token.
    let same = es256(&base, &der, &key.kid);
    assert_eq!(app.holder(&same).v2("GET", url).await.status(), 200);

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
    let r = app.holder(&t).v2("GET", "/v2/other/app/manifests/v1").await;
    assert_eq!(r.status(), 401, "tampered access claim");

    // A token for one repository is no good on another, nor for another action. Where a
    // fresh token could carry the action (bob may delete in his own org), the answer is 401
    // insufficient_scope with the scope to ask for; where bob may never have it (another
    // org's private repository), 403 DENIED.
    let r = app
        .holder(&good)
        .v2("GET", "/v2/other/app/manifests/v1")
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(code(r).await, "DENIED");
    let r = app
        .holder(&good)
        .v2("DELETE", "/v2/bob/app/manifests/v1")
        .await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").contains("error=\"insufficient_scope\""));
    assert!(header(&r, "www-authenticate").contains("scope=\"repository:bob/app:delete\""));
    // The same token back for the same need: 403, so a client that retries with the token it
    // holds (oras-py) asks for a new one instead of looping.
    let r = app
        .holder(&good)
        .v2("DELETE", "/v2/bob/app/manifests/v1")
        .await;
    assert_eq!(r.status(), 403);
    assert!(header(&r, "www-authenticate").contains("error=\"insufficient_scope\""));

    // A token cached from a pull, reused for a push (what containerd does): 401 naming
    // pull,push; the token the challenge asks for opens the push.
    let r = app
        .holder(&good)
        .v2("POST", "/v2/bob/app/blobs/uploads/")
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
    let wider = bob.bearer(&wanted).await;
    let r = app
        .holder(&wider)
        .v2("POST", "/v2/bob/app/blobs/uploads/")
        .await;
    assert_eq!(r.status(), 202);
    // An anonymous token is told to authenticate (401), never refused outright.
    let (st, body) = anon.token("scope=repository:bob/app:pull").await;
    assert_eq!(st, 200);
    let anon = body["token"].as_str().unwrap().to_owned();
    let r = app
        .holder(&anon)
        .v2("GET", "/v2/bob/app/manifests/v1")
        .await;
    assert_eq!(r.status(), 401);

    // A cross-org mount without pull rights on the source mounts nothing: the client gets an
    // ordinary upload session (202), and the blob stays out of bob's repository.
    let layer = sha256(b"layer other/app");
    let t = bob
        .bearer("repository:bob/app:pull,push&scope=repository:other/app:pull")
        .await;
    assert_eq!(
        claims(&t)["access"].as_array().unwrap().len(),
        1,
        "no grant on other/app"
    );
    let r = app
        .holder(&t)
        .v2(
            "POST",
            &format!("/v2/bob/app/blobs/uploads/?mount={layer}&from=other/app"),
        )
        .await;
    assert_eq!(r.status(), 202);
    let r = app
        .holder(&t)
        .v2("HEAD", &format!("/v2/bob/app/blobs/{layer}"))
        .await;
    assert_eq!(r.status(), 404);
    // With pull on the source (a public org now), the same mount works.
    admin
        .api_ok("PATCH", "/orgs/other", Some(json!({"public": true})))
        .await;
    let t = bob
        .bearer("repository:bob/app:pull,push&scope=repository:other/app:pull")
        .await;
    let r = app
        .holder(&t)
        .v2(
            "POST",
            &format!("/v2/bob/app/blobs/uploads/?mount={layer}&from=other/app"),
        )
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn signing_keys_persist_and_rotate_without_invalidating_tokens() {
    let tmp = tempfile::Builder::new()
        .prefix("berth-keys-")
        .tempdir()
        .unwrap();
    let data = tmp.path().join("data");
    let app = TestApp::on(Berth::start_in(BIN, &data, &[]));
    let admin = app.admin();
    admin.seed_image("keys/app", "v1").await;
    let old = admin.bearer("repository:keys/app:pull").await;
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let db = app.b.database_url();
    drop(app);

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
