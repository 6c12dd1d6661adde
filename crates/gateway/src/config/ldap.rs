//! `ldap.*`: sign-in against an LDAP or Active Directory directory (the `berth-directory`
//! adapter's settings, with the search account's password from a file if wanted).

use serde::{Deserialize, Serialize};

use super::storage::read_secret_file;
use super::ConfigError;

/// The directory people sign in with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapSection {
    /// Check the passwords of names no local account holds against the directory.
    pub enabled: bool,
    /// `ldap://` or `ldaps://` URLs, tried in order until one answers.
    pub urls: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS.
    pub start_tls: bool,
    /// PEM file of the CA(s) of the servers' certificates; empty: the system's roots.
    pub ca_file: String,
    /// Check the servers' certificates. Turn off only for a test directory.
    pub verify_cert: bool,
    /// The search account; empty: anonymous searches.
    pub bind_dn: String,
    pub bind_password: String,
    /// A file holding the search account's password (not readable by other users).
    pub bind_password_file: String,
    /// Where users are looked for, in order.
    pub user_base_dns: Vec<String>,
    /// AND-ed with the login-name match, e.g. `(objectClass=person)`.
    pub user_filter: String,
    /// The attribute a login name is matched against: `uid`, `sAMAccountName` or
    /// `userPrincipalName`.
    pub uid_attribute: String,
    /// `one` (direct children of a base DN) or `sub` (the subtree).
    pub scope: String,
    pub mail_attribute: String,
    pub display_name_attribute: String,
    /// Where groups are looked for.
    pub group_base_dn: String,
    pub group_filter: String,
    pub group_name_attribute: String,
    /// `memberof` (the user entry's memberOf) or `member` (a search of the groups whose
    /// `member` is the user's DN, for servers without the memberOf overlay).
    pub membership: String,
    /// Groups of groups count (Active Directory's in-chain rule), under `group_base_dn`.
    pub nested_groups: bool,
    /// Members of this group are system admins (synced at every login).
    pub admin_group_dn: String,
    pub connect_timeout_secs: u64,
    pub operation_timeout_secs: u64,
    /// Idle search-account connections kept open.
    pub pool_size: usize,
    /// How long a user's groups are trusted, and how often a refresh token or CLI token of a
    /// directory user re-checks the directory.
    pub cache_ttl_secs: u64,
}

impl Default for LdapSection {
    fn default() -> Self {
        let d = berth_directory::Settings::default();
        LdapSection {
            enabled: false,
            urls: Vec::new(),
            start_tls: d.start_tls,
            ca_file: String::new(),
            verify_cert: d.verify_cert,
            bind_dn: String::new(),
            bind_password: String::new(),
            bind_password_file: String::new(),
            user_base_dns: Vec::new(),
            user_filter: d.user_filter,
            uid_attribute: d.uid_attribute,
            scope: "sub".into(),
            mail_attribute: d.mail_attribute,
            display_name_attribute: d.display_name_attribute,
            group_base_dn: String::new(),
            group_filter: d.group_filter,
            group_name_attribute: d.group_name_attribute,
            membership: "memberof".into(),
            nested_groups: false,
            admin_group_dn: String::new(),
            connect_timeout_secs: d.connect_timeout.as_secs(),
            operation_timeout_secs: d.operation_timeout.as_secs(),
            pool_size: d.pool_size,
            cache_ttl_secs: d.cache_ttl.as_secs(),
        }
    }
}

impl LdapSection {
    /// The adapter's settings (`None` when the directory is off), checked: a bad URL, no base
    /// DN, a CA file that does not parse… are configuration errors.
    pub fn settings(&self) -> Result<Option<berth_directory::Settings>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let bad = |m: String| ConfigError::Invalid(m);
        let bind_password = match (
            self.bind_password.is_empty(),
            self.bind_password_file.is_empty(),
        ) {
            (false, false) => {
                return Err(bad(
                    "ldap.bind_password and bind_password_file are both set".into(),
                ))
            }
            (true, false) => read_secret_file(&self.bind_password_file, "ldap.bind_password")?,
            _ => self.bind_password.clone(),
        };
        let scope = match self.scope.as_str() {
            "one" => berth_directory::Scope::One,
            "sub" => berth_directory::Scope::Sub,
            s => return Err(bad(format!("ldap.scope {s:?} must be one or sub"))),
        };
        let membership = match self.membership.as_str() {
            "memberof" => berth_directory::Membership::MemberOf,
            "member" => berth_directory::Membership::Member,
            m => {
                return Err(bad(format!(
                    "ldap.membership {m:?} must be memberof or member"
                )))
            }
        };
        let secs = std::time::Duration::from_secs;
        let s = berth_directory::Settings {
            urls: self.urls.clone(),
            start_tls: self.start_tls,
            ca_file: self.ca_file.clone(),
            verify_cert: self.verify_cert,
            bind_dn: self.bind_dn.clone(),
            bind_password,
            user_base_dns: self.user_base_dns.clone(),
            user_filter: self.user_filter.clone(),
            uid_attribute: self.uid_attribute.clone(),
            scope,
            mail_attribute: self.mail_attribute.clone(),
            display_name_attribute: self.display_name_attribute.clone(),
            group_base_dn: self.group_base_dn.clone(),
            group_filter: self.group_filter.clone(),
            group_name_attribute: self.group_name_attribute.clone(),
            membership,
            nested_groups: self.nested_groups,
            admin_group_dn: self.admin_group_dn.clone(),
            connect_timeout: secs(self.connect_timeout_secs),
            operation_timeout: secs(self.operation_timeout_secs),
            pool_size: self.pool_size,
            cache_ttl: secs(self.cache_ttl_secs),
        };
        s.check().map_err(bad)?;
        Ok(Some(s))
    }
}

#[cfg(test)]
mod tests {
    use super::LdapSection;

    #[test]
    fn off_by_default_and_checked_when_on() {
        assert!(LdapSection::default().settings().unwrap().is_none());
        let mut l = LdapSection {
            enabled: true,
            urls: vec!["ldap://127.0.0.1:389".into()],
            user_base_dns: vec!["ou=people,dc=example,dc=org".into()],
            ..LdapSection::default()
        };
        assert!(l.settings().unwrap().is_some());
        l.membership = "memberOf".into();
        assert!(l
            .settings()
            .unwrap_err()
            .to_string()
            .contains("memberof or member"));
        l.membership = "member".into();
        assert!(l
            .settings()
            .unwrap_err()
            .to_string()
            .contains("group_base_dn"));
        l.membership = "memberof".into();
        l.urls = vec!["ldapx://h".into()];
        assert!(l
            .settings()
            .unwrap_err()
            .to_string()
            .contains("not an ldap://"));
        l.urls = vec!["ldap://h".into()];
        l.ca_file = "/nonexistent.pem".into();
        assert!(l
            .settings()
            .unwrap_err()
            .to_string()
            .contains("ldap.ca_file"));
    }
}
