//! Background expiry of abandoned upload sessions and of staging data without a session.

use std::time::Duration;

use crate::{OciError, Registry};

/// Ends every session untouched for `max_age`, and removes staging objects as old whose
/// session row never got written (a crash between the two). Returns how many went.
pub async fn expire_uploads(reg: &Registry, max_age: Duration) -> Result<usize, OciError> {
    Ok(reg.service.expire_uploads(max_age).await?)
}

/// Runs [`expire_uploads`] every `interval` until the task is dropped.
pub async fn run(reg: Registry, interval: Duration, max_age: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match expire_uploads(&reg, max_age).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired abandoned uploads"),
            Err(e) => tracing::warn!(error = %e, "upload cleanup failed; will retry"),
        }
    }
}
