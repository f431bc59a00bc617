//! Passwords: argon2id hashes (PHC strings) made and checked off the async threads,
//! at most one per core at a time (each takes a core and 19 MiB for tens of
//! milliseconds: more at once would only queue in the blocking pool and starve
//! everything else), and the rules a new password must meet.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(String),
}

/// Why a new password is refused (the rules live in `domain::validate`, shared with
/// the browser's forms).
pub use domain::validate::password as check_rules;

/// Hashes running at once: one per core.
static SLOTS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| {
        std::sync::Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        ))
    });

/// A place to hash in. It goes into the blocking task with the work, so a
/// request dropped half-way (its client gone) holds the place until the hash
/// it started is done.
async fn slot() -> Result<tokio::sync::OwnedSemaphorePermit, PasswordError> {
    SLOTS
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| PasswordError::Task(e.to_string()))
}

/// Hashes running now, and the most seen at once (for the tests).
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs one hash's work, counted.
fn counted<T>(work: impl FnOnce() -> T) -> T {
    use std::sync::atomic::Ordering;
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    let out = work();
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    out
}

/// An argon2id PHC string for `password` (default parameters: 19 MiB, 2 passes).
pub async fn hash(password: String) -> Result<String, PasswordError> {
    let slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        counted(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| PasswordError::Hash(e.to_string()))
        })
    })
    .await
    .map_err(|e| PasswordError::Task(e.to_string()))?
}

/// Whether `password` matches `phc`. A malformed hash never matches.
pub async fn verify(password: String, phc: String) -> Result<bool, PasswordError> {
    let slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        counted(|| {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .map_err(|e| PasswordError::Task(e.to_string()))
}

/// A hash of a password nobody knows, to verify against when the user does not
/// exist, so that a login takes as long either way.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9dPCSH0R6y3nGwW0L1u3mXn2vDkfTGOQb2UrrVJ0h8M";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!verify("wrong horse".into(), phc.clone()).await.unwrap());
        // Salted: the same password hashes differently twice.
        assert_ne!(phc, hash("correct horse".into()).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_there_are_cores() {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let many = (0..cores * 3).map(|_| hash("pw".into()));
        let all = futures::future::join_all(many).await;
        assert!(all.iter().all(Result::is_ok));
        let peak = PEAK.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&peak),
            "{peak} hashes at once on {cores} cores"
        );
        assert_eq!(SLOTS.available_permits(), cores, "every slot given back");
    }

    #[tokio::test]
    async fn malformed_and_dummy_hashes_never_match() {
        assert!(!verify("x".into(), "not a hash".into()).await.unwrap());
        assert!(!verify("password".into(), DUMMY_HASH.into()).await.unwrap());
    }
}
