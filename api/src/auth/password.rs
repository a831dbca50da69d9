//! argon2id password hashing, always off the async threads.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::{AppError, AppResult};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 256;

/// Refuses passwords too short to resist guessing, or too long to hash cheaply.
pub fn check_strength(password: &str) -> AppResult<()> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(AppError::bad_input(format!(
            "a password needs at least {MIN_LEN} characters"
        )));
    }
    if len > MAX_LEN {
        return Err(AppError::bad_input(format!(
            "a password has at most {MAX_LEN} characters"
        )));
    }
    Ok(())
}

/// A password that passed [`check_strength`], hashed: the only form in which a new password
/// reaches the database. Hashing happens before any transaction opens, so a write lock is
/// never held for the ~50 ms argon2 takes.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub async fn hash(plain: &str) -> AppResult<Self> {
        check_strength(plain)?;
        Ok(Self(hash(plain).await?))
    }

    /// No password: an account that cannot sign in (a sensor's, whose API tokens send).
    pub fn unusable() -> Self {
        Self(UNUSABLE.to_owned())
    }

    pub fn phc(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

async fn hash(password: &str) -> AppResult<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("hashing failed: {e}").into()))
    })
    .await
    .map_err(AppError::internal)?
}

/// The stored hash of an account without a password: matches nothing.
const UNUSABLE: &str = "!";

/// A hash of nothing, verified against when the user does not exist, so that an unknown
/// user costs the same time as a wrong password.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"hector-decoy-password")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Whether `password` matches `hash`; with `None`, runs the same work and answers false.
pub async fn verify(password: &str, hash: Option<&str>) -> AppResult<bool> {
    let password = password.to_owned();
    // An account without a password costs the same time as one with a wrong one.
    let hash = hash.filter(|h| *h != UNUSABLE).map(str::to_owned);
    let real = hash.is_some();
    tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| decoy().to_owned());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        matches && real
    })
    .await
    .map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_decoys_never_match() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&h)).await.unwrap());
        assert!(!verify("wrong", Some(&h)).await.unwrap());
        assert!(!verify("hector-decoy-password", None).await.unwrap());
        assert!(check_strength("short").is_err());
    }
}
