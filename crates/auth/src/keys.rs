//! Token signing keys: ES256 (ECDSA P-256), stored in the metadata database so that every
//! replica signs and verifies with the same keys. The newest unretired key signs; retired keys
//! keep verifying until no token they signed can still be valid. `kid` is the RFC 7638 JWK
//! thumbprint of the public key.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use berth_meta::{KeyRow, Meta, MetaError};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The keys in use: one to sign, all to verify.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<RwLock<Keys>>,
}

struct Keys {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
    jwks: Value,
}

/// A freshly generated key, as stored.
pub fn generate(now_ms: i64) -> Result<KeyRow, String> {
    let rng = SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "cannot generate a P-256 key".to_owned())?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref(), &rng)
        .map_err(|_| "generated key does not parse".to_owned())?;
    let point = pair.public_key().as_ref();
    // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
    if point.len() != 65 {
        return Err("unexpected public key encoding".into());
    }
    let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
    let kid = thumbprint(&x, &y);
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
    Ok(KeyRow {
        kid,
        alg: "ES256".into(),
        private_der: STANDARD.encode(der.as_ref()),
        public_jwk: jwk.to_string(),
        created_at: now_ms,
        retired_at: None,
    })
}

/// RFC 7638 thumbprint of a P-256 public key: SHA-256 over the required members in
/// lexicographic order, without whitespace.
pub fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

impl KeyRing {
    /// Loads the keys, generating the first one when the database has none. Several replicas
    /// starting at once may each generate one; all of them are kept and the newest signs.
    pub async fn load(meta: &Meta, now_ms: i64) -> Result<KeyRing, String> {
        let ring = KeyRing {
            inner: Arc::new(RwLock::new(Keys {
                signing: None,
                verifying: HashMap::new(),
                jwks: json!({"keys": []}),
            })),
        };
        ring.reload(meta, now_ms).await?;
        Ok(ring)
    }

    /// Re-reads the keys from the database (after a rotation on any replica).
    pub async fn reload(&self, meta: &Meta, now_ms: i64) -> Result<(), String> {
        let mut rows = meta.signing_keys().await.map_err(|e| e.to_string())?;
        if !rows.iter().any(|k| k.retired_at.is_none()) {
            let k = generate(now_ms)?;
            meta.add_signing_key(&k, false)
                .await
                .map_err(|e: MetaError| e.to_string())?;
            rows = meta.signing_keys().await.map_err(|e| e.to_string())?;
        }
        let mut signing = None;
        let mut verifying = HashMap::new();
        let mut public = Vec::new();
        for k in &rows {
            let jwk: Value = serde_json::from_str(&k.public_jwk)
                .map_err(|e| format!("stored key {} is not a JWK: {e}", k.kid))?;
            let (Some(x), Some(y)) = (jwk["x"].as_str(), jwk["y"].as_str()) else {
                return Err(format!("stored key {} lacks x/y", k.kid));
            };
            let dec = DecodingKey::from_ec_components(x, y)
                .map_err(|e| format!("stored key {}: {e}", k.kid))?;
            verifying.insert(k.kid.clone(), dec);
            public.push(jwk);
            if signing.is_none() && k.retired_at.is_none() {
                let der = STANDARD
                    .decode(&k.private_der)
                    .map_err(|e| format!("stored key {}: {e}", k.kid))?;
                signing = Some((k.kid.clone(), EncodingKey::from_ec_der(&der)));
            }
        }
        let mut keys = self
            .inner
            .write()
            .map_err(|_| "key ring poisoned".to_owned())?;
        keys.signing = signing;
        keys.verifying = verifying;
        keys.jwks = json!({ "keys": public });
        Ok(())
    }

    /// The signing key's id and key.
    pub fn signer(&self) -> Option<(String, EncodingKey)> {
        self.inner.read().ok()?.signing.clone()
    }

    /// The verification key for `kid`.
    pub fn verifier(&self, kid: &str) -> Option<DecodingKey> {
        self.inner.read().ok()?.verifying.get(kid).cloned()
    }

    /// The JWKS document of every key that still verifies.
    pub fn jwks(&self) -> Value {
        self.inner
            .read()
            .map(|k| k.jwks.clone())
            .unwrap_or_else(|_| json!({"keys": []}))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_keys_have_thumbprint_kids() {
        let k = super::generate(1).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&k.public_jwk).unwrap();
        assert_eq!(
            k.kid,
            super::thumbprint(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
        );
        assert_eq!(k.kid.len(), 43);
        assert_ne!(super::generate(1).unwrap().kid, k.kid);
    }

    #[test]
    fn rfc7638_example_shape() {
        // Thumbprints are base64url SHA-256: 43 characters, no padding.
        let t = super::thumbprint("a", "b");
        assert_eq!(t.len(), 43);
        assert!(!t.contains('='));
    }
}
