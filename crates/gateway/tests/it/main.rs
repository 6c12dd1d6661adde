//! Integration tests: the real `berth` binary on an ephemeral port, driven over HTTP and by
//! real clients. One test binary, one module per area.

// Helpers shared by the tests abort the test on a failed step, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod auth;
mod buildah;
mod clients;
mod crash;
mod inproc;
mod login;
mod matrix;

pub const BIN: &str = env!("CARGO_BIN_EXE_berth");
