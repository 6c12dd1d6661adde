//! Connecting, migrating and the error type of the metadata store.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The database cannot be reached or is overloaded; worth a retry (HTTP 503).
    #[error("metadata database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("metadata database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for MetaError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => MetaError::Unavailable(e),
            sqlx::Error::Database(ref d) if is_busy(d.as_ref()) => MetaError::Unavailable(e),
            other => MetaError::Database(other),
        }
    }
}

/// SQLite's "database is locked" and PostgreSQL's shutdown / connection codes.
fn is_busy(e: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        e.code().as_deref(),
        Some("5" | "6" | "57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006")
    )
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct MetaOptions {
    /// Upper bound of pooled connections (readers, for SQLite).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing with 503.
    pub acquire_timeout: Duration,
    /// SQLite only: `PRAGMA synchronous=FULL` (fsync on every commit) instead of `NORMAL`.
    pub sqlite_sync_full: bool,
}

impl Default for MetaOptions {
    fn default() -> Self {
        MetaOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            sqlite_sync_full: true,
        }
    }
}

/// The metadata store. Cheap to clone (pools are reference counted).
///
/// SQLite allows one writer at a time; a single-connection write pool serialises writers in
/// process instead of letting them collide on the file lock, while readers use the other pool
/// in parallel (WAL). PostgreSQL uses one pool for both.
#[derive(Clone, Debug)]
pub struct Meta {
    pub(crate) read: AnyPool,
    pub(crate) write: AnyPool,
    backend: Backend,
}

impl Meta {
    /// Connects to `url` (`sqlite://path?mode=rwc`, `postgres://…`) without migrating.
    pub async fn connect(url: &str, opts: &MetaOptions) -> Result<Meta, MetaError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(MetaError::UnsupportedUrl(url.to_owned()));
        };
        let connect = AnyConnectOptions::from_str(url)?;
        match backend {
            Backend::Sqlite => {
                let sync = if opts.sqlite_sync_full {
                    "FULL"
                } else {
                    "NORMAL"
                };
                let pragmas = format!(
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;"
                );
                let pool = |n: u32| {
                    let pragmas = pragmas.clone();
                    AnyPoolOptions::new()
                        .max_connections(n)
                        .acquire_timeout(opts.acquire_timeout)
                        .after_connect(move |conn, _| {
                            let pragmas = pragmas.clone();
                            Box::pin(async move {
                                conn.execute(pragmas.as_str()).await?;
                                Ok(())
                            })
                        })
                };
                // The writer first, so WAL mode is set before readers open the file.
                let write = pool(1).connect_with(connect.clone()).await?;
                let read = pool(opts.max_connections.max(1))
                    .connect_with(connect)
                    .await?;
                Ok(Meta {
                    read,
                    write,
                    backend,
                })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(connect)
                    .await?;
                Ok(Meta {
                    read: pool.clone(),
                    write: pool,
                    backend,
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations of this backend's dialect.
    pub async fn migrate(&self) -> Result<(), MetaError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("../../migrations/sqlite")
                    .run(&self.write)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("../../migrations/postgres")
                    .run(&self.write)
                    .await?
            }
        }
        Ok(())
    }

    /// A trivial query, for readiness checks.
    pub async fn ping(&self) -> Result<(), MetaError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Closes both pools (graceful shutdown).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// `$from, $from+1, …` placeholders for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholder_list() {
        assert_eq!(super::placeholders(2, 3), "$2,$3,$4");
        assert_eq!(super::placeholders(1, 0), "");
    }
}
