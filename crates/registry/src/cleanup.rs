//! Background expiry of abandoned upload sessions and of staging data without a session.

use std::time::Duration;

use berth_meta::now_ms;

use crate::uploads::end_session;
use crate::{OciError, Registry};

/// Ends every session untouched for `max_age`, and removes staging objects as old whose
/// session row never got written (a crash between the two). Returns how many went.
pub async fn expire_uploads(reg: &Registry, max_age: Duration) -> Result<usize, OciError> {
    let cutoff = now_ms() - max_age.as_millis() as i64;
    let mut removed = 0;
    loop {
        let stale = reg.meta.stale_uploads(cutoff, 500).await?;
        let batch = stale.len();
        for u in stale {
            // Skip a session a request of this process is still streaming into.
            if let Some(_guard) = reg.sessions.acquire(&u.id) {
                end_session(reg, &u.id).await;
                removed += 1;
            }
        }
        if batch < 500 {
            break;
        }
    }
    for id in reg.store.stale_staging(cutoff).await? {
        if reg.meta.get_upload(&id).await?.is_none() {
            reg.store.abort_upload(&id).await?;
            removed += 1;
        }
    }
    Ok(removed)
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
