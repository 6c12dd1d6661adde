//! The audit log: writing events (never fatal to the request that causes them).

use std::net::IpAddr;

use berth_meta::AuditEvent;

use crate::{clip, now_ms, Auth, Error, Principal};

impl Auth {
    /// Writes an audit event; a failure to write is logged, never fatal to the request.
    pub async fn audit(
        &self,
        p: &Principal,
        action: &str,
        resource: &str,
        org: Option<&str>,
        source: Option<IpAddr>,
        outcome: &str,
    ) {
        self.audit_full(&p.actor(), action, resource, org, source, outcome)
            .await
    }

    /// [`Auth::audit`] of a successful action by an actor known by name.
    pub async fn audit_as(
        &self,
        actor: &str,
        action: &str,
        resource: &str,
        org: Option<&str>,
        source: Option<IpAddr>,
    ) {
        self.audit_full(actor, action, resource, org, source, "ok")
            .await
    }

    /// An audit event with a detail (e.g. why a directory login was refused; never a secret).
    pub(crate) async fn audit_detail(
        &self,
        actor: &str,
        action: &str,
        resource: &str,
        source: Option<IpAddr>,
        outcome: &str,
        detail: &str,
    ) {
        let mut e = event(actor, action, resource, None, source, outcome);
        e.detail = Some(clip(detail).to_owned());
        self.record(e).await
    }

    async fn audit_full(
        &self,
        actor: &str,
        action: &str,
        resource: &str,
        org: Option<&str>,
        source: Option<IpAddr>,
        outcome: &str,
    ) {
        self.record(event(actor, action, resource, org, source, outcome))
            .await
    }

    async fn record(&self, e: AuditEvent) {
        if let Err(err) = self.meta.record_audit(&e).await {
            tracing::warn!(error = %err, action = %e.action, "could not write an audit event");
        }
    }

    /// Records a failed login attempt for `user` (denied or throttled).
    pub(crate) async fn audit_failed_login(&self, user: &str, source: Option<IpAddr>, e: &Error) {
        let outcome = match e {
            Error::RateLimited(_) => "throttled",
            Error::BadCredentials => "denied",
            _ => return,
        };
        self.audit(
            &Principal::Anonymous,
            "login",
            &format!("account:{}", clip(user)),
            None,
            source,
            outcome,
        )
        .await;
    }
}

fn event(
    actor: &str,
    action: &str,
    resource: &str,
    org: Option<&str>,
    source: Option<IpAddr>,
    outcome: &str,
) -> AuditEvent {
    AuditEvent {
        id: 0,
        at: now_ms(),
        actor: actor.to_owned(),
        action: action.into(),
        resource: resource.into(),
        org: org.map(str::to_owned),
        source: source.map(|s| s.to_string()),
        outcome: outcome.into(),
        detail: None,
    }
}
