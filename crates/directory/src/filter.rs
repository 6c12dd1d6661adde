//! Turning what a person typed into LDAP filters that can never match more than they say:
//! every user-supplied value is escaped per RFC 4515 (`*`, `(`, `)`, `\`, NUL), and the
//! Active Directory spellings of a login name (`alice`, `alice@example.test`,
//! `EXAMPLE\alice`) are matched against the attributes that hold them.

use crate::Settings;

/// `value` escaped for use as an assertion value inside a filter (RFC 4515).
pub fn escape(value: &str) -> String {
    ldap3::ldap_escape(value).into_owned()
}

/// Whether the settings describe Active Directory's naming (`sAMAccountName` or
/// `userPrincipalName` as the login attribute).
pub(crate) fn is_ad(s: &Settings) -> bool {
    s.uid_attribute.eq_ignore_ascii_case("sAMAccountName")
        || s.uid_attribute.eq_ignore_ascii_case("userPrincipalName")
}

/// The filter that finds the entry of `login`: the configured user filter AND-ed with the
/// login-name match.
pub(crate) fn user_filter(s: &Settings, login: &str) -> String {
    let matcher = if is_ad(s) {
        // `DOMAIN\name` is the down-level spelling of the account name.
        let name = login.rsplit_once('\\').map_or(login, |(_, n)| n);
        let mut alternatives = format!(
            "(sAMAccountName={})",
            escape(name.split('@').next().unwrap_or(name))
        );
        if name.contains('@') {
            alternatives.push_str(&format!("(userPrincipalName={})", escape(name)));
        }
        format!("(|{alternatives})")
    } else {
        format!("({}={})", s.uid_attribute, escape(login))
    };
    and(&s.user_filter, &matcher)
}

/// The account a login name speaks of, as far as its spelling tells: lowercase, without an
/// Active Directory `DOMAIN\` prefix or `@domain` suffix (`EXAMPLE\Alice`,
/// `alice@example.test` → `alice`). For throttling keys and for finding a local account of
/// the same name before a directory is asked.
pub fn canonical_login(login: &str) -> String {
    let name = login.rsplit_once('\\').map_or(login, |(_, n)| n);
    let name = name.split('@').next().unwrap_or(name);
    name.to_lowercase()
}

/// A search of users whose login name, display name or mail contains `q`.
pub(crate) fn user_search_filter(s: &Settings, q: &str) -> String {
    let matcher = if q.is_empty() {
        // `(a=**)` is not a filter: everyone with a login name.
        format!("({}=*)", s.uid_attribute)
    } else {
        let q = escape(q);
        format!(
            "(|({}=*{q}*)({}=*{q}*)({}=*{q}*))",
            s.uid_attribute, s.display_name_attribute, s.mail_attribute
        )
    };
    and(&s.user_filter, &matcher)
}

/// A search of groups whose name contains `q` (`exact`: is `q`).
pub(crate) fn group_search_filter(s: &Settings, q: &str, exact: bool) -> String {
    let name = &s.group_name_attribute;
    let matcher = match (exact, escape(q)) {
        (true, q) => format!("({name}={q})"),
        (false, q) if q.is_empty() => format!("({name}=*)"),
        (false, q) => format!("({name}=*{q}*)"),
    };
    and(&s.group_filter, &matcher)
}

/// The groups that have `dn` as a member; `nested`: also through groups of groups (Active
/// Directory's LDAP_MATCHING_RULE_IN_CHAIN).
pub(crate) fn member_filter(s: &Settings, dn: &str, nested: bool) -> String {
    let rule = if nested {
        ":1.2.840.113556.1.4.1941:"
    } else {
        ""
    };
    and(&s.group_filter, &format!("(member{rule}={})", escape(dn)))
}

fn and(base: &str, matcher: &str) -> String {
    if base.is_empty() {
        matcher.to_owned()
    } else {
        format!("(&{base}{matcher})")
    }
}

/// A DN in a form two spellings of the same DN share: lowercase, no spaces around `,` and `=`.
pub fn normalize_dn(dn: &str) -> String {
    rdns(dn)
        .iter()
        .map(|rdn| match split_unescaped(rdn, '=').as_slice() {
            [a, _, ..] if !a.is_empty() => {
                // The value is everything after the first unescaped `=`.
                let v = &rdn[a.len() + 1..];
                format!("{}={}", a.trim(), v.trim())
            }
            _ => rdn.trim().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

/// The RDNs of a DN: split at commas that are not escaped (`cn=a\,b,dc=x` has two).
fn rdns(dn: &str) -> Vec<&str> {
    split_unescaped(dn, ',')
}

/// `s` split at each `sep` that no backslash escapes.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == sep => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The value of a DN's first RDN (`cn=developers,ou=groups,…` → `developers`).
pub(crate) fn first_rdn_value(dn: &str) -> &str {
    rdns(dn)
        .first()
        .and_then(|rdn| rdn.split_once('='))
        .map_or(dn, |(_, v)| v.trim())
}

/// Whether `dn` lies at or below `base` (both normalized; escaped commas are part of a value,
/// so `cn=x\,ou=groups,dc=y` is not below `ou=groups,dc=y`).
pub(crate) fn under(dn: &str, base: &str) -> bool {
    let (dn, base) = (rdns_normalized(dn), rdns_normalized(base));
    base.is_empty() || (dn.len() >= base.len() && dn[dn.len() - base.len()..] == base[..])
}

fn rdns_normalized(dn: &str) -> Vec<String> {
    let n = normalize_dn(dn);
    if n.is_empty() {
        return Vec::new();
    }
    rdns(&n).into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openldap() -> Settings {
        Settings::default()
    }

    fn ad() -> Settings {
        Settings {
            uid_attribute: "sAMAccountName".into(),
            user_filter: "(objectClass=user)".into(),
            ..Settings::default()
        }
    }

    #[test]
    fn escapes_what_could_widen_a_search() {
        assert_eq!(escape("alice"), "alice");
        assert_eq!(escape("*"), "\\2a");
        assert_eq!(escape("alice)(uid=*"), "alice\\29\\28uid=\\2a");
        assert_eq!(escape("a\\b"), "a\\5cb");
        assert_eq!(escape("a\0b"), "a\\00b");
        assert_eq!(
            user_filter(&openldap(), "alice)(uid=*"),
            "(&(objectClass=person)(uid=alice\\29\\28uid=\\2a))"
        );
        assert_eq!(
            user_filter(&openldap(), "*"),
            "(&(objectClass=person)(uid=\\2a))"
        );
    }

    #[test]
    fn active_directory_spellings() {
        let s = ad();
        assert_eq!(
            user_filter(&s, "alice"),
            "(&(objectClass=user)(|(sAMAccountName=alice)))"
        );
        assert_eq!(
            user_filter(&s, "EXAMPLE\\alice"),
            "(&(objectClass=user)(|(sAMAccountName=alice)))"
        );
        assert_eq!(
            user_filter(&s, "alice@example.test"),
            "(&(objectClass=user)(|(sAMAccountName=alice)(userPrincipalName=alice@example.test)))"
        );
        assert_eq!(
            user_filter(&s, "EXAMPLE\\*)("),
            "(&(objectClass=user)(|(sAMAccountName=\\2a\\29\\28)))"
        );
    }

    #[test]
    fn canonical_logins() {
        assert_eq!(canonical_login("alice"), "alice");
        assert_eq!(canonical_login("EXAMPLE\\Alice"), "alice");
        assert_eq!(canonical_login("ALICE@example.test"), "alice");
        assert_eq!(canonical_login("shop+ci"), "shop+ci");
    }

    #[test]
    fn groups_and_dns() {
        let s = openldap();
        assert_eq!(
            member_filter(&s, "uid=a\\,b,dc=x", true),
            "(&(|(objectClass=groupOfNames)(objectClass=group))(member:1.2.840.113556.1.4.1941:=uid=a\\5c,b,dc=x))"
        );
        assert_eq!(
            group_search_filter(&s, "dev*", false),
            "(&(|(objectClass=groupOfNames)(objectClass=group))(cn=*dev\\2a*))"
        );
        assert_eq!(
            normalize_dn("CN=Devs, OU=Groups,DC=X"),
            "cn=devs,ou=groups,dc=x"
        );
        assert_eq!(first_rdn_value("cn=developers,ou=groups"), "developers");
        assert!(under("CN=a,OU=Groups,DC=x", "ou=groups,dc=x"));
        assert!(!under("cn=a,ou=groupsx,dc=x", "ou=groups,dc=x"));
        // An escaped comma is part of a value, not an RDN boundary.
        assert!(!under("cn=x\\,ou=groups,dc=x", "ou=groups,dc=x"));
        assert!(under("cn=a\\,b,ou=groups,dc=x", "ou=groups,dc=x"));
        assert_eq!(normalize_dn("CN=a\\,B , OU=Groups"), "cn=a\\,b,ou=groups");
        assert_eq!(first_rdn_value("cn=a\\,b,ou=groups"), "a\\,b");
        assert!(under("ou=groups,dc=x", "ou=groups,dc=x"));
        assert!(under("cn=a,dc=x", ""));
    }
}
