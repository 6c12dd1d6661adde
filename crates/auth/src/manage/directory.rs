//! The directory as administrators use it (system admins only): test the settings, and search
//! its users and groups when adding members. Without a configured directory these are a
//! conflict that says so.

use berth_directory::{DirError, Directory, Group, PingReport, UserHit};

use crate::{Auth, Caller, Error, Result};

/// The most entries a directory search returns.
pub const MAX_DIRECTORY_HITS: usize = 100;

/// What a settings test found: where it connected and what it read, or why it failed.
#[derive(Debug, Clone)]
pub enum DirectoryTest {
    Ok(PingReport),
    Failed(String),
}

impl Auth {
    fn configured_directory(&self, c: &Caller) -> Result<&Directory> {
        c.require_admin()?;
        self.directory
            .as_deref()
            .ok_or_else(|| Error::conflict("no directory is configured (ldap.enabled is false)"))
    }

    /// Connects, binds as the search account and reads the base DNs; a failure is an answer
    /// here (the reason, for the administrator), not an error.
    pub async fn test_directory(&self, c: &Caller) -> Result<DirectoryTest> {
        let dir = self.configured_directory(c)?;
        Ok(match dir.ping().await {
            Ok(r) => DirectoryTest::Ok(r),
            Err(e) => DirectoryTest::Failed(e.to_string()),
        })
    }

    /// Directory users whose login name, display name or mail contains `q`.
    pub async fn search_directory_users(
        &self,
        c: &Caller,
        q: &str,
        limit: usize,
    ) -> Result<Vec<UserHit>> {
        let dir = self.configured_directory(c)?;
        check_query(q)?;
        dir.search_users(q, limit.clamp(1, MAX_DIRECTORY_HITS))
            .await
            .map_err(unavailable)
    }

    /// Directory groups whose name contains `q`.
    pub async fn search_directory_groups(
        &self,
        c: &Caller,
        q: &str,
        limit: usize,
    ) -> Result<Vec<Group>> {
        let dir = self.configured_directory(c)?;
        check_query(q)?;
        dir.search_groups(q, limit.clamp(1, MAX_DIRECTORY_HITS))
            .await
            .map_err(unavailable)
    }
}

fn check_query(q: &str) -> Result<()> {
    if q.chars().count() > 128 || q.contains('\0') {
        return Err(Error::invalid(
            "q",
            "a search is at most 128 characters, without NUL",
        ));
    }
    Ok(())
}

fn unavailable(e: DirError) -> Error {
    Error::Unavailable {
        what: "directory",
        cause: e.to_string(),
    }
}
