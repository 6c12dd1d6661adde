//! Access tokens: JWTs signed ES256 with the key ring's current key.
//!
//! Claims: `iss`, `sub`, `aud` (the service), `exp`, `nbf`, `iat`, `jti`, and `access` — the
//! granted scopes, in the Docker token spec's shape. Verification accepts ES256 only, a known
//! `kid`, the configured issuer and audience, and a current time window; anything else is
//! refused before the claims are looked at.

use berth_core::Scope;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::KeyRing;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// `<user>`, `<org>+<robot>` or empty for anonymous.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub access: Vec<Scope>,
}

impl Claims {
    /// Whether the token grants `action` on `kind`/`name`.
    pub fn allows(&self, kind: &str, name: &str, action: &str) -> bool {
        self.access.iter().any(|s| s.allows(kind, name, action))
    }
}

/// Why a token was refused (never shown in detail to the client beyond "invalid token").
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed or uses an unsupported algorithm")]
    Malformed,
    #[error("token is signed with an unknown key")]
    UnknownKey,
    #[error("token is invalid: {0}")]
    Invalid(String),
    #[error("no signing key is available")]
    NoKey,
}

/// Signs `claims` with the current key.
pub fn sign(keys: &KeyRing, claims: &Claims) -> Result<String, TokenError> {
    let (kid, key) = keys.signer().ok_or(TokenError::NoKey)?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid);
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, claims, &key).map_err(|e| TokenError::Invalid(e.to_string()))
}

/// Verifies a token's signature, algorithm, issuer, audience and time window.
pub fn verify(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<Claims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != Algorithm::ES256 {
        return Err(TokenError::Malformed);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = keys.verifier(&kid).ok_or(TokenError::UnknownKey)?;
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.validate_nbf = true;
    v.leeway = 30;
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Claims>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| TokenError::Invalid(e.to_string()))
}
