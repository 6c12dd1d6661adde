//! What the adapter is told: servers, TLS, the search account, where users and groups live
//! and how group membership is read. [`Settings::check`] says what is wrong with a set of
//! settings before any connection is tried (`berth check-config`).

use std::time::Duration;

/// How far below a base DN a search looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The base DN's direct children.
    One,
    /// The whole subtree.
    Sub,
}

/// Where a user's groups are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// The user entry's `memberOf` values (OpenLDAP's memberof overlay, Active Directory).
    MemberOf,
    /// A search for the groups whose `member` is the user's DN (servers without memberOf).
    Member,
}

/// The directory settings (`ldap.*` in the configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ldap://` or `ldaps://` URLs, tried in order until one answers.
    pub urls: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS.
    pub start_tls: bool,
    /// PEM file of the CA(s) that sign the servers' certificates; empty: the system's roots.
    pub ca_file: String,
    /// Check the servers' certificates (and names). Off only for a test directory.
    pub verify_cert: bool,
    /// The search account; an empty DN searches anonymously.
    pub bind_dn: String,
    pub bind_password: String,
    /// Where users are looked for, in order.
    pub user_base_dns: Vec<String>,
    /// AND-ed with the login-name match, e.g. `(objectClass=person)`.
    pub user_filter: String,
    /// The attribute a login name is matched against (`uid`, `sAMAccountName`,
    /// `userPrincipalName`).
    pub uid_attribute: String,
    pub scope: Scope,
    pub mail_attribute: String,
    pub display_name_attribute: String,
    /// Where groups are looked for (group search, member mode, nested groups).
    pub group_base_dn: String,
    pub group_filter: String,
    pub group_name_attribute: String,
    pub membership: Membership,
    /// Active Directory's in-chain match: groups of groups count.
    pub nested_groups: bool,
    /// Members of this group are system admins (checked at every login).
    pub admin_group_dn: String,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    /// Idle search-account connections kept open.
    pub pool_size: usize,
    /// How long a user's entry and groups are trusted before they are read again.
    pub cache_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            urls: Vec::new(),
            start_tls: false,
            ca_file: String::new(),
            verify_cert: true,
            bind_dn: String::new(),
            bind_password: String::new(),
            user_base_dns: Vec::new(),
            user_filter: "(objectClass=person)".into(),
            uid_attribute: "uid".into(),
            scope: Scope::Sub,
            mail_attribute: "mail".into(),
            display_name_attribute: "cn".into(),
            group_base_dn: String::new(),
            group_filter: "(|(objectClass=groupOfNames)(objectClass=group))".into(),
            group_name_attribute: "cn".into(),
            membership: Membership::MemberOf,
            nested_groups: false,
            admin_group_dn: String::new(),
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(5),
            pool_size: 4,
            cache_ttl: Duration::from_secs(300),
        }
    }
}

impl Settings {
    /// What is wrong with these settings, if anything: a URL that is not `ldap://` or
    /// `ldaps://`, no base DN, a filter without parentheses, a CA file that does not parse.
    pub fn check(&self) -> Result<(), String> {
        if self.urls.is_empty() {
            return Err("ldap.urls: at least one ldap:// or ldaps:// URL is needed".into());
        }
        for u in &self.urls {
            let Some(rest) = u
                .strip_prefix("ldap://")
                .or_else(|| u.strip_prefix("ldaps://"))
            else {
                return Err(format!(
                    "ldap.urls: {u:?} is not an ldap:// or ldaps:// URL"
                ));
            };
            let host = rest.split('/').next().unwrap_or_default();
            if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
                return Err(format!("ldap.urls: {u:?} names no host"));
            }
            if let Some((_, port)) = host.rsplit_once(':').filter(|_| !host.ends_with(']')) {
                if port.parse::<u16>().is_err() {
                    return Err(format!("ldap.urls: {u:?} has a bad port"));
                }
            }
            if self.start_tls && u.starts_with("ldaps://") {
                return Err(format!(
                    "ldap.start_tls applies to ldap:// URLs; {u:?} is already TLS"
                ));
            }
        }
        if self.user_base_dns.iter().all(|d| d.trim().is_empty()) {
            return Err("ldap.user_base_dns: at least one base DN is needed".into());
        }
        for (key, dn) in self
            .user_base_dns
            .iter()
            .map(|d| ("ldap.user_base_dns", d))
            .chain([
                ("ldap.group_base_dn", &self.group_base_dn),
                ("ldap.bind_dn", &self.bind_dn),
                ("ldap.admin_group_dn", &self.admin_group_dn),
            ])
        {
            if !dn.is_empty() && !looks_like_dn(dn) {
                return Err(format!("{key}: {dn:?} is not a DN (attr=value,…)"));
            }
        }
        for (key, f) in [
            ("ldap.user_filter", &self.user_filter),
            ("ldap.group_filter", &self.group_filter),
        ] {
            if !f.is_empty() && !balanced_filter(f) {
                return Err(format!(
                    "{key}: {f:?} is not an LDAP filter (parenthesised, balanced)"
                ));
            }
        }
        for (key, a) in [
            ("ldap.uid_attribute", &self.uid_attribute),
            ("ldap.mail_attribute", &self.mail_attribute),
            ("ldap.display_name_attribute", &self.display_name_attribute),
            ("ldap.group_name_attribute", &self.group_name_attribute),
        ] {
            if a.is_empty() || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("{key}: {a:?} is not an attribute name"));
            }
        }
        if (self.membership == Membership::Member || self.nested_groups)
            && self.group_base_dn.is_empty()
        {
            return Err(
                "ldap.group_base_dn is needed for membership=member and nested_groups".into(),
            );
        }
        if !self.bind_dn.is_empty() && self.bind_password.is_empty() {
            return Err("ldap.bind_password (or bind_password_file) is needed with bind_dn".into());
        }
        if self.connect_timeout.is_zero() || self.operation_timeout.is_zero() {
            return Err("ldap.connect_timeout and operation_timeout must be positive".into());
        }
        if self.pool_size == 0 {
            return Err("ldap.pool_size must be positive".into());
        }
        crate::tls::client_config(self).map(|_| ())
    }
}

/// `attr=value` pairs separated by commas (a light check: the server judges the rest).
fn looks_like_dn(dn: &str) -> bool {
    dn.split(',').all(|rdn| {
        rdn.split_once('=')
            .is_some_and(|(a, _)| !a.trim().is_empty())
    })
}

/// Starts with `(`, ends with `)`, parentheses balanced outside escapes.
fn balanced_filter(f: &str) -> bool {
    if !(f.starts_with('(') && f.ends_with(')')) {
        return false;
    }
    let mut depth = 0i32;
    for c in f.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Settings {
        Settings {
            urls: vec!["ldap://127.0.0.1:3890".into()],
            user_base_dns: vec!["ou=people,dc=example,dc=org".into()],
            ..Settings::default()
        }
    }

    #[test]
    fn checks() {
        assert_eq!(ok().check(), Ok(()));
        let bad = |f: &dyn Fn(&mut Settings)| {
            let mut s = ok();
            f(&mut s);
            s.check().unwrap_err()
        };
        assert!(bad(&|s| s.urls = vec!["http://x".into()]).contains("not an ldap://"));
        assert!(bad(&|s| s.urls.clear()).contains("at least one"));
        assert!(bad(&|s| s.urls = vec!["ldap://h:99999".into()]).contains("bad port"));
        assert!(bad(&|s| s.user_base_dns.clear()).contains("base DN"));
        assert!(
            bad(&|s| s.user_filter = "objectClass=person".into()).contains("not an LDAP filter")
        );
        assert!(bad(&|s| s.user_filter = "(a=b))(".into()).contains("not an LDAP filter"));
        assert!(bad(&|s| s.group_base_dn = "groups".into()).contains("not a DN"));
        assert!(bad(&|s| s.membership = Membership::Member).contains("group_base_dn"));
        assert!(bad(&|s| s.bind_dn = "cn=x,dc=y".into()).contains("bind_password"));
        assert!(bad(&|s| s.ca_file = "/nonexistent/ca.pem".into()).contains("ldap.ca_file"));
        assert!(bad(&|s| {
            s.urls = vec!["ldaps://h".into()];
            s.start_tls = true;
        })
        .contains("already TLS"));
    }
}
