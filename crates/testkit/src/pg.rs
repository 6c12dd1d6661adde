//! PostgreSQL for the integration suite: when `BERTH_IT_PG_URL` names a server (a URL whose
//! role may create databases, e.g. `postgres://berth:berth@127.0.0.1:5432/postgres`), every
//! server a test starts gets a database of its own. The name is kept in the data directory, so
//! a server restarted on that directory (the crash test) finds its database again.
//! `scripts/test.sh` starts the local cluster, creates the role and sets the variable.

use std::path::Path;
use std::process::Command;

/// Which metadata database the suite runs against: `postgres` or `sqlite`.
pub fn backend() -> &'static str {
    if std::env::var_os("BERTH_IT_PG_URL").is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// The database URL for a server on `data`, creating the database on first use; `None` when
/// the suite runs on SQLite.
pub fn database_for(data: &Path) -> Option<String> {
    let admin = std::env::var("BERTH_IT_PG_URL").ok()?;
    let marker = data.join(".pg-database");
    let name = match std::fs::read_to_string(&marker) {
        Ok(n) => n.trim().to_owned(),
        Err(_) => {
            let n = create_database(&admin);
            std::fs::write(&marker, &n).expect("database marker");
            n
        }
    };
    Some(with_database(&admin, &name))
}

/// The admin URL of the test PostgreSQL server (`BERTH_IT_PG_ADMIN_URL`, which
/// `scripts/test.sh` always sets), for tests that need PostgreSQL whatever the suite's backend.
pub fn admin_url() -> String {
    std::env::var("BERTH_IT_PG_ADMIN_URL")
        .or_else(|_| std::env::var("BERTH_IT_PG_URL"))
        .expect("BERTH_IT_PG_ADMIN_URL is not set: run the tests with ./scripts/test.sh")
}

/// A fresh database on the test server; returns its URL.
pub fn fresh_database() -> String {
    let admin = admin_url();
    let name = create_database(&admin);
    with_database(&admin, &name)
}

/// Creates a uniquely named database through `admin`; returns its name.
pub fn create_database(admin: &str) -> String {
    let n = crate::unique_name("berth_it");
    let out = Command::new("psql")
        .arg(admin)
        .arg("-qAtc")
        .arg(format!("CREATE DATABASE {n}"))
        .output()
        .expect("psql (postgresql-client) is needed for the PostgreSQL tests");
    assert!(
        out.status.success(),
        "cannot create database {n}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    n
}

/// `admin` with its database path replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database() {
        assert_eq!(
            super::with_database("postgres://u:p@h:1/postgres", "x"),
            "postgres://u:p@h:1/x"
        );
        assert_eq!(super::with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            super::with_database("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
