//! Password and secret hashing: argon2id (PHC strings), always off the async threads.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// A PHC string of a password nobody knows, verified when an account does not exist so that
/// a wrong user name costs as much time as a wrong password.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9c1Rpd0Xz7Cq3ZfR8xmqf7vGz1k6+KdIuFjv0c9GrP8";

/// Hashes `secret` with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane).
pub async fn hash(secret: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| format!("password hashing failed: {e}"))
    })
    .await
    .map_err(|e| format!("password hashing task failed: {e}"))?
}

/// Whether `secret` matches `phc`; `None` verifies against a dummy hash (always false, same
/// cost). A malformed stored hash never matches.
pub async fn verify(phc: Option<String>, secret: String) -> bool {
    tokio::task::spawn_blocking(move || {
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
