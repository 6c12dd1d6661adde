//! Cluster tests: Berth on its production backends (PostgreSQL + S3 on a real Garage), with
//! several replicas behind nginx, and with dependencies that go away and come back. They run
//! once per suite (`scripts/test.sh` provides PostgreSQL through `BERTH_IT_PG_ADMIN_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The `berth` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_berth");

mod cache;
mod deploy;
mod outage;
mod s3;
mod scaleout;
mod traffic;
