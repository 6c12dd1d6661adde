//! Password and secret hashing: argon2id (PHC strings), always off the async threads.
//!
//! Every hash and check runs on a small fixed set of worker threads (one per core, at most
//! four), queued in order. That bounds both the CPU a burst of logins can take and the memory:
//! each argon2id run needs 19 MiB, and the allocator keeps that per thread once it has been
//! used, so a thread per request (the blocking pool) would keep up to hundreds of them.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// A PHC string of a password nobody knows, verified when an account does not exist so that
/// a wrong user name costs as much time as a wrong password.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9c1Rpd0Xz7Cq3ZfR8xmqf7vGz1k6+KdIuFjv0c9GrP8";

type Job = Box<dyn FnOnce() + Send>;

/// The hashing workers' queue.
fn queue() -> &'static Mutex<mpsc::Sender<Job>> {
    static QUEUE: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        for i in 0..n {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("berth-argon2-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Mutex::new(tx)
    })
}

/// Runs `f` on a hashing worker and waits for it without blocking the async thread.
async fn on_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    queue()
        .lock()
        .map_err(|_| "password hashing queue poisoned".to_owned())?
        .send(job)
        .map_err(|_| "password hashing workers are gone".to_owned())?;
    rx.await
        .map_err(|_| "password hashing job was dropped".to_owned())
}

/// Hashes `secret` with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane).
pub async fn hash(secret: String) -> Result<String, String> {
    on_worker(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| format!("password hashing failed: {e}"))
    })
    .await?
}

/// Whether `secret` matches `phc`; `None` verifies against a dummy hash (always false, same
/// cost). A malformed stored hash never matches.
pub async fn verify(phc: Option<String>, secret: String) -> bool {
    on_worker(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| DUMMY.to_owned());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok();
        matches && known
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_and_verifies() {
        let h = super::hash("s3cret pass".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify(Some(h.clone()), "s3cret pass".into()).await);
        assert!(!super::verify(Some(h), "s3cret pasS".into()).await);
        assert!(!super::verify(None, "anything".into()).await);
        assert!(!super::verify(Some("garbage".into()), "x".into()).await);
        assert!(argon2::password_hash::PasswordHash::new(super::DUMMY).is_ok());
    }
}
