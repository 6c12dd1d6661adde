//! Connections: the configured URLs tried in order (failover), TLS or StartTLS, every step
//! under a timeout, a small pool of connections bound as the search account, and the
//! translation of LDAP failures into the adapter's three kinds of error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};

use crate::{DirError, Settings};

/// The open connections of one directory.
pub(crate) struct Connections {
    settings: Arc<Settings>,
    tls: Arc<rustls::ClientConfig>,
    /// Idle connections bound as the search account.
    idle: Mutex<Vec<Ldap>>,
    /// The URL that answered last: tried first next time.
    preferred: AtomicUsize,
}

impl Connections {
    pub(crate) fn new(settings: Arc<Settings>, tls: Arc<rustls::ClientConfig>) -> Connections {
        Connections {
            settings,
            tls,
            idle: Mutex::new(Vec::new()),
            preferred: AtomicUsize::new(0),
        }
    }

    /// Runs `step` under the operation timeout.
    pub(crate) async fn timed<T>(
        &self,
        what: &str,
        step: impl std::future::Future<Output = Result<T, LdapError>>,
    ) -> Result<T, DirError> {
        match tokio::time::timeout(self.settings.operation_timeout, step).await {
            Ok(r) => r.map_err(|e| classify(what, e)),
            Err(_) => Err(DirError::Unavailable(format!(
                "{what}: the directory did not answer within {:?}",
                self.settings.operation_timeout
            ))),
        }
    }

    /// A new connection to the first URL that answers, starting with the one that answered
    /// last, bound as `dn` (`None`: left anonymous). Returns the connection and the URL.
    /// A refused bind is not a reason to try another server; a server that cannot be reached
    /// or does not answer is.
    pub(crate) async fn open(
        &self,
        bind: Option<(&str, &str)>,
    ) -> Result<(Ldap, String), DirError> {
        let urls = &self.settings.urls;
        let first = self.preferred.load(Ordering::Relaxed) % urls.len().max(1);
        let mut last = DirError::Unavailable("no ldap.urls".into());
        for i in 0..urls.len() {
            let k = (first + i) % urls.len();
            let url = &urls[k];
            match self.open_one(url, bind).await {
                Ok(ldap) => {
                    self.preferred.store(k, Ordering::Relaxed);
                    return Ok((ldap, url.clone()));
                }
                Err(DirError::Unavailable(why)) => {
                    tracing::warn!(url = %url, reason = %why, "directory server unavailable");
                    last = DirError::Unavailable(format!("{url}: {why}"));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn open_one(&self, url: &str, bind: Option<(&str, &str)>) -> Result<Ldap, DirError> {
        let s = &self.settings;
        let conn_settings = LdapConnSettings::new()
            .set_conn_timeout(s.connect_timeout)
            .set_starttls(s.start_tls && url.starts_with("ldap://"))
            .set_config(self.tls.clone());
        // The TCP connect has its own timeout; TLS and StartTLS are one more exchange each.
        let connect = tokio::time::timeout(
            s.connect_timeout + s.operation_timeout,
            LdapConnAsync::with_settings(conn_settings, url),
        );
        let (conn, mut ldap) = match connect.await {
            Ok(r) => r.map_err(|e| classify("connect", e))?,
            Err(_) => {
                return Err(DirError::Unavailable(format!(
                    "connect: no answer within {:?}",
                    s.connect_timeout + s.operation_timeout
                )))
            }
        };
        ldap3::drive!(conn);
        if let Some((dn, password)) = bind {
            let result = self.timed("bind", ldap.simple_bind(dn, password)).await?;
            if result.rc != 0 {
                let _ = tokio::time::timeout(s.operation_timeout, ldap.unbind()).await;
                return Err(bind_refusal(result.rc, &result.text, dn));
            }
        }
        Ok(ldap)
    }

    /// A connection bound as the search account: an idle one, or a new one.
    pub(crate) async fn search_account(&self) -> Result<Pooled<'_>, DirError> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        if let Some(mut ldap) = idle {
            if !ldap.is_closed() {
                return Ok(Pooled {
                    ldap,
                    from_pool: true,
                    owner: self,
                });
            }
        }
        let (ldap, _) = self.open_search_account().await?;
        Ok(Pooled {
            ldap,
            from_pool: false,
            owner: self,
        })
    }

    /// A new connection bound as the search account (anonymous without `bind_dn`). A refused
    /// bind here is Berth's configuration at fault, not a user's password.
    pub(crate) async fn open_search_account(&self) -> Result<(Ldap, String), DirError> {
        let s = &self.settings;
        let bind =
            (!s.bind_dn.is_empty()).then_some((s.bind_dn.as_str(), s.bind_password.as_str()));
        self.open(bind).await.map_err(|e| match e {
            DirError::Rejected(why) => DirError::Misconfigured(format!(
                "the search account (ldap.bind_dn) was refused: {why}"
            )),
            other => other,
        })
    }

    fn give_back(&self, ldap: Ldap) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.settings.pool_size {
                idle.push(ldap);
            }
        }
    }

    pub(crate) fn operation_timeout(&self) -> Duration {
        self.settings.operation_timeout
    }
}

/// A search-account connection; [`Pooled::done`] returns it to the pool, dropping it closes it.
pub(crate) struct Pooled<'a> {
    pub(crate) ldap: Ldap,
    /// Taken from the pool (it may have been closed by the server meanwhile: worth a retry).
    pub(crate) from_pool: bool,
    owner: &'a Connections,
}

impl Pooled<'_> {
    pub(crate) fn done(self) {
        self.owner.give_back(self.ldap);
    }
}

/// What a refused bind means. Result codes: 49 invalidCredentials, 8 strongerAuthRequired,
/// 13 confidentialityRequired, 51 busy, 52 unavailable, 53 unwillingToPerform.
pub(crate) fn bind_refusal(rc: u32, text: &str, dn: &str) -> DirError {
    match rc {
        8 | 13 => DirError::Misconfigured(format!(
            "the directory requires StartTLS or LDAPS for simple binds (result {rc}: {text}); \
             set ldap.start_tls or use an ldaps:// URL"
        )),
        49 => DirError::Rejected(format!(
            "bind as {dn} refused: invalid credentials ({text})"
        )),
        51 | 52 => DirError::Unavailable(format!(
            "the directory is busy or unavailable ({rc}: {text})"
        )),
        _ => DirError::Rejected(format!("bind as {dn} refused: result {rc} ({text})")),
    }
}

/// An LDAP failure as one of the adapter's errors.
pub(crate) fn classify(what: &str, e: LdapError) -> DirError {
    match e {
        LdapError::LdapResult { result } => match result.rc {
            8 | 13 => bind_refusal(result.rc, &result.text, ""),
            51 | 52 => DirError::Unavailable(format!("{what}: {} ({})", result.rc, result.text)),
            rc => DirError::Misconfigured(format!("{what}: result {rc} ({})", result.text)),
        },
        LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) | LdapError::DNSName { .. } => {
            DirError::Misconfigured(format!("{what}: {e}"))
        }
        other => {
            let text = other.to_string();
            if text.contains("certificate") || text.contains("Certificate") {
                DirError::Misconfigured(format!(
                    "{what}: TLS: {text} (check ldap.ca_file and the server's certificate)"
                ))
            } else {
                DirError::Unavailable(format!("{what}: {text}"))
            }
        }
    }
}
