//! Web UI sessions: one row per signed-in browser, keyed by the SHA-256 of its cookie token,
//! so every replica serves every session and a stolen database holds no usable cookie.

use sqlx::Row;

use crate::{now_ms, Meta, MetaError};

/// A stored UI session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user_id: i64,
    /// The user's credential epoch at sign-in.
    pub epoch: i64,
    pub created_at: i64,
    pub seen_at: i64,
    pub expires_at: i64,
}

impl Meta {
    pub async fn insert_session(
        &self,
        hash: &str,
        user_id: i64,
        epoch: i64,
        expires_at: i64,
    ) -> Result<(), MetaError> {
        self.timed(async move {
            let now = now_ms();
            sqlx::query(
                "INSERT INTO ui_sessions (hash, user_id, epoch, created_at, seen_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $4, $5)",
            )
            .bind(hash)
            .bind(user_id)
            .bind(epoch)
            .bind(now)
            .bind(expires_at)
            .execute(&self.write)
            .await?;
            Ok(())
        })
        .await
    }

    /// The session stored under `hash`. Read from the primary: a session created or ended a
    /// moment ago on another replica must be seen as it is now.
    pub async fn session(&self, hash: &str) -> Result<Option<SessionRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(
                "SELECT user_id, epoch, created_at, seen_at, expires_at FROM ui_sessions \
                 WHERE hash = $1",
            )
            .bind(hash)
            .fetch_optional(&self.write)
            .await?;
            row.map(|r| {
                Ok(SessionRow {
                    user_id: r.try_get(0)?,
                    epoch: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                    seen_at: r.try_get(3)?,
                    expires_at: r.try_get(4)?,
                })
            })
            .transpose()
        })
        .await
    }

    /// Records activity on a session (idle expiry counts from `seen_at`).
    pub async fn touch_session(&self, hash: &str, seen_at: i64) -> Result<(), MetaError> {
        self.timed(async move {
            sqlx::query("UPDATE ui_sessions SET seen_at = $2 WHERE hash = $1")
                .bind(hash)
                .bind(seen_at)
                .execute(&self.write)
                .await?;
            Ok(())
        })
        .await
    }

    /// Ends one session (sign-out); false when there was none.
    pub async fn delete_session(&self, hash: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = sqlx::query("DELETE FROM ui_sessions WHERE hash = $1")
                .bind(hash)
                .execute(&self.write)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    /// Deletes sessions past their absolute expiry or idle since before `idle_before`
    /// (background cleanup); returns how many went.
    pub async fn purge_sessions(&self, now: i64, idle_before: i64) -> Result<u64, MetaError> {
        self.timed(async move {
            Ok(
                sqlx::query("DELETE FROM ui_sessions WHERE expires_at < $1 OR seen_at < $2")
                    .bind(now)
                    .bind(idle_before)
                    .execute(&self.write)
                    .await?
                    .rows_affected(),
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::{Meta, MetaOptions, NewUser};

    #[tokio::test]
    async fn sessions_are_stored_touched_ended_and_purged() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
        let meta = Meta::connect(&url, &MetaOptions::default()).await.unwrap();
        meta.migrate().await.unwrap();
        let user = meta
            .create_user(&NewUser {
                name: "ann",
                email: None,
                password_hash: None,
                admin: false,
                source: "local",
            })
            .await
            .unwrap();
        meta.insert_session("h1", user.id, 0, 10_000_000_000_000)
            .await
            .unwrap();
        meta.insert_session("h2", user.id, 0, 1).await.unwrap();
        let s = meta.session("h1").await.unwrap().unwrap();
        assert_eq!((s.user_id, s.epoch), (user.id, 0));
        meta.touch_session("h1", s.seen_at + 5).await.unwrap();
        assert_eq!(
            meta.session("h1").await.unwrap().unwrap().seen_at,
            s.seen_at + 5
        );
        // h2 is past its absolute expiry; h1 is neither expired nor idle.
        assert_eq!(meta.purge_sessions(s.seen_at, 0).await.unwrap(), 1);
        assert!(meta.session("h2").await.unwrap().is_none());
        assert!(meta.delete_session("h1").await.unwrap());
        assert!(!meta.delete_session("h1").await.unwrap());
        assert!(meta.session("h1").await.unwrap().is_none());
    }
}
