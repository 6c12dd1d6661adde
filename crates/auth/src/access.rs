//! The access decision fed with facts: what a principal may do to a repository, its role in an
//! org, and requested ∩ permitted scopes for a token.

use std::collections::BTreeSet;

use berth_core::{Action, OrgFacts, RepoName, Role, Scope, Subject};

use crate::login::robot_principal;
use crate::{Auth, Claims, Error, Principal};

impl Auth {
    /// The principal an access token was issued to, loaded fresh (for views that filter by
    /// identity, like the catalog). A subject that no longer exists is anonymous.
    pub async fn principal_of(&self, claims: &Claims) -> Result<Principal, Error> {
        if claims.sub.is_empty() {
            return Ok(Principal::Anonymous);
        }
        if let Some((org, robot)) = claims.sub.split_once('+') {
            let r = self.meta.robot(org, robot).await?;
            return Ok(r.and_then(robot_principal).unwrap_or(Principal::Anonymous));
        }
        Ok(self
            .meta
            .user_by_name(&claims.sub)
            .await?
            .filter(|u| !u.disabled)
            .map(Principal::User)
            .unwrap_or(Principal::Anonymous))
    }

    /// What `p` may do to repository `repo`.
    pub async fn repo_actions(&self, p: &Principal, repo: &str) -> Result<BTreeSet<Action>, Error> {
        if p.is_admin() {
            return Ok(berth_core::role::repo_actions(
                &Subject::User {
                    admin: true,
                    role: None,
                },
                repo,
                None,
            ));
        }
        let org_name = repo.split('/').next().unwrap_or(repo);
        let Some(org) = self.meta.org_by_name(org_name).await? else {
            return Ok(BTreeSet::new());
        };
        let facts = Some(OrgFacts { public: org.public });
        let actions = match p {
            Principal::Anonymous => {
                berth_core::role::repo_actions(&Subject::Anonymous, repo, facts)
            }
            Principal::User(u) => {
                let role = self.role_in(org.id, u.id).await?;
                berth_core::role::repo_actions(&Subject::User { admin: false, role }, repo, facts)
            }
            Principal::Robot(r, rules) => {
                berth_core::role::repo_actions(&Subject::Robot { org: &r.org, rules }, repo, facts)
            }
        };
        Ok(actions)
    }

    /// The strongest role `user_id` holds in `org_id`, directly or through a group.
    pub async fn role_in(&self, org_id: i64, user_id: i64) -> Result<Option<Role>, Error> {
        Ok(self
            .meta
            .member_roles(org_id, user_id)
            .await?
            .iter()
            .filter_map(|r| Role::parse(r).ok())
            .min())
    }

    /// Requested ∩ permitted, scope by scope; a scope with nothing granted is left out.
    /// A system admin granted push into an org that does not exist yet creates it (private).
    pub async fn grant(&self, p: &Principal, requested: &[Scope]) -> Result<Vec<Scope>, Error> {
        let mut out: Vec<Scope> = Vec::new();
        for s in requested {
            let granted: BTreeSet<String> = match (s.kind.as_str(), s.name.as_str()) {
                ("registry", "catalog") => {
                    if matches!(p, Principal::Anonymous) || !s.actions.contains("*") {
                        BTreeSet::new()
                    } else {
                        ["*".to_owned()].into()
                    }
                }
                ("repository", name) => {
                    let Ok(repo) = RepoName::parse(name) else {
                        continue;
                    };
                    let allowed = self.repo_actions(p, repo.as_str()).await?;
                    let wants_all = s.actions.contains("*");
                    let g: BTreeSet<String> = allowed
                        .iter()
                        .map(|a| a.as_str().to_owned())
                        .filter(|a| wants_all || s.actions.contains(a))
                        .collect();
                    if p.is_admin()
                        && g.contains("push")
                        && repo.as_str().contains('/')
                        && self.meta.org_by_name(repo.org()).await?.is_none()
                    {
                        self.meta.ensure_org(repo.org()).await?;
                    }
                    g
                }
                _ => BTreeSet::new(),
            };
            if granted.is_empty() {
                continue;
            }
            match out
                .iter_mut()
                .find(|o| o.kind == s.kind && o.name == s.name)
            {
                Some(o) => o.actions.extend(granted),
                None => out.push(Scope {
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    actions: granted,
                }),
            }
        }
        Ok(out)
    }
}
