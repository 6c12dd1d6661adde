//! The management rules, exercised through the use-cases alone — no HTTP, no server — on a
//! real SQLite database in a temporary directory.

use std::sync::Arc;

use berth_content::{RegistryConfig, Service as Content};
use berth_core::{MemberKind, Permission, RepoName, Role};
use berth_meta::{Meta, MetaOptions};
use berth_storage::{BlobStore, FsStore};

use super::{Member, NewAccount, OrgChanges, RepoItem, UserChanges};
use crate::{Auth, AuthConfig, Caller, Error, Principal};

async fn service() -> (tempfile::TempDir, Auth, Caller) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let meta = Meta::connect(&url, &MetaOptions::default()).await.unwrap();
    meta.migrate().await.unwrap();
    let auth = Auth::new(meta, AuthConfig::default()).await.unwrap();
    auth.bootstrap_admin("root", Some("root-password".into()))
        .await
        .unwrap();
    let admin = auth.meta.user_by_name("root").await.unwrap().unwrap();
    (dir, auth, Caller::new(Principal::User(admin), None))
}

/// The registry's content use-cases over `auth`'s database and a blob store in `dir`.
fn content(dir: &tempfile::TempDir, auth: &Auth, delete_enabled: bool) -> Content {
    let store = BlobStore::Fs(FsStore::new(dir.path().join("storage")));
    let config = RegistryConfig {
        delete_enabled,
        ..RegistryConfig::default()
    };
    Content::new(auth.meta.clone(), store, Arc::new(config))
}

async fn as_user(auth: &Auth, name: &str) -> Caller {
    let u = auth.meta.user_by_name(name).await.unwrap().unwrap();
    Caller::new(Principal::User(u), None)
}

fn account(name: &str) -> NewAccount {
    NewAccount {
        name: name.into(),
        password: format!("{name}-password"),
        email: None,
        admin: false,
    }
}

#[tokio::test]
async fn the_last_admin_stays() {
    let (_d, auth, root) = service().await;
    let demote = UserChanges {
        admin: Some(false),
        ..Default::default()
    };
    assert!(matches!(
        auth.update_user(&root, "root", &demote).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        auth.delete_user(&root, "root").await,
        Err(Error::Conflict(_))
    ));
    // With a second admin, the first may go.
    let mut second = account("second");
    second.admin = true;
    auth.create_user(&root, &second).await.unwrap();
    auth.update_user(&root, "root", &demote).await.unwrap();
}

#[tokio::test]
async fn users_and_orgs_do_not_share_names() {
    let (_d, auth, root) = service().await;
    auth.create_user(&root, &account("dora")).await.unwrap();
    let dora = as_user(&auth, "dora").await;
    // dora's personal namespace is taken; so is an existing org's name for a new user.
    assert!(matches!(
        auth.create_org(&dora, "dora", false).await,
        Err(Error::Conflict(_))
    ));
    auth.create_org(&dora, "shop", false).await.unwrap();
    assert!(matches!(
        auth.create_user(&root, &account("shop")).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        auth.create_user(&root, &account("dora")).await,
        Err(Error::Conflict(_))
    ));
    // Names are validated as the registry validates them.
    assert!(matches!(
        auth.create_org(&dora, "Bad Name", false).await,
        Err(Error::Invalid { field: "name", .. })
    ));
    let mut short = account("erin");
    short.password = "short".into();
    assert!(matches!(
        auth.create_user(&root, &short).await,
        Err(Error::Invalid {
            field: "password",
            ..
        })
    ));
}

#[tokio::test]
async fn orgs_are_hidden_managed_by_role_and_kept_while_they_hold_repositories() {
    let (dir, auth, root) = service().await;
    for n in ["dora", "gus"] {
        auth.create_user(&root, &account(n)).await.unwrap();
    }
    let dora = as_user(&auth, "dora").await;
    let gus = as_user(&auth, "gus").await;
    let anonymous = Caller::new(Principal::Anonymous, None);
    auth.create_org(&dora, "shop", false).await.unwrap();
    // A private org is invisible to outsiders, as if it did not exist.
    assert!(matches!(
        auth.org(&gus, "shop").await,
        Err(Error::NotFound("organization"))
    ));
    assert!(matches!(
        auth.org(&anonymous, "shop").await,
        Err(Error::NotFound(_))
    ));
    // A guest sees it but may not change it or its members.
    let guest = Member {
        kind: MemberKind::User,
        name: "gus".into(),
        role: Role::Guest,
    };
    auth.set_member(&dora, "shop", &guest).await.unwrap();
    assert_eq!(auth.org(&gus, "shop").await.unwrap().org.name, "shop");
    let public = OrgChanges {
        public: Some(true),
        description: None,
    };
    assert!(matches!(
        auth.update_org(&gus, "shop", &public).await,
        Err(Error::Forbidden)
    ));
    assert!(matches!(
        auth.set_member(&gus, "shop", &guest).await,
        Err(Error::Forbidden)
    ));
    // Who is in the org and its robots stay hidden from a guest; its audit log does not.
    assert!(matches!(
        auth.org_access(&gus, "shop", Permission::ReadMembers).await,
        Err(Error::Forbidden)
    ));
    assert!(matches!(
        auth.list_members(&gus, "shop").await,
        Err(Error::Forbidden)
    ));
    assert!(auth
        .org_access(&gus, "shop", Permission::ReadLogs)
        .await
        .is_ok());
    // Made public, anyone reads it; anonymous callers are asked to sign in for more.
    auth.update_org(&dora, "shop", &public).await.unwrap();
    assert!(auth.org(&anonymous, "shop").await.is_ok());
    assert!(matches!(
        auth.list_members(&anonymous, "shop").await,
        Err(Error::BadCredentials)
    ));
    // An org with a repository is not deleted; once the repository is gone, it is.
    auth.meta
        .link_blob("shop/app", "sha256:00", 1)
        .await
        .unwrap();
    assert!(matches!(
        auth.delete_org(&dora, "shop").await,
        Err(Error::Conflict(_))
    ));
    let repo = RepoName::parse("shop/app").unwrap();
    let registry = content(&dir, &auth, true);
    assert!(matches!(
        auth.delete_repository_item(&gus, &registry, &repo, &RepoItem::Repository)
            .await,
        Err(Error::Forbidden)
    ));
    // With the registry's deletes disabled, the org admin is refused too, as on `/v2`.
    let frozen = content(&dir, &auth, false);
    assert!(matches!(
        auth.delete_repository_item(&dora, &frozen, &repo, &RepoItem::Repository)
            .await,
        Err(Error::Disabled(_))
    ));
    auth.delete_repository_item(&dora, &registry, &repo, &RepoItem::Repository)
        .await
        .unwrap();
    assert!(matches!(
        auth.delete_repository_item(&dora, &registry, &repo, &RepoItem::Repository)
            .await,
        Err(Error::NotFound("repository"))
    ));
    auth.delete_org(&dora, "shop").await.unwrap();
    // Every change was audited with its actor.
    let log = auth
        .audit_log(
            &root,
            &super::AuditFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    for want in [
        ("user:dora", "org.create"),
        ("user:dora", "org.member.set"),
        ("user:dora", "repository.delete"),
        ("user:dora", "org.delete"),
    ] {
        assert!(actions.contains(&want), "{want:?} not in {actions:?}");
    }
}

#[tokio::test]
async fn robot_rules_are_validated_and_the_secret_logs_in() {
    let (_d, auth, root) = service().await;
    auth.create_org(&root, "ci", false).await.unwrap();
    let mut spec = super::NewRobotSpec {
        name: "builder".into(),
        description: None,
        permissions: Vec::new(),
        expires_at: None,
    };
    assert!(matches!(
        auth.create_robot(&root, "ci", &spec).await,
        Err(Error::Invalid {
            field: "permissions",
            ..
        })
    ));
    spec.permissions =
        serde_json::from_str(r#"[{"repositories":"*","actions":["pull"]}]"#).unwrap();
    let made = auth.create_robot(&root, "ci", &spec).await.unwrap();
    assert!(matches!(
        auth.create_robot(&root, "ci", &spec).await,
        Err(Error::Conflict(_))
    ));
    let p = auth.login("ci+builder", &made.secret, None).await.unwrap();
    assert_eq!(p.actor(), "robot:ci+builder");
    auth.delete_robot(&root, "ci", "ci+builder").await.unwrap();
    assert!(matches!(
        auth.login("ci+builder", &made.secret, None).await,
        Err(Error::BadCredentials)
    ));
}

#[tokio::test]
async fn personal_tokens_log_in_as_their_user_until_revoked_or_expired() {
    let (_d, auth, root) = service().await;
    auth.create_user(&root, &account("pia")).await.unwrap();
    auth.create_user(&root, &account("max")).await.unwrap();
    let pia = as_user(&auth, "pia").await;
    let (row, secret) = auth
        .create_personal_token(&pia, "laptop", None)
        .await
        .unwrap();
    assert_eq!(row.name, "laptop");
    assert!(secret.starts_with(super::PERSONAL_TOKEN_PREFIX));
    // It logs in as pia (through the cache-free Basic path too), and only as pia.
    let p = auth.login("pia", &secret, None).await.unwrap();
    assert_eq!(p.user().unwrap().name, "pia");
    assert!(auth.login_basic("pia", &secret, None).await.is_ok());
    assert!(matches!(
        auth.login("max", &secret, None).await,
        Err(Error::BadCredentials)
    ));
    // The web UI's sign-in takes the password, never a token.
    assert!(matches!(
        auth.sign_in("pia", &secret, None).await,
        Err(Error::Invalid {
            field: "password",
            ..
        })
    ));
    assert!(auth.sign_in("pia", "pia-password", None).await.is_ok());
    // Names: unique per user, not empty; an expiry in the past is refused; robots and
    // anonymous callers hold none.
    assert!(matches!(
        auth.create_personal_token(&pia, "laptop", None).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        auth.create_personal_token(&pia, " ", None).await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        auth.create_personal_token(&pia, "old", Some(1)).await,
        Err(Error::Invalid { .. })
    ));
    let anonymous = Caller::new(Principal::Anonymous, None);
    assert!(auth.personal_tokens(&anonymous).await.is_err());
    // A disabled user's token stops; enabled again, it works.
    let disable = |d| UserChanges {
        disabled: Some(d),
        ..Default::default()
    };
    auth.update_user(&root, "pia", &disable(true))
        .await
        .unwrap();
    assert!(auth.login("pia", &secret, None).await.is_err());
    auth.update_user(&root, "pia", &disable(false))
        .await
        .unwrap();
    let pia = as_user(&auth, "pia").await;
    assert!(auth.login("pia", &secret, None).await.is_ok());
    // Revoked: refused at once, also on the Basic path.
    let names: Vec<String> = auth
        .personal_tokens(&pia)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["laptop"]);
    auth.revoke_personal_token(&pia, "laptop").await.unwrap();
    assert!(matches!(
        auth.login_basic("pia", &secret, None).await,
        Err(Error::BadCredentials)
    ));
    assert!(matches!(
        auth.revoke_personal_token(&pia, "laptop").await,
        Err(Error::NotFound(_))
    ));
    // The password still works as before.
    assert!(auth.login("pia", "pia-password", None).await.is_ok());
}
