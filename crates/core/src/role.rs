//! Roles, permissions and the access decision.
//!
//! Roles are Harbor's presets expressed as data: each [`Role`] maps to a set of
//! [`Permission`]s, so a custom role is one more table entry, not new code. [`repo_actions`]
//! decides what a subject may do to one repository; the token service grants
//! requested ∩ that. Pure logic, no I/O: the callers load the facts (the org, the caller's
//! role in it, a robot's rules) and this module decides.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Action;

/// What a member may do in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    /// Pull images and artifacts; see the org's repositories and tags.
    Pull,
    /// Push: create repositories, blobs, manifests; create and move tags.
    Push,
    /// Delete manifests, tags, blobs and repositories.
    Delete,
    /// Read the org's settings and repository list.
    ReadOrg,
    /// Change the org's settings (public flag) or delete the org.
    ManageOrg,
    /// List the org's members.
    ReadMembers,
    /// Add, change and remove members.
    ManageMembers,
    /// List the org's robot accounts.
    ReadRobots,
    /// Create and revoke robot accounts.
    ManageRobots,
    /// Read the org's audit log.
    ReadLogs,
}

impl Permission {
    /// Every permission, in the order a roles table lists them.
    pub const ALL: [Permission; 10] = [
        Permission::Pull,
        Permission::Push,
        Permission::Delete,
        Permission::ReadOrg,
        Permission::ManageOrg,
        Permission::ReadMembers,
        Permission::ManageMembers,
        Permission::ReadRobots,
        Permission::ManageRobots,
        Permission::ReadLogs,
    ];

    /// What the permission allows, for people.
    pub fn description(self) -> &'static str {
        match self {
            Permission::Pull => "Pull images and artifacts; see repositories and tags",
            Permission::Push => "Push images, create repositories, create and move tags",
            Permission::Delete => "Delete tags, manifests and repositories",
            Permission::ReadOrg => "See the organization and its repositories",
            Permission::ManageOrg => "Change the organization's settings or delete it",
            Permission::ReadMembers => "See the members",
            Permission::ManageMembers => "Add, change and remove members",
            Permission::ReadRobots => "See the robot accounts",
            Permission::ManageRobots => "Create and revoke robot accounts",
            Permission::ReadLogs => "Read the organization's audit log",
        }
    }
}

/// The preset roles, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    Maintainer,
    Developer,
    Guest,
    LimitedGuest,
}

/// A role name that is not one of the presets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use admin, maintainer, developer, guest or limited-guest")]
pub struct RoleError(pub String);

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Maintainer,
        Role::Developer,
        Role::Guest,
        Role::LimitedGuest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Maintainer => "maintainer",
            Role::Developer => "developer",
            Role::Guest => "guest",
            Role::LimitedGuest => "limited-guest",
        }
    }

    pub fn parse(s: &str) -> Result<Role, RoleError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleError(s.chars().take(64).collect()))
    }

    /// The role's permissions: the data behind every decision.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &[
                Pull,
                Push,
                Delete,
                ReadOrg,
                ManageOrg,
                ReadMembers,
                ManageMembers,
                ReadRobots,
                ManageRobots,
                ReadLogs,
            ],
            Role::Maintainer => &[
                Pull,
                Push,
                Delete,
                ReadOrg,
                ReadMembers,
                ReadRobots,
                ManageRobots,
                ReadLogs,
            ],
            Role::Developer => &[Pull, Push, ReadOrg, ReadMembers, ReadRobots, ReadLogs],
            Role::Guest => &[Pull, ReadOrg, ReadLogs],
            Role::LimitedGuest => &[Pull, ReadOrg],
        }
    }

    pub fn can(self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an org member is: a user account or a group (local, or a directory group's DN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    User,
    Group,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::User => "user",
            MemberKind::Group => "group",
        }
    }

    /// `user` or `group`; anything else is `None`.
    pub fn parse(s: &str) -> Option<MemberKind> {
        match s {
            "user" => Some(MemberKind::User),
            "group" => Some(MemberKind::Group),
            _ => None,
        }
    }
}

impl fmt::Display for MemberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One permission of a robot account: `actions` on the org's repositories whose path inside
/// the org matches `repositories` (`*` for all; `*` matches any run of characters, `/` too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotRule {
    pub repositories: String,
    pub actions: BTreeSet<RobotAction>,
}

/// What a robot rule may grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RobotAction {
    Pull,
    Push,
    Delete,
}

impl RobotAction {
    fn action(self) -> Action {
        match self {
            RobotAction::Pull => Action::Pull,
            RobotAction::Push => Action::Push,
            RobotAction::Delete => Action::Delete,
        }
    }
}

/// Who asks, with the facts the decision needs about them.
#[derive(Debug, Clone)]
pub enum Subject<'a> {
    Anonymous,
    /// A user: system admin or not, and the strongest role they hold in the org concerned
    /// (directly or through a group), if any.
    User {
        admin: bool,
        role: Option<Role>,
    },
    /// A robot of org `org` with its rules (already known to be enabled and unexpired).
    Robot {
        org: &'a str,
        rules: &'a [RobotRule],
    },
}

/// The facts about the org a repository lives in.
#[derive(Debug, Clone, Copy)]
pub struct OrgFacts {
    pub public: bool,
}

/// The actions `subject` may take on repository `repo` (full name, `org/path…`), whose org
/// is described by `org` (`None`: the org does not exist). System admins may do everything
/// everywhere (a push to a missing org creates it); everyone may pull from a public org.
pub fn repo_actions(subject: &Subject<'_>, repo: &str, org: Option<OrgFacts>) -> BTreeSet<Action> {
    let mut out = BTreeSet::new();
    if let Subject::User { admin: true, .. } = subject {
        out.extend([Action::Pull, Action::Push, Action::Delete]);
        return out;
    }
    let Some(org) = org else { return out };
    if org.public {
        out.insert(Action::Pull);
    }
    match subject {
        Subject::Anonymous => {}
        Subject::User { role, .. } => {
            if let Some(role) = role {
                for (p, a) in [
                    (Permission::Pull, Action::Pull),
                    (Permission::Push, Action::Push),
                    (Permission::Delete, Action::Delete),
                ] {
                    if role.can(p) {
                        out.insert(a);
                    }
                }
            }
        }
        Subject::Robot { org: own, rules } => {
            let (repo_org, path) = repo.split_once('/').unwrap_or((repo, ""));
            if repo_org == *own {
                for rule in rules.iter() {
                    if glob_match(&rule.repositories, path) {
                        out.extend(rule.actions.iter().map(|a| a.action()));
                    }
                }
            }
        }
    }
    out
}

/// `*` matches any run of characters (including none and `/`); everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn set(a: &[Action]) -> BTreeSet<Action> {
        a.iter().copied().collect()
    }

    #[test]
    fn roles_round_trip_and_nest() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert!(Role::parse("owner").is_err());
        // Each preset holds every permission of the ones below it, except that a limited guest
        // is a strict subset of a guest.
        for w in Role::ALL.windows(2) {
            for p in w[1].permissions() {
                assert!(w[0].can(*p), "{} lacks {p:?} of {}", w[0], w[1]);
            }
        }
        assert!(!Role::LimitedGuest.can(Permission::ReadMembers));
        // A guest reads the org and its audit log, but not who is in it or its robots.
        assert!(!Role::Guest.can(Permission::ReadMembers));
        assert!(!Role::Guest.can(Permission::ReadRobots));
        assert!(Role::Guest.can(Permission::ReadLogs));
        assert!(!Role::LimitedGuest.can(Permission::ReadLogs));
        assert!(!Role::Developer.can(Permission::Delete));
        assert!(Role::Maintainer.can(Permission::ManageRobots));
        assert!(!Role::Maintainer.can(Permission::ManageMembers));
    }

    #[test]
    fn decisions() {
        let private = Some(OrgFacts { public: false });
        let public = Some(OrgFacts { public: true });
        let user = |role| Subject::User { admin: false, role };
        assert_eq!(repo_actions(&Subject::Anonymous, "o/a", private), set(&[]));
        assert_eq!(
            repo_actions(&Subject::Anonymous, "o/a", public),
            set(&[Pull])
        );
        assert_eq!(repo_actions(&Subject::Anonymous, "o/a", None), set(&[]));
        assert_eq!(repo_actions(&user(None), "o/a", public), set(&[Pull]));
        assert_eq!(repo_actions(&user(None), "o/a", private), set(&[]));
        assert_eq!(
            repo_actions(&user(Some(Role::Developer)), "o/a", private),
            set(&[Pull, Push])
        );
        assert_eq!(
            repo_actions(&user(Some(Role::Maintainer)), "o/a", private),
            set(&[Pull, Push, Delete])
        );
        assert_eq!(
            repo_actions(&user(Some(Role::LimitedGuest)), "o/a", private),
            set(&[Pull])
        );
        let admin = Subject::User {
            admin: true,
            role: None,
        };
        assert_eq!(
            repo_actions(&admin, "new/a", None),
            set(&[Pull, Push, Delete])
        );
    }

    #[test]
    fn robots() {
        let rules = vec![
            RobotRule {
                repositories: "*".into(),
                actions: [RobotAction::Pull].into(),
            },
            RobotRule {
                repositories: "ci/*".into(),
                actions: [RobotAction::Push].into(),
            },
        ];
        let r = Subject::Robot {
            org: "o",
            rules: &rules,
        };
        let private = Some(OrgFacts { public: false });
        assert_eq!(repo_actions(&r, "o/app", private), set(&[Pull]));
        assert_eq!(repo_actions(&r, "o/ci/app", private), set(&[Pull, Push]));
        assert_eq!(repo_actions(&r, "other/app", private), set(&[]));
        assert_eq!(
            repo_actions(&r, "other/app", Some(OrgFacts { public: true })),
            set(&[Pull])
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "a/b"));
        assert!(glob_match("a*", "abc"));
        assert!(glob_match("*c", "abc"));
        assert!(glob_match("a*c", "abc"));
        assert!(glob_match("a*b*c", "a-b-c"));
        assert!(!glob_match("a*b*c", "a-c"));
        assert!(!glob_match("ab", "abc"));
        assert!(!glob_match("a*a", "a"));
        assert!(glob_match("x", "x"));
    }
}
