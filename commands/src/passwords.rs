//! argon2id password hashing, off the async executor.
//!
//! Each hash takes ~19 MiB and a core for tens of milliseconds, so callers
//! hold a permit of `AppState::hashing` while hashing: a flood of
//! registrations or logins queues instead of exhausting memory.
//!
//! Login for an unknown user verifies against a dummy hash of the same cost,
//! so an unknown username and a wrong password take the same time and give
//! the same answer (no user enumeration by timing).
//!
//! Hash memory goes back to the system after each hash
//! ([`warm_up`] fixes glibc's mmap threshold; see `return_hash_memory`).

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use std::sync::OnceLock;

/// Hashes with argon2id and the crate's default (OWASP-recommended) cost.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(b"beaver-timing-equaliser", &salt).expect("hashing a constant").to_string()
    })
}

/// Verifies `password` against `stored`, or against a dummy hash when there
/// is no such user (always `false` then, after the same work).
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let real = stored.is_some();
        let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let parsed = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(real && matches)
    })
    .await?
}

/// Computes the dummy hash now, so the first unknown-user login is not
/// faster, after making the allocator give hash memory back.
pub fn warm_up() {
    return_hash_memory();
    let _ = dummy_hash();
}

/// Makes glibc return each hash's memory to the system when it is freed.
///
/// glibc serves blocks above its mmap threshold (128 KiB at first) with
/// `mmap` and unmaps them on free, but the first such free raises the
/// threshold to the freed size (up to 32 MiB) and the trim threshold to
/// twice that. After the first hash, every 19 MiB hash block therefore came
/// from the arena of the blocking thread that hashed and stayed there:
/// after `beaver-bench` registered 200 users, commands held 1.2 GB resident
/// with 9.5 MB in use (`malloc_stats`), over the 512 MiB its Kubernetes
/// manifest allows; with the threshold fixed, 37 MB. Setting it explicitly
/// turns the adjustment off (mallopt(3)). Other C libraries need nothing.
fn return_hash_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called once,
    // at start-up, and glibc serialises it with allocation.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("wrong horse".into(), Some(h)).await.unwrap());
    }

    /// Resident memory of this process, in bytes.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
        kib * 1024
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hash_memory_goes_back_to_the_system() {
        warm_up();
        let before = resident();
        // Eight hashes at a time on blocking threads, twice: without the
        // fixed threshold each thread's arena keeps its 19 MiB block
        // (150 MB or more here); with it, only what other tests hash meanwhile.
        for _ in 0..2 {
            let hashes: Vec<_> = (0..8).map(|i| tokio::spawn(hash(format!("password {i}")))).collect();
            for h in hashes {
                h.await.unwrap().unwrap();
            }
        }
        let grown = resident().saturating_sub(before);
        assert!(grown < 60 << 20, "resident memory grew by {} MiB over 16 hashes", grown >> 20);
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify("beaver-timing-equaliser".into(), None).await.unwrap());
    }
}
