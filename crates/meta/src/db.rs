//! Connecting, migrating and the error type of the metadata store.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::ManifestCache;

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
    /// An operation did not finish in time (the database stopped answering): worth a retry.
    #[error("metadata database did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unsupported database URL {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    /// A row with the same unique key exists (a user, org, member or robot name).
    #[error("already exists")]
    Conflict,
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
            sqlx::Error::Database(ref d) if is_unique_violation(d.as_ref()) => MetaError::Conflict,
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

/// SQLite's UNIQUE / PRIMARY KEY constraint codes and PostgreSQL's `unique_violation`.
fn is_unique_violation(e: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(e.code().as_deref(), Some("2067" | "1555" | "23505"))
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
    /// Longest time one metadata operation may take (a database that stopped answering
    /// without closing its connections); past it the operation fails as unavailable (503).
    pub op_timeout: Duration,
    /// Memory for the manifest cache (0: off).
    pub manifest_cache_bytes: usize,
    /// Also cache on PostgreSQL (several replicas): other replicas then serve a moved or
    /// deleted tag's previous manifest until the change notification reaches them (about a
    /// millisecond on one network). Off by default: every replica sees every push at once.
    pub manifest_cache_on_postgres: bool,
}

impl Default for MetaOptions {
    fn default() -> Self {
        MetaOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            sqlite_sync_full: true,
            op_timeout: Duration::from_secs(10),
            manifest_cache_bytes: 16 << 20,
            manifest_cache_on_postgres: false,
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
    pub(crate) cache: Arc<ManifestCache>,
    url: Arc<str>,
    sqlite_sync_full: bool,
    pub(crate) op_timeout: Duration,
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
                    cache: Arc::new(ManifestCache::new(opts.manifest_cache_bytes)),
                    url: url.into(),
                    sqlite_sync_full: opts.sqlite_sync_full,
                    op_timeout: opts.op_timeout,
                })
            }
            Backend::Postgres => {
                let pool = postgres_pool(opts).connect_with(connect).await?;
                let cache = ManifestCache::new(if opts.manifest_cache_on_postgres {
                    opts.manifest_cache_bytes
                } else {
                    0
                });
                // Off until the invalidation listener runs (see `run_cache_listener`).
                cache.disable();
                Ok(Meta {
                    read: pool.clone(),
                    write: pool,
                    backend,
                    cache: Arc::new(cache),
                    url: url.into(),
                    sqlite_sync_full: false,
                    op_timeout: opts.op_timeout,
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

    /// Keeps the manifest cache coherent with other replicas: listens for `berth_manifests`
    /// notifications on a dedicated PostgreSQL connection and drops the named repository's
    /// entries; while that connection is down the cache is off. Runs until dropped; returns at
    /// once for SQLite (a single process owns the database, writes invalidate in process).
    pub async fn run_cache_listener(&self) {
        if self.backend != Backend::Postgres || !self.cache.can_enable() {
            return;
        }
        let mut delay = Duration::from_millis(200);
        loop {
            match self.listen_once().await {
                Ok(()) => delay = Duration::from_millis(200),
                Err(e) => {
                    tracing::warn!(error = %e, "manifest cache: invalidation feed down, cache off");
                }
            }
            self.cache.disable();
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn listen_once(&self) -> Result<(), sqlx::Error> {
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(crate::cache::CHANNEL).await?;
        self.cache.enable();
        tracing::debug!("manifest cache: invalidation feed up");
        loop {
            // `try_recv` reports a lost connection (Ok(None)) instead of reconnecting silently,
            // which would drop the notifications sent in between.
            match listener.try_recv().await? {
                Some(n) => self.cache.invalidate(n.payload()),
                None => return Ok(()),
            }
        }
    }

    /// Runs one metadata operation with the operation timeout. A query cut off this way leaves
    /// its connection mid-protocol; sqlx closes such a connection instead of reusing it.
    pub(crate) async fn timed<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, MetaError>>,
    ) -> Result<T, MetaError> {
        match tokio::time::timeout(self.op_timeout, op).await {
            Ok(r) => r,
            Err(_) => Err(MetaError::Timeout(self.op_timeout)),
        }
    }

    /// Runs one write whose loss in a power failure costs nothing but a client retry (upload
    /// session bookkeeping): on SQLite with `synchronous=FULL` it commits without its own fsync
    /// (`NORMAL` for this statement; the WAL keeps it ordered before every later, fsynced
    /// commit, and a process crash loses nothing). Everything else behaves as `execute`.
    /// `bind` binds owned values (the statement text is wrapped, so it cannot borrow). Returns
    /// the number of rows the statement returns: give it a `RETURNING` clause to count the rows
    /// it changed (SQLite's change counter is not reset by the pragmas around it).
    pub(crate) async fn execute_relaxed(
        &self,
        sql: &str,
        bind: impl for<'a> FnOnce(
            sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments<'a>>,
        )
            -> sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments<'a>>,
    ) -> Result<u64, MetaError> {
        if !(self.backend == Backend::Sqlite && self.sqlite_sync_full) {
            return Ok(bind(sqlx::query(sql)).fetch_all(&self.write).await?.len() as u64);
        }
        // One trip to the connection's worker thread: the statement between the two pragmas.
        let relaxed = format!("PRAGMA synchronous=NORMAL; {sql}; PRAGMA synchronous=FULL");
        let mut conn = self.write.acquire().await?;
        let result = bind(sqlx::query(&relaxed)).fetch_all(&mut *conn).await;
        if result.is_err() {
            // The statement failed before the last pragma ran.
            if let Err(e) = conn.execute("PRAGMA synchronous=FULL").await {
                // Never hand a relaxed connection back to the pool.
                tracing::error!(error = %e, "could not restore synchronous=FULL; dropping the connection");
                drop(conn.detach());
            }
        }
        Ok(result?.len() as u64)
    }

    /// A trivial query, for readiness checks.
    pub async fn ping(&self) -> Result<(), MetaError> {
        self.timed(async move {
            sqlx::query("SELECT 1").execute(&self.read).await?;
            Ok(())
        })
        .await
    }

    /// Closes both pools (graceful shutdown).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// The PostgreSQL pool's settings. A connection is handed out only outside a transaction:
/// a `BEGIN` cut off by the operation timeout after it reached the server leaves the session
/// inside a transaction sqlx does not know of (it counts a transaction once the server's
/// answer is read, and rolls back on drop only what it counted). Without the check the next
/// borrower's writes would go into that transaction and never be committed; with it such a
/// connection is closed (the server then rolls the transaction back) and another one opened.
/// The check replaces sqlx's ping of an idle connection, so borrowing still costs one round
/// trip; it also finds a dead connection, as the ping did.
fn postgres_pool(opts: &MetaOptions) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(opts.max_connections.max(2))
        .acquire_timeout(opts.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, _| Box::pin(outside_transaction(conn)))
}

/// Whether `conn`'s session is outside a transaction. A statement outside one runs in a
/// transaction of its own, which starts at the instant the statement does; inside an earlier
/// `BEGIN` the transaction is older. This holds for the simple query protocol (one message:
/// `raw_sql`), not for the extended one, where Parse, Bind and Execute each restart the
/// statement clock after the implicit transaction began (a prepared query here closed healthy
/// connections under load).
async fn outside_transaction(conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    use sqlx::{Executor, Row};
    // A plain string without arguments goes out as one simple-protocol Query message.
    let row = conn
        .fetch_one("SELECT statement_timestamp() = transaction_timestamp()")
        .await?;
    let outside: bool = row.try_get(0)?;
    if !outside {
        tracing::warn!(
            "a pooled database connection was left inside a transaction (a BEGIN cut off by the operation timeout); closing it"
        );
    }
    Ok(outside)
}

/// The `id` of the row of `table` named `name`, inside a write transaction.
pub(crate) async fn id_by_name(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &'static str,
    name: &str,
) -> Result<Option<i64>, MetaError> {
    let row = sqlx::query(&format!("SELECT id FROM {table} WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|r| sqlx::Row::try_get(&r, 0)).transpose()?)
}

/// SQL that is true when repository name `repo` lies in org `org` (both SQL expressions):
/// its first path component is the org. One spelling for every org-scoped query.
pub(crate) fn in_org(repo: &str, org: &str) -> String {
    format!("substr({repo}, 1, length({org}) + 1) = {org} || '/'")
}

/// `text` with the `LIKE` wildcards (`%`, `_`) and the escape character (`\`) escaped, for a
/// pattern used with `ESCAPE '\'`.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `LIKE` pattern (with `ESCAPE '\'`) matching names that contain `text`; every name when
/// `text` is empty.
pub(crate) fn like_pattern(text: &str) -> String {
    format!("%{}%", like_escape(text))
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
    use std::time::Duration;

    #[test]
    fn placeholder_list() {
        assert_eq!(super::placeholders(2, 3), "$2,$3,$4");
        assert_eq!(super::placeholders(1, 0), "");
    }

    /// Resumes a stopped PostgreSQL backend, even when the test fails.
    struct Resume(String);

    impl Drop for Resume {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &self.0])
                .status();
        }
    }

    /// On the real server (`scripts/test.sh` starts it): a `BEGIN` cut off after it reached
    /// the server must not leave the pool's connection inside a transaction that swallows the
    /// next borrower's writes. The backend process is stopped so that the `BEGIN` is sent and
    /// never answered within the timeout; it runs once resumed.
    #[tokio::test]
    async fn a_begin_cut_off_does_not_swallow_later_writes() {
        use sqlx::{Connection, Executor};
        let admin = std::env::var("BERTH_IT_PG_ADMIN_URL")
            .expect("BERTH_IT_PG_ADMIN_URL is not set: run the tests with ./scripts/test.sh");
        sqlx::any::install_default_drivers();
        let name = format!(
            "berth_it_meta_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        let url = format!("{base}/{name}");

        let pool = super::postgres_pool(&super::MetaOptions::default())
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        pool.execute("CREATE TABLE t (x INT)").await.unwrap();
        let mut held = pool.acquire().await.unwrap();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *held)
            .await
            .unwrap();
        let stop = std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(stop.success(), "cannot stop backend {pid}");
        let resume = Resume(pid.to_string());
        let cut_off = tokio::time::timeout(Duration::from_millis(300), held.begin())
            .await
            .is_err();
        assert!(cut_off, "BEGIN answered by a stopped backend");
        drop(held);
        drop(resume);

        pool.execute("INSERT INTO t VALUES (1)").await.unwrap();
        let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut other)
            .await
            .unwrap();
        assert_eq!(seen, 1, "a write after the cut-off BEGIN is not visible");
        other.close().await.unwrap();
        pool.close().await;
        conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
            .await
            .unwrap();
    }
}
