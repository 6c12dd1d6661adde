//! Integration tests: the real `berth` binary on an ephemeral port, driven over HTTP and by
//! real clients. One test binary, one module per area.

// Helpers shared by the tests abort the test on a failed step, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod blobs;
mod buildah;
mod clients;
mod crash;
mod deletes;
mod inproc;
mod ldap;
mod listing;
mod login;
mod management;
mod manifests;
mod matrix;
mod repositories_api;
mod server;
mod throttling;
mod tokens;
mod ui;
mod ui_admin;
mod ui_audit;
mod ui_dashboard;
mod ui_manifests;
mod ui_members;
mod ui_orgs;
mod ui_repos;
mod ui_robots;
mod ui_sessions;
mod ui_system;
mod ui_tokens;
mod uploads;

pub const BIN: &str = env!("CARGO_BIN_EXE_berth");
