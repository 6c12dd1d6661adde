//! Who is calling: [`Principal`] (anonymous, a user, a robot) and [`Caller`], the principal
//! with the address the request came from — what every use-case needs to decide and to audit.

use std::net::IpAddr;

use berth_core::RobotRule;
use berth_meta::{RobotRow, UserRow};

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    User(UserRow),
    Robot(RobotRow, Vec<RobotRule>),
}

impl Principal {
    /// The token subject: the user name, `<org>+<robot>`, or empty for anonymous.
    pub fn subject(&self) -> String {
        match self {
            Principal::Anonymous => String::new(),
            Principal::User(u) => u.name.clone(),
            Principal::Robot(r, _) => format!("{}+{}", r.org, r.name),
        }
    }

    /// How the audit log names the caller.
    pub fn actor(&self) -> String {
        actor_of(&self.subject())
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::User(u) if u.admin)
    }

    pub fn user(&self) -> Option<&UserRow> {
        match self {
            Principal::User(u) => Some(u),
            _ => None,
        }
    }
}

/// The audit log's name for a token subject: `anonymous`, `user:<name>`,
/// `robot:<org>+<name>`.
pub fn actor_of(subject: &str) -> String {
    match subject {
        "" => "anonymous".into(),
        s if s.contains('+') => format!("robot:{s}"),
        s => format!("user:{s}"),
    }
}

/// A principal and where its request came from (the client address behind trusted proxies).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub source: Option<IpAddr>,
}

impl Caller {
    pub fn new(principal: Principal, source: Option<IpAddr>) -> Caller {
        Caller { principal, source }
    }

    pub fn is_admin(&self) -> bool {
        self.principal.is_admin()
    }

    /// The caller as a known account; anonymous callers are [`Error::BadCredentials`](crate::Error).
    pub fn require_known(&self) -> crate::Result<()> {
        match self.principal {
            Principal::Anonymous => Err(crate::Error::BadCredentials),
            _ => Ok(()),
        }
    }

    /// Only system admins pass.
    pub fn require_admin(&self) -> crate::Result<()> {
        self.require_known()?;
        if self.is_admin() {
            Ok(())
        } else {
            Err(crate::Error::Forbidden)
        }
    }
}
