//! Identities: users, groups, organizations, their members and robot accounts, one module per
//! aggregate, plus the few helpers they share.
//!
//! Booleans are stored as 0/1 integers on both dialects. A user's `epoch` is the generation of
//! their credentials: a password change or a disable bumps it, which invalidates refresh tokens
//! and cached credential checks issued under an older epoch.

use sqlx::{Any, Transaction};

use crate::MetaError;

mod directory_users;
mod groups;
mod members;
mod orgs;
mod personal_tokens;
mod robots;
mod users;

pub use directory_users::{DirectorySync, DirectorySyncError, DirectoryUser};
pub use groups::GroupRow;
pub use members::MemberRow;
pub(crate) use members::MEMBER_ORGS;
pub use orgs::OrgRow;
pub use personal_tokens::PersonalTokenRow;
pub use robots::{NewRobot, RobotRow};
pub use users::{NewUser, UserPatch, UserRow};

/// A boolean as the 0/1 integer the schema stores.
fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Revokes every refresh token of subject `id` of `kind` (`user` or `robot`).
pub(crate) async fn revoke_subject_tx(
    tx: &mut Transaction<'_, Any>,
    kind: &str,
    id: i64,
) -> Result<(), MetaError> {
    sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE kind = $1 AND subject_id = $2")
        .bind(kind)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A migrated SQLite store in a fresh temporary directory, for the aggregates' unit tests.
#[cfg(test)]
pub(crate) async fn test_meta() -> (tempfile::TempDir, crate::Meta) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let meta = crate::Meta::connect(&url, &crate::MetaOptions::default())
        .await
        .unwrap();
    meta.migrate().await.unwrap();
    (dir, meta)
}

/// A local, non-admin user named `name`, for the aggregates' unit tests.
#[cfg(test)]
fn test_user(name: &str) -> NewUser<'_> {
    NewUser {
        name,
        source: "local",
        ..NewUser::default()
    }
}

/// A robot of org `org` named `name` with no rules, for the aggregates' unit tests.
#[cfg(test)]
fn test_robot<'a>(org: &'a str, name: &'a str) -> NewRobot<'a> {
    NewRobot {
        org,
        name,
        description: None,
        secret_hash: "$argon2id$secret",
        rules: "[]",
        expires_at: None,
        created_by: None,
    }
}

/// Stores an unexpiring refresh token `hash` of subject `id` of `kind`, for the unit tests.
#[cfg(test)]
async fn test_token(m: &crate::Meta, hash: &str, kind: &str, id: i64) {
    m.insert_refresh_token(hash, kind, id, 0, i64::MAX)
        .await
        .unwrap();
}
