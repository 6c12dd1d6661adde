//! Issuing tokens: [`Auth::issue_token`] runs a whole token request — prove who asks, grant
//! requested ∩ permitted, sign, add a refresh token, audit — so that an edge only parses the
//! request and shapes the answer.

use std::net::IpAddr;

use berth_core::Scope;

use crate::token::{self, Claims};
use crate::{now_ms, Auth, Error, Principal};

/// Most scopes one token request may ask for: each costs database lookups, and a client
/// needs one or two per operation (three for a mount with a catalog).
pub const MAX_SCOPES: usize = 32;

/// How a token request proves who asks.
#[derive(Debug, Clone)]
pub enum Proof {
    /// Nothing: an anonymous token (public repositories).
    Anonymous,
    /// A user name (or `<org>+<robot>`) and its password or secret.
    Password { user: String, secret: String },
    /// A refresh token issued earlier.
    Refresh(String),
}

/// One token request, as the token endpoint reads it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub proof: Proof,
    pub scopes: Vec<Scope>,
    /// Whether to add a refresh token (`offline_token=true`, `access_type=offline`).
    pub offline: bool,
    /// The client's address (throttling, audit).
    pub source: Option<IpAddr>,
}

/// What a token request is granted.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The signed access token.
    pub token: String,
    pub claims: Claims,
    pub refresh_token: Option<String>,
}

impl Auth {
    /// Runs a token request: [`Error::BadCredentials`] or [`Error::RateLimited`] for a bad
    /// proof (audited as a failed login), [`Error::Invalid`] for too many scopes; otherwise
    /// the grant, and a password login is audited.
    pub async fn issue_token(&self, req: TokenRequest) -> Result<Grant, Error> {
        let (principal, login) = match &req.proof {
            Proof::Anonymous => (Principal::Anonymous, false),
            Proof::Password { user, secret } => match self.login(user, secret, req.source).await {
                Ok(p) => (p, true),
                Err(e) => {
                    self.audit_failed_login(user, req.source, &e).await;
                    return Err(e);
                }
            },
            Proof::Refresh(t) => (self.refresh(t).await?, false),
        };
        if req.scopes.len() > MAX_SCOPES {
            return Err(Error::invalid(
                "scope",
                format!("at most {MAX_SCOPES} scopes per token request"),
            ));
        }
        let granted = self.grant(&principal, &req.scopes).await?;
        let (token, claims) = self.issue_access(&principal, granted)?;
        let refresh_token = if req.offline && !matches!(principal, Principal::Anonymous) {
            Some(self.issue_refresh(&principal).await?)
        } else {
            None
        };
        if login {
            self.audit(
                &principal,
                "login",
                &principal.actor(),
                None,
                req.source,
                "ok",
            )
            .await;
        }
        Ok(Grant {
            token,
            claims,
            refresh_token,
        })
    }

    /// Signs an access token for `p` carrying `access`.
    pub fn issue_access(
        &self,
        p: &Principal,
        access: Vec<Scope>,
    ) -> Result<(String, Claims), Error> {
        let now = now_ms() / 1000;
        let claims = Claims {
            iss: self.config.issuer.clone(),
            sub: p.subject(),
            aud: self.config.service.clone(),
            exp: now + self.config.token_ttl.as_secs() as i64,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            access,
        };
        let t = token::sign(&self.keys, &claims).map_err(|e| Error::Internal(e.to_string()))?;
        Ok((t, claims))
    }
}
