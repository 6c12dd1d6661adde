//! Password and secret hashing: argon2id (PHC strings), always off the async threads.
//!
//! Every hash and check runs on a small fixed set of worker threads (one per core, at most
//! four), queued in order, which bounds the CPU and memory a burst of logins can take.
//!
//! Parameters: OWASP's argon2id setting m = 46 MiB, t = 1, p = 1 (as strong as its 19 MiB /
//! t = 2 one). The size matters to the rest of the server: glibc's malloc serves blocks above
//! its mmap threshold with mmap and, when such a block of up to 32 MiB is freed, raises the
//! threshold to its size; a 19 MiB argon2 block did that, after which every multi-MiB blob
//! buffer came from the heap and stayed there (RSS 92 MiB instead of 40 after a pull run).
//! A 46 MiB block is above that 32 MiB ceiling: it is mapped, unmapped, and changes nothing.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost in KiB (46 MiB), passes, lanes.
const M_KIB: u32 = 47_104;
const T_COST: u32 = 1;
const P_LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    match Params::new(M_KIB, T_COST, P_LANES, None) {
        Ok(p) => Argon2::new(Algorithm::Argon2id, Version::V0x13, p),
        Err(_) => Argon2::default(),
    }
}

/// A PHC string of a password nobody knows (made on first use), verified when an account
/// does not exist so that a wrong user name costs as much time as a wrong password.
fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(b"no account has this password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

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
        hasher()
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
        let phc = phc.unwrap_or_else(|| dummy().to_owned());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        // The stored string's own parameters apply (older hashes keep working).
        let matches = hasher().verify_password(secret.as_bytes(), &parsed).is_ok();
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
        assert!(!super::verify(Some(h.clone()), "s3cret pasS".into()).await);
        assert!(!super::verify(None, "anything".into()).await);
        assert!(!super::verify(Some("garbage".into()), "x".into()).await);
        assert!(h.contains("$m=47104,t=1,p=1$"), "{h}");
        assert!(argon2::password_hash::PasswordHash::new(super::dummy()).is_ok());
        // A hash made with other parameters still verifies.
        let salt = argon2::password_hash::SaltString::generate(
            &mut argon2::password_hash::rand_core::OsRng,
        );
        let old = argon2::password_hash::PasswordHasher::hash_password(
            &argon2::Argon2::default(),
            b"old one",
            &salt,
        )
        .unwrap()
        .to_string();
        assert!(super::verify(Some(old), "old one".into()).await);
    }
}
