//! Resource scopes of the Docker token spec: `repository:<name>:<actions>` and
//! `registry:catalog:*`, as requested on the token endpoint, carried in a token's `access`
//! claim and named in a `WWW-Authenticate` challenge.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One requested or granted scope. `kind` is `repository` or `registry` (a resource class in
/// parentheses, `repository(plugin)`, is accepted and dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: BTreeSet<String>,
}

/// A scope string that does not follow `type:name:actions`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {0:?}: expected type:name:actions")]
pub struct ScopeError(pub String);

impl Scope {
    /// A repository scope with the given actions.
    pub fn repository(name: &str, actions: &[&str]) -> Scope {
        Scope {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// `registry:catalog:*`
    pub fn catalog() -> Scope {
        Scope {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: ["*".to_owned()].into(),
        }
    }

    /// Parses one scope. The name may itself contain `:` (a host with a port, in a foreign
    /// scope), so the type ends at the first colon and the actions start after the last.
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        let err = || ScopeError(s.chars().take(200).collect());
        let (kind, rest) = s.split_once(':').ok_or_else(err)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(err)?;
        let kind = match kind.split_once('(') {
            Some((k, class)) if class.ends_with(')') => k,
            Some(_) => return Err(err()),
            None => kind,
        };
        if kind.is_empty() || name.is_empty() {
            return Err(err());
        }
        let actions = actions
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Scope {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions,
        })
    }

    /// Whether this (granted) scope covers `action` on resource `kind`/`name`.
    pub fn allows(&self, kind: &str, name: &str, action: &str) -> bool {
        self.kind == kind
            && self.name == name
            && (self.actions.contains(action) || self.actions.contains("*"))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actions: Vec<&str> = self.actions.iter().map(String::as_str).collect();
        write!(f, "{}:{}:{}", self.kind, self.name, actions.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let s = Scope::parse("repository:org/app:push,pull").unwrap();
        assert_eq!(s.kind, "repository");
        assert_eq!(s.name, "org/app");
        assert_eq!(s.to_string(), "repository:org/app:pull,push");
        assert_eq!(
            Scope::parse("registry:catalog:*").unwrap(),
            Scope::catalog()
        );
        let s = Scope::parse("repository(plugin):a/b:pull").unwrap();
        assert_eq!(s.kind, "repository");
        let s = Scope::parse("repository:host:5000/a:pull").unwrap();
        assert_eq!(s.name, "host:5000/a");
        assert!(Scope::parse("repository:a:").unwrap().actions.is_empty());
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "repository",
            "repository:a",
            ":a:pull",
            "repository::pull",
            "x(y:a:b",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allows() {
        let s = Scope::repository("a/b", &["pull"]);
        assert!(s.allows("repository", "a/b", "pull"));
        assert!(!s.allows("repository", "a/b", "push"));
        assert!(!s.allows("repository", "a/c", "pull"));
        assert!(Scope::catalog().allows("registry", "catalog", "*"));
    }
}
