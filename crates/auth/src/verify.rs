//! Checking access tokens presented to this service: signature and claims, remembered by
//! the token's hash, and a key reload when another replica signed with a key not seen yet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::token::{self, Claims, TokenError};
use crate::{now_ms, Auth};

/// Verified access tokens kept at most (cleared of expired ones, or wholly, when full).
pub(crate) const VERIFIED_MAX: usize = 20_000;

impl Auth {
    /// Verifies an access token presented to this service. A token signed with a key this
    /// process has not seen (another replica generated or rotated one a moment ago) triggers
    /// one reload of the keys, at most once a second.
    pub async fn verify_access(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        // A client sends the same token until it expires: its verified claims are kept under
        // the SHA-256 of the whole token, so only the first use pays the ECDSA check.
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = now_ms() / 1000;
        if let Some(c) = self.verified.lock().ok().and_then(|m| m.get(&key).cloned()) {
            if c.exp > now {
                return Ok(c);
            }
        }
        let claims = Arc::new(self.verify_uncached(token).await?);
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= VERIFIED_MAX {
                m.retain(|_, c| c.exp > now);
                if m.len() >= VERIFIED_MAX {
                    m.clear();
                }
            }
            m.insert(key, claims.clone());
        }
        Ok(claims)
    }

    async fn verify_uncached(&self, token: &str) -> Result<Claims, TokenError> {
        match token::verify(&self.keys, token, &self.config.issuer, &self.config.service) {
            Err(TokenError::UnknownKey) if self.may_reload_keys() => {
                if let Err(e) = self.keys.reload(&self.meta, now_ms()).await {
                    tracing::warn!(error = %e, "could not reload token signing keys");
                }
                token::verify(&self.keys, token, &self.config.issuer, &self.config.service)
            }
            r => r,
        }
    }

    fn may_reload_keys(&self) -> bool {
        let Ok(mut last) = self.last_key_reload.lock() else {
            return false;
        };
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}
