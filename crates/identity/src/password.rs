//! Argon2id password hashing, off the async workers and with bounded parallelism.
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU and ~19 MiB of memory with the
//! `argon2` crate's defaults). Running it on a Tokio worker would stall every other request on
//! that worker, and running an unbounded number at once would let a burst of logins take all
//! cores and memory. So every hash and verification runs on the blocking pool, and a semaphore
//! lets only a few run at a time; the rest wait their turn without holding a thread.
//!
//! Passwords are never logged: nothing here formats them, and [`Passwords`]'s `Debug` shows
//! only its limit.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

use crate::IdentityError;

/// Bounded Argon2id hashing and verification.
#[derive(Debug, Clone)]
pub(crate) struct Passwords {
    permits: Arc<Semaphore>,
}

fn argon2() -> Argon2<'static> {
    // Argon2id, version 0x13, the crate's default cost (m=19456 KiB, t=2, p=1).
    Argon2::default()
}

/// Hashes synchronously into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
fn hash_sync(password: &str) -> Result<String, IdentityError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| IdentityError::Internal(format!("password hashing failed: {e}")))
}

/// Verifies synchronously; a hash that cannot be parsed never matches.
fn verify_sync(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        // The parameters come from the PHC string, so older costs keep verifying.
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

impl Passwords {
    /// At most `parallelism` hashes or verifications run at any time (at least one).
    pub(crate) fn new(parallelism: usize) -> Passwords {
        Passwords { permits: Arc::new(Semaphore::new(parallelism.max(1))) }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, IdentityError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| IdentityError::Internal("password semaphore closed".into()))?;
        // The permit moves into the blocking task so the bound holds even when the request
        // that started the work goes away.
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|e| IdentityError::Internal(format!("password task failed: {e}")))
    }

    /// Hashes `password` into an Argon2id PHC string.
    pub(crate) async fn hash(&self, password: &str) -> Result<String, IdentityError> {
        let password = password.to_string();
        self.run(move || hash_sync(&password)).await?
    }

    /// True if `password` matches the PHC string `phc`.
    pub(crate) async fn verify(&self, password: &str, phc: &str) -> Result<bool, IdentityError> {
        let (password, phc) = (password.to_string(), phc.to_string());
        self.run(move || verify_sync(&password, &phc)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_phc_and_verify() {
        let p = Passwords::new(2);
        let hash = p.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(p.verify("correct horse", &hash).await.unwrap());
        assert!(!p.verify("correct horse ", &hash).await.unwrap());
        assert!(!p.verify("", &hash).await.unwrap());
        // Same password, different salt.
        assert_ne!(hash, p.hash("correct horse").await.unwrap());
    }

    #[tokio::test]
    async fn unparsable_hash_never_matches() {
        let p = Passwords::new(1);
        assert!(!p.verify("x", "").await.unwrap());
        assert!(!p.verify("x", "plain-text-password").await.unwrap());
    }

    #[tokio::test]
    async fn parallel_verifications_all_complete() {
        let p = Passwords::new(2);
        let hash = p.hash("pw").await.unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (p, hash) = (p.clone(), hash.clone());
                tokio::spawn(async move {
                    p.verify(if i % 2 == 0 { "pw" } else { "nope" }, &hash).await.unwrap()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i % 2 == 0);
        }
        assert_eq!(p.permits.available_permits(), 2);
    }
}
